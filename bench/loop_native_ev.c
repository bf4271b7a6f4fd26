/* The native libev column: each workload written directly against libev
 * 4.33, the cheapest way that is still faithful to what petal promises
 * (research/NATIVE_COSTS.md measured the alternatives).
 *
 * The loop is ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK), as petal's ev
 * backend creates its own. Watcher memory belongs to the application: one
 * array of n watchers, malloc'd inside the timed region in fresh mode (first
 * touched by ev_*_init), allocated and touched before it in warm mode. libev
 * also keeps loop-owned arrays (pending queue, idle and timer heaps) that
 * grow with n: in warm mode the loop is primed outside the timed region (it
 * has held n fed events and n timers once), as loop_petal.c primes petal's
 * loop. ev_loop_destroy is not timed. */
#include <errno.h>
#include <ev.h>
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
};

static void *handles(long n, size_t size, bool touch)
{
    void *p = malloc((size_t)n * size);
    if (p && touch) memset(p, 0xa5, (size_t)n * size);
    return p;
}

static void noop_cb(struct ev_loop *loop, ev_watcher *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

static void noop_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* Warm mode: the loop's pending queue and timer heap hold n entries once. */
static int prime(struct ev_loop *loop, long n)
{
    ev_timer *ws = malloc((size_t)n * sizeof *ws);   /* an ev_timer is an ev_watcher and more */
    if (!ws) return -ENOMEM;
    for (long i = 0; i < n; i++) {
        ev_watcher *w = (ev_watcher *)&ws[i];
        ev_init(w, noop_cb);
        ev_feed_event(loop, w, EV_CUSTOM);
    }
    ev_run(loop, EVRUN_NOWAIT);
    for (long i = 0; i < n; i++) {
        ev_timer_init(&ws[i], noop_timer_cb, BENCH_CANCEL_DELAY_NS / 1e9, 0.);
        ev_timer_start(loop, &ws[i]);
    }
    for (long i = n - 1; i >= 0; i--) ev_timer_stop(loop, &ws[i]);
    free(ws);
    return 0;
}

static int new_loop(struct ev_loop **loop, long prime_n)
{
    *loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!*loop) {
        fprintf(stderr, "native ev: ev_loop_new failed\n");
        return -ENOMEM;
    }
    if (bench_warm && prime_n > 0) {
        int rc = prime(*loop, prime_n);
        if (rc) {
            ev_loop_destroy(*loop);
            return rc;
        }
    }
    return 0;
}

static int finish(struct ev_loop *loop, const char *what, int rc, const struct ctx *c, long want_ran)
{
    rc = bench_verdict("native ev", what, rc ? rc : c->err, c->ran, want_ran, NULL);
    ev_loop_destroy(loop);
    return rc;
}

/* ---- soon: one ev_idle whose callback counts --------------------------- *
 * An active idle watcher makes every iteration poll with a zero timeout, so
 * each callback runs on a new loop iteration after I/O was polled, which is
 * call_soon's rule. (ev_feed_event from the callback is cheaper, 5.8 ns,
 * but libev runs the fed event in the same pass without polling.) */

static void soon_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    struct ctx *c = w->data;
    c->ran++;
    if (--c->left == 0) ev_idle_stop(loop, w);
}

static int native_soon(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct ev_loop *loop;
    int rc = new_loop(&loop, 0);
    if (rc) return rc;
    struct ctx c = { .left = n };
    ev_idle idle;
    double t0 = bench_now();
    ev_idle_init(&idle, soon_cb);
    idle.data = &c;
    ev_idle_start(loop, &idle);
    ev_run(loop, 0);
    *seconds = bench_now() - t0;
    return finish(loop, "soon", rc, &c, n);
}

/* ---- fanout_soon: n watchers fed at once ------------------------------- *
 * ev_feed_event queues a watcher's callback on the loop's pending queue
 * without starting it: the cheapest native way to have n callbacks run on
 * the next iteration (NATIVE_COSTS: 35 ns, against 50 ns for n ev_idle
 * started at once). The run is one iteration: no active watcher, so the
 * poll has a zero timeout, then every pending callback runs. */

static void fanout_cb(struct ev_loop *loop, ev_watcher *w, int revents)
{
    (void)loop;
    (void)revents;
    struct ctx *c = w->data;
    c->ran++;
    c->left--;
}

static int native_fanout_soon(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct ev_loop *loop;
    int rc = new_loop(&loop, n);
    if (rc) return rc;
    ev_watcher *ws = bench_warm ? handles(n, sizeof *ws, true) : NULL;
    struct ctx c = { .left = n };
    double t0 = bench_now();
    if (!ws && !(ws = handles(n, sizeof *ws, false))) rc = -ENOMEM;
    for (long i = 0; i < n && !rc; i++) {
        ev_init(&ws[i], fanout_cb);
        ws[i].data = &c;
        ev_feed_event(loop, &ws[i], EV_CUSTOM);
    }
    if (!rc) ev_run(loop, 0);
    *seconds = bench_now() - t0;
    free(ws);
    return finish(loop, "fanout_soon", rc, &c, n);
}

