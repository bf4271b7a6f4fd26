/* The host-mode timer cases (tests/host_timer_cases.h) on libuv: the
 * application runs uv_run() on its own uv_loop_t. */
#include <stdlib.h>

#include "petal/uv.h"
#include "tests/host_timer_cases.h"

static uv_loop_t host;
static uv_timer_t keepalive, app_timer;
static void (*app_fn)(void);

static void keepalive_cb(uv_timer_t *t) { (void)t; }
static void app_timer_cb(uv_timer_t *t) { (void)t; app_fn(); }

static void host_new(void)
{
    assert_int_equal(uv_loop_init(&host), 0);
    assert_int_equal(petal_loop_new_uv(&loop, &host), 0);
    uv_timer_init(&host, &keepalive);
    uv_timer_init(&host, &app_timer);
}

static void host_dispatch(void) { uv_run(&host, UV_RUN_DEFAULT); }

static void host_keepalive(bool on)
{
    if (on)
        uv_timer_start(&keepalive, keepalive_cb, 10000, 0);
    else
        uv_timer_stop(&keepalive);
}

static void host_app_timer(int64_t delay_ns, void (*fn)(void))
{
    app_fn = fn;
    uv_update_time(&host);
    uv_timer_start(&app_timer, app_timer_cb, (uint64_t)((delay_ns + 999999) / 1000000), 0);
}

static void host_free(void)
{
    uv_close((uv_handle_t *)&keepalive, NULL);
    uv_close((uv_handle_t *)&app_timer, NULL);
    assert_int_equal(petal_loop_free(loop), 0);
    uv_run(&host, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&host), 0);
    loop = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = { HOST_TIMER_CASES };
    return cmocka_run_group_tests_name("host_timers_uv", tests, NULL, NULL);
}
