/* Memory of the core's growable arrays (handle slots, ready ring, timer
 * heap).
 *
 * Small arrays come from malloc. From 2 MiB on, an array gets a mapping of
 * its own, aligned to 2 MiB and advised MADV_HUGEPAGE: a loop that holds a
 * million callbacks or timers then faults its memory in 2 MiB at a time.
 * On the project VM the first touch of a 4 KiB page costs several
 * microseconds, so 4 KiB pages made most of the cost of scheduling a
 * million callbacks on a fresh loop (bench/README.md, fanout_soon). Growth
 * copies into the new mapping; arrays never shrink. Under AddressSanitizer
 * everything stays on malloc, so overflows are still caught. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "loop_internal.h"

#define HUGE_PAGE ((size_t)2 << 20)

#if defined(__SANITIZE_ADDRESS__)
#define HUGE_ON 0
#else
#define HUGE_ON 1
#endif

static bool is_huge(size_t bytes)
{
    return HUGE_ON && bytes >= HUGE_PAGE;
}

static size_t huge_len(size_t bytes)
{
    return (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

/* A private anonymous mapping of huge_len(bytes), 2 MiB aligned (the kernel
 * only backs aligned 2 MiB ranges with huge pages): map one huge page more
 * and unmap what sticks out on either side. */
static void *map_huge(size_t bytes)
{
    size_t len = huge_len(bytes);
    if (len < bytes || len + HUGE_PAGE < len) return NULL;
    char *p = mmap(NULL, len + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    char *a = (char *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (a > p) munmap(p, (size_t)(a - p));
    size_t tail = (size_t)(p + len + HUGE_PAGE - (a + len));
    if (tail) munmap(a + len, tail);
    madvise(a, len, MADV_HUGEPAGE);    /* advice only: fine if refused */
    return a;
}

void array_free(void *p, size_t bytes)
{
    if (!p) return;
    if (is_huge(bytes)) munmap(p, huge_len(bytes));
    else free(p);
}

void *array_resize(void *p, size_t old_bytes, size_t new_bytes)
{
    if (!is_huge(old_bytes) && !is_huge(new_bytes)) return realloc(p, new_bytes);
    if (is_huge(old_bytes) && is_huge(new_bytes) && huge_len(old_bytes) == huge_len(new_bytes)) return p;
    void *q = is_huge(new_bytes) ? map_huge(new_bytes) : malloc(new_bytes);
    if (!q) return NULL;
    if (p) memcpy(q, p, old_bytes < new_bytes ? old_bytes : new_bytes);
    array_free(p, old_bytes);
    return q;
}
