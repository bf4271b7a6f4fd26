/* fd readiness on io_uring: one one-shot IORING_OP_POLL_ADD per watched fd.
 *
 * Level-triggered like every petal backend: a completed poll is re-armed
 * before the next wait while the watch exists, so an fd that is still ready
 * completes again at once. Interest changes are applied lazily (before the
 * next wait) by removing the old poll and arming a new one; an fd whose
 * watch ends, or which is about to be closed, has its poll removed at once.
 *
 * Each poll is a struct uop that lives until its terminal CQE, even after a
 * successful removal (liburing#733); once petal no longer wants its result
 * it is detached (op->f = NULL) and its CQE is dropped, so a completion for
 * a forgotten or reused fd never reaches the core. Closing an fd does not end
 * a poll on it (the ring holds a file reference, liburing#568), which is why
 * fd_forget removes the poll by user_data and submits the removal before it
 * returns: the file (and e.g. a socket's FIN) is released when the user
 * closes the fd.
 *
 * The identity check (petal_core_fd_check) runs when a watch is armed for
 * the first time or its interest changes, not when a poll that fired is
 * re-armed for the same watch: that is the pingpong hot path, and the
 * guarantees for an fd closed without petal_fd_closing() still hold (a
 * closed fd's poll completes with EBADF and the watchers get it; a new file
 * on the number is checked when it is watched). Finished poll requests are
 * kept on a small free list instead of a calloc/free per readiness. */
#include <poll.h>
#include <stdlib.h>

#include "uring_internal.h"

static uint64_t op_data(const void *p)
{
    return (uint64_t)(uintptr_t)p | UOP_TAG;
}

static unsigned poll_mask(unsigned want)
{
    return ((want & PETAL_READABLE) ? POLLIN : 0u) | ((want & PETAL_WRITABLE) ? POLLOUT : 0u);
}

static void mark_dirty(struct ub *b, struct ufd *f)
{
    if (f->is_dirty) return;
    f->is_dirty = true;
    f->next_dirty = b->dirty;
    b->dirty = f;
}

static void unlink_dirty(struct ub *b, struct ufd *f)
{
    if (!f->is_dirty) return;
    for (struct ufd **p = &b->dirty; *p; p = &(*p)->next_dirty)
        if (*p == f) {
            *p = f->next_dirty;
            break;
        }
    f->is_dirty = false;
}

#define SPARE_MAX 64

static struct uop *op_new(struct ub *b)
{
    struct uop *op = (struct uop *)b->spare;
    if (op) {
        b->spare = op->h.next;
        b->nspare--;
        op->f = NULL;
    } else if (!(op = calloc(1, sizeof *op))) {
        return NULL;
    }
    op->h.type = UOP_POLL;
    op->h.b = b;
    op->prev = NULL;
    op->next = b->ops;
    if (b->ops) b->ops->prev = op;
    b->ops = op;
    b->nops++;
    return op;
}

static void op_free(struct uop *op)
{
    struct ub *b = op->h.b;
    if (op->prev) op->prev->next = op->next;
    else b->ops = op->next;
    if (op->next) op->next->prev = op->prev;
    b->nops--;
    if (b->loop && b->nspare < SPARE_MAX) {
        op->h.next = b->spare;
        b->spare = &op->h;
        b->nspare++;
        return;
    }
    free(op);
}

void uring_poll_spares_free(struct ub *b)
{
    while (b->spare) {
        struct uhead *h = b->spare;
        b->spare = h->next;
        free(h);
    }
    b->nspare = 0;
}

/* Detaches f's poll now and queues its removal; the op itself is freed by
 * its own (-ECANCELED or late) CQE. Returns true if a removal was queued. */
static bool cancel(struct ub *b, struct ufd *f)
{
    struct uop *op = f->armed;
    if (!op) return false;
    f->armed = NULL;
    op->f = NULL;
    struct io_uring_sqe *sqe = uring_sqe(b);
    if (!sqe) {
        /* The poll stays until it fires or the ring goes; its CQE is ignored. */
        if (b->loop) petal_core_report(b->loop, PETAL_EBUSY, f->fd, "io_uring SQ full: poll not removed");
        return false;
    }
    io_uring_prep_poll_remove(sqe, op_data(op));
    io_uring_sqe_set_data64(sqe, op_data(&uring_cancel_marker));
    return true;
}

