/* tests/host_timer_cases.h on libev: the application owns a struct
 * ev_loop and runs it with ev_run(host, 0). */
#include <stdlib.h>

#include "petal/ev.h"
#include "tests/host_timer_cases.h"

static struct ev_loop *host;
static ev_timer keepalive;

static void keepalive_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)revents;
    ev_timer_stop(ev, w);
}

static void host_new(void)
{
    host = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    assert_non_null(host);
    assert_int_equal(petal_loop_new_ev(&loop, host), 0);
    ev_timer_init(&keepalive, keepalive_cb, 10., 0.);
}

static void host_dispatch(void)
{
    ev_run(host, 0);
}

static void host_keepalive(bool on)
{
    if (on)
        ev_timer_start(host, &keepalive);
    else
        ev_timer_stop(host, &keepalive);
}

static ev_timer app_timer;
static void (*app_fn)(void);

static void app_timer_cb(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)revents;
    ev_timer_stop(ev, w);
    app_fn();
}

static void host_app_timer(int64_t delay_ns, void (*fn)(void))
{
    app_fn = fn;
    ev_now_update(host);    /* libev counts from its cached time */
    ev_timer_init(&app_timer, app_timer_cb, (ev_tstamp)delay_ns / 1e9, 0.);
    ev_timer_start(host, &app_timer);
}

static void host_free(void)
{
    ev_timer_stop(host, &keepalive);
    assert_int_equal(petal_loop_free(loop), 0);
    /* petal left nothing active or referenced behind in the host. */
    assert_int_equal(ev_run(host, EVRUN_NOWAIT), 0);
    ev_loop_destroy(host);
    loop = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = { HOST_TIMER_CASES };
    return cmocka_run_group_tests_name("host_timers_ev", tests, NULL, NULL);
}
