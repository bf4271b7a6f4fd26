/* petal greenlets: stackful coroutines with Python greenlet semantics.
 *
 * A greenlet runs a function on its own stack. Control moves between
 * greenlets only by explicit switches; a value travels with each switch.
 * When a greenlet's function returns, control and the return value pass to
 * its parent (the nearest one still alive). Every thread has an implicit
 * main greenlet, created on first use, that is never dead.
 *
 * Every call that can fail returns 0 or a negative code: a negated errno
 * value or one of the PETAL_E* codes below. Misuse that can be detected
 * (NULL, dead target, other thread) is reported, never crashed on.
 * See docs/greenlets.md for the semantics in full. */
#ifndef PETAL_GREENLET_H
#define PETAL_GREENLET_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Greenlet codes, outside the errno range (the loop core uses -4001..). */
#define PETAL_EKILLED      (-4101) /* the greenlet was killed: C's GreenletExit */
#define PETAL_EDEAD        (-4102) /* the target greenlet has finished */
#define PETAL_EWRONGTHREAD (-4103) /* the greenlet belongs to another thread */
#define PETAL_ECYCLE       (-4104) /* that parent would make a cycle */

typedef struct petal_greenlet petal_greenlet;

/* The body of a greenlet. arg is the one given at creation, value the one
 * carried by the first switch into it. The return value goes to the parent. */
typedef void *(*petal_greenlet_fn)(void *arg, void *value);

enum petal_stack_mode {
    PETAL_STACK_DEDICATED = 0, /* own mmap'd stack with a guard page: fastest switch */
    PETAL_STACK_SHARED = 1     /* runs on the thread's shared stack; live part copied out */
};

typedef struct petal_greenlet_attr {
    size_t stack_size;   /* dedicated: stack size; shared: live-size limit. 0: default */
    int mode;            /* enum petal_stack_mode */
    const char *name;    /* not copied: must outlive the greenlet. NULL: "greenlet" */
} petal_greenlet_attr;

#define PETAL_GREENLET_DEFAULT_STACK ((size_t)64 * 1024)
#define PETAL_GREENLET_SHARED_STACK ((size_t)1024 * 1024)

/* Creates an unstarted greenlet. parent NULL means the current greenlet.
 * attr may be NULL. *out is set only on success. */
int petal_greenlet_create(petal_greenlet **out, petal_greenlet_fn run, void *arg,
                          petal_greenlet *parent, const petal_greenlet_attr *attr);

/* Switches to g carrying value. Returns when someone switches back: 0 with
 * *out (if out is not NULL) set to the value carried, or the negative error
 * thrown into this greenlet (petal_greenlet_throw) or raised by a child that
 * died with petal_greenlet_exit(err). Switching to the current greenlet
 * returns value at once. Fails without switching: -EINVAL (NULL),
 * PETAL_EDEAD, PETAL_EWRONGTHREAD. errno is the same after a switch as
 * before it. */
int petal_greenlet_switch(petal_greenlet *g, void *value, void **out);

/* Resumes g with error err (< 0): g's pending switch returns err. An
 * unstarted g dies without running and err goes to its parent. err ==
 * PETAL_EKILLED is petal_greenlet_kill. Returns like petal_greenlet_switch. */
int petal_greenlet_throw(petal_greenlet *g, int err, void **out);

/* Kills g: its pending switch never returns; its cleanup hooks run LIFO on
 * its own stack and it dies; its parent receives 0 and a NULL value. Killing
 * a dead greenlet does nothing and returns 0. Killing the current greenlet
 * does not return. The main greenlet cannot be killed (-EINVAL). */
int petal_greenlet_kill(petal_greenlet *g);

/* Ends the current greenlet from anywhere in it: cleanup hooks run LIFO,
 * then it dies with err (0 or negative). The parent receives err (or 0 and
 * NULL for 0 and PETAL_EKILLED). Does not return, except -EINVAL when called
 * from the main greenlet or with err > 0. */
int petal_greenlet_exit(int err);

/* Releases the caller's handle. A started, suspended greenlet is killed
 * first (control comes back here, like Python's garbage collection); an
 * unstarted one is marked dead. Memory is freed once no child names g as
 * parent. -EBUSY for the current greenlet, -EINVAL for a main greenlet. */
int petal_greenlet_destroy(petal_greenlet *g);

/* Cleanup hooks of the current greenlet, run LIFO when it dies (by return,
 * exit or kill). pop removes the newest, running it if run != 0; -ENOENT
 * when none is registered. Hooks run on the greenlet's own stack. */
int petal_greenlet_cleanup_push(void (*fn)(void *), void *arg);
int petal_greenlet_cleanup_pop(int run);

/* The running greenlet of this thread (the main greenlet at first). NULL
 * only if the per-thread state cannot be allocated. */
petal_greenlet *petal_greenlet_current(void);
petal_greenlet *petal_greenlet_parent(const petal_greenlet *g);
/* -EINVAL (NULL, main greenlet), PETAL_EWRONGTHREAD, PETAL_ECYCLE. */
int petal_greenlet_set_parent(petal_greenlet *g, petal_greenlet *parent);

/* 1 or 0 (0 for NULL). A main greenlet is started and never dead. */
int petal_greenlet_is_dead(const petal_greenlet *g);
int petal_greenlet_is_started(const petal_greenlet *g);
int petal_greenlet_is_main(const petal_greenlet *g);

/* How a dead greenlet ended: *err is 0 (returned), the exit code, or
 * PETAL_EKILLED; *value the return value. -EBUSY if not dead yet. */
int petal_greenlet_result(const petal_greenlet *g, int *err, void **value);

const char *petal_greenlet_name(const petal_greenlet *g);
int petal_greenlet_set_name(petal_greenlet *g, const char *name);
int petal_greenlet_stack_mode(const petal_greenlet *g);
/* Dedicated: the stack size; shared: the live-size limit. */
size_t petal_greenlet_stack_size(const petal_greenlet *g);
/* Bytes of stack a suspended greenlet holds live (0 if unstarted, dead or
 * running). In shared mode this is what a switch-out copies. */
size_t petal_greenlet_stack_in_use(const petal_greenlet *g);

/* Per-thread counters, for tests and leak hunting. */
typedef struct petal_greenlet_stats {
    size_t greenlets;      /* allocated on this thread (main not counted) */
    size_t stacks_in_use;  /* dedicated stacks owned by greenlets */
    size_t stacks_pooled;  /* dedicated stacks kept for reuse */
    size_t arenas;         /* stack reservations (one mmap each) */
    size_t saved_bytes;    /* shared mode: bytes currently copied to the heap */
    int guard_install;     /* 1: MADV_GUARD_INSTALL guards, 0: mprotect, -1: not yet known */
} petal_greenlet_stats;
void petal_greenlet_stats_get(petal_greenlet_stats *out);

/* Frees this thread's pooled stacks and shared stack. Done automatically at
 * thread exit. -EBUSY while greenlets of this thread exist (not destroyed)
 * or when called from a greenlet other than the main one. */
int petal_greenlet_thread_cleanup(void);

/* Describes a code returned by these calls (or any negated errno). */
const char *petal_greenlet_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
