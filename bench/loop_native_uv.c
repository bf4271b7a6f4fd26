/* The native libuv column: each workload written directly against libuv
 * 1.44, the cheapest way that is still faithful to what petal promises
 * (research/NATIVE_COSTS.md measured the alternatives).
 *
 * Handle memory belongs to the application in libuv: one array of n
 * handles. In fresh mode it is malloc'd inside the timed region and first
 * touched by uv_*_init, as petal's fresh loop grows its own arrays there; in
 * warm mode it is allocated and touched before (see bench_warm). uv_*_init
 * is timed (a handle must be initialised to be scheduled, as a petal slot
 * is allocated); uv_close of every handle and the loop pass that completes
 * it are not (petal frees a slot when its callback runs, inside). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "bench/loop_bench.h"

struct ctx {
    long left;
    long ran;
    int err;
    int fds[2];
};

/* The array of n handles: in warm mode call it before the timed region
 * with touch = true; in fresh mode inside it, with touch = false. */
static void *handles(long n, size_t size, bool touch)
{
    void *p = malloc((size_t)n * size);
    if (p && touch) memset(p, 0xa5, (size_t)n * size);
    return p;
}

static void close_all(uv_loop_t *loop, void *hs, long n, size_t size)
{
    for (long i = 0; i < n; i++) {
        uv_handle_t *h = (uv_handle_t *)((char *)hs + (size_t)i * size);
        if (!uv_is_closing(h)) uv_close(h, NULL);
    }
    uv_run(loop, UV_RUN_DEFAULT);
}

static int finish(uv_loop_t *loop, const char *what, int rc, const struct ctx *c, long want_ran)
{
    rc = bench_verdict("native uv", what, rc ? rc : c->err, c->ran, want_ran, uv_strerror);
    int crc = uv_loop_close(loop);
    if (crc && !rc) {
        fprintf(stderr, "native uv %s: uv_loop_close: %s\n", what, uv_strerror(crc));
        rc = crc;
    }
    return rc;
}

/* ---- soon: one uv_idle whose callback counts --------------------------- *
 * An active idle handle makes every iteration poll with a zero timeout, so
 * each callback runs on a new loop iteration after I/O was polled, which is
 * call_soon's rule. (A 0-timeout uv_timer restarted from its own callback is
 * cheaper but runs again in the same pass without polling: not faithful.) */

static void soon_cb(uv_idle_t *h)
{
    struct ctx *c = h->data;
    c->ran++;
    if (--c->left == 0) uv_idle_stop(h);
}

static int native_soon(const char *backend, long n, double *seconds)
{
    (void)backend;
    uv_loop_t loop;
    uv_idle_t idle;
    int rc = uv_loop_init(&loop);
    if (rc) return rc;
    struct ctx c = { .left = n };
    idle.data = &c;
    double t0 = bench_now();
    uv_idle_init(&loop, &idle);
    rc = uv_idle_start(&idle, soon_cb);
    if (!rc) uv_run(&loop, UV_RUN_DEFAULT);
    *seconds = bench_now() - t0;
    uv_close((uv_handle_t *)&idle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    return finish(&loop, "soon", rc, &c, n);
}

/* ---- fanout_soon: n uv_idle handles started at once -------------------- *
 * Each callback counts and stops its own handle, so each runs exactly once,
 * all in the same idle pass. Measured alternative: n uv_timer_t with a 0 ms
 * timeout pays a pointer-heap pop per callback: 0.65 s for 1M against
 * 0.0095 s for uv_idle (warm memory, this machine), so uv_idle it is. */

static void fanout_cb(uv_idle_t *h)
{
    struct ctx *c = h->data;
    c->ran++;
    c->left--;
    uv_idle_stop(h);
}

static int native_fanout_soon(const char *backend, long n, double *seconds)
{
    (void)backend;
    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc) return rc;
    uv_idle_t *hs = bench_warm ? handles(n, sizeof *hs, true) : NULL;
    struct ctx c = { .left = n };
    double t0 = bench_now();
    if (!hs && !(hs = handles(n, sizeof *hs, false))) rc = -ENOMEM;
    for (long i = 0; i < n && !rc; i++) {
        uv_idle_init(&loop, &hs[i]);
        hs[i].data = &c;
        rc = uv_idle_start(&hs[i], fanout_cb);
    }
    if (!rc) uv_run(&loop, UV_RUN_DEFAULT);
    *seconds = bench_now() - t0;
    if (hs) close_all(&loop, hs, rc ? 0 : n, sizeof *hs);
    free(hs);
    return finish(&loop, "fanout_soon", rc, &c, n);
}

/* ---- timers: n uv_timer_t over 0-100 ms -------------------------------- *
 * libuv timers have millisecond resolution: timer i is due at i*100/n ms. */

static void timer_cb(uv_timer_t *h)
{
    struct ctx *c = h->data;
    c->ran++;
    c->left--;
}

