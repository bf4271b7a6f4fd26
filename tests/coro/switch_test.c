/* Switching and values: greenlet.switch semantics, in both stack modes. */
#include "common.h"

#include <errno.h>
#include <fenv.h>
#include <string.h>

/* Echoes x+1 to its parent until it receives a negative x, returns 2x. */
static void *echo(void *arg, void *v)
{
    (void)arg;
    for (;;) {
        intptr_t x = I(v);
        if (x < 0)
            return V(2 * x);
        assert_int_equal(petal_greenlet_switch(petal_greenlet_parent(petal_greenlet_current()),
                                               V(x + 1), &v), 0);
    }
}

static void values_both_ways(void **state)
{
    petal_greenlet *g = mk(echo, NULL, NULL, MODE_OF(state));
    void *out = NULL;
    for (intptr_t i = 1; i < 100; i += 7) {
        assert_int_equal(petal_greenlet_switch(g, V(i), &out), 0);
        assert_int_equal(I(out), i + 1);
    }
    assert_int_equal(petal_greenlet_switch(g, V(-21), &out), 0);
    assert_int_equal(I(out), -42);
    assert_true(petal_greenlet_is_dead(g));
    assert_int_equal(petal_greenlet_destroy(g), 0);
}

static void *report_args(void *arg, void *v)
{
    char *buf = arg;
    snprintf(buf, 64, "%s", (const char *)v);
    return buf;
}

static void run_gets_arg_and_first_value(void **state)
{
    char buf[64] = "";
    petal_greenlet *g = mk(report_args, buf, NULL, MODE_OF(state));
    assert_false(petal_greenlet_is_started(g));
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(g, "first switch", &out), 0);
    assert_string_equal(buf, "first switch");
    assert_ptr_equal(out, buf); /* the return value went to the parent */
    assert_true(petal_greenlet_is_started(g));
    petal_greenlet_destroy(g);
}

static void *child_returns(void *arg, void *v)
{
    (void)v;
    return arg;
}

/* A greenlet that creates a child and starts it: the child's return value
 * comes back to the creator (its default parent), not to main. */
static void *creator(void *arg, void *v)
{
    (void)v;
    petal_greenlet *child = mk(child_returns, V(77), NULL, *(int *)arg);
    assert_ptr_equal(petal_greenlet_parent(child), petal_greenlet_current());
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(child, NULL, &out), 0);
    petal_greenlet_destroy(child);
    return V(I(out) + 1);
}

static void parent_defaults_to_creator(void **state)
{
    int mode = MODE_OF(state);
    petal_greenlet *g = mk(creator, &mode, NULL, mode);
    assert_ptr_equal(petal_greenlet_parent(g), petal_greenlet_current());
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(g, NULL, &out), 0);
    assert_int_equal(I(out), 78);
    petal_greenlet_destroy(g);
}

static petal_greenlet *middle_g, *leaf_g;

static void *leaf(void *arg, void *v)
{
    (void)arg;
    (void)v;
    /* runs after its parent (middle) died */
    assert_true(petal_greenlet_is_dead(middle_g));
    return V(5);
}

static void *middle(void *arg, void *v)
{
    (void)arg;
    (void)v;
    return V(1); /* dies; leaf is still suspended... not started yet */
}

static void return_skips_dead_parents(void **state)
{
    int mode = MODE_OF(state);
    middle_g = mk(middle, NULL, NULL, mode);
    leaf_g = mk(leaf, NULL, middle_g, mode);
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(middle_g, NULL, &out), 0);
    assert_int_equal(I(out), 1);
    /* leaf's parent is dead: its return goes to main, the next live ancestor */
    assert_int_equal(petal_greenlet_switch(leaf_g, NULL, &out), 0);
    assert_int_equal(I(out), 5);
    petal_greenlet_destroy(leaf_g);
    petal_greenlet_destroy(middle_g);
}

static void switch_to_self_is_noop(void **state)
{
    (void)state;
    petal_greenlet *me = petal_greenlet_current();
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(me, V(9), &out), 0);
    assert_int_equal(I(out), 9);
}

static void switch_to_dead_refused(void **state)
{
    petal_greenlet *g = mk(child_returns, V(3), NULL, MODE_OF(state));
    assert_int_equal(petal_greenlet_switch(g, NULL, NULL), 0);
    assert_true(petal_greenlet_is_dead(g));
    void *out = V(1);
    assert_int_equal(petal_greenlet_switch(g, NULL, &out), PETAL_EDEAD);
    assert_int_equal(petal_greenlet_throw(g, -EIO, NULL), PETAL_EDEAD);
    assert_int_equal(petal_greenlet_kill(g), 0); /* killing the dead: nothing to do */
    int err = 1;
    void *value = NULL;
    assert_int_equal(petal_greenlet_result(g, &err, &value), 0);
    assert_int_equal(err, 0);
    assert_int_equal(I(value), 3);
    petal_greenlet_destroy(g);
}

