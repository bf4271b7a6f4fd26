/* Private to api/: the loop object and the core's internal calls. */
#ifndef PETAL_LOOP_INTERNAL_H
#define PETAL_LOOP_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

#include "petal/backend.h"
#include "petal/future.h"
#include "petal/loop.h"

/* What a slot holds. A slot is the target of one handle. */
enum slot_kind {
    SLOT_FREE,
    SLOT_SOON,     /* petal_cb in the ready queue */
    SLOT_TIMER,    /* petal_cb in the timer heap */
    SLOT_WATCH,    /* persistent reader/writer: petal_io_cb, status 0 */
    SLOT_IO_END,   /* one-shot petal_io_cb with an error status */
    SLOT_FUTURE,   /* done-callback of a future */
    SLOT_INTERNAL, /* petal_cb of the core, not cancellable by users */
};

struct slot {
    uint32_t gen;     /* bumped when freed: stale handles stop matching */
    uint8_t kind;
    uint8_t queued;   /* SLOT_WATCH: already in the ready queue */
    union {
        struct {
            uint32_t aux;     /* FREE: next free slot; WATCH/IO_END: fd */
            int32_t status;   /* IO_END: error code */
        };
        void *obj;            /* FUTURE: the future (one reference held) */
    };
    void *fn;
    void *arg;
};

struct timer {
    int64_t when;
    uint64_t seq;     /* scheduling order breaks ties */
    uint32_t slot;
    uint32_t gen;     /* the slot's generation: a mismatch means cancelled */
};

/* Who registered a watch: the user, the loop itself (its wakeup fd), or the
 * core's readiness-based socket operations. */
enum watch_owner { OWNER_USER, OWNER_INTERNAL, OWNER_SOCK };

struct fd_entry {
    petal_handle_t reader, writer;
    unsigned events;  /* interest registered with the backend */
    bool internal;    /* used by the loop itself */
    bool sock_reader, sock_writer;  /* the watch serves socket operations */
    /* Receive side: the socket watch stays armed with no operation queued
     * (sock.c, "idle watch"); idle_iter is the iteration that left it idle. */
    bool idle_reader;
    bool unverified;  /* a receive waits on the idle watch, identity not checked yet */
    bool known_open;  /* completion path: fcntl() saw it open (until fd_closing) */
    bool rx_drained;  /* the last receive got less than it asked for (sock.c) */
    uint64_t idle_iter;
    uint64_t unverified_iter;  /* the iteration that queued that receive */
    uint32_t unverified_seq;   /* its entry in loop->unverified (sock.c) */
    petal_sock_op_t *rq, *wq;       /* socket operations: receive and send side, FIFO */
    dev_t dev;        /* identity of the open file, to notice a reused number */
    ino_t ino;
    void *state;      /* backend's per-fd state */
};

/* An entry of the unverified list; it counts only while its fd's entry
 * still carries the same seq (a served receive leaves a stale entry). */
struct unverified_ref {
    int fd;
    uint32_t seq;
};

/* A free list of dead objects kept for reuse; an object's first word is
 * the link while it is on the list. */
struct spare {
    void *head;
    unsigned n;
};

static inline void *spare_pop(struct spare *l)
{
    void *p = l->head;
    if (p) {
        l->head = *(void **)p;
        l->n--;
    }
    return p;
}

/* false: the list holds `max` already (the caller frees p). */
static inline bool spare_push(struct spare *l, void *p, unsigned max)
{
    if (l->n >= max) return false;
    *(void **)p = l->head;
    l->head = p;
    l->n++;
    return true;
}

static inline void spare_free_all(struct spare *l)
{
    for (void *p; (p = spare_pop(l));) free(p);
}

struct ts_call {
    petal_cb cb;
    void *arg;
};

