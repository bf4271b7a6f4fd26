/* Event, Queue, Semaphore/Lock. Waiters are served FIFO; a release or put
 * hands its slot or item straight to the first waiter, so a woken greenlet
 * never finds it taken again. */
#include <stdlib.h>
#include <string.h>

#include "green_internal.h"

/* Common wait on a list: 0 / -EAGAIN (timeout 0) / PETAL_ETIMEDOUT / kill. */
static int list_wait(struct green_list *l, int kind, void *obj, double timeout_s, struct petal_green **self)
{
    struct petal_green *r;
    int rc = green_enter(&r);
    if (rc) return rc;
    int64_t dl;
    bool scope;
    if ((rc = green_prepare(r, timeout_s, &dl, &scope))) return rc;
    green_begin_wait(r, kind, obj);
    green_list_push(l, r);
    green_arm(r->hub, r, dl, scope);
    if (self) *self = r;
    return green_park(r->hub, r);
}

static int check_hub(petal_hub_t *hub)
{
    if (!hub) return PETAL_EINVAL;
    if (hub != green_hub()) return PETAL_EWRONGTHREAD;
    return 0;
}

/* ---- Event -------------------------------------------------------------- */

struct petal_green_event {
    petal_hub_t *hub;
    bool flag;
    uint32_t gen; /* bumped by each set: waiters from before it are woken */
    struct green_list waiters;
};

int petal_green_event_new(petal_hub_t *hub, petal_green_event **out)
{
    int rc = check_hub(hub);
    if (rc) return rc;
    if (!out) return PETAL_EINVAL;
    petal_green_event *ev = calloc(1, sizeof *ev);
    if (!ev) return PETAL_ENOMEM;
    ev->hub = hub;
    *out = ev;
    return 0;
}

int petal_green_event_free(petal_green_event *ev)
{
    if (!ev) return 0;
    if (ev->waiters.head) return PETAL_EBUSY;
    free(ev);
    return 0;
}

int petal_green_event_set(petal_green_event *ev)
{
    if (!ev) return PETAL_EINVAL;
    ev->flag = true;
    uint32_t gen = ev->gen++;
    struct petal_green *r;
    /* Waiters that wait again after waking get the new generation: stop there. */
    while ((r = ev->waiters.head) && r->wgen == gen) {
        green_cancel_wait(ev->hub, r);
        green_wake_later(ev->hub, r, 0); /* we go on reading ev: no switch from here */
    }
    return 0;
}

int petal_green_event_clear(petal_green_event *ev)
{
    if (!ev) return PETAL_EINVAL;
    ev->flag = false;
    return 0;
}

bool petal_green_event_is_set(const petal_green_event *ev) { return ev && ev->flag; }

int petal_green_event_wait(petal_green_event *ev, double timeout_s)
{
    if (!ev) return PETAL_EINVAL;
    if (ev->flag) return 0;
    if (timeout_s == 0) return PETAL_ETIMEDOUT;
    struct petal_green *self = ev->hub == green_hub() ? green_self(ev->hub) : NULL;
    if (self) self->wgen = ev->gen; /* read only if it parks */
    return list_wait(&ev->waiters, W_EVENT, ev, timeout_s, NULL);
}

/* ---- Queue -------------------------------------------------------------- */

struct petal_green_queue {
    petal_hub_t *hub;
    size_t maxsize, cap, head, count;
    void **items;
    struct green_list getters, putters;
};

int petal_green_queue_new(petal_hub_t *hub, size_t maxsize, petal_green_queue **out)
{
    int rc = check_hub(hub);
    if (rc) return rc;
    if (!out) return PETAL_EINVAL;
    petal_green_queue *q = calloc(1, sizeof *q);
    if (!q) return PETAL_ENOMEM;
    q->hub = hub;
    q->maxsize = maxsize;
    *out = q;
    return 0;
}

int petal_green_queue_free(petal_green_queue *q)
{
    if (!q) return 0;
    if (q->getters.head || q->putters.head) return PETAL_EBUSY;
    free(q->items);
    free(q);
    return 0;
}

