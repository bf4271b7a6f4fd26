/* The transport object: lifecycle, protocol callbacks, write buffer, and the
 * public petal_transport_* calls. The I/O itself is in io_ready.c
 * (readiness backends) or io_native.c (io_uring completions).
 *
 * Lifetime: one reference until connection_lost has run, plus one per
 * callback of ours still scheduled or in flight (io_native.c), so a
 * completion that arrives after connection_lost never touches freed memory. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "adapters/callback/transport_internal.h"
#include "petal/sock.h"

#define T_EPIPE (-EPIPE)

size_t pcb_transport_buffered(const petal_transport_t *t)
{
    return t->wlen - t->wpos + t->inflight;
}

static void pcb_transport_free(petal_transport_t *t)
{
    if (t->prev) t->prev->next = t->next;
    else t->reg->transports = t->next;
    if (t->next) t->next->prev = t->prev;
    free(t->wbuf);
    free(t->rbuf);
    free(t);
}

void pcb_transport_unref(petal_transport_t *t)
{
    if (--t->refs == 0) pcb_transport_free(t);
}

void pcb_transport_release_at_close(petal_transport_t *t)
{
    if (t->native) pcb_native_stop_all(t);
    else pcb_ready_stop_all(t);
    if (t->fd >= 0) {
        petal_fd_closing(t->loop, t->fd);
        close(t->fd);
    }
    pcb_transport_free(t);
}

static void stop_reading(petal_transport_t *t)
{
    if (t->native) pcb_native_stop_reading(t);
    else pcb_ready_stop_reading(t);
}

static void start_reading(petal_transport_t *t)
{
    if (!t->made || t->closing || t->paused || t->eof_in) return;
    if (t->native) pcb_native_start_reading(t);
    else pcb_ready_start_reading(t);
}

/* connection_lost, then the fd goes. */
static void lost_cb(petal_loop_t *loop, void *arg)
{
    petal_transport_t *t = arg;
    if (t->proto->connection_lost) t->proto->connection_lost(t, t->lost_err, t->user);
    petal_fd_closing(loop, t->fd);
    close(t->fd);
    t->fd = -1;
    pcb_transport_unref(t);
}

void pcb_transport_force_close(petal_transport_t *t, int err)
{
    if (t->lost) return;
    t->lost = t->closing = true;
    t->lost_err = err;
    t->wpos = t->wlen = 0;
    if (t->native) pcb_native_stop_all(t);
    else pcb_ready_stop_all(t);
    /* Out of memory for the callback: not called from here, where the caller
     * may still use t; the registry frees t when the loop closes. */
    (void)petal_call_soon(t->loop, lost_cb, t);
}

/* The internal close: stop reading, connection_lost once flushed. */
static void begin_close(petal_transport_t *t)
{
    t->closing = true;
    stop_reading(t);
    if (pcb_transport_buffered(t) == 0) pcb_transport_force_close(t, 0);
}

static void start_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    petal_transport_t *t = arg;
    t->made = true;
    if (t->proto->connection_made) t->proto->connection_made(t, t->user);
    start_reading(t);
    pcb_transport_unref(t);
}

void pcb_transport_on_read(petal_transport_t *t, const void *data, ssize_t n)
{
    if (t->closing) return;
    if (n > 0) {
        if (t->proto->data_received) t->proto->data_received(t, data, (size_t)n, t->user);
        return;
    }
    if (n < 0) {
        pcb_transport_force_close(t, (int)n);
        return;
    }
    t->eof_in = true;
    stop_reading(t);
    bool keep = t->proto->eof_received ? t->proto->eof_received(t, t->user) : false;
    if (!keep && !t->closing) begin_close(t);
}

void pcb_transport_maybe_resume(petal_transport_t *t)
{
    if (!t->writing_paused || t->lost || pcb_transport_buffered(t) > t->low) return;
    t->writing_paused = false;
    if (t->proto->resume_writing) t->proto->resume_writing(t, t->user);
}

static void do_shutdown(petal_transport_t *t)
{
    t->eof_done = true;
    /* ENOTCONN: the peer is already gone; reading reports it. */
    if (shutdown(t->fd, SHUT_WR) < 0 && errno != ENOTCONN) pcb_transport_force_close(t, -errno);
}

void pcb_transport_write_drained(petal_transport_t *t)
{
    pcb_transport_maybe_resume(t);
    if (t->lost || pcb_transport_buffered(t)) return;   /* resume_writing may have written more */
    if (t->closing) pcb_transport_force_close(t, 0);
    else if (t->eof_req && !t->eof_done) do_shutdown(t);
}