static void *suspend_once(void *arg, void *v)
{
    (void)arg;
    petal_greenlet_switch(petal_greenlet_parent(petal_greenlet_current()), v, NULL);
    return NULL;
}

static void lifecycle_flags(void **state)
{
    petal_greenlet *g = mk(suspend_once, NULL, NULL, MODE_OF(state));
    assert_false(petal_greenlet_is_started(g));
    assert_false(petal_greenlet_is_dead(g));
    assert_int_equal(petal_greenlet_result(g, NULL, NULL), -EBUSY);
    petal_greenlet_switch(g, NULL, NULL);
    assert_true(petal_greenlet_is_started(g));
    assert_false(petal_greenlet_is_dead(g));
    petal_greenlet_switch(g, NULL, NULL);
    assert_true(petal_greenlet_is_dead(g));
    assert_true(petal_greenlet_is_started(g));
    petal_greenlet_destroy(g);
}

static void *who_am_i(void *arg, void *v)
{
    (void)v;
    petal_greenlet *me = petal_greenlet_current();
    *(petal_greenlet **)arg = me;
    assert_false(petal_greenlet_is_main(me));
    return NULL;
}

static void current_and_main(void **state)
{
    petal_greenlet *m = petal_greenlet_current();
    assert_non_null(m);
    assert_true(petal_greenlet_is_main(m));
    assert_null(petal_greenlet_parent(m));
    assert_true(petal_greenlet_is_started(m));
    assert_false(petal_greenlet_is_dead(m));
    petal_greenlet *seen = NULL;
    petal_greenlet *g = mk(who_am_i, &seen, NULL, MODE_OF(state));
    petal_greenlet_switch(g, NULL, NULL);
    assert_ptr_equal(seen, g);
    assert_ptr_equal(petal_greenlet_current(), m);
    petal_greenlet_destroy(g);
}

