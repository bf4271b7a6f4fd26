/* The green hub (petal/green.h): spawn, sleep, join, kill, misuse. Built once
 * per backend (tests/green/BUILD). Sync primitives, I/O, timeouts and the
 * dump are in the other hub_*_test.c files. */
#include "green_common.h"

static char trace[64];
static int ntrace;

static void mark(char c)
{
    if (ntrace < (int)sizeof trace - 1) trace[ntrace++] = c;
    trace[ntrace] = 0;
}

static void *marker(void *arg)
{
    mark((char)(intptr_t)arg);
    return arg;
}

static void reset_trace(void)
{
    ntrace = 0;
    trace[0] = 0;
}

/* ---- hub lifecycle ------------------------------------------------------- */

static void test_hub_one_per_thread(void **state)
{
    (void)state;
    assert_ptr_equal(petal_green_hub_current(), hub);
    assert_ptr_equal(petal_green_hub_loop(hub), loop);
    petal_hub_t *other;
    assert_int_equal(petal_green_hub_new(loop, NULL, &other), PETAL_EEXIST);
    assert_int_equal(petal_green_hub_new(NULL, NULL, &other), PETAL_EINVAL);
    petal_green_hub_opts bad = {.stack_mode = 7};
    assert_int_equal(petal_green_spawn(hub, marker, NULL, (petal_green_opts *)&bad, NULL), PETAL_EINVAL);
}

static void test_no_hub_is_reported(void **state)
{
    (void)state;
    assert_int_equal(petal_green_hub_free(hub), 0);
    hub = NULL;
    assert_null(petal_green_hub_current());
    assert_int_equal(petal_green_sleep(0.01), PETAL_ENOHUB);
    assert_int_equal(petal_green_wait_readable(0, 0.01), PETAL_ENOHUB);
    assert_int_equal(petal_green_dump(stderr), PETAL_ENOHUB);
    assert_null(petal_green_current());
    /* teardown needs a hub again */
    assert_int_equal(petal_green_hub_new(loop, NULL, &hub), 0);
}

static void test_run_without_greenlets_returns(void **state)
{
    (void)state;
    assert_int_equal(petal_green_run(hub), 0);
    assert_int_equal(petal_green_run(NULL), PETAL_EINVAL);
}

/* ---- spawn --------------------------------------------------------------- */

static void test_spawn_starts_on_next_iteration_in_order(void **state)
{
    (void)state;
    reset_trace();
    for (char c = 'a'; c <= 'e'; c++) assert_int_equal(petal_green_spawn(hub, marker, (void *)(intptr_t)c, NULL, NULL), 0);
    assert_string_equal(trace, ""); /* nothing ran inside spawn */
    petal_green_stats st;
    petal_green_hub_stats(hub, &st);
    assert_int_equal(st.live, 5);
    assert_int_equal(petal_green_run(hub), 0);
    assert_string_equal(trace, "abcde");
    petal_green_hub_stats(hub, &st);
    assert_int_equal(st.live, 0);
    assert_int_equal(st.spawned, 5);
    assert_int_equal(st.finished, 5);
}

static void test_spawn_bad_arguments(void **state)
{
    (void)state;
    assert_int_equal(petal_green_spawn(NULL, marker, NULL, NULL, NULL), PETAL_EINVAL);
    assert_int_equal(petal_green_spawn(hub, NULL, NULL, NULL, NULL), PETAL_EINVAL);
}

static void test_result_and_state(void **state)
{
    (void)state;
    petal_green_t *g;
    petal_green_opts o = {.name = "worker"};
    assert_int_equal(petal_green_spawn(hub, marker, (void *)(intptr_t)'x', &o, &g), 0);
    assert_int_equal(petal_green_state(g), PETAL_GREEN_PENDING);
    assert_string_equal(petal_green_name(g), "worker");
    void *v;
    assert_int_equal(petal_green_result(g, &v), PETAL_EINVALSTATE);
    assert_int_equal(petal_green_join(g, -1), 0);
    assert_int_equal(petal_green_state(g), PETAL_GREEN_DEAD);
    assert_int_equal(petal_green_result(g, &v), 0);
    assert_ptr_equal(v, (void *)(intptr_t)'x');
    petal_green_release(g);
}

