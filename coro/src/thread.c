/* Per-thread state: the main greenlet, the current greenlet, the stack
 * pools. Reached through one thread-local pointer; freed at thread exit by
 * a pthread key destructor (the key itself is a process constant). */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

_Thread_local struct petal_thread *petal_tls __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int exit_key_ok;

static void release_all(struct petal_thread *t)
{
    petal_shared_free(t);
    petal_overflow_free(t);
    petal_stack_pool_free(t);
    petal_slab_release(t);
}

static void free_main_hooks(struct petal_thread *t)
{
    while (t->main.hooks) {
        struct petal_hook *h = t->main.hooks;
        t->main.hooks = h->next;
        free(h);
    }
}

static void on_thread_exit(void *p)
{
    struct petal_thread *t = p;
    /* Greenlets that outlive their thread keep t's address in use, so that no
     * later thread can be mistaken for their owner: then t is not freed. */
    if (t->ngreenlets || t->current != &t->main)
        return;
    release_all(t);
    free_main_hooks(t);
    free(t);
    petal_tls = NULL;
}

static void make_exit_key(void)
{
    exit_key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
}

struct petal_thread *petal_thread_init(void)
{
    struct petal_thread *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->main.thread = t;
    t->main.name = "main";
    t->main.started = 1;
    t->main.is_main = 1;
    t->main.refs = 1;
    t->current = &t->main;
    t->guard_mode = -1;
    t->errno_ptr = &errno;
    pthread_once(&exit_key_once, make_exit_key);
    if (exit_key_ok)
        pthread_setspecific(exit_key, t);
    petal_tls = t;
    return t;
}

int petal_greenlet_thread_cleanup(void)
{
    struct petal_thread *t = petal_tls;
    if (!t)
        return 0;
    if (t->ngreenlets || t->current != &t->main)
        return -EBUSY;
    release_all(t);
    return 0;
}

void petal_greenlet_stats_get(petal_greenlet_stats *out)
{
    struct petal_thread *t = petal_tls;
    if (!out)
        return;
    *out = (petal_greenlet_stats){0};
    out->guard_install = -1;
    if (!t)
        return;
    out->greenlets = t->ngreenlets;
    out->stacks_in_use = t->stacks_in_use;
    out->stacks_pooled = t->stacks_pooled;
    out->arenas = t->narenas;
    out->saved_bytes = t->saved_bytes;
    out->guard_install = t->guard_mode;
}