int pcb_transport_buffer(petal_transport_t *t, const struct iovec *iov, int iovcnt, size_t skip)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
    total -= skip;
    if (t->wpos == t->wlen) t->wpos = t->wlen = 0;
    if (t->wcap - t->wlen < total) {
        size_t live = t->wlen - t->wpos;
        if (t->wpos && t->wcap - live >= total && t->wpos >= live) {
            memmove(t->wbuf, t->wbuf + t->wpos, live);    /* compact instead of growing */
        } else {
            size_t cap = t->wcap ? t->wcap : 4096;
            while (cap < live + total) cap *= 2;
            unsigned char *nb = malloc(cap);
            if (!nb) return PETAL_ENOMEM;
            if (live) memcpy(nb, t->wbuf + t->wpos, live);
            free(t->wbuf);
            t->wbuf = nb;
            t->wcap = cap;
        }
        t->wpos = 0;
        t->wlen = live;
    }
    for (int i = 0; i < iovcnt; i++) {
        size_t l = iov[i].iov_len;
        const unsigned char *p = iov[i].iov_base;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        memcpy(t->wbuf + t->wlen, p + skip, l - skip);
        t->wlen += l - skip;
        skip = 0;
    }
    return 0;
}

void pcb_transport_consume(petal_transport_t *t, size_t n)
{
    t->wpos += n;
    if (t->wpos == t->wlen) t->wpos = t->wlen = 0;
}

/* Records an address, or the error that getting it gave. */
static void get_addr(int fd, bool peer, struct sockaddr_storage *a, socklen_t *len, int *err)
{
    *len = sizeof *a;
    int rc = peer ? getpeername(fd, (struct sockaddr *)a, len) : getsockname(fd, (struct sockaddr *)a, len);
    *err = rc < 0 ? -errno : 0;
    if (rc < 0) *len = 0;
}

/* Checks that fd is a connected stream socket we can own. */
static int check_stream_fd(int fd)
{
    if (fd < 0) return PETAL_EBADF;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return PETAL_EBADF;
    int type = 0, listening = 0;
    socklen_t l = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0) return -errno;    /* -ENOTSOCK */
    l = sizeof listening;
    if (type != SOCK_STREAM) return PETAL_EINVAL;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) == 0 && listening) return PETAL_EINVAL;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return -errno;
    return 0;
}

int pcb_transport_new(petal_loop_t *loop, const petal_protocol_t *proto, void *user, int fd, petal_transport_t **out)
{
    int native = petal_loop_has_native_sock(loop);
    if (native < 0) return native;
    struct registry *reg = pcb_registry_of(loop);
    if (!reg) return PETAL_ENOMEM;
    petal_transport_t *t = calloc(1, sizeof *t);
    if (!t) return PETAL_ENOMEM;
    t->loop = loop;
    t->reg = reg;
    t->proto = proto;
    t->user = user;
    t->fd = fd;
    t->native = native;
    t->refs = 2;    /* alive until connection_lost + start_cb */
    t->high = PETAL_TRANSPORT_HIGH_WATER;
    t->low = t->high / 4;
    get_addr(fd, true, &t->peer, &t->peerlen, &t->peer_err);
    get_addr(fd, false, &t->local, &t->locallen, &t->local_err);
    if (t->local.ss_family == AF_INET || t->local.ss_family == AF_INET6) {
        int one = 1;    /* as asyncio: small writes go out at once */
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    petal_handle_t h = petal_call_soon(loop, start_cb, t);
    if (h < 0) {
        free(t);
        return (int)h;
    }
    t->next = reg->transports;
    if (t->next) t->next->prev = t;
    reg->transports = t;
    *out = t;
    return 0;
}

int petal_transport_adopt(petal_loop_t *loop, const petal_protocol_t *proto, void *user, int fd,
                          petal_transport_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (!loop || !proto) return PETAL_EINVAL;
    if (petal_loop_is_closed(loop)) return PETAL_ECLOSED;
    int rc = check_stream_fd(fd);
    return rc ? rc : pcb_transport_new(loop, proto, user, fd, out);
}

/* ---- writing ----------------------------------------------------------- */

int petal_transport_writev(petal_transport_t *t, const struct iovec *iov, int iovcnt)
{
    if (!t || iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt && !iov)) return PETAL_EINVAL;
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (!iov[i].iov_base && iov[i].iov_len) return PETAL_EINVAL;
        total += iov[i].iov_len;
    }
    if (t->closing || t->eof_req) return T_EPIPE;
    if (total == 0) return 0;
    int rc = t->native ? pcb_native_write(t, iov, iovcnt, total) : pcb_ready_write(t, iov, iovcnt, total);
    if (rc) return rc;
    if (!t->writing_paused && !t->lost && pcb_transport_buffered(t) > t->high) {
        t->writing_paused = true;
        if (t->proto->pause_writing) t->proto->pause_writing(t, t->user);
    }
    return 0;
}

