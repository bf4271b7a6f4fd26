/* Private to backends/uring: the backend's state and the calls between its
 * files (ring.c: the ring and one iteration; poll.c: fd readiness;
 * sock.c: completion-based socket operations). */
#ifndef PETAL_URING_INTERNAL_H
#define PETAL_URING_INTERNAL_H

#include <liburing.h>
#include <stdbool.h>

#include "petal/backend.h"
#include "petal/uring.h"

/* Bit 0 of user_data marks petal's SQEs; the rest is a pointer to a struct
 * uop (malloc'd, so bit 0 is free), or to cancel_marker for petal's cancel
 * requests, whose completions carry nothing. */
#define UOP_TAG 1u

struct ub;
struct ufd;

enum { UOP_POLL, UOP_SOCK };

/* One request of petal's in the kernel. It lives until its terminal CQE,
 * whatever happened to its fd meanwhile (liburing#733). Every request starts
 * with this header: a poll (struct uop) or a socket operation (struct sop,
 * sock.c, kept to one cache line for its hot fields). */
struct uhead {
    int type;                  /* UOP_POLL, UOP_SOCK */
    struct ub *b;
    struct uhead *next;        /* the free list of finished requests */
};

/* A poll. f == NULL means nobody wants the result any more (interest
 * changed, fd forgotten, loop closed). */
struct uop {
    struct uhead h;
    struct ufd *f;
    struct uop *prev, *next;   /* b->ops: polls still in the kernel */
};

struct sop;

/* Per-fd state (the core's fd_state slot). */
struct ufd {
    int fd;
    unsigned want;             /* PETAL_READABLE|WRITABLE */
    unsigned armed_mask;       /* poll mask of `armed` */
    struct uop *armed;         /* the live poll, NULL if none */
    bool user;                 /* a user watch: counts for petal_uring_alive() */
    bool rearm;                /* dirty only because its one-shot poll fired */
    bool is_dirty;
    struct ufd *next_dirty;
};

struct ub {
    petal_loop_t *loop;        /* NULL once the loop is closed (host mode) */
    struct io_uring *ring;
    struct io_uring own;
    bool owned;
    bool disabled;             /* own ring created IORING_SETUP_R_DISABLED */
    struct ufd *dirty;         /* fds whose poll must be (re)armed or changed */
    struct uop *ops;           /* polls in the kernel (socket requests are in sq) */
    unsigned nops;             /* every request in the kernel */
    struct uhead *spare;       /* finished polls kept for reuse (poll.c) */
    unsigned nspare;
    struct uhead *sock_spare;  /* finished socket requests (sock.c) */
    unsigned nsock_spare;
    unsigned user_fds;         /* fds with a user watch */
    unsigned socks;            /* socket operations the core waits for */
    struct sock_queues *sq;    /* by fd: socket operations, FIFO per side */
    int sq_cap;
    petal_uring_cqe_cb foreign_cb;
    void *foreign_arg;
};

extern const unsigned long long uring_cancel_marker;

struct ub *uring_state(petal_loop_t *loop);
struct io_uring_sqe *uring_sqe_full(struct ub *b);
/* A free SQE, submitting what is queued when the SQ is full; NULL if none. */
static inline struct io_uring_sqe *uring_sqe(struct ub *b)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(b->ring);
    return sqe ? sqe : uring_sqe_full(b);
}
/* Submits queued SQEs now (enabling our own ring first if needed). */
int uring_submit(struct ub *b);

/* Releases b once the loop is closed and nothing is in flight (b->nops). */
void uring_free(struct ub *b);

/* poll.c */
int uring_fd_watch(petal_loop_t *loop, int fd, void **fd_state, unsigned events);
void uring_fd_forget(petal_loop_t *loop, int fd, void **fd_state);
/* Arms or changes the polls of changed fds; call before every wait. */
void uring_flush(struct ub *b);
/* A petal CQE (user_data tagged, not the cancel marker). */
void uring_poll_done(struct uop *op, int res);
/* Frees the spare poll requests. */
void uring_poll_spares_free(struct ub *b);

/* sock.c */
int uring_sock_submit(petal_loop_t *loop, petal_sock_op_t *op);
void uring_sock_cancel(petal_loop_t *loop, petal_sock_op_t *op);
void uring_sock_done(struct uhead *h, int res);
/* Prefetches what handing out these k CQEs of petal's will touch, in
 * stages: the requests; the core's ops and the requests' buffers; the ops'
 * futures and the users' receive buffers. */
void uring_sock_prefetch(const struct io_uring_cqe *cqes, unsigned k);
/* Frees every socket request still queued (the ring is gone). */
void uring_sock_free_all(struct ub *b);
/* Frees the spare socket requests. */
void uring_sock_spares_free(struct ub *b);

#endif
