/* What every backend's host-mode test shares: the application drives the
 * native loop itself, and these petal callbacks record that they ran, on the
 * main thread. Included by one test file each (static definitions). */
#ifndef PETAL_TESTS_HOST_COMMON_H
#define PETAL_TESTS_HOST_COMMON_H

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "petal/future.h"
#include "petal/loop.h"

static pthread_t main_thread;
static petal_loop_t *loop;
static petal_future_t *fut;
static int sock[2];
static int soon_ran, timer_ran, signal_ran, future_cb_ran, ts_ran, reader_ran, app_timer_ran;
static bool all_on_main = true;

static void on_thread_check(void)
{
    if (!pthread_equal(pthread_self(), main_thread)) all_on_main = false;
}

static void soon_cb(petal_loop_t *l, void *arg) { (void)l; (void)arg; on_thread_check(); soon_ran++; }
static void sig_cb(petal_loop_t *l, void *arg) { (void)l; (void)arg; on_thread_check(); signal_ran++; }

static void fut_cb(petal_future_t *f, void *arg)
{
    (void)arg;
    on_thread_check();
    void *v;
    assert_int_equal(petal_future_result(f, &v), 0);
    assert_ptr_equal(v, &future_cb_ran);
    future_cb_ran++;
}

/* Raises a signal and resolves the future: both must come back as callbacks. */
static void timer_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
    on_thread_check();
    timer_ran++;
    raise(SIGUSR1);
    assert_int_equal(petal_future_set_result(fut, &future_cb_ran, NULL), 0);
}

/* The cross-thread call also feeds petal's reader (below), which ends only
 * once both bytes came: the host cannot finish before the cross-thread call
 * arrives, however late its thread runs. */
static inline void feeding_ts_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
    on_thread_check();
    ts_ran++;
    assert_int_equal(write(sock[1], "t", 1), 1);
}

/* Reads the application's byte (arg: the letter it writes) and the
 * cross-thread call's 't'; removing itself is petal's last work. */
static inline void two_byte_reader_cb(petal_loop_t *l, int fd, int status, void *arg)
{
    on_thread_check();
    assert_int_equal(status, 0);
    char c;
    while (read(fd, &c, 1) == 1) {
        assert_true(c == (char)(intptr_t)arg || c == 't');
        reader_ran++;
    }
    if (reader_ran == 2) assert_int_equal(petal_remove_reader(l, fd), 0);
}

#endif
