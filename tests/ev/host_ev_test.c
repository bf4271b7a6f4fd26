/* Host mode, as an application uses it: the application owns a struct
 * ev_loop and runs it with ev_run(host, 0) itself; petal's timers, readers,
 * futures, signals and cross-thread calls all work inside it, and ev_run()
 * returns once neither side has work left. */
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

#include "petal/ev.h"
#include "petal/future.h"
#include "tests/host_common.h"

static int app_idle_ran;

static struct ev_loop *host;
static ev_timer keepalive;    /* the application's: waits for the thread */

static void ts_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
    on_thread_check();
    ts_ran++;
    ev_timer_stop(host, &keepalive);
}

/* Fires only if the cross-thread call never woke the host. */
static void keepalive_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)revents;
    ev_timer_stop(ev, w);
}

static void reader_cb(petal_loop_t *l, int fd, int status, void *arg)
{
    (void)arg;
    on_thread_check();
    assert_int_equal(status, 0);
    char c;
    assert_int_equal(read(fd, &c, 1), 1);
    assert_int_equal(c, 'e');
    reader_ran++;
    assert_int_equal(petal_remove_reader(l, fd), 0);    /* the last petal work */
}

/* The application's own libev timer feeds petal's reader. */
static void app_timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)w;
    (void)revents;
    app_timer_ran++;
    assert_int_equal(write(sock[1], "e", 1), 1);
}

static void *thread_main(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 10 * 1000000 };
    nanosleep(&ts, NULL);
    if (petal_call_soon_threadsafe(loop, ts_cb, NULL) != 0) abort();
    return NULL;
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void test_application_runs_ev_run_itself(void **state)
{
    (void)state;
    main_thread = pthread_self();
    int64_t start = now_ns();    /* not ev_now(): libev caches its time */
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    assert_non_null(ev);
    host = ev;
    assert_int_equal(petal_loop_new_ev(&loop, ev), 0);
    assert_true(petal_loop_is_hosted(loop));
    assert_ptr_equal(petal_loop_ev(loop), ev);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sock), 0);

    assert_true(petal_call_soon(loop, soon_cb, NULL) > 0);
    assert_true(petal_call_later(loop, 0.02, timer_cb, NULL) > 0);
    assert_int_equal(petal_add_signal_handler(loop, SIGUSR1, sig_cb, NULL), 0);
    assert_int_equal(petal_future_new(loop, &fut), 0);
    assert_int_equal(petal_future_add_done_callback(fut, fut_cb, NULL), 0);
    assert_int_equal(petal_add_reader(loop, sock[0], reader_cb, NULL), 0);
    ev_timer app_timer;
    ev_timer_init(&app_timer, app_timer_cb, 0.04, 0.);
    ev_timer_start(ev, &app_timer);
    /* However late the thread runs, the host lives until its call arrives. */
    ev_timer_init(&keepalive, keepalive_cb, 10., 0.);
    ev_timer_start(ev, &keepalive);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_main, NULL), 0);

    ev_run(ev, 0);    /* returns when no work is left on either side */
    int64_t took = petal_time_ns(loop) - start;
    pthread_join(t, NULL);

    assert_int_equal(soon_ran, 1);
    assert_int_equal(timer_ran, 1);
    assert_int_equal(signal_ran, 1);
    assert_int_equal(future_cb_ran, 1);
    assert_int_equal(ts_ran, 1);
    assert_int_equal(app_timer_ran, 1);
    assert_int_equal(reader_ran, 1);
    assert_true(all_on_main);
    assert_true(took >= 40 * 1000000);
    assert_true(took < 5 * (int64_t)1000000000);    /* the keepalive never fired */

    petal_future_release(fut);
    assert_int_equal(petal_loop_free(loop), 0);
    /* petal left nothing active or referenced behind in the host. */
    assert_int_equal(ev_run(ev, EVRUN_NOWAIT), 0);
    ev_loop_destroy(ev);
    close(sock[0]);
    close(sock[1]);
}

/* A petal timer alone keeps the host's ev_run() going until it fires. */
static void test_petal_timer_keeps_host_alive(void **state)
{
    (void)state;
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    assert_non_null(ev);
    assert_int_equal(petal_loop_new_ev(&loop, ev), 0);
    timer_ran = 0;
    signal_ran = 0;
    assert_int_equal(petal_future_new(loop, &fut), 0);
    int64_t start = petal_time_ns(loop);
    assert_true(petal_call_later(loop, 0.03, timer_cb, NULL) > 0);
    assert_int_equal(petal_add_signal_handler(loop, SIGUSR1, sig_cb, NULL), 0);
    ev_run(ev, 0);
    assert_int_equal(timer_ran, 1);
    assert_int_equal(signal_ran, 1);
    assert_true(petal_time_ns(loop) - start >= 30 * 1000000);
    petal_future_release(fut);
    assert_int_equal(petal_loop_free(loop), 0);
    assert_int_equal(ev_run(ev, EVRUN_NOWAIT), 0);
    ev_loop_destroy(ev);
}

/* The application's idle watchers (any priority) still run while petal has
 * callbacks ready: libev runs only the highest-priority idle watchers, so
 * petal's sits at EV_MINPRI. */
static int spins;

static void spin_cb(petal_loop_t *l, void *arg)
{
    (void)arg;
    if (++spins < 100 && app_idle_ran == 0) petal_call_soon(l, spin_cb, NULL);
}

