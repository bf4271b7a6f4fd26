/* Timers and first work in host mode: the cases behind the libuv livelock
 * of commit 4da31ce, run on any backend whose application drives the native
 * loop itself. A native timer may fire before petal's deadline (rounding,
 * a coarse or cached native clock) or for a deadline that was cancelled;
 * petal must then re-arm, or the host loop spins, returns with petal's work
 * still pending, or sleeps past the deadline. Every run here is bounded by
 * a hang guard (alarm), not by a performance figure.
 *
 * The including test defines, for its native loop:
 *   host_new()        the application's loop, and `loop` attached to it;
 *   host_dispatch()   runs it as an application does, until neither side
 *                     has work (ev_run(host, 0), event_base_dispatch());
 *   host_keepalive()  starts (true) or stops the application's own 10 s
 *                     timer, which keeps the host blocked meanwhile;
 *   host_app_timer()  a one-shot timer of the application's, calling fn
 *                     after delay_ns;
 *   host_free()       frees `loop`, checks the host is left clean, and
 *                     destroys it.
 * Static definitions: include from one test file only. */
#ifndef PETAL_TESTS_HOST_TIMER_CASES_H
#define PETAL_TESTS_HOST_TIMER_CASES_H

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "petal/loop.h"

static petal_loop_t *loop;

static void host_new(void);
static void host_dispatch(void);
static void host_keepalive(bool on);
static void host_app_timer(int64_t delay_ns, void (*fn)(void));
static void host_free(void);

#define HANG_GUARD_S 20
#define HT_MAX 256

static struct {
    int64_t deadline;
    int64_t fired;
    int runs;
} ht[HT_MAX];
static int ht_order[HT_MAX];    /* indexes, in the order the timers ran */
static int ht_ran;

static void on_hang(int sig)
{
    (void)sig;
    static const char msg[] = "hang guard: the host loop or petal_loop_run() did not return\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(3);
}

static int ht_setup(void **state)
{
    (void)state;
    memset(ht, 0, sizeof ht);
    ht_ran = 0;
    signal(SIGALRM, on_hang);
    alarm(HANG_GUARD_S);
    host_new();
    return 0;
}

static int ht_teardown(void **state)
{
    (void)state;
    host_free();
    alarm(0);
    return 0;
}

static void ht_cb(petal_loop_t *l, void *arg)
{
    int i = (int)(intptr_t)arg;
    ht[i].fired = petal_time_ns(l);
    ht[i].runs++;
    ht_order[ht_ran++] = i;
}

static petal_handle_t ht_at(int i, int64_t deadline)
{
    ht[i].deadline = deadline;
    petal_handle_t h = petal_call_at_ns(loop, deadline, ht_cb, (void *)(intptr_t)i);
    assert_true(h > 0);
    return h;
}

/* Each of the first n timers ran once, not early, earliest deadline first. */
static void ht_check_all_ran(int n, const bool *skip)
{
    int want = 0;
    for (int i = 0; i < n; i++) {
        if (skip && skip[i]) {
            assert_int_equal(ht[i].runs, 0);
            continue;
        }
        want++;
        assert_int_equal(ht[i].runs, 1);
        assert_true(ht[i].fired >= ht[i].deadline);
    }
    assert_int_equal(ht_ran, want);
    for (int k = 1; k < ht_ran; k++) assert_true(ht[ht_order[k - 1]].deadline <= ht[ht_order[k]].deadline);
}

/* A deterministic shuffle: timers are added in no particular order, so a new
 * earliest deadline arrives both first and in the middle. */
