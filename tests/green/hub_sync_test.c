/* The hub's synchronisation: Event, Queue, Semaphore/Lock and Timeout
 * scopes. Built once per backend. */
#include "green_common.h"

static char trace[128];
static int ntrace;

static void mark(char c)
{
    if (ntrace < (int)sizeof trace - 1) trace[ntrace++] = c;
    trace[ntrace] = 0;
}

static void reset_trace(void)
{
    ntrace = 0;
    trace[0] = 0;
}

/* ---- Event --------------------------------------------------------------- */

static petal_green_event *ev;

static void *event_waiter(void *arg)
{
    assert_int_equal(petal_green_event_wait(ev, -1), 0);
    mark((char)(intptr_t)arg);
    return NULL;
}

static void *event_setter(void *arg)
{
    (void)arg;
    assert_int_equal(petal_green_sleep(0.005), 0);
    mark('S');
    petal_green_event_set(ev);
    petal_green_event_clear(ev); /* the waiters were set "at least once": they still wake */
    mark('s');
    return NULL;
}

static void test_event_wakes_every_waiter_in_order(void **state)
{
    (void)state;
    reset_trace();
    assert_int_equal(petal_green_event_new(hub, &ev), 0);
    for (char c = 'a'; c <= 'c'; c++) petal_green_spawn(hub, event_waiter, (void *)(intptr_t)c, NULL, NULL);
    petal_green_spawn(hub, event_setter, NULL, NULL, NULL);
    assert_int_equal(petal_green_run(hub), 0);
    assert_string_equal(trace, "Ssabc"); /* set wakes through the hub, after the setter yields */
    assert_false(petal_green_event_is_set(ev));
    assert_int_equal(petal_green_event_free(ev), 0);
}

static void test_event_wait_timeout_and_set_flag(void **state)
{
    (void)state;
    assert_int_equal(petal_green_event_new(hub, &ev), 0);
    assert_int_equal(petal_green_event_wait(ev, 0), PETAL_ETIMEDOUT);
    assert_int_equal(petal_green_event_wait(ev, 0.005), PETAL_ETIMEDOUT);
    assert_int_equal(petal_green_event_set(ev), 0);
    assert_true(petal_green_event_is_set(ev));
    assert_int_equal(petal_green_event_wait(ev, -1), 0); /* already set: at once */
    assert_int_equal(petal_green_event_wait(NULL, -1), PETAL_EINVAL);
    assert_int_equal(petal_green_event_free(ev), 0);
}

static void set_event_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    petal_green_event_set(arg); /* callback code may set; the waiter runs from here */
}

static void test_event_set_from_a_callback_and_free_busy(void **state)
{
    (void)state;
    reset_trace();
    assert_int_equal(petal_green_event_new(hub, &ev), 0);
    petal_green_spawn(hub, event_waiter, (void *)'w', NULL, NULL);
    assert_int_equal(petal_green_sleep(0.002), 0);
    assert_int_equal(petal_green_event_free(ev), PETAL_EBUSY);
    petal_call_later(loop, 0.002, set_event_cb, ev);
    assert_int_equal(petal_green_run(hub), 0);
    assert_string_equal(trace, "w");
    assert_int_equal(petal_green_event_free(ev), 0);
}

/* ---- Queue --------------------------------------------------------------- */

static petal_green_queue *q;

static void *producer(void *arg)
{
    for (intptr_t i = 0; i < 6; i++) {
        assert_int_equal(petal_green_queue_put(q, (void *)(i + 1), -1), 0);
        mark('p');
    }
    (void)arg;
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (intptr_t i = 0; i < 6; i++) {
        void *item;
        assert_int_equal(petal_green_queue_get(q, &item, -1), 0);
        assert_ptr_equal(item, (void *)(i + 1));
        mark('g');
        if (i == 0) assert_int_equal(petal_green_sleep(0.005), 0); /* the producer fills up meanwhile */
    }
    return NULL;
}

static void test_bounded_queue_blocks_the_producer(void **state)
{
    (void)state;
    reset_trace();
    assert_int_equal(petal_green_queue_new(hub, 2, &q), 0);
    petal_green_spawn(hub, consumer, NULL, NULL, NULL);
    petal_green_spawn(hub, producer, NULL, NULL, NULL);
    assert_int_equal(petal_green_run(hub), 0);
    /* item 1 goes straight to the waiting consumer, two more fit, the
     * fourth put waits until a get frees a slot */
    assert_int_equal(strncmp(trace, "pppg", 4), 0);
    assert_int_equal((int)strlen(trace), 12);
    assert_int_equal(petal_green_queue_size(q), 0);
    assert_int_equal(petal_green_queue_free(q), 0);
}