static int q_push(petal_green_queue *q, void *item)
{
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        void **n = malloc(cap * sizeof *n);
        if (!n) return PETAL_ENOMEM;
        for (size_t i = 0; i < q->count; i++) n[i] = q->items[(q->head + i) % q->cap];
        free(q->items);
        q->items = n;
        q->cap = cap;
        q->head = 0;
    }
    q->items[(q->head + q->count) % q->cap] = item;
    q->count++;
    return 0;
}

static void *q_pop(petal_green_queue *q)
{
    void *item = q->items[q->head];
    q->head = (q->head + 1) % q->cap;
    q->count--;
    return item;
}

int petal_green_queue_put(petal_green_queue *q, void *item, double timeout_s)
{
    if (!q) return PETAL_EINVAL;
    struct petal_green *g = q->getters.head; /* getters wait only on an empty queue */
    if (g) {
        green_cancel_wait(q->hub, g);
        g->xfer = item;
        green_wake(q->hub, g, 0);
        return 0;
    }
    if (!q->maxsize || q->count < q->maxsize) return q_push(q, item);
    if (timeout_s == 0) return -EAGAIN;
    struct petal_green *self = q->hub == green_hub() ? green_self(q->hub) : NULL;
    if (self) self->xfer = item; /* taken by the getter that frees a slot */
    return list_wait(&q->putters, W_QPUT, q, timeout_s, NULL);
}

int petal_green_queue_get(petal_green_queue *q, void **item, double timeout_s)
{
    if (!q || !item) return PETAL_EINVAL;
    if (q->count) {
        *item = q_pop(q);
        struct petal_green *p = q->putters.head;
        if (p) { /* a slot is free: the first blocked put completes */
            green_cancel_wait(q->hub, p);
            q_push(q, p->xfer); /* cannot fail: a slot was just freed */
            green_wake(q->hub, p, 0);
        }
        return 0;
    }
    if (timeout_s == 0) return -EAGAIN;
    struct petal_green *r = NULL;
    int rc = list_wait(&q->getters, W_QGET, q, timeout_s, &r);
    if (rc == 0) *item = r->xfer;
    return rc;
}

size_t petal_green_queue_size(const petal_green_queue *q) { return q ? q->count : 0; }

/* ---- Semaphore and Lock ------------------------------------------------- */

struct petal_green_sem {
    petal_hub_t *hub;
    unsigned value, max;
    struct green_list waiters;
};

int petal_green_sem_new(petal_hub_t *hub, unsigned value, unsigned max, petal_green_sem **out)
{
    int rc = check_hub(hub);
    if (rc) return rc;
    if (!out || (max && value > max)) return PETAL_EINVAL;
    petal_green_sem *s = calloc(1, sizeof *s);
    if (!s) return PETAL_ENOMEM;
    s->hub = hub;
    s->value = value;
    s->max = max;
    *out = s;
    return 0;
}

int petal_green_lock_new(petal_hub_t *hub, petal_green_sem **out) { return petal_green_sem_new(hub, 1, 1, out); }

int petal_green_sem_free(petal_green_sem *s)
{
    if (!s) return 0;
    if (s->waiters.head) return PETAL_EBUSY;
    free(s);
    return 0;
}

int petal_green_sem_acquire(petal_green_sem *s, double timeout_s)
{
    if (!s) return PETAL_EINVAL;
    if (s->value > 0 && !s->waiters.head) {
        s->value--;
        return 0;
    }
    if (timeout_s == 0) return -EAGAIN;
    return list_wait(&s->waiters, W_SEM, s, timeout_s, NULL);
}

int petal_green_sem_release(petal_green_sem *s)
{
    if (!s) return PETAL_EINVAL;
    struct petal_green *w = s->waiters.head;
    if (w) { /* the slot goes straight to the first waiter */
        green_cancel_wait(s->hub, w);
        green_wake(s->hub, w, 0);
        return 0;
    }
    if (s->max && s->value >= s->max) return PETAL_EINVALSTATE;
    s->value++;
    return 0;
}

unsigned petal_green_sem_value(const petal_green_sem *s) { return s ? s->value : 0; }
