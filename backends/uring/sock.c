/* Socket operations (petal/sock.h) as io_uring requests: IORING_OP_RECV,
 * SEND (resubmitted until every byte is out), ACCEPT and CONNECT.
 *
 * Each fd has two FIFO queues (receive side: recv/accept; send side:
 * send/connect) and only the head of a queue is in the kernel, so several
 * operations on one fd finish in order and two sends never interleave bytes.
 *
 * The kernel only ever sees petal's own memory: recv lands in a private
 * buffer copied out on completion, send works on a private copy of the
 * caller's bytes (lent by the core during uring_sock_submit only), connect
 * on a private address. Finished requests are kept on a free list, each
 * with a 128-byte buffer for small receives and sends, instead of two
 * allocations per call. A cancel (future cancelled, fd closing, loop closed)
 * detaches the request from the core at once (the core may then free its
 * op and the user their buffer) and asks the kernel to cancel it; the struct
 * and its buffer live on until the request's terminal CQE (liburing#733).
 * Meanwhile the cancelled head keeps its queue blocked, so a later send on the
 * fd cannot overtake bytes the kernel may still be sending. A cancel can lose
 * the race (liburing#1252): an accept that completes anyway has its new fd
 * closed; a recv that completes anyway has consumed those bytes. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uring_internal.h"

/* The fields a completion reads are the first 64 bytes (the request is
 * allocated 64-byte aligned); a small buffer starts on its own line. */
struct sop {
    struct uhead h;
    petal_sock_op_t *op;           /* NULL once the core is done with it */
    char *buf;                     /* recv target / send bytes */
    size_t len;
    struct sop *next;              /* in its fd's queue */
    uint8_t kind;                  /* petal_op_kind */
    bool issued;                   /* in the kernel */
    int fd;
    size_t done;                   /* send: bytes sent so far */
    socklen_t addrlen;
    union {
        _Alignas(64) char small[128];  /* recv / send buffer for small ones */
        struct sockaddr_storage addr;  /* connect (which has no buffer) */
    } u;
};

_Static_assert(offsetof(struct sop, done) == 64, "a completion's fields fit one cache line");

#define SPARE_MAX 1024

struct sock_queues {
    struct sop *head[2];           /* [0] receive side, [1] send side */
};

static int side(petal_op_kind kind)
{
    return kind == PETAL_OP_SEND || kind == PETAL_OP_CONNECT;
}

static struct sop **queue(struct ub *b, const struct sop *s)
{
    return &b->sq[s->fd].head[side(s->kind)];
}

static int reserve(struct ub *b, int fd)
{
    if (fd < b->sq_cap) return 0;
    int cap = b->sq_cap ? b->sq_cap : 64;
    while (cap <= fd) cap *= 2;
    struct sock_queues *q = realloc(b->sq, (size_t)cap * sizeof *q);
    if (!q) return PETAL_ENOMEM;
    memset(q + b->sq_cap, 0, (size_t)(cap - b->sq_cap) * sizeof *q);
    b->sq = q;
    b->sq_cap = cap;
    return 0;
}

static void unqueue(struct ub *b, struct sop *s)
{
    for (struct sop **p = queue(b, s); *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            return;
        }
}

static uint64_t data_of(const void *p)
{
    return (uint64_t)(uintptr_t)p | UOP_TAG;
}

static void buf_free(struct sop *s)
{
    if (s->buf != s->u.small) free(s->buf);
    s->buf = NULL;
}

static void uring_sock_free(struct uhead *h)
{
    struct sop *s = (struct sop *)h;
    buf_free(s);
    free(s);
}

static const struct sop *sop_of(const struct io_uring_cqe *cqe)
{
    const struct uhead *h = (const struct uhead *)(uintptr_t)(cqe->user_data & ~(uint64_t)UOP_TAG);
    return (const void *)h == &uring_cancel_marker || h->type != UOP_SOCK ? NULL : (const struct sop *)h;
}

