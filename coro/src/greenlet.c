/* Greenlet semantics: creation, switch, throw, kill, death, parents,
 * cleanup hooks, lifetime. The machine switch lives in switch.c. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_STACK ((size_t)16 * 1024)

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

int petal_greenlet_create(petal_greenlet **out, petal_greenlet_fn run, void *arg,
                          petal_greenlet *parent, const petal_greenlet_attr *attr)
{
    if (!out || !run)
        return -EINVAL;
    struct petal_thread *t = petal_thread_get();
    if (!t)
        return -ENOMEM;
    if (!parent)
        parent = t->current;
    else if (parent->thread != t)
        return PETAL_EWRONGTHREAD;
    int mode = attr ? attr->mode : PETAL_STACK_DEDICATED;
    if (mode != PETAL_STACK_DEDICATED && mode != PETAL_STACK_SHARED)
        return -EINVAL;
    size_t size = attr && attr->stack_size ? attr->stack_size : 0;
#ifdef PETAL_ASAN
    /* ASan cannot follow stack bytes that move (docs/greenlets.md). */
    if (mode == PETAL_STACK_SHARED && (!size || size > PETAL_GREENLET_DEFAULT_STACK))
        size = PETAL_GREENLET_DEFAULT_STACK;
    mode = PETAL_STACK_DEDICATED;
#endif
    if (mode == PETAL_STACK_DEDICATED) {
        size = round_up(size ? size : PETAL_GREENLET_DEFAULT_STACK, petal_page_size());
        if (size < MIN_STACK)
            size = MIN_STACK;
    } else if (!size || size > PETAL_GREENLET_SHARED_STACK) {
        size = PETAL_GREENLET_SHARED_STACK;
    }

    size_t cap;
    int in_slab;
    petal_greenlet *g = petal_slab_alloc(t, sizeof *g, &cap, &in_slab);
    if (!g)
        return -ENOMEM;
    memset(g, 0, sizeof *g);
    g->in_slab = (unsigned char)in_slab;
    if (mode == PETAL_STACK_DEDICATED) {
        g->mem = petal_stack_acquire(t, size);
        if (!g->mem) {
            petal_slab_free(t, g, in_slab);
            return -ENOMEM;
        }
        /* a reused stack may hold a dead greenlet's poisoned frames */
        petal_asan_unpoison(g->mem, size);
        petal_vg_undefined(g->mem, size);
        g->vg_id = petal_vg_stack_register(g->mem, size);
        t->stacks_in_use++;
    } else if (petal_shared_init(t)) {
        petal_slab_free(t, g, in_slab);
        return -ENOMEM;
    }
    if (!t->overflow_ready)
        petal_overflow_init(t);
    g->thread = t;
    g->parent = parent;
    parent->refs++;
    g->run = run;
    g->arg = arg;
    g->name = attr && attr->name ? attr->name : "greenlet";
    g->mode = (unsigned char)mode;
    g->stack_size = size;
    g->refs = 1;
    g->user_ref = 1;
    t->ngreenlets++;
    *out = g;
    return 0;
}

/* Drops one reference; frees greenlets nobody names any more, up the chain. */
static void unref(struct petal_thread *t, petal_greenlet *g)
{
    while (g && !g->is_main && --g->refs == 0) {
        petal_greenlet *parent = g->parent;
        petal_slab_free(t, g, g->in_slab);
        t->ngreenlets--;
        g = parent;
    }
}

/* An unstarted greenlet dies without ever running. */
static void die_unstarted(struct petal_thread *t, petal_greenlet *g, int err)
{
    g->dead = 1;
    g->err = err;
    if (g->mode == PETAL_STACK_DEDICATED && g->mem) {
        petal_vg_stack_deregister(g->vg_id);
        petal_stack_release(t, g->mem, g->stack_size);
        t->stacks_in_use--;
        g->mem = NULL;
    }
}

/* What a death delivers to the parent, and which parent: the nearest live
 * ancestor. An error reaching an unstarted ancestor kills it unrun, like an
 * exception thrown into it, and travels on. */
