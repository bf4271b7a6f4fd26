/* Host mode, as an application uses it: the application owns a struct
 * event_base and runs it with event_base_dispatch() itself; petal's timers,
 * readers, futures, signals and cross-thread calls all work inside it, and
 * event_base_dispatch() returns once neither side has work left. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "petal/future.h"
#include "petal/event.h"
#include "tests/host_common.h"

static int64_t ts_ran_at;
static bool ts_feeds_reader;    /* the cross-thread call also writes to petal's reader */

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void ts_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
    on_thread_check();
    ts_ran_at = now_ns();
    ts_ran++;
    if (ts_feeds_reader) assert_int_equal(write(sock[1], "t", 1), 1);
}

/* The application's own libevent timer feeds petal's reader. */
static void app_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    app_timer_ran++;
    assert_int_equal(write(sock[1], "e", 1), 1);
}

static void *thread_main(void *arg)
{
    struct timespec ts = { 0, (long)(intptr_t)arg * 1000000 };
    nanosleep(&ts, NULL);
    if (petal_call_soon_threadsafe(loop, ts_cb, NULL) != 0) abort();
    return NULL;
}

static void reset(void)
{
    soon_ran = timer_ran = signal_ran = future_cb_ran = ts_ran = reader_ran = app_timer_ran = 0;
    ts_ran_at = 0;
    ts_feeds_reader = false;
}

static void test_application_runs_dispatch_itself(void **state)
{
    (void)state;
    reset();
    main_thread = pthread_self();
    int64_t start = now_ns();
    struct event_base *base = event_base_new();
    assert_non_null(base);
    assert_int_equal(petal_loop_new_event(&loop, base), 0);
    assert_true(petal_loop_is_hosted(loop));
    assert_ptr_equal(petal_loop_event_base(loop), base);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sock), 0);

    assert_true(petal_call_soon(loop, soon_cb, NULL) > 0);
    assert_true(petal_call_later(loop, 0.02, timer_cb, NULL) > 0);
    assert_int_equal(petal_add_signal_handler(loop, SIGUSR1, sig_cb, NULL), 0);
    assert_int_equal(petal_future_new(loop, &fut), 0);
    assert_int_equal(petal_future_add_done_callback(fut, fut_cb, NULL), 0);
    assert_int_equal(petal_add_reader(loop, sock[0], two_byte_reader_cb, (void *)(intptr_t)'e'), 0);
    ts_feeds_reader = true;
    struct event *app_timer = evtimer_new(base, app_timer_cb, NULL);
    struct timeval forty = { 0, 40000 };
    assert_int_equal(evtimer_add(app_timer, &forty), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_main, (void *)(intptr_t)10), 0);

    /* Returns when no work is left on either side. */
    assert_int_equal(event_base_dispatch(base), 1);
    int64_t took = now_ns() - start;
    pthread_join(t, NULL);

    assert_int_equal(soon_ran, 1);
    assert_int_equal(timer_ran, 1);
    assert_int_equal(signal_ran, 1);
    assert_int_equal(future_cb_ran, 1);
    assert_int_equal(ts_ran, 1);
    assert_int_equal(app_timer_ran, 1);
    assert_int_equal(reader_ran, 2);
    assert_true(all_on_main);
    /* The app's timer ran on libevent's default clock, CLOCK_MONOTONIC_COARSE,
     * which lags by up to a jiffy: up to 4 ms "early" on CLOCK_MONOTONIC. */
    assert_true(took >= 35 * 1000000);

    petal_future_release(fut);
    assert_int_equal(petal_loop_free(loop), 0);
    event_free(app_timer);
    assert_int_equal(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE), 0);
    event_base_free(base);
    close(sock[0]);
    close(sock[1]);
}

/* A petal timer alone keeps the host's dispatch going until it fires. */
static void test_petal_timer_keeps_host_alive(void **state)
{
    (void)state;
    reset();
    struct event_base *base = event_base_new();
    assert_int_equal(petal_loop_new_event(&loop, base), 0);
    assert_int_equal(petal_future_new(loop, &fut), 0);
    int64_t start = petal_time_ns(loop);
    assert_true(petal_call_later(loop, 0.03, timer_cb, NULL) > 0);
    assert_int_equal(petal_add_signal_handler(loop, SIGUSR1, sig_cb, NULL), 0);
    assert_int_equal(event_base_dispatch(base), 1);
    assert_int_equal(timer_ran, 1);
    assert_true(petal_time_ns(loop) - start >= 30 * 1000000);
    petal_future_release(fut);
    assert_int_equal(petal_loop_free(loop), 0);
    event_base_free(base);
}

/* petal's wakeup fd alone does not keep the host alive (it is flagged
 * EVLIST_INTERNAL): with no petal work, dispatch returns at once. */
static void test_idle_petal_lets_dispatch_return(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_int_equal(petal_loop_new_event(&loop, base), 0);
    assert_int_equal(petal_add_signal_handler(loop, SIGUSR1, sig_cb, NULL), 0);
    int64_t start = now_ns();
    assert_int_equal(event_base_dispatch(base), 1);
    assert_true(now_ns() - start < 1000 * 1000000);
    assert_int_equal(petal_loop_free(loop), 0);
    event_base_free(base);
}

