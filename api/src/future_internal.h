/* Private to api/: the future object and the fast paths the core's socket
 * operations use (sock.c makes, completes and drops a future per call, so
 * those steps are inline here rather than calls through the public API). */
#ifndef PETAL_FUTURE_INTERNAL_H
#define PETAL_FUTURE_INTERNAL_H

#include <stddef.h>

#include "loop_internal.h"

enum fut_state { FUT_PENDING, FUT_DONE, FUT_CANCELLED };

struct done_cb {
    petal_future_cb cb;
    void *arg;
};

/* Everything an operation touches is in the first 64 bytes, and futures
 * are 64-byte aligned: one cache line per future and phase (a server has
 * hundreds in flight, each touched when made, completed and consumed).
 * The second line holds the callbacks after the first, rarely used. */
struct petal_future {
    _Alignas(64) petal_loop_t *loop;
    void *value;               /* pending: the on_cancel hook's argument */
    petal_dtor dtor;
    struct done_cb first;      /* most futures get one callback: no allocation */
    void (*on_cancel)(petal_future_t *f, void *arg);
    unsigned refs;
    int err;                   /* when done: 0 = result, else the error */
    uint32_t ncbs;             /* callbacks: first, then more[0 .. ncbs - 2] */
    uint8_t state;             /* enum fut_state */
    bool heap;                 /* `more` is allocated */
    struct done_cb *more;
    uint32_t more_cap;
};

_Static_assert(offsetof(struct petal_future, more) == 64, "the hot fields fit one cache line");

/* future.c: the out-of-line halves */
petal_future_t *future_alloc_slow(void);
void future_free(petal_future_t *f);    /* the last reference went */
void future_queue_failed(petal_future_t *f);

/* Released futures are kept for reuse by their loop, up to FUTURES_SPARE_MAX:
 * a server with hundreds of operations in flight would otherwise go past
 * malloc's per-thread cache on every operation. Not under AddressSanitizer,
 * so that a future used after its release is still caught. */
#define FUTURES_SPARE_MAX 1024
#if defined(__SANITIZE_ADDRESS__)
#define FUTURES_SPARE_ON 0
#else
#define FUTURES_SPARE_ON 1
#endif

/* A new pending future with `refs` references on an open loop, or NULL. */
static inline petal_future_t *future_alloc(petal_loop_t *loop, unsigned refs)
{
    petal_future_t *f = spare_pop(&loop->futs_spare);
    if (__builtin_expect(!f, 0) && !(f = future_alloc_slow())) return NULL;
    /* Field by field (a reused future is not zeroed): `first` is written
     * before it is read. */
    f->loop = loop;
    f->refs = refs;
    f->state = FUT_PENDING;
    f->heap = false;
    f->err = 0;
    f->value = NULL;
    f->dtor = NULL;
    f->ncbs = 0;
    f->on_cancel = NULL;
    loop->refs++;    /* the loop's memory outlives its futures */
    return f;
}

/* Queues f's callbacks: one ready-queue entry for all of them (the future
 * itself, see ready_run), as they would be queued one after the other. */
static inline void future_queue_callbacks(petal_future_t *f)
{
    if (__builtin_expect(ready_push(f->loop, future_entry(f)) != 0, 0)) {
        future_queue_failed(f);
        return;
    }
    f->refs++;    /* held by the queue entry */
}

/* Moves a pending f to its final state; its on_cancel hook is dropped
 * (the caller runs it first if it must). */
static inline void future_settle(petal_future_t *f, enum fut_state state, int err, void *value, petal_dtor dtor)
{
    f->on_cancel = NULL;
    f->state = (uint8_t)state;
    f->err = err;
    f->value = value;
    f->dtor = dtor;
}

/* Completes a pending f with err (0: value) and queues its callbacks; its
 * on_cancel hook is dropped without a call. */
static inline void future_complete(petal_future_t *f, int err, void *value, petal_dtor dtor)
{
    future_settle(f, FUT_DONE, err, value, dtor);
    if (f->ncbs) future_queue_callbacks(f);
}

/* Called once, synchronously, if the future gets cancelled by its user. */
static inline void future_on_cancel(petal_future_t *f, void (*fn)(petal_future_t *f, void *arg), void *arg)
{
    f->on_cancel = fn;
    f->value = arg;
}

/* Drops a reference; the last one keeps f for reuse when that is cheap
 * (no destructor, no callback array, the loop open and still referenced
 * by another future), else frees it. */
static inline void future_unref(petal_future_t *f)
{
    if (--f->refs) return;
    petal_loop_t *loop = f->loop;
    if (FUTURES_SPARE_ON && !f->dtor && !f->heap && !loop->closed && loop->refs > 1 &&
        spare_push(&loop->futs_spare, f, FUTURES_SPARE_MAX)) {
        loop->refs--;
        return;
    }
    future_free(f);
}

/* Runs the done-callbacks queued by future_queue_callbacks, in order, then
 * drops the entry's reference. */
static inline void future_run_callbacks(petal_future_t *f)
{
    uint32_t n = f->ncbs;
    f->ncbs = 0;
    for (uint32_t i = 0; i < n && !f->loop->closed; i++) {
        struct done_cb c = i == 0 ? f->first : f->more[i - 1];
        c.cb(f, c.arg);
    }
    future_unref(f);
}

#endif