static petal_greenlet *death_target(struct petal_thread *t, petal_greenlet *g, int err,
                                    void *value, struct petal_msg *m)
{
    *m = (struct petal_msg){value, err, 0};
    if (err == PETAL_EKILLED)
        *m = (struct petal_msg){NULL, 0, 0}; /* GreenletExit is returned, not raised */
    petal_greenlet *to = g->parent;
    while (to->dead || (!to->started && m->err)) {
        if (!to->dead)
            die_unstarted(t, to, m->err);
        to = to->parent;
    }
    return to;
}

int petal_receive(struct petal_thread *t, petal_greenlet *cur, void **out)
{
    struct petal_msg m = t->msg;
    if (m.kill) {
        if (!cur->unwinding)
            petal_die(t, cur, PETAL_EKILLED, NULL);
        m.err = PETAL_EKILLED; /* already unwinding: report it instead */
    }
    if (out)
        *out = m.err ? NULL : m.value;
    return m.err;
}

/* g's death goes to its parent; if that is the caller, no switch at all. */
static int pass_death(struct petal_thread *t, petal_greenlet *cur, petal_greenlet *g, int err,
                      void **out)
{
    struct petal_msg m;
    petal_greenlet *to = death_target(t, g, err, NULL, &m);
    t->msg = m;
    if (to != cur)
        petal_transfer(t, cur, to);
    return petal_receive(t, cur, out);
}

_Noreturn void petal_die(struct petal_thread *t, petal_greenlet *g, int err, void *value)
{
    g->unwinding = 1;
    while (g->hooks) {
        struct petal_hook h = *g->hooks;
        free(g->hooks);
        g->hooks = h.next;
        h.fn(h.arg);
    }
    g->dead = 1;
    g->err = err;
    g->result = value;
    struct petal_msg m;
    petal_greenlet *to = death_target(t, g, err, value, &m);
    t->msg = m;
    t->dying = g; /* its stack is given back once we are off it */
    petal_transfer(t, g, to);
    abort(); /* nothing switches to a dead greenlet */
}

/* Common checks: 0, or why g cannot be a target from this thread. */
static int check_target(struct petal_thread *t, const petal_greenlet *g)
{
    if (!t)
        return -ENOMEM;
    if (!g)
        return -EINVAL;
    if (g->thread != t)
        return PETAL_EWRONGTHREAD;
    return 0;
}

int petal_greenlet_switch(petal_greenlet *g, void *value, void **out)
{
    struct petal_thread *t = petal_thread_get();
    int rc = check_target(t, g);
    if (rc)
        return rc;
    petal_greenlet *cur = t->current;
    if (g == cur) {
        if (out)
            *out = value;
        return 0;
    }
    if (g->dead)
        return PETAL_EDEAD;
    t->msg = (struct petal_msg){value, 0, 0};
    petal_transfer(t, cur, g);
    return petal_receive(t, cur, out);
}

int petal_greenlet_kill(petal_greenlet *g)
{
    struct petal_thread *t = petal_thread_get();
    int rc = check_target(t, g);
    if (rc)
        return rc;
    if (g->is_main)
        return -EINVAL;
    if (g->dead)
        return 0;
    petal_greenlet *cur = t->current;
    if (g == cur)
        petal_die(t, cur, PETAL_EKILLED, NULL);
    if (!g->started) {
        die_unstarted(t, g, PETAL_EKILLED);
        return pass_death(t, cur, g, PETAL_EKILLED, NULL);
    }
    t->msg = (struct petal_msg){NULL, 0, 1};
    petal_transfer(t, cur, g);
    return petal_receive(t, cur, NULL);
}

int petal_greenlet_throw(petal_greenlet *g, int err, void **out)
{
    if (out)
        *out = NULL;
    if (err >= 0)
        return -EINVAL;
    if (err == PETAL_EKILLED)
        return petal_greenlet_kill(g);
    struct petal_thread *t = petal_thread_get();
    int rc = check_target(t, g);
    if (rc)
        return rc;
    petal_greenlet *cur = t->current;
    if (g == cur)
        return err; /* raised right here */
    if (g->dead)
        return PETAL_EDEAD;
    if (!g->started) {
        die_unstarted(t, g, err);
        return pass_death(t, cur, g, err, out);
    }
    t->msg = (struct petal_msg){NULL, err, 0};
    petal_transfer(t, cur, g);
    return petal_receive(t, cur, out);
}