static void *exits_with_eio(void *arg)
{
    (void)arg;
    petal_green_exit(-EIO);
    mark('!'); /* never */
    return NULL;
}

static void test_exit_with_error_fails_future(void **state)
{
    (void)state;
    reset_trace();
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, exits_with_eio, NULL, NULL, &g), 0);
    petal_future_t *f;
    assert_int_equal(petal_green_future(g, &f), 0);
    assert_int_equal(petal_green_join(g, -1), 0);
    assert_int_equal(petal_green_result(g, NULL), -EIO);
    assert_string_equal(trace, "");
    assert_int_equal(petal_green_await(f, -1, NULL), -EIO);
    petal_future_release(f);
    assert_int_equal(petal_green_exit(-EIO), PETAL_EBLOCKING); /* main is not a spawned greenlet */
    assert_int_equal(petal_green_exit(1), PETAL_EINVAL);
    petal_green_release(g);
}

/* ---- sleep --------------------------------------------------------------- */

static double base; /* deadlines of sleeper() are base + arg ms */

static void *sleeper(void *arg)
{
    double s = base + (double)(intptr_t)arg / 1000.0 - petal_time(loop);
    double t0 = petal_time(loop);
    assert_int_equal(petal_green_sleep(s > 0 ? s : 0), 0);
    assert_true(petal_time(loop) - t0 >= s);
    mark((char)('0' + (intptr_t)arg / 10));
    return NULL;
}

static void test_sleep_wakes_in_deadline_order(void **state)
{
    (void)state;
    reset_trace();
    base = petal_time(loop) + 0.05; /* the same deadlines, however late each starts */
    petal_green_spawn(hub, sleeper, (void *)(intptr_t)30, NULL, NULL);
    petal_green_spawn(hub, sleeper, (void *)(intptr_t)10, NULL, NULL);
    petal_green_spawn(hub, sleeper, (void *)(intptr_t)20, NULL, NULL);
    petal_green_spawn(hub, sleeper, (void *)(intptr_t)10, NULL, NULL);
    assert_int_equal(petal_green_run(hub), 0);
    assert_string_equal(trace, "1123");
}

static void test_main_sleeps_too(void **state)
{
    (void)state;
    double t0 = petal_time(loop);
    assert_int_equal(petal_green_sleep(0.02), 0);
    assert_true(petal_time(loop) - t0 >= 0.02);
    assert_int_equal(petal_green_sleep(0), 0);
    assert_int_equal(petal_green_sleep(-1), PETAL_EINVAL);
    assert_int_equal(petal_green_sleep(0.0 / 0.0), PETAL_EINVAL);
}

static void *yielder(void *arg)
{
    for (int i = 0; i < 3; i++) {
        mark((char)(intptr_t)arg);
        assert_int_equal(petal_green_sleep(0), 0);
    }
    return NULL;
}

static void soon_mark(petal_loop_t *l, void *arg)
{
    (void)l;
    mark((char)(intptr_t)arg);
}

static void test_sleep0_yields_to_everything_ready(void **state)
{
    (void)state;
    reset_trace();
    petal_green_spawn(hub, yielder, (void *)'a', NULL, NULL);
    petal_green_spawn(hub, yielder, (void *)'b', NULL, NULL);
    petal_call_soon(loop, soon_mark, (void *)'c');
    assert_int_equal(petal_green_run(hub), 0);
    /* The batch that starts a and b was queued before 'c'; each sleep(0)
     * queues behind everything already ready ('c' included). */
    assert_string_equal(trace, "abcabab");
}

static void *many_sleeper(void *arg)
{
    (void)arg;
    assert_int_equal(petal_green_sleep(0.01), 0);
    return NULL;
}

