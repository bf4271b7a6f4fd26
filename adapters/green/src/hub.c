/* The hub: lifecycle, dispatch (switching into greenlets from loop
 * callbacks), parking and waking, deadlines.
 *
 * Whoever runs the loop dispatches: normally the hub greenlet, but main may
 * run the loop itself (or a host loop may), so a greenlet parks by switching
 * back to the greenlet that last switched it in (its resumer). Wakes from a
 * loop callback switch straight into the woken greenlet; wakes from a running
 * greenlet go through the ready list, which one call_soon callback drains per
 * iteration (spawns start the same way, in batches). */
#include <math.h>
#include <stddef.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "green_internal.h"

static _Thread_local petal_hub_t *tl_hub;

#define HUB_STACK ((size_t)1024 * 1024)

petal_hub_t *green_hub(void) { return tl_hub; }
petal_hub_t *petal_green_hub_current(void) { return tl_hub; }
petal_loop_t *petal_green_hub_loop(const petal_hub_t *hub) { return hub ? hub->loop : NULL; }

int64_t green_now(petal_hub_t *hub) { return petal_time_ns(hub->loop); }

/* ---- lists -------------------------------------------------------------- */

void green_list_push(struct green_list *l, struct petal_green *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail) l->tail->next = r;
    else l->head = r;
    l->tail = r;
    r->wlist = l;
}

void green_list_unlink(struct petal_green *r)
{
    struct green_list *l = r->wlist;
    if (!l) return;
    if (r->prev) r->prev->next = r->next;
    else l->head = r->next;
    if (r->next) r->next->prev = r->prev;
    else l->tail = r->prev;
    r->prev = r->next = NULL;
    r->wlist = NULL;
}

struct petal_green *green_list_pop(struct green_list *l)
{
    struct petal_green *r = l->head;
    if (r) green_list_unlink(r);
    return r;
}

/* ---- records ------------------------------------------------------------ */

/* Records come from 2 MiB chunks (transparent huge pages where the kernel
 * allows: a million sleeping greenlets then take a few hundred page faults
 * instead of 50,000) with a free list. Under ASan they are plain mallocs, so
 * use-after-free of a record is still caught. */
#if defined(__SANITIZE_ADDRESS__)
#define GREEN_SLAB 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GREEN_SLAB 0
#endif
#endif
#ifndef GREEN_SLAB
#define GREEN_SLAB 1
#endif

#define SLAB_CHUNK ((size_t)2 << 20)