static int native_timers(const char *backend, long n, double *seconds)
{
    (void)backend;
    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc) return rc;
    uv_timer_t *hs = bench_warm ? handles(n, sizeof *hs, true) : NULL;
    struct ctx c = { .left = n };
    const uint64_t span_ms = BENCH_TIMERS_SPAN_NS / 1000000;
    double t0 = bench_now();
    if (!hs && !(hs = handles(n, sizeof *hs, false))) rc = -ENOMEM;
    uv_update_time(&loop);   /* delays count from now, as petal's do */
    for (long i = 0; i < n && !rc; i++) {
        uv_timer_init(&loop, &hs[i]);
        hs[i].data = &c;
        rc = uv_timer_start(&hs[i], timer_cb, (uint64_t)i * span_ms / (uint64_t)n, 0);
    }
    if (!rc) uv_run(&loop, UV_RUN_DEFAULT);
    *seconds = bench_now() - t0;
    if (hs) close_all(&loop, hs, rc ? 0 : n, sizeof *hs);
    free(hs);
    return finish(&loop, "timers", rc, &c, n);
}

/* ---- timer_cancel: n uv_timer_t 10 s out, all stopped ------------------ *
 * uv_timer_stop is the cancel (uv_close stops the timer the same way and
 * then also queues the handle for closing). */

static void never_cb(uv_timer_t *h)
{
    struct ctx *c = h->data;
    c->ran++;
}

static int native_timer_cancel(const char *backend, long n, double *seconds)
{
    (void)backend;
    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc) return rc;
    uv_timer_t *hs = bench_warm ? handles(n, sizeof *hs, true) : NULL;
    struct ctx c = { .left = 0 };
    const uint64_t delay_ms = BENCH_CANCEL_DELAY_NS / 1000000;
    double t0 = bench_now();
    if (!hs && !(hs = handles(n, sizeof *hs, false))) rc = -ENOMEM;
    uv_update_time(&loop);
    for (long i = 0; i < n && !rc; i++) {
        uv_timer_init(&loop, &hs[i]);
        hs[i].data = &c;
        rc = uv_timer_start(&hs[i], never_cb, delay_ms, 0);
    }
    for (long i = 0; i < n && !rc; i++) rc = uv_timer_stop(&hs[i]);
    *seconds = bench_now() - t0;
    if (!rc) uv_run(&loop, UV_RUN_NOWAIT);   /* untimed check: nothing fires */
    if (hs) close_all(&loop, hs, rc ? 0 : n, sizeof *hs);
    free(hs);
    return finish(&loop, "timer_cancel", rc, &c, 0);
}

/* ---- pingpong: uv_poll_t on both ends of a socketpair ------------------ *
 * uv_poll_t is libuv's add_reader; the callbacks make the same read/write
 * calls as petal's. (uv_stream_t with uv_write costs an extra epoll_ctl per
 * write, see NATIVE_COSTS.md.) */

static void fail(uv_loop_t *loop, struct ctx *c, int err)
{
    if (!c->err) c->err = err;
    uv_stop(loop);
}

static void ping_cb(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct ctx *c = h->data;
    char b;
    ssize_t r = status ? -1 : read(c->fds[0], &b, 1);
    if (r != 1) {
        if (!status && r < 0 && errno == EAGAIN) return;
        fail(h->loop, c, status ? status : r < 0 ? -errno : -EPIPE);
        return;
    }
    c->ran++;
    if (--c->left == 0) {
        uv_stop(h->loop);
        return;
    }
    if (write(c->fds[0], &b, 1) != 1) fail(h->loop, c, -errno);
}

static void pong_cb(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct ctx *c = h->data;
    char b;
    ssize_t r = status ? -1 : read(c->fds[1], &b, 1);
    if (r != 1) {
        if (!status && r < 0 && errno == EAGAIN) return;
        fail(h->loop, c, status ? status : r < 0 ? -errno : -EPIPE);
        return;
    }
    if (write(c->fds[1], &b, 1) != 1) fail(h->loop, c, -errno);
}

static int native_pingpong(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct ctx c = { .left = n };
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, c.fds) != 0) return -errno;
    uv_loop_t loop;
    uv_poll_t polls[2];
    int rc = uv_loop_init(&loop);
    if (rc) goto out;
    int inited = 0;
    for (; inited < 2 && !rc; inited++) {
        if ((rc = uv_poll_init(&loop, &polls[inited], c.fds[inited]))) break;
        polls[inited].data = &c;
        rc = uv_poll_start(&polls[inited], UV_READABLE, inited ? pong_cb : ping_cb);
    }
    if (!rc) {
        double t0 = bench_now();
        if (write(c.fds[0], "x", 1) == 1)
            uv_run(&loop, UV_RUN_DEFAULT);
        else
            rc = -errno;
        *seconds = bench_now() - t0;
    }
    for (int i = 0; i < inited; i++) uv_close((uv_handle_t *)&polls[i], NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = finish(&loop, "pingpong", rc, &c, n);
out:
    close(c.fds[0]);
    close(c.fds[1]);
    return rc;
}

const struct bench_impl bench_native_uv = {
    .backend = "uv",
    .impl = "native",
    .fn = {
        [W_SOON] = native_soon,
        [W_FANOUT_SOON] = native_fanout_soon,
        [W_TIMERS] = native_timers,
        [W_TIMER_CANCEL] = native_timer_cancel,
        [W_PINGPONG] = native_pingpong,
    },
};