static void test_ten_thousand_sleepers(void **state)
{
    (void)state;
    for (int i = 0; i < 10000; i++) assert_int_equal(petal_green_spawn(hub, many_sleeper, NULL, NULL, NULL), 0);
    petal_green_stats st;
    assert_int_equal(petal_green_run(hub), 0);
    petal_green_hub_stats(hub, &st);
    assert_int_equal(st.finished, 10000);
    assert_int_equal(st.live, 0);
}

/* ---- join ---------------------------------------------------------------- */

static petal_green_t *joined;

static void *joins_itself(void *arg)
{
    (void)arg;
    assert_int_equal(petal_green_join(petal_green_current(), -1), -EDEADLK);
    return NULL;
}

static void test_join_timeout_and_self(void **state)
{
    (void)state;
    petal_green_t *g, *s;
    base = petal_time(loop);
    assert_int_equal(petal_green_spawn(hub, sleeper, (void *)(intptr_t)50, NULL, &g), 0);
    assert_int_equal(petal_green_join(g, 0), PETAL_ETIMEDOUT);     /* only checks */
    assert_int_equal(petal_green_join(g, 0.005), PETAL_ETIMEDOUT); /* waits a little */
    assert_int_equal(petal_green_state(g), PETAL_GREEN_PARKED);
    assert_int_equal(petal_green_join(g, -1), 0);
    assert_int_equal(petal_green_join(g, 0), 0);
    assert_int_equal(petal_green_spawn(hub, joins_itself, NULL, NULL, &s), 0);
    assert_int_equal(petal_green_join(s, -1), 0);
    assert_int_equal(petal_green_result(s, NULL), 0);
    assert_int_equal(petal_green_join(NULL, -1), PETAL_EINVAL);
    petal_green_release(g);
    petal_green_release(s);
}

static void *joiner(void *arg)
{
    (void)arg;
    assert_int_equal(petal_green_join(joined, -1), 0);
    mark('j');
    return NULL;
}

static void test_greenlets_join_each_other(void **state)
{
    (void)state;
    reset_trace();
    base = petal_time(loop);
    assert_int_equal(petal_green_spawn(hub, sleeper, (void *)(intptr_t)10, NULL, &joined), 0);
    petal_green_spawn(hub, joiner, NULL, NULL, NULL);
    petal_green_spawn(hub, joiner, NULL, NULL, NULL);
    assert_int_equal(petal_green_run(hub), 0);
    assert_string_equal(trace, "1jj");
    petal_green_release(joined);
}

static void test_joinall_counts_the_dead(void **state)
{
    (void)state;
    petal_green_t *g[4];
    base = petal_time(loop);
    assert_int_equal(petal_green_spawn(hub, sleeper, (void *)(intptr_t)10, NULL, &g[0]), 0);
    assert_int_equal(petal_green_spawn(hub, sleeper, (void *)(intptr_t)20, NULL, &g[1]), 0);
    assert_int_equal(petal_green_spawn(hub, sleeper, (void *)(intptr_t)900, NULL, &g[2]), 0);
    g[3] = NULL;
    assert_int_equal(petal_green_joinall(g, 4, 0.1), 3); /* NULL counts, the 900 ms one does not */
    assert_int_equal(petal_green_kill(g[2]), 0);
    assert_int_equal(petal_green_joinall(g, 4, -1), 4);
    assert_int_equal(petal_green_joinall(NULL, 1, -1), PETAL_EINVAL);
    for (int i = 0; i < 3; i++) petal_green_release(g[i]);
}

/* ---- kill ---------------------------------------------------------------- */

static int hook_ran, hook_wait_rc;

static void hook(void *arg)
{
    (void)arg;
    hook_ran++;
    hook_wait_rc = petal_green_sleep(0.01); /* a wait while being killed fails at once */
}

static void *sleeps_with_hook(void *arg)
{
    (void)arg;
    petal_greenlet_cleanup_push(hook, NULL);
    petal_green_sleep(100);
    mark('!'); /* never */
    return NULL;
}

