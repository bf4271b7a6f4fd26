/* The native libevent column: each workload written directly against
 * libevent 2.1, the cheapest way that is still faithful to what petal
 * promises (research/NATIVE_COSTS.md measured the alternatives).
 *
 * The base is made as petal's event backend makes its own: NOLOCK (one
 * thread) and PRECISE_TIMER (CLOCK_MONOTONIC, not _COARSE: timers fire on
 * time to the microsecond, as petal's do). struct event memory belongs to
 * the application: one array of n, event_assign'd, malloc'd inside the timed
 * region in fresh mode, allocated and touched before it in warm mode. The
 * base's own arrays (timer min-heap) grow with n: in warm mode the base is
 * primed outside the timed region, as loop_petal.c primes petal's loop.
 * event_base_free is not timed.
 *
 * libev's shared library exports libevent's API names too (its compatibility
 * layer): the binary links libevent_core before libev (//:petal's order), and
 * every run checks that event_get_version() is libevent 2.1's. */
#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/loop_bench.h"

struct ctx {
    long left;
    long ran;
    int err;
    int fds[2];
    struct event_base *base;
    struct event *ev;   /* soon */
};

static void *handles(long n, size_t size, bool touch)
{
    void *p = malloc((size_t)n * size);
    if (p && touch) memset(p, 0xa5, (size_t)n * size);
    return p;
}

static void noop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Warm mode: the base's timer heap holds n timers once (active events are
 * a linked list in libevent: nothing to grow there). */
static int prime(struct event_base *base, long n)
{
    struct event *evs = malloc((size_t)n * sizeof *evs);
    if (!evs) return -ENOMEM;
    struct timeval tv = { .tv_sec = BENCH_CANCEL_DELAY_NS / 1000000000 };
    int rc = 0;
    for (long i = 0; i < n && !rc; i++) {
        evtimer_assign(&evs[i], base, noop_cb, NULL);
        if (evtimer_add(&evs[i], &tv)) rc = -ENOMEM;
    }
    for (long i = n - 1; i >= 0; i--) evtimer_del(&evs[i]);
    free(evs);
    return rc;
}

static int new_base(struct event_base **base, long prime_n)
{
    const char *v = event_get_version();
    if (strncmp(v, "2.1.", 4) != 0) {
        fprintf(stderr, "native event: event_get_version() is '%s', not libevent 2.1 (link order?)\n", v);
        return -ENOSYS;
    }
    struct event_config *cfg = event_config_new();
    if (!cfg) return -ENOMEM;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    *base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!*base) {
        fprintf(stderr, "native event: event_base_new_with_config failed\n");
        return -ENOMEM;
    }
    if (bench_warm && prime_n > 0) {
        int rc = prime(*base, prime_n);
        if (rc) {
            event_base_free(*base);
            return rc;
        }
    }
    return 0;
}

static int finish(struct event_base *base, const char *what, int rc, const struct ctx *c, long want_ran)
{
    rc = bench_verdict("native event", what, rc ? rc : c->err, c->ran, want_ran, NULL);
    event_base_free(base);
    return rc;
}

/* ---- soon: one event re-activated from its own callback ----------------- *
 * event_active from a callback alone runs the event again in the same pass
 * without polling; event_base_loopcontinue ends the pass after the current
 * callback, so the loop polls (epoll_wait with a zero timeout: an event is
 * active) before running it: one callback per iteration, after I/O, which is
 * call_soon's rule. */

static void soon_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ctx *c = arg;
    c->ran++;
    if (--c->left == 0) return;   /* nothing added or active: the loop exits */
    event_active(c->ev, EV_TIMEOUT, 1);
    event_base_loopcontinue(c->base);
}

static int native_soon(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct event_base *base;
    int rc = new_base(&base, 0);
    if (rc) return rc;
    struct ctx c = { .left = n, .base = base };
    struct event ev;
    c.ev = &ev;
    double t0 = bench_now();
    event_assign(&ev, base, -1, 0, soon_cb, &c);
    event_active(&ev, EV_TIMEOUT, 1);
    if (event_base_dispatch(base) < 0) rc = -EIO;
    *seconds = bench_now() - t0;
    return finish(base, "soon", rc, &c, n);
}

/* ---- fanout_soon: n events made active at once -------------------------- *
 * event_active on n assigned (never added) events; they all run in the first
 * pass after one zero-timeout poll. */

static void fanout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ctx *c = arg;
    c->ran++;
    c->left--;
}

static int native_fanout_soon(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct event_base *base;
    int rc = new_base(&base, n);
    if (rc) return rc;
    struct event *evs = bench_warm ? handles(n, sizeof *evs, true) : NULL;
    struct ctx c = { .left = n };
    double t0 = bench_now();
    if (!evs && !(evs = handles(n, sizeof *evs, false))) rc = -ENOMEM;
    for (long i = 0; i < n && !rc; i++) {
        event_assign(&evs[i], base, -1, 0, fanout_cb, &c);
        event_active(&evs[i], EV_TIMEOUT, 1);
    }
    if (!rc && event_base_dispatch(base) < 0) rc = -EIO;
    *seconds = bench_now() - t0;
    free(evs);
    return finish(base, "fanout_soon", rc, &c, n);
}