void uring_sock_prefetch(const struct io_uring_cqe *cqes, unsigned k)
{
    for (unsigned i = 0; i < k; i++) __builtin_prefetch((void *)(uintptr_t)(cqes[i].user_data & ~(uint64_t)UOP_TAG));
    for (unsigned i = 0; i < k; i++) {
        const struct sop *s = sop_of(&cqes[i]);
        if (!s || !s->op) continue;
        __builtin_prefetch(s->op);
        __builtin_prefetch(s->buf);
    }
    for (unsigned i = 0; i < k; i++) {
        const struct sop *s = sop_of(&cqes[i]);
        if (!s || !s->op) continue;
        __builtin_prefetch(s->op->fut);
        if (s->kind == PETAL_OP_RECV) __builtin_prefetch(s->op->buf, 1);
    }
}

void uring_sock_free_all(struct ub *b)
{
    for (int fd = 0; fd < b->sq_cap; fd++)
        for (int k = 0; k < 2; k++)
            while (b->sq[fd].head[k]) {
                struct sop *s = b->sq[fd].head[k];
                b->sq[fd].head[k] = s->next;
                b->nops--;
                uring_sock_free(&s->h);
            }
}

void uring_sock_spares_free(struct ub *b)
{
    while (b->sock_spare) {
        struct sop *s = (struct sop *)b->sock_spare;
        b->sock_spare = s->h.next;
        free(s);
    }
    b->nsock_spare = 0;
}

/* Back to the free list (or freed): a request that is not counted. */
static void sop_release(struct ub *b, struct sop *s)
{
    if (b->loop && b->nsock_spare < SPARE_MAX) {
        buf_free(s);
        s->h.next = b->sock_spare;
        b->sock_spare = &s->h;
        b->nsock_spare++;
        return;
    }
    uring_sock_free(&s->h);
}

/* Requests in the kernel are counted in b->nops but not linked in b->ops
 * (unlinking touched two other requests' memory per operation): every live
 * one is in its fd's queue, where uring_sock_free_all() finds it. */
static void sop_free(struct sop *s)
{
    struct ub *b = s->h.b;
    b->nops--;
    sop_release(b, s);
}

/* A request with every field set but the buffer and address. */
static struct sop *sop_new(struct ub *b)
{
    struct sop *s = (struct sop *)b->sock_spare;
    if (s) {
        b->sock_spare = s->h.next;
        b->nsock_spare--;
    } else if (!(s = aligned_alloc(_Alignof(struct sop), sizeof *s))) {
        return NULL;
    }
    s->h.type = UOP_SOCK;
    s->buf = NULL;
    s->next = NULL;
    s->issued = false;
    return s;
}