static void test_kill_parked_runs_hooks(void **state)
{
    (void)state;
    reset_trace();
    hook_ran = 0;
    hook_wait_rc = 0;
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, sleeps_with_hook, NULL, NULL, &g), 0);
    petal_future_t *f;
    assert_int_equal(petal_green_future(g, &f), 0);
    assert_int_equal(petal_green_sleep(0.01), 0);
    assert_int_equal(petal_green_state(g), PETAL_GREEN_PARKED);
    assert_int_equal(petal_green_kill(g), 0);
    assert_int_equal(petal_green_state(g), PETAL_GREEN_DEAD);
    assert_int_equal(hook_ran, 1);
    assert_int_equal(hook_wait_rc, PETAL_EKILLED);
    assert_int_equal(petal_green_result(g, NULL), PETAL_EKILLED);
    assert_int_equal(petal_green_await(f, -1, NULL), PETAL_EKILLED);
    assert_int_equal(petal_green_kill(g), 0); /* dead: nothing to do */
    /* its 100 s timer is gone: run returns at once */
    double t0 = petal_time(loop);
    assert_int_equal(petal_green_run(hub), 0);
    assert_true(petal_time(loop) - t0 < 1.0);
    assert_string_equal(trace, "");
    petal_future_release(f);
    petal_green_release(g);
}

static void test_kill_unstarted_never_runs(void **state)
{
    (void)state;
    reset_trace();
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, marker, (void *)'z', NULL, &g), 0);
    assert_int_equal(petal_green_kill(g), 0);
    assert_int_equal(petal_green_state(g), PETAL_GREEN_DEAD);
    assert_int_equal(petal_green_run(hub), 0);
    assert_int_equal(petal_green_sleep(0.001), 0);
    assert_string_equal(trace, "");
    assert_int_equal(petal_green_result(g, NULL), PETAL_EKILLED);
    assert_int_equal(petal_green_kill(NULL), PETAL_EINVAL);
    petal_green_release(g);
}

static void *kills_itself(void *arg)
{
    (void)arg;
    mark('k');
    petal_green_kill(petal_green_current());
    mark('!');
    return NULL;
}

static void test_kill_self_does_not_return(void **state)
{
    (void)state;
    reset_trace();
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, kills_itself, NULL, NULL, &g), 0);
    assert_int_equal(petal_green_join(g, -1), 0);
    assert_string_equal(trace, "k");
    assert_int_equal(petal_green_result(g, NULL), PETAL_EKILLED);
    petal_green_release(g);
}

static petal_green_t *victims[3];

static void *killer(void *arg)
{
    (void)arg;
    assert_int_equal(petal_green_killall(victims, 3), 0);
    mark('K');
    return NULL;
}

static void test_greenlet_kills_others(void **state)
{
    (void)state;
    reset_trace();
    hook_ran = 0;
    for (int i = 0; i < 3; i++) assert_int_equal(petal_green_spawn(hub, sleeps_with_hook, NULL, NULL, &victims[i]), 0);
    petal_green_spawn(hub, killer, NULL, NULL, NULL);
    assert_int_equal(petal_green_run(hub), 0);
    assert_string_equal(trace, "K");
    assert_int_equal(hook_ran, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(petal_green_result(victims[i], NULL), PETAL_EKILLED);
        petal_green_release(victims[i]);
    }
}

static void test_hub_free_kills_the_live(void **state)
{
    (void)state;
    hook_ran = 0;
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, sleeps_with_hook, NULL, NULL, &g), 0);
    petal_green_spawn(hub, sleeps_with_hook, NULL, NULL, NULL);
    petal_green_spawn(hub, marker, (void *)'u', NULL, NULL); /* never started */
    assert_int_equal(petal_green_sleep(0.005), 0);
    assert_int_equal(petal_green_hub_free(hub), 0);
    assert_int_equal(hook_ran, 2);
    assert_int_equal(petal_green_state(g), PETAL_GREEN_DEAD); /* the handle outlives the hub */
    assert_int_equal(petal_green_result(g, NULL), PETAL_EKILLED);
    petal_green_release(g);
    assert_false(petal_loop_is_running(loop));
    assert_int_equal(petal_green_hub_new(loop, NULL, &hub), 0);
    assert_int_equal(petal_green_sleep(0.001), 0); /* a new hub runs the same loop again */
}

