/* Private to the resolver package: jobs of the executor pool. */
#ifndef PETAL_RESOLVE_POOL_H
#define PETAL_RESOLVE_POOL_H

#include "petal/executor.h"

/* A job whose result is already known (a numeric address needs no thread):
 * it completes *out on the next iteration through the same path as a
 * worker's result, so order and cleanup at loop close are identical. value is
 * destroyed with dtor if the future no longer wants it. */
int executor_complete_soon(petal_loop_t *loop, int rc, void *value, petal_dtor dtor, petal_future_t **out);

#endif