/* Queues the request's SQE; it goes to the kernel with the next submit. */
static int issue(struct ub *b, struct sop *s)
{
    struct io_uring_sqe *sqe = uring_sqe(b);
    if (!sqe) return PETAL_EBUSY;
    switch (s->kind) {
    case PETAL_OP_RECV:
        io_uring_prep_recv(sqe, s->fd, s->buf, s->len, 0);
        break;
    case PETAL_OP_SEND:
        io_uring_prep_send(sqe, s->fd, s->buf + s->done, s->len - s->done, MSG_NOSIGNAL);
        break;
    case PETAL_OP_ACCEPT:
        io_uring_prep_accept(sqe, s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        break;
    case PETAL_OP_CONNECT:
        io_uring_prep_connect(sqe, s->fd, (struct sockaddr *)&s->u.addr, s->addrlen);
        break;
    }
    io_uring_sqe_set_data64(sqe, data_of(s));
    s->issued = true;
    return 0;
}

/* The head of s's queue finished: start the next operation (one that
 * cannot be queued fails at once). */
static void issue_next(struct ub *b, struct sop *s)
{
    struct sop **head = queue(b, s);
    while (*head && b->loop) {
        struct sop *n = *head;
        int rc = issue(b, n);
        if (rc == 0) return;
        *head = n->next;
        petal_sock_op_t *op = n->op;
        sop_free(n);
        b->socks--;
        petal_core_sock_done(b->loop, op, rc);
    }
}

int uring_sock_submit(petal_loop_t *loop, petal_sock_op_t *op)
{
    struct ub *b = uring_state(loop);
    int rc = reserve(b, op->fd);
    if (rc) return rc;
    struct sop *s = sop_new(b);
    if (!s) return PETAL_ENOMEM;
    s->op = op;
    s->kind = (uint8_t)op->kind;
    s->fd = op->fd;
    if (op->kind == PETAL_OP_SEND) s->done = 0;
    s->len = op->len;
    if (op->kind == PETAL_OP_RECV || op->kind == PETAL_OP_SEND) {
        s->buf = op->len <= sizeof s->u.small ? s->u.small : malloc(op->len);
        if (!s->buf) {
            sop_release(b, s);    /* not counted yet: back to the free list */
            return PETAL_ENOMEM;
        }
        /* A send's bytes are the caller's, lent for this call only. */
        if (op->kind == PETAL_OP_SEND && op->len) memcpy(s->buf, op->buf, op->len);
    }
    if (op->kind == PETAL_OP_CONNECT) {
        memcpy(&s->u.addr, &op->addr, op->addrlen);
        s->addrlen = op->addrlen;
    }
    s->h.b = b;
    b->nops++;
    struct sop **p = queue(b, s);
    while (*p) p = &(*p)->next;
    *p = s;
    if (queue(b, s)[0] == s && (rc = issue(b, s)) != 0) {
        unqueue(b, s);
        sop_free(s);
        return rc;
    }
    op->backend = s;
    b->socks++;
    return 0;
}

void uring_sock_cancel(petal_loop_t *loop, petal_sock_op_t *op)
{
    struct ub *b = uring_state(loop);
    struct sop *s = op->backend;
    op->backend = NULL;
    if (!s) return;
    s->op = NULL;
    b->socks--;
    if (!s->issued) {
        unqueue(b, s);
        sop_free(s);
        return;
    }
    /* In the kernel: ask for a cancel and submit it now (the fd may be closed
     * right after); s stays at the head of its queue until its own CQE. */
    struct io_uring_sqe *sqe = uring_sqe(b);
    if (!sqe) return;    /* it completes on its own; its result is dropped */
    io_uring_prep_cancel64(sqe, data_of(s), 0);
    io_uring_sqe_set_data64(sqe, data_of(&uring_cancel_marker));
    uring_submit(b);
}

void uring_sock_done(struct uhead *h, int res)
{
    struct sop *s = (struct sop *)h;
    struct ub *b = h->b;
    petal_sock_op_t *op = s->op;
    if (op && s->kind == PETAL_OP_SEND && res >= 0) {
        s->done += (size_t)res;
        if (s->done < s->len) {
            if (res > 0 && issue(b, s) == 0) return;    /* send the rest */
            res = res > 0 ? PETAL_EBUSY : -EPIPE;
        } else {
            res = (int)s->len;
        }
    }
    if (op && s->kind == PETAL_OP_RECV && res > 0) memcpy(op->buf, s->buf, (size_t)res);
    if (!op && s->kind == PETAL_OP_ACCEPT && res >= 0) close(res);    /* lost the race with our cancel */
    struct sop probe;         /* its fd and side, to find the queue again */
    probe.fd = s->fd;
    probe.kind = s->kind;
    *queue(b, s) = s->next;   /* only a queue's head is ever in the kernel */
    sop_free(s);
    if (!b->loop) {
        uring_free(b);
        return;
    }
    if (op) {
        op->backend = NULL;
        b->socks--;
        petal_core_sock_done(b->loop, op, res);
    }
    issue_next(b, &probe);
}