/* ---- misuse: blocking where nothing could resume the caller ------------- */

static int cb_rc[4];

static void blocking_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
    cb_rc[0] = petal_green_sleep(0.01);
    cb_rc[1] = petal_green_join(joined, -1);
    petal_green_sem *s;
    petal_green_sem_new(hub, 0, 0, &s);
    cb_rc[2] = petal_green_sem_acquire(s, -1);
    petal_green_sem_free(s);
    cb_rc[3] = petal_green_wait_readable(0, -1);
}

static void test_blocking_from_a_hub_callback_is_an_error(void **state)
{
    (void)state;
    base = petal_time(loop);
    assert_int_equal(petal_green_spawn(hub, sleeper, (void *)(intptr_t)20, NULL, &joined), 0);
    memset(cb_rc, 0, sizeof cb_rc);
    petal_call_soon(loop, blocking_cb, NULL);
    assert_int_equal(petal_green_run(hub), 0);
    for (int i = 0; i < 4; i++) assert_int_equal(cb_rc[i], PETAL_EBLOCKING);
    petal_green_release(joined);
}

static void blocking_then_stop(petal_loop_t *l, void *arg)
{
    blocking_cb(l, arg);
    petal_loop_stop(l);
}

static void *greets(void *arg)
{
    (void)arg;
    assert_int_equal(petal_green_sleep(0.001), 0); /* parks back to main's own loop run */
    mark('g');
    return NULL;
}

static void test_main_runs_the_loop_itself(void **state)
{
    (void)state;
    reset_trace();
    assert_int_equal(petal_green_spawn(hub, sleeps_with_hook, NULL, NULL, &joined), 0);
    petal_green_spawn(hub, greets, NULL, NULL, NULL);
    memset(cb_rc, 0, sizeof cb_rc);
    petal_call_later(loop, 0.05, blocking_then_stop, NULL);
    assert_int_equal(petal_loop_run(loop), 0); /* main dispatches; greenlets run all the same */
    for (int i = 0; i < 4; i++) assert_int_equal(cb_rc[i], PETAL_EBLOCKING);
    assert_string_equal(trace, "g");
    assert_int_equal(petal_green_state(joined), PETAL_GREEN_PARKED);
    assert_int_equal(petal_green_kill(joined), 0); /* parked on main's own run: killed from main */
    petal_green_release(joined);
}

static void *stops_loop(void *arg)
{
    (void)arg;
    petal_loop_stop(loop);
    assert_int_equal(petal_green_sleep(0.001), 0);
    mark('s');
    return NULL;
}

static void test_loop_stop_while_main_waits(void **state)
{
    (void)state;
    reset_trace();
    petal_green_spawn(hub, stops_loop, NULL, NULL, NULL);
    assert_int_equal(petal_green_run(hub), PETAL_ESTOPPED);
    assert_string_equal(trace, "");
    assert_int_equal(petal_green_run(hub), 0); /* runs again: the greenlet finishes */
    assert_string_equal(trace, "s");
}

static void test_strerror(void **state)
{
    (void)state;
    assert_non_null(strstr(petal_green_strerror(PETAL_EBLOCKING), "blocking"));
    assert_non_null(strstr(petal_green_strerror(PETAL_ENOHUB), "hub"));
    assert_string_equal(petal_green_strerror(PETAL_EKILLED), petal_greenlet_strerror(PETAL_EKILLED));
    assert_string_equal(petal_green_strerror(PETAL_ETIMEDOUT), petal_strerror(PETAL_ETIMEDOUT));
}


/* ---- more lifecycle ------------------------------------------------------ */

static int exit_hook_ran;

static void exit_hook(void *arg)
{
    (void)arg;
    exit_hook_ran++;
}

static void *exits_after_hook(void *arg)
{
    (void)arg;
    petal_greenlet_cleanup_push(exit_hook, NULL);
    petal_green_exit(-EPIPE);
    return NULL;
}