/* ... yet it is polled: a cross-thread call wakes a host that sleeps on the
 * application's own long timer, and runs long before that timer. */
static void app_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    app_timer_ran++;
}

static void test_threadsafe_wakes_host_sleeping_on_app_timer(void **state)
{
    (void)state;
    reset();
    main_thread = pthread_self();
    struct event_base *base = event_base_new();
    assert_int_equal(petal_loop_new_event(&loop, base), 0);
    struct event *app_timer = evtimer_new(base, app_stop_cb, NULL);
    struct timeval long_wait = { 0, 500000 };
    assert_int_equal(evtimer_add(app_timer, &long_wait), 0);
    int64_t start = now_ns();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_main, (void *)(intptr_t)20), 0);
    assert_int_equal(event_base_dispatch(base), 1);
    pthread_join(t, NULL);
    assert_int_equal(ts_ran, 1);
    assert_int_equal(app_timer_ran, 1);
    assert_true(ts_ran_at - start >= 20 * 1000000);
    assert_true(ts_ran_at - start < 400 * 1000000);
    assert_true(all_on_main);
    event_free(app_timer);
    assert_int_equal(petal_loop_free(loop), 0);
    event_base_free(base);
}

/* Misuse while the application dispatches: running petal from inside the
 * host's own callback is refused (libevent forbids reentrant loops), so is
 * closing petal from one of its own callbacks; closed afterwards, petal
 * leaves the host base clean. */
static int nested_rc = 1;

static void app_nested_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    nested_rc = petal_loop_run_once(loop);
}

static petal_handle_t long_timer;
static int misuse_fd;

/* Closing petal from inside its own iteration is refused (the host is in
 * the middle of it); dropping petal's work lets dispatch return instead. */
static void close_cb(petal_loop_t *l, void *arg)
{
    (void)arg;
    assert_int_equal(petal_loop_close(l), PETAL_EBUSY);
    assert_int_equal(petal_loop_free(l), PETAL_EBUSY);
    assert_int_equal(petal_cancel(l, long_timer), 0);
    assert_int_equal(petal_remove_reader(l, misuse_fd), 0);
    soon_ran++;
}

static void test_misuse_inside_dispatch(void **state)
{
    (void)state;
    reset();
    struct event_base *base = event_base_new();
    assert_int_equal(petal_loop_new_event(&loop, base), 0);
    int p[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p), 0);
    assert_int_equal(petal_add_reader(loop, p[0], two_byte_reader_cb, (void *)(intptr_t)'e'), 0);
    misuse_fd = p[0];
    assert_true((long_timer = petal_call_later(loop, 5.0, soon_cb, NULL)) > 0);
    struct event *app_timer = evtimer_new(base, app_nested_cb, NULL);
    struct timeval ms = { 0, 1000 };
    assert_int_equal(evtimer_add(app_timer, &ms), 0);
    assert_true(petal_call_later(loop, 0.01, close_cb, NULL) > 0);
    /* Returns once petal has no work left. */
    assert_int_equal(event_base_dispatch(base), 1);
    assert_int_equal(nested_rc, PETAL_EBUSY);
    assert_int_equal(soon_ran, 1);
    assert_false(petal_loop_is_closed(loop));
    assert_int_equal(petal_loop_close(loop), 0);    /* outside dispatch: fine */
    assert_null(petal_loop_event_base(loop));
    assert_int_equal(event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE), 0);
    assert_int_equal(petal_loop_free(loop), 0);
    event_free(app_timer);
    event_base_free(base);
    close(p[0]);
    close(p[1]);
}

/* A host base with several priorities (petal's events take its default
 * one): a call_soon chain still lets I/O through on the next iteration. */
static int spins;
static bool io_seen;

static void spin_cb(petal_loop_t *l, void *arg)
{
    (void)arg;
    spins++;
    if (!io_seen && spins < 100000) petal_call_soon(l, spin_cb, NULL);
}

static void io_seen_cb(petal_loop_t *l, int fd, int status, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    io_seen = true;
    assert_int_equal(petal_remove_reader(l, fd), 0);
}

static void test_host_with_priorities(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    assert_int_equal(event_base_priority_init(base, 3), 0);
    assert_int_equal(petal_loop_new_event(&loop, base), 0);
    int p[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p), 0);
    spins = 0;
    io_seen = false;
    assert_int_equal(petal_add_reader(loop, p[0], io_seen_cb, NULL), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_true(petal_call_soon(loop, spin_cb, NULL) > 0);
    assert_int_equal(event_base_dispatch(base), 1);
    assert_true(io_seen);
    assert_true(spins <= 3);
    assert_int_equal(petal_loop_free(loop), 0);
    event_base_free(base);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_application_runs_dispatch_itself),
        cmocka_unit_test(test_petal_timer_keeps_host_alive),
        cmocka_unit_test(test_idle_petal_lets_dispatch_return),
        cmocka_unit_test(test_threadsafe_wakes_host_sleeping_on_app_timer),
        cmocka_unit_test(test_misuse_inside_dispatch),
        cmocka_unit_test(test_host_with_priorities),
    };
    return cmocka_run_group_tests_name("host_event", tests, NULL, NULL);
}
