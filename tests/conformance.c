/* The conformance suite: the semantics of DESIGN.md that every backend must
 * show. One source, compiled and run once per backend and mode (see
 * conformance.h); a difference between backends is a bug. */
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conformance.h"
#include "petal/future.h"
#include "petal/loop.h"
#include "petal/sock.h"
#include <netinet/in.h>
#include <arpa/inet.h>

/* ---- fixture ------------------------------------------------------------ */

static petal_loop_t *L;
static bool guard_fired;
static petal_handle_t guard;

/* Every run is bounded: a guard timer stops a test that would hang. */
static void on_guard(petal_loop_t *loop, void *arg)
{
    (void)arg;
    guard_fired = true;
    petal_loop_stop(loop);
}

static void arm_guard(double seconds)
{
    guard_fired = false;
    guard = petal_call_later(L, seconds, on_guard, NULL);
    assert_true(guard > 0);
}

static void run_guarded(void)
{
    arm_guard(10.0);
    assert_int_equal(petal_loop_run(L), 0);
    assert_false(guard_fired);
    petal_cancel(L, guard);
}

static int setup(void **state)
{
    (void)state;
    return conformance_loop_new(&L);
}

static int teardown(void **state)
{
    (void)state;
    if (L) conformance_loop_free(L);
    L = NULL;
    return 0;
}

/* A log of small integers, to check orders. */
static int order[20000];
static int norder;

static void log_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    order[norder++] = (int)(intptr_t)arg;
}

static void stop_cb(petal_loop_t *loop, void *arg)
{
    (void)arg;
    petal_loop_stop(loop);
}

static void pipe_pair(int p[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p), 0);
}

/* ---- 1. call_soon ------------------------------------------------------- */

static void test_soon_fifo(void **state)
{
    (void)state;
    norder = 0;
    for (int i = 0; i < 100; i++) assert_true(petal_call_soon(L, log_cb, (void *)(intptr_t)i) > 0);
    petal_call_soon(L, stop_cb, NULL);
    run_guarded();
    assert_int_equal(norder, 100);
    for (int i = 0; i < 100; i++) assert_int_equal(order[i], i);
}

/* Large queues: the ready ring and the slot array grow past 2 MiB (where
 * they move to mappings of their own) while the ring is wrapped. */
#define BIG_N 300000
static long big_next, big_bad;

static void big_seq_cb(petal_loop_t *loop, void *arg)
{
    if ((long)(intptr_t)arg != big_next++) big_bad++;
    if (arg == (void *)0)    /* the first one schedules BIG_N more behind the rest */
        for (long i = 0; i < BIG_N; i++)
            if (petal_call_soon(loop, big_seq_cb, (void *)(intptr_t)(BIG_N + i)) <= 0) big_bad++;
}

static void test_soon_fifo_across_large_growth(void **state)
{
    (void)state;
    big_next = big_bad = 0;
    for (long i = 0; i < BIG_N; i++) assert_true(petal_call_soon(L, big_seq_cb, (void *)(intptr_t)i) > 0);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(big_next, BIG_N);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(big_next, 2 * BIG_N);
    assert_int_equal(big_bad, 0);
}

static int64_t big_last;

static void big_deadline_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    int64_t when = (int64_t)(intptr_t)arg;
    if (when < big_last) big_bad++;
    big_last = when;
    big_next++;
}

/* 300,000 timers due at once, in a scrambled deadline order, every third
 * cancelled: the rest run in deadline order, on the next iteration. */
static void test_timers_order_at_scale(void **state)
{
    (void)state;
    big_next = big_bad = 0;
    big_last = -1;
    int64_t base = petal_time_ns(L) - BIG_N - 1;
    assert_true(base > 0);
    petal_handle_t *hs = malloc(BIG_N * sizeof *hs);
    assert_non_null(hs);
    for (long i = 0; i < BIG_N; i++) {
        int64_t k = (int64_t)((i * 7919L) % BIG_N);    /* a permutation: 7919 is prime */
        hs[i] = petal_call_at_ns(L, base + k, big_deadline_cb, (void *)(intptr_t)k);
        assert_true(hs[i] > 0);
    }
    long cancelled = 0;
    for (long i = 0; i < BIG_N; i += 3, cancelled++) assert_int_equal(petal_cancel(L, hs[i]), 0);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(big_next, BIG_N - cancelled);
    assert_int_equal(big_bad, 0);
    for (long i = 0; i < BIG_N; i++) assert_int_equal(petal_cancel(L, hs[i]), PETAL_EALREADY);
    free(hs);
}

static void schedule_next_cb(petal_loop_t *loop, void *arg)
{
    log_cb(loop, arg);
    petal_call_soon(loop, log_cb, (void *)(intptr_t)((intptr_t)arg + 100));
}

static void test_soon_during_run_goes_to_next_iteration(void **state)
{
    (void)state;
    norder = 0;
    petal_call_soon(L, schedule_next_cb, (void *)1);
    petal_call_soon(L, schedule_next_cb, (void *)2);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(norder, 2);    /* 101 and 102 wait for the next iteration */
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(norder, 4);
    assert_int_equal(order[2], 101);
    assert_int_equal(order[3], 102);
}

/* A callback that keeps rescheduling itself must not starve I/O. */
static int spins;
static bool io_seen;

static void spin_cb(petal_loop_t *loop, void *arg)
{
    (void)arg;
    spins++;
    if (!io_seen && spins < 1000000) petal_call_soon(loop, spin_cb, NULL);
    else petal_loop_stop(loop);
}

static void io_seen_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    io_seen = true;
    petal_remove_reader(loop, fd);
}

static void test_soon_chain_does_not_starve_io(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    spins = 0;
    io_seen = false;
    assert_int_equal(petal_add_reader(L, p[0], io_seen_cb, NULL), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    petal_call_soon(L, spin_cb, NULL);
    run_guarded();
    assert_true(io_seen);
    assert_true(spins <= 3);    /* polled on the next iteration */
    close(p[0]);
    close(p[1]);
}

/* The same for a socket operation: on a completion backend (io_uring) it
 * needs no fd watch, yet completes only when the loop enters the kernel. */
static petal_future_t *chain_fut;

static void sock_spin_cb(petal_loop_t *loop, void *arg)
{
    (void)arg;
    spins++;
    if (!petal_future_done(chain_fut) && spins < 1000000) petal_call_soon(loop, sock_spin_cb, NULL);
    else petal_loop_stop(loop);
}

static void test_soon_chain_does_not_starve_sock_ops(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    char buf[4];
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(petal_sock_recv(L, p[0], buf, sizeof buf, &chain_fut), 0);
    spins = 0;
    petal_call_soon(L, sock_spin_cb, NULL);
    run_guarded();
    assert_true(petal_future_done(chain_fut));
    assert_int_equal(petal_sock_result(chain_fut), 1);
    assert_true(spins <= 3);    /* polled on the next iteration */
    petal_future_release(chain_fut);
    close(p[0]);
    close(p[1]);
}

/* I/O found by the poll runs in the same iteration, after the callbacks that
 * were already ready, and before the ones they schedule. */
static void io_log_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    assert_int_equal(status, 0);
    log_cb(loop, arg);
    petal_remove_reader(loop, fd);
}

static void test_io_runs_after_ready_before_next(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    norder = 0;
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(petal_add_reader(L, p[0], io_log_cb, (void *)7), 0);
    petal_call_soon(L, schedule_next_cb, (void *)1);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(norder, 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 7);
    assert_int_equal(order[2], 101);
    close(p[0]);
    close(p[1]);
}

static void test_soon_many(void **state)
{
    (void)state;
    norder = 0;
    for (int i = 0; i < 20000; i++) assert_true(petal_call_soon(L, log_cb, (void *)(intptr_t)i) > 0);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(norder, 20000);
    for (int i = 0; i < 20000; i++) assert_int_equal(order[i], i);
}

/* ---- 2. timers ---------------------------------------------------------- */

static int64_t fired_at[16];

static void stamp_cb(petal_loop_t *loop, void *arg)
{
    fired_at[(intptr_t)arg] = petal_time_ns(loop);
    log_cb(loop, arg);
}

static void test_timer_never_early(void **state)
{
    (void)state;
    norder = 0;
    int64_t start = petal_time_ns(L);
    assert_true(petal_call_later(L, 0.030, stamp_cb, (void *)0) > 0);
    assert_true(petal_call_later_ns(L, 15 * 1000000, stamp_cb, (void *)1) > 0);
    assert_true(petal_call_later(L, 0.031, stop_cb, NULL) > 0);
    run_guarded();
    assert_int_equal(norder, 2);
    assert_true(fired_at[0] - start >= 30 * 1000000);
    assert_true(fired_at[1] - start >= 15 * 1000000);
}

