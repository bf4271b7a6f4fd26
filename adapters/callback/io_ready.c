/* Transports on readiness backends (libuv, libev, libevent), as asyncio's
 * selector transport: the read watch stays armed while reading; write()
 * tries the system call first and only watches for writability when the
 * kernel's buffer is full. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "adapters/callback/transport_internal.h"

static void on_readable(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)loop;
    petal_transport_t *t = arg;
    if (status < 0) {    /* the fd was announced closing behind our back */
        t->reader_on = false;
        pcb_transport_force_close(t, status);
        return;
    }
    /* One buffer per loop: data_received has it for the length of the call
     * only, and a loop runs its callbacks one at a time. */
    unsigned char *buf = t->reg->rbuf;
    ssize_t n = recv(fd, buf, TRANSPORT_READ_SIZE, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        n = -errno;
    }
    pcb_transport_on_read(t, buf, n);
}

void pcb_ready_start_reading(petal_transport_t *t)
{
    if (t->reader_on) return;
    int rc = petal_add_reader(t->loop, t->fd, on_readable, t);
    if (rc) pcb_transport_force_close(t, rc);
    else t->reader_on = true;
}

void pcb_ready_stop_reading(petal_transport_t *t)
{
    if (!t->reader_on) return;
    petal_remove_reader(t->loop, t->fd);
    t->reader_on = false;
}

void pcb_ready_stop_all(petal_transport_t *t)
{
    pcb_ready_stop_reading(t);
    if (t->writer_on) petal_remove_writer(t->loop, t->fd);
    t->writer_on = false;
}

/* One non-blocking send: bytes sent, 0 if the kernel is full, or -errno. */
static ssize_t send_some(int fd, const struct iovec *iov, int iovcnt)
{
    for (;;) {
        ssize_t n;
        if (iovcnt == 1) {
            n = send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
        } else {
            struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
            n = sendmsg(fd, &m, MSG_NOSIGNAL);
        }
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -errno;
    }
}

static void on_writable(petal_loop_t *loop, int fd, int status, void *arg)
{
    petal_transport_t *t = arg;
    if (status < 0) {
        t->writer_on = false;
        pcb_transport_force_close(t, status);
        return;
    }
    struct iovec v = { t->wbuf + t->wpos, t->wlen - t->wpos };
    ssize_t n = v.iov_len ? send_some(fd, &v, 1) : 0;
    if (n < 0) {
        pcb_transport_force_close(t, (int)n);
        return;
    }
    pcb_transport_consume(t, (size_t)n);
    if (t->wlen > t->wpos) {
        pcb_transport_maybe_resume(t);
        return;
    }
    petal_remove_writer(loop, fd);
    t->writer_on = false;
    pcb_transport_write_drained(t);
}

int pcb_ready_write(petal_transport_t *t, const struct iovec *iov, int iovcnt, size_t total)
{
    ssize_t n = 0;
    if (!t->writer_on && t->wlen == t->wpos) {
        if ((n = send_some(t->fd, iov, iovcnt)) < 0) {
            pcb_transport_force_close(t, (int)n);    /* reported by connection_lost */
            return 0;
        }
        if ((size_t)n == total) return 0;
    }
    int rc = pcb_transport_buffer(t, iov, iovcnt, (size_t)n);
    if (rc) {
        pcb_transport_force_close(t, rc);    /* bytes were lost: the stream is broken */
        return rc;
    }
    if (!t->writer_on) {
        if ((rc = petal_add_writer(t->loop, t->fd, on_writable, t))) {
            pcb_transport_force_close(t, rc);
            return 0;
        }
        t->writer_on = true;
    }
    return 0;
}