/* ---- timers: n ev_timer over 0-100 ms ---------------------------------- *
 * libev's timers count from the loop's cached time: ev_now_update first, as
 * petal's delays count from the call. One-shot (repeat 0): libev stops each
 * timer before its callback; ev_run returns when none is left. */

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct ctx *c = w->data;
    c->ran++;
    c->left--;
}

static int native_timers(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct ev_loop *loop;
    int rc = new_loop(&loop, n);
    if (rc) return rc;
    ev_timer *ws = bench_warm ? handles(n, sizeof *ws, true) : NULL;
    struct ctx c = { .left = n };
    double t0 = bench_now();
    if (!ws && !(ws = handles(n, sizeof *ws, false))) rc = -ENOMEM;
    ev_now_update(loop);
    for (long i = 0; i < n && !rc; i++) {
        ev_timer_init(&ws[i], timer_cb, (double)((int64_t)i * BENCH_TIMERS_SPAN_NS / n) / 1e9, 0.);
        ws[i].data = &c;
        ev_timer_start(loop, &ws[i]);
    }
    if (!rc) ev_run(loop, 0);
    *seconds = bench_now() - t0;
    free(ws);
    return finish(loop, "timers", rc, &c, n);
}

/* ---- timer_cancel: n ev_timer 10 s out, all stopped -------------------- */

static void never_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct ctx *c = w->data;
    c->ran++;
}

static int native_timer_cancel(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct ev_loop *loop;
    int rc = new_loop(&loop, n);
    if (rc) return rc;
    ev_timer *ws = bench_warm ? handles(n, sizeof *ws, true) : NULL;
    struct ctx c = { .left = 0 };
    double t0 = bench_now();
    if (!ws && !(ws = handles(n, sizeof *ws, false))) rc = -ENOMEM;
    ev_now_update(loop);
    for (long i = 0; i < n && !rc; i++) {
        ev_timer_init(&ws[i], never_cb, BENCH_CANCEL_DELAY_NS / 1e9, 0.);
        ws[i].data = &c;
        ev_timer_start(loop, &ws[i]);
    }
    for (long i = 0; i < n && !rc; i++) ev_timer_stop(loop, &ws[i]);
    *seconds = bench_now() - t0;
    if (!rc) ev_run(loop, EVRUN_NOWAIT);   /* untimed check: nothing fires */
    free(ws);
    return finish(loop, "timer_cancel", rc, &c, 0);
}

/* ---- pingpong: ev_io on both ends of a socketpair ---------------------- *
 * ev_io is libev's add_reader; the callbacks make the same read/write calls
 * as petal's. */

static void fail(struct ev_loop *loop, struct ctx *c, int err)
{
    if (!c->err) c->err = err;
    ev_break(loop, EVBREAK_ALL);
}

static void ping_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct ctx *c = w->data;
    char b;
    ssize_t r = read(w->fd, &b, 1);
    if (r != 1) {
        if (r < 0 && errno == EAGAIN) return;
        fail(loop, c, r < 0 ? -errno : -EPIPE);
        return;
    }
    c->ran++;
    if (--c->left == 0) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (write(w->fd, &b, 1) != 1) fail(loop, c, -errno);
}

static void pong_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct ctx *c = w->data;
    char b;
    ssize_t r = read(w->fd, &b, 1);
    if (r != 1) {
        if (r < 0 && errno == EAGAIN) return;
        fail(loop, c, r < 0 ? -errno : -EPIPE);
        return;
    }
    if (write(w->fd, &b, 1) != 1) fail(loop, c, -errno);
}

static int native_pingpong(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct ctx c = { .left = n };
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, c.fds) != 0) return -errno;
    struct ev_loop *loop;
    int rc = new_loop(&loop, 0);
    if (rc) goto out;
    ev_io ios[2];
    for (int i = 0; i < 2; i++) {
        ev_io_init(&ios[i], i ? pong_cb : ping_cb, c.fds[i], EV_READ);
        ios[i].data = &c;
        ev_io_start(loop, &ios[i]);
    }
    double t0 = bench_now();
    if (write(c.fds[0], "x", 1) == 1)
        ev_run(loop, 0);
    else
        rc = -errno;
    *seconds = bench_now() - t0;
    for (int i = 0; i < 2; i++) ev_io_stop(loop, &ios[i]);
    rc = finish(loop, "pingpong", rc, &c, n);
out:
    close(c.fds[0]);
    close(c.fds[1]);
    return rc;
}

const struct bench_impl bench_native_ev = {
    .backend = "ev",
    .impl = "native",
    .fn = {
        [W_SOON] = native_soon,
        [W_FANOUT_SOON] = native_fanout_soon,
        [W_TIMERS] = native_timers,
        [W_TIMER_CANCEL] = native_timer_cancel,
        [W_PINGPONG] = native_pingpong,
    },
};
