/* Helpers shared by the coro tests. */
#ifndef PETAL_TESTS_CORO_COMMON_H
#define PETAL_TESTS_CORO_COMMON_H

#include <petal/greenlet.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef UNDER_VALGRIND
#define UNDER_VALGRIND() 0
#endif

static const int DEDICATED = PETAL_STACK_DEDICATED;
static const int SHARED = PETAL_STACK_SHARED;

#define MODE_OF(state) (*(const int *)*(state))
#define V(x) ((void *)(intptr_t)(x))
#define I(p) ((intptr_t)(p))

static inline petal_greenlet *mk(petal_greenlet_fn run, void *arg, petal_greenlet *parent, int mode)
{
    petal_greenlet_attr a = {0, mode, NULL};
    petal_greenlet *g = NULL;
    assert_int_equal(petal_greenlet_create(&g, run, arg, parent, &a), 0);
    assert_non_null(g);
    return g;
}

static inline petal_greenlet *mk_sized(petal_greenlet_fn run, void *arg, int mode, size_t size,
                                       const char *name)
{
    petal_greenlet_attr a = {size, mode, name};
    petal_greenlet *g = NULL;
    assert_int_equal(petal_greenlet_create(&g, run, arg, NULL, &a), 0);
    return g;
}

/* Shared-mode assertions only hold where shared mode is in force (not
 * under ASan, which gets dedicated stacks instead). */
static inline int shared_in_force(const petal_greenlet *g, int mode)
{
    if (mode == PETAL_STACK_SHARED && petal_greenlet_stack_mode(g) != PETAL_STACK_SHARED) {
        print_message("[ SKIPPED  ] shared-stack checks: ASan build runs shared greenlets on dedicated stacks\n");
        return 0;
    }
    return mode == PETAL_STACK_SHARED;
}

/* Every test leaves no greenlet behind. */
static inline int check_clean(void **state)
{
    (void)state;
    petal_greenlet_stats s;
    petal_greenlet_stats_get(&s);
    if (s.greenlets || s.stacks_in_use) {
        fprintf(stderr, "leftover: %zu greenlets, %zu stacks\n", s.greenlets, s.stacks_in_use);
        return -1;
    }
    return 0;
}

static inline long rss_bytes(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

#define BOTH_MODES(fn)                                                  \
    {#fn " [dedicated]", fn, NULL, check_clean, (void *)&DEDICATED},   \
    {#fn " [shared]", fn, NULL, check_clean, (void *)&SHARED}
#define ONE(fn) {#fn, fn, NULL, check_clean, (void *)&DEDICATED}

#endif
