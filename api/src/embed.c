/* Embedding a petal loop in another event loop (GLib, sd-event, Qt...).
 *
 * Not every native library can expose one pollable fd (libev and libevent
 * keep theirs private), so the core keeps its own epoll set mirroring every
 * fd petal watches, plus the wakeup eventfd and the backend's own completion
 * fd if it has one. The other loop polls that set; petal_loop_run_ready()
 * then runs one native iteration that does not block. Mirroring costs one
 * epoll_ctl per interest change, and only once embedding was asked for. */
#include <sys/epoll.h>
#include <unistd.h>

#include "loop_internal.h"

static int ctl(int epfd, int op, int fd, unsigned events)
{
    struct epoll_event ev = { 0 };
    ev.events = ((events & PETAL_READABLE) ? EPOLLIN : 0u) | ((events & PETAL_WRITABLE) ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    return epoll_ctl(epfd, op, fd, &ev) == 0 ? 0 : -errno;
}

void embed_update(petal_loop_t *loop, int fd, unsigned events)
{
    int rc = events ? ctl(loop->embed_fd, EPOLL_CTL_MOD, fd, events) : ctl(loop->embed_fd, EPOLL_CTL_DEL, fd, 0);
    if (rc == -ENOENT && events) rc = ctl(loop->embed_fd, EPOLL_CTL_ADD, fd, events);
    if (rc && !(rc == -ENOENT && !events) && !(rc == -EBADF && !events))
        petal_core_report(loop, rc, fd, "embedding: could not mirror fd interest");
}

int petal_loop_embed_fd(petal_loop_t *loop)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (loop->hosted) return PETAL_EINVAL;
    if (loop->embed_fd >= 0) return loop->embed_fd;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -errno;
    for (int fd = 0; fd < loop->fds_cap; fd++) {
        if (!loop->fds[fd].events) continue;
        if ((rc = ctl(ep, EPOLL_CTL_ADD, fd, loop->fds[fd].events))) goto fail;
    }
    if (loop->backend->embed_fd) {
        int bfd = loop->backend->embed_fd(loop);
        if (bfd >= 0 && (rc = ctl(ep, EPOLL_CTL_ADD, bfd, PETAL_READABLE))) goto fail;
    }
    loop->embed_fd = ep;
    return ep;
fail:
    close(ep);
    return rc;
}

int petal_loop_embed_timeout(petal_loop_t *loop, int *timeout_ms)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (!timeout_ms) return PETAL_EINVAL;
    *timeout_ms = petal_core_timeout_ms(loop);
    return 0;
}

int petal_loop_run_ready(petal_loop_t *loop)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    loop->no_wait = true;
    rc = petal_loop_run_once(loop);
    loop->no_wait = false;
    return rc;
}

void embed_destroy(petal_loop_t *loop)
{
    if (loop->embed_fd >= 0) close(loop->embed_fd);
    loop->embed_fd = -1;
}