static uint32_t ht_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Deadlines just off the native clocks' grids: 1 ns past a whole
 * millisecond (libuv, epoll timeouts), 1 ns past and 1 ns before a whole
 * microsecond (libevent's timeval), and in between. */
static const int64_t off_grid[] = { 1, 999, 1001, 123457, 499999, 250001, 999999, 1000001 };

static void test_off_grid_timers_all_fire_never_early(void **state)
{
    (void)state;
    enum { N = 240 };
    int64_t start = petal_time_ns(loop);
    int64_t base = (start / 1000000 + 2) * 1000000;    /* a whole millisecond */
    int idx[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    uint32_t seed = 12345;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(ht_rand(&seed) % (uint32_t)(i + 1));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    for (int k = 0; k < N; k++) {
        int i = idx[k];
        ht_at(i, base + (int64_t)(i / 8) * 1500000 + off_grid[i % 8]);
    }
    host_dispatch();    /* returns only once every timer ran */
    ht_check_all_ran(N, NULL);
    assert_true(petal_time_ns(loop) - start < HANG_GUARD_S * (int64_t)1000000000);
}

/* The native timer is armed for a deadline that is then cancelled: when it
 * fires, petal has nothing due and a later timer pending. */
static void test_cancelled_earliest_timer(void **state)
{
    (void)state;
    int64_t now = petal_time_ns(loop);
    petal_handle_t a = ht_at(0, now + 10000001);
    ht_at(1, now + 25000001);
    ht_at(2, now + 25000001);     /* equal deadlines: in scheduling order */
    assert_int_equal(petal_cancel(loop, a), 0);
    host_dispatch();
    bool skip[3] = { true, false, false };
    ht_check_all_ran(3, skip);
    assert_int_equal(ht_order[0], 1);
}

/* Several cancelled deadlines in a row before the live one, and another
 * live one after a gap. */
static void test_many_cancelled_then_live(void **state)
{
    (void)state;
    enum { N = 12 };
    int64_t now = petal_time_ns(loop);
    petal_handle_t h[N];
    bool skip[N] = { false };
    for (int i = 0; i < N; i++) h[i] = ht_at(i, now + 2000000 + (int64_t)i * 1000999);
    for (int i = 0; i < N - 1; i++)
        if (i != 5) {
            assert_int_equal(petal_cancel(loop, h[i]), 0);
            skip[i] = true;
        }
    host_dispatch();
    ht_check_all_ran(N, skip);
}

/* Each timer schedules the next, off the grid: the re-arm happens inside
 * petal's own iteration. */
enum { CHAIN = 30 };

static void chain_cb(petal_loop_t *l, void *arg)
{
    int i = (int)(intptr_t)arg;
    ht_cb(l, arg);
    if (++i == CHAIN) return;
    ht[i].deadline = petal_time_ns(l) + 1000001 + (int64_t)i * 1001;
    assert_true(petal_call_at_ns(l, ht[i].deadline, chain_cb, (void *)(intptr_t)i) > 0);
}

static void test_timer_chain_off_grid(void **state)
{
    (void)state;
    ht[0].deadline = petal_time_ns(loop) + 999999;
    assert_true(petal_call_at_ns(loop, ht[0].deadline, chain_cb, (void *)0) > 0);
    host_dispatch();
    ht_check_all_ran(CHAIN, NULL);
}

/* The application's own callback, in the very iteration whose poll the
 * native timer ended, cancels the petal timer that was due (a timeout
 * cancelled because its reply came): petal's iteration then finds nothing
 * due, yet a later timer is pending and must keep the host alive. The
 * application's timer is 1 us later than petal's, so both usually expire in
 * the same poll; rounds repeat it. */
enum { ROUNDS = 10 };
static petal_handle_t due;

static void app_cancels_due(void)
{
    int rc = petal_cancel(loop, due);
    assert_true(rc == 0 || rc == PETAL_EALREADY);    /* EALREADY: petal's ran first */
}

static void test_app_cancels_due_timer_in_same_iteration(void **state)
{
    (void)state;
    for (int r = 0; r < ROUNDS; r++) {
        memset(ht, 0, sizeof ht);
        ht_ran = 0;
        int64_t now = petal_time_ns(loop);
        due = ht_at(0, now + 5000001);
        host_app_timer(now + 5001001 - petal_time_ns(loop), app_cancels_due);    /* 1 us after */
        ht_at(1, now + 15000001);
        host_dispatch();
        assert_true(ht[0].runs <= 1);
        assert_int_equal(ht[1].runs, 1);
        assert_true(ht[1].fired >= ht[1].deadline);
    }
}

/* ---- first work while the host blocks --------------------------------- */

static void last_cb(petal_loop_t *l, void *arg)
{
    ht_cb(l, arg);
    host_keepalive(false);    /* the application's last work goes too */
}

/* petal's first work arrives from another thread (or a signal) while the
 * host is blocked on the application's own timer: it must wake the host,
 * and a timer it schedules must keep its deadline. */
static void first_cb(petal_loop_t *l, void *arg)
{
    (void)arg;
    ht[0].runs++;
    ht[0].fired = petal_time_ns(l);
    ht[1].deadline = ht[0].fired + 3333333;
    assert_true(petal_call_at_ns(l, ht[1].deadline, last_cb, (void *)1) > 0);
}

static void *post_later(void *arg)
{
    struct timespec ts = { 0, 20 * 1000000 };
    nanosleep(&ts, NULL);
    if (arg)
        kill(getpid(), SIGUSR2);
    else if (petal_call_soon_threadsafe(loop, first_cb, NULL) != 0)
        abort();
    return NULL;
}

static void first_work_while_blocked(bool by_signal)
{
    if (by_signal) assert_int_equal(petal_add_signal_handler(loop, SIGUSR2, first_cb, NULL), 0);
    int64_t start = petal_time_ns(loop);
    host_keepalive(true);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, post_later, by_signal ? (void *)1 : NULL), 0);
    host_dispatch();
    pthread_join(t, NULL);
    assert_int_equal(ht[0].runs, 1);
    assert_int_equal(ht[1].runs, 1);
    assert_true(ht[1].fired >= ht[1].deadline);
    /* Woken, not carried by the application's 10 s timer. */
    assert_true(petal_time_ns(loop) - start < 5 * (int64_t)1000000000);
    if (by_signal) assert_int_equal(petal_remove_signal_handler(loop, SIGUSR2), 0);
}

