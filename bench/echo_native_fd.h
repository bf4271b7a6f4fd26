/* The read/write side of echo_tcp for the readiness-based native loops
 * (libev, libevent): what their callbacks do once an fd is readable. Plain
 * read/write system calls on non-blocking sockets. With at most one 64-byte
 * message in flight per connection the socket buffer is never full, so a
 * write always takes everything; anything less fails the run loudly. */
#ifndef ECHO_NATIVE_FD_H
#define ECHO_NATIVE_FD_H

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/echo_bench.h"

static inline void echo_fd_write(const char *impl, int fd, const void *buf, size_t len)
{
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n != (ssize_t)len) echo_die(impl, "write (short or failed)", n < 0 ? -errno : -EAGAIN);
}

/* Sends c's next message, if any. */
static inline void echo_fd_client_next(const char *impl, struct echo_run *r, struct echo_client *c)
{
    if (echo_next(r, c)) echo_fd_write(impl, c->fd, c->out, ECHO_MSG);
}

/* Server connection readable: echo what is there. */
static inline void echo_fd_server_readable(const char *impl, int fd, unsigned char *buf)
{
    ssize_t n = read(fd, buf, ECHO_MSG);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) echo_die(impl, "server read", n < 0 ? -errno : -EPIPE);
    echo_fd_write(impl, fd, buf, (size_t)n);
}

/* Client readable: collect the echo; when complete, check it and send the
 * next message. Returns true once every round trip is done. */
static inline bool echo_fd_client_readable(const char *impl, struct echo_run *r, struct echo_client *c)
{
    ssize_t n = read(c->fd, c->in + c->got, ECHO_MSG - c->got);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    if (n <= 0) echo_die(impl, "client read", n < 0 ? -errno : -EPIPE);
    c->got += (size_t)n;
    if (c->got < ECHO_MSG) return false;
    echo_check(r, c);
    if (echo_finished(r)) return true;
    echo_fd_client_next(impl, r, c);
    return false;
}

/* Listener readable: accept what is waiting; returns the new fd or -1. */
static inline int echo_fd_accept(const char *impl, struct echo_run *r)
{
    int fd = accept4(r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno == EAGAIN || errno == EINTR) return -1;
        echo_die(impl, "accept4", -errno);
    }
    echo_accepted(r, fd);
    return fd;
}

#endif
