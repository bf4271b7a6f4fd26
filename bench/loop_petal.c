/* The petal column: every workload written once against petal's public API.
 * The backend is chosen by name at run time (petal_loop_new_backend), so the
 * same code measures every backend linked into the program. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/loop_bench.h"
#include "petal/loop.h"

struct ctx {
    long left;    /* callbacks (or round trips) still expected */
    long ran;     /* callbacks that ran */
    int err;      /* first error seen inside a callback */
    int fds[2];   /* pingpong */
};

static void noop_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
}

/* Warm mode: let the loop hold n ready callbacks and n timers once, so its
 * slot array, ready ring and timer heap are grown and faulted in. */
static int prime(petal_loop_t *loop, long n)
{
    int rc = 0;
    for (long i = 0; i < n && !rc; i++) {
        petal_handle_t h = petal_call_soon(loop, noop_cb, NULL);
        if (h < 0) rc = (int)h;
    }
    if (!rc) rc = petal_loop_run_once(loop);
    petal_handle_t *hs = rc ? NULL : malloc((size_t)n * sizeof *hs);
    if (!rc && !hs) rc = -ENOMEM;
    for (long i = 0; i < n && !rc; i++) {
        hs[i] = petal_call_later_ns(loop, BENCH_CANCEL_DELAY_NS, noop_cb, NULL);
        if (hs[i] < 0) rc = (int)hs[i];
    }
    for (long i = n - 1; i >= 0 && !rc; i--) rc = petal_cancel(loop, hs[i]);
    free(hs);
    return rc;
}

/* A fresh loop on `backend`; primed in warm mode when n > 0. */
static int new_loop_n(const char *backend, petal_loop_t **loop, long n)
{
    int rc = petal_loop_new_backend(loop, backend);
    if (rc) {
        fprintf(stderr, "petal_loop_new_backend(%s): %s\n", backend, petal_strerror(rc));
        return rc;
    }
    if (bench_warm && n > 0 && (rc = prime(*loop, n))) {
        fprintf(stderr, "petal: priming the loop: %s\n", petal_strerror(rc));
        petal_loop_free(*loop);
    }
    return rc;
}

static int new_loop(const char *backend, petal_loop_t **loop)
{
    return new_loop_n(backend, loop, 0);
}

static void fail(petal_loop_t *loop, struct ctx *c, int err)
{
    if (!c->err) c->err = err;
    petal_loop_stop(loop);
}

static int finish(petal_loop_t *loop, const char *what, int rc, const struct ctx *c, long want_ran)
{
    rc = bench_verdict("petal", what, rc ? rc : c->err, c->ran, want_ran, petal_strerror);
    petal_loop_free(loop);
    return rc;
}

/* ---- soon: a chain, each callback schedules the next ------------------ */

static void soon_cb(petal_loop_t *loop, void *arg)
{
    struct ctx *c = arg;
    c->ran++;
    if (--c->left == 0) {
        petal_loop_stop(loop);
        return;
    }
    petal_handle_t h = petal_call_soon(loop, soon_cb, c);
    if (h < 0) fail(loop, c, (int)h);
}

static int petal_soon(const char *backend, long n, double *seconds)
{
    petal_loop_t *loop;
    int rc = new_loop(backend, &loop);
    if (rc) return rc;
    struct ctx c = { .left = n };
    double t0 = bench_now();
    petal_handle_t h = petal_call_soon(loop, soon_cb, &c);
    rc = h < 0 ? (int)h : petal_loop_run(loop);
    *seconds = bench_now() - t0;
    return finish(loop, "soon", rc, &c, n);
}

/* ---- fanout_soon: n callbacks scheduled at once ------------------------ */

static void fanout_cb(petal_loop_t *loop, void *arg)
{
    struct ctx *c = arg;
    c->ran++;
    if (--c->left == 0) petal_loop_stop(loop);
}

static int petal_fanout_soon(const char *backend, long n, double *seconds)
{
    petal_loop_t *loop;
    int rc = new_loop_n(backend, &loop, n);
    if (rc) return rc;
    struct ctx c = { .left = n };
    double t0 = bench_now();
    for (long i = 0; i < n && !rc; i++) {
        petal_handle_t h = petal_call_soon(loop, fanout_cb, &c);
        if (h < 0) rc = (int)h;
    }
    if (!rc) rc = petal_loop_run(loop);
    *seconds = bench_now() - t0;
    return finish(loop, "fanout_soon", rc, &c, n);
}

/* ---- timers: n one-shot timers over 0-100 ms --------------------------- */

