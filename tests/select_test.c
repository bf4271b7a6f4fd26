/* Run-time backend selection (//:petal links all four). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "petal/loop.h"

static void stop_cb(petal_loop_t *loop, void *arg)
{
    (*(int *)arg)++;
    petal_loop_stop(loop);
}

static void test_every_backend_by_name(void **state)
{
    (void)state;
    const char *names[] = { "uring", "uv", "ev", "event" };
    for (size_t i = 0; i < 4; i++) {
        petal_loop_t *loop;
        assert_int_equal(petal_loop_new_backend(&loop, names[i]), 0);
        assert_string_equal(petal_loop_backend(loop), names[i]);
        int ran = 0;
        assert_true(petal_call_later(loop, 0.001, stop_cb, &ran) > 0);
        assert_int_equal(petal_loop_run(loop), 0);
        assert_int_equal(ran, 1);
        assert_int_equal(petal_loop_free(loop), 0);
    }
}

static void test_environment_picks_the_backend(void **state)
{
    (void)state;
    const char *names[] = { "ev", "event", "uv", "uring" };
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(setenv("PETAL_BACKEND", names[i], 1), 0);
        petal_loop_t *loop;
        assert_int_equal(petal_loop_new(&loop), 0);
        assert_string_equal(petal_loop_backend(loop), names[i]);
        petal_loop_free(loop);
    }
    assert_int_equal(setenv("PETAL_BACKEND", "kqueue", 1), 0);
    petal_loop_t *loop = NULL;
    assert_int_equal(petal_loop_new(&loop), PETAL_ENOSYS);
    assert_null(loop);
    unsetenv("PETAL_BACKEND");
}

static void test_default_backend(void **state)
{
    (void)state;
    unsetenv("PETAL_BACKEND");
    petal_loop_t *loop;
    assert_int_equal(petal_loop_new(&loop), 0);
    /* io_uring first; on a kernel or sandbox without it, the next that works */
    assert_string_equal(petal_loop_backend(loop), "uring");
    petal_loop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_backend_by_name),
        cmocka_unit_test(test_environment_picks_the_backend),
        cmocka_unit_test(test_default_backend),
    };
    return cmocka_run_group_tests_name("select", tests, NULL, NULL);
}
