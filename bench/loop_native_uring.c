/* The native io_uring column: each workload written directly against
 * liburing 2.3, the cheapest way that is still faithful to what petal
 * promises (research/NATIVE_COSTS.md measured the alternatives).
 *
 * A native io_uring "loop" is: queue SQEs, io_uring_submit_and_wait (one
 * io_uring_enter that submits and waits for at least one CQE), then handle
 * every CQE present. The ring gets the flags petal's uring backend asks for
 * (SUBMIT_ALL | COOP_TASKRUN | SINGLE_ISSUER, falling back as the kernel
 * requires), no SQPOLL. Every request's user_data points at a struct uh
 * (callback + context), the application's handle; the array of n handles is
 * malloc'd inside the timed region in fresh mode, allocated and touched
 * before it in warm mode. Ring setup and teardown are not timed.
 *
 * What is native here and what is not:
 * - soon: one IORING_OP_NOP per callback, the next queued from the callback:
 *   one io_uring_enter per callback, like one epoll_wait(0) per iteration.
 * - fanout_soon: n NOPs; a ring cannot hold 1M requests, so they are
 *   submitted in batches of the SQ size and reaped between batches.
 * - timers: one IORING_OP_TIMEOUT per timer (relative, count 0): the kernel
 *   keeps the timers. NATIVE_COSTS measured 35 us per timer on this VM, so
 *   this cell's n is capped (URING_TIMERS_MAX, petal runs the same n). A
 *   userspace heap with one wait timeout is cheaper (404 ns) but is what
 *   petal itself does, not a native io_uring facility.
 * - timer_cancel: IORING_OP_TIMEOUT 10 s out, then IORING_OP_TIMEOUT_REMOVE
 *   by user_data, in scheduling order (the kernel finds the target by a
 *   linear scan of its timeout list from the oldest, so this order is its
 *   best case). Done means every cancellation completed (both CQEs reaped).
 * - pingpong: a one-shot IORING_OP_POLL_ADD on each end, re-armed after
 *   each completion, and the same read/write calls as petal's readers.
 *   That is io_uring's level-triggered add_reader (petal's readers are
 *   level-triggered, as ev_io, uv_poll_t and libevent's persistent events
 *   are), run in asyncio's order: a wait, then the callbacks of the CQEs it
 *   found; a CQE posted while they run waits for the next wait. 6 syscalls
 *   per round trip, as petal. Environment LOOP_BENCH_URING_POLL picks
 *   another scheme, faster but not the same promise (docs/backends/uring.md
 *   measured each, and why none is level-triggered at multishot's cost):
 *     pass: one-shot, but CQEs posted while earlier ones are handled are
 *       handled in the same pass (two iterations in one: 5 syscalls);
 *     multishot: a multishot POLL_ADD, one CQE per wakeup (edge-like: data
 *       a reader leaves is not reported again), posted by task work on the
 *       way out of the peer's write(), so the wait never enters the kernel:
 *       4 syscalls per round trip.
 *   RECV+SEND requests would also save the read and write syscalls but are
 *   a different API from petal_add_reader. */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/loop_bench.h"

#define RING_ENTRIES 4096   /* SQ size: the batch of fanout_soon and timers */

/* Cap on the timers cell's n (petal on uring runs the same n). Relative
 * timeouts whose deadline is still ahead cost ~2.5 us each here (1M: 2.5 s),
 * not the 35 us NATIVE_COSTS saw for deadlines already past, so the full n
 * runs; the cap stays for slower kernels. */
#define URING_TIMERS_MAX 1000000

struct uctx;
struct uh {
    void (*cb)(struct uctx *x, struct uh *h, const struct io_uring_cqe *cqe);
    struct __kernel_timespec ts;   /* timers: read by the kernel at submission */
};

struct uctx {
    struct io_uring ring;
    unsigned cq_entries;
    long inflight;   /* requests whose terminal CQE has not been reaped */
    long left;
    long ran;
    int err;
    bool stop;
    int fds[2];
    struct uh one[2];
    bool multishot;  /* pingpong: multishot POLL_ADD (else one-shot, re-armed) */
    bool per_iter;   /* handle only the CQEs present when the wait returned */
};