static void test_timer_deadline_order(void **state)
{
    (void)state;
    norder = 0;
    petal_call_later(L, 0.030, log_cb, (void *)3);
    petal_call_later(L, 0.010, log_cb, (void *)1);
    petal_call_later(L, 0.020, log_cb, (void *)2);
    petal_call_later(L, 0.040, stop_cb, NULL);
    run_guarded();
    assert_int_equal(norder, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(order[i], i + 1);
}

static void test_timer_equal_deadlines_fifo(void **state)
{
    (void)state;
    norder = 0;
    int64_t when = petal_time_ns(L) + 10 * 1000000;
    for (int i = 0; i < 50; i++) assert_true(petal_call_at_ns(L, when, log_cb, (void *)(intptr_t)i) > 0);
    petal_call_at_ns(L, when, stop_cb, NULL);
    run_guarded();
    assert_int_equal(norder, 50);
    for (int i = 0; i < 50; i++) assert_int_equal(order[i], i);
}

static void test_timer_zero_delay_after_ready(void **state)
{
    (void)state;
    norder = 0;
    petal_call_soon(L, log_cb, (void *)1);
    petal_call_later(L, 0.0, log_cb, (void *)3);
    petal_call_soon(L, log_cb, (void *)2);
    petal_call_later(L, 0.0, stop_cb, NULL);
    run_guarded();
    assert_int_equal(norder, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(order[i], i + 1);
}

static void test_call_at_past_runs(void **state)
{
    (void)state;
    norder = 0;
    assert_true(petal_call_at(L, petal_time(L) - 1.0, log_cb, (void *)9) > 0);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(norder, 1);
    assert_int_equal(order[0], 9);
}

static void test_timer_cancel(void **state)
{
    (void)state;
    norder = 0;
    petal_handle_t h = petal_call_later(L, 0.005, log_cb, (void *)1);
    petal_call_later(L, 0.010, log_cb, (void *)2);
    petal_call_later(L, 0.020, stop_cb, NULL);
    assert_int_equal(petal_cancel(L, h), 0);
    run_guarded();
    assert_int_equal(norder, 1);
    assert_int_equal(order[0], 2);
}

static petal_handle_t victim;
static int cancel_rc;

static void cancel_victim_cb(petal_loop_t *loop, void *arg)
{
    log_cb(loop, arg);
    cancel_rc = petal_cancel(loop, victim);
}

/* A timer already moved to the ready queue can still be cancelled. */
static void test_timer_cancelled_by_earlier_timer_same_iteration(void **state)
{
    (void)state;
    norder = 0;
    int64_t when = petal_time_ns(L) + 5 * 1000000;
    petal_call_at_ns(L, when, cancel_victim_cb, (void *)1);
    victim = petal_call_at_ns(L, when, log_cb, (void *)2);
    petal_call_at_ns(L, when + 1000000, stop_cb, NULL);
    run_guarded();
    assert_int_equal(cancel_rc, 0);
    assert_int_equal(norder, 1);
}

static int64_t seq_when[2000];
static int64_t seq_fired[2000];
static int nfired;

static void seq_cb(petal_loop_t *loop, void *arg)
{
    intptr_t i = (intptr_t)arg;
    seq_fired[i] = petal_time_ns(loop);
    order[nfired++] = (int)i;
    if (nfired == 2000) petal_loop_stop(loop);
}

static void test_timer_many_in_deadline_order(void **state)
{
    (void)state;
    srand(42);
    nfired = 0;
    int64_t now = petal_time_ns(L);
    for (int i = 0; i < 2000; i++) {
        seq_when[i] = now + (rand() % 40) * 1000000;
        assert_true(petal_call_at_ns(L, seq_when[i], seq_cb, (void *)(intptr_t)i) > 0);
    }
    run_guarded();
    assert_int_equal(nfired, 2000);
    for (int k = 0; k < 2000; k++) {
        int i = order[k];
        assert_true(seq_fired[i] >= seq_when[i]);
        if (k > 0) {
            int j = order[k - 1];
            assert_true(seq_when[j] < seq_when[i] || (seq_when[j] == seq_when[i] && j < i));
        }
    }
}

static void test_timer_cancel_many(void **state)
{
    (void)state;
    static petal_handle_t hs[5000];
    norder = 0;
    for (int i = 0; i < 5000; i++) hs[i] = petal_call_later(L, 0.001 * (i % 7), log_cb, (void *)(intptr_t)i);
    for (int i = 0; i < 5000; i++)
        if (i % 2) assert_int_equal(petal_cancel(L, hs[i]), 0);
    petal_call_later(L, 0.010, stop_cb, NULL);
    run_guarded();
    assert_int_equal(norder, 2500);
    for (int k = 0; k < norder; k++) assert_int_equal(order[k] % 2, 0);
}

/* Cancel three timers in four, in an order unrelated to their deadlines,
 * then schedule more: the survivors still run once each, in deadline order
 * (cancelled entries are dropped lazily and the heap is rebuilt). */
static void test_timer_mass_cancel_keeps_order(void **state)
{
    (void)state;
    static petal_handle_t hs[4000];
    srand(7);
    nfired = 0;
    int64_t now = petal_time_ns(L);
    for (int i = 0; i < 2000; i++) {
        seq_when[i] = now + (rand() % 30) * 1000000;
        hs[i] = petal_call_at_ns(L, seq_when[i], seq_cb, (void *)(intptr_t)i);
    }
    int kept = 0;
    for (int k = 0; k < 2000; k++) {
        int i = (k * 7919) % 2000;    /* a permutation of 0..1999 */
        if (i % 4) assert_int_equal(petal_cancel(L, hs[i]), 0);
        else kept++;
    }
    for (int i = 0; i < 2000; i++)
        if (i % 4) assert_int_equal(petal_cancel(L, hs[i]), PETAL_EALREADY);
    petal_call_at_ns(L, now + 40 * 1000000, stop_cb, NULL);
    run_guarded();
    assert_int_equal(nfired, kept);
    for (int k = 0; k < nfired; k++) {
        int i = order[k];
        assert_int_equal(i % 4, 0);
        assert_true(seq_fired[i] >= seq_when[i]);
        if (k > 0) assert_true(seq_when[order[k - 1]] < seq_when[i] || (seq_when[order[k - 1]] == seq_when[i] && order[k - 1] < i));
    }
}

/* ---- 3. handles --------------------------------------------------------- */

static void test_handles_are_distinct_values(void **state)
{
    (void)state;
    petal_handle_t a = petal_call_soon(L, log_cb, NULL);
    petal_handle_t b = petal_call_soon(L, log_cb, NULL);
    petal_handle_t c = petal_call_later(L, 1.0, log_cb, NULL);
    assert_true(a > 0 && b > 0 && c > 0);
    assert_true(a != b && b != c && a != c);
    assert_int_equal(petal_cancel(L, c), 0);
}

static void test_cancel_soon(void **state)
{
    (void)state;
    norder = 0;
    petal_call_soon(L, log_cb, (void *)1);
    petal_handle_t h = petal_call_soon(L, log_cb, (void *)2);
    petal_call_soon(L, log_cb, (void *)3);
    assert_int_equal(petal_cancel(L, h), 0);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 3);
}

static void test_cancel_twice_or_after_run_is_harmless(void **state)
{
    (void)state;
    petal_handle_t h = petal_call_soon(L, log_cb, NULL);
    assert_int_equal(petal_cancel(L, h), 0);
    assert_int_equal(petal_cancel(L, h), PETAL_EALREADY);
    petal_handle_t r = petal_call_soon(L, log_cb, NULL);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(petal_cancel(L, r), PETAL_EALREADY);
}

/* A handle whose slot was reused by a new callback must not cancel it. */
static void test_stale_handle_does_not_touch_reused_slot(void **state)
{
    (void)state;
    norder = 0;
    petal_handle_t old = petal_call_soon(L, log_cb, (void *)1);
    assert_int_equal(petal_loop_run_once(L), 0);
    petal_handle_t fresh = petal_call_soon(L, log_cb, (void *)2);
    assert_true(fresh != old);
    assert_int_equal(petal_cancel(L, old), PETAL_EALREADY);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(norder, 2);
    assert_int_equal(order[1], 2);
}

static void test_cancel_bad_handles(void **state)
{
    (void)state;
    assert_int_equal(petal_cancel(L, 0), PETAL_EINVAL);
    assert_int_equal(petal_cancel(L, -5), PETAL_EINVAL);
    assert_int_equal(petal_cancel(L, ((petal_handle_t)1 << 32) | 0x7fffffff), PETAL_EINVAL);
    assert_int_equal(petal_cancel(NULL, 1), PETAL_EINVAL);
}

/* ---- 4. readers and writers -------------------------------------------- */

static int reads;

static void half_reader_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    order[reads++] = c;
    if (reads == 3) {
        petal_remove_reader(loop, fd);
        petal_loop_stop(loop);
    }
}

static void test_reader_is_level_triggered(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    reads = 0;
    assert_int_equal(write(p[1], "abc", 3), 3);
    assert_int_equal(petal_add_reader(L, p[0], half_reader_cb, NULL), 0);
    run_guarded();
    assert_int_equal(reads, 3);
    assert_int_equal(order[0], 'a');
    assert_int_equal(order[2], 'c');
    close(p[0]);
    close(p[1]);
}

static int64_t wrote_at, read_at;

static void write_later_cb(petal_loop_t *loop, void *arg)
{
    wrote_at = petal_time_ns(loop);
    assert_int_equal(write((int)(intptr_t)arg, "x", 1), 1);
}

