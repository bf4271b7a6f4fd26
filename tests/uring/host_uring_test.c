/* Host mode, as an application uses it: the application owns a struct
 * io_uring and writes its own loop (submit_and_wait_timeout, peek, dispatch),
 * with its own requests on the ring next to petal's; petal's timers, readers,
 * futures, signals and cross-thread calls all work inside it, and the loop
 * ends once neither side has work left. */
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
#include "petal/uring.h"
#include "tests/host_common.h"

static int app_nop_ran;

/* The application's own requests: user_data points at these (even values,
 * as petal.h asks: bit 0 belongs to petal). */
static long app_timer_tag, app_nop_tag;

static void *thread_main(void *arg)
{
    (void)arg;
    struct timespec ts = { 0, 10 * 1000000 };
    nanosleep(&ts, NULL);
    if (petal_call_soon_threadsafe(loop, feeding_ts_cb, NULL) != 0) abort();
    return NULL;
}

static int app_pending;

static void app_cqe(const struct io_uring_cqe *cqe)
{
    if (cqe->user_data == (uintptr_t)&app_timer_tag) {
        assert_int_equal(cqe->res, -ETIME);
        app_timer_ran++;
        assert_int_equal(write(sock[1], "u", 1), 1);    /* feeds petal's reader */
    } else if (cqe->user_data == (uintptr_t)&app_nop_tag) {
        app_nop_ran++;
    } else {
        fail_msg("unknown CQE %llu", (unsigned long long)cqe->user_data);
    }
    app_pending--;
}

/* The application's loop (the one documented in petal/uring.h). */
static void app_run(struct io_uring *ring)
{
    while (app_pending > 0 || petal_uring_alive(loop)) {
        struct __kernel_timespec ts;
        struct io_uring_cqe *cqe;
        int64_t ns = petal_uring_before_wait(loop);
        int rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1, petal_uring_timespec(ns, &ts), NULL);
        assert_true(rc >= 0 || rc == -ETIME || rc == -EINTR);
        while (io_uring_peek_cqe(ring, &cqe) == 0) {
            if (petal_uring_owns(cqe)) petal_uring_dispatch(loop, cqe);
            else app_cqe(cqe);
            io_uring_cqe_seen(ring, cqe);
        }
        petal_uring_after_wait(loop);
    }
}

/* After petal_loop_free: petal's last removals come back; hand them over. */
static void drain_and_exit(struct io_uring *ring)
{
    struct io_uring_cqe *cqe;
    io_uring_submit_and_get_events(ring);
    while (io_uring_peek_cqe(ring, &cqe) == 0) {
        assert_true(petal_uring_owns(cqe));
        petal_uring_dispatch(NULL, cqe);
        io_uring_cqe_seen(ring, cqe);
    }
    io_uring_queue_exit(ring);
}

static void test_application_runs_its_own_loop(void **state)
{
    (void)state;
    main_thread = pthread_self();
    struct io_uring ring;
    assert_int_equal(io_uring_queue_init(64, &ring, 0), 0);
    int64_t start = petal_time_ns(NULL);
    assert_int_equal(petal_loop_new_uring(&loop, &ring), 0);
    assert_true(petal_loop_is_hosted(loop));
    assert_ptr_equal(petal_loop_uring(loop), &ring);
    assert_string_equal(petal_loop_backend(loop), "uring");
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sock), 0);

    assert_true(petal_call_soon(loop, soon_cb, NULL) > 0);
    assert_true(petal_call_later(loop, 0.02, timer_cb, NULL) > 0);
    assert_int_equal(petal_add_signal_handler(loop, SIGUSR1, sig_cb, NULL), 0);
    assert_int_equal(petal_future_new(loop, &fut), 0);
    assert_int_equal(petal_future_add_done_callback(fut, fut_cb, NULL), 0);
    assert_int_equal(petal_add_reader(loop, sock[0], two_byte_reader_cb, (void *)(intptr_t)'u'), 0);

    /* The application's own requests on the same ring. */
    static struct __kernel_timespec app_ts = { 0, 40 * 1000000 };
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    io_uring_prep_timeout(sqe, &app_ts, 0, 0);
    io_uring_sqe_set_data(sqe, &app_timer_tag);
    sqe = io_uring_get_sqe(&ring);
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, &app_nop_tag);
    app_pending = 2;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, thread_main, NULL), 0);

    app_run(&ring);    /* returns when no work is left on either side */
    int64_t took = petal_time_ns(loop) - start;
    pthread_join(t, NULL);

    assert_int_equal(soon_ran, 1);
    assert_int_equal(timer_ran, 1);
    assert_int_equal(signal_ran, 1);
    assert_int_equal(future_cb_ran, 1);
    assert_int_equal(ts_ran, 1);
    assert_int_equal(app_timer_ran, 1);
    assert_int_equal(app_nop_ran, 1);
    assert_int_equal(reader_ran, 2);
    assert_true(all_on_main);
    assert_true(took >= 40 * 1000000);
    assert_false(petal_uring_alive(loop));

    petal_future_release(fut);
    assert_int_equal(petal_loop_free(loop), 0);
    drain_and_exit(&ring);
    close(sock[0]);
    close(sock[1]);
}

/* A petal timer alone keeps the application's loop going until it fires. */
static void test_petal_timer_keeps_host_alive(void **state)
{
    (void)state;
    struct io_uring ring;
    assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
    assert_int_equal(petal_loop_new_uring(&loop, &ring), 0);
    assert_false(petal_uring_alive(loop));    /* the wakeup fd does not count */
    timer_ran = signal_ran = 0;
    assert_int_equal(petal_future_new(loop, &fut), 0);
    int64_t start = petal_time_ns(loop);
    assert_true(petal_call_later(loop, 0.03, timer_cb, NULL) > 0);
    assert_int_equal(petal_add_signal_handler(loop, SIGUSR1, sig_cb, NULL), 0);
    app_pending = 0;
    app_run(&ring);
    assert_int_equal(timer_ran, 1);
    assert_true(petal_time_ns(loop) - start >= 30 * 1000000);
    petal_future_release(fut);
    assert_int_equal(petal_loop_free(loop), 0);
    drain_and_exit(&ring);
}

/* Where io_uring is blocked (ENOSYS/EPERM from io_uring_setup), creation
 * fails with that code; here it works, and petal's own ring is usable. */
static void test_own_ring_available(void **state)
{
    (void)state;
    petal_loop_t *l;
    int rc = petal_loop_new_uring(&l, NULL);
    if (rc == PETAL_ENOSYS || rc == PETAL_EPERM) skip();
    assert_int_equal(rc, 0);
    assert_false(petal_loop_is_hosted(l));
    assert_non_null(petal_loop_uring(l));
    assert_int_equal(petal_loop_free(l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_application_runs_its_own_loop),
        cmocka_unit_test(test_petal_timer_keeps_host_alive),
        cmocka_unit_test(test_own_ring_available),
    };
    return cmocka_run_group_tests_name("host_uring", tests, NULL, NULL);
}