static int petal_timers(const char *backend, long n, double *seconds)
{
    petal_loop_t *loop;
    int rc = new_loop_n(backend, &loop, n);
    if (rc) return rc;
    struct ctx c = { .left = n };
    double t0 = bench_now();
    for (long i = 0; i < n && !rc; i++) {
        int64_t delay = (int64_t)i * BENCH_TIMERS_SPAN_NS / n;  /* exact while n < 9e10 */
        petal_handle_t h = petal_call_later_ns(loop, delay, fanout_cb, &c);
        if (h < 0) rc = (int)h;
    }
    if (!rc) rc = petal_loop_run(loop);
    *seconds = bench_now() - t0;
    return finish(loop, "timers", rc, &c, n);
}

/* ---- timer_cancel: n timers 10 s out, all cancelled -------------------- */

static void never_cb(petal_loop_t *loop, void *arg)
{
    fail(loop, arg, -EPROTO);   /* a cancelled timer ran */
}

static void stop_cb(petal_loop_t *loop, void *arg)
{
    (void)arg;
    petal_loop_stop(loop);
}

static int petal_timer_cancel(const char *backend, long n, double *seconds)
{
    petal_handle_t *hs = malloc((size_t)n * sizeof *hs);
    if (!hs) return -ENOMEM;
    petal_loop_t *loop;
    int rc = new_loop_n(backend, &loop, n);
    if (rc) {
        free(hs);
        return rc;
    }
    struct ctx c = { .left = 0 };
    double t0 = bench_now();
    for (long i = 0; i < n && !rc; i++) {
        hs[i] = petal_call_later_ns(loop, BENCH_CANCEL_DELAY_NS, never_cb, &c);
        if (hs[i] < 0) rc = (int)hs[i];
    }
    /* Cancelled in scheduling order, as timeouts that did not fire are. */
    for (long i = 0; i < n && !rc; i++) rc = petal_cancel(loop, hs[i]);
    *seconds = bench_now() - t0;
    free(hs);
    /* Untimed check: one iteration, nothing may run but stop_cb. */
    if (!rc) {
        petal_handle_t h = petal_call_soon(loop, stop_cb, NULL);
        rc = h < 0 ? (int)h : petal_loop_run(loop);
    }
    return finish(loop, "timer_cancel", rc, &c, 0);
}

/* ---- pingpong: one-byte round trips over a socketpair ------------------ */

/* fds[0] sends, fds[1] echoes. One round trip: write on 0, read on 1,
 * write on 1, read on 0. */
static void ping_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    struct ctx *c = arg;
    char b;
    ssize_t r = status ? -1 : read(fd, &b, 1);
    if (r != 1) {
        if (!status && r < 0 && errno == EAGAIN) return;
        fail(loop, c, status ? status : r < 0 ? -errno : -EPIPE);
        return;
    }
    c->ran++;
    if (--c->left == 0) {
        petal_loop_stop(loop);
        return;
    }
    if (write(fd, &b, 1) != 1) fail(loop, c, -errno);
}

static void pong_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    struct ctx *c = arg;
    char b;
    ssize_t r = status ? -1 : read(fd, &b, 1);
    if (r != 1) {
        if (!status && r < 0 && errno == EAGAIN) return;
        fail(loop, c, status ? status : r < 0 ? -errno : -EPIPE);
        return;
    }
    if (write(fd, &b, 1) != 1) fail(loop, c, -errno);
}

static int petal_pingpong(const char *backend, long n, double *seconds)
{
    struct ctx c = { .left = n };
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, c.fds) != 0) return -errno;
    petal_loop_t *loop;
    int rc = new_loop(backend, &loop);
    if (rc) goto out;
    if (!(rc = petal_add_reader(loop, c.fds[0], ping_cb, &c)))
        rc = petal_add_reader(loop, c.fds[1], pong_cb, &c);
    if (!rc) {
        double t0 = bench_now();
        rc = write(c.fds[0], "x", 1) == 1 ? petal_loop_run(loop) : -errno;
        *seconds = bench_now() - t0;
    }
    petal_fd_closing(loop, c.fds[0]);
    petal_fd_closing(loop, c.fds[1]);
    rc = finish(loop, "pingpong", rc, &c, n);
out:
    close(c.fds[0]);
    close(c.fds[1]);
    return rc;
}

const bench_fn bench_petal[W_COUNT] = {
    [W_SOON] = petal_soon,
    [W_FANOUT_SOON] = petal_fanout_soon,
    [W_TIMERS] = petal_timers,
    [W_TIMER_CANCEL] = petal_timer_cancel,
    [W_PINGPONG] = petal_pingpong,
};
