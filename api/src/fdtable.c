/* The fd table: which callback watches which fd. One reader and one writer
 * per fd, merged into one native registration, so backends that allow only
 * one watcher per fd (libuv) behave like the others.
 *
 * Each entry remembers the identity (st_dev, st_ino) of the file it watches.
 * When an fd is closed without petal_fd_closing() and its number is reused,
 * the next add_* on that number notices the new identity, drops the stale
 * watch, reports it through the error hook, and watches the new file.
 *
 * An idle socket watch (sock.c: armed, no operation waiting) is not a watch
 * as far as users can tell: a user reader takes its place, remove_reader and
 * petal_fd_closing() do not count it, and dropping it is never reported. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "loop_internal.h"

int fds_reserve(petal_loop_t *loop, int fd)
{
    if (fd < loop->fds_cap) return 0;
    int cap = loop->fds_cap ? loop->fds_cap : 64;
    while (cap <= fd) cap *= 2;
    struct fd_entry *f = realloc(loop->fds, (size_t)cap * sizeof *f);
    if (!f) return PETAL_ENOMEM;
    memset(f + loop->fds_cap, 0, (size_t)(cap - loop->fds_cap) * sizeof *f);
    loop->fds = f;
    loop->fds_cap = cap;
    return 0;
}

/* Something waits on fd: a user watch, a socket operation, or a socket
 * watch that serves one. Not an idle socket watch. */
static bool live(const struct fd_entry *e)
{
    return (e->reader && !e->idle_reader) || e->writer || e->rq || e->wq;
}

static bool any(const struct fd_entry *e)
{
    return e->reader || e->writer || e->rq || e->wq;
}

static unsigned wanted(const struct fd_entry *e)
{
    return (e->reader ? PETAL_READABLE : 0u) | (e->writer ? PETAL_WRITABLE : 0u);
}

static int apply(petal_loop_t *loop, int fd, struct fd_entry *e)
{
    unsigned events = wanted(e);
    if (events == e->events) return 0;
    int rc = loop->backend->fd_watch(loop, fd, &e->state, events);
    if (rc) return rc;
    if (!e->internal) loop->user_fds += (events != 0) - (e->events != 0);
    e->events = events;
    if (loop->embed_fd >= 0) embed_update(loop, fd, events);
    return 0;
}

static void drop_watch(petal_loop_t *loop, petal_handle_t *h, int fd, int status)
{
    if (!*h) return;
    uint32_t i = HANDLE_INDEX(*h);
    struct slot *s = slot_lookup(loop, *h);
    *h = 0;
    if (!s) return;
    if (status == 0) {
        slots_free(loop, i);
        return;
    }
    /* Wake the watcher once with the error: turn its slot into a one-shot. */
    s->kind = SLOT_IO_END;
    s->status = status;
    s->aux = (uint32_t)fd;
    if (!s->queued && ready_push(loop, make_handle(i, s->gen)) != 0)
        slots_free(loop, i);
}

/* Ends every watch and socket operation on fd: waiters get `status` (0 =
 * watches silently, operations with PETAL_EBADF), the backend forgets fd. */
static void fd_end(petal_loop_t *loop, int fd, struct fd_entry *e, int status)
{
    sock_fail_all(loop, e, status ? status : PETAL_EBADF);
    drop_watch(loop, &e->reader, fd, e->sock_reader ? 0 : status);
    drop_watch(loop, &e->writer, fd, e->sock_writer ? 0 : status);
    if (e->state || e->events) loop->backend->fd_forget(loop, fd, &e->state);
    if (e->events && loop->embed_fd >= 0) embed_update(loop, fd, 0);
    if (!e->internal && e->events) loop->user_fds--;
    unverified_clear(loop, e);
    memset(e, 0, sizeof *e);
}