static void *handles(long n, size_t size, bool touch)
{
    void *p = malloc((size_t)n * size);
    if (p && touch) memset(p, 0xa5, (size_t)n * size);
    return p;
}

static void fail(struct uctx *x, int err)
{
    if (!x->err) x->err = err;
    x->stop = true;
}

static int ring_init(struct uctx *x)
{
    static const unsigned tries[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_SUBMIT_ALL,
        0,
    };
    int rc = -ENOSYS;
    for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        rc = io_uring_queue_init_params(RING_ENTRIES, &x->ring, &p);
        if (rc == 0) {
            x->cq_entries = p.cq_entries;
            return 0;
        }
        if (rc != -EINVAL) break;
    }
    fprintf(stderr, "native uring: io_uring_queue_init_params: %s\n", strerror(-rc));
    return rc;
}

/* An SQE for handle h; submits what is queued first if the SQ is full. */
static struct io_uring_sqe *sqe_for(struct uctx *x, struct uh *h)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);
    if (!sqe) {
        int rc = io_uring_submit(&x->ring);
        if (rc < 0 || !(sqe = io_uring_get_sqe(&x->ring))) {
            fail(x, rc < 0 ? rc : -EBUSY);
            return NULL;
        }
    }
    io_uring_sqe_set_data(sqe, h);
    x->inflight++;
    return sqe;
}

static void handle(struct uctx *x, struct io_uring_cqe *cqe)
{
    if (!(cqe->flags & IORING_CQE_F_MORE)) x->inflight--;
    struct uh *h = io_uring_cqe_get_data(cqe);
    if (h) h->cb(x, h, cqe);
}

/* Handles every CQE present, also those posted meanwhile (the for-each
 * re-reads the CQ tail); returns how many. */
static unsigned reap(struct uctx *x)
{
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&x->ring, head, cqe)
    {
        seen++;
        handle(x, cqe);
    }
    io_uring_cq_advance(&x->ring, seen);
    return seen;
}

/* Handles the CQEs present now; those posted meanwhile wait. */
static void reap_present(struct uctx *x)
{
    struct io_uring_cqe *cqe;
    for (unsigned k = io_uring_cq_ready(&x->ring); k > 0 && io_uring_peek_cqe(&x->ring, &cqe) == 0; k--) {
        struct io_uring_cqe copy = *cqe;
        io_uring_cqe_seen(&x->ring, cqe);
        handle(x, &copy);
    }
}

/* One iteration: submit what is queued, wait for one CQE, handle them. */
static int iterate(struct uctx *x)
{
    int rc = io_uring_submit_and_wait(&x->ring, 1);
    if (rc < 0 && rc != -EINTR && rc != -ETIME) {
        fail(x, rc);
        return rc;
    }
    if (x->per_iter) reap_present(x);
    else reap(x);
    return 0;
}

/* Runs until stopped or nothing is in flight. */
static void run(struct uctx *x)
{
    while (!x->stop && x->inflight > 0)
        if (iterate(x)) break;
}

static int finish(struct uctx *x, const char *what, long want_ran)
{
    int rc = bench_verdict("native uring", what, x->err, x->ran, want_ran, NULL);
    io_uring_queue_exit(&x->ring);
    return rc;
}

/* ---- soon: one NOP per callback ----------------------------------------- */

static void soon_cb(struct uctx *x, struct uh *h, const struct io_uring_cqe *cqe)
{
    (void)cqe;
    x->ran++;
    if (--x->left == 0) return;
    struct io_uring_sqe *sqe = sqe_for(x, h);
    if (sqe) io_uring_prep_nop(sqe);
}

static int native_soon(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct uctx x = { .left = n };
    int rc = ring_init(&x);
    if (rc) return rc;
    x.one[0].cb = soon_cb;
    double t0 = bench_now();
    struct io_uring_sqe *sqe = sqe_for(&x, &x.one[0]);
    if (sqe) io_uring_prep_nop(sqe);
    run(&x);
    *seconds = bench_now() - t0;
    return finish(&x, "soon", n);
}

