/* Host mode, as an application uses it: the application owns a uv_loop_t and
 * runs it with uv_run(UV_RUN_DEFAULT) itself; petal's timers, readers,
 * futures, signals and cross-thread calls all work inside it, and uv_run()
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

#include "petal/future.h"
#include "petal/uv.h"
#include "tests/host_common.h"

/* The application's own libuv timer feeds petal's reader. */
static void app_timer_cb(uv_timer_t *t)
{
    app_timer_ran++;
    assert_int_equal(write(sock[1], "u", 1), 1);
    uv_close((uv_handle_t *)t, NULL);
}

static void *thread_main(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 10 * 1000000 };
    nanosleep(&ts, NULL);
    if (petal_call_soon_threadsafe(loop, feeding_ts_cb, NULL) != 0) abort();
    return NULL;
}

static void test_application_runs_uv_run_itself(void **state)
{
    (void)state;
    main_thread = pthread_self();
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);    /* before libuv caches its time */
    int64_t start = (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec;
    uv_loop_t uv;
    assert_int_equal(uv_loop_init(&uv), 0);
    assert_int_equal(petal_loop_new_uv(&loop, &uv), 0);
    assert_true(petal_loop_is_hosted(loop));
    assert_ptr_equal(petal_loop_uv(loop), &uv);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sock), 0);

    assert_true(petal_call_soon(loop, soon_cb, NULL) > 0);
    assert_true(petal_call_later(loop, 0.02, timer_cb, NULL) > 0);
    assert_int_equal(petal_add_signal_handler(loop, SIGUSR1, sig_cb, NULL), 0);
    assert_int_equal(petal_future_new(loop, &fut), 0);
    assert_int_equal(petal_future_add_done_callback(fut, fut_cb, NULL), 0);
    assert_int_equal(petal_add_reader(loop, sock[0], two_byte_reader_cb, (void *)(intptr_t)'u'), 0);
    uv_timer_t app_timer;
    uv_timer_init(&uv, &app_timer);
    uv_timer_start(&app_timer, app_timer_cb, 40, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_main, NULL), 0);

    uv_run(&uv, UV_RUN_DEFAULT);    /* returns when no work is left on either side */
    int64_t took = petal_time_ns(loop) - start;
    pthread_join(t, NULL);

    assert_int_equal(soon_ran, 1);
    assert_int_equal(timer_ran, 1);
    assert_int_equal(signal_ran, 1);
    assert_int_equal(future_cb_ran, 1);
    assert_int_equal(ts_ran, 1);
    assert_int_equal(app_timer_ran, 1);
    assert_int_equal(reader_ran, 2);
    assert_true(all_on_main);
    /* the application's 40 ms uv_timer: libuv measures it on the coarse
     * monotonic clock, which may lag by a few ms */
    assert_true(took >= 35 * 1000000);

    petal_future_release(fut);
    assert_int_equal(petal_loop_free(loop), 0);
    uv_run(&uv, UV_RUN_NOWAIT);    /* lets libuv finish closing petal's handles */
    assert_int_equal(uv_loop_close(&uv), 0);
    close(sock[0]);
    close(sock[1]);
}

/* A petal timer alone keeps the host's uv_run() going until it fires. */
static void test_petal_timer_keeps_host_alive(void **state)
{
    (void)state;
    uv_loop_t uv;
    assert_int_equal(uv_loop_init(&uv), 0);
    assert_int_equal(petal_loop_new_uv(&loop, &uv), 0);
    timer_ran = 0;
    assert_int_equal(petal_future_new(loop, &fut), 0);
    int64_t start = petal_time_ns(loop);
    assert_true(petal_call_later(loop, 0.03, timer_cb, NULL) > 0);
    assert_int_equal(petal_add_signal_handler(loop, SIGUSR1, sig_cb, NULL), 0);
    uv_run(&uv, UV_RUN_DEFAULT);
    assert_int_equal(timer_ran, 1);
    assert_true(petal_time_ns(loop) - start >= 30 * 1000000);
    petal_future_release(fut);
    assert_int_equal(petal_loop_free(loop), 0);
    uv_run(&uv, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&uv), 0);
}

/* While the application's uv_run() is inside petal's iteration, petal may
 * not be closed or freed under its own feet. */
static int close_rc, free_rc;

static void misuse_cb(petal_loop_t *l, void *arg)
{
    (void)arg;
    close_rc = petal_loop_close(l);
    free_rc = petal_loop_free(l);
}

static void test_close_inside_hosted_iteration_refused(void **state)
{
    (void)state;
    uv_loop_t uv;
    assert_int_equal(uv_loop_init(&uv), 0);
    assert_int_equal(petal_loop_new_uv(&loop, &uv), 0);
    assert_true(petal_call_soon(loop, misuse_cb, NULL) > 0);
    uv_run(&uv, UV_RUN_DEFAULT);
    assert_int_equal(close_rc, PETAL_EBUSY);
    assert_int_equal(free_rc, PETAL_EBUSY);
    assert_false(petal_loop_is_closed(loop));
    assert_int_equal(petal_loop_free(loop), 0);
    uv_run(&uv, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&uv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_application_runs_uv_run_itself),
        cmocka_unit_test(test_petal_timer_keeps_host_alive),
        cmocka_unit_test(test_close_inside_hosted_iteration_refused),
    };
    return cmocka_run_group_tests_name("host_uv", tests, NULL, NULL);
}
