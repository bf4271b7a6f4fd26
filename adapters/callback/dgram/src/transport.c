/* The datagram transport: asyncio's _SelectorDatagramTransport in C.
 *
 * Readiness-driven on every backend: a reader while open, a writer only
 * while datagrams are queued. Every transport of a loop is on the loop's
 * registry (petal_loop_set_local), which also holds the one receive buffer
 * they share and frees whatever is left when the loop closes. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dgram_internal.h"

#define RECV_BUF 65536        /* any UDP datagram fits */
#define RECV_BATCH 16         /* datagrams read per readiness report */
#define DEFAULT_HIGH (64u * 1024)

struct queued {
    struct queued *next;
    size_t len;
    socklen_t addrlen;        /* 0: send to the connected peer */
    struct sockaddr_storage addr;
    unsigned char data[];
};

struct registry {
    petal_datagram_transport_t *head;
    unsigned char *rbuf;      /* RECV_BUF bytes, allocated at the first read */
};

struct petal_datagram_transport {
    petal_loop_t *loop;
    struct registry *reg;
    petal_datagram_transport_t *prev, *next;
    int fd;
    petal_datagram_protocol_t proto;
    bool connected;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    struct queued *qhead, *qtail;
    size_t buffered;
    size_t high, low;
    bool paused;              /* pause_writing was called, resume_writing not yet */
    bool reading, writing;    /* watches registered */
    bool closing;             /* close or abort called: no more sends */
    bool lost_due;            /* connection_lost is scheduled */
    int lost_err;
};

static const char registry_key;

static void drop_queue(petal_datagram_transport_t *t)
{
    while (t->qhead) {
        struct queued *q = t->qhead;
        t->qhead = q->next;
        free(q);
    }
    t->qtail = NULL;
    t->buffered = 0;
}

static void stop_reading(petal_datagram_transport_t *t)
{
    if (t->reading) petal_remove_reader(t->loop, t->fd);
    t->reading = false;
}

static void stop_writing(petal_datagram_transport_t *t)
{
    if (t->writing) petal_remove_writer(t->loop, t->fd);
    t->writing = false;
}

/* Our own watches go first, so that petal_fd_closing wakes nothing of ours. */
static void release(petal_datagram_transport_t *t)
{
    stop_reading(t);
    stop_writing(t);
    (void)petal_fd_closing(t->loop, t->fd);
    close(t->fd);
    drop_queue(t);
    struct registry *r = t->reg;
    if (t->prev) t->prev->next = t->next;
    else r->head = t->next;
    if (t->next) t->next->prev = t->prev;
    free(t);
}

static void registry_destroy(void *arg)
{
    struct registry *r = arg;
    while (r->head) release(r->head);
    free(r->rbuf);
    free(r);
}

static int registry_get(petal_loop_t *loop, struct registry **out)
{
    struct registry *r = petal_loop_get_local(loop, &registry_key);
    if (!r) {
        if (!(r = calloc(1, sizeof *r))) return PETAL_ENOMEM;
        int rc = petal_loop_set_local(loop, &registry_key, r, registry_destroy);
        if (rc) {
            free(r);
            return rc;
        }
    }
    *out = r;
    return 0;
}

static void lost_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    petal_datagram_transport_t *t = arg;
    if (t->proto.connection_lost) t->proto.connection_lost(t, t->lost_err, t->proto.user);
    release(t);
}

/* Ends the transport: connection_lost(err) on the next iteration. */
static void schedule_lost(petal_datagram_transport_t *t, int err)
{
    t->closing = true;
    t->lost_due = true;
    t->lost_err = err;
    stop_reading(t);
    stop_writing(t);
    drop_queue(t);
    /* Out of memory for the callback: not called here, where the caller may
     * still use t; the registry frees the transport at loop close. */
    (void)petal_call_soon(t->loop, lost_cb, t);
}

static void maybe_pause(petal_datagram_transport_t *t)
{
    if (t->paused || t->buffered <= t->high) return;
    t->paused = true;
    if (t->proto.pause_writing) t->proto.pause_writing(t, t->proto.user);
}

static void maybe_resume(petal_datagram_transport_t *t)
{
    if (!t->paused || t->buffered > t->low) return;
    t->paused = false;
    if (t->proto.resume_writing) t->proto.resume_writing(t, t->proto.user);
}

static void error_received(petal_datagram_transport_t *t, int err)
{
    if (t->proto.error_received) t->proto.error_received(t, err, t->proto.user);
}

