/* Stacks: deep recursion, the shared-stack copying, pooling, a million
 * create/finish cycles, many dedicated stacks within vm.max_map_count. */
#include "common.h"

#include <errno.h>
#include <string.h>

static petal_greenlet *up(void)
{
    return petal_greenlet_parent(petal_greenlet_current());
}

/* Recursion with a checked local array per frame; suspends at the bottom. */
static __attribute__((noinline)) unsigned dive(int depth, int salt)
{
    volatile unsigned char buf[256];
    for (int i = 0; i < 256; i++)
        buf[i] = (unsigned char)(depth * 7 + i + salt);
    unsigned sum = 0;
    if (depth == 0)
        petal_greenlet_switch(up(), NULL, NULL);
    else
        sum = dive(depth - 1, salt);
    for (int i = 0; i < 256; i++) {
        if (buf[i] != (unsigned char)(depth * 7 + i + salt))
            return 0xdead;
        sum += buf[i];
    }
    return sum;
}

static unsigned expected_sum(int depth, int salt)
{
    unsigned sum = 0;
    for (int d = 0; d <= depth; d++)
        for (int i = 0; i < 256; i++)
            sum += (unsigned char)(d * 7 + i + salt);
    return sum;
}

enum { DEPTH = 130 }; /* about 40 KiB of frames */

static void *diver(void *arg, void *v)
{
    (void)v;
    return V(dive(DEPTH, (int)I(arg)));
}

static void deep_recursion(void **state)
{
    int mode = MODE_OF(state);
    petal_greenlet *a = mk_sized(diver, V(1), mode, 128 * 1024, "a");
    petal_greenlet *b = mk_sized(diver, V(2), mode, 128 * 1024, "b");
    assert_int_equal(petal_greenlet_switch(a, NULL, NULL), 0); /* a at the bottom */
    assert_int_equal(petal_greenlet_switch(b, NULL, NULL), 0); /* b too: in shared mode a was copied out */
    assert_true(petal_greenlet_stack_in_use(a) > 32 * 1024);
    assert_true(petal_greenlet_stack_in_use(b) > 32 * 1024);
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(a, NULL, &out), 0);
    assert_int_equal(I(out), expected_sum(DEPTH, 1));
    assert_int_equal(petal_greenlet_switch(b, NULL, &out), 0);
    assert_int_equal(I(out), expected_sum(DEPTH, 2));
    petal_greenlet_destroy(a);
    petal_greenlet_destroy(b);
}

static void *shallow(void *arg, void *v)
{
    (void)arg;
    (void)v;
    petal_greenlet_switch(up(), NULL, NULL);
    return NULL;
}

static void shared_saves_only_live_part(void **state)
{
    (void)state;
    petal_greenlet *a = mk(shallow, NULL, NULL, SHARED);
    petal_greenlet *b = mk(shallow, NULL, NULL, SHARED);
    if (!shared_in_force(a, SHARED)) {
        petal_greenlet_destroy(a);
        petal_greenlet_destroy(b);
        return;
    }
    petal_greenlet_switch(a, NULL, NULL);
    petal_greenlet_stats s0, s1;
    petal_greenlet_stats_get(&s0);
    assert_int_equal(s0.saved_bytes, 0); /* a's bytes still sit on the shared stack */
    petal_greenlet_switch(b, NULL, NULL); /* b needs the stack: a is copied out */
    petal_greenlet_stats_get(&s1);
    size_t live = petal_greenlet_stack_in_use(a);
    assert_true(live > 0 && live < 1024);
    assert_int_equal(s1.saved_bytes, live);
    petal_greenlet_destroy(a);
    petal_greenlet_destroy(b);
    petal_greenlet_stats_get(&s1);
    assert_int_equal(s1.saved_bytes, 0);
}

enum { CROWD = 100, ROUNDS = 20 };

static void *crowd_member(void *arg, void *v)
{
    intptr_t id = I(arg);
    volatile intptr_t mine[32];
    for (int i = 0; i < 32; i++)
        mine[i] = id * 1000 + i;
    for (;;) {
        for (int i = 0; i < 32; i++)
            if (mine[i] != id * 1000 + i)
                return V(-1);
        if (I(v) == ROUNDS)
            return V(id);
        petal_greenlet_switch(up(), NULL, &v);
    }
}