/* ---- fanout_soon: n NOPs in batches of the SQ size ---------------------- */

static void fanout_cb(struct uctx *x, struct uh *h, const struct io_uring_cqe *cqe)
{
    (void)h;
    (void)cqe;
    x->ran++;
    x->left--;
}

static int native_fanout_soon(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct uctx x = { .left = n };
    int rc = ring_init(&x);
    if (rc) return rc;
    struct uh *hs = bench_warm ? handles(n, sizeof *hs, true) : NULL;
    double t0 = bench_now();
    if (!hs && !(hs = handles(n, sizeof *hs, false))) fail(&x, -ENOMEM);
    for (long next = 0; !x.stop && (next < n || x.inflight > 0);) {
        /* Queue as many as the SQ takes (and the CQ can hold), then one
         * submit-and-wait and every callback whose NOP completed. */
        for (struct io_uring_sqe *sqe; next < n && x.inflight < (long)x.cq_entries &&
                                       (sqe = io_uring_get_sqe(&x.ring));
             next++) {
            hs[next].cb = fanout_cb;
            io_uring_prep_nop(sqe);
            io_uring_sqe_set_data(sqe, &hs[next]);
            x.inflight++;
        }
        iterate(&x);
    }
    *seconds = bench_now() - t0;
    free(hs);
    return finish(&x, "fanout_soon", n);
}

/* ---- timers: one IORING_OP_TIMEOUT per timer over 0-100 ms --------------- */

static void timer_cb(struct uctx *x, struct uh *h, const struct io_uring_cqe *cqe)
{
    (void)h;
    if (cqe->res != -ETIME) {
        fail(x, cqe->res < 0 ? cqe->res : -EPROTO);
        return;
    }
    x->ran++;
    x->left--;
}

static int native_timers(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct uctx x = { .left = n };
    int rc = ring_init(&x);
    if (rc) return rc;
    struct uh *hs = bench_warm ? handles(n, sizeof *hs, true) : NULL;
    double t0 = bench_now();
    if (!hs && !(hs = handles(n, sizeof *hs, false))) fail(&x, -ENOMEM);
    for (long i = 0; i < n && !x.stop; i++) {
        int64_t ns = (int64_t)i * BENCH_TIMERS_SPAN_NS / n;
        hs[i].cb = timer_cb;
        hs[i].ts.tv_sec = ns / 1000000000;
        hs[i].ts.tv_nsec = ns % 1000000000;
        struct io_uring_sqe *sqe = sqe_for(&x, &hs[i]);   /* submits a full SQ */
        if (sqe) io_uring_prep_timeout(sqe, &hs[i].ts, 0, 0);
        /* Timeouts already due complete while we queue: keep the CQ drained. */
        if (io_uring_cq_ready(&x.ring) > x.cq_entries / 2) reap(&x);
    }
    run(&x);
    *seconds = bench_now() - t0;
    free(hs);
    return finish(&x, "timers", n);
}

/* ---- timer_cancel: TIMEOUT 10 s out, then TIMEOUT_REMOVE each ----------- */

static void cancelled_cb(struct uctx *x, struct uh *h, const struct io_uring_cqe *cqe)
{
    (void)h;
    if (cqe->res == -ETIME) x->ran++;   /* fired: the check fails */
    else if (cqe->res != -ECANCELED) fail(x, cqe->res < 0 ? cqe->res : -EPROTO);
}

static void remove_cb(struct uctx *x, struct uh *h, const struct io_uring_cqe *cqe)
{
    (void)h;
    if (cqe->res < 0) fail(x, cqe->res);
}

