/* The io_uring backend: the ring and one iteration.
 *
 * One native iteration = flush petal's poll changes into SQEs, submit them
 * and wait for one CQE at most petal_core_timeout_ns() (one wait timeout
 * carries petal's earliest deadline: no IORING_OP_TIMEOUT per petal timer),
 * reap the CQEs that are there, then petal_core_tick(). Owned mode runs
 * this in run_once; host mode gives the application the same steps
 * (petal_uring_before_wait, petal_uring_dispatch, petal_uring_after_wait).
 * Readiness itself lives in poll.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "uring_internal.h"

#define RING_ENTRIES 256

/* user_data of petal's cancel requests (their CQEs carry nothing). */
const unsigned long long uring_cancel_marker = 0;

struct ub *uring_state(petal_loop_t *loop)
{
    return *(struct ub **)petal_backend_state(loop);
}

/* The flags petal wants on its own ring, then what older kernels accept
 * (EINVAL for an unknown flag). SINGLE_ISSUER binds the ring to the thread
 * that enables it: start disabled and enable on the first submit, which
 * happens in the thread that runs the loop, not the one that created it. */
static int ring_init(struct ub *b)
{
    static const unsigned tries[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER |
            IORING_SETUP_R_DISABLED,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        IORING_SETUP_SUBMIT_ALL,
        0,
    };
    int rc = PETAL_ENOSYS;
    for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        rc = io_uring_queue_init_params(RING_ENTRIES, &b->own, &p);
        if (rc == 0) {
            b->disabled = (tries[i] & IORING_SETUP_R_DISABLED) != 0;
            return 0;
        }
        if (rc != -EINVAL) break;    /* ENOSYS, EPERM (seccomp, sysctl), ENOMEM */
    }
    return rc;
}

/* liburing 2.3 declares io_uring_enable_rings() but its shared library does
 * not export it: register directly. */
static int enable_ring(struct io_uring *ring)
{
    if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0)
        return -errno;
    return 0;
}

int uring_submit(struct ub *b)
{
    if (b->disabled) {
        int rc = enable_ring(b->ring);
        if (rc < 0) return rc;
        b->disabled = false;
    }
    int rc = io_uring_submit(b->ring);
    return rc < 0 ? rc : 0;
}

struct io_uring_sqe *uring_sqe_full(struct ub *b)
{
    return uring_submit(b) == 0 ? io_uring_get_sqe(b->ring) : NULL;
}

void uring_free(struct ub *b)
{
    if (b->loop || b->nops) return;
    uring_poll_spares_free(b);
    uring_sock_spares_free(b);
    free(b->sq);
    free(b);
}

static int ub_init(petal_loop_t *loop, void *host)
{
    struct ub *b = calloc(1, sizeof *b);
    if (!b) return PETAL_ENOMEM;
    b->loop = loop;
    b->owned = host == NULL;
    b->ring = host ? host : &b->own;
    if (b->owned) {
        int rc = ring_init(b);
        if (rc) {
            free(b);
            return rc;
        }
    }
    *(struct ub **)petal_backend_state(loop) = b;
    return 0;
}

static void ub_destroy(petal_loop_t *loop)
{
    struct ub *b = uring_state(loop);
    b->loop = NULL;
    if (b->owned) {
        /* The ring and every request in it are gone: the ops can go too. */
        io_uring_queue_exit(&b->own);
        uring_sock_free_all(b);
        while (b->ops) {
            struct uop *op = b->ops;
            b->ops = op->next;
            b->nops--;
            free(op);
        }
        uring_free(b);
        return;
    }
    /* Host ring: the removals queued by fd_forget complete later, through
     * petal_uring_dispatch(); the last op's CQE frees b. */
    uring_submit(b);
    uring_free(b);
}

bool petal_uring_owns(const struct io_uring_cqe *cqe)
{
    return cqe && cqe->user_data != LIBURING_UDATA_TIMEOUT && (cqe->user_data & UOP_TAG);
}

void petal_uring_dispatch(petal_loop_t *loop, const struct io_uring_cqe *cqe)
{
    (void)loop;    /* each request knows its loop (it may be closed by now) */
    if (!petal_uring_owns(cqe)) return;
    const void *p = (const void *)(uintptr_t)(cqe->user_data & ~(uint64_t)UOP_TAG);
    if (p == &uring_cancel_marker) return;
    struct uhead *h = (struct uhead *)p;
    if (h->type == UOP_SOCK) uring_sock_done(h, cqe->res);
    else uring_poll_done((struct uop *)h, cqe->res);
}

#define REAP_BATCH 32

/* Hands out the CQEs present now (not ones that keep arriving meanwhile),
 * petal's in batches: copied out and marked seen first (petal code may
 * submit), then the memory each one will touch is prefetched in stages
 * (request, then the core's op and the request's buffer, then the future
 * and the receive buffer), so the cache misses of a batch overlap instead
 * of coming one after another. */
