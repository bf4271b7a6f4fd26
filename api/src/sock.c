/* Socket operations returning futures (petal/sock.h).
 *
 * Every operation sits in its fd's queue (receive side: recv/accept; send
 * side: send/connect) until it finishes, so petal_fd_closing() and a closed
 * loop can end it. A backend with a completion path (io_uring) performs it;
 * otherwise the core tries the system call at once and again each time the
 * fd is reported ready (sock_ready, called by petal_core_io as the backend
 * polls, not queued as a callback), serving each queue in order.
 *
 * Either way the future completes outside the call that started it and its
 * done-callbacks run in the first tick after the operation finished: one
 * finished while the backend polls or reaps (before the tick) has its
 * future completed at once; one finished during a tick (at once in the
 * call, or behind such) goes on the loop's completion list, completed at
 * the start of the next tick.
 *
 * Idle watch. A connection receives again and again; dropping its watch
 * each time the receive queue empties and adding it back for the next
 * receive cost an epoll_ctl pair, an fstat and a failed recv per receive.
 * So on owned loops the receive-side watch stays armed ("idle") when its
 * queue empties, and ends
 * - the first time it fires with nothing queued (so a connection nobody
 *   reads costs one wakeup, not one per iteration: level-triggered), or
 * - when the user watches the fd, calls petal_fd_closing(), or the loop
 *   closes.
 * A receive that arrives after a poll which found nothing to read, or
 * after the fd's last receive got less than it asked for (the socket was
 * drained then: rx_drained), waits for the next poll without trying at
 * once (no system call at all). The fd
 * may have been closed meanwhile (petal_fd_closing() is only required while
 * something waits) and its number reused, and epoll forgets a closed file
 * by itself, so such a receive is "unverified": its fd's identity (st_dev,
 * st_ino) is checked before the loop would block, after VERIFY_ITERS
 * iterations, or when a readiness brings nothing; a mismatch drops the old
 * registration silently and the fd's operations start again on what the
 * number names now (PETAL_EBADF if nothing). A system call per receive
 * costs ~4 us on the project VM, as much as the work itself. Not on hosted
 * loops (an idle watch would keep the host's loop running) nor where a
 * readiness request pins the file (io_uring: a closed socket would stay
 * open). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "future_internal.h"
#include "petal/sock.h"

static petal_sock_op_t **queue_of(struct fd_entry *e, const petal_sock_op_t *op)
{
    return op->kind == PETAL_OP_RECV || op->kind == PETAL_OP_ACCEPT ? &e->rq : &e->wq;
}

static bool sends(const petal_sock_op_t *op)
{
    return op->kind == PETAL_OP_SEND || op->kind == PETAL_OP_CONNECT;
}

static void unlink_op(struct fd_entry *e, petal_sock_op_t *op)
{
    for (petal_sock_op_t **p = queue_of(e, op); *p; p = &(*p)->next)
        if (*p == op) {
            *p = op->next;
            return;
        }
}

#define OPS_SPARE_MAX 1024

/* Operations are recycled through a per-loop free list: two allocations
 * less per call (the op, and for a send of up to sizeof op->addr bytes its
 * copy, which lives in the op's unused address field). */
static petal_sock_op_t *op_new(petal_loop_t *loop)
{
    petal_sock_op_t *op = spare_pop(&loop->ops_spare);
    if (!op) {
        /* Cache-line aligned: the fields every operation uses are one line. */
        size_t size = (sizeof *op + 63) & ~(size_t)63;
        if ((op = aligned_alloc(64, size))) memset(op, 0, sizeof *op);
        return op;
    }
    /* Not a memset of the whole op: its address field (128 bytes) is only
     * read after connect or a small send wrote it; kind and fd (the list's
     * link) are set by the caller. */
    op->buf = NULL;
    op->len = 0;
    op->fut = NULL;
    op->next = NULL;
    op->result = 0;
    op->backend = NULL;
    op->completed = false;
    op->addrlen = 0;
    return op;
}

static void op_free(petal_loop_t *loop, petal_sock_op_t *op)
{
    if (op->kind == PETAL_OP_SEND && op->buf != (void *)&op->addr) free(op->buf);
    if (!spare_push(&loop->ops_spare, op, OPS_SPARE_MAX)) free(op);
}

void sock_ops_free(petal_loop_t *loop)
{
    spare_free_all(&loop->ops_spare);
}

