/* Greenlets on a hosted loop: the application owns the uv_loop_t and runs
 * uv_run() itself; petal's callbacks, and so the greenlets, run inside it on
 * main. Main cannot block there (nothing but the host could resume it). */
#include <uv.h>

#include "green_common.h"
#include "petal/uv.h"

static char trace[32];
static int ntrace;
static petal_green_queue *q;

static void *producer(void *arg)
{
    (void)arg;
    for (intptr_t i = 1; i <= 3; i++) {
        assert_int_equal(petal_green_sleep(0.002), 0);
        assert_int_equal(petal_green_queue_put(q, (void *)i, -1), 0);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++) {
        void *item;
        assert_int_equal(petal_green_queue_get(q, &item, 5), 0);
        trace[ntrace++] = (char)('0' + (intptr_t)item);
    }
    return NULL;
}

static int cb_rc;

static void blocking_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
    cb_rc = petal_green_sleep(0.001);
}

static void test_greenlets_under_uv_run(void **state)
{
    (void)state;
    uv_loop_t uv;
    assert_int_equal(uv_loop_init(&uv), 0);
    assert_int_equal(petal_loop_new_uv(&loop, &uv), 0);
    assert_true(petal_loop_is_hosted(loop));
    assert_int_equal(petal_green_hub_new(loop, NULL, &hub), 0);
    assert_int_equal(petal_green_queue_new(hub, 1, &q), 0);
    petal_green_t *g[2];
    assert_int_equal(petal_green_spawn(hub, consumer, NULL, NULL, &g[0]), 0);
    assert_int_equal(petal_green_spawn(hub, producer, NULL, NULL, &g[1]), 0);
    petal_call_soon(loop, blocking_cb, NULL);
    assert_int_equal(petal_green_sleep(0.001), PETAL_EBLOCKING); /* main: the host drives the loop */
    assert_int_equal(petal_green_run(hub), PETAL_EBLOCKING);
    uv_run(&uv, UV_RUN_DEFAULT); /* returns when no work is left: both greenlets done */
    assert_string_equal(trace, "123");
    assert_int_equal(cb_rc, PETAL_EBLOCKING);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(petal_green_state(g[i]), PETAL_GREEN_DEAD);
        assert_int_equal(petal_green_result(g[i], NULL), 0);
        petal_green_release(g[i]);
    }
    assert_int_equal(petal_green_queue_free(q), 0);
    assert_int_equal(petal_green_hub_free(hub), 0);
    assert_int_equal(petal_loop_free(loop), 0);
    uv_run(&uv, UV_RUN_NOWAIT); /* lets libuv finish closing petal's handles */
    assert_int_equal(uv_loop_close(&uv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greenlets_under_uv_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