static void stamp_reader_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    read_at = petal_time_ns(loop);
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    petal_remove_reader(loop, fd);
    petal_loop_stop(loop);
}

static void test_reader_waits_for_data(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    wrote_at = read_at = 0;
    assert_int_equal(petal_add_reader(L, p[0], stamp_reader_cb, NULL), 0);
    petal_call_later(L, 0.02, write_later_cb, (void *)(intptr_t)p[1]);
    run_guarded();
    assert_true(wrote_at > 0);
    assert_true(read_at >= wrote_at);
    close(p[0]);
    close(p[1]);
}

static int writes;

static void writer_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    assert_int_equal(write(fd, "w", 1), 1);
    if (++writes == 2) {
        assert_int_equal(petal_remove_writer(loop, fd), 0);
        petal_loop_stop(loop);
    }
}

static void test_writer_called_when_writable(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    writes = 0;
    assert_int_equal(petal_add_writer(L, p[1], writer_cb, NULL), 0);
    run_guarded();
    assert_int_equal(writes, 2);
    char buf[4];
    assert_int_equal(read(p[0], buf, sizeof buf), 2);
    close(p[0]);
    close(p[1]);
}

static int which_reader;

static void tagged_reader_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    assert_int_equal(status, 0);
    which_reader = (int)(intptr_t)arg;
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    petal_remove_reader(loop, fd);
    petal_loop_stop(loop);
}

static void test_add_reader_replaces(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    which_reader = 0;
    assert_int_equal(petal_add_reader(L, p[0], tagged_reader_cb, (void *)1), 0);
    assert_int_equal(petal_add_reader(L, p[0], tagged_reader_cb, (void *)2), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    run_guarded();
    assert_int_equal(which_reader, 2);
    assert_int_equal(petal_remove_reader(L, p[0]), PETAL_ENOENT);
    close(p[0]);
    close(p[1]);
}

static void test_remove_reports_registration(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    assert_int_equal(petal_remove_reader(L, p[0]), PETAL_ENOENT);
    assert_int_equal(petal_remove_writer(L, p[0]), PETAL_ENOENT);
    assert_int_equal(petal_add_reader(L, p[0], tagged_reader_cb, NULL), 0);
    assert_int_equal(petal_remove_writer(L, p[0]), PETAL_ENOENT);
    assert_int_equal(petal_remove_reader(L, p[0]), 0);
    assert_int_equal(petal_remove_reader(L, p[0]), PETAL_ENOENT);
    close(p[0]);
    close(p[1]);
}

/* Two readers both ready in one iteration; the first to run removes the
 * other, which must then not run. */
static int pair_fds[2];
static int pair_calls;

static void remove_other_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)status;
    (void)arg;
    pair_calls++;
    int other = fd == pair_fds[0] ? pair_fds[1] : pair_fds[0];
    assert_int_equal(petal_remove_reader(loop, other), 0);
    assert_int_equal(petal_remove_reader(loop, fd), 0);
    petal_call_soon(loop, stop_cb, NULL);
}

static void test_reader_removed_before_its_turn_does_not_run(void **state)
{
    (void)state;
    int a[2], b[2];
    pipe_pair(a);
    pipe_pair(b);
    pair_fds[0] = a[0];
    pair_fds[1] = b[0];
    pair_calls = 0;
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "x", 1), 1);
    assert_int_equal(petal_add_reader(L, a[0], remove_other_cb, NULL), 0);
    assert_int_equal(petal_add_reader(L, b[0], remove_other_cb, NULL), 0);
    run_guarded();
    assert_int_equal(pair_calls, 1);
    close(a[0]); close(a[1]); close(b[0]); close(b[1]);
}

static int rw_mask;

static void rw_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    assert_int_equal(status, 0);
    rw_mask |= (int)(intptr_t)arg;
    if ((intptr_t)arg == 1) petal_remove_reader(loop, fd);
    else petal_remove_writer(loop, fd);
    if (rw_mask == 3) petal_loop_stop(loop);
}

static void test_reader_and_writer_on_one_fd(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    rw_mask = 0;
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(petal_add_reader(L, p[0], rw_cb, (void *)1), 0);
    assert_int_equal(petal_add_writer(L, p[0], rw_cb, (void *)2), 0);
    run_guarded();
    assert_int_equal(rw_mask, 3);
    close(p[0]);
    close(p[1]);
}

static void test_watch_leaves_fd_flags_alone(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);    /* blocking */
    int before = fcntl(p[0], F_GETFL);
    assert_int_equal(petal_add_reader(L, p[0], tagged_reader_cb, NULL), 0);
    assert_int_equal(fcntl(p[0], F_GETFL), before);
    assert_int_equal(write(p[1], "x", 1), 1);
    run_guarded();
    assert_int_equal(fcntl(p[0], F_GETFL), before);
    assert_false(before & O_NONBLOCK);
    close(p[0]);
    close(p[1]);
}

static void test_regular_file_refused(void **state)
{
    (void)state;
    char path[] = "/tmp/petal-conformance-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(petal_add_reader(L, fd, tagged_reader_cb, NULL), PETAL_EPERM);
    assert_int_equal(petal_remove_reader(L, fd), PETAL_ENOENT);
    close(fd);
}

/* ---- 5. fd lifetime ----------------------------------------------------- */

static int io_status[4];
static int io_calls;

static void status_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)loop;
    (void)fd;
    io_status[(intptr_t)arg] = status;
    io_calls++;
}

static void test_fd_closing_wakes_watchers_with_cancel(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    io_calls = 0;
    io_status[0] = io_status[1] = 1;
    assert_int_equal(petal_add_reader(L, p[0], status_cb, (void *)0), 0);
    assert_int_equal(petal_add_writer(L, p[0], status_cb, (void *)1), 0);
    assert_int_equal(petal_fd_closing(L, p[0]), 0);
    assert_int_equal(io_calls, 0);    /* woken from the loop, not inside the call */
    close(p[0]);
    petal_call_later(L, 0.01, stop_cb, NULL);
    run_guarded();
    assert_int_equal(io_calls, 2);
    assert_int_equal(io_status[0], PETAL_ECANCELED);
    assert_int_equal(io_status[1], PETAL_ECANCELED);
    assert_int_equal(petal_remove_reader(L, p[0]), PETAL_ENOENT);
    close(p[1]);
}

static void test_fd_closing_cancels_a_queued_readiness(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    io_calls = 0;
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(petal_add_reader(L, p[0], status_cb, (void *)0), 0);
    assert_int_equal(petal_fd_closing(L, p[0]), 0);
    close(p[0]);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(io_calls, 1);
    assert_int_equal(io_status[0], PETAL_ECANCELED);
    close(p[1]);
}

static void test_fd_closing_unwatched(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    assert_int_equal(petal_fd_closing(L, p[0]), PETAL_ENOENT);
    assert_int_equal(petal_fd_closing(L, -1), PETAL_EBADF);
    close(p[0]);
    close(p[1]);
}

static int hook_calls, hook_fd, hook_err;

static void error_hook(petal_loop_t *loop, int err, int fd, const char *what, void *arg)
{
    (void)loop;
    (void)arg;
    assert_non_null(what);
    hook_calls++;
    hook_fd = fd;
    hook_err = err;
}

/* Closing without petal_fd_closing, then reusing the number: the new file
 * can be watched, the stale watch is reported, and nothing crashes. */
static void test_fd_closed_while_watched_number_reused(void **state)
{
    (void)state;
    int a[2], b[2];
    pipe_pair(a);
    hook_calls = 0;
    petal_loop_set_error_hook(L, error_hook, NULL);
    which_reader = 0;
    assert_int_equal(petal_add_reader(L, a[0], tagged_reader_cb, (void *)1), 0);
    petal_call_later(L, 0.005, stop_cb, NULL);
    run_guarded();    /* the watch is now live in the native loop */
    int num = a[0];
    close(a[0]);
    close(a[1]);
    pipe_pair(b);     /* lowest free numbers: the same ones */
    assert_int_equal(b[0] == num || b[1] == num, 1);
    int reused = b[0] == num ? b[0] : b[1];
    int peer = reused == b[0] ? b[1] : b[0];
    assert_int_equal(petal_add_reader(L, reused, tagged_reader_cb, (void *)2), 0);
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_fd, num);
    assert_int_equal(write(peer, "x", 1), 1);
    run_guarded();
    assert_int_equal(which_reader, 2);
    close(b[0]);
    close(b[1]);
}

static void test_fd_closed_before_first_poll(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    hook_calls = 0;
    io_calls = 0;
    petal_loop_set_error_hook(L, error_hook, NULL);
    assert_int_equal(petal_add_reader(L, p[0], status_cb, (void *)0), 0);
    close(p[0]);    /* no petal_fd_closing: a user error petal must survive */
    close(p[1]);
    petal_call_later(L, 0.01, stop_cb, NULL);
    run_guarded();
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_err, PETAL_EBADF);
    assert_int_equal(io_calls, 1);
    assert_int_equal(io_status[0], PETAL_EBADF);
}

