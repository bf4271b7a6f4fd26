/* Threads: each has its own main greenlet; greenlets of another thread are
 * refused, never touched. */
#include "common.h"

#include <errno.h>
#include <pthread.h>

static void *idle(void *arg, void *v)
{
    (void)arg;
    (void)v;
    petal_greenlet_switch(petal_greenlet_parent(petal_greenlet_current()), NULL, NULL);
    return NULL;
}

struct probe {
    petal_greenlet *foreign;   /* a greenlet of the test's thread */
    int mode;
    int rc[8];
    petal_greenlet *their_main;
};

static void *poke_foreign(void *p)
{
    struct probe *pr = p;
    petal_greenlet *g = NULL;
    pr->their_main = petal_greenlet_current();
    pr->rc[0] = petal_greenlet_switch(pr->foreign, NULL, NULL);
    pr->rc[1] = petal_greenlet_throw(pr->foreign, -EIO, NULL);
    pr->rc[2] = petal_greenlet_kill(pr->foreign);
    pr->rc[3] = petal_greenlet_destroy(pr->foreign);
    pr->rc[4] = petal_greenlet_set_parent(pr->foreign, petal_greenlet_current());
    petal_greenlet_attr a = {0, pr->mode, NULL};
    pr->rc[5] = petal_greenlet_create(&g, idle, NULL, pr->foreign, &a);
    /* and a local greenlet may not take the foreign one as parent */
    pr->rc[6] = petal_greenlet_create(&g, idle, NULL, NULL, &a);
    pr->rc[7] = petal_greenlet_set_parent(g, pr->foreign);
    petal_greenlet_destroy(g);
    return NULL;
}

static void other_thread_refused(void **state)
{
    struct probe pr = {.mode = MODE_OF(state)};
    pr.foreign = mk(idle, NULL, NULL, pr.mode);
    petal_greenlet_switch(pr.foreign, NULL, NULL); /* suspended, alive */
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poke_foreign, &pr), 0);
    pthread_join(th, NULL);
    for (int i = 0; i < 6; i++)
        assert_int_equal(pr.rc[i], PETAL_EWRONGTHREAD);
    assert_int_equal(pr.rc[6], 0);
    assert_int_equal(pr.rc[7], PETAL_EWRONGTHREAD);
    assert_non_null(pr.their_main);
    assert_true(pr.their_main != petal_greenlet_current());
    assert_false(petal_greenlet_is_dead(pr.foreign)); /* untouched */
    petal_greenlet_destroy(pr.foreign);
}

static void *pingpong(void *arg, void *v)
{
    (void)arg;
    petal_greenlet *m = petal_greenlet_parent(petal_greenlet_current());
    for (;;) {
        if (I(v) < 0)
            return v;
        petal_greenlet_switch(m, V(I(v) + 1), &v);
    }
}

struct worker { int mode; intptr_t result; int clean; };

static void *worker(void *p)
{
    struct worker *w = p;
    petal_greenlet *g = NULL;
    petal_greenlet_attr a = {0, w->mode, NULL};
    if (petal_greenlet_create(&g, pingpong, NULL, NULL, &a))
        return NULL;
    void *v = V(0);
    for (int i = 0; i < 100000; i++)
        petal_greenlet_switch(g, v, &v);
    w->result = I(v);
    petal_greenlet_switch(g, V(-1), NULL);
    petal_greenlet_destroy(g);
    if (w->clean)
        w->clean = petal_greenlet_thread_cleanup() == 0 ? 2 : -1;
    return NULL; /* without cleanup, the thread-exit destructor frees the rest */
}

static void threads_run_side_by_side(void **state)
{
    struct worker w[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){MODE_OF(state), 0, i % 2};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].result, 100000);
        if (i % 2)
            assert_int_equal(w[i].clean, 2);
    }
}

static void cleanup_refused_while_in_use(void **state)
{
    petal_greenlet *g = mk(idle, NULL, NULL, MODE_OF(state));
    assert_int_equal(petal_greenlet_thread_cleanup(), -EBUSY);
    petal_greenlet_destroy(g);
    assert_int_equal(petal_greenlet_thread_cleanup(), 0);
    /* and greenlets work again afterwards */
    g = mk(idle, NULL, NULL, MODE_OF(state));
    assert_int_equal(petal_greenlet_switch(g, NULL, NULL), 0);
    petal_greenlet_destroy(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH_MODES(other_thread_refused),
        BOTH_MODES(threads_run_side_by_side),
        BOTH_MODES(cleanup_refused_while_in_use),
    };
    int rc = cmocka_run_group_tests_name("threads", tests, NULL, NULL);
    petal_greenlet_thread_cleanup();
    return rc;
}