static void test_exit_runs_cleanup_hooks(void **state)
{
    (void)state;
    exit_hook_ran = 0;
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, exits_after_hook, NULL, NULL, &g), 0);
    assert_int_equal(petal_green_join(g, -1), 0);
    assert_int_equal(exit_hook_ran, 1);
    assert_int_equal(petal_green_result(g, NULL), -EPIPE);
    petal_green_release(g);
}

static void *child(void *arg)
{
    mark((char)(intptr_t)arg);
    return NULL;
}

static void *parent_spawns(void *arg)
{
    (void)arg;
    petal_green_t *c;
    assert_int_equal(petal_green_spawn(hub, child, (void *)'c', NULL, &c), 0);
    mark('p'); /* the child waits for the next iteration */
    assert_int_equal(petal_green_join(c, -1), 0);
    mark('j');
    petal_green_release(c);
    assert_int_equal(petal_green_hub_free(hub), PETAL_EBUSY); /* only main frees the hub */
    return NULL;
}

static void spawn_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
    assert_int_equal(petal_green_spawn(hub, child, (void *)'k', NULL, NULL), 0);
}

static void test_spawn_from_greenlets_and_callbacks(void **state)
{
    (void)state;
    reset_trace();
    petal_green_spawn(hub, parent_spawns, NULL, NULL, NULL);
    petal_call_soon(loop, spawn_cb, NULL);
    assert_int_equal(petal_green_run(hub), 0);
    assert_string_equal(trace, "pckj"); /* c and k start together on the next iteration */
}

static void *waits_forever_on(void *arg)
{
    return (void *)(intptr_t)petal_green_sleep(1000 + (double)(intptr_t)arg);
}

static void test_stats_count_parked_and_switches(void **state)
{
    (void)state;
    petal_green_t *g[3];
    for (int i = 0; i < 3; i++) assert_int_equal(petal_green_spawn(hub, waits_forever_on, (void *)(intptr_t)i, NULL, &g[i]), 0);
    assert_int_equal(petal_green_sleep(0.001), 0);
    petal_green_stats st;
    petal_green_hub_stats(hub, &st);
    assert_int_equal(st.live, 3);
    assert_int_equal(st.parked, 3);
    assert_true(st.switches >= 4); /* three starts and main's wake */
    assert_int_equal(petal_green_killall(g, 3), 0);
    petal_green_hub_stats(hub, &st);
    assert_int_equal(st.live, 0);
    assert_int_equal(st.parked, 0);
    assert_int_equal(st.finished, 3);
    for (int i = 0; i < 3; i++) petal_green_release(g[i]);
    petal_green_hub_stats(NULL, &st);
    assert_int_equal(st.live, 0);
}

static void *spawns_per_stack_mode(void *arg)
{
    (void)arg;
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    petal_green_dump(m);
    fclose(m);
    return text;
}

static void test_stack_mode_per_hub_and_per_spawn(void **state)
{
    (void)state;
    petal_green_opts shared = {.stack_mode = PETAL_GREEN_STACK_SHARED, .name = "sh"};
    petal_green_opts ded = {.stack_mode = PETAL_GREEN_STACK_DEDICATED, .name = "de", .stack_size = 128 * 1024};
    petal_green_t *a, *b;
    assert_int_equal(petal_green_spawn(hub, spawns_per_stack_mode, NULL, &shared, &a), 0);
    assert_int_equal(petal_green_spawn(hub, spawns_per_stack_mode, NULL, &ded, &b), 0);
    assert_int_equal(petal_green_joinall((petal_green_t *[]){a, b}, 2, -1), 2);
    char *ta, *tb;
    petal_green_result(a, (void **)&ta);
    petal_green_result(b, (void **)&tb);
#if defined(__SANITIZE_ADDRESS__)
    assert_non_null(strstr(ta, "\"sh\" running wait=none stack=dedicated")); /* ASan: coro gives a dedicated stack */
#else
    assert_non_null(strstr(ta, "\"sh\" running wait=none stack=shared"));
#endif
    assert_non_null(strstr(ta, "\"de\" pending wait=none stack=dedicated"));
    assert_non_null(strstr(tb, "\"de\" running wait=none stack=dedicated"));
    free(ta);
    free(tb);
    petal_green_release(a);
    petal_green_release(b);
}