static void test_first_work_from_thread_while_host_blocks(void **state)
{
    (void)state;
    first_work_while_blocked(false);
}

static void test_first_work_from_signal_while_host_blocks(void **state)
{
    (void)state;
    first_work_while_blocked(true);
}

/* petal_loop_run() on a hosted loop with no work at all: it must sleep in
 * the native poll until a cross-thread call comes, not spin. A sleeping
 * thread uses next to no CPU time; a spinning one uses as much as the
 * machine gives it (a tenth would take ten busy threads per core). */
static void stop_cb(petal_loop_t *l, void *arg)
{
    (void)arg;
    ht[0].runs++;
    petal_loop_stop(l);
}

static void *stop_later(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 100 * 1000000 };
    nanosleep(&ts, NULL);
    if (petal_call_soon_threadsafe(loop, stop_cb, NULL) != 0) abort();
    return NULL;
}

static int64_t thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void test_hosted_run_sleeps_until_woken(void **state)
{
    (void)state;
    pthread_t t;
    int64_t start = petal_time_ns(loop), cpu = thread_cpu_ns();
    assert_int_equal(pthread_create(&t, NULL, stop_later, NULL), 0);
    assert_int_equal(petal_loop_run(loop), 0);
    pthread_join(t, NULL);
    int64_t wall = petal_time_ns(loop) - start;
    cpu = thread_cpu_ns() - cpu;
    assert_int_equal(ht[0].runs, 1);
    assert_true(wall >= 100 * 1000000);
    assert_true(cpu < wall / 10);
}

#define HOST_TIMER_CASES                                                                       \
    cmocka_unit_test_setup_teardown(test_off_grid_timers_all_fire_never_early, ht_setup, ht_teardown), \
    cmocka_unit_test_setup_teardown(test_cancelled_earliest_timer, ht_setup, ht_teardown),             \
    cmocka_unit_test_setup_teardown(test_many_cancelled_then_live, ht_setup, ht_teardown),             \
    cmocka_unit_test_setup_teardown(test_timer_chain_off_grid, ht_setup, ht_teardown),                 \
    cmocka_unit_test_setup_teardown(test_app_cancels_due_timer_in_same_iteration, ht_setup, ht_teardown), \
    cmocka_unit_test_setup_teardown(test_first_work_from_thread_while_host_blocks, ht_setup, ht_teardown), \
    cmocka_unit_test_setup_teardown(test_first_work_from_signal_while_host_blocks, ht_setup, ht_teardown), \
    cmocka_unit_test_setup_teardown(test_hosted_run_sleeps_until_woken, ht_setup, ht_teardown)

#endif