static struct petal_green *rec_alloc(petal_hub_t *hub)
{
#if GREEN_SLAB
    struct petal_green *r = hub->free_recs;
    if (r) {
        hub->free_recs = r->ready_next;
    } else {
        if (hub->slab_end - hub->slab_next < (ptrdiff_t)sizeof *r) {
            /* over-map so the chunk can be aligned for a huge page */
            char *m = mmap(NULL, 2 * SLAB_CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (m == MAP_FAILED) return NULL;
            char *c = (char *)(((uintptr_t)m + SLAB_CHUNK - 1) & ~(uintptr_t)(SLAB_CHUNK - 1));
            if (c > m) munmap(m, (size_t)(c - m));
            munmap(c + SLAB_CHUNK, (size_t)(m + 2 * SLAB_CHUNK - (c + SLAB_CHUNK)));
            madvise(c, SLAB_CHUNK, MADV_HUGEPAGE);
            *(void **)c = hub->slabs; /* chunk header: the chain */
            hub->slabs = c;
            hub->slab_next = c + 64;
            hub->slab_end = c + SLAB_CHUNK;
        }
        r = (struct petal_green *)hub->slab_next;
        hub->slab_next += (sizeof *r + 15) & ~(size_t)15;
    }
    memset(r, 0, sizeof *r);
    return r;
#else
    (void)hub;
    return calloc(1, sizeof(struct petal_green));
#endif
}

static void rec_free(petal_hub_t *hub, struct petal_green *r)
{
#if GREEN_SLAB
    r->ready_next = hub->free_recs;
    hub->free_recs = r;
#else
    (void)hub;
    free(r);
#endif
}

static void hub_release_memory(petal_hub_t *hub)
{
    void *c = hub->slabs;
    while (c) {
        void *next = *(void **)c;
        munmap(c, SLAB_CHUNK);
        c = next;
    }
    free(hub->fd_read);
    free(hub->fd_write);
    free(hub);
}

void green_ref(struct petal_green *r) { r->refs++; }

void green_unref(struct petal_green *r)
{
    if (--r->refs > 0 || r->is_main) return;
    petal_hub_t *hub = r->hub;
    if (r->fut) petal_future_release(r->fut);
    rec_free(hub, r);
    if (--hub->nrec == 0 && hub->freed) hub_release_memory(hub);
}

petal_green_t *petal_green_retain(petal_green_t *g)
{
    if (g) g->refs++;
    return g;
}

void petal_green_release(petal_green_t *g)
{
    if (g) green_unref(g);
}

/* ---- who is running ----------------------------------------------------- */

/* True when the caller is the dispatcher: the hub greenlet, or a loop
 * callback run by main's own petal_loop_run. */
static bool dispatching(petal_hub_t *hub)
{
    struct petal_green *r = hub->running;
    if (!r) return true;
    return r->is_main && !hub->in_loop && (petal_loop_is_running(hub->loop) || petal_loop_is_hosted(hub->loop));
}

/* The record of the greenlet (or main) running now, if it may block. */
struct petal_green *green_self(petal_hub_t *hub)
{
    struct petal_green *r = hub->running;
    if (!r || r->co != petal_greenlet_current()) return NULL;
    /* main inside its own petal_loop_run, or under a host loop: it runs the
     * callbacks, nothing could resume it */
    if (r->is_main && !hub->in_loop && (petal_loop_is_running(hub->loop) || petal_loop_is_hosted(hub->loop)))
        return NULL;
    return r;
}

int green_enter(struct petal_green **out)
{
    petal_hub_t *hub = tl_hub;
    if (!hub) return PETAL_ENOHUB;
    struct petal_green *r = green_self(hub);
    if (!r) return PETAL_EBLOCKING;
    if (r->killing) return PETAL_EKILLED;
    if (r->is_main && hub->closing) return PETAL_ECLOSED;
    *out = r;
    return 0;
}

petal_green_t *petal_green_current(void)
{
    petal_hub_t *hub = tl_hub;
    if (!hub) return NULL;
    struct petal_green *r = hub->running;
    if (!r || r->is_main || r->co != petal_greenlet_current()) return NULL;
    return r;
}

/* ---- deadlines ---------------------------------------------------------- */

static void dl_timer_cb(petal_loop_t *loop, void *arg);
static void rec_timer_cb(petal_loop_t *loop, void *arg);

static void dl_rearm(petal_hub_t *hub)
{
    struct petal_green *h = hub->dl.head;
    if (!h || hub->dl_firing) return;
    if (hub->dl_timer > 0 && hub->dl_timer_at <= h->deadline) return; /* fires early; re-arms then */
    if (hub->dl_timer > 0) petal_cancel(hub->loop, hub->dl_timer);
    hub->dl_timer = petal_call_at_ns(hub->loop, h->deadline, dl_timer_cb, hub);
    hub->dl_timer_at = h->deadline;
    if (hub->dl_timer < 0) hub->dl_timer = 0;
}

/* Sorted insert, from the tail: deadlines mostly arrive in increasing order
 * (the same sleep from many greenlets). A long walk means a mixed workload:
 * that deadline gets its own loop timer instead. */
void green_arm(petal_hub_t *hub, struct petal_green *r, int64_t dl, bool scope)
{
    r->deadline = dl;
    r->dl_scope = scope;
    if (dl < 0) return;
    struct petal_green *after = hub->dl.tail;
    for (int steps = 0; !r->wlist && after && after->deadline > dl; steps++) {
        if (steps == 8) break;
        after = after->prev;
    }
    if (r->wlist || (after && after->deadline > dl)) { /* links taken, or a long walk */
        r->timer = petal_call_at_ns(hub->loop, dl, rec_timer_cb, r);
        if (r->timer < 0) r->timer = 0;
        return;
    }
    r->prev = after;
    r->next = after ? after->next : hub->dl.head;
    if (r->next) r->next->prev = r;
    else hub->dl.tail = r;
    if (after) after->next = r;
    else hub->dl.head = r;
    r->in_dl = true;
    if (!after) dl_rearm(hub);
}

static void disarm(petal_hub_t *hub, struct petal_green *r)
{
    if (r->in_dl) {
        if (r->prev) r->prev->next = r->next;
        else hub->dl.head = r->next;
        if (r->next) r->next->prev = r->prev;
        else hub->dl.tail = r->prev;
        r->prev = r->next = NULL;
        r->in_dl = false; /* the hub timer stays: it re-arms when it fires */
    }
    if (r->timer > 0) {
        petal_cancel(hub->loop, r->timer);
        r->timer = 0;
    }
    r->deadline = -1;
}

static void deadline_passed(petal_hub_t *hub, struct petal_green *r)
{
    int status = (r->wait == W_SLEEP && !r->dl_scope) ? 0 : PETAL_ETIMEDOUT;
    green_cancel_wait(hub, r);
    green_wake(hub, r, status);
}

static void dl_timer_cb(petal_loop_t *loop, void *arg)
{
    petal_hub_t *hub = arg;
    hub->dl_timer = 0;
    int64_t now = petal_time_ns(loop);
    hub->dl_firing = true;
    struct petal_green *r;
    while ((r = hub->dl.head) && r->deadline <= now) deadline_passed(hub, r);
    hub->dl_firing = false;
    dl_rearm(hub);
}

static void rec_timer_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    struct petal_green *r = arg;
    r->timer = 0;
    deadline_passed(r->hub, r);
}