int petal_greenlet_exit(int err)
{
    struct petal_thread *t = petal_thread_get();
    if (!t)
        return -ENOMEM;
    if (t->current->is_main || err > 0)
        return -EINVAL;
    petal_die(t, t->current, err, NULL);
}

static int is_ancestor(const petal_greenlet *a, const petal_greenlet *g)
{
    for (; g; g = g->parent)
        if (g == a)
            return 1;
    return 0;
}

static void reparent(petal_greenlet *g, petal_greenlet *parent)
{
    petal_greenlet *old = g->parent;
    parent->refs++;
    g->parent = parent;
    unref(g->thread, old);
}

int petal_greenlet_destroy(petal_greenlet *g)
{
    struct petal_thread *t = petal_thread_get();
    int rc = check_target(t, g);
    if (rc)
        return rc;
    if (g->is_main || !g->user_ref)
        return -EINVAL;
    petal_greenlet *cur = t->current;
    if (g == cur)
        return -EBUSY;
    if (!g->started && !g->dead) {
        die_unstarted(t, g, PETAL_EKILLED);
    } else if (!g->dead) {
        /* like Python's garbage collector: kill it, with its death coming here */
        if (!is_ancestor(g, cur))
            reparent(g, cur);
        t->msg = (struct petal_msg){NULL, 0, 1};
        petal_transfer(t, cur, g);
        petal_receive(t, cur, NULL);
    }
    g->user_ref = 0;
    unref(t, g);
    return 0;
}

int petal_greenlet_cleanup_push(void (*fn)(void *), void *arg)
{
    struct petal_thread *t = petal_thread_get();
    if (!t)
        return -ENOMEM;
    if (!fn)
        return -EINVAL;
    struct petal_hook *h = malloc(sizeof *h);
    if (!h)
        return -ENOMEM;
    *h = (struct petal_hook){t->current->hooks, fn, arg};
    t->current->hooks = h;
    return 0;
}

int petal_greenlet_cleanup_pop(int run)
{
    struct petal_thread *t = petal_thread_get();
    if (!t)
        return -ENOMEM;
    petal_greenlet *cur = t->current;
    if (!cur->hooks)
        return -ENOENT;
    struct petal_hook h = *cur->hooks;
    free(cur->hooks);
    cur->hooks = h.next;
    if (run)
        h.fn(h.arg);
    return 0;
}

petal_greenlet *petal_greenlet_current(void)
{
    struct petal_thread *t = petal_thread_get();
    return t ? t->current : NULL;
}

petal_greenlet *petal_greenlet_parent(const petal_greenlet *g)
{
    return g ? g->parent : NULL;
}

int petal_greenlet_set_parent(petal_greenlet *g, petal_greenlet *parent)
{
    if (!g || !parent || g->is_main)
        return -EINVAL;
    if (g->thread != petal_tls || parent->thread != g->thread)
        return PETAL_EWRONGTHREAD;
    if (is_ancestor(g, parent))
        return PETAL_ECYCLE;
    reparent(g, parent);
    return 0;
}

int petal_greenlet_is_dead(const petal_greenlet *g)
{
    return g && g->dead;
}

int petal_greenlet_is_started(const petal_greenlet *g)
{
    return g && g->started;
}

int petal_greenlet_is_main(const petal_greenlet *g)
{
    return g && g->is_main;
}

int petal_greenlet_result(const petal_greenlet *g, int *err, void **value)
{
    if (!g)
        return -EINVAL;
    if (!g->dead)
        return -EBUSY;
    if (err)
        *err = g->err;
    if (value)
        *value = g->result;
    return 0;
}

const char *petal_greenlet_name(const petal_greenlet *g)
{
    return g ? g->name : NULL;
}

int petal_greenlet_set_name(petal_greenlet *g, const char *name)
{
    if (!g || !name)
        return -EINVAL;
    g->name = name;
    return 0;
}

int petal_greenlet_stack_mode(const petal_greenlet *g)
{
    return g ? g->mode : -EINVAL;
}

size_t petal_greenlet_stack_size(const petal_greenlet *g)
{
    return g && !g->is_main ? g->stack_size : 0;
}
