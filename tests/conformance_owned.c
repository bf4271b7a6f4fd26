/* Conformance instance: petal owns the native loop (default backend of the
 * link-time target this test is built against). */
#include "conformance.h"

/* The macro in bazel/petal.bzl names the instance after its backend. */
const char *const conformance_instance = CONFORMANCE_INSTANCE;

int conformance_loop_new(petal_loop_t **out)
{
    return petal_loop_new(out);
}

void conformance_loop_free(petal_loop_t *loop)
{
    petal_loop_free(loop);
}