/* Absolute deadline of a wait of timeout_s, bounded by the Timeout scopes. */
int green_deadline(struct petal_green *r, double timeout_s, int64_t *dl, bool *scope)
{
    if (isnan(timeout_s)) return PETAL_EINVAL;
    int64_t own = -1;
    if (timeout_s >= 0) {
        double ns = timeout_s * 1e9;
        own = ns > 4e18 ? -1 : green_now(r->hub) + (int64_t)ns;
    }
    *scope = false;
    *dl = own;
    if (r->scope_deadline >= 0 && (own < 0 || r->scope_deadline < own)) {
        *dl = r->scope_deadline;
        *scope = true;
    }
    return 0;
}

int green_prepare(struct petal_green *r, double timeout_s, int64_t *dl, bool *scope)
{
    int rc = green_deadline(r, timeout_s, dl, scope);
    if (rc) return rc;
    if (*scope && *dl <= green_now(r->hub)) return PETAL_ETIMEDOUT;
    return 0;
}

/* ---- the ready list ----------------------------------------------------- */

static void switch_in(petal_hub_t *hub, struct petal_green *r);

static void ready_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    petal_hub_t *hub = arg;
    hub->ready_handle = 0;
    struct petal_green *r = hub->ready_head;
    hub->ready_head = hub->ready_tail = NULL;
    while (r) {
        struct petal_green *next = r->ready_next;
        r->ready_next = NULL;
        r->in_ready = false;
        if (r->state == PETAL_GREEN_PENDING || (r->state == PETAL_GREEN_PARKED && r->woken))
            switch_in(hub, r);
        green_unref(r);
        r = next;
    }
}

void green_push_ready(petal_hub_t *hub, struct petal_green *r)
{
    if (r->in_ready) return;
    r->in_ready = true;
    r->ready_next = NULL;
    green_ref(r);
    if (hub->ready_tail) hub->ready_tail->ready_next = r;
    else hub->ready_head = r;
    hub->ready_tail = r;
    if (!hub->ready_handle) {
        petal_handle_t h = petal_call_soon(hub->loop, ready_cb, hub);
        hub->ready_handle = h > 0 ? h : 0;
    }
}

/* ---- finishing ---------------------------------------------------------- */

/* Runs once per greenlet when it has died (its cleanup hooks have run), on
 * the stack that got control back: the dispatcher's or the killer's. */
static void finish(struct petal_green *r)
{
    petal_hub_t *hub = r->hub;
    if (!r->returned && !r->exited && r->err == 0) r->err = PETAL_EKILLED;
    r->state = PETAL_GREEN_DEAD;
    r->wait = W_NONE;
    if (r->opfut) {
        petal_future_release(r->opfut);
        r->opfut = NULL;
    }
    free(r->bounce);
    r->bounce = NULL;
    if (r->live_prev) r->live_prev->live_next = r->live_next;
    else hub->live_head = r->live_next;
    if (r->live_next) r->live_next->live_prev = r->live_prev;
    r->live_prev = r->live_next = NULL;
    hub->live--;
    hub->finished++;
    if (r->fut && !petal_future_done(r->fut)) {
        if (r->err < 0) petal_future_set_error(r->fut, r->err);
        else petal_future_set_result(r->fut, r->value, NULL);
    }
    struct petal_green *j;
    /* queued, not nested: a chain of joiners must not grow the hub's stack */
    while ((j = green_list_pop(&r->joiners))) green_wake_later(hub, j, 0);
    if (hub->live == 0 && hub->run_waiting) green_wake_later(hub, &hub->main_rec, 0);
}