static void test_queue_nowait_and_timeouts(void **state)
{
    (void)state;
    assert_int_equal(petal_green_queue_new(hub, 1, &q), 0);
    void *item;
    assert_int_equal(petal_green_queue_get(q, &item, 0), -EAGAIN);
    assert_int_equal(petal_green_queue_get(q, &item, 0.005), PETAL_ETIMEDOUT);
    assert_int_equal(petal_green_queue_put(q, (void *)1, 0), 0);
    assert_int_equal(petal_green_queue_put(q, (void *)2, 0), -EAGAIN);
    assert_int_equal(petal_green_queue_put(q, (void *)2, 0.005), PETAL_ETIMEDOUT);
    assert_int_equal(petal_green_queue_size(q), 1);
    assert_int_equal(petal_green_queue_get(q, &item, 0), 0);
    assert_ptr_equal(item, (void *)1);
    assert_int_equal(petal_green_queue_get(NULL, &item, 0), PETAL_EINVAL);
    assert_int_equal(petal_green_queue_free(q), 0);
}

static void *getter(void *arg)
{
    void *item;
    assert_int_equal(petal_green_queue_get(q, &item, -1), 0);
    mark((char)(intptr_t)arg);
    mark((char)(intptr_t)item);
    return NULL;
}

static void put_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
    for (char c = '1'; c <= '3'; c++) assert_int_equal(petal_green_queue_put(q, (void *)(intptr_t)c, 0), 0);
}

static void test_unbounded_queue_serves_getters_fifo(void **state)
{
    (void)state;
    reset_trace();
    assert_int_equal(petal_green_queue_new(hub, 0, &q), 0);
    for (char c = 'a'; c <= 'c'; c++) petal_green_spawn(hub, getter, (void *)(intptr_t)c, NULL, NULL);
    assert_int_equal(petal_green_sleep(0.002), 0);
    assert_int_equal(petal_green_queue_free(q), PETAL_EBUSY);
    petal_call_soon(loop, put_cb, NULL); /* callbacks put without waiting */
    assert_int_equal(petal_green_run(hub), 0);
    assert_string_equal(trace, "a1b2c3");
    for (intptr_t i = 0; i < 1000; i++) assert_int_equal(petal_green_queue_put(q, (void *)i, 0), 0);
    for (intptr_t i = 0; i < 1000; i++) {
        void *item;
        assert_int_equal(petal_green_queue_get(q, &item, 0), 0);
        assert_ptr_equal(item, (void *)i);
    }
    assert_int_equal(petal_green_queue_free(q), 0);
}

/* ---- Semaphore and Lock ------------------------------------------------- */

static petal_green_sem *sem;
static int inside, most_inside;

static void *worker(void *arg)
{
    assert_int_equal(petal_green_sem_acquire(sem, -1), 0);
    if (++inside > most_inside) most_inside = inside;
    mark((char)(intptr_t)arg);
    assert_int_equal(petal_green_sleep(0.003), 0);
    inside--;
    assert_int_equal(petal_green_sem_release(sem), 0);
    return NULL;
}

static void test_semaphore_bounds_concurrency_fifo(void **state)
{
    (void)state;
    reset_trace();
    inside = most_inside = 0;
    assert_int_equal(petal_green_sem_new(hub, 2, 0, &sem), 0);
    for (char c = 'a'; c <= 'f'; c++) petal_green_spawn(hub, worker, (void *)(intptr_t)c, NULL, NULL);
    assert_int_equal(petal_green_run(hub), 0);
    assert_int_equal(most_inside, 2);
    assert_string_equal(trace, "abcdef");
    assert_int_equal(petal_green_sem_value(sem), 2);
    assert_int_equal(petal_green_sem_free(sem), 0);
}

static void test_lock_and_bounded_release(void **state)
{
    (void)state;
    assert_int_equal(petal_green_lock_new(hub, &sem), 0);
    assert_int_equal(petal_green_sem_release(sem), PETAL_EINVALSTATE); /* not locked */
    assert_int_equal(petal_green_sem_acquire(sem, 0), 0);
    assert_int_equal(petal_green_sem_acquire(sem, 0), -EAGAIN);
    assert_int_equal(petal_green_sem_acquire(sem, 0.005), PETAL_ETIMEDOUT);
    assert_int_equal(petal_green_sem_release(sem), 0);
    assert_int_equal(petal_green_sem_value(sem), 1);
    assert_int_equal(petal_green_sem_free(sem), 0);
    assert_int_equal(petal_green_sem_new(hub, 3, 2, &sem), PETAL_EINVAL);
    assert_int_equal(petal_green_sem_acquire(NULL, 0), PETAL_EINVAL);
}

/* ---- Timeout scopes ----------------------------------------------------- */