static void on_readable(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)loop;
    petal_datagram_transport_t *t = arg;
    if (status < 0) {            /* the fd was announced closing under us */
        t->reading = false;
        if (!t->lost_due) schedule_lost(t, status);
        return;
    }
    struct registry *r = t->reg;
    if (!r->rbuf && !(r->rbuf = malloc(RECV_BUF))) {
        error_received(t, PETAL_ENOMEM);
        return;
    }
    /* The protocol may close the transport from datagram_received. */
    for (int i = 0; i < RECV_BATCH && t->reading; i++) {
        struct sockaddr_storage from;
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(fd, r->rbuf, RECV_BUF, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
        if (n < 0) {
            if (errno == EINTR) continue;
            /* ECONNREFUSED and the like: an ICMP error for an earlier send */
            if (errno != EAGAIN && errno != EWOULDBLOCK) error_received(t, -errno);
            return;
        }
        if (n > RECV_BUF) {      /* never hand over a cut datagram */
            error_received(t, -EMSGSIZE);
            continue;
        }
        if (t->proto.datagram_received)
            t->proto.datagram_received(t, r->rbuf, (size_t)n, (struct sockaddr *)&from, fromlen, t->proto.user);
    }
}

static ssize_t send_one(petal_datagram_transport_t *t, const void *data, size_t len, const struct sockaddr *addr,
                        socklen_t addrlen)
{
    ssize_t n;
    do {
        n = addrlen ? sendto(t->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, addr, addrlen)
                    : send(t->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
}

static void on_writable(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)loop;
    (void)fd;
    petal_datagram_transport_t *t = arg;
    if (status < 0) {
        t->writing = false;
        if (!t->lost_due) schedule_lost(t, status);
        return;
    }
    while (t->qhead) {
        struct queued *q = t->qhead;
        ssize_t n = send_one(t, q->data, q->len, (struct sockaddr *)&q->addr, q->addrlen);
        int err = n < 0 ? errno : 0;
        if (err == EAGAIN || err == EWOULDBLOCK) break;
        t->qhead = q->next;
        if (!t->qhead) t->qtail = NULL;
        t->buffered -= q->len;
        free(q);
        if (err) {   /* that datagram is lost; the rest goes on the next turn */
            error_received(t, -err);
            return;
        }
    }
    maybe_resume(t);
    if (t->qhead) return;
    stop_writing(t);
    if (t->closing && !t->lost_due) schedule_lost(t, 0);
}

static bool same_addr(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b, socklen_t blen)
{
    if (a->sa_family != b->sa_family) return false;
    switch (a->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port && x->sin6_scope_id == y->sin6_scope_id &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
    }
    default:
        return alen == blen && memcmp(a, b, alen) == 0;
    }
}

int dgram_check_addr(const struct sockaddr *addr, socklen_t len)
{
    if (!addr || len < (socklen_t)sizeof(sa_family_t) || len > (socklen_t)sizeof(struct sockaddr_storage))
        return PETAL_EINVAL;
    if (addr->sa_family == AF_INET && len < (socklen_t)sizeof(struct sockaddr_in)) return PETAL_EINVAL;
    if (addr->sa_family == AF_INET6 && len < (socklen_t)sizeof(struct sockaddr_in6)) return PETAL_EINVAL;
    return 0;
}

static int enqueue(petal_datagram_transport_t *t, const void *data, size_t len, const struct sockaddr *addr,
                   socklen_t addrlen)
{
    struct queued *q = malloc(sizeof *q + len);
    if (!q) return PETAL_ENOMEM;
    q->next = NULL;
    q->len = len;
    q->addrlen = addrlen;
    if (addrlen) memcpy(&q->addr, addr, addrlen);
    if (len) memcpy(q->data, data, len);
    if (!t->writing) {
        int rc = petal_add_writer(t->loop, t->fd, on_writable, t);
        if (rc) {
            free(q);
            return rc;
        }
        t->writing = true;
    }
    if (t->qtail) t->qtail->next = q;
    else t->qhead = q;
    t->qtail = q;
    t->buffered += len;
    maybe_pause(t);
    return 0;
}

