/* throw, kill, exit, cleanup hooks, destroy, parents: the C analogue of
 * exceptions and GreenletExit. */
#include "common.h"

#include <errno.h>
#include <string.h>

static petal_greenlet *up(void)
{
    return petal_greenlet_parent(petal_greenlet_current());
}

/* Reports what its pending switch returned. */
static void *catcher(void *arg, void *v)
{
    (void)v;
    int *got = arg;
    *got = petal_greenlet_switch(up(), V(1), NULL);
    return V(2);
}

static void throw_resumes_with_error(void **state)
{
    int got = 0;
    petal_greenlet *g = mk(catcher, &got, NULL, MODE_OF(state));
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(g, NULL, &out), 0);
    assert_int_equal(I(out), 1);
    assert_int_equal(petal_greenlet_throw(g, -EIO, &out), 0); /* g caught it and returned */
    assert_int_equal(got, -EIO);
    assert_int_equal(I(out), 2);
    assert_true(petal_greenlet_is_dead(g));
    petal_greenlet_destroy(g);
}

static void *never_runs(void *arg, void *v)
{
    (void)v;
    *(int *)arg = 1;
    return NULL;
}

static void throw_into_unstarted_goes_to_parent(void **state)
{
    int ran = 0;
    petal_greenlet *g = mk(never_runs, &ran, NULL, MODE_OF(state));
    assert_int_equal(petal_greenlet_throw(g, -ECONNRESET, NULL), -ECONNRESET);
    assert_false(ran);
    assert_true(petal_greenlet_is_dead(g));
    assert_false(petal_greenlet_is_started(g));
    int err = 0;
    assert_int_equal(petal_greenlet_result(g, &err, NULL), 0);
    assert_int_equal(err, -ECONNRESET);
    petal_greenlet_destroy(g);
}

static void throw_bad_codes_refused(void **state)
{
    petal_greenlet *g = mk(never_runs, NULL, NULL, MODE_OF(state));
    assert_int_equal(petal_greenlet_throw(g, 0, NULL), -EINVAL);
    assert_int_equal(petal_greenlet_throw(g, EIO, NULL), -EINVAL);
    assert_false(petal_greenlet_is_dead(g));
    /* throwing into yourself raises right here */
    assert_int_equal(petal_greenlet_throw(petal_greenlet_current(), -EIO, NULL), -EIO);
    petal_greenlet_destroy(g);
}

static void *exits_with_error(void *arg, void *v)
{
    (void)arg;
    (void)v;
    petal_greenlet_exit(-ETIMEDOUT);
    fail_msg("petal_greenlet_exit returned");
    return NULL;
}

static void exit_error_raised_in_parent(void **state)
{
    petal_greenlet *g = mk(exits_with_error, NULL, NULL, MODE_OF(state));
    void *out = V(1);
    assert_int_equal(petal_greenlet_switch(g, NULL, &out), -ETIMEDOUT);
    assert_null(out);
    assert_true(petal_greenlet_is_dead(g));
    petal_greenlet_destroy(g);
}

/* Cleanup hooks record their order in a shared log. */
struct log { char text[64]; };

static void note(void *arg)
{
    struct log *l = *(struct log **)arg;
    strncat(l->text, (const char *)((void **)arg)[1], sizeof l->text - strlen(l->text) - 1);
}

static void *with_hooks(void *arg, void *v)
{
    (void)v;
    static const char *marks[] = {"a", "b", "c"};
    /* not on this stack: hooks that are still registered when run returns
     * run after its frame is gone */
    static void *cells[3][2];
    for (int i = 0; i < 3; i++) {
        cells[i][0] = arg;
        cells[i][1] = (void *)marks[i];
        assert_int_equal(petal_greenlet_cleanup_push(note, cells[i]), 0);
    }
    petal_greenlet_switch(up(), NULL, NULL); /* a kill ends us here */
    strcat(((struct log *)arg)->text, "!resumed");
    return NULL;
}

static void kill_runs_hooks_lifo(void **state)
{
    struct log l = {""};
    petal_greenlet *g = mk(with_hooks, &l, NULL, MODE_OF(state));
    petal_greenlet_switch(g, NULL, NULL);
    assert_string_equal(l.text, "");
    assert_int_equal(petal_greenlet_kill(g), 0);
    assert_string_equal(l.text, "cba");
    assert_true(petal_greenlet_is_dead(g));
    int err = 0;
    petal_greenlet_result(g, &err, NULL);
    assert_int_equal(err, PETAL_EKILLED);
    petal_greenlet_destroy(g);
}

