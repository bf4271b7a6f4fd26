/* Internal structures shared by the coro sources. */
#ifndef PETAL_CORO_INTERNAL_H
#define PETAL_CORO_INTERNAL_H

#include <petal/greenlet.h>
#include <stddef.h>
#include <stdint.h>

#include "ctx.h"
#include "tools.h"

struct petal_hook {
    struct petal_hook *next;
    void (*fn)(void *);
    void *arg;
};

struct petal_thread;

struct petal_greenlet {
    petal_ctx ctx;
    struct petal_thread *thread;
    petal_greenlet *parent;
    petal_greenlet_fn run;
    void *arg;
    const char *name;
    struct petal_hook *hooks;
    void *result;
    int err;                /* how it ended, once dead */
    unsigned refs;          /* the user's handle + children naming it parent */
    unsigned char mode;     /* enum petal_stack_mode */
    unsigned char started, dead, unwinding, user_ref, is_main;
    unsigned char in_slab, mem_in_slab; /* where this record and mem came from */
    size_t stack_size;      /* dedicated: usable size; shared: live limit */
    char *mem;              /* dedicated: stack bottom; shared: saved copy */
    uint32_t saved_len, saved_cap; /* shared: bytes in mem, its capacity */
#ifdef PETAL_ASAN
    void *asan_fake;
#endif
    unsigned vg_id;         /* Valgrind stack id (dedicated mode) */
};

/* What a switch carries: a value, an error, or the order to unwind. */
struct petal_msg {
    void *value;
    int err;
    int kill;
};

struct petal_stack_class;

/* slab.c: blocks up to SLAB_MAX bytes in size classes of SLAB_GRAIN */
#define SLAB_GRAIN 32
#define SLAB_MAX 2048
#define SLAB_CLASSES (SLAB_MAX / SLAB_GRAIN)
struct petal_slab_chunk;
struct petal_slab_class {
    struct petal_slab_chunk *cur;  /* allocation goes here first */
    struct petal_slab_chunk *room; /* other chunks with freed blocks */
};

struct petal_thread {
    petal_greenlet main;
    petal_greenlet *current;
    struct petal_msg msg;
    petal_greenlet *dying;       /* died and left its stack; reaped by the next one */
    int *errno_ptr;              /* &errno of this thread, cached: it never moves */

    /* shared mode: one stack per thread, whose live data belongs to owner */
    char *shared_lo;
    petal_greenlet *shared_owner;
    char *scratch_lo;            /* small stack where shared copies are done */
    petal_greenlet *via_from, *via_to;
    unsigned shared_vg, scratch_vg;

    /* dedicated stacks: pool per size */
    struct petal_stack_class *classes;
    size_t nclasses;
    int guard_mode;              /* -1 not probed, 1 MADV_GUARD_INSTALL, 0 mprotect */

    /* greenlet records and shared-mode stack copies */
    struct petal_slab_class slab[SLAB_CLASSES];
    size_t slab_blocks;          /* live blocks taken from malloc */

    char *altstack;              /* ours, if we installed one */
    int overflow_ready;          /* handler and alternate signal stack set up */

    size_t ngreenlets, stacks_in_use, stacks_pooled, narenas, saved_bytes;
#ifdef PETAL_ASAN
    const void *main_bottom;     /* the thread's own stack, learned at first switch */
    size_t main_size;
    petal_greenlet *prev;        /* the greenlet being left */
#endif
};

#define PETAL_SCRATCH_STACK ((size_t)64 * 1024)

/* thread.c */
extern _Thread_local struct petal_thread *petal_tls __attribute__((tls_model("initial-exec")));
struct petal_thread *petal_thread_init(void);
static inline struct petal_thread *petal_thread_get(void)
{
    struct petal_thread *t = petal_tls;
    return t ? t : petal_thread_init();
}

/* stack_pool.c: usable [lo, lo+size) with a guard below; NULL if out of memory */
size_t petal_page_size(void);
size_t petal_guard_size(void);
char *petal_stack_acquire(struct petal_thread *t, size_t size);
void petal_stack_release(struct petal_thread *t, char *lo, size_t size);
void petal_stack_pool_free(struct petal_thread *t);

/* slab.c: *cap is the usable size, *slab where the block came from (pass it
 * back to petal_slab_free); NULL if out of memory */
void *petal_slab_alloc(struct petal_thread *t, size_t n, size_t *cap, int *slab);
void petal_slab_free(struct petal_thread *t, void *p, int slab);
void petal_slab_release(struct petal_thread *t);

/* switch.c */
void petal_transfer(struct petal_thread *t, petal_greenlet *cur, petal_greenlet *to);
void petal_reap(struct petal_thread *t);
int petal_shared_init(struct petal_thread *t);
void petal_shared_free(struct petal_thread *t);
void petal_entry(void);

/* greenlet.c */
_Noreturn void petal_die(struct petal_thread *t, petal_greenlet *g, int err, void *value);
int petal_receive(struct petal_thread *t, petal_greenlet *cur, void **out);

/* overflow.c */
void petal_overflow_init(struct petal_thread *t);
void petal_overflow_free(struct petal_thread *t);
_Noreturn void petal_fatal_live_size(const petal_greenlet *g, size_t live);

#endif