/* ---- one hub per thread -------------------------------------------------- */

#include <pthread.h>

static void *thread_sleeper(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)petal_green_sleep(0.005);
}

struct thread_run {
    petal_hub_t *foreign; /* the main thread's hub */
    int spawn_foreign_rc, finished, rc;
};

static void *other_thread(void *arg)
{
    struct thread_run *t = arg;
    petal_loop_t *l;
    petal_hub_t *h;
    if (petal_loop_new(&l) || petal_green_hub_new(l, NULL, &h)) {
        t->rc = -1;
        return NULL;
    }
    t->spawn_foreign_rc = petal_green_spawn(t->foreign, thread_sleeper, NULL, NULL, NULL);
    for (int i = 0; i < 200; i++) petal_green_spawn(h, thread_sleeper, NULL, NULL, NULL);
    t->rc = petal_green_run(h);
    petal_green_stats st;
    petal_green_hub_stats(h, &st);
    t->finished = (int)st.finished;
    petal_green_hub_free(h);
    petal_loop_free(l);
    return NULL;
}

static void test_a_hub_per_thread(void **state)
{
    (void)state;
    struct thread_run t = {.foreign = hub};
    pthread_t th;
    for (int i = 0; i < 200; i++) petal_green_spawn(hub, thread_sleeper, NULL, NULL, NULL);
    assert_int_equal(pthread_create(&th, NULL, other_thread, &t), 0);
    assert_int_equal(petal_green_run(hub), 0); /* both threads run their hubs at once */
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(t.rc, 0);
    assert_int_equal(t.finished, 200);
    assert_int_equal(t.spawn_foreign_rc, PETAL_EWRONGTHREAD);
    petal_green_stats st;
    petal_green_hub_stats(hub, &st);
    assert_int_equal(st.finished, 200);
    assert_ptr_equal(petal_green_hub_current(), hub);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TS(f) cmocka_unit_test_setup_teardown(f, setup_shared, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_hub_one_per_thread),
        T(test_no_hub_is_reported),
        T(test_run_without_greenlets_returns),
        T(test_spawn_starts_on_next_iteration_in_order),
        TS(test_spawn_starts_on_next_iteration_in_order),
        T(test_spawn_bad_arguments),
        T(test_result_and_state),
        T(test_exit_with_error_fails_future),
        T(test_sleep_wakes_in_deadline_order),
        TS(test_sleep_wakes_in_deadline_order),
        T(test_main_sleeps_too),
        T(test_sleep0_yields_to_everything_ready),
        TS(test_sleep0_yields_to_everything_ready),
        T(test_ten_thousand_sleepers),
        TS(test_ten_thousand_sleepers),
        T(test_join_timeout_and_self),
        T(test_greenlets_join_each_other),
        T(test_joinall_counts_the_dead),
        T(test_kill_parked_runs_hooks),
        TS(test_kill_parked_runs_hooks),
        T(test_kill_unstarted_never_runs),
        T(test_kill_self_does_not_return),
        T(test_greenlet_kills_others),
        TS(test_greenlet_kills_others),
        T(test_hub_free_kills_the_live),
        T(test_blocking_from_a_hub_callback_is_an_error),
        T(test_main_runs_the_loop_itself),
        T(test_loop_stop_while_main_waits),
        T(test_strerror),
        T(test_exit_runs_cleanup_hooks),
        T(test_spawn_from_greenlets_and_callbacks),
        TS(test_spawn_from_greenlets_and_callbacks),
        T(test_stats_count_parked_and_switches),
        T(test_stack_mode_per_hub_and_per_spawn),
        TS(test_stack_mode_per_hub_and_per_spawn),
        T(test_a_hub_per_thread),
        TS(test_a_hub_per_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