/* After death, back on another stack: give the stack back, drop the hub's
 * reference. */
static void reap(struct petal_green *r)
{
    if (r->co) {
        petal_greenlet_destroy(r->co);
        r->co = NULL;
    }
    green_unref(r);
}

static void *trampoline(void *arg, void *first)
{
    (void)first;
    struct petal_green *r = arg;
    r->value = r->fn(r->arg);
    r->returned = true;
    return NULL; /* dies: control goes to the parent, its dispatcher */
}

/* ---- switching ---------------------------------------------------------- */

static void switch_in(petal_hub_t *hub, struct petal_green *r)
{
    petal_greenlet *cur = petal_greenlet_current();
    if (!r->co) {
        petal_greenlet_attr a = {.stack_size = r->stack_size, .mode = r->mode, .name = r->name};
        int rc = petal_greenlet_create(&r->co, trampoline, r, cur, &a);
        if (rc < 0) { /* could not get a stack: it dies unrun with that error */
            r->co = NULL;
            r->err = rc;
            r->exited = true;
            finish(r);
            reap(r);
            return;
        }
    } else if (!r->is_main && petal_greenlet_parent(r->co) != cur) {
        petal_greenlet_set_parent(r->co, cur);
    }
    struct petal_green *prev = hub->running;
    hub->running = r;
    r->state = PETAL_GREEN_RUNNING;
    hub->switches++;
    petal_greenlet_switch(r->co, NULL, NULL);
    hub->running = prev;
    if (!r->is_main && petal_greenlet_is_dead(r->co)) { /* returned, exited or killed itself */
        finish(r);
        reap(r);
    }
}

void green_begin_wait(struct petal_green *r, int kind, void *obj)
{
    r->wait = (uint8_t)kind;
    r->wobj = obj;
    r->woken = false;
    r->status = 0;
}

static void *hub_main(void *arg, void *first);

/* Where main parks: the hub greenlet, made (again) if needed. NULL with
 * r->status set when it cannot be made. Out of line: green_park is inlined
 * into every blocking call, and a parked greenlet's stack holds its frame. */
petal_greenlet *green_main_target(petal_hub_t *hub, struct petal_green *r)
{
    if (!hub->g || petal_greenlet_is_dead(hub->g)) {
        if (hub->g) petal_greenlet_destroy(hub->g);
        hub->g = NULL;
        petal_greenlet_attr a = {.stack_size = hub->hub_stack_size, .mode = PETAL_STACK_DEDICATED, .name = "hub"};
        int rc = petal_greenlet_create(&hub->g, hub_main, hub, hub->main_co, &a);
        if (rc < 0) {
            hub->g = NULL;
            green_cancel_wait(hub, r);
            r->wait = W_NONE;
            r->status = rc;
            return NULL;
        }
    }
    return hub->g;
}

void green_cancel_wait(petal_hub_t *hub, struct petal_green *r)
{
    disarm(hub, r);
    switch (r->wait) {
    case W_READ:
    case W_WRITE: {
        struct petal_green **t = r->wait == W_READ ? hub->fd_read : hub->fd_write;
        if (r->wfd >= 0 && (size_t)r->wfd < hub->fd_cap && t[r->wfd] == r) {
            t[r->wfd] = NULL;
            if (r->wait == W_READ) petal_remove_reader(hub->loop, r->wfd);
            else petal_remove_writer(hub->loop, r->wfd);
        }
        break;
    }
    case W_FUTURE:
    case W_RECV:
    case W_SEND:
    case W_ACCEPT:
    case W_CONNECT: {
        petal_future_t *f = r->wobj;
        if (!f) break;
        r->wobj = NULL;
        if (petal_future_remove_done_callback(f, green_future_cb, r) == 0) green_unref(r);
        if (r->wait != W_FUTURE && !petal_future_done(f)) petal_future_cancel(f);
        break;
    }
    case W_JOIN:
    case W_EVENT:
    case W_QGET:
    case W_QPUT:
    case W_SEM:
        green_list_unlink(r);
        break;
    case W_RUN:
        hub->run_waiting = false;
        break;
    default:
        break;
    }
}