/* Finishes op's future with result and frees op (already unlinked). The op
 * goes first: the future's last reference may hold the loop's memory. */
static void finish(petal_loop_t *loop, petal_sock_op_t *op, ssize_t result)
{
    petal_future_t *f = op->fut;
    /* Completing f drops its on_cancel hook (on_cancel) without calling it.
     * (Not pending: the user completed it, wrongly, and it stays so.) */
    if (f->state == FUT_PENDING) {
        if (result < 0) future_complete(f, (int)result, NULL, NULL);
        else future_complete(f, 0, (void *)(intptr_t)result, NULL);
    }
    op_free(loop, op);
    future_unref(f);
}

/* Queues op's result for delivery at the start of the next tick. */
static void complete_later(petal_loop_t *loop, petal_sock_op_t *op, ssize_t result)
{
    op->result = result;
    op->completed = true;
    op->next = NULL;
    if (loop->done_tail) loop->done_tail->next = op;
    else loop->done_head = op;
    loop->done_tail = op;
    host_notify(loop);
}

void sock_deliver(petal_loop_t *loop)
{
    petal_sock_op_t *op = loop->done_head;
    loop->done_head = loop->done_tail = NULL;
    while (op) {
        petal_sock_op_t *next = op->next;
        finish(loop, op, op->result);
        op = next;
    }
}