static void many_interleaved(void **state)
{
    petal_greenlet *g[CROWD];
    for (int i = 0; i < CROWD; i++)
        g[i] = mk(crowd_member, V(i), NULL, MODE_OF(state));
    for (int r = 0; r <= ROUNDS; r++)
        for (int i = 0; i < CROWD; i++) {
            void *out = NULL;
            assert_int_equal(petal_greenlet_switch(g[i], V(r), &out), 0);
            if (r == ROUNDS)
                assert_int_equal(I(out), i);
        }
    for (int i = 0; i < CROWD; i++)
        petal_greenlet_destroy(g[i]);
}

/* More greenlets than a thread takes from malloc (coro/src/slab.c), with
 * stack copies of eight sizes: records and copies come from slab chunks,
 * freed blocks are reused, and every greenlet keeps its own bytes. */
enum { BIG_CROWD = 20000 };

static void *sized_member(void *arg, void *v)
{
    intptr_t id = I(arg);
    volatile unsigned char pad[1 + 48 * (id % 8)];
    for (size_t i = 0; i < sizeof pad; i++)
        pad[i] = (unsigned char)(id * 7 + (intptr_t)i);
    for (;;) {
        for (size_t i = 0; i < sizeof pad; i++)
            if (pad[i] != (unsigned char)(id * 7 + (intptr_t)i))
                return V(-1);
        if (I(v) == 2)
            return V(id);
        petal_greenlet_switch(up(), NULL, &v);
    }
}

static void crowd_beyond_malloc(void **state)
{
    size_t n = UNDER_VALGRIND() ? 2000 : BIG_CROWD;
    petal_greenlet **g = calloc(n, sizeof *g);
    assert_non_null(g);
    for (int round = 0; round < 2; round++) {
        /* round 1 refills the blocks that round 0 freed (every other one) */
        for (size_t i = round; i < n; i += 1 + (size_t)round)
            g[i] = mk(sized_member, V(i), NULL, MODE_OF(state));
        for (intptr_t r = 0; r <= 2; r++)
            for (size_t i = round; i < n; i += 1 + (size_t)round) {
                void *out = NULL;
                assert_int_equal(petal_greenlet_switch(g[i], V(r), &out), 0);
                if (r == 2)
                    assert_int_equal(I(out), (intptr_t)i);
            }
        for (size_t i = 1; i < n; i += 2)
            assert_int_equal(petal_greenlet_destroy(g[i]), 0);
    }
    for (size_t i = 0; i < n; i += 2)
        assert_int_equal(petal_greenlet_destroy(g[i]), 0);
    petal_greenlet_stats s;
    petal_greenlet_stats_get(&s);
    assert_int_equal(s.saved_bytes, 0);
    free(g);
}

static petal_greenlet *mixed[3];

static void *mixed_member(void *arg, void *v)
{
    intptr_t me = I(arg);
    volatile intptr_t local = me * 11;
    for (;;) {
        if (I(v) >= 60)
            return v;
        if (local != me * 11)
            return V(-1);
        petal_greenlet_switch(mixed[(me + 1) % 3], V(I(v) + 1), &v);
    }
}

static void mixed_modes(void **state)
{
    (void)state;
    mixed[0] = mk(mixed_member, V(0), NULL, SHARED);
    mixed[1] = mk(mixed_member, V(1), NULL, DEDICATED);
    mixed[2] = mk(mixed_member, V(2), NULL, SHARED);
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(mixed[0], V(0), &out), 0);
    assert_int_equal(I(out), 60);
    for (int i = 0; i < 3; i++)
        petal_greenlet_destroy(mixed[i]);
}

static void *finish_now(void *arg, void *v)
{
    (void)v;
    return arg;
}

