/* Small blocks for greenlet records and shared-mode stack copies, carved
 * from 2 MiB chunks once a thread has many of them.
 *
 * Why not malloc: with a million greenlets, malloc's heap grows page by
 * page and every first touch of a 4 KiB page is a page fault, which costs
 * ~20-50 us on a VM with shadow paging (bench: 1M sleeping greenlets spent
 * most of their time in those faults). A chunk is asked for huge pages and
 * populated with one madvise, and then costs one fault or none.
 *
 * Each chunk serves one size class (so an empty chunk can be given back),
 * keeps its own free list and counts its live blocks; the chunk of a block
 * is found by aligning its address down. A thread uses malloc for its first
 * SLAB_AFTER blocks, so a program with a few greenlets does not pay 2 MiB
 * per class; under ASan and Valgrind it always uses malloc, so their leak
 * and bounds checks keep seeing every block. Blocks are freed only on their
 * own thread (greenlets are). */
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define CHUNK ((size_t)2 << 20)
#define SLAB_AFTER 4096    /* live blocks a thread takes from malloc first */

struct petal_slab_chunk {
    struct petal_slab_chunk *prev, *next; /* the class's chunks with room */
    void *free;                           /* freed blocks, linked through */
    char *bump, *end;                     /* never-used blocks */
    unsigned cls, live, listed;
};

static size_t class_size(unsigned cls) { return (size_t)(cls + 1) * SLAB_GRAIN; }

static int slab_usable(struct petal_thread *t)
{
#if defined(PETAL_ASAN)
    (void)t;
    return 0;
#else
#ifdef PETAL_VALGRIND
    if (RUNNING_ON_VALGRIND)
        return 0;
#endif
    return t->slab_blocks >= SLAB_AFTER;
#endif
}

static struct petal_slab_chunk *chunk_of(void *p)
{
    return (struct petal_slab_chunk *)((uintptr_t)p & ~(uintptr_t)(CHUNK - 1));
}

static struct petal_slab_chunk *chunk_new(unsigned cls)
{
    /* over-map, then cut to a CHUNK-aligned CHUNK */
    char *m = mmap(NULL, 2 * CHUNK, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    char *c = (char *)(((uintptr_t)m + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1));
    if (c > m)
        munmap(m, (size_t)(c - m));
    munmap(c + CHUNK, (size_t)(m + 2 * CHUNK - (c + CHUNK)));
    madvise(c, CHUNK, MADV_HUGEPAGE);
    madvise(c, CHUNK, MADV_POPULATE_WRITE); /* may fail on old kernels: faults then */
    struct petal_slab_chunk *ch = (struct petal_slab_chunk *)c;
    size_t size = class_size(cls);
    size_t first = (sizeof *ch + size - 1) / size * size; /* blocks stay GRAIN-aligned */
    *ch = (struct petal_slab_chunk){.bump = c + first, .end = c + CHUNK, .cls = cls};
    return ch;
}

static void room_unlink(struct petal_slab_class *c, struct petal_slab_chunk *ch)
{
    if (ch->prev)
        ch->prev->next = ch->next;
    else
        c->room = ch->next;
    if (ch->next)
        ch->next->prev = ch->prev;
    ch->prev = ch->next = NULL;
    ch->listed = 0;
}

static void *take(struct petal_slab_chunk *ch, size_t size)
{
    void *p = ch->free;
    if (p) {
        ch->free = *(void **)p;
    } else if (ch->bump + size <= ch->end) {
        p = ch->bump;
        ch->bump += size;
    } else {
        return NULL;
    }
    ch->live++;
    return p;
}

void *petal_slab_alloc(struct petal_thread *t, size_t n, size_t *cap, int *slab)
{
    *slab = 0;
    if (n > SLAB_MAX || !slab_usable(t)) {
        t->slab_blocks++;
        *cap = n;
        return malloc(n ? n : 1);
    }
    unsigned cls = (unsigned)((n ? n - 1 : 0) / SLAB_GRAIN);
    struct petal_slab_class *c = &t->slab[cls];
    size_t size = class_size(cls);
    void *p = c->cur ? take(c->cur, size) : NULL;
    if (!p) {
        struct petal_slab_chunk *ch = c->room;
        if (ch)
            room_unlink(c, ch);
        else if (!(ch = chunk_new(cls)))
            return NULL;
        c->cur = ch;
        p = take(ch, size);
    }
    *slab = 1;
    *cap = size;
    return p;
}

void petal_slab_free(struct petal_thread *t, void *p, int slab)
{
    if (!slab) {
        if (p)
            t->slab_blocks--;
        free(p);
        return;
    }
    struct petal_slab_chunk *ch = chunk_of(p);
    struct petal_slab_class *c = &t->slab[ch->cls];
    *(void **)p = ch->free;
    ch->free = p;
    ch->live--;
    if (ch == c->cur)
        return;
    if (!ch->live) { /* empty: give it back */
        if (ch->listed)
            room_unlink(c, ch);
        munmap(ch, CHUNK);
    } else if (!ch->listed) {
        ch->listed = 1;
        ch->next = c->room;
        ch->prev = NULL;
        if (c->room)
            c->room->prev = ch;
        c->room = ch;
    }
}

/* At thread cleanup every block is free; the current chunks remain. */
void petal_slab_release(struct petal_thread *t)
{
    for (unsigned i = 0; i < SLAB_CLASSES; i++) {
        if (t->slab[i].cur)
            munmap(t->slab[i].cur, CHUNK);
        t->slab[i].cur = NULL;
    }
}