/* Direct: from a loop callback that touches nothing but the hub and
 * referenced records after the wake, switch straight into r. Otherwise (a
 * greenlet is running, or the caller goes on using an object r might free)
 * r goes to the ready list. */
static void wake(petal_hub_t *hub, struct petal_green *r, int status, bool direct)
{
    if (r->woken || r->state != PETAL_GREEN_PARKED) return;
    r->woken = true;
    r->status = status;
    disarm(hub, r);
    if (direct && dispatching(hub) && !hub->closing) switch_in(hub, r);
    else green_push_ready(hub, r);
}

void green_wake(petal_hub_t *hub, struct petal_green *r, int status) { wake(hub, r, status, true); }
void green_wake_later(petal_hub_t *hub, struct petal_green *r, int status) { wake(hub, r, status, false); }

/* Done callback of an awaited future; holds a reference on r. */
void green_future_cb(petal_future_t *fut, void *arg)
{
    struct petal_green *r = arg;
    petal_hub_t *hub = r->hub;
    if (r->wobj == fut && r->state == PETAL_GREEN_PARKED && !r->woken) {
        r->wobj = NULL; /* this registration is used up */
        green_cancel_wait(hub, r);
        green_wake(hub, r, 0);
    }
    green_unref(r);
}

/* ---- the hub greenlet --------------------------------------------------- */

static void *hub_main(void *arg, void *first)
{
    (void)first;
    petal_hub_t *hub = arg;
    for (;;) {
        if (hub->closing) return NULL;
        hub->running = NULL;
        hub->in_loop = true;
        int rc = petal_loop_run(hub->loop);
        hub->in_loop = false;
        if (hub->closing) return NULL;
        /* The loop ended (petal_loop_stop) while main waited: tell main. */
        struct petal_green *m = &hub->main_rec;
        green_cancel_wait(hub, m);
        m->woken = true;
        m->status = rc < 0 ? rc : PETAL_ESTOPPED;
        hub->running = m;
        petal_greenlet_switch(hub->main_co, NULL, NULL);
    }
}

int petal_green_hub_new(petal_loop_t *loop, const petal_green_hub_opts *opts, petal_hub_t **out)
{
    if (!loop || !out || petal_loop_is_closed(loop)) return PETAL_EINVAL;
    if (tl_hub) return PETAL_EEXIST;
    petal_greenlet *cur = petal_greenlet_current();
    if (!cur) return PETAL_ENOMEM;
    if (!petal_greenlet_is_main(cur)) return PETAL_EINVAL;
    int mode = opts ? opts->stack_mode : 0;
    if (mode < 0 || mode > PETAL_GREEN_STACK_SHARED) return PETAL_EINVAL;
    petal_hub_t *hub = calloc(1, sizeof *hub);
    if (!hub) return PETAL_ENOMEM;
    hub->loop = loop;
    hub->main_co = cur;
    hub->mode = mode == PETAL_GREEN_STACK_SHARED ? PETAL_STACK_SHARED : PETAL_STACK_DEDICATED;
    hub->stack_size = opts ? opts->stack_size : 0;
    hub->hub_stack_size = opts && opts->hub_stack_size ? opts->hub_stack_size : HUB_STACK;
    if (hub->stack_size > UINT32_MAX) {
        free(hub);
        return PETAL_EINVAL;
    }
    struct petal_green *m = &hub->main_rec;
    m->hub = hub;
    m->co = cur;
    m->is_main = true;
    m->refs = 1;
    m->name = "main";
    m->state = PETAL_GREEN_RUNNING;
    m->deadline = m->scope_deadline = -1;
    m->wfd = -1;
    hub->running = m;
    tl_hub = hub;
    *out = hub;
    return 0;
}