void fds_drop_stale(petal_loop_t *loop, int fd, bool quiet)
{
    struct fd_entry *e = fds_entry(loop, fd);
    if (!e || (!any(e) && !e->state)) return;
    if (live(e) && !quiet)
        petal_core_report(loop, PETAL_EBADF, fd, "fd was closed while watched and its number reused; stale watch dropped");
    fd_end(loop, fd, e, 0);
}

int fds_watch(petal_loop_t *loop, int fd, petal_io_cb cb, void *arg, bool write, enum watch_owner owner)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (!cb) return PETAL_EINVAL;
    if (fd < 0) return PETAL_EBADF;
    struct stat st;
    if (fstat(fd, &st) != 0) return PETAL_EBADF;
    /* No readiness model for files and directories (epoll refuses them; some
     * backends would call them always ready): refuse on every backend. */
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) return PETAL_EPERM;
    if ((rc = fds_reserve(loop, fd))) return rc;
    struct fd_entry *e = &loop->fds[fd];
    if (e->internal && owner != OWNER_INTERNAL) return PETAL_EINTERNALFD;
    /* The number names another file than the one watched before: the
     * backend forgets the old one, also when only its state was left (a
     * native loop may still believe the number registered with the kernel). */
    if ((any(e) || e->state) && (e->dev != st.st_dev || e->ino != st.st_ino)) fds_drop_stale(loop, fd, false);
    if (owner == OWNER_USER && !write && e->idle_reader) {
        /* The user's reader replaces the idle socket watch: same interest,
         * so the backend is not even told. */
        drop_watch(loop, &e->reader, fd, 0);
        e->sock_reader = e->idle_reader = false;
    }
    bool *sock_owned = write ? &e->sock_writer : &e->sock_reader;
    petal_handle_t *slot_of = write ? &e->writer : &e->reader;
    /* A user watch and socket operations cannot share one direction. */
    if (*slot_of && *sock_owned != (owner == OWNER_SOCK)) return PETAL_EBUSY;
    if (owner == OWNER_USER && (write ? e->wq : e->rq)) return PETAL_EBUSY;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->internal = owner == OWNER_INTERNAL;

    uint32_t i;
    if ((rc = slots_alloc(loop, SLOT_WATCH, (void *)cb, arg, &i))) return rc;
    loop->slots[i].aux = (uint32_t)fd;
    petal_handle_t old = *slot_of;
    *slot_of = make_handle(i, loop->slots[i].gen);
    if ((rc = apply(loop, fd, e))) {
        *slot_of = old;
        slots_free(loop, i);
        if (!e->reader && !e->writer && !e->events && !e->rq && !e->wq) fd_end(loop, fd, e, 0);
        return rc;
    }
    *sock_owned = owner == OWNER_SOCK;
    if (old) slots_free(loop, HANDLE_INDEX(old)); /* replaced: a queued old run is skipped */
    return 0;
}

int fds_unwatch(petal_loop_t *loop, int fd, bool write, enum watch_owner owner)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (fd < 0) return PETAL_EBADF;
    struct fd_entry *e = fds_entry(loop, fd);
    if (!e) return PETAL_ENOENT;
    if (e->internal) return PETAL_EINTERNALFD;
    petal_handle_t *h = write ? &e->writer : &e->reader;
    /* Socket operations own this side, with or without a watch (io_uring). */
    if (owner == OWNER_USER && (write ? e->wq : e->rq)) return PETAL_EBUSY;
    if (!*h || (owner == OWNER_USER && !write && e->idle_reader)) return PETAL_ENOENT;
    if ((write ? e->sock_writer : e->sock_reader) != (owner == OWNER_SOCK)) return PETAL_EBUSY;
    drop_watch(loop, h, fd, 0);
    if (write) e->sock_writer = false;
    else e->sock_reader = e->idle_reader = false;
    rc = apply(loop, fd, e);
    if (rc) {
        /* The native loop refused to change interest: forget the fd whole
         * rather than leave a watch petal no longer dispatches. */
        petal_core_report(loop, rc, fd, "backend failed to update fd interest");
        fd_end(loop, fd, e, PETAL_ECANCELED);
    }
    return 0;
}