/* One attempt at the system call. Returns false if it would block. */
static bool attempt(petal_sock_op_t *op, ssize_t *result)
{
    for (;;) {
        ssize_t n;
        switch (op->kind) {
        case PETAL_OP_RECV:
            n = recv(op->fd, op->buf, op->len, MSG_DONTWAIT);
            break;
        case PETAL_OP_SEND:
            n = op->done == op->len ? 0 : send(op->fd, (char *)op->buf + op->done, op->len - op->done, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n >= 0) {
                op->done += (size_t)n;
                if (op->done < op->len) continue;
                n = (ssize_t)op->len;
            }
            break;
        case PETAL_OP_ACCEPT:
            n = accept4(op->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            break;
        case PETAL_OP_CONNECT:
            if (op->done) {    /* in progress: the fd became writable */
                int err = 0;
                socklen_t l = sizeof err;
                n = getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &l) ? -1 : 0;
                if (n == 0 && err) {
                    errno = err;
                    n = -1;
                }
            } else {
                n = connect(op->fd, (struct sockaddr *)&op->addr, op->addrlen);
                if (n < 0 && errno == EINPROGRESS) {
                    op->done = 1;
                    return false;
                }
            }
            break;
        default:
            n = -1;
            errno = EINVAL;
        }
        if (n >= 0) {
            *result = n;
            return true;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
        *result = -errno;
        return true;
    }
}

#define VERIFY_ITERS 8

static void verify_fd(petal_loop_t *loop, int fd, struct fd_entry *e);

static bool may_idle(const petal_loop_t *loop)
{
    return !loop->hosted && !loop->backend->readiness_pins_fd;
}

/* fd still names the file its entry was made for. */
static bool same_file(const struct fd_entry *e, int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == e->dev && st.st_ino == e->ino;
}

/* op (unlinked) finished with result. Reported while the backend polls or
 * reaps, before the iteration's tick (the usual case): finish the future
 * now, while op is in cache; its callbacks are queued as sock_deliver would
 * queue them at the start of that tick. From inside a tick, or behind
 * earlier completions, the list keeps the order. */
static void op_finished(petal_loop_t *loop, petal_sock_op_t *op, ssize_t result)
{
    if (!loop->ticking && !loop->done_head) finish(loop, op, result);
    else complete_later(loop, op, result);
}

/* A receive that got less than it asked for drained its stream socket. */
static void note_drained(struct fd_entry *e, const petal_sock_op_t *op, ssize_t result)
{
    e->rx_drained = op->kind == PETAL_OP_RECV && result >= 0 && (size_t)result < op->len;
}

/* Readiness: serve one side's queue in order until an operation would block;
 * when the queue is empty, stop watching, or leave the receive side idle. */
void sock_ready(petal_loop_t *loop, int fd, bool write)
{
    struct fd_entry *e = fds_entry(loop, fd);
    if (!e) return;
    petal_sock_op_t **q = write ? &e->wq : &e->rq;
    if (!*q) {    /* an idle watch fired: it has served its purpose */
        fds_unwatch(loop, fd, write, OWNER_SOCK);
        return;
    }
    ssize_t result;
    bool served = false;
    while (*q && attempt(*q, &result)) {
        petal_sock_op_t *op = *q;
        *q = op->next;
        if (!write) note_drained(e, op, result);
        op_finished(loop, op, result);
        served = true;
    }
    if (!write && e->unverified) {
        /* Readiness that brought nothing may belong to another file. */
        if (!served) verify_fd(loop, fd, e);
        else unverified_clear(loop, e);
    }
    if (*q || !(write ? e->writer : e->reader)) return;    /* waiting, or restarted */
    if (!write && may_idle(loop)) {
        e->idle_reader = true;
        /* Counted as idle since the tick before this poll's: a receive
         * started in the coming tick waits for the next poll (this one
         * found what there was; trying again at once mostly finds
         * nothing, ping-pong with a peer on this loop included). */
        e->idle_iter = loop->iter - loop->ticking;
    } else {
        fds_unwatch(loop, fd, write, OWNER_SOCK);
    }
}

/* The callback of a socket watch, should a tick run it (petal_core_io
 * serves socket watches at once). status < 0: fd_end failed the
 * operations already. */
static void on_ready(petal_loop_t *loop, int fd, int status, void *arg)
{
    if (status == 0) sock_ready(loop, fd, arg != NULL);
}

static void enqueue(petal_sock_op_t **q, petal_sock_op_t *op)
{
    op->next = NULL;
    while (*q) q = &(*q)->next;
    *q = op;
}

/* Remembers that a receive waits on fd's idle watch unchecked. */
static bool note_unverified(petal_loop_t *loop, int fd, struct fd_entry *e)
{
    if (e->unverified) return true;
    if (loop->n_unverified == loop->unverified_cap) {
        uint32_t cap = loop->unverified_cap ? loop->unverified_cap * 2 : 16;
        struct unverified_ref *a = realloc(loop->unverified, (size_t)cap * sizeof *a);
        if (!a) return false;
        loop->unverified = a;
        loop->unverified_cap = cap;
    }
    if (loop->n_unverified == 0) loop->unverified_iter = loop->iter;
    e->unverified_seq = ++loop->unverified_seq;
    loop->unverified[loop->n_unverified++] = (struct unverified_ref){ fd, e->unverified_seq };
    e->unverified = true;
    e->unverified_iter = loop->iter;
    loop->unverified_live++;
    return true;
}

/* The readiness path of start(): try at once, else queue and watch. */
static int ready_start(petal_loop_t *loop, struct fd_entry *e, petal_sock_op_t *op, bool write)
{
    petal_sock_op_t **q = write ? &e->wq : &e->rq;
    bool idle = !write && e->idle_reader;    /* implies an empty queue */
    ssize_t result;
    if (idle && (loop->iter > e->idle_iter || e->rx_drained) && note_unverified(loop, op->fd, e)) {
        /* A poll since the last receive found nothing to read, or that
         * receive drained the socket: wait for the next poll; the fd's
         * identity is checked later. */
        e->idle_reader = false;
        enqueue(q, op);
        return 0;
    }
    if (!*q && attempt(op, &result)) {
        /* A closed fd is refused at once, as on the completion path (the
         * attempt stands in for prepare()'s fcntl check: fd_known_open). */
        if (result == PETAL_EBADF) {
            if (idle) fds_drop_stale(loop, op->fd, true);
            return PETAL_EBADF;
        }
        if (idle) {
            e->idle_iter = loop->iter;
            note_drained(e, op, result);
        }
        /* Done at once: no watch, no queue; delivered with the next tick. */
        complete_later(loop, op, result);
        return 0;
    }
    if (idle) {
        if (note_unverified(loop, op->fd, e) || same_file(e, op->fd)) {
            e->idle_reader = false;
            enqueue(q, op);
            return 0;
        }
        fds_drop_stale(loop, op->fd, true);
    }
    int rc;
    if (!*q && (rc = fds_watch(loop, op->fd, on_ready, write ? (void *)1 : NULL, write, OWNER_SOCK))) return rc;
    enqueue(q, op);
    return 0;
}

/* Cancelled after it finished but before delivery: the result is dropped
 * (received bytes are lost, an accepted fd is closed), as when a completion
 * backend's cancel loses the race with the kernel. */
static void drop_completed(petal_loop_t *loop, petal_sock_op_t *op)
{
    petal_sock_op_t **p = &loop->done_head, *prev = NULL;
    while (*p != op) {
        prev = *p;
        p = &(*p)->next;
    }
    *p = op->next;
    if (loop->done_tail == op) loop->done_tail = prev;
    if (op->kind == PETAL_OP_ACCEPT && op->result >= 0) close((int)op->result);
    petal_future_t *f = op->fut;
    op_free(loop, op);
    future_unref(f);
}

/* Takes op back from a completion backend: it is no longer out
 * (loop->native_ops, see iterate() in loop.c). */
static void backend_cancel(petal_loop_t *loop, petal_sock_op_t *op)
{
    loop->backend->sock_cancel(loop, op);
    loop->native_ops--;
}

static void on_cancel(petal_future_t *f, void *arg)
{
    (void)f;
    petal_sock_op_t *op = arg;
    petal_loop_t *loop = op->fut->loop;
    if (op->completed) {
        drop_completed(loop, op);
        return;
    }
    struct fd_entry *e = fds_entry(loop, op->fd);
    bool was_head = *queue_of(e, op) == op;
    if (loop->backend->sock_submit) backend_cancel(loop, op);
    unlink_op(e, op);
    petal_future_t *fut = op->fut;
    bool write = sends(op);
    int fd = op->fd;
    op_free(loop, op);
    future_unref(fut);
    if (loop->backend->sock_submit) return;
    if (!*(write ? &e->wq : &e->rq)) fds_unwatch(loop, fd, write, OWNER_SOCK);
    else if (was_head) petal_core_io(loop, fd, write ? PETAL_WRITABLE : PETAL_READABLE);
}

void petal_core_sock_done(petal_loop_t *loop, petal_sock_op_t *op, ssize_t result)
{
    loop->native_ops--;
    struct fd_entry *e = fds_entry(loop, op->fd);
    if (e) {
        petal_sock_op_t **q = queue_of(e, op);
        if (*q == op) *q = op->next;    /* the usual case: queues finish in order */
        else unlink_op(e, op);
        if (result == PETAL_EBADF) e->known_open = false;
    }
    op_finished(loop, op, result);
}

/* Ends every operation of e with err (the fd is closing or gone). */
void sock_fail_all(petal_loop_t *loop, struct fd_entry *e, int err)
{
    petal_sock_op_t *ops[2] = { e->rq, e->wq };
    e->rq = e->wq = NULL;
    for (int k = 0; k < 2; k++)
        while (ops[k]) {
            petal_sock_op_t *op = ops[k];
            ops[k] = op->next;
            if (loop->backend->sock_submit) backend_cancel(loop, op);
            finish(loop, op, err);
        }
}

/* Starts op again from scratch on whatever its fd names now. */
static void restart(petal_loop_t *loop, petal_sock_op_t *op)
{
    struct fd_entry *e = &loop->fds[op->fd];
    bool write = sends(op);
    petal_sock_op_t **q = write ? &e->wq : &e->rq;
    ssize_t result;
    int rc;
    if (!*q && attempt(op, &result)) {
        complete_later(loop, op, result);
    } else if (!*q && (rc = fds_watch(loop, op->fd, on_ready, write ? (void *)1 : NULL, write, OWNER_SOCK))) {
        complete_later(loop, op, rc);
    } else {
        enqueue(q, op);
    }
}

/* Checks that fd still names the file its receives wait on; if not, the
 * stale registration goes (silently: closing an idle socket is legal) and
 * every operation on fd starts again, in order, on the new file. */
static void verify_fd(petal_loop_t *loop, int fd, struct fd_entry *e)
{
    unverified_clear(loop, e);
    if (same_file(e, fd)) return;
    petal_sock_op_t *ops[2] = { e->rq, e->wq };
    e->rq = e->wq = NULL;
    fds_drop_stale(loop, fd, true);
    for (int k = 0; k < 2; k++)
        while (ops[k]) {
            petal_sock_op_t *op = ops[k];
            ops[k] = op->next;
            restart(loop, op);
        }
}

/* all: every waiting receive (the loop is about to block); else those that
 * have waited VERIFY_ITERS iterations. The list is in queueing order; an
 * entry whose receive was served meanwhile (its fd no longer carries the
 * entry's seq) is dropped, so each receive is looked at a bounded number
 * of times. */
void sock_verify(petal_loop_t *loop, bool all)
{
    if (!loop->unverified_live) {    /* every entry is stale */
        loop->n_unverified = 0;
        return;
    }
    if (!all && loop->iter - loop->unverified_iter < VERIFY_ITERS) return;
    uint32_t n = loop->n_unverified, kept = 0;
    struct unverified_ref *refs = loop->unverified;
    loop->unverified = NULL;    /* verify_fd may queue new entries: a fresh list */
    loop->n_unverified = loop->unverified_cap = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct fd_entry *e = fds_entry(loop, refs[i].fd);
        if (!e || !e->unverified || e->unverified_seq != refs[i].seq) continue;
        if (all || loop->iter - e->unverified_iter >= VERIFY_ITERS) {
            verify_fd(loop, refs[i].fd, e);
            continue;
        }
        refs[kept++] = refs[i];
    }
    if (kept && !loop->unverified) {
        loop->unverified = refs;
        loop->n_unverified = kept;
        loop->unverified_cap = n;
        loop->unverified_iter = fds_entry(loop, refs[0].fd)->unverified_iter;
        return;
    }
    /* Nothing kept, or verify_fd started a list of its own (never in
     * practice: restarted receives are watched afresh, not idle). */
    for (uint32_t i = 0; i < kept; i++) {
        struct fd_entry *e = fds_entry(loop, refs[i].fd);
        unverified_clear(loop, e);
        if (!note_unverified(loop, refs[i].fd, e)) verify_fd(loop, refs[i].fd, e);
    }
    free(refs);
}