static void test_fd_closing_then_reuse(void **state)
{
    (void)state;
    int a[2], b[2];
    pipe_pair(a);
    hook_calls = 0;
    petal_loop_set_error_hook(L, error_hook, NULL);
    assert_int_equal(petal_add_reader(L, a[0], status_cb, (void *)0), 0);
    petal_call_later(L, 0.005, stop_cb, NULL);
    run_guarded();
    assert_int_equal(petal_fd_closing(L, a[0]), 0);
    close(a[0]);
    close(a[1]);
    pipe_pair(b);
    which_reader = 0;
    assert_int_equal(petal_add_reader(L, b[0], tagged_reader_cb, (void *)3), 0);
    assert_int_equal(write(b[1], "x", 1), 1);
    run_guarded();
    assert_int_equal(which_reader, 3);
    assert_int_equal(hook_calls, 0);
    close(b[0]);
    close(b[1]);
}

/* Removed, closed and the number reused, all between two polls (so the
 * native loop never saw the watch go away): a reader on the new file fires,
 * and nothing is reported. */
static void test_removed_then_reused_between_polls(void **state)
{
    (void)state;
    int a[2], b[2];
    pipe_pair(a);
    hook_calls = 0;
    petal_loop_set_error_hook(L, error_hook, NULL);
    assert_int_equal(petal_add_reader(L, a[0], tagged_reader_cb, (void *)1), 0);
    petal_call_later(L, 0.005, stop_cb, NULL);
    run_guarded();    /* the watch is now live in the native loop */
    assert_int_equal(petal_remove_reader(L, a[0]), 0);
    int num = a[0];
    close(a[0]);
    close(a[1]);
    pipe_pair(b);     /* lowest free numbers: the same ones */
    assert_int_equal(b[0] == num || b[1] == num, 1);
    int peer = b[0] == num ? b[1] : b[0];
    which_reader = 0;
    assert_int_equal(petal_add_reader(L, num, tagged_reader_cb, (void *)2), 0);
    assert_int_equal(write(peer, "x", 1), 1);
    run_guarded();
    assert_int_equal(which_reader, 2);
    assert_int_equal(hook_calls, 0);
    close(b[0]);
    close(b[1]);
}

static void test_bad_fds(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    close(p[0]);
    close(p[1]);
    assert_int_equal(petal_add_reader(L, -1, status_cb, NULL), PETAL_EBADF);
    assert_int_equal(petal_add_writer(L, -1, status_cb, NULL), PETAL_EBADF);
    assert_int_equal(petal_add_reader(L, p[0], status_cb, NULL), PETAL_EBADF);
    assert_int_equal(petal_add_writer(L, p[1], status_cb, NULL), PETAL_EBADF);
    assert_int_equal(petal_remove_reader(L, -1), PETAL_EBADF);
    assert_int_equal(petal_remove_reader(L, 100000), PETAL_ENOENT);
    assert_int_equal(petal_add_reader(L, 0, NULL, NULL), PETAL_EINVAL);
}

/* ---- 6. signals --------------------------------------------------------- */

static pthread_t loop_thread;
static int sig_calls;
static bool sig_on_loop_thread;

static void sig_cb(petal_loop_t *loop, void *arg)
{
    (void)arg;
    sig_calls++;
    sig_on_loop_thread = pthread_equal(pthread_self(), loop_thread);
    petal_loop_stop(loop);
}

static void raise_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    raise((int)(intptr_t)arg);
    assert_int_equal(sig_calls, 0);    /* not run inside the signal handler */
}

static void test_signal_runs_as_callback(void **state)
{
    (void)state;
    loop_thread = pthread_self();
    sig_calls = 0;
    assert_int_equal(petal_add_signal_handler(L, SIGUSR1, sig_cb, NULL), 0);
    petal_call_soon(L, raise_cb, (void *)SIGUSR1);
    run_guarded();
    assert_int_equal(sig_calls, 1);
    assert_true(sig_on_loop_thread);
    assert_int_equal(petal_remove_signal_handler(L, SIGUSR1), 0);
}

static void *kill_later(void *arg)
{
    struct timespec ts = { 0, 20 * 1000000 };
    nanosleep(&ts, NULL);
    kill(getpid(), (int)(intptr_t)arg);
    return NULL;
}

static void test_signal_from_other_thread_wakes_loop(void **state)
{
    (void)state;
    loop_thread = pthread_self();
    sig_calls = 0;
    /* The kernel may run petal's handler on either thread; the callback must
     * still run on the loop's thread, woken from its sleep. */
    assert_int_equal(petal_add_signal_handler(L, SIGUSR2, sig_cb, NULL), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, kill_later, (void *)SIGUSR2), 0);
    run_guarded();
    pthread_join(t, NULL);
    assert_int_equal(sig_calls, 1);
    assert_true(sig_on_loop_thread);
    assert_int_equal(petal_remove_signal_handler(L, SIGUSR2), 0);
}

static void test_signal_remove_and_replace(void **state)
{
    (void)state;
    assert_int_equal(petal_remove_signal_handler(L, SIGUSR1), PETAL_ENOENT);
    assert_int_equal(petal_add_signal_handler(L, SIGUSR1, log_cb, NULL), 0);
    assert_int_equal(petal_add_signal_handler(L, SIGUSR1, sig_cb, NULL), 0);    /* replaces */
    sig_calls = 0;
    loop_thread = pthread_self();
    petal_call_soon(L, raise_cb, (void *)SIGUSR1);
    run_guarded();
    assert_int_equal(sig_calls, 1);
    assert_int_equal(petal_remove_signal_handler(L, SIGUSR1), 0);
    assert_int_equal(petal_remove_signal_handler(L, SIGUSR1), PETAL_ENOENT);
}