static void app_idle_cb(struct ev_loop *ev, ev_idle *w, int revents)
{
    (void)revents;
    app_idle_ran++;
    ev_idle_stop(ev, w);
}

static void test_app_idle_not_starved(void **state)
{
    (void)state;
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    assert_non_null(ev);
    assert_int_equal(petal_loop_new_ev(&loop, ev), 0);
    spins = 0;
    app_idle_ran = 0;
    ev_idle idle;
    ev_idle_init(&idle, app_idle_cb);
    ev_set_priority(&idle, EV_MINPRI + 1);
    ev_idle_start(ev, &idle);
    assert_true(petal_call_soon(loop, spin_cb, NULL) > 0);
    ev_run(ev, 0);
    assert_int_equal(app_idle_ran, 1);
    assert_true(spins < 100);
    assert_int_equal(petal_loop_free(loop), 0);
    assert_int_equal(ev_run(ev, EVRUN_NOWAIT), 0);
    ev_loop_destroy(ev);
}

/* libev caches its clock: a petal timer armed long after the host's last
 * poll must still count from now, so it fires in the host's first
 * iteration, not after a premature wakeup and a second one. */
static int late_ran;
static int64_t late_at;

static void late_cb(petal_loop_t *l, void *arg)
{
    (void)arg;
    late_ran++;
    late_at = petal_time_ns(l);
}

static void test_timer_armed_on_a_stale_host_clock(void **state)
{
    (void)state;
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    assert_non_null(ev);
    assert_int_equal(petal_loop_new_ev(&loop, ev), 0);
    ev_run(ev, EVRUN_NOWAIT);                   /* libev reads its clock here */
    struct timespec ts = { 0, 50 * 1000000 };
    nanosleep(&ts, NULL);                       /* ... which is now 50 ms old */
    late_ran = 0;
    int64_t start = now_ns();
    assert_true(petal_call_later(loop, 0.1, late_cb, NULL) > 0);
    unsigned before = ev_iteration(ev);
    ev_run(ev, 0);
    assert_int_equal(late_ran, 1);
    assert_true(late_at - start >= 100 * 1000000);
    assert_int_equal(ev_iteration(ev) - before, 1);
    assert_int_equal(petal_loop_free(loop), 0);
    assert_int_equal(ev_run(ev, EVRUN_NOWAIT), 0);
    ev_loop_destroy(ev);
}

/* An fd closed after petal's prepare hook checked it (here by an
 * application prepare watcher that runs after petal's) reaches the kernel.
 * libev's epoll backend would assert; its select backend finds the bad fd
 * and kills the watcher with EV_ERROR: the reader is woken once with
 * PETAL_EBADF, the error hook is told, and the host carries on. */
static int closer_fd = -1, err_status, err_calls, hook_calls, hook_err;

static void closer_cb(struct ev_loop *ev, ev_prepare *w, int revents)
{
    (void)revents;
    close(closer_fd);
    ev_prepare_stop(ev, w);
}

static void err_reader_cb(petal_loop_t *l, int fd, int status, void *arg)
{
    (void)l;
    (void)fd;
    (void)arg;
    err_status = status;
    err_calls++;
}

static void hook(petal_loop_t *l, int err, int fd, const char *what, void *arg)
{
    (void)l;
    (void)fd;
    (void)what;
    (void)arg;
    hook_calls++;
    hook_err = err;
}

static void test_ev_error_becomes_ebadf(void **state)
{
    (void)state;
    struct ev_loop *ev = ev_loop_new(EVBACKEND_SELECT | EVFLAG_NOSIGMASK);
    assert_non_null(ev);
    /* Same priority as petal's prepare hook but started first: libev runs
     * same-priority watchers last-queued first, so this one runs after. */
    ev_prepare closer;
    ev_prepare_init(&closer, closer_cb);
    ev_set_priority(&closer, EV_MINPRI);
    ev_prepare_start(ev, &closer);
    assert_int_equal(petal_loop_new_ev(&loop, ev), 0);
    petal_loop_set_error_hook(loop, hook, NULL);
    int p[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p), 0);
    closer_fd = p[0];
    err_calls = hook_calls = 0;
    assert_int_equal(petal_add_reader(loop, p[0], err_reader_cb, NULL), 0);
    ev_run(ev, 0);    /* returns: the killed watch leaves no work behind */
    assert_int_equal(err_calls, 1);
    assert_int_equal(err_status, PETAL_EBADF);
    assert_int_equal(hook_calls, 1);
    assert_int_equal(hook_err, PETAL_EBADF);
    assert_int_equal(petal_remove_reader(loop, p[0]), PETAL_ENOENT);
    assert_int_equal(petal_loop_free(loop), 0);
    assert_int_equal(ev_run(ev, EVRUN_NOWAIT), 0);
    ev_loop_destroy(ev);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_application_runs_ev_run_itself),
        cmocka_unit_test(test_petal_timer_keeps_host_alive),
        cmocka_unit_test(test_app_idle_not_starved),
        cmocka_unit_test(test_timer_armed_on_a_stale_host_clock),
        cmocka_unit_test(test_ev_error_becomes_ebadf),
    };
    return cmocka_run_group_tests_name("host_ev", tests, NULL, NULL);
}