__attribute__((always_inline)) static inline int start(petal_loop_t *loop, petal_sock_op_t *op,
                                                       petal_future_t **out)
{
    int rc;
    if (__builtin_expect(op->fd >= loop->fds_cap, 0) && (rc = fds_reserve(loop, op->fd))) return rc;
    struct fd_entry *e = &loop->fds[op->fd];
    bool write = sends(op);
    if (e->internal) return PETAL_EINTERNALFD;
    if ((write ? e->writer : e->reader) && !(write ? e->sock_writer : e->sock_reader)) return PETAL_EBUSY;
    /* Two references: the operation's and the caller's. */
    petal_future_t *f = op->fut = future_alloc(loop, 2);
    if (!f) return PETAL_ENOMEM;
    if (loop->backend->sock_submit) {
        enqueue(queue_of(e, op), op);
        rc = loop->backend->sock_submit(loop, op);
        if (op->kind == PETAL_OP_SEND) op->buf = NULL;    /* the caller's bytes, lent for the call */
        if (rc) {
            unlink_op(e, op);
            f->refs = 1;
            future_unref(f);
            return rc;
        }
        e->known_open = true;    /* prepare() checked it, or an earlier call did */
        loop->native_ops++;
    } else if ((rc = ready_start(loop, e, op, write))) {
        f->refs = 1;
        future_unref(f);
        return rc;
    }
    future_on_cancel(f, on_cancel, op);
    *out = f;
    return 0;
}