static void test_timeout_scope_fails_blocking_calls(void **state)
{
    (void)state;
    petal_green_timeout t;
    double t0 = petal_time(loop);
    assert_int_equal(petal_green_timeout_begin(&t, 0.02), 0);
    assert_int_equal(petal_green_sleep(0.005), 0);               /* inside the deadline: normal */
    assert_int_equal(petal_green_sleep(10), PETAL_ETIMEDOUT);    /* cut at the scope's deadline */
    double dt = petal_time(loop) - t0;
    assert_true(dt >= 0.02 && dt < 5);
    assert_int_equal(petal_green_sleep(0.001), PETAL_ETIMEDOUT); /* expired: at once */
    assert_int_equal(petal_green_sleep(0), PETAL_ETIMEDOUT);
    assert_int_equal(petal_green_event_new(hub, &ev), 0);
    assert_int_equal(petal_green_event_wait(ev, -1), PETAL_ETIMEDOUT);
    assert_int_equal(petal_green_event_free(ev), 0);
    assert_int_equal(petal_green_timeout_end(&t), 1);
    assert_int_equal(petal_green_sleep(0.001), 0); /* scope closed */
}

static void test_timeout_scopes_nest(void **state)
{
    (void)state;
    petal_green_timeout outer, inner;
    assert_int_equal(petal_green_timeout_begin(&outer, 0.01), 0);
    assert_int_equal(petal_green_timeout_begin(&inner, 5), 0); /* longer: the outer still governs */
    assert_int_equal(petal_green_timeout_end(&outer), PETAL_EINVAL); /* not the innermost */
    double t0 = petal_time(loop);
    assert_int_equal(petal_green_sleep(5), PETAL_ETIMEDOUT);
    assert_true(petal_time(loop) - t0 < 4);
    assert_int_equal(petal_green_timeout_end(&inner), 0); /* its own deadline has not passed */
    assert_int_equal(petal_green_timeout_end(&outer), 1);
    assert_int_equal(petal_green_timeout_begin(&outer, -1), 0); /* no deadline */
    assert_int_equal(petal_green_sleep(0.001), 0);
    assert_int_equal(petal_green_timeout_end(&outer), 0);
    assert_int_equal(petal_green_timeout_begin(NULL, 1), PETAL_EINVAL);
}

static void *scoped_worker(void *arg)
{
    (void)arg;
    petal_green_timeout t;
    assert_int_equal(petal_green_timeout_begin(&t, 0.01), 0);
    void *item;
    int rc = petal_green_queue_get(q, &item, -1);
    assert_int_equal(petal_green_timeout_end(&t), 1);
    return (void *)(intptr_t)rc;
}

static void scope_from_callback(petal_loop_t *l, void *arg)
{
    (void)l;
    petal_green_timeout t;
    *(int *)arg = petal_green_timeout_begin(&t, 1);
}

static void test_timeout_scope_in_a_greenlet(void **state)
{
    (void)state;
    assert_int_equal(petal_green_queue_new(hub, 0, &q), 0);
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, scoped_worker, NULL, NULL, &g), 0);
    static int cb_rc;
    petal_call_soon(loop, scope_from_callback, &cb_rc);
    assert_int_equal(petal_green_join(g, -1), 0);
    void *v;
    assert_int_equal(petal_green_result(g, &v), 0);
    assert_int_equal((int)(intptr_t)v, PETAL_ETIMEDOUT);
    assert_int_equal(cb_rc, PETAL_EBLOCKING); /* callbacks have no scope */
    assert_int_equal(petal_green_queue_free(q), 0); /* the timed-out getter left the queue */
    petal_green_release(g);
}


/* ---- kill cancels every kind of wait ------------------------------------ */

static petal_green_t *target;

static void *wait_event_t(void *arg) { (void)arg; return (void *)(intptr_t)petal_green_event_wait(ev, 50); }
static void *wait_get_t(void *arg)
{
    (void)arg;
    void *item;
    return (void *)(intptr_t)petal_green_queue_get(q, &item, 50);
}
static void *wait_put_t(void *arg) { return (void *)(intptr_t)petal_green_queue_put(q, arg, 50); }
static void *wait_sem_t(void *arg) { (void)arg; return (void *)(intptr_t)petal_green_sem_acquire(sem, -1); }
static void *wait_join_t(void *arg) { (void)arg; return (void *)(intptr_t)petal_green_join(target, 50); }
static void *wait_long(void *arg) { (void)arg; return (void *)(intptr_t)petal_green_sleep(50); }