struct petal_loop {
    const petal_backend_t *backend;
    void *backend_state;
    bool hosted, running, stopping, closed;
    bool ticking;                  /* inside petal_core_tick (a host may drive it) */
    bool no_wait;                  /* petal_loop_run_ready: never block */
    uint64_t iter;                 /* petal_core_tick calls so far (one per poll) */
    int embed_fd;                  /* epoll fd mirroring every watched fd, or -1 */
    unsigned refs;                 /* 1 for the loop + 1 per live future */

    struct slot *slots;
    uint32_t nslots, slots_cap, free_head;

    petal_handle_t *ready;         /* ring buffer */
    uint32_t ready_head, ready_len, ready_cap;

    struct timer *heap;            /* 4-ary min-heap */
    uint32_t heap_len, heap_cap;
    uint32_t heap_dead;            /* cancelled entries still in the heap */
    uint64_t timer_seq;

    petal_sock_op_t *done_head, *done_tail;  /* finished socket operations to deliver */
    struct spare ops_spare;        /* freed operations for reuse (sock.c) */
    struct spare futs_spare;       /* released futures for reuse (future.c) */

    struct fd_entry *fds;
    int fds_cap;
    int user_fds;                  /* fds with a user watch registered */
    uint32_t native_ops;           /* socket operations the backend performs (sock_submit) */
    struct unverified_ref *unverified;  /* fds whose unverified flag was set (sock.c) */
    uint32_t n_unverified, unverified_cap;
    uint32_t unverified_live;      /* fds whose flag is set now */
    uint32_t unverified_seq;       /* numbers the entries */
    uint64_t unverified_iter;      /* iteration of the oldest one */
    uint64_t zero_poll_iter;       /* iteration + 1 of the last poll made non-blocking for them */

    pthread_mutex_t ts_lock;       /* call_soon_threadsafe queue */
    struct ts_call *ts_calls;
    size_t ts_len, ts_cap;
    atomic_int ts_pending;
    int wake_fd;                   /* eventfd: threads and signals wake the loop */

    struct { petal_cb cb; void *arg; } sig[NSIG];
    int nsignals;

    petal_error_hook error_hook;
    void *error_hook_arg;

    struct loop_local *locals;     /* petal_loop_set_local */
    size_t nlocals, locals_cap;
};

#define HANDLE_INDEX(h) ((uint32_t)((uint64_t)(h) & 0xffffffffu) - 1u)
#define HANDLE_GEN(h)   ((uint32_t)((uint64_t)(h) >> 32))
#define GEN_MASK        0x7fffffffu

static inline petal_handle_t make_handle(uint32_t index, uint32_t gen)
{
    return (petal_handle_t)(((uint64_t)gen << 32) | (uint64_t)(index + 1u));
}

/* Common argument check: 0, PETAL_EINVAL or PETAL_ECLOSED. */
static inline int loop_check(const petal_loop_t *loop)
{
    if (!loop) return PETAL_EINVAL;
    if (loop->closed) return PETAL_ECLOSED;
    return 0;
}

/* A host loop only runs petal from its hooks when it has a reason to: tell
 * the backend when petal gains work. */
static inline void host_notify(petal_loop_t *loop)
{
    if (loop->hosted && loop->backend->host_wakeup) loop->backend->host_wakeup(loop);
}

/* arrays.c: memory of the growable arrays (huge pages past 2 MiB) */
void *array_resize(void *p, size_t old_bytes, size_t new_bytes);
void array_free(void *p, size_t bytes);

/* handles.c: slots and the ready queue */
int slots_alloc(petal_loop_t *loop, enum slot_kind kind, void *fn, void *arg, uint32_t *index);
void slots_free(petal_loop_t *loop, uint32_t index);
int ready_grow(petal_loop_t *loop);
petal_handle_t schedule(petal_loop_t *loop, enum slot_kind kind, void *fn, void *arg);
void ready_run(petal_loop_t *loop);
void handles_destroy(petal_loop_t *loop);