static void throw_killed_is_kill(void **state)
{
    struct log l = {""};
    petal_greenlet *g = mk(with_hooks, &l, NULL, MODE_OF(state));
    petal_greenlet_switch(g, NULL, NULL);
    assert_int_equal(petal_greenlet_throw(g, PETAL_EKILLED, NULL), 0);
    assert_string_equal(l.text, "cba");
    assert_true(petal_greenlet_is_dead(g));
    petal_greenlet_destroy(g);
}

static void hooks_run_on_return(void **state)
{
    struct log l = {""};
    petal_greenlet *g = mk(with_hooks, &l, NULL, MODE_OF(state));
    petal_greenlet_switch(g, NULL, NULL);
    petal_greenlet_switch(g, NULL, NULL); /* resumes, returns */
    assert_string_equal(l.text, "!resumedcba");
    petal_greenlet_destroy(g);
}

static void kill_unstarted_never_runs(void **state)
{
    int ran = 0;
    petal_greenlet *g = mk(never_runs, &ran, NULL, MODE_OF(state));
    assert_int_equal(petal_greenlet_kill(g), 0);
    assert_false(ran);
    assert_true(petal_greenlet_is_dead(g));
    assert_int_equal(petal_greenlet_switch(g, NULL, NULL), PETAL_EDEAD);
    petal_greenlet_destroy(g);
}

static void kill_main_refused(void **state)
{
    (void)state;
    assert_int_equal(petal_greenlet_kill(petal_greenlet_current()), -EINVAL);
}

static void *kills_itself(void *arg, void *v)
{
    (void)v;
    void *cell[2] = {arg, "x"};
    petal_greenlet_cleanup_push(note, cell);
    petal_greenlet_kill(petal_greenlet_current());
    fail_msg("kill of self returned");
    return NULL;
}

static void kill_self_unwinds(void **state)
{
    struct log l = {""};
    petal_greenlet *g = mk(kills_itself, &l, NULL, MODE_OF(state));
    void *out = V(1);
    assert_int_equal(petal_greenlet_switch(g, NULL, &out), 0); /* GreenletExit is not an error */
    assert_null(out);
    assert_string_equal(l.text, "x");
    assert_true(petal_greenlet_is_dead(g));
    petal_greenlet_destroy(g);
}

static void *pops(void *arg, void *v)
{
    (void)v;
    void *c1[2] = {arg, "1"}, *c2[2] = {arg, "2"}, *c3[2] = {arg, "3"};
    petal_greenlet_cleanup_push(note, c1);
    petal_greenlet_cleanup_push(note, c2);
    petal_greenlet_cleanup_push(note, c3);
    assert_int_equal(petal_greenlet_cleanup_pop(1), 0); /* runs "3" */
    assert_int_equal(petal_greenlet_cleanup_pop(0), 0); /* drops "2" */
    assert_int_equal(petal_greenlet_cleanup_pop(1), 0); /* runs "1" */
    assert_int_equal(petal_greenlet_cleanup_pop(1), -ENOENT);
    return NULL;
}

static void cleanup_pop(void **state)
{
    struct log l = {""};
    petal_greenlet *g = mk(pops, &l, NULL, MODE_OF(state));
    petal_greenlet_switch(g, NULL, NULL);
    assert_string_equal(l.text, "31");
    petal_greenlet_destroy(g);
    assert_int_equal(petal_greenlet_cleanup_push(NULL, NULL), -EINVAL);
}

static void destroy_suspended_unwinds(void **state)
{
    struct log l = {""};
    petal_greenlet *g = mk(with_hooks, &l, NULL, MODE_OF(state));
    petal_greenlet_switch(g, NULL, NULL);
    assert_int_equal(petal_greenlet_destroy(g), 0);
    assert_string_equal(l.text, "cba"); /* like Python's GC: GreenletExit inside it */
}

static void *destroys_itself(void *arg, void *v)
{
    (void)v;
    *(int *)arg = petal_greenlet_destroy(petal_greenlet_current());
    return NULL;
}

static void destroy_current_refused(void **state)
{
    int rc = 0;
    petal_greenlet *g = mk(destroys_itself, &rc, NULL, MODE_OF(state));
    petal_greenlet_switch(g, NULL, NULL);
    assert_int_equal(rc, -EBUSY);
    petal_greenlet_destroy(g);
}

/* A hook that switches away while its greenlet is being killed: the kill
 * finishes when it is resumed. */
static void hook_switches(void *arg)
{
    (void)arg;
    petal_greenlet_switch(up(), V(11), NULL);
}

static void *switching_hook(void *arg, void *v)
{
    (void)arg;
    (void)v;
    petal_greenlet_cleanup_push(hook_switches, NULL);
    petal_greenlet_switch(up(), NULL, NULL);
    return NULL;
}

