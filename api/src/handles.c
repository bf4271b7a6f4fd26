/* Handle slots and the ready queue (call_soon).
 *
 * Every scheduled callback lives in a slot of one growable array; its handle
 * is (generation << 32 | index + 1). Freeing a slot bumps its generation, so
 * a handle that ran or was cancelled never matches again, and a ready-queue
 * entry whose slot was freed is skipped. Slots and the ring are reused, so
 * call_soon allocates nothing in steady state. */
#include <stdlib.h>
#include <string.h>

#include "future_internal.h"

#define NO_SLOT UINT32_MAX

/* Growth is the cold path of call_soon: kept out of line so the hot path
 * (a free slot, room in the ring) stays a few instructions. */
__attribute__((noinline)) static int slots_grow(petal_loop_t *loop)
{
    uint32_t cap = loop->slots_cap ? loop->slots_cap * 2 : 64;
    if (cap > 0x7fffffffu) return PETAL_ENOMEM;
    struct slot *s = array_resize(loop->slots, (size_t)loop->slots_cap * sizeof *s, (size_t)cap * sizeof *s);
    if (!s) return PETAL_ENOMEM;
    loop->slots = s;
    loop->slots_cap = cap;
    return 0;
}

int slots_alloc(petal_loop_t *loop, enum slot_kind kind, void *fn, void *arg, uint32_t *index)
{
    uint32_t i;
    if (loop->free_head != NO_SLOT) {
        i = loop->free_head;
        loop->free_head = loop->slots[i].aux;
    } else {
        if (__builtin_expect(loop->nslots == loop->slots_cap, 0)) {
            int rc = slots_grow(loop);
            if (rc) return rc;
        }
        i = loop->nslots++;
        loop->slots[i].gen = 1;
    }
    struct slot *s = &loop->slots[i];
    s->kind = (uint8_t)kind;
    s->queued = 0;
    s->obj = NULL;    /* and aux, status */
    s->fn = fn;
    s->arg = arg;
    *index = i;
    return 0;
}

void slots_free(petal_loop_t *loop, uint32_t i)
{
    struct slot *s = &loop->slots[i];
    s->gen = (s->gen + 1) & GEN_MASK;
    s->kind = SLOT_FREE;
    s->aux = loop->free_head;
    loop->free_head = i;
}

__attribute__((noinline)) int ready_grow(petal_loop_t *loop)
{
    uint32_t cap = loop->ready_cap ? loop->ready_cap * 2 : 256;
    if (cap == 0) return PETAL_ENOMEM;
    size_t old_bytes = (size_t)loop->ready_cap * sizeof *loop->ready, new_bytes = (size_t)cap * sizeof *loop->ready;
    petal_handle_t *r;
    if (loop->ready_head + loop->ready_len <= loop->ready_cap) {
        /* not wrapped: a resize keeps the order */
        if (!(r = array_resize(loop->ready, old_bytes, new_bytes))) return PETAL_ENOMEM;
    } else {
        if (!(r = array_resize(NULL, 0, new_bytes))) return PETAL_ENOMEM;
        /* unroll the ring into the new array, oldest first */
        for (uint32_t k = 0; k < loop->ready_len; k++)
            r[k] = loop->ready[(loop->ready_head + k) & (loop->ready_cap - 1)];
        array_free(loop->ready, old_bytes);
        loop->ready_head = 0;
    }
    loop->ready = r;
    loop->ready_cap = cap;
    return 0;
}

petal_handle_t schedule(petal_loop_t *loop, enum slot_kind kind, void *fn, void *arg)
{
    uint32_t i;
    int rc = slots_alloc(loop, kind, fn, arg, &i);
    if (rc) return rc;
    petal_handle_t h = make_handle(i, loop->slots[i].gen);
    rc = ready_push(loop, h);
    if (rc) {
        slots_free(loop, i);
        return rc;
    }
    return h;
}

petal_handle_t petal_call_soon(petal_loop_t *loop, petal_cb cb, void *arg)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (!cb) return PETAL_EINVAL;
    return schedule(loop, SLOT_SOON, (void *)cb, arg);
}

int petal_cancel(petal_loop_t *loop, petal_handle_t h)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (h <= 0 || HANDLE_INDEX(h) >= loop->nslots) return PETAL_EINVAL;
    struct slot *s = slot_lookup(loop, h);
    if (!s) return PETAL_EALREADY;
    bool timer = s->kind == SLOT_TIMER;
    if (!timer && s->kind != SLOT_SOON) return PETAL_EINVAL;    /* not a handle petal gave out */
    slots_free(loop, HANDLE_INDEX(h));
    if (timer) timers_cancelled(loop);    /* its heap entry is now dead */
    return 0;
}

/* Runs the callbacks that are ready now; what they schedule waits for the
 * next iteration. Each slot is copied out before its callback runs, because
 * the callback may grow (move) the slot array. */
void ready_run(petal_loop_t *loop)
{
    uint32_t n = loop->ready_len;
    while (n-- > 0 && !loop->closed) {
        petal_handle_t h = loop->ready[loop->ready_head];
        loop->ready_head = (loop->ready_head + 1) & (loop->ready_cap - 1);
        loop->ready_len--;
        if (h < 0) {    /* a future's done-callbacks */
            future_run_callbacks((petal_future_t *)(intptr_t)-h);
            continue;
        }
        struct slot *s = slot_lookup(loop, h);
        if (!s) continue;    /* cancelled after it was queued */
        struct slot c = *s;
        uint32_t i = HANDLE_INDEX(h);
        switch ((enum slot_kind)c.kind) {
        case SLOT_SOON:
        case SLOT_INTERNAL:
            slots_free(loop, i);
            ((petal_cb)c.fn)(loop, c.arg);
            break;
        case SLOT_WATCH:
            s->queued = 0;
            ((petal_io_cb)c.fn)(loop, (int)c.aux, 0, c.arg);
            break;
        case SLOT_IO_END:
            slots_free(loop, i);
            ((petal_io_cb)c.fn)(loop, (int)c.aux, c.status, c.arg);
            break;
        case SLOT_FUTURE:
            slots_free(loop, i);
            ((petal_future_cb)c.fn)((petal_future_t *)c.obj, c.arg);
            petal_future_release((petal_future_t *)c.obj);
            break;
        case SLOT_TIMER:
        case SLOT_FREE:
            break;
        }
    }
}

void handles_destroy(petal_loop_t *loop)
{
    /* Pending done-callbacks hold a future reference each: give it back. */
    for (uint32_t k = 0; k < loop->ready_len; k++) {
        petal_handle_t h = loop->ready[(loop->ready_head + k) & (loop->ready_cap - 1)];
        if (h < 0) future_drop_callbacks((petal_future_t *)(intptr_t)-h);
    }
    for (uint32_t i = 0; i < loop->nslots; i++) {
        struct slot *s = &loop->slots[i];
        if (s->kind == SLOT_FUTURE) {
            void *fut = s->obj;
            slots_free(loop, i);
            petal_future_release(fut);
        }
    }
    array_free(loop->slots, (size_t)loop->slots_cap * sizeof *loop->slots);
    array_free(loop->ready, (size_t)loop->ready_cap * sizeof *loop->ready);
    loop->slots = NULL;
    loop->ready = NULL;
    loop->nslots = loop->slots_cap = loop->ready_len = loop->ready_cap = 0;
    loop->free_head = NO_SLOT;
}
