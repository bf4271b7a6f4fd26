/* Dedicated stacks: carved out of large MAP_NORESERVE reservations
 * ("arenas"), each slot a guard region followed by the stack, pooled per
 * size for reuse.
 *
 * Guards: a separate mapping (or an mprotect'ed hole) per stack costs two
 * memory-map entries per stack, so vm.max_map_count (65530 by default)
 * stops a process near 32,750 stacks. Linux 6.13+ has MADV_GUARD_INSTALL,
 * which turns pages into guards without splitting the mapping: a million
 * stacks then fit in about a thousand map entries. Older kernels (and
 * emulators that accept the madvise but ignore it, which a probe detects)
 * fall back to mprotect, with the map-count limit. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

enum { HOT_STACKS = 64 };               /* pooled stacks kept resident */
enum { TRIM_BATCH = 512 };              /* older pooled stacks trimmed at a time */
#define ARENA_BYTES ((size_t)64 << 20)  /* reserved at a time per size */

struct petal_arena { char *base; size_t len; };

struct petal_stack_class {
    size_t size, slot;                  /* usable size; size + guard */
    char **free; size_t nfree, free_cap;
    size_t trimmed;                     /* free[0..trimmed) hold no memory */
    struct petal_arena *arenas; size_t narenas, arena_cap;
    size_t next_slot, nslots;           /* bump allocation in the newest arena */
    size_t carved;                      /* slots handed out so far */
};

size_t petal_page_size(void)
{
    static _Thread_local size_t page; /* a process constant, cached per thread */
    if (!page)
        page = (size_t)sysconf(_SC_PAGESIZE);
    return page;
}

size_t petal_guard_size(void)
{
    size_t g = 16 * 1024, p = petal_page_size();
    return g < p ? p : g;
}

/* Does MADV_GUARD_INSTALL really guard? The kernel refuses to copy from a
 * guard page, so write() from it fails with EFAULT. */
static int probe_guard_install(void)
{
    size_t page = petal_page_size();
    int saved = errno, ok = 0, fds[2];
    char *p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    if (madvise(p, page, MADV_GUARD_INSTALL) == 0 && pipe2(fds, O_CLOEXEC) == 0) {
        ok = write(fds[1], p, 1) < 0 && errno == EFAULT;
        close(fds[0]);
        close(fds[1]);
    }
    munmap(p, 2 * page);
    errno = saved;
    return ok;
}

static struct petal_stack_class *find_class(struct petal_thread *t, size_t size, int create)
{
    for (size_t i = 0; i < t->nclasses; i++)
        if (t->classes[i].size == size)
            return &t->classes[i];
    if (!create)
        return NULL;
    struct petal_stack_class *c = realloc(t->classes, (t->nclasses + 1) * sizeof *c);
    if (!c)
        return NULL;
    t->classes = c;
    c += t->nclasses++;
    *c = (struct petal_stack_class){.size = size, .slot = size + petal_guard_size()};
    return c;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

static int new_arena(struct petal_thread *t, struct petal_stack_class *c)
{
    size_t n = ARENA_BYTES / c->slot;
    if (n < 4)
        n = 4;
    if (grow((void **)&c->arenas, &c->arena_cap, c->narenas + 1, sizeof *c->arenas))
        return -ENOMEM;
    char *base = mmap(NULL, n * c->slot, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return -ENOMEM;
    madvise(base, n * c->slot, MADV_NOHUGEPAGE); /* a huge page would make 4 KiB cost 2 MiB */
    c->arenas[c->narenas++] = (struct petal_arena){base, n * c->slot};
    c->next_slot = 0;
    c->nslots = n;
    t->narenas++;
    return 0;
}

char *petal_stack_acquire(struct petal_thread *t, size_t size)
{
    struct petal_stack_class *c = find_class(t, size, 1);
    if (!c)
        return NULL;
    if (c->nfree) {
        t->stacks_pooled--;
        if (c->trimmed == c->nfree)
            c->trimmed--;
        return c->free[--c->nfree];
    }
    /* make room to pool it later, so that release cannot fail */
    if (grow((void **)&c->free, &c->free_cap, c->carved + 1, sizeof *c->free))
        return NULL;
    if (c->next_slot == c->nslots && new_arena(t, c))
        return NULL;
    char *slot = c->arenas[c->narenas - 1].base + c->next_slot * c->slot;
    if (t->guard_mode < 0)
        t->guard_mode = probe_guard_install();
    size_t guard = petal_guard_size();
    if (t->guard_mode ? madvise(slot, guard, MADV_GUARD_INSTALL)
                      : mprotect(slot, guard, PROT_NONE))
        return NULL; /* mprotect: vm.max_map_count reached */
    c->next_slot++;
    c->carved++;
    return slot + guard;
}

static int by_address(const void *a, const void *b)
{
    char *x = *(char *const *)a, *y = *(char *const *)b;
    return (x > y) - (x < y);
}

/* Gives back the memory of the oldest TRIM_BATCH untrimmed pooled stacks.
 * One madvise per stack costs a system call and a TLB flush each, which made
 * a mass exit of 100,000 greenlets take seconds; sorted by address,
 * neighbouring slots become one call (the guards between them are in the
 * range: MADV_DONTNEED keeps guard markers and PROT_NONE holes). */
static void trim_batch(struct petal_stack_class *c)
{
    char **b = c->free + c->trimmed;
    qsort(b, TRIM_BATCH, sizeof *b, by_address);
    for (size_t i = 0, j; i < TRIM_BATCH; i = j) {
        for (j = i + 1; j < TRIM_BATCH && b[j] == b[j - 1] + c->slot; j++)
            ;
        madvise(b[i], (size_t)(b[j - 1] - b[i]) + c->size, MADV_DONTNEED);
    }
    c->trimmed += TRIM_BATCH;
}

void petal_stack_release(struct petal_thread *t, char *lo, size_t size)
{
    struct petal_stack_class *c = find_class(t, size, 0);
    c->free[c->nfree++] = lo;
    /* The newest pooled stacks are reused first; beyond the hot few, the
     * older ones give their memory back in batches (keeping their address
     * range and guard). */
    if (c->nfree - c->trimmed >= HOT_STACKS + TRIM_BATCH)
        trim_batch(c);
    t->stacks_pooled++;
}

void petal_stack_pool_free(struct petal_thread *t)
{
    for (size_t i = 0; i < t->nclasses; i++) {
        struct petal_stack_class *c = &t->classes[i];
        for (size_t j = 0; j < c->narenas; j++)
            munmap(c->arenas[j].base, c->arenas[j].len);
        free(c->arenas);
        free(c->free);
    }
    free(t->classes);
    t->classes = NULL;
    t->nclasses = 0;
    t->stacks_pooled = 0;
    t->narenas = 0;
}
