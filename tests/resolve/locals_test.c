/* petal_loop_set_local: the per-loop state the resolver's pool lives in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "petal/loop.h"

static const char key_a, key_b, key_c;

struct log {
    char order[8];
    int n;
};

static void dtor_a(void *v) { struct log *l = v; l->order[l->n++] = 'a'; }
static void dtor_b(void *v) { struct log *l = v; l->order[l->n++] = 'b'; }
static void dtor_c(void *v) { struct log *l = v; l->order[l->n++] = 'c'; }

static void test_locals_set_get_and_close_order(void **state)
{
    (void)state;
    petal_loop_t *loop;
    assert_int_equal(petal_loop_new(&loop), 0);
    struct log log = { { 0 }, 0 };
    assert_null(petal_loop_get_local(loop, &key_a));
    assert_int_equal(petal_loop_set_local(loop, &key_a, &log, dtor_a), 0);
    assert_int_equal(petal_loop_set_local(loop, &key_b, &log, dtor_b), 0);
    assert_int_equal(petal_loop_set_local(loop, &key_c, &log, dtor_c), 0);
    assert_ptr_equal(petal_loop_get_local(loop, &key_b), &log);
    /* one value per key; detaching runs no dtor */
    assert_int_equal(petal_loop_set_local(loop, &key_b, &log, dtor_b), PETAL_EEXIST);
    assert_int_equal(petal_loop_set_local(loop, &key_b, NULL, NULL), 0);
    assert_int_equal(petal_loop_set_local(loop, &key_b, NULL, NULL), PETAL_ENOENT);
    assert_null(petal_loop_get_local(loop, &key_b));
    assert_int_equal(log.n, 0);
    assert_int_equal(petal_loop_set_local(loop, NULL, &log, NULL), PETAL_EINVAL);
    assert_int_equal(petal_loop_set_local(NULL, &key_b, &log, NULL), PETAL_EINVAL);
    /* dtors run at close, newest first, once */
    assert_int_equal(petal_loop_close(loop), 0);
    assert_string_equal(log.order, "ca");
    assert_int_equal(petal_loop_set_local(loop, &key_b, &log, dtor_b), PETAL_ECLOSED);
    assert_null(petal_loop_get_local(loop, &key_a));
    assert_int_equal(petal_loop_free(loop), 0);
    assert_string_equal(log.order, "ca");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locals_set_get_and_close_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
