/* echo_tcp directly on io_uring (liburing): one ring, IORING_OP_ACCEPT on
 * the listener (re-armed until every connection is in), IORING_OP_RECV and
 * IORING_OP_SEND on the connections, one io_uring_submit_and_wait per loop
 * iteration, then every CQE present is handled. The ring gets the flags
 * petal's io_uring backend asks for (SUBMIT_ALL | COOP_TASKRUN |
 * SINGLE_ISSUER, falling back as the kernel requires); no SQPOLL, no
 * multishot.
 *
 * A send is linked to the receive that follows it (IOSQE_IO_LINK): the
 * server echoes from its receive buffer and receives into it again only
 * once the send is done; a client sends its message and waits for the echo
 * with one pair of SQEs. With one 64-byte message in flight per connection a
 * send always takes everything; a short send fails the run loudly. */
#include <errno.h>
#include <liburing.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/echo_bench.h"

#define IMPL "native uring"
#define RING_ENTRIES 512   /* > the SQEs one batch of CQEs can queue (2 per connection and side) */

/* user_data = pointer to a struct uconn | kind (the structs are 8-aligned). */
enum { K_ACCEPT, K_RECV, K_SEND, K_MASK = 3 };

struct uconn {
    struct echo_client *c;     /* NULL for a server connection */
    int fd;
    size_t sending;            /* bytes of the send in flight */
    unsigned char buf[ECHO_MSG];
};

struct uctx {
    struct io_uring ring;
    struct echo_run *r;
    struct uconn listener;
    struct uconn *servers, *clients;
};

static struct io_uring_sqe *sqe_for(struct uctx *x, struct uconn *u, int kind)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&x->ring);
    if (!sqe) {    /* SQ full: push what is queued to the kernel first */
        io_uring_submit(&x->ring);
        if (!(sqe = io_uring_get_sqe(&x->ring))) echo_die(IMPL, "io_uring_get_sqe", -EBUSY);
    }
    io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)u | (uint64_t)kind);
    return sqe;
}

static void recv_into(struct uctx *x, struct uconn *u, void *buf, size_t len)
{
    io_uring_prep_recv(sqe_for(x, u, K_RECV), u->fd, buf, len, 0);
}

/* Sends len bytes of buf, then receives into rbuf (linked). */
static void send_then_recv(struct uctx *x, struct uconn *u, const void *buf, size_t len, void *rbuf, size_t rlen)
{
    struct io_uring_sqe *sqe = sqe_for(x, u, K_SEND);
    io_uring_prep_send(sqe, u->fd, buf, len, MSG_NOSIGNAL);
    sqe->flags |= IOSQE_IO_LINK;
    u->sending = len;
    recv_into(x, u, rbuf, rlen);
}

static void client_next(struct uctx *x, struct uconn *u)
{
    if (echo_next(x->r, u->c)) send_then_recv(x, u, u->c->out, ECHO_MSG, u->c->in, ECHO_MSG);
}

static void accept_next(struct uctx *x)
{
    io_uring_prep_accept(sqe_for(x, &x->listener, K_ACCEPT), x->r->listen_fd, NULL, NULL,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
}

/* Handles one completion. */
static void complete(struct uctx *x, struct uconn *u, int kind, int res)
{
    struct echo_run *r = x->r;
    switch (kind) {
    case K_ACCEPT: {
        if (res < 0) echo_die(IMPL, "accept", res);
        echo_accepted(r, res);
        struct uconn *s = &x->servers[r->accepted - 1];
        s->fd = res;
        recv_into(x, s, s->buf, ECHO_MSG);
        if (r->accepted < r->nconn) accept_next(x);
        break;
    }
    case K_SEND:
        if (res != (int)u->sending) echo_die(IMPL, "send (short or failed)", res < 0 ? res : -EAGAIN);
        break;
    case K_RECV:
        if (res <= 0) echo_die(IMPL, u->c ? "client recv" : "server recv", res ? res : -EPIPE);
        if (!u->c) {    /* server: echo it */
            send_then_recv(x, u, u->buf, (size_t)res, u->buf, ECHO_MSG);
            break;
        }
        u->c->got += (size_t)res;
        if (u->c->got < ECHO_MSG) {
            recv_into(x, u, u->c->in + u->c->got, ECHO_MSG - u->c->got);
            break;
        }
        echo_check(r, u->c);
        if (!echo_finished(r)) client_next(x, u);
        break;
    }
}

static void ring_init(struct io_uring *ring)
{
    static const unsigned tries[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER,
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int rc = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof *tries && rc == -EINVAL; i++) {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        rc = io_uring_queue_init_params(RING_ENTRIES, ring, &p);
    }
    if (rc < 0) echo_die(IMPL, "io_uring_queue_init_params", rc);
}

double echo_native_uring(struct echo_run *r, const char *variant)
{
    (void)variant;
    struct uctx x = { .r = r };
    ring_init(&x.ring);
    x.listener.fd = r->listen_fd;
    x.servers = calloc((size_t)r->nconn, sizeof *x.servers);
    x.clients = calloc((size_t)r->nconn, sizeof *x.clients);
    if (!x.servers || !x.clients) echo_die(IMPL, "calloc", -ENOMEM);

    double t0 = echo_now();
    accept_next(&x);
    for (int i = 0; i < r->nconn; i++) {
        x.clients[i].c = &r->clients[i];
        x.clients[i].fd = r->clients[i].fd;
        client_next(&x, &x.clients[i]);
    }
    while (!echo_finished(r)) {
        int rc = io_uring_submit_and_wait(&x.ring, 1);
        if (rc < 0 && rc != -EINTR) echo_die(IMPL, "io_uring_submit_and_wait", rc);
        struct io_uring_cqe *cqe;
        unsigned head, seen = 0;
        io_uring_for_each_cqe(&x.ring, head, cqe) {
            uint64_t d = cqe->user_data;
            complete(&x, (struct uconn *)(uintptr_t)(d & ~(uint64_t)K_MASK), (int)(d & K_MASK), cqe->res);
            seen++;
        }
        io_uring_cq_advance(&x.ring, seen);
    }
    double t1 = echo_now();

    /* The servers' receives still in the kernel end with the ring. */
    io_uring_queue_exit(&x.ring);
    free(x.servers);
    free(x.clients);
    return t1 - t0;
}