static void million_create_finish(void **state)
{
    int mode = MODE_OF(state);
    petal_greenlet_stats s;
    petal_greenlet_stats_get(&s);
    size_t pooled0 = s.stacks_pooled;
    long rss0 = rss_bytes();
    for (long i = 0; i < 1000000; i++) {
        petal_greenlet *g = NULL;
        petal_greenlet_attr a = {0, mode, NULL};
        if (petal_greenlet_create(&g, finish_now, V(i), NULL, &a))
            fail_msg("create failed at %ld", i);
        void *out = NULL;
        if (petal_greenlet_switch(g, NULL, &out) || I(out) != i)
            fail_msg("cycle %ld went wrong", i);
        petal_greenlet_destroy(g);
    }
    petal_greenlet_stats_get(&s);
    assert_int_equal(s.greenlets, 0);
    assert_int_equal(s.stacks_in_use, 0);
    assert_true(s.stacks_pooled <= pooled0 + 3); /* one reused stack (+ shared, scratch) */
    long grown = rss_bytes() - rss0;
    if (UNDER_ASAN || UNDER_VALGRIND())
        print_message("[ SKIPPED  ] RSS bound: the tool holds freed memory back (its leak check runs instead)\n");
    else
        assert_true(grown < 8L << 20);
}

static void stacks_pooled_and_sized(void **state)
{
    (void)state;
    petal_greenlet_stats s0, s1;
    petal_greenlet *g = mk_sized(finish_now, NULL, DEDICATED, 20000, NULL);
    assert_int_equal(petal_greenlet_stack_size(g), 20480); /* whole pages */
    petal_greenlet_destroy(g);
    petal_greenlet_stats_get(&s0);
    g = mk_sized(finish_now, NULL, DEDICATED, 20000, NULL);
    petal_greenlet_stats_get(&s1);
    assert_int_equal(s1.stacks_pooled + 1, s0.stacks_pooled); /* taken from the pool */
    assert_int_equal(s1.arenas, s0.arenas);
    petal_greenlet_destroy(g);
    g = mk_sized(finish_now, NULL, DEDICATED, 100, NULL);
    assert_int_equal(petal_greenlet_stack_size(g), 16384); /* the minimum */
    assert_int_equal(petal_greenlet_stack_mode(g), PETAL_STACK_DEDICATED);
    petal_greenlet_destroy(g);
}

static long count_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Past the ~32,750 stacks that one mapping + guard per stack would allow. */
static void many_dedicated_within_map_count(void **state)
{
    (void)state;
    size_t n = 40000;
    petal_greenlet *probe = mk_sized(shallow, NULL, DEDICATED, 16384, NULL);
    petal_greenlet_stats s;
    petal_greenlet_stats_get(&s);
    if (s.guard_install != 1 || UNDER_VALGRIND()) {
        print_message("[ SKIPPED  ] 40,000 stacks: %s\n",
                      s.guard_install != 1 ? "no MADV_GUARD_INSTALL (mprotect guards, map-count limit applies)"
                                           : "too slow under valgrind, 2,000 instead");
        n = 2000;
    }
    long maps0 = count_maps();
    petal_greenlet **g = calloc(n, sizeof *g);
    assert_non_null(g);
    for (size_t i = 0; i < n; i++) {
        g[i] = mk_sized(shallow, NULL, DEDICATED, 16384, NULL);
        assert_int_equal(petal_greenlet_switch(g[i], NULL, NULL), 0);
    }
    long grown = count_maps() - maps0;
    if (s.guard_install == 1)
        assert_true(grown < 100);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(petal_greenlet_destroy(g[i]), 0);
    free(g);
    petal_greenlet_destroy(probe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH_MODES(deep_recursion),
        ONE(shared_saves_only_live_part),
        BOTH_MODES(many_interleaved),
        BOTH_MODES(crowd_beyond_malloc),
        ONE(mixed_modes),
        BOTH_MODES(million_create_finish),
        ONE(stacks_pooled_and_sized),
        ONE(many_dedicated_within_map_count),
    };
    int rc = cmocka_run_group_tests_name("stacks", tests, NULL, NULL);
    petal_greenlet_thread_cleanup();
    return rc;
}