/* The slot h names, or NULL if h ran, was cancelled or never existed. */
static inline struct slot *slot_lookup(petal_loop_t *loop, petal_handle_t h)
{
    if (h <= 0) return NULL;
    uint32_t i = HANDLE_INDEX(h);
    if (i >= loop->nslots) return NULL;
    struct slot *s = &loop->slots[i];
    if (s->gen != HANDLE_GEN(h) || s->kind == SLOT_FREE) return NULL;
    return s;
}

/* A ready-queue entry may also name a future whose done-callbacks are due
 * (future.c): its address, negated, as handles are positive. */
static inline petal_handle_t future_entry(petal_future_t *f)
{
    return -(petal_handle_t)(intptr_t)f;
}

/* Appends h to the ready queue (inline: the hot path of call_soon, of every
 * readiness and of every expired timer). */
static inline int ready_push(petal_loop_t *loop, petal_handle_t h)
{
    if (__builtin_expect(loop->ready_len == loop->ready_cap, 0)) {
        int rc = ready_grow(loop);
        if (rc) return rc;
    }
    loop->ready[(loop->ready_head + loop->ready_len) & (loop->ready_cap - 1)] = h;
    if (loop->ready_len++ == 0) host_notify(loop);
    return 0;
}

/* timers.c */
int timers_push(petal_loop_t *loop, uint32_t slot, int64_t when);
void timers_cancelled(petal_loop_t *loop);
void timers_expire(petal_loop_t *loop, int64_t now);
int64_t timers_first(petal_loop_t *loop); /* INT64_MAX if none */
void timers_destroy(petal_loop_t *loop);

/* fdtable.c */
void fds_destroy(petal_loop_t *loop);
int fds_watch(petal_loop_t *loop, int fd, petal_io_cb cb, void *arg, bool write, enum watch_owner owner);
int fds_unwatch(petal_loop_t *loop, int fd, bool write, enum watch_owner owner);
/* NULL if never seen. */
static inline struct fd_entry *fds_entry(petal_loop_t *loop, int fd)
{
    return fd >= 0 && fd < loop->fds_cap ? &loop->fds[fd] : NULL;
}
int fds_reserve(petal_loop_t *loop, int fd);
/* fd no longer names the file its entry was made for: end everything on it
 * (reported through the error hook unless only an idle socket watch was left). */
void fds_drop_stale(petal_loop_t *loop, int fd, bool quiet);

/* sock.c */
static inline void unverified_clear(petal_loop_t *loop, struct fd_entry *e)
{
    if (e->unverified) {
        e->unverified = false;
        loop->unverified_live--;
    }
}
void sock_fail_all(petal_loop_t *loop, struct fd_entry *e, int err);
/* fd's socket watch (receive side, or send side if write) reported it ready. */
void sock_ready(petal_loop_t *loop, int fd, bool write);
void sock_deliver(petal_loop_t *loop);
/* Checks the identity of fds whose receives wait unchecked (sock.c). `all`:
 * every one (the loop is about to block), else only after a few iterations. */
void sock_verify(petal_loop_t *loop, bool all);
void sock_ops_free(petal_loop_t *loop);

/* embed.c */
void embed_update(petal_loop_t *loop, int fd, unsigned events);
void embed_destroy(petal_loop_t *loop);

/* threadsafe.c */
int wake_init(petal_loop_t *loop);
void wake_drain(petal_loop_t *loop);
void wake_destroy(petal_loop_t *loop);

/* signals.c */
void signals_dispatch(petal_loop_t *loop);
bool signals_pending(const petal_loop_t *loop);
void signals_release_all(petal_loop_t *loop);

/* future.c */
void future_loop_release(petal_loop_t *loop);
void futures_spare_free(petal_loop_t *loop);
/* Drops the entry future_entry(f) without running its callbacks (the loop
 * closed); running them is future_run_callbacks (future_internal.h). */
void future_drop_callbacks(petal_future_t *f);

/* locals.c */
void locals_destroy(petal_loop_t *loop);

/* clock */
int64_t petal_now_ns(void);


#endif
