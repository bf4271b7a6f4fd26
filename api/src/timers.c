/* Timers: a 4-ary min-heap of (deadline, sequence) in user space. One wait
 * timeout (the earliest live deadline) is all a backend ever sees.
 *
 * Cancelling is lazy, as in asyncio: the slot is freed at once (its handle
 * goes stale), and the heap entry, which remembers the slot's generation,
 * is dropped when it reaches the top, or when more than half of the heap is
 * dead and the heap is rebuilt. Cancel is O(1) and never sifts. */
#include <math.h>
#include <stdlib.h>

#include "loop_internal.h"

static bool before(const struct timer *a, const struct timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static bool live(const petal_loop_t *loop, const struct timer *t)
{
    const struct slot *s = &loop->slots[t->slot];
    return s->gen == t->gen && s->kind == SLOT_TIMER;
}

static void sift_up(struct timer *heap, uint32_t k, struct timer t)
{
    while (k > 0) {
        uint32_t parent = (k - 1) / 4;
        if (!before(&t, &heap[parent])) break;
        heap[k] = heap[parent];
        k = parent;
    }
    heap[k] = t;
}

static void sift_down(struct timer *heap, uint32_t len, uint32_t k, struct timer t)
{
    for (;;) {
        uint32_t first = 4 * k + 1;
        if (first >= len) break;
        uint32_t best = first, end = first + 4 < len ? first + 4 : len;
        for (uint32_t c = first + 1; c < end; c++)
            if (before(&heap[c], &heap[best])) best = c;
        if (!before(&heap[best], &t)) break;
        heap[k] = heap[best];
        k = best;
    }
    heap[k] = t;
}

int timers_push(petal_loop_t *loop, uint32_t slot, int64_t when)
{
    if (loop->heap_len == loop->heap_cap) {
        uint32_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        struct timer *h = array_resize(loop->heap, (size_t)loop->heap_cap * sizeof *h, (size_t)cap * sizeof *h);
        if (!h) return PETAL_ENOMEM;
        loop->heap = h;
        loop->heap_cap = cap;
    }
    struct timer t = { when, loop->timer_seq++, slot, loop->slots[slot].gen };
    sift_up(loop->heap, loop->heap_len++, t);
    if (loop->heap[0].slot == slot && loop->heap[0].gen == t.gen) host_notify(loop);    /* new earliest */
    return 0;
}

static void pop(petal_loop_t *loop)
{
    struct timer last = loop->heap[--loop->heap_len];
    if (loop->heap_len) sift_down(loop->heap, loop->heap_len, 0, last);
}

/* Keeps only live entries and restores the heap order (Floyd, O(n)). */
static void rebuild(petal_loop_t *loop)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < loop->heap_len; i++)
        if (live(loop, &loop->heap[i])) loop->heap[n++] = loop->heap[i];
    loop->heap_len = n;
    loop->heap_dead = 0;
    for (uint32_t k = n > 1 ? (n - 2) / 4 + 1 : 0; k-- > 0;)
        sift_down(loop->heap, n, k, loop->heap[k]);
}

/* The slot of a timer was freed (cancelled): its entry is now dead. */
void timers_cancelled(petal_loop_t *loop)
{
    if (++loop->heap_dead > loop->heap_len / 2 && loop->heap_len >= 64) rebuild(loop);
}

/* Drops dead entries from the top. */
static void prune(petal_loop_t *loop)
{
    while (loop->heap_len && !live(loop, &loop->heap[0])) {
        pop(loop);
        loop->heap_dead--;
    }
}

int64_t timers_first(petal_loop_t *loop)
{
    prune(loop);
    return loop->heap_len ? loop->heap[0].when : INT64_MAX;
}

/* Moves every timer due at `now` to the ready queue, earliest first. */
void timers_expire(petal_loop_t *loop, int64_t now)
{
    for (prune(loop); loop->heap_len && loop->heap[0].when <= now; prune(loop)) {
        uint32_t i = loop->heap[0].slot;
        struct slot *s = &loop->slots[i];
        if (ready_push(loop, make_handle(i, s->gen)) != 0) {
            /* Out of memory: the timer stays for the next iteration. */
            petal_core_report(loop, PETAL_ENOMEM, -1, "timer expiry delayed: ready queue full");
            return;
        }
        pop(loop);
        s->kind = SLOT_SOON;
    }
}

void timers_destroy(petal_loop_t *loop)
{
    array_free(loop->heap, (size_t)loop->heap_cap * sizeof *loop->heap);
    loop->heap = NULL;
    loop->heap_len = loop->heap_cap = loop->heap_dead = 0;
}

static petal_handle_t call_at(petal_loop_t *loop, int64_t when, petal_cb cb, void *arg)
{
    uint32_t i;
    int rc = slots_alloc(loop, SLOT_TIMER, (void *)cb, arg, &i);
    if (rc) return rc;
    rc = timers_push(loop, i, when);
    if (rc) {
        slots_free(loop, i);
        return rc;
    }
    return make_handle(i, loop->slots[i].gen);
}

petal_handle_t petal_call_at_ns(petal_loop_t *loop, int64_t when_ns, petal_cb cb, void *arg)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (!cb || when_ns < 0) return PETAL_EINVAL;
    return call_at(loop, when_ns, cb, arg);
}

petal_handle_t petal_call_later_ns(petal_loop_t *loop, int64_t delay_ns, petal_cb cb, void *arg)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (!cb || delay_ns < 0) return PETAL_EINVAL;
    int64_t now = petal_now_ns();
    if (delay_ns > INT64_MAX - now) return PETAL_EINVAL;
    return call_at(loop, now + delay_ns, cb, arg);
}

/* Seconds to nanoseconds, refusing NaN, infinities, negatives and overflow. */
static int seconds_to_ns(double s, int64_t *ns)
{
    if (!isfinite(s) || s < 0 || s >= 9.2e9) return PETAL_EINVAL;
    *ns = (int64_t)ceil(s * 1e9);
    return 0;
}

petal_handle_t petal_call_later(petal_loop_t *loop, double delay_s, petal_cb cb, void *arg)
{
    int64_t ns;
    int rc = seconds_to_ns(delay_s, &ns);
    return rc ? rc : petal_call_later_ns(loop, ns, cb, arg);
}

petal_handle_t petal_call_at(petal_loop_t *loop, double when_s, petal_cb cb, void *arg)
{
    int64_t ns;
    int rc = seconds_to_ns(when_s, &ns);
    return rc ? rc : petal_call_at_ns(loop, ns, cb, arg);
}