int petal_add_reader(petal_loop_t *loop, int fd, petal_io_cb cb, void *arg)
{
    return fds_watch(loop, fd, cb, arg, false, OWNER_USER);
}

int petal_add_writer(petal_loop_t *loop, int fd, petal_io_cb cb, void *arg)
{
    return fds_watch(loop, fd, cb, arg, true, OWNER_USER);
}

int petal_remove_reader(petal_loop_t *loop, int fd)
{
    return fds_unwatch(loop, fd, false, OWNER_USER);
}

int petal_remove_writer(petal_loop_t *loop, int fd)
{
    return fds_unwatch(loop, fd, true, OWNER_USER);
}

int petal_fd_closing(petal_loop_t *loop, int fd)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (fd < 0) return PETAL_EBADF;
    struct fd_entry *e = fds_entry(loop, fd);
    if (e && e->internal) return PETAL_EINTERNALFD;
    if (!e || !live(e)) {
        /* An idle socket watch must not outlive the file either. */
        if (e && any(e)) fd_end(loop, fd, e, 0);
        return PETAL_ENOENT;
    }
    fd_end(loop, fd, e, PETAL_ECANCELED);
    return 0;
}

static inline void queue_watch(petal_loop_t *loop, petal_handle_t h)
{
    struct slot *s = slot_lookup(loop, h);
    if (s && !s->queued && ready_push(loop, h) == 0) s->queued = 1;
}

/* A user's watch queues its callback (it runs in this iteration's tick); a
 * watch that serves socket operations is served at once (sock_ready), so
 * they finish in the iteration whose poll found the fd ready, as on a
 * completion backend. */
void petal_core_io(petal_loop_t *loop, int fd, unsigned events)
{
    struct fd_entry *e = fds_entry(loop, fd);
    if (!e) return;
    /* Both read first: queueing may notify a host, and serving may change
     * e (sock.c), which may end the other watch. */
    petal_handle_t r = (events & PETAL_READABLE) ? e->reader : 0, w = (events & PETAL_WRITABLE) ? e->writer : 0;
    bool r_sock = e->sock_reader, w_sock = e->sock_writer;
    if (r) {
        if (r_sock) sock_ready(loop, fd, false);
        else queue_watch(loop, r);
    }
    if (w) {
        if (!w_sock) queue_watch(loop, w);
        else if ((e = fds_entry(loop, fd)) && e->writer == w) sock_ready(loop, fd, true);
    }
}

void petal_core_io_error(petal_loop_t *loop, int fd, int err)
{
    struct fd_entry *e = fds_entry(loop, fd);
    if (!e || !any(e)) return;
    if (live(e)) petal_core_report(loop, err, fd, "native loop reported an error on a watched fd; watch dropped");
    fd_end(loop, fd, e, err);
}

int petal_core_fd_check(petal_loop_t *loop, int fd)
{
    struct fd_entry *e = fds_entry(loop, fd);
    if (!e || !any(e)) return 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_dev == e->dev && st.st_ino == e->ino) return 0;
    petal_core_io_error(loop, fd, PETAL_EBADF);
    return PETAL_EBADF;
}

bool petal_core_fd_internal(petal_loop_t *loop, int fd)
{
    struct fd_entry *e = fds_entry(loop, fd);
    return e && e->internal;
}

void fds_destroy(petal_loop_t *loop)
{
    for (int fd = 0; fd < loop->fds_cap; fd++) {
        struct fd_entry *e = &loop->fds[fd];
        if (e->reader || e->writer || e->state || e->rq || e->wq) fd_end(loop, fd, e, PETAL_ECANCELED);
    }
    free(loop->fds);
    loop->fds = NULL;
    loop->fds_cap = 0;
    free(loop->unverified);
    loop->unverified = NULL;
    loop->n_unverified = loop->unverified_cap = loop->unverified_live = 0;
}
