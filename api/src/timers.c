/* Timers: a 4-ary min-heap of (deadline, sequence) in user space, with each
 * slot remembering its heap index so cancel is O(log n). One wait timeout
 * (the earliest deadline) is all a backend ever sees. */
#include <math.h>
#include <stdlib.h>

#include "loop_internal.h"

static bool before(const struct timer *a, const struct timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void place(petal_loop_t *loop, uint32_t k, struct timer t)
{
    loop->heap[k] = t;
    loop->slots[t.slot].aux = k;
}

static void sift_up(petal_loop_t *loop, uint32_t k, struct timer t)
{
    while (k > 0) {
        uint32_t parent = (k - 1) / 4;
        if (!before(&t, &loop->heap[parent])) break;
        place(loop, k, loop->heap[parent]);
        k = parent;
    }
    place(loop, k, t);
}

static void sift_down(petal_loop_t *loop, uint32_t k, struct timer t)
{
    for (;;) {
        uint32_t first = 4 * k + 1;
        if (first >= loop->heap_len) break;
        uint32_t best = first, end = first + 4 < loop->heap_len ? first + 4 : loop->heap_len;
        for (uint32_t c = first + 1; c < end; c++)
            if (before(&loop->heap[c], &loop->heap[best])) best = c;
        if (!before(&loop->heap[best], &t)) break;
        place(loop, k, loop->heap[best]);
        k = best;
    }
    place(loop, k, t);
}

int timers_push(petal_loop_t *loop, uint32_t slot, int64_t when)
{
    if (loop->heap_len == loop->heap_cap) {
        uint32_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        struct timer *h = realloc(loop->heap, (size_t)cap * sizeof *h);
        if (!h) return PETAL_ENOMEM;
        loop->heap = h;
        loop->heap_cap = cap;
    }
    struct timer t = { when, loop->timer_seq++, slot };
    sift_up(loop, loop->heap_len++, t);
    if (loop->heap[0].slot == slot) host_notify(loop);    /* new earliest deadline */
    return 0;
}

void timers_remove(petal_loop_t *loop, uint32_t k)
{
    struct timer last = loop->heap[--loop->heap_len];
    if (k == loop->heap_len) return;
    if (k > 0 && before(&last, &loop->heap[(k - 1) / 4]))
        sift_up(loop, k, last);
    else
        sift_down(loop, k, last);
}

int64_t timers_first(const petal_loop_t *loop)
{
    return loop->heap_len ? loop->heap[0].when : INT64_MAX;
}

/* Moves every timer due at `now` to the ready queue, earliest first. */
void timers_expire(petal_loop_t *loop, int64_t now)
{
    while (loop->heap_len && loop->heap[0].when <= now) {
        uint32_t i = loop->heap[0].slot;
        timers_remove(loop, 0);
        struct slot *s = &loop->slots[i];
        s->kind = SLOT_SOON;
        if (ready_push(loop, make_handle(i, s->gen)) != 0) {
            /* Out of memory: keep the timer for the next iteration. */
            s->kind = SLOT_TIMER;
            timers_push(loop, i, now);
            petal_core_report(loop, PETAL_ENOMEM, -1, "timer expiry delayed: ready queue full");
            return;
        }
    }
}

void timers_destroy(petal_loop_t *loop)
{
    free(loop->heap);
    loop->heap = NULL;
    loop->heap_len = loop->heap_cap = 0;
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