static void bad_arguments_refused(void **state)
{
    (void)state;
    petal_greenlet *g = NULL;
    assert_int_equal(petal_greenlet_create(NULL, echo, NULL, NULL, NULL), -EINVAL);
    assert_int_equal(petal_greenlet_create(&g, NULL, NULL, NULL, NULL), -EINVAL);
    petal_greenlet_attr bad = {0, 7, NULL};
    assert_int_equal(petal_greenlet_create(&g, echo, NULL, NULL, &bad), -EINVAL);
    assert_null(g);
    assert_int_equal(petal_greenlet_switch(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(petal_greenlet_throw(NULL, -EIO, NULL), -EINVAL);
    assert_int_equal(petal_greenlet_kill(NULL), -EINVAL);
    assert_int_equal(petal_greenlet_destroy(NULL), -EINVAL);
    assert_int_equal(petal_greenlet_set_parent(NULL, NULL), -EINVAL);
    assert_int_equal(petal_greenlet_result(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(petal_greenlet_set_name(NULL, "x"), -EINVAL);
    assert_int_equal(petal_greenlet_stack_mode(NULL), -EINVAL);
    assert_false(petal_greenlet_is_dead(NULL));
    assert_false(petal_greenlet_is_started(NULL));
    assert_null(petal_greenlet_parent(NULL));
    assert_null(petal_greenlet_name(NULL));
    assert_int_equal(petal_greenlet_stack_in_use(NULL), 0);
    petal_greenlet *m = petal_greenlet_current();
    assert_int_equal(petal_greenlet_destroy(m), -EINVAL);
    assert_int_equal(petal_greenlet_exit(0), -EINVAL); /* from main */
    assert_int_equal(petal_greenlet_exit(5), -EINVAL);
    assert_string_equal(petal_greenlet_strerror(PETAL_EDEAD), "greenlet is dead");
    assert_string_equal(petal_greenlet_strerror(-EINVAL), strerror(EINVAL));
}

static void names(void **state)
{
    petal_greenlet *m = petal_greenlet_current();
    assert_string_equal(petal_greenlet_name(m), "main");
    petal_greenlet *g = mk(echo, NULL, NULL, MODE_OF(state));
    assert_string_equal(petal_greenlet_name(g), "greenlet");
    assert_int_equal(petal_greenlet_set_name(g, "worker-1"), 0);
    assert_string_equal(petal_greenlet_name(g), "worker-1");
    petal_greenlet *h = mk_sized(echo, NULL, MODE_OF(state), 0, "named-at-birth");
    assert_string_equal(petal_greenlet_name(h), "named-at-birth");
    petal_greenlet_destroy(g);
    petal_greenlet_destroy(h);
}

static void *clobber_errno(void *arg, void *v)
{
    (void)arg;
    (void)v;
    for (;;) {
        errno = EPIPE;
        petal_greenlet_switch(petal_greenlet_parent(petal_greenlet_current()), NULL, NULL);
        assert_int_equal(errno, EPIPE); /* main's EAGAIN did not leak in */
    }
    return NULL;
}

static void errno_kept_across_switches(void **state)
{
    petal_greenlet *g = mk(clobber_errno, NULL, NULL, MODE_OF(state));
    for (int i = 0; i < 3; i++) {
        errno = EAGAIN;
        assert_int_equal(petal_greenlet_switch(g, NULL, NULL), 0);
        assert_int_equal(errno, EAGAIN);
    }
    petal_greenlet_destroy(g);
}

static petal_greenlet *ring[3];

static void *ring_member(void *arg, void *v)
{
    intptr_t me = I(arg);
    for (;;) {
        intptr_t n = I(v);
        if (n >= 30)
            return V(n);
        assert_int_equal(n % 3, me); /* strictly in turn */
        assert_int_equal(petal_greenlet_switch(ring[(me + 1) % 3], V(n + 1), &v), 0);
    }
}

static void symmetric_ring(void **state)
{
    for (int i = 0; i < 3; i++)
        ring[i] = mk(ring_member, V(i), NULL, MODE_OF(state));
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(ring[0], V(0), &out), 0);
    assert_int_equal(I(out), 30); /* ring[0] returned it to main */
    for (int i = 0; i < 3; i++)
        petal_greenlet_destroy(ring[i]);
}

static void *start_parent_value(void *arg, void *v)
{
    (void)arg;
    return V(I(v) * 10);
}

/* A child dying into its unstarted parent starts the parent with the value. */
static void death_starts_unstarted_parent(void **state)
{
    int mode = MODE_OF(state);
    petal_greenlet *p = mk(start_parent_value, NULL, NULL, mode);
    petal_greenlet *c = mk(child_returns, V(4), p, mode);
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(c, NULL, &out), 0);
    assert_int_equal(I(out), 40);
    assert_true(petal_greenlet_is_dead(p));
    petal_greenlet_destroy(c);
    petal_greenlet_destroy(p);
}

/* Rounding mode is FP control state (MXCSR + x87 CW, or FPCR): per greenlet. */
static void *rounds_up(void *arg, void *v)
{
    (void)v;
    int *seen = arg;
    seen[0] = fegetround(); /* inherited from the greenlet that started it */
    fesetround(FE_UPWARD);
    petal_greenlet_switch(petal_greenlet_parent(petal_greenlet_current()), NULL, NULL);
    seen[1] = fegetround();
    volatile double one = 1.0, three = 3.0;
    seen[2] = one / three > 0.3333333333333333; /* rounded up: the last bit differs */
    return NULL;
}

static void fp_control_per_greenlet(void **state)
{
    int seen[3] = {-1, -1, -1};
    petal_greenlet *g = mk(rounds_up, seen, NULL, MODE_OF(state));
    fesetround(FE_DOWNWARD);
    petal_greenlet_switch(g, NULL, NULL);
    assert_int_equal(seen[0], FE_DOWNWARD);
    assert_int_equal(fegetround(), FE_DOWNWARD); /* g's FE_UPWARD stayed in g */
    fesetround(FE_TONEAREST);
    petal_greenlet_switch(g, NULL, NULL);
    assert_int_equal(seen[1], FE_UPWARD);
    if (UNDER_VALGRIND()) /* VEX computes SSE arithmetic in round-to-nearest only */
        print_message("[ SKIPPED  ] rounded arithmetic: valgrind ignores the SSE rounding mode\n");
    else
        assert_int_equal(seen[2], 1);
    assert_int_equal(fegetround(), FE_TONEAREST);
    petal_greenlet_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH_MODES(values_both_ways),
        BOTH_MODES(run_gets_arg_and_first_value),
        BOTH_MODES(parent_defaults_to_creator),
        BOTH_MODES(return_skips_dead_parents),
        ONE(switch_to_self_is_noop),
        BOTH_MODES(switch_to_dead_refused),
        BOTH_MODES(lifecycle_flags),
        BOTH_MODES(current_and_main),
        ONE(bad_arguments_refused),
        BOTH_MODES(names),
        BOTH_MODES(errno_kept_across_switches),
        BOTH_MODES(symmetric_ring),
        BOTH_MODES(death_starts_unstarted_parent),
        BOTH_MODES(fp_control_per_greenlet),
    };
    int rc = cmocka_run_group_tests_name("switch", tests, NULL, NULL);
    petal_greenlet_thread_cleanup();
    return rc;
}