static int native_timer_cancel(const char *backend, long n, double *seconds)
{
    (void)backend;
    struct uctx x = { .left = 0 };
    int rc = ring_init(&x);
    if (rc) return rc;
    struct uh *hs = bench_warm ? handles(n, sizeof *hs, true) : NULL;
    x.one[0].cb = remove_cb;
    double t0 = bench_now();
    if (!hs && !(hs = handles(n, sizeof *hs, false))) fail(&x, -ENOMEM);
    long armed = 0;
    for (; armed < n && !x.stop; armed++) {
        hs[armed].cb = cancelled_cb;
        hs[armed].ts.tv_sec = BENCH_CANCEL_DELAY_NS / 1000000000;
        hs[armed].ts.tv_nsec = 0;
        struct io_uring_sqe *sqe = sqe_for(&x, &hs[armed]);
        if (sqe) io_uring_prep_timeout(sqe, &hs[armed].ts, 0, 0);
    }
    for (long i = 0; i < armed && !x.stop; i++) {
        struct io_uring_sqe *sqe = sqe_for(&x, &x.one[0]);
        if (sqe) io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&hs[i], 0);
        /* Each removal posts two CQEs: submit and reap in batches that the
         * CQ can hold. */
        if (io_uring_sq_ready(&x.ring) >= x.cq_entries / 4) {
            int r = io_uring_submit(&x.ring);
            if (r < 0) fail(&x, r);
            reap(&x);
        }
    }
    run(&x);   /* until every removal and every cancelled timeout is reaped */
    *seconds = bench_now() - t0;
    free(hs);
    return finish(&x, "timer_cancel", 0);
}

/* ---- pingpong: POLL_ADD on both ends of a socketpair --------------------- */

static void arm_poll(struct uctx *x, int i)
{
    struct io_uring_sqe *sqe = sqe_for(x, &x->one[i]);
    if (sqe && x->multishot)
        io_uring_prep_poll_multishot(sqe, x->fds[i], POLLIN);
    else if (sqe)
        io_uring_prep_poll_add(sqe, x->fds[i], POLLIN);
}

static void poll_cb(struct uctx *x, struct uh *h, const struct io_uring_cqe *cqe)
{
    int i = (int)(h - x->one);
    if (x->stop) return;
    if (cqe->res < 0) {
        fail(x, cqe->res);
        return;
    }
    if (!(cqe->flags & IORING_CQE_F_MORE)) arm_poll(x, i);   /* the kernel ended it */
    char b;
    ssize_t r = read(x->fds[i], &b, 1);
    if (r != 1) {
        if (r < 0 && errno == EAGAIN) return;
        fail(x, r < 0 ? -errno : -EPIPE);
        return;
    }
    if (i == 0) {
        x->ran++;
        if (--x->left == 0) {
            x->stop = true;
            return;
        }
    }
    if (write(x->fds[i], &b, 1) != 1) fail(x, -errno);
}

static int native_pingpong(const char *backend, long n, double *seconds)
{
    (void)backend;
    const char *mode = getenv("LOOP_BENCH_URING_POLL");
    if (!mode || !*mode) mode = "iter";
    struct uctx x = { .left = n, .multishot = strcmp(mode, "multishot") == 0, .per_iter = strcmp(mode, "iter") == 0 };
    if (!x.multishot && !x.per_iter && strcmp(mode, "pass") != 0) {
        fprintf(stderr, "native uring: LOOP_BENCH_URING_POLL=%s: want iter, pass or multishot\n", mode);
        return -EINVAL;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, x.fds) != 0) return -errno;
    int rc = ring_init(&x);
    if (rc) goto out;
    for (int i = 0; i < 2; i++) {
        x.one[i].cb = poll_cb;
        arm_poll(&x, i);
    }
    if ((rc = io_uring_submit(&x.ring)) < 0) fail(&x, rc);
    double t0 = bench_now();
    if (write(x.fds[0], "x", 1) == 1)
        run(&x);
    else
        fail(&x, -errno);
    *seconds = bench_now() - t0;
    rc = finish(&x, "pingpong", n);   /* io_uring_queue_exit ends the polls */
out:
    close(x.fds[0]);
    close(x.fds[1]);
    return rc;
}

const struct bench_impl bench_native_uring = {
    .backend = "uring",
    .impl = "native",
    .fn = {
        [W_SOON] = native_soon,
        [W_FANOUT_SOON] = native_fanout_soon,
        [W_TIMERS] = native_timers,
        [W_TIMER_CANCEL] = native_timer_cancel,
        [W_PINGPONG] = native_pingpong,
    },
    .max_n = {
        [W_TIMERS] = URING_TIMERS_MAX,
    },
};