static int arm(struct ub *b, struct ufd *f, unsigned mask)
{
    struct uop *op = op_new(b);
    if (!op) return PETAL_ENOMEM;
    struct io_uring_sqe *sqe = uring_sqe(b);
    if (!sqe) {
        op_free(op);
        return PETAL_EBUSY;
    }
    op->f = f;
    io_uring_prep_poll_add(sqe, f->fd, mask);
    io_uring_sqe_set_data64(sqe, op_data(op));
    f->armed = op;
    f->armed_mask = mask;
    return 0;
}

void uring_flush(struct ub *b)
{
    while (b->dirty) {
        struct ufd *f = b->dirty;
        b->dirty = f->next_dirty;
        f->is_dirty = false;
        unsigned mask = poll_mask(f->want);
        bool rearm = f->rearm && !f->armed && f->armed_mask == mask;
        f->rearm = false;
        if (f->armed && f->armed_mask == mask) continue;
        /* The fd may have been closed (or its number reused) since petal was
         * told about it: check before the kernel takes a reference to
         * whatever the number names now. On failure f is forgotten. */
        if (mask && !rearm && petal_core_fd_check(b->loop, f->fd) != 0) continue;
        cancel(b, f);
        if (!mask) continue;
        int rc = arm(b, f, mask);
        if (rc) petal_core_io_error(b->loop, f->fd, rc);    /* forgets f */
    }
}

int uring_fd_watch(petal_loop_t *loop, int fd, void **fd_state, unsigned events)
{
    struct ub *b = uring_state(loop);
    struct ufd *f = *fd_state;
    if (!f) {
        if (!events) return 0;
        if (!(f = calloc(1, sizeof *f))) return PETAL_ENOMEM;
        f->fd = fd;
        f->user = !petal_core_fd_internal(loop, fd);
        *fd_state = f;
    }
    if (f->user) b->user_fds += (events != 0) - (f->want != 0);
    f->want = events;
    f->rearm = false;
    if (!events) {
        /* No watcher left: remove the poll now. The user may close the fd
         * without petal_fd_closing() (nothing is watched) and its number
         * may name another file by the time it is watched again. */
        unlink_dirty(b, f);
        if (cancel(b, f)) uring_submit(b);
        return 0;
    }
    mark_dirty(b, f);
    return 0;
}

void uring_fd_forget(petal_loop_t *loop, int fd, void **fd_state)
{
    (void)fd;
    struct ub *b = uring_state(loop);
    struct ufd *f = *fd_state;
    *fd_state = NULL;
    if (!f) return;
    unlink_dirty(b, f);
    if (f->user && f->want) b->user_fds--;
    /* Submit at once: the removal must reach the kernel before close(fd). */
    if (cancel(b, f)) uring_submit(b);
    free(f);
}

void uring_poll_done(struct uop *op, int res)
{
    struct ub *b = op->h.b;
    struct ufd *f = op->f;
    op_free(op);
    if (!b->loop) {
        /* The loop was closed (host mode): the last CQE frees the state. */
        uring_free(b);
        return;
    }
    if (!f) return;    /* stale: removed, replaced or forgotten */
    f->armed = NULL;
    petal_loop_t *loop = b->loop;
    if (res == -ECANCELED) {
        /* Not our removal: the kernel dropped the request (e.g. the thread
         * that submitted it exited). The watch still exists: re-arm. */
        mark_dirty(b, f);
        return;
    }
    if (res < 0 || (res & POLLNVAL)) {
        petal_core_io_error(loop, f->fd, res < 0 ? res : PETAL_EBADF);    /* forgets f */
        return;
    }
    mark_dirty(b, f);    /* one-shot: re-armed before the next wait */
    f->rearm = true;
    unsigned ev = 0;
    if (res & (POLLIN | POLLPRI | POLLRDHUP | POLLHUP | POLLERR)) ev |= PETAL_READABLE;
    if (res & (POLLOUT | POLLHUP | POLLERR)) ev |= PETAL_WRITABLE;
    petal_core_io(loop, f->fd, ev);
}