/* Whether a recv or send (of at least one byte) may skip prepare()'s
 * fcntl() check for a closed fd: a system call per operation, a quarter of
 * petal's calls on the readiness path and about 30% of petal's time on
 * io_uring in echo_tcp (bench/README.md). It may when
 * - the readiness path will try the call at once (first in its queue): the
 *   call itself says EBADF and start() refuses the fd synchronously; a
 *   receive queued on an idle watch without trying is checked later and
 *   ends with PETAL_EBADF through its future, or
 * - the fd was checked open before and not announced closed since
 *   (known_open: an earlier operation, finished or pending; cleared by
 *   petal_fd_closing() and by a completion with EBADF). Closed without the
 *   announcement, the kernel's EBADF ends the operation (its future)
 *   instead of the call, as on the readiness path's idle watch; a reused
 *   number passes fcntl() anyway.
 * So PETAL_EBADF comes from the call for an fd petal never saw open, and
 * from the call or the future for one it used and that was closed behind
 * its back. accept and connect always need the flags (O_NONBLOCK). */
static inline bool fd_known_open(petal_loop_t *loop, int fd, petal_op_kind kind, size_t len)
{
    if ((kind != PETAL_OP_RECV && kind != PETAL_OP_SEND) || len == 0) return false;
    if (!loop->backend->sock_submit) return true;
    struct fd_entry *e = fds_entry(loop, fd);
    return e && (e->rq || e->wq || e->known_open);
}

