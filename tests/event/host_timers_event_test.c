/* tests/host_timer_cases.h on libevent: the application owns an
 * event_base (a default one: CLOCK_MONOTONIC_COARSE, which lags by up to a
 * jiffy) and runs it with event_base_dispatch(). */
#include <stdlib.h>

#include "petal/event.h"
#include "tests/host_timer_cases.h"

static struct event_base *host;
static struct event *keepalive;

static void keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

static void host_new(void)
{
    host = event_base_new();
    assert_non_null(host);
    assert_int_equal(petal_loop_new_event(&loop, host), 0);
    keepalive = evtimer_new(host, keepalive_cb, NULL);
    assert_non_null(keepalive);
}

static void host_dispatch(void)
{
    assert_int_equal(event_base_dispatch(host), 1);    /* 1: no events left */
}

static void host_keepalive(bool on)
{
    struct timeval ten = { 10, 0 };
    if (on)
        assert_int_equal(evtimer_add(keepalive, &ten), 0);
    else
        assert_int_equal(evtimer_del(keepalive), 0);
}

static struct event *app_timer;
static void (*app_fn)(void);

static void app_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    app_fn();
}

static void host_app_timer(int64_t delay_ns, void (*fn)(void))
{
    app_fn = fn;
    if (!app_timer) assert_non_null(app_timer = evtimer_new(host, app_timer_cb, NULL));
    struct timeval tv = { (time_t)(delay_ns / 1000000000), (suseconds_t)(delay_ns % 1000000000 / 1000) };
    assert_int_equal(evtimer_add(app_timer, &tv), 0);
}

static void host_free(void)
{
    if (app_timer) event_free(app_timer);
    app_timer = NULL;
    event_free(keepalive);
    assert_int_equal(petal_loop_free(loop), 0);
    /* petal left nothing behind in the host base. */
    assert_int_equal(event_base_get_num_events(host, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE), 0);
    event_base_free(host);
    loop = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = { HOST_TIMER_CASES };
    return cmocka_run_group_tests_name("host_timers_event", tests, NULL, NULL);
}