int petal_transport_write(petal_transport_t *t, const void *data, size_t len)
{
    if (!data && len) return PETAL_EINVAL;
    struct iovec v = { (void *)data, len };
    return petal_transport_writev(t, &v, 1);
}

int petal_transport_write_eof(petal_transport_t *t)
{
    if (!t) return PETAL_EINVAL;
    if (t->closing) return T_EPIPE;
    if (t->eof_req) return 0;
    t->eof_req = true;
    if (pcb_transport_buffered(t) == 0) do_shutdown(t);
    return 0;
}

/* ---- closing ----------------------------------------------------------- */

int petal_transport_close(petal_transport_t *t)
{
    if (!t) return PETAL_EINVAL;
    if (t->closing) return PETAL_EALREADY;
    begin_close(t);
    return 0;
}

int petal_transport_abort(petal_transport_t *t)
{
    if (!t) return PETAL_EINVAL;
    if (t->lost) return PETAL_EALREADY;
    pcb_transport_force_close(t, 0);
    return 0;
}

/* ---- reading ----------------------------------------------------------- */

int petal_transport_pause_reading(petal_transport_t *t)
{
    if (!t) return PETAL_EINVAL;
    if (t->closing || t->paused) return 0;    /* asyncio: a no-op */
    t->paused = true;
    /* On io_uring a receive already in the kernel stays there: cancelling it
     * could drop bytes it already took. Its data waits for resume. */
    if (t->made && !t->native) pcb_ready_stop_reading(t);
    return 0;
}

int petal_transport_resume_reading(petal_transport_t *t)
{
    if (!t) return PETAL_EINVAL;
    if (t->closing || !t->paused) return 0;
    t->paused = false;
    start_reading(t);
    return 0;
}

bool petal_transport_is_reading(const petal_transport_t *t)
{
    return t && !t->closing && !t->paused && !t->eof_in;
}

bool petal_transport_is_closing(const petal_transport_t *t)
{
    return t && t->closing;
}

/* ---- limits, addresses, accessors -------------------------------------- */

int petal_transport_set_write_buffer_limits(petal_transport_t *t, ssize_t high, ssize_t low)
{
    if (!t) return PETAL_EINVAL;
    size_t h = high < 0 ? (low < 0 ? PETAL_TRANSPORT_HIGH_WATER : (size_t)low * 4) : (size_t)high;
    size_t l = low < 0 ? h / 4 : (size_t)low;
    if (l > h) return PETAL_EINVAL;
    t->high = h;
    t->low = l;
    if (!t->writing_paused && !t->lost && pcb_transport_buffered(t) > t->high) {
        t->writing_paused = true;
        if (t->proto->pause_writing) t->proto->pause_writing(t, t->user);
    } else {
        pcb_transport_maybe_resume(t);
    }
    return 0;
}

int petal_transport_get_write_buffer_limits(const petal_transport_t *t, size_t *high, size_t *low)
{
    if (!t) return PETAL_EINVAL;
    if (high) *high = t->high;
    if (low) *low = t->low;
    return 0;
}

size_t petal_transport_get_write_buffer_size(const petal_transport_t *t)
{
    return t ? pcb_transport_buffered(t) : 0;
}

static int copy_addr(const struct sockaddr_storage *src, socklen_t srclen, int err, struct sockaddr_storage *addr,
                     socklen_t *len)
{
    if (!addr || !len) return PETAL_EINVAL;
    if (err) return err;
    memcpy(addr, src, srclen);
    *len = srclen;
    return 0;
}

int petal_transport_peername(const petal_transport_t *t, struct sockaddr_storage *addr, socklen_t *len)
{
    if (!t) return PETAL_EINVAL;
    return copy_addr(&t->peer, t->peerlen, t->peer_err, addr, len);
}

int petal_transport_sockname(const petal_transport_t *t, struct sockaddr_storage *addr, socklen_t *len)
{
    if (!t) return PETAL_EINVAL;
    return copy_addr(&t->local, t->locallen, t->local_err, addr, len);
}

int petal_transport_fileno(const petal_transport_t *t)
{
    return t ? t->fd : PETAL_EINVAL;
}

petal_loop_t *petal_transport_loop(const petal_transport_t *t)
{
    return t ? t->loop : NULL;
}

void *petal_transport_user(const petal_transport_t *t)
{
    return t ? t->user : NULL;
}

void petal_transport_set_user(petal_transport_t *t, void *user)
{
    if (t) t->user = user;
}