static void test_signal_bad_numbers(void **state)
{
    (void)state;
    assert_int_equal(petal_add_signal_handler(L, 0, sig_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_add_signal_handler(L, -3, sig_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_add_signal_handler(L, NSIG, sig_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_add_signal_handler(L, 100000, sig_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_add_signal_handler(L, SIGKILL, sig_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_add_signal_handler(L, SIGSTOP, sig_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_add_signal_handler(L, SIGUSR1, NULL, NULL), PETAL_EINVAL);
    assert_int_equal(petal_remove_signal_handler(L, 0), PETAL_EINVAL);
}

static void test_signal_has_one_owner_per_process(void **state)
{
    (void)state;
    petal_loop_t *other;
    assert_int_equal(conformance_loop_new(&other), 0);
    assert_int_equal(petal_add_signal_handler(L, SIGUSR1, sig_cb, NULL), 0);
    assert_int_equal(petal_add_signal_handler(other, SIGUSR1, sig_cb, NULL), PETAL_EEXIST);
    conformance_loop_free(other);
    /* closing the owner gives the signal back */
    assert_int_equal(petal_loop_close(L), 0);
    assert_int_equal(conformance_loop_new(&other), 0);
    assert_int_equal(petal_add_signal_handler(other, SIGUSR1, sig_cb, NULL), 0);
    conformance_loop_free(other);
}

/* ---- 7. call_soon_threadsafe ------------------------------------------- */

#define TS_THREADS 4
#define TS_CALLS 10000

static unsigned char ts_seen[TS_THREADS][TS_CALLS];
static int ts_total;
static bool ts_on_loop_thread = true;

static void ts_cb(petal_loop_t *loop, void *arg)
{
    intptr_t v = (intptr_t)arg;
    ts_seen[v / TS_CALLS][v % TS_CALLS]++;
    if (!pthread_equal(pthread_self(), loop_thread)) ts_on_loop_thread = false;
    if (++ts_total == TS_THREADS * TS_CALLS) petal_loop_stop(loop);
}

static void *ts_producer(void *arg)
{
    intptr_t id = (intptr_t)arg;
    for (intptr_t i = 0; i < TS_CALLS; i++)
        if (petal_call_soon_threadsafe(L, ts_cb, (void *)(id * TS_CALLS + i)) != 0) abort();
    return NULL;
}

static void test_threadsafe_from_four_threads(void **state)
{
    (void)state;
    loop_thread = pthread_self();
    memset(ts_seen, 0, sizeof ts_seen);
    ts_total = 0;
    pthread_t t[TS_THREADS];
    for (intptr_t i = 0; i < TS_THREADS; i++) assert_int_equal(pthread_create(&t[i], NULL, ts_producer, (void *)i), 0);
    run_guarded();
    for (int i = 0; i < TS_THREADS; i++) pthread_join(t[i], NULL);
    assert_int_equal(ts_total, TS_THREADS * TS_CALLS);
    for (int i = 0; i < TS_THREADS; i++)
        for (int k = 0; k < TS_CALLS; k++) assert_int_equal(ts_seen[i][k], 1);
    assert_true(ts_on_loop_thread);
}

static void *ts_stop_later(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 30 * 1000000 };
    nanosleep(&ts, NULL);
    if (petal_call_soon_threadsafe(L, stop_cb, NULL) != 0) abort();
    return NULL;
}

static void test_threadsafe_wakes_sleeping_loop(void **state)
{
    (void)state;
    pthread_t t;
    int64_t start = petal_time_ns(L);
    assert_int_equal(pthread_create(&t, NULL, ts_stop_later, NULL), 0);
    run_guarded();    /* nothing else scheduled: the loop sleeps until woken */
    pthread_join(t, NULL);
    assert_true(petal_time_ns(L) - start >= 30 * 1000000);
}

/* ---- 8. stop, run again, close ----------------------------------------- */

static void test_stop_finishes_the_iteration(void **state)
{
    (void)state;
    norder = 0;
    petal_call_soon(L, stop_cb, NULL);
    petal_call_soon(L, log_cb, (void *)1);
    petal_call_soon(L, schedule_next_cb, (void *)2);
    assert_int_equal(petal_loop_run(L), 0);
    assert_int_equal(norder, 2);    /* both ran; 102 waits */
    assert_false(petal_loop_is_running(L));
    petal_call_soon(L, stop_cb, NULL);
    assert_int_equal(petal_loop_run(L), 0);    /* run again */
    assert_int_equal(norder, 3);
    assert_int_equal(order[2], 102);
}

static void test_stop_before_run_runs_one_iteration(void **state)
{
    (void)state;
    norder = 0;
    petal_call_soon(L, schedule_next_cb, (void *)1);
    assert_int_equal(petal_loop_stop(L), 0);
    assert_int_equal(petal_loop_run(L), 0);
    assert_int_equal(norder, 1);
}

static int nested_rc, close_rc, free_rc;
static bool running_inside;

static void misuse_cb(petal_loop_t *loop, void *arg)
{
    (void)arg;
    running_inside = petal_loop_is_running(loop);
    nested_rc = petal_loop_run(loop);
    close_rc = petal_loop_close(loop);
    free_rc = petal_loop_free(loop);
    petal_loop_stop(loop);
}

static void test_close_or_rerun_a_running_loop_fails(void **state)
{
    (void)state;
    petal_call_soon(L, misuse_cb, NULL);
    run_guarded();
    assert_true(running_inside);
    assert_int_equal(nested_rc, PETAL_EBUSY);
    assert_int_equal(close_rc, PETAL_EBUSY);
    assert_int_equal(free_rc, PETAL_EBUSY);
    assert_false(petal_loop_is_closed(L));
}

static void test_closed_loop_refuses_everything(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    petal_call_soon(L, log_cb, NULL);
    petal_call_later(L, 5.0, log_cb, NULL);
    assert_int_equal(petal_add_reader(L, p[0], status_cb, NULL), 0);
    assert_int_equal(petal_loop_close(L), 0);
    assert_true(petal_loop_is_closed(L));
    assert_int_equal(petal_loop_close(L), PETAL_ECLOSED);
    assert_int_equal(petal_loop_run(L), PETAL_ECLOSED);
    assert_int_equal(petal_loop_run_once(L), PETAL_ECLOSED);
    assert_int_equal(petal_loop_stop(L), PETAL_ECLOSED);
    assert_int_equal(petal_call_soon(L, log_cb, NULL), PETAL_ECLOSED);
    assert_int_equal(petal_call_later(L, 0.1, log_cb, NULL), PETAL_ECLOSED);
    assert_int_equal(petal_call_at_ns(L, 0, log_cb, NULL), PETAL_ECLOSED);
    assert_int_equal(petal_cancel(L, 1), PETAL_ECLOSED);
    assert_int_equal(petal_call_soon_threadsafe(L, log_cb, NULL), PETAL_ECLOSED);
    assert_int_equal(petal_add_reader(L, p[0], status_cb, NULL), PETAL_ECLOSED);
    assert_int_equal(petal_remove_reader(L, p[0]), PETAL_ECLOSED);
    assert_int_equal(petal_fd_closing(L, p[0]), PETAL_ECLOSED);
    assert_int_equal(petal_add_signal_handler(L, SIGUSR1, log_cb, NULL), PETAL_ECLOSED);
    petal_future_t *f;
    assert_int_equal(petal_future_new(L, &f), PETAL_ECLOSED);
    close(p[0]);
    close(p[1]);
}

/* ---- 9. futures --------------------------------------------------------- */

static int fut_calls;
static int fut_order[8];

static void fut_cb(petal_future_t *f, void *arg)
{
    assert_true(petal_future_done(f));
    fut_order[fut_calls++] = (int)(intptr_t)arg;
}

static void test_future_result_and_state(void **state)
{
    (void)state;
    petal_future_t *f;
    assert_int_equal(petal_future_new(L, &f), 0);
    void *v = (void *)1;
    assert_false(petal_future_done(f));
    assert_int_equal(petal_future_result(f, &v), PETAL_EINVALSTATE);
    int x = 42;
    assert_int_equal(petal_future_set_result(f, &x, NULL), 0);
    assert_true(petal_future_done(f));
    assert_false(petal_future_cancelled(f));
    assert_int_equal(petal_future_result(f, &v), 0);
    assert_ptr_equal(v, &x);
    petal_future_release(f);
}

static void test_future_finished_once(void **state)
{
    (void)state;
    petal_future_t *f;
    assert_int_equal(petal_future_new(L, &f), 0);
    int x = 1, y = 2;
    void *v;
    assert_int_equal(petal_future_set_result(f, &x, NULL), 0);
    assert_int_equal(petal_future_set_result(f, &y, NULL), PETAL_EINVALSTATE);
    assert_int_equal(petal_future_set_error(f, PETAL_ETIMEDOUT), PETAL_EINVALSTATE);
    assert_int_equal(petal_future_cancel(f), PETAL_EINVALSTATE);
    assert_int_equal(petal_future_result(f, &v), 0);
    assert_ptr_equal(v, &x);
    petal_future_release(f);
}

static void test_future_error_and_cancel(void **state)
{
    (void)state;
    petal_future_t *f, *g;
    void *v;
    assert_int_equal(petal_future_new(L, &f), 0);
    assert_int_equal(petal_future_new(L, &g), 0);
    assert_int_equal(petal_future_set_error(f, 5), PETAL_EINVAL);    /* errors are negative */
    assert_int_equal(petal_future_set_error(f, PETAL_ETIMEDOUT), 0);
    assert_int_equal(petal_future_result(f, &v), PETAL_ETIMEDOUT);
    assert_int_equal(petal_future_cancel(g), 0);
    assert_true(petal_future_cancelled(g));
    assert_true(petal_future_done(g));
    assert_int_equal(petal_future_result(g, &v), PETAL_ECANCELED);
    assert_int_equal(petal_future_set_result(g, NULL, NULL), PETAL_EINVALSTATE);
    petal_future_release(f);
    petal_future_release(g);
}

static void test_future_callbacks_scheduled_in_order(void **state)
{
    (void)state;
    petal_future_t *f;
    assert_int_equal(petal_future_new(L, &f), 0);
    fut_calls = 0;
    for (intptr_t i = 0; i < 3; i++) assert_int_equal(petal_future_add_done_callback(f, fut_cb, (void *)i), 0);
    assert_int_equal(petal_future_set_result(f, NULL, NULL), 0);
    assert_int_equal(fut_calls, 0);    /* never from inside set_result */
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(fut_calls, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(fut_order[i], i);
    /* added after done: scheduled, not called at once */
    assert_int_equal(petal_future_add_done_callback(f, fut_cb, (void *)9), 0);
    assert_int_equal(fut_calls, 3);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(fut_calls, 4);
    assert_int_equal(fut_order[3], 9);
    petal_future_release(f);
}

static void test_future_remove_callback(void **state)
{
    (void)state;
    petal_future_t *f;
    assert_int_equal(petal_future_new(L, &f), 0);
    fut_calls = 0;
    petal_future_add_done_callback(f, fut_cb, (void *)1);
    petal_future_add_done_callback(f, fut_cb, (void *)2);
    petal_future_add_done_callback(f, fut_cb, (void *)1);
    assert_int_equal(petal_future_remove_done_callback(f, fut_cb, (void *)1), 0);
    assert_int_equal(petal_future_remove_done_callback(f, fut_cb, (void *)1), PETAL_ENOENT);
    assert_int_equal(petal_future_cancel(f), 0);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(fut_calls, 1);
    assert_int_equal(fut_order[0], 2);
    petal_future_release(f);
}

static int dtor_calls;
static void count_dtor(void *v) { (void)v; dtor_calls++; }

/* A future with a pending done-callback stays alive until the callback ran;
 * the result's destructor runs once, with the last reference. */
static void test_future_lifetime_and_destructor(void **state)
{
    (void)state;
    petal_future_t *f;
    dtor_calls = 0;
    fut_calls = 0;
    assert_int_equal(petal_future_new(L, &f), 0);
    petal_future_add_done_callback(f, fut_cb, NULL);
    assert_int_equal(petal_future_set_result(f, malloc(16), free), 0);
    petal_future_release(f);    /* the scheduled callback still holds it */
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(fut_calls, 1);
    assert_int_equal(petal_future_new(L, &f), 0);
    assert_int_equal(petal_future_set_result(f, &dtor_calls, count_dtor), 0);
    assert_int_equal(dtor_calls, 0);
    petal_future_release(f);
    assert_int_equal(dtor_calls, 1);
}

static void resolve_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    petal_future_set_result(arg, (void *)0x5, NULL);
}

static void test_run_until_complete(void **state)
{
    (void)state;
    petal_future_t *f;
    assert_int_equal(petal_future_new(L, &f), 0);
    petal_call_later(L, 0.01, resolve_cb, f);
    arm_guard(10.0);
    assert_int_equal(petal_loop_run_until_complete(L, f), 0);
    void *v;
    assert_int_equal(petal_future_result(f, &v), 0);
    assert_ptr_equal(v, (void *)0x5);
    assert_false(guard_fired);
    petal_future_release(f);
}

static void test_run_until_complete_stopped_early(void **state)
{
    (void)state;
    petal_future_t *f, *g;
    assert_int_equal(petal_future_new(L, &f), 0);
    petal_call_soon(L, stop_cb, NULL);
    assert_int_equal(petal_loop_run_until_complete(L, f), PETAL_ESTOPPED);
    assert_int_equal(petal_future_set_error(f, PETAL_ETIMEDOUT), 0);
    assert_int_equal(petal_loop_run_until_complete(L, f), PETAL_ETIMEDOUT);
    petal_loop_t *other;
    assert_int_equal(conformance_loop_new(&other), 0);
    assert_int_equal(petal_future_new(other, &g), 0);
    assert_int_equal(petal_loop_run_until_complete(L, g), PETAL_EINVAL);    /* another loop's future */
    assert_int_equal(petal_loop_run_until_complete(L, NULL), PETAL_EINVAL);
    petal_future_release(g);
    conformance_loop_free(other);
    petal_future_release(f);
}

/* A future may outlive its loop: it then refuses to complete. */
static void test_future_outlives_loop(void **state)
{
    (void)state;
    petal_future_t *f;
    assert_int_equal(petal_future_new(L, &f), 0);
    petal_future_add_done_callback(f, fut_cb, NULL);
    conformance_loop_free(L);
    L = NULL;
    assert_int_equal(petal_future_set_result(f, NULL, NULL), PETAL_ECLOSED);
    assert_false(petal_future_done(f));
    petal_future_release(f);
}

/* ---- embedding in another event loop ----------------------------------- */

static int embed_sock[2], embed_sock2[2];
static int embed_seen;

static void embed_soon_cb(petal_loop_t *loop, void *arg) { (void)loop; embed_seen |= (int)(intptr_t)arg; }

static void embed_reader_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    embed_seen |= 4;
    petal_remove_reader(loop, fd);
}

static int64_t embed_sock_written_at, embed_sock_done_at;

static void *embed_thread(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 30 * 1000000 }, gap = { 0, 700 * 1000000 };
    nanosleep(&ts, NULL);
    embed_sock_written_at = petal_time_ns(L);
    if (write(embed_sock2[1], "s", 1) != 1) abort();
    /* a long quiet gap: only the socket operation can wake the outer loop */
    nanosleep(&gap, NULL);
    if (write(embed_sock[1], "r", 1) != 1) abort();
    nanosleep(&ts, NULL);
    if (petal_call_soon_threadsafe(L, embed_soon_cb, (void *)16) != 0) abort();
    return NULL;
}

static void embed_recv_done(petal_future_t *f, void *arg)
{
    (void)f;
    (void)arg;
    embed_sock_done_at = petal_time_ns(L);
}

/* The application's own loop (here: poll()) drives petal through one fd and
 * a timeout: callbacks, timers, readers, socket operations and cross-thread
 * calls all arrive. */
static void test_embed_in_another_loop(void **state)
{
    (void)state;
    if (petal_loop_is_hosted(L)) {
        assert_int_equal(petal_loop_embed_fd(L), PETAL_EINVAL);    /* its host drives it */
        return;
    }
    int fd = petal_loop_embed_fd(L);
    assert_true(fd >= 0);
    assert_int_equal(petal_loop_embed_fd(L), fd);
    pipe_pair(embed_sock);
    pipe_pair(embed_sock2);
    embed_seen = 0;
    char buf[2];
    petal_future_t *f;
    petal_call_soon(L, embed_soon_cb, (void *)1);
    petal_call_later(L, 0.01, embed_soon_cb, (void *)2);
    assert_int_equal(petal_add_reader(L, embed_sock[0], embed_reader_cb, NULL), 0);
    assert_int_equal(petal_sock_recv(L, embed_sock2[0], buf, sizeof buf, &f), 0);
    assert_int_equal(petal_future_add_done_callback(f, embed_recv_done, NULL), 0);
    embed_sock_done_at = 0;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, embed_thread, NULL), 0);
    int64_t deadline = petal_time_ns(L) + 5000000000;
    int sleeps = 0;
    while ((embed_seen & 23) != 23 || !petal_future_done(f)) {
        assert_true(petal_time_ns(L) < deadline);
        int timeout;
        assert_int_equal(petal_loop_embed_timeout(L, &timeout), 0);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        if (timeout != 0) sleeps++;
        assert_true(poll(&pfd, 1, timeout < 0 || timeout > 2000 ? 2000 : timeout) >= 0);
        assert_int_equal(petal_loop_run_ready(L), 0);
    }
    pthread_join(t, NULL);
    assert_true(sleeps > 0);    /* the outer loop really slept in poll() */
    /* woken by the socket operation itself, not by the next event */
    assert_true(embed_sock_done_at - embed_sock_written_at < 400 * 1000000);
    assert_int_equal(petal_sock_result(f), 1);
    assert_int_equal(buf[0], 's');
    petal_future_release(f);
    close(embed_sock[0]); close(embed_sock[1]);
    close(embed_sock2[0]); close(embed_sock2[1]);
}

/* ---- 10. bad input ------------------------------------------------------ */

static void test_null_arguments(void **state)
{
    (void)state;
    assert_int_equal(petal_loop_new(NULL), PETAL_EINVAL);
    assert_int_equal(petal_loop_run(NULL), PETAL_EINVAL);
    assert_int_equal(petal_loop_run_once(NULL), PETAL_EINVAL);
    assert_int_equal(petal_loop_stop(NULL), PETAL_EINVAL);
    assert_int_equal(petal_loop_close(NULL), PETAL_EINVAL);
    assert_int_equal(petal_loop_free(NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_soon(NULL, log_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_soon(L, NULL, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_later(L, 0.1, NULL, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_soon_threadsafe(NULL, log_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_soon_threadsafe(L, NULL, NULL), PETAL_EINVAL);
    assert_int_equal(petal_future_new(L, NULL), PETAL_EINVAL);
    assert_int_equal(petal_future_new(NULL, NULL), PETAL_EINVAL);
    assert_int_equal(petal_future_set_result(NULL, NULL, NULL), PETAL_EINVAL);
    assert_int_equal(petal_future_add_done_callback(NULL, fut_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_loop_new_backend(&(petal_loop_t *){ NULL }, "no-such-backend"), PETAL_ENOSYS);
    assert_false(petal_loop_is_running(NULL));
}

static void test_bad_delays(void **state)
{
    (void)state;
    assert_int_equal(petal_call_later(L, NAN, log_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_later(L, -0.5, log_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_later(L, INFINITY, log_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_later(L, 1e300, log_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_later_ns(L, -1, log_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_later_ns(L, INT64_MAX, log_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_at(L, NAN, log_cb, NULL), PETAL_EINVAL);
    assert_int_equal(petal_call_at_ns(L, -1, log_cb, NULL), PETAL_EINVAL);
}

static void test_strerror_names_every_code(void **state)
{
    (void)state;
    int codes[] = { PETAL_EINVAL, PETAL_ENOMEM, PETAL_EBADF, PETAL_EBUSY, PETAL_ECANCELED,
                    PETAL_EALREADY, PETAL_ENOENT, PETAL_EEXIST, PETAL_ETIMEDOUT, PETAL_ENOSYS,
                    PETAL_EPERM, PETAL_ECLOSED, PETAL_EINVALSTATE, PETAL_ESTOPPED, PETAL_EINTERNALFD };
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = petal_strerror(codes[i]);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown petal error");
        for (size_t k = 0; k < i; k++) assert_string_not_equal(s, petal_strerror(codes[k]));
    }
    assert_string_equal(petal_strerror(-99999), "unknown petal error");
}

static void test_backend_name_and_time(void **state)
{
    (void)state;
    assert_non_null(petal_loop_backend(L));
    int64_t a = petal_time_ns(L);
    double s = petal_time(L);
    int64_t b = petal_time_ns(L);
    assert_true(b >= a);
    assert_true(fabs(s - (double)a / 1e9) < 1.0);
}


/* ---- socket operations (petal/sock.h) ---------------------------------- */

static void fut_cb_log(petal_future_t *f, void *arg)
{
    (void)f;
    order[norder++] = (int)(intptr_t)arg;
}

static void write_byte_later_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    assert_int_equal(write((int)(intptr_t)arg, "z", 1), 1);
}

static void test_sock_recv_ready_and_waiting(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    char buf[8];
    petal_future_t *f;
    assert_int_equal(write(p[1], "hey", 3), 3);
    assert_int_equal(petal_sock_recv(L, p[0], buf, sizeof buf, &f), 0);
    arm_guard(10.0);
    assert_int_equal(petal_loop_run_until_complete(L, f), 0);
    assert_int_equal(petal_sock_result(f), 3);
    assert_memory_equal(buf, "hey", 3);
    petal_future_release(f);
    /* nothing there yet: completes when data arrives */
    assert_int_equal(petal_sock_recv(L, p[0], buf, sizeof buf, &f), 0);
    assert_false(petal_future_done(f));
    petal_call_later(L, 0.01, write_byte_later_cb, (void *)(intptr_t)p[1]);
    assert_int_equal(petal_loop_run_until_complete(L, f), 0);
    assert_int_equal(petal_sock_result(f), 1);
    assert_int_equal(buf[0], 'z');
    assert_false(guard_fired);
    petal_future_release(f);
    close(p[1]);
    assert_int_equal(petal_sock_recv(L, p[0], buf, sizeof buf, &f), 0);
    assert_int_equal(petal_loop_run_until_complete(L, f), 0);
    assert_int_equal(petal_sock_result(f), 0);    /* end of stream */
    petal_future_release(f);
    close(p[0]);
}

/* A socket operation's future completes in a later iteration, never inside
 * the call: the same moment whether the core or the kernel performs it. */
static void test_sock_future_completes_with_the_next_iteration(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    char buf[4];
    petal_future_t *f;
    norder = 0;
    assert_int_equal(write(p[1], "now", 3), 3);
    petal_call_soon(L, log_cb, (void *)1);
    assert_int_equal(petal_sock_recv(L, p[0], buf, sizeof buf, &f), 0);
    assert_false(petal_future_done(f));
    assert_int_equal(petal_future_add_done_callback(f, fut_cb_log, (void *)2), 0);
    arm_guard(10.0);
    assert_int_equal(petal_loop_run_until_complete(L, f), 0);
    assert_int_equal(petal_sock_result(f), 3);
    assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(norder, 2);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    petal_future_release(f);
    close(p[0]);
    close(p[1]);
}

static void test_sock_recv_fifo_per_fd(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    char a = 0, b = 0, c = 0;
    petal_future_t *fa, *fb, *fc;
    assert_int_equal(petal_sock_recv(L, p[0], &a, 1, &fa), 0);
    assert_int_equal(petal_sock_recv(L, p[0], &b, 1, &fb), 0);
    assert_int_equal(petal_sock_recv(L, p[0], &c, 1, &fc), 0);
    assert_int_equal(write(p[1], "123", 3), 3);
    arm_guard(10.0);
    assert_int_equal(petal_loop_run_until_complete(L, fc), 0);
    assert_true(petal_future_done(fa) && petal_future_done(fb));
    assert_int_equal(a, '1');
    assert_int_equal(b, '2');
    assert_int_equal(c, '3');
    petal_future_release(fa);
    petal_future_release(fb);
    petal_future_release(fc);
    close(p[0]);
    close(p[1]);
}

static size_t drained;
static unsigned char drain_sum;

static void drain_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)loop;
    (void)arg;
    assert_int_equal(status, 0);
    unsigned char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++) drain_sum = (unsigned char)(drain_sum + buf[i] * (unsigned char)((drained + (size_t)i) % 251 + 1));
        drained += (size_t)n;
    }
}

static void test_sock_send_all_bytes(void **state)
{
    (void)state;
    enum { N = 4 << 20 };
    int p[2];
    pipe_pair(p);
    unsigned char *data = malloc(N);
    unsigned char want = 0;
    for (size_t i = 0; i < N; i++) {
        data[i] = (unsigned char)(i * 7 + 3);
        want = (unsigned char)(want + data[i] * (unsigned char)(i % 251 + 1));
    }
    drained = 0;
    drain_sum = 0;
    petal_future_t *f;
    assert_int_equal(petal_sock_send(L, p[1], data, N, &f), 0);
    memset(data, 0, N);    /* petal copied it */
    free(data);
    assert_int_equal(petal_add_reader(L, p[0], drain_cb, NULL), 0);
    arm_guard(10.0);
    assert_int_equal(petal_loop_run_until_complete(L, f), 0);
    assert_int_equal(petal_sock_result(f), N);
    while (drained < N) assert_int_equal(petal_loop_run_once(L), 0);
    assert_int_equal(drained, N);
    assert_int_equal(drain_sum, want);
    petal_future_release(f);
    petal_remove_reader(L, p[0]);
    close(p[0]);
    close(p[1]);
}

static int tcp_listener(struct sockaddr_in *addr)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(s >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t l = sizeof *addr;
    assert_int_equal(getsockname(s, (struct sockaddr *)addr, &l), 0);
    assert_int_equal(listen(s, 16), 0);
    return s;
}

static void test_sock_accept_and_connect(void **state)
{
    (void)state;
    struct sockaddr_in addr;
    int ls = tcp_listener(&addr);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    petal_future_t *fa, *fc;
    assert_int_equal(petal_sock_accept(L, ls, &fa), 0);
    assert_int_equal(petal_sock_connect(L, c, (struct sockaddr *)&addr, sizeof addr, &fc), 0);
    arm_guard(10.0);
    assert_int_equal(petal_loop_run_until_complete(L, fc), 0);
    assert_int_equal(petal_loop_run_until_complete(L, fa), 0);
    int s = (int)petal_sock_result(fa);
    assert_true(s >= 0);
    assert_true(fcntl(s, F_GETFL) & O_NONBLOCK);
    assert_int_equal(write(c, "ping", 4), 4);
    char buf[4];
    petal_future_t *fr;
    assert_int_equal(petal_sock_recv(L, s, buf, 4, &fr), 0);
    assert_int_equal(petal_loop_run_until_complete(L, fr), 0);
    assert_int_equal(petal_sock_result(fr), 4);
    assert_memory_equal(buf, "ping", 4);
    petal_future_release(fa);
    petal_future_release(fc);
    petal_future_release(fr);
    close(s);
    close(c);
    close(ls);
}

static void test_sock_connect_refused(void **state)
{
    (void)state;
    struct sockaddr_in addr;
    int ls = tcp_listener(&addr);
    close(ls);    /* nobody listens on that port any more */
    int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    petal_future_t *f;
    assert_int_equal(petal_sock_connect(L, c, (struct sockaddr *)&addr, sizeof addr, &f), 0);
    arm_guard(10.0);
    assert_int_equal(petal_loop_run_until_complete(L, f), -ECONNREFUSED);
    assert_int_equal(petal_sock_result(f), -ECONNREFUSED);
    petal_future_release(f);
    close(c);
}

/* A cancelled receive takes no data: the next one gets it. */
static void test_sock_cancel_takes_nothing(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    char a = 0, b = 0;
    petal_future_t *fa, *fb;
    assert_int_equal(petal_sock_recv(L, p[0], &a, 1, &fa), 0);
    assert_int_equal(petal_sock_recv(L, p[0], &b, 1, &fb), 0);
    assert_int_equal(petal_future_cancel(fa), 0);
    assert_true(petal_future_cancelled(fa));
    assert_int_equal(write(p[1], "q", 1), 1);
    arm_guard(10.0);
    assert_int_equal(petal_loop_run_until_complete(L, fb), 0);
    assert_int_equal(b, 'q');
    assert_int_equal(a, 0);
    petal_future_release(fa);
    petal_future_release(fb);
    close(p[0]);
    close(p[1]);
}

static void test_sock_ops_end_on_fd_closing(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    char buf[4];
    petal_future_t *fr;
    assert_int_equal(petal_sock_recv(L, p[0], buf, sizeof buf, &fr), 0);
    assert_int_equal(petal_fd_closing(L, p[0]), 0);
    close(p[0]);
    assert_true(petal_future_done(fr));
    assert_int_equal(petal_sock_result(fr), PETAL_ECANCELED);
    petal_future_release(fr);
    close(p[1]);
}

/* Makes a socket pair whose one end gets the number `num` (just freed). */
static int reuse_number(int num, int b[2])
{
    pipe_pair(b);    /* lowest free numbers: the same ones */
    assert_int_equal(b[0] == num || b[1] == num, 1);
    return b[0] == num ? b[1] : b[0];    /* the peer */
}

static petal_future_t *reused_f;
static char reused_buf[4];

/* Runs while the old socket's readiness is queued in this iteration: swaps
 * the file behind the number and receives on it. */
static void close_and_reuse_cb(petal_loop_t *loop, void *arg)
{
    int *a = arg, b[2];
    close(a[0]);
    close(a[1]);
    a[1] = reuse_number(a[0], b);    /* a[0] now names the new socket */
    assert_int_equal(petal_sock_recv(loop, a[0], reused_buf, sizeof reused_buf, &reused_f), 0);
}

/* After its receives finished a socket may be closed without
 * petal_fd_closing() (nothing waits on it). A receive on a new socket that
 * got its number must still complete when data arrives, whatever the loop
 * kept registered for the old one, and nothing is reported: whether the
 * receive comes after a quiet poll or while the old socket's readiness is
 * queued. A receive on the closed number ends with PETAL_EBADF. Such an fd
 * counts as unwatched for the user. */
static void test_sock_recv_on_reused_number(void **state)
{
    (void)state;
    int a[2], b[2];
    char buf[4];
    petal_future_t *f;
    hook_calls = 0;
    petal_loop_set_error_hook(L, error_hook, NULL);
    for (int round = 0; round < 2; round++) {
        pipe_pair(a);
        assert_int_equal(petal_sock_recv(L, a[0], buf, sizeof buf, &f), 0);
        petal_call_later(L, 0.002, write_byte_later_cb, (void *)(intptr_t)a[1]);
        arm_guard(10.0);
        assert_int_equal(petal_loop_run_until_complete(L, f), 0);
        petal_cancel(L, guard);
        assert_int_equal(petal_sock_result(f), 1);
        petal_future_release(f);
        if (round == 0) {
            assert_int_equal(petal_fd_closing(L, a[0]), PETAL_ENOENT);
            assert_int_equal(petal_remove_reader(L, a[0]), PETAL_ENOENT);
            assert_int_equal(petal_sock_recv(L, a[0], buf, sizeof buf, &f), 0);
            petal_call_later(L, 0.002, write_byte_later_cb, (void *)(intptr_t)a[1]);
            arm_guard(10.0);
            assert_int_equal(petal_loop_run_until_complete(L, f), 0);
            petal_cancel(L, guard);
            petal_future_release(f);
            petal_call_later(L, 0.005, stop_cb, NULL);
            run_guarded();    /* polls that find nothing to read */
            int num = a[0];
            close(a[0]);
            close(a[1]);
            int peer = reuse_number(num, b);
            assert_int_equal(petal_sock_recv(L, num, buf, sizeof buf, &f), 0);
            petal_call_later(L, 0.002, write_byte_later_cb, (void *)(intptr_t)peer);
            arm_guard(10.0);
            assert_int_equal(petal_loop_run_until_complete(L, f), 0);
            assert_false(guard_fired);
            petal_cancel(L, guard);
            assert_int_equal(petal_sock_result(f), 1);
            petal_future_release(f);
            petal_call_later(L, 0.005, stop_cb, NULL);
            run_guarded();
            /* Closed and not reused: PETAL_EBADF, from the call or the future. */
            close(b[0]);
            close(b[1]);
            int rc = petal_sock_recv(L, num, buf, sizeof buf, &f);
            if (rc == 0) {
                arm_guard(10.0);
                assert_int_equal(petal_loop_run_until_complete(L, f), PETAL_EBADF);
                petal_cancel(L, guard);
                petal_future_release(f);
            } else {
                assert_int_equal(rc, PETAL_EBADF);
            }
        } else {
            /* Data for the old socket: its readiness is queued when the
             * callback below swaps the file and receives on the number. */
            assert_int_equal(write(a[1], "old", 3), 3);
            petal_call_soon(L, close_and_reuse_cb, a);
            assert_int_equal(petal_loop_run_once(L), 0);
            f = reused_f;
            petal_call_later(L, 0.002, write_byte_later_cb, (void *)(intptr_t)a[1]);
            arm_guard(10.0);
            assert_int_equal(petal_loop_run_until_complete(L, f), 0);
            assert_false(guard_fired);
            petal_cancel(L, guard);
            assert_int_equal(petal_sock_result(f), 1);
            assert_int_equal(reused_buf[0], 'z');
            petal_future_release(f);
            close(a[0]);
            close(a[1]);
        }
    }
    assert_int_equal(hook_calls, 0);
}

static void test_sock_and_user_watch_do_not_mix(void **state)
{
    (void)state;
    int p[2];
    pipe_pair(p);
    char buf[4];
    petal_future_t *f;
    assert_int_equal(petal_add_reader(L, p[0], status_cb, NULL), 0);
    assert_int_equal(petal_sock_recv(L, p[0], buf, sizeof buf, &f), PETAL_EBUSY);
    assert_int_equal(petal_remove_reader(L, p[0]), 0);
    assert_int_equal(petal_sock_recv(L, p[0], buf, sizeof buf, &f), 0);
    assert_int_equal(petal_add_reader(L, p[0], status_cb, NULL), PETAL_EBUSY);
    assert_int_equal(petal_remove_reader(L, p[0]), PETAL_EBUSY);
    assert_int_equal(petal_add_writer(L, p[0], status_cb, NULL), 0);    /* the other side is free */
    assert_int_equal(petal_remove_writer(L, p[0]), 0);
    assert_int_equal(petal_future_cancel(f), 0);
    petal_future_release(f);
    assert_int_equal(petal_add_reader(L, p[0], status_cb, NULL), 0);
    close(p[0]);
    close(p[1]);
}

static void test_sock_bad_input(void **state)
{
    (void)state;
    petal_future_t *f;
    char buf[4];
    int p[2];
    assert_int_equal(pipe(p), 0);    /* blocking */
    assert_int_equal(petal_sock_recv(L, p[0], buf, 4, NULL), PETAL_EINVAL);
    assert_int_equal(petal_sock_recv(L, -1, buf, 4, &f), PETAL_EBADF);
    assert_int_equal(petal_sock_recv(NULL, p[0], buf, 4, &f), PETAL_EINVAL);
    assert_int_equal(petal_sock_recv(L, p[0], NULL, 4, &f), PETAL_EINVAL);
    assert_int_equal(petal_sock_send(L, p[1], NULL, 4, &f), PETAL_EINVAL);
    assert_int_equal(petal_sock_accept(L, p[0], &f), PETAL_EINVAL);    /* blocking fd */
    assert_int_equal(petal_sock_connect(L, p[1], NULL, 0, &f), PETAL_EINVAL);
    close(p[0]);
    close(p[1]);
    assert_int_equal(petal_sock_recv(L, p[0], buf, 4, &f), PETAL_EBADF);
    assert_int_equal(petal_sock_result(NULL), PETAL_EINVAL);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_soon_fifo),
        T(test_soon_fifo_across_large_growth),
        T(test_timers_order_at_scale),
        T(test_soon_during_run_goes_to_next_iteration),
        T(test_soon_chain_does_not_starve_io),
        T(test_soon_chain_does_not_starve_sock_ops),
        T(test_io_runs_after_ready_before_next),
        T(test_soon_many),
        T(test_timer_never_early),
        T(test_timer_deadline_order),
        T(test_timer_equal_deadlines_fifo),
        T(test_timer_zero_delay_after_ready),
        T(test_call_at_past_runs),
        T(test_timer_cancel),
        T(test_timer_cancelled_by_earlier_timer_same_iteration),
        T(test_timer_many_in_deadline_order),
        T(test_timer_cancel_many),
        T(test_timer_mass_cancel_keeps_order),
        T(test_handles_are_distinct_values),
        T(test_cancel_soon),
        T(test_cancel_twice_or_after_run_is_harmless),
        T(test_stale_handle_does_not_touch_reused_slot),
        T(test_cancel_bad_handles),
        T(test_reader_is_level_triggered),
        T(test_reader_waits_for_data),
        T(test_writer_called_when_writable),
        T(test_add_reader_replaces),
        T(test_remove_reports_registration),
        T(test_reader_removed_before_its_turn_does_not_run),
        T(test_reader_and_writer_on_one_fd),
        T(test_watch_leaves_fd_flags_alone),
        T(test_regular_file_refused),
        T(test_fd_closing_wakes_watchers_with_cancel),
        T(test_fd_closing_cancels_a_queued_readiness),
        T(test_fd_closing_unwatched),
        T(test_fd_closed_while_watched_number_reused),
        T(test_fd_closed_before_first_poll),
        T(test_fd_closing_then_reuse),
        T(test_removed_then_reused_between_polls),
        T(test_bad_fds),
        T(test_signal_runs_as_callback),
        T(test_signal_from_other_thread_wakes_loop),
        T(test_signal_remove_and_replace),
        T(test_signal_bad_numbers),
        T(test_signal_has_one_owner_per_process),
        T(test_threadsafe_from_four_threads),
        T(test_threadsafe_wakes_sleeping_loop),
        T(test_stop_finishes_the_iteration),
        T(test_stop_before_run_runs_one_iteration),
        T(test_close_or_rerun_a_running_loop_fails),
        T(test_closed_loop_refuses_everything),
        T(test_future_result_and_state),
        T(test_future_finished_once),
        T(test_future_error_and_cancel),
        T(test_future_callbacks_scheduled_in_order),
        T(test_future_remove_callback),
        T(test_future_lifetime_and_destructor),
        T(test_run_until_complete),
        T(test_run_until_complete_stopped_early),
        T(test_future_outlives_loop),
        T(test_sock_recv_ready_and_waiting),
        T(test_sock_future_completes_with_the_next_iteration),
        T(test_sock_recv_fifo_per_fd),
        T(test_sock_send_all_bytes),
        T(test_sock_accept_and_connect),
        T(test_sock_connect_refused),
        T(test_sock_cancel_takes_nothing),
        T(test_sock_ops_end_on_fd_closing),
        T(test_sock_recv_on_reused_number),
        T(test_sock_and_user_watch_do_not_mix),
        T(test_sock_bad_input),
        T(test_embed_in_another_loop),
        T(test_null_arguments),
        T(test_bad_delays),
        T(test_strerror_names_every_code),
        T(test_backend_name_and_time),
    };
    char group[64];
    snprintf(group, sizeof group, "conformance_%s", conformance_instance);
    return cmocka_run_group_tests_name(group, tests, NULL, NULL);
}