int petal_green_hub_free(petal_hub_t *hub)
{
    if (!hub) return PETAL_EINVAL;
    if (hub != tl_hub) return PETAL_ENOHUB;
    if (hub->running != &hub->main_rec || petal_greenlet_current() != hub->main_co) return PETAL_EBUSY;
    if (petal_loop_is_running(hub->loop) && !hub->in_loop) return PETAL_EBUSY; /* main's own run */
    hub->closing = true;
    for (;;) { /* (a greenlet suspended by a raw coro switch while RUNNING cannot be killed) */
        struct petal_green *g = hub->live_head;
        while (g && g->state == PETAL_GREEN_RUNNING) g = g->live_next;
        if (!g) break;
        petal_green_kill(g);
    }
    if (hub->g && petal_greenlet_is_started(hub->g) && !petal_greenlet_is_dead(hub->g)) {
        /* Let the hub leave the loop: its iteration ends, hub_main returns
         * to its parent, main. */
        petal_loop_stop(hub->loop);
        petal_greenlet_switch(hub->g, NULL, NULL);
        hub->running = &hub->main_rec;
    }
    if (hub->g) petal_greenlet_destroy(hub->g);
    hub->g = NULL;
    if (hub->ready_handle > 0) petal_cancel(hub->loop, hub->ready_handle);
    if (hub->dl_timer > 0) petal_cancel(hub->loop, hub->dl_timer);
    struct petal_green *r = hub->ready_head;
    hub->ready_head = hub->ready_tail = NULL;
    while (r) {
        struct petal_green *next = r->ready_next;
        r->in_ready = false;
        green_unref(r);
        r = next;
    }
    if (hub->dump_signum > 0) petal_remove_signal_handler(hub->loop, hub->dump_signum);
    tl_hub = NULL;
    hub->freed = true;
    if (hub->nrec == 0) hub_release_memory(hub);
    return 0;
}

int petal_green_run(petal_hub_t *hub)
{
    if (!hub) return PETAL_EINVAL;
    struct petal_green *r;
    int rc = green_enter(&r);
    if (rc) return rc;
    if (hub != r->hub) return PETAL_ENOHUB;
    if (!r->is_main) return PETAL_EBLOCKING;
    if (hub->live == 0) return 0;
    green_begin_wait(r, W_RUN, NULL);
    hub->run_waiting = true;
    rc = green_park(hub, r);
    hub->run_waiting = false;
    return rc;
}

void petal_green_hub_stats(const petal_hub_t *hub, petal_green_stats *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    if (!hub) return;
    out->live = hub->live;
    out->parked = hub->parked;
    out->spawned = hub->spawned;
    out->finished = hub->finished;
    out->switches = hub->switches;
}

/* ---- spawn, kill, join -------------------------------------------------- */

int petal_green_spawn(petal_hub_t *hub, petal_green_fn fn, void *arg, const petal_green_opts *opts,
                      petal_green_t **out)
{
    if (!hub || !fn) return PETAL_EINVAL;
    if (hub != tl_hub) return PETAL_EWRONGTHREAD;
    if (hub->closing || petal_loop_is_closed(hub->loop)) return PETAL_ECLOSED;
    int mode = opts ? opts->stack_mode : 0;
    if (mode < 0 || mode > PETAL_GREEN_STACK_SHARED) return PETAL_EINVAL;
    if (opts && opts->stack_size > UINT32_MAX) return PETAL_EINVAL;
    struct petal_green *r = rec_alloc(hub);
    if (!r) return PETAL_ENOMEM;
    r->hub = hub;
    r->fn = fn;
    r->arg = arg;
    r->name = opts && opts->name ? opts->name : "green";
    r->mode = mode == 0 ? (uint8_t)hub->mode
                        : (mode == PETAL_GREEN_STACK_SHARED ? PETAL_STACK_SHARED : PETAL_STACK_DEDICATED);
    r->stack_size = (uint32_t)(opts && opts->stack_size ? opts->stack_size : hub->stack_size);
    r->refs = out ? 2 : 1;
    r->id = ++hub->next_id;
    r->deadline = r->scope_deadline = -1;
    r->wfd = -1;
    r->state = PETAL_GREEN_PENDING;
    hub->nrec++;
    green_push_ready(hub, r); /* (a failed call_soon is retried by the next push) */
    r->live_next = hub->live_head;
    if (hub->live_head) hub->live_head->live_prev = r;
    hub->live_head = r;
    hub->live++;
    hub->spawned++;
    if (out) *out = r;
    return 0;
}

