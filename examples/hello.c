/* The smallest petal program: a callback, a timer, a stop. */
#include <stdio.h>

#include "petal/loop.h"

static void on_timer(petal_loop_t *loop, void *arg)
{
    printf("timer fired after %.3f s; stopping\n", petal_time(loop) - *(double *)arg);
    petal_loop_stop(loop);
}

static void on_soon(petal_loop_t *loop, void *arg)
{
    (void)loop;
    printf("hello from call_soon (%s)\n", (const char *)arg);
}

int main(void)
{
    petal_loop_t *loop;
    int rc = petal_loop_new(&loop);
    if (rc) {
        fprintf(stderr, "petal_loop_new: %s\n", petal_strerror(rc));
        return 1;
    }
    double start = petal_time(loop);
    petal_call_soon(loop, on_soon, (void *)petal_loop_backend(loop));
    petal_call_later(loop, 0.05, on_timer, &start);
    rc = petal_loop_run(loop);
    petal_loop_free(loop);
    return rc ? 1 : 0;
}
