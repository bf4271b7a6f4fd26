/* Moving the CPU from one greenlet to another, including the shared-stack
 * mode: greenlets in that mode all run on one stack per thread. The bytes on
 * it belong to one owner; another shared greenlet can run there only after
 * the owner's live part (stack pointer to top) is copied to the heap and
 * its own saved part is copied back. When the greenlet being left is the
 * owner itself, the copy cannot run on the stack it rewrites, so it runs on
 * a small scratch stack between the two halves of the switch. Switching to
 * a greenlet on another stack leaves the owner's bytes in place (nothing to
 * copy when a shared greenlet and the main or a dedicated one alternate). */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SHARED_SIZE PETAL_GREENLET_SHARED_STACK

int petal_shared_init(struct petal_thread *t)
{
    if (t->shared_lo)
        return 0;
    t->shared_lo = petal_stack_acquire(t, SHARED_SIZE);
    if (!t->shared_lo)
        return -ENOMEM;
    t->scratch_lo = petal_stack_acquire(t, PETAL_SCRATCH_STACK);
    if (!t->scratch_lo) {
        petal_stack_release(t, t->shared_lo, SHARED_SIZE);
        t->shared_lo = NULL;
        return -ENOMEM;
    }
    t->shared_vg = petal_vg_stack_register(t->shared_lo, SHARED_SIZE);
    t->scratch_vg = petal_vg_stack_register(t->scratch_lo, PETAL_SCRATCH_STACK);
    return 0;
}

void petal_shared_free(struct petal_thread *t)
{
    if (!t->shared_lo)
        return;
    petal_vg_stack_deregister(t->shared_vg);
    petal_vg_stack_deregister(t->scratch_vg);
    petal_stack_release(t, t->shared_lo, SHARED_SIZE);
    petal_stack_release(t, t->scratch_lo, PETAL_SCRATCH_STACK);
    t->shared_lo = t->scratch_lo = NULL;
    t->shared_owner = NULL;
}

/* The stack copies. glibc's memcpy switches to "rep movsb" from 2 KiB up,
 * which on the AMD EPYC we measured takes twice as long as this loop of
 * 64-byte blocks (the compiler expands each block into vector moves). */
static void copy_stack(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        __builtin_memcpy(dst + i, src + i, 64);
    if (i < n)
        memcpy(dst + i, src + i, n - i);
}

static char *shared_top(struct petal_thread *t)
{
    return t->shared_lo + SHARED_SIZE;
}

/* The owner leaves the shared stack: copy its live part to the heap. */
static void save(struct petal_thread *t, petal_greenlet *g)
{
    char *sp = petal_ctx_sp(&g->ctx);
    if (!sp)
        sp = t->shared_lo; /* ucontext on an unknown CPU: keep everything */
    size_t live = (size_t)(shared_top(t) - sp);
    if (sp < t->shared_lo || live > g->stack_size)
        petal_fatal_live_size(g, live);
    if (live > g->saved_cap) { /* the old copy was restored already: no realloc */
        size_t cap;
        int slab;
        char *m = petal_slab_alloc(t, live, &cap, &slab);
        if (!m)
            petal_fatal_live_size(g, live);
        petal_slab_free(t, g->mem, g->mem_in_slab);
        g->mem = m;
        g->mem_in_slab = (unsigned char)slab;
        g->saved_cap = (uint32_t)cap;
    }
    copy_stack(g->mem, sp, live);
    g->saved_len = (uint32_t)live;
    t->saved_bytes += live;
    t->shared_owner = NULL;
}

/* g takes the shared stack: its saved bytes go back where they were, or a
 * first frame is built for it. */
static void restore(struct petal_thread *t, petal_greenlet *g)
{
    if (!g->started) {
        petal_vg_undefined(t->shared_lo, SHARED_SIZE);
        petal_ctx_make(&g->ctx, t->shared_lo, SHARED_SIZE, petal_entry);
        g->started = 1;
    } else {
        char *dst = shared_top(t) - g->saved_len;
        /* valgrind: also the words just below, which swapcontext pushes to */
        char *below = dst - t->shared_lo > 256 ? dst - 256 : t->shared_lo;
        petal_vg_undefined(below, (size_t)(shared_top(t) - below));
        copy_stack(dst, g->mem, g->saved_len);
        t->saved_bytes -= g->saved_len;
        g->saved_len = 0;
    }
    t->shared_owner = g;
}