static void test_kill_cancels_every_kind_of_wait(void **state)
{
    (void)state;
    petal_green_queue *full;
    assert_int_equal(petal_green_event_new(hub, &ev), 0);
    assert_int_equal(petal_green_queue_new(hub, 0, &q), 0);
    assert_int_equal(petal_green_queue_new(hub, 1, &full), 0);
    assert_int_equal(petal_green_queue_put(full, (void *)1, 0), 0);
    assert_int_equal(petal_green_sem_new(hub, 0, 0, &sem), 0);
    assert_int_equal(petal_green_spawn(hub, wait_long, NULL, NULL, &target), 0);
    petal_green_t *g[5];
    petal_green_queue *qs = q;
    assert_int_equal(petal_green_spawn(hub, wait_event_t, NULL, NULL, &g[0]), 0);
    assert_int_equal(petal_green_spawn(hub, wait_get_t, NULL, NULL, &g[1]), 0);
    assert_int_equal(petal_green_spawn(hub, wait_sem_t, NULL, NULL, &g[2]), 0);
    assert_int_equal(petal_green_spawn(hub, wait_join_t, NULL, NULL, &g[3]), 0);
    assert_int_equal(petal_green_sleep(0.002), 0);
    q = full; /* the putter blocks on the full queue */
    assert_int_equal(petal_green_spawn(hub, wait_put_t, (void *)2, NULL, &g[4]), 0);
    assert_int_equal(petal_green_sleep(0.002), 0);
    petal_green_stats st;
    petal_green_hub_stats(hub, &st);
    assert_int_equal(st.parked, 6);
    /* every object is waited on: none can be freed */
    assert_int_equal(petal_green_event_free(ev), PETAL_EBUSY);
    assert_int_equal(petal_green_queue_free(qs), PETAL_EBUSY);
    assert_int_equal(petal_green_queue_free(full), PETAL_EBUSY);
    assert_int_equal(petal_green_sem_free(sem), PETAL_EBUSY);
    assert_int_equal(petal_green_killall(g, 5), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(petal_green_result(g[i], NULL), PETAL_EKILLED);
        petal_green_release(g[i]);
    }
    /* the waiter lists are empty again, and the deadlines are gone */
    assert_int_equal(petal_green_event_free(ev), 0);
    assert_int_equal(petal_green_queue_free(qs), 0);
    assert_int_equal(petal_green_queue_free(full), 0);
    assert_int_equal(petal_green_sem_free(sem), 0);
    assert_int_equal(petal_green_kill(target), 0);
    petal_green_release(target);
    double t0 = petal_time(loop);
    assert_int_equal(petal_green_run(hub), 0);
    assert_true(petal_time(loop) - t0 < 10);
}

/* A semaphore release racing a timeout: the slot is handed over exactly once. */
static void *acquire_briefly(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)petal_green_sem_acquire(sem, 0.005);
}

static void test_timed_out_waiter_does_not_keep_a_slot(void **state)
{
    (void)state;
    assert_int_equal(petal_green_sem_new(hub, 0, 0, &sem), 0);
    petal_green_t *a, *b;
    assert_int_equal(petal_green_spawn(hub, acquire_briefly, NULL, NULL, &a), 0);
    assert_int_equal(petal_green_join(a, -1), 0);
    void *v;
    petal_green_result(a, &v);
    assert_int_equal((int)(intptr_t)v, PETAL_ETIMEDOUT);
    assert_int_equal(petal_green_sem_release(sem), 0); /* nobody waits: the value goes up */
    assert_int_equal(petal_green_sem_value(sem), 1);
    assert_int_equal(petal_green_spawn(hub, acquire_briefly, NULL, NULL, &b), 0);
    assert_int_equal(petal_green_join(b, -1), 0);
    petal_green_result(b, &v);
    assert_int_equal((int)(intptr_t)v, 0);
    assert_int_equal(petal_green_sem_value(sem), 0);
    assert_int_equal(petal_green_sem_free(sem), 0);
    petal_green_release(a);
    petal_green_release(b);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TS(f) cmocka_unit_test_setup_teardown(f, setup_shared, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_event_wakes_every_waiter_in_order),
        TS(test_event_wakes_every_waiter_in_order),
        T(test_event_wait_timeout_and_set_flag),
        T(test_event_set_from_a_callback_and_free_busy),
        T(test_bounded_queue_blocks_the_producer),
        TS(test_bounded_queue_blocks_the_producer),
        T(test_queue_nowait_and_timeouts),
        T(test_unbounded_queue_serves_getters_fifo),
        T(test_semaphore_bounds_concurrency_fifo),
        TS(test_semaphore_bounds_concurrency_fifo),
        T(test_lock_and_bounded_release),
        T(test_timeout_scope_fails_blocking_calls),
        T(test_timeout_scopes_nest),
        T(test_timeout_scope_in_a_greenlet),
        T(test_kill_cancels_every_kind_of_wait),
        TS(test_kill_cancels_every_kind_of_wait),
        T(test_timed_out_waiter_does_not_keep_a_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