static void reap(struct ub *b)
{
    struct io_uring_cq *cq = &b->ring->cq;
    unsigned shift = (b->ring->flags & IORING_SETUP_CQE32) ? 1 : 0;
    unsigned n = io_uring_cq_ready(b->ring);
    while (n > 0) {
        struct io_uring_cqe got[REAP_BATCH];
        unsigned k = 0, head = *cq->khead, seen = 0;
        while (k < REAP_BATCH && seen < n) {
            struct io_uring_cqe *cqe = &cq->cqes[((head + seen) & cq->ring_mask) << shift];
            seen++;
            if (cqe->user_data == LIBURING_UDATA_TIMEOUT) continue;    /* liburing's own (old kernels) */
            if (petal_uring_owns(cqe)) {
                got[k++] = *cqe;
                continue;
            }
            if (b->foreign_cb) b->foreign_cb(cqe, b->foreign_arg);
            else petal_core_report(b->loop, PETAL_ENOENT, -1, "dropped a CQE of the host application");
        }
        io_uring_cq_advance(b->ring, seen);    /* before petal code may submit */
        n -= seen;
        uring_sock_prefetch(got, k);
        for (unsigned i = 0; i < k; i++) petal_uring_dispatch(b->loop, &got[i]);
    }
}

struct __kernel_timespec *petal_uring_timespec(int64_t ns, struct __kernel_timespec *ts)
{
    if (ns < 0 || !ts) return NULL;
    ts->tv_sec = ns / 1000000000;
    ts->tv_nsec = ns % 1000000000;
    return ts;
}

static int ub_run_once(petal_loop_t *loop)
{
    struct ub *b = uring_state(loop);
    uring_flush(b);
    int64_t ns = petal_core_timeout_ns(loop);
    int rc = 0;
    if (b->disabled) rc = uring_submit(b);
    if (rc == 0) {
        if (ns == 0) {
            /* Enter anyway: with COOP_TASKRUN, completions may wait as task
             * work until we enter the kernel. */
            rc = io_uring_submit_and_get_events(b->ring);
        } else {
            struct io_uring_cqe *cqe;
            struct __kernel_timespec ts;
            rc = io_uring_submit_and_wait_timeout(b->ring, &cqe, 1, petal_uring_timespec(ns, &ts), NULL);
        }
    }
    /* ETIME: the deadline; EINTR: a signal (petal's handler woke the eventfd);
     * EBUSY/EAGAIN: the CQ is full, reaping makes room. */
    if (rc == -ETIME || rc == -EINTR || rc == -EBUSY || rc == -EAGAIN) rc = 0;
    reap(b);
    petal_core_tick(loop);
    if (rc < 0) {
        petal_core_report(loop, rc, -1, "io_uring_enter failed");
        return rc;
    }
    return 0;
}

/* Host mode: the application's loop asks before each wait, so new petal work
 * (a callback, an earlier timer) is seen then; nothing to do here. */
static void ub_host_wakeup(petal_loop_t *loop)
{
    (void)loop;
}

int64_t petal_uring_before_wait(petal_loop_t *loop)
{
    if (!petal_loop_uring(loop)) return -1;
    uring_flush(uring_state(loop));
    return petal_core_timeout_ns(loop);
}

void petal_uring_after_wait(petal_loop_t *loop)
{
    if (!petal_loop_uring(loop)) return;
    petal_core_tick(loop);
}

bool petal_uring_alive(petal_loop_t *loop)
{
    if (!petal_loop_uring(loop)) return false;
    struct ub *b = uring_state(loop);
    return b->user_fds > 0 || b->socks > 0 || petal_core_timeout_ns(loop) >= 0;
}

void petal_uring_set_cqe_handler(petal_loop_t *loop, petal_uring_cqe_cb cb, void *arg)
{
    if (!petal_loop_uring(loop)) return;
    struct ub *b = uring_state(loop);
    b->foreign_cb = cb;
    b->foreign_arg = arg;
}

/* petal/sock.h is served by io_uring completions (sock.c); build with
 * -DPETAL_URING_NATIVE_SOCK=0 to use the core's readiness path instead. */
#ifndef PETAL_URING_NATIVE_SOCK
#define PETAL_URING_NATIVE_SOCK 1
#endif

/* Embedding: the ring fd polls readable when completions are waiting (or
 * task work that will post them), so socket operations wake the other loop. */
static int ub_embed_fd(petal_loop_t *loop)
{
    return uring_state(loop)->ring->ring_fd;
}

const petal_backend_t petal_backend_uring = {
    .name = "uring",
    .state_size = sizeof(struct ub *),
    .init = ub_init,
    .destroy = ub_destroy,
    .run_once = ub_run_once,
    .fd_watch = uring_fd_watch,
    .fd_forget = uring_fd_forget,
    .host_wakeup = ub_host_wakeup,
    .embed_fd = ub_embed_fd,
    .readiness_pins_fd = true,
#if PETAL_URING_NATIVE_SOCK
    .sock_submit = uring_sock_submit,
    .sock_cancel = uring_sock_cancel,
#endif
};

int petal_loop_new_uring(petal_loop_t **out, struct io_uring *host)
{
    return petal_loop_new_on(out, &petal_backend_uring, host);
}

struct io_uring *petal_loop_uring(petal_loop_t *loop)
{
    return petal_loop_on(loop, &petal_backend_uring) ? uring_state(loop)->ring : NULL;
}