static void hook_may_switch(void **state)
{
    petal_greenlet *g = mk(switching_hook, NULL, NULL, MODE_OF(state));
    petal_greenlet_switch(g, NULL, NULL);
    /* the kill's switch returns what the hook sent */
    assert_int_equal(petal_greenlet_kill(g), 0);
    assert_false(petal_greenlet_is_dead(g));
    /* a second kill while it unwinds shows up as an error in the hook, which
     * ignores it; the unwinding completes */
    assert_int_equal(petal_greenlet_kill(g), 0);
    assert_true(petal_greenlet_is_dead(g));
    petal_greenlet_destroy(g);
}

static void *idle(void *arg, void *v)
{
    (void)arg;
    (void)v;
    petal_greenlet_switch(up(), NULL, NULL);
    return V(99);
}

static void parent_cycles_refused(void **state)
{
    int mode = MODE_OF(state);
    petal_greenlet *a = mk(idle, NULL, NULL, mode);
    petal_greenlet *b = mk(idle, NULL, a, mode);
    petal_greenlet *c = mk(idle, NULL, b, mode);
    assert_int_equal(petal_greenlet_set_parent(a, c), PETAL_ECYCLE);
    assert_int_equal(petal_greenlet_set_parent(a, a), PETAL_ECYCLE);
    assert_ptr_equal(petal_greenlet_parent(a), petal_greenlet_current());
    assert_int_equal(petal_greenlet_set_parent(petal_greenlet_current(), a), -EINVAL);
    assert_int_equal(petal_greenlet_set_parent(a, NULL), -EINVAL);
    assert_int_equal(petal_greenlet_set_parent(c, a), 0);
    assert_ptr_equal(petal_greenlet_parent(c), a);
    petal_greenlet_destroy(c);
    petal_greenlet_destroy(b);
    petal_greenlet_destroy(a);
}

static void *collect(void *arg, void *v)
{
    (void)arg;
    /* first value: the greenlet to start; then whatever it returns */
    void *out = NULL;
    petal_greenlet_switch((petal_greenlet *)v, NULL, &out);
    return V(I(out) + 1000);
}

static void set_parent_redirects_return(void **state)
{
    int mode = MODE_OF(state);
    petal_greenlet *c = mk(collect, NULL, NULL, mode);
    petal_greenlet *w = mk(idle, NULL, NULL, mode);
    void *out = NULL;
    petal_greenlet_switch(w, NULL, NULL);             /* w waits for main */
    assert_int_equal(petal_greenlet_set_parent(w, c), 0);
    assert_int_equal(petal_greenlet_switch(c, w, &out), 0); /* c resumes w; w returns to c */
    assert_int_equal(I(out), 1099);
    petal_greenlet_destroy(w);
    petal_greenlet_destroy(c);
}

static void *child_noop_value(void *arg, void *v)
{
    (void)arg;
    (void)v;
    return V(8);
}

/* Destroying a parent while a child still names it keeps its memory alive;
 * the child's return still finds a live ancestor. */
static void destroyed_parent_outlived_by_child(void **state)
{
    int mode = MODE_OF(state);
    petal_greenlet *p = mk(idle, NULL, NULL, mode);
    petal_greenlet *c = mk(child_noop_value, NULL, p, mode);
    petal_greenlet_switch(p, NULL, NULL);
    assert_int_equal(petal_greenlet_destroy(p), 0); /* killed, still referenced by c */
    void *out = NULL;
    assert_int_equal(petal_greenlet_switch(c, NULL, &out), 0);
    assert_int_equal(I(out), 8);
    petal_greenlet_stats s;
    petal_greenlet_stats_get(&s);
    assert_int_equal(s.greenlets, 2);
    petal_greenlet_destroy(c); /* frees c, then p */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH_MODES(throw_resumes_with_error),
        BOTH_MODES(throw_into_unstarted_goes_to_parent),
        ONE(throw_bad_codes_refused),
        BOTH_MODES(exit_error_raised_in_parent),
        BOTH_MODES(kill_runs_hooks_lifo),
        BOTH_MODES(throw_killed_is_kill),
        BOTH_MODES(hooks_run_on_return),
        BOTH_MODES(kill_unstarted_never_runs),
        ONE(kill_main_refused),
        BOTH_MODES(kill_self_unwinds),
        BOTH_MODES(cleanup_pop),
        BOTH_MODES(destroy_suspended_unwinds),
        BOTH_MODES(destroy_current_refused),
        BOTH_MODES(hook_may_switch),
        BOTH_MODES(parent_cycles_refused),
        BOTH_MODES(set_parent_redirects_return),
        BOTH_MODES(destroyed_parent_outlived_by_child),
    };
    int rc = cmocka_run_group_tests_name("throw", tests, NULL, NULL);
    petal_greenlet_thread_cleanup();
    return rc;
}