/* Validates arguments and allocates the operation. */
static inline int prepare(petal_loop_t *loop, int fd, size_t len, petal_future_t **out, petal_op_kind kind,
                   petal_sock_op_t **opp)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    int rc = loop_check(loop);
    if (rc) return rc;
    if (fd < 0) return PETAL_EBADF;
    if (!fd_known_open(loop, fd, kind, len)) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0) return PETAL_EBADF;
        if ((kind == PETAL_OP_ACCEPT || kind == PETAL_OP_CONNECT) && !(fl & O_NONBLOCK)) return PETAL_EINVAL;
    }
    petal_sock_op_t *op = op_new(loop);
    if (!op) return PETAL_ENOMEM;
    op->kind = kind;
    op->fd = fd;
    *opp = op;
    return 0;
}

static inline int submit(petal_loop_t *loop, petal_sock_op_t *op, petal_future_t **out)
{
    int rc = start(loop, op, out);
    if (rc) op_free(loop, op);
    return rc;
}

int petal_sock_recv(petal_loop_t *loop, int fd, void *buf, size_t len, petal_future_t **out)
{
    if (!buf && len) return PETAL_EINVAL;
    petal_sock_op_t *op;
    int rc = prepare(loop, fd, len, out, PETAL_OP_RECV, &op);
    if (rc) return rc;
    op->buf = buf;
    op->len = len;
    return submit(loop, op, out);
}

int petal_sock_send(petal_loop_t *loop, int fd, const void *buf, size_t len, petal_future_t **out)
{
    if (!buf && len) return PETAL_EINVAL;
    petal_sock_op_t *op;
    int rc = prepare(loop, fd, len, out, PETAL_OP_SEND, &op);
    if (rc) return rc;
    op->len = len;
    if (loop->backend->sock_submit) {
        /* The backend copies the bytes in sock_submit (one copy, not two). */
        op->buf = (void *)buf;
        return submit(loop, op, out);
    }
    /* petal owns a copy while the send waits: the caller's buffer is free
     * as soon as we return, and a cancelled send can never read freed
     * memory. A small send is tried from the caller's bytes first and
     * copied (into the op) only if it must wait; a large one is copied
     * before, so that no allocation can fail after it was queued. */
    op->done = 0;
    bool small = len <= sizeof op->addr;
    if (small) {
        op->buf = (void *)buf;
    } else {
        if (!(op->buf = malloc(len))) {
            op->buf = NULL;
            op_free(loop, op);
            return PETAL_ENOMEM;
        }
        memcpy(op->buf, buf, len);
    }
    if ((rc = start(loop, op, out))) {
        if (small) op->buf = NULL;
        op_free(loop, op);
        return rc;
    }
    if (small) {
        if (op->completed) {
            op->buf = NULL;    /* done at once: nothing reads it again */
        } else {
            memcpy(&op->addr, buf, len);
            op->buf = &op->addr;
        }
    }
    return 0;
}

int petal_sock_accept(petal_loop_t *loop, int fd, petal_future_t **out)
{
    petal_sock_op_t *op;
    int rc = prepare(loop, fd, 0, out, PETAL_OP_ACCEPT, &op);
    return rc ? rc : submit(loop, op, out);
}

int petal_sock_connect(petal_loop_t *loop, int fd, const struct sockaddr *addr, socklen_t addrlen,
                       petal_future_t **out)
{
    if (!addr || addrlen == 0 || addrlen > sizeof(struct sockaddr_storage)) return PETAL_EINVAL;
    petal_sock_op_t *op;
    int rc = prepare(loop, fd, 0, out, PETAL_OP_CONNECT, &op);
    if (rc) return rc;
    memcpy(&op->addr, addr, addrlen);
    op->addrlen = addrlen;
    op->done = 0;
    return submit(loop, op, out);
}

int petal_loop_has_native_sock(const petal_loop_t *loop)
{
    int rc = loop_check(loop);
    return rc ? rc : loop->backend->sock_submit != NULL;
}

ssize_t petal_sock_result(const petal_future_t *fut)
{
    if (!fut) return PETAL_EINVAL;
    if (fut->state == FUT_PENDING) return PETAL_EINVALSTATE;
    return fut->err ? fut->err : (ssize_t)(intptr_t)fut->value;
}