/* Runs on the scratch stack, after the owner's registers are saved. */
static void copy_on_scratch(void *arg)
{
    struct petal_thread *t = arg;
    if (!t->via_from->dead)
        save(t, t->via_from);
    restore(t, t->via_to);
}

#ifdef PETAL_ASAN
static void stack_bounds(struct petal_thread *t, petal_greenlet *g, const void **lo, size_t *size)
{
    if (g->is_main) {
        *lo = t->main_bottom;
        *size = t->main_size;
    } else {
        *lo = g->mem; /* ASan builds run every greenlet on a dedicated stack */
        *size = g->stack_size;
    }
}
#endif

/* Bookkeeping on arrival in a greenlet, resumed or new. */
static void arrived(struct petal_thread *t, petal_greenlet *self)
{
#ifdef PETAL_ASAN
    const void *lo;
    size_t size;
    petal_asan_finish(self->asan_fake, &lo, &size);
    if (t->prev == &t->main) {
        t->main_bottom = lo;
        t->main_size = size;
    }
#else
    (void)self;
#endif
    if (t->dying)
        petal_reap(t);
}

/* A dead greenlet has left its stack: give the stack back. */
void petal_reap(struct petal_thread *t)
{
    petal_greenlet *g = t->dying;
    t->dying = NULL;
    if (g->mode == PETAL_STACK_DEDICATED) {
        if (g->mem) {
            petal_vg_stack_deregister(g->vg_id);
            petal_stack_release(t, g->mem, g->stack_size);
            t->stacks_in_use--;
            g->mem = NULL;
        }
    } else {
        if (t->shared_owner == g)
            t->shared_owner = NULL;
        t->saved_bytes -= g->saved_len;
        petal_slab_free(t, g->mem, g->mem_in_slab);
        g->mem = NULL;
        g->saved_len = g->saved_cap = 0;
    }
}

void petal_transfer(struct petal_thread *t, petal_greenlet *cur, petal_greenlet *to)
{
    int saved_errno = *t->errno_ptr; /* errno is per greenlet: a switch keeps it */
    if (!to->started && to->mode == PETAL_STACK_DEDICATED) {
        petal_ctx_make(&to->ctx, to->mem, to->stack_size, petal_entry);
        to->started = 1;
    }
    t->current = to;
#ifdef PETAL_ASAN
    const void *lo;
    size_t size;
    stack_bounds(t, to, &lo, &size);
    t->prev = cur;
    petal_asan_start(cur->dead ? NULL : &cur->asan_fake, lo, size);
#endif
    if (to->mode == PETAL_STACK_SHARED && t->shared_owner != to) {
        petal_greenlet *owner = t->shared_owner;
        if (owner == cur) {
            t->via_from = cur;
            t->via_to = to;
            petal_ctx_swap_via(&cur->ctx, &to->ctx, copy_on_scratch, t, t->scratch_lo,
                               PETAL_SCRATCH_STACK);
            goto resumed;
        }
        if (owner && !owner->dead)
            save(t, owner);
        restore(t, to);
    }
    petal_ctx_swap(&cur->ctx, &to->ctx);
resumed:
    arrived(t, cur);
    *t->errno_ptr = saved_errno;
}

/* Where every greenlet starts, on its own stack. */
void petal_entry(void)
{
    struct petal_thread *t = petal_tls;
    petal_greenlet *g = t->current;
    arrived(t, g);
    void *value = t->msg.value;
    void *result = g->run(g->arg, value);
    petal_die(t, g, 0, result);
}

size_t petal_greenlet_stack_in_use(const petal_greenlet *g)
{
    if (!g || g->is_main || !g->started || g->dead || g->thread->current == g)
        return 0;
    if (g->mode == PETAL_STACK_SHARED && g->thread->shared_owner != g)
        return g->saved_len;
    char *top = g->mode == PETAL_STACK_SHARED ? shared_top(g->thread) : g->mem + g->stack_size;
    char *sp = petal_ctx_sp(&g->ctx);
    return sp ? (size_t)(top - sp) : 0;
}