/* ---- timers: n evtimers over 0-100 ms ----------------------------------- *
 * evtimer_add reads the clock each call outside the loop (no cached time
 * there), so each delay counts from its call, as petal's does. Plain
 * timeouts in libevent's min-heap; "common timeouts" (a queue per duration)
 * would only help timer_cancel's single duration, and petal's timers are
 * general. */

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ctx *c = arg;
    c->ran++;
    c->left--;
}

static int native_timers(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct event_base *base;
    int rc = new_base(&base, n);
    if (rc) return rc;
    struct event *evs = bench_warm ? handles(n, sizeof *evs, true) : NULL;
    struct ctx c = { .left = n };
    double t0 = bench_now();
    if (!evs && !(evs = handles(n, sizeof *evs, false))) rc = -ENOMEM;
    for (long i = 0; i < n && !rc; i++) {
        int64_t ns = (int64_t)i * BENCH_TIMERS_SPAN_NS / n;
        struct timeval tv = { .tv_sec = ns / 1000000000, .tv_usec = (ns % 1000000000) / 1000 };
        evtimer_assign(&evs[i], base, timer_cb, &c);
        if (evtimer_add(&evs[i], &tv)) rc = -ENOMEM;
    }
    if (!rc && event_base_dispatch(base) < 0) rc = -EIO;
    *seconds = bench_now() - t0;
    free(evs);
    return finish(base, "timers", rc, &c, n);
}

/* ---- timer_cancel: n evtimers 10 s out, all deleted --------------------- */

static void never_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct ctx *c = arg;
    c->ran++;
}

static int native_timer_cancel(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct event_base *base;
    int rc = new_base(&base, n);
    if (rc) return rc;
    struct event *evs = bench_warm ? handles(n, sizeof *evs, true) : NULL;
    struct ctx c = { .left = 0 };
    struct timeval tv = { .tv_sec = BENCH_CANCEL_DELAY_NS / 1000000000 };
    double t0 = bench_now();
    if (!evs && !(evs = handles(n, sizeof *evs, false))) rc = -ENOMEM;
    long added = 0;
    for (; added < n && !rc; added++) {
        evtimer_assign(&evs[added], base, never_cb, &c);
        if (evtimer_add(&evs[added], &tv)) rc = -ENOMEM;
    }
    for (long i = 0; i < added; i++) evtimer_del(&evs[i]);
    *seconds = bench_now() - t0;
    /* untimed check: nothing fires (the loop has nothing left and returns) */
    if (!rc && event_base_loop(base, EVLOOP_NONBLOCK) < 0) rc = -EIO;
    free(evs);
    return finish(base, "timer_cancel", rc, &c, 0);
}

/* ---- pingpong: persistent read events on both ends of a socketpair ------ *
 * EV_READ | EV_PERSIST is libevent's add_reader; the callbacks make the same
 * read/write calls as petal's. */

static void fail(struct ctx *c, int err)
{
    if (!c->err) c->err = err;
    event_base_loopbreak(c->base);
}

static void ping_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct ctx *c = arg;
    char b;
    ssize_t r = read(fd, &b, 1);
    if (r != 1) {
        if (r < 0 && errno == EAGAIN) return;
        fail(c, r < 0 ? -errno : -EPIPE);
        return;
    }
    c->ran++;
    if (--c->left == 0) {
        event_base_loopbreak(c->base);
        return;
    }
    if (write(fd, &b, 1) != 1) fail(c, -errno);
}

static void pong_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct ctx *c = arg;
    char b;
    ssize_t r = read(fd, &b, 1);
    if (r != 1) {
        if (r < 0 && errno == EAGAIN) return;
        fail(c, r < 0 ? -errno : -EPIPE);
        return;
    }
    if (write(fd, &b, 1) != 1) fail(c, -errno);
}

static int native_pingpong(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct ctx c = { .left = n };
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, c.fds) != 0) return -errno;
    struct event_base *base;
    int rc = new_base(&base, 0);
    if (rc) goto out;
    c.base = base;
    struct event evs[2];
    int added = 0;
    for (; added < 2 && !rc; added++) {
        event_assign(&evs[added], base, c.fds[added], EV_READ | EV_PERSIST, added ? pong_cb : ping_cb, &c);
        if (event_add(&evs[added], NULL)) {
            rc = -EIO;
            break;
        }
    }
    if (!rc) {
        double t0 = bench_now();
        if (write(c.fds[0], "x", 1) != 1)
            rc = -errno;
        else if (event_base_dispatch(base) < 0)
            rc = -EIO;
        *seconds = bench_now() - t0;
    }
    for (int i = 0; i < added; i++) event_del(&evs[i]);
    rc = finish(base, "pingpong", rc, &c, n);
out:
    close(c.fds[0]);
    close(c.fds[1]);
    return rc;
}

const struct bench_impl bench_native_event = {
    .backend = "event",
    .impl = "native",
    .fn = {
        [W_SOON] = native_soon,
        [W_FANOUT_SOON] = native_fanout_soon,
        [W_TIMERS] = native_timers,
        [W_TIMER_CANCEL] = native_timer_cancel,
        [W_PINGPONG] = native_pingpong,
    },
};