int petal_datagram_sendto(petal_datagram_transport_t *t, const void *data, size_t len, const struct sockaddr *addr,
                          socklen_t addrlen)
{
    if (!t || (!data && len)) return PETAL_EINVAL;
    if (t->closing) return -EPIPE;
    if (addr && dgram_check_addr(addr, addrlen)) return PETAL_EINVAL;
    if (t->connected) {
        if (addr && !same_addr(addr, addrlen, (struct sockaddr *)&t->peer, t->peerlen)) return -EISCONN;
        addr = NULL;
        addrlen = 0;
    } else if (!addr) {
        return -EDESTADDRREQ;
    }
    if (!addr) addrlen = 0;
    if (t->qhead) return enqueue(t, data, len, addr, addrlen);   /* keep the order */
    if (send_one(t, data, len, addr, addrlen) >= 0) return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return enqueue(t, data, len, addr, addrlen);
    /* the kernel refused this datagram (EMSGSIZE, an earlier ICMP error...):
     * like asyncio, the protocol hears of it and the transport stays open */
    error_received(t, -errno);
    return 0;
}

int petal_datagram_close(petal_datagram_transport_t *t)
{
    if (!t) return PETAL_EINVAL;
    if (t->closing) return PETAL_EALREADY;
    t->closing = true;
    stop_reading(t);
    if (!t->qhead) schedule_lost(t, 0);   /* else on_writable ends it once flushed */
    return 0;
}

int petal_datagram_abort(petal_datagram_transport_t *t)
{
    if (!t) return PETAL_EINVAL;
    if (t->lost_due) return PETAL_EALREADY;
    schedule_lost(t, 0);
    return 0;
}

bool petal_datagram_is_closing(const petal_datagram_transport_t *t)
{
    return t && t->closing;
}

size_t petal_datagram_get_write_buffer_size(const petal_datagram_transport_t *t)
{
    return t ? t->buffered : 0;
}

int petal_datagram_set_write_buffer_limits(petal_datagram_transport_t *t, size_t high, size_t low)
{
    if (!t || low > high) return PETAL_EINVAL;
    if (!high && !low) {
        high = DEFAULT_HIGH;
        low = DEFAULT_HIGH / 4;
    }
    t->high = high;
    t->low = low;
    maybe_pause(t);
    maybe_resume(t);
    return 0;
}

int petal_datagram_get_sockname(const petal_datagram_transport_t *t, struct sockaddr *addr, socklen_t *len)
{
    if (!t || !addr || !len) return PETAL_EINVAL;
    return getsockname(t->fd, addr, len) ? -errno : 0;
}

int petal_datagram_get_peername(const petal_datagram_transport_t *t, struct sockaddr *addr, socklen_t *len)
{
    if (!t || !addr || !len) return PETAL_EINVAL;
    if (!t->connected) return -ENOTCONN;
    socklen_t n = *len < t->peerlen ? *len : t->peerlen;
    memcpy(addr, &t->peer, n);
    *len = t->peerlen;
    return 0;
}

int petal_datagram_fd(const petal_datagram_transport_t *t)
{
    return t ? t->fd : PETAL_EINVAL;
}

petal_loop_t *petal_datagram_loop(const petal_datagram_transport_t *t)
{
    return t ? t->loop : NULL;
}

void *petal_datagram_user(const petal_datagram_transport_t *t)
{
    return t ? t->proto.user : NULL;
}

int petal_datagram_set_protocol(petal_datagram_transport_t *t, const petal_datagram_protocol_t *proto)
{
    if (!t || !proto) return PETAL_EINVAL;
    t->proto = *proto;
    return 0;
}

/* connection_made, then the reader: nothing is received before it. */
static void start_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    petal_datagram_transport_t *t = arg;
    if (t->proto.connection_made) t->proto.connection_made(t, t->proto.user);
    if (t->closing) return;
    int rc = petal_add_reader(t->loop, t->fd, on_readable, t);
    if (rc == 0) t->reading = true;
    else if (!t->lost_due) schedule_lost(t, rc);
}

int dgram_transport_new(petal_loop_t *loop, int fd, const petal_datagram_protocol_t *proto,
                        petal_datagram_transport_t **out)
{
    struct registry *r;
    int rc = registry_get(loop, &r);
    if (rc) return rc;
    petal_datagram_transport_t *t = calloc(1, sizeof *t);
    if (!t) return PETAL_ENOMEM;
    t->loop = loop;
    t->reg = r;
    t->fd = fd;
    t->proto = *proto;
    t->high = DEFAULT_HIGH;
    t->low = DEFAULT_HIGH / 4;
    t->peerlen = sizeof t->peer;
    t->connected = getpeername(fd, (struct sockaddr *)&t->peer, &t->peerlen) == 0;
    if (!t->connected) t->peerlen = 0;
    petal_handle_t h = petal_call_soon(loop, start_cb, t);
    if (h < 0) {
        free(t);
        return (int)h;
    }
    t->next = r->head;
    if (r->head) r->head->prev = t;
    r->head = t;
    *out = t;
    return 0;
}