int petal_green_kill(petal_green_t *g)
{
    if (!g || g->is_main) return PETAL_EINVAL;
    if (g->state == PETAL_GREEN_DEAD) return 0;
    petal_hub_t *hub = g->hub;
    if (hub != tl_hub) return PETAL_EWRONGTHREAD;
    if (g->state == PETAL_GREEN_PENDING) { /* never runs; the ready list drops it */
        g->killing = true;
        finish(g);
        green_unref(g);
        return 0;
    }
    if (g->killing) return 0; /* already unwinding (a hook switched away) */
    if (g->state == PETAL_GREEN_RUNNING) {
        if (g->co != petal_greenlet_current()) return PETAL_EBUSY;
        g->killing = true;
        petal_greenlet_kill(g->co); /* does not return */
        return PETAL_EBUSY;
    }
    g->killing = true;
    green_cancel_wait(hub, g);
    petal_greenlet *cur = petal_greenlet_current();
    if (petal_greenlet_parent(g->co) != cur) petal_greenlet_set_parent(g->co, cur);
    struct petal_green *prev = hub->running;
    hub->running = g;
    hub->parked--;
    petal_greenlet_kill(g->co); /* its hooks run; its death comes back here */
    hub->running = prev;
    finish(g);
    reap(g);
    return 0;
}

int petal_green_killall(petal_green_t *const *gs, size_t n)
{
    if (!gs && n) return PETAL_EINVAL;
    petal_green_t *self = petal_green_current();
    for (size_t i = 0; i < n; i++)
        if (gs[i] && gs[i] != self) petal_green_kill(gs[i]);
    for (size_t i = 0; i < n; i++) /* yourself last: it does not return */
        if (gs[i] && gs[i] == self) petal_green_kill(gs[i]);
    return 0;
}

int petal_green_exit(int err)
{
    if (err > 0) return PETAL_EINVAL;
    petal_green_t *r = petal_green_current();
    if (!r) return PETAL_EBLOCKING;
    r->err = err;
    r->exited = true;
    return petal_greenlet_exit(0);
}

int petal_green_join(petal_green_t *g, double timeout_s)
{
    if (!g || g->is_main) return PETAL_EINVAL;
    if (g->state == PETAL_GREEN_DEAD) return 0;
    struct petal_green *r;
    int rc = green_enter(&r);
    if (rc) return rc;
    if (g->hub != r->hub) return PETAL_EWRONGTHREAD;
    if (g == r) return -EDEADLK;
    if (timeout_s == 0) return PETAL_ETIMEDOUT;
    int64_t dl;
    bool scope;
    if ((rc = green_prepare(r, timeout_s, &dl, &scope))) return rc;
    green_begin_wait(r, W_JOIN, g);
    green_list_push(&g->joiners, r);
    green_arm(r->hub, r, dl, scope);
    return green_park(r->hub, r);
}

int petal_green_joinall(petal_green_t *const *gs, size_t n, double timeout_s)
{
    if ((!gs && n) || isnan(timeout_s) || n > INT32_MAX) return PETAL_EINVAL;
    petal_hub_t *hub = tl_hub;
    if (!hub) return PETAL_ENOHUB;
    double end = timeout_s > 0 ? petal_time(hub->loop) + timeout_s : 0;
    for (size_t i = 0; i < n; i++) {
        if (!gs[i] || gs[i]->state == PETAL_GREEN_DEAD) continue;
        double left = timeout_s < 0 ? -1 : timeout_s == 0 ? 0 : end - petal_time(hub->loop);
        if (timeout_s > 0 && left <= 0) left = 0;
        int rc = petal_green_join(gs[i], left);
        if (rc == PETAL_ETIMEDOUT) break;
        if (rc < 0) return rc;
    }
    int dead = 0;
    for (size_t i = 0; i < n; i++)
        if (!gs[i] || gs[i]->state == PETAL_GREEN_DEAD) dead++;
    return dead;
}

int petal_green_state(const petal_green_t *g) { return g ? g->state : PETAL_EINVAL; }
const char *petal_green_name(const petal_green_t *g) { return g ? g->name : "(null)"; }

int petal_green_result(const petal_green_t *g, void **value)
{
    if (!g) return PETAL_EINVAL;
    if (g->state != PETAL_GREEN_DEAD) return PETAL_EINVALSTATE;
    if (value) *value = g->err < 0 ? NULL : g->value;
    return g->err;
}

int petal_green_future(petal_green_t *g, petal_future_t **out)
{
    if (!g || !out || g->is_main) return PETAL_EINVAL;
    if (!g->fut) {
        if (g->hub->freed) return PETAL_ECLOSED;
        int rc = petal_future_new(g->hub->loop, &g->fut);
        if (rc) return rc;
        if (g->state == PETAL_GREEN_DEAD) {
            if (g->err < 0) petal_future_set_error(g->fut, g->err);
            else petal_future_set_result(g->fut, g->value, NULL);
        }
    }
    *out = petal_future_retain(g->fut);
    return 0;
}
