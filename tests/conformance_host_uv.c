/* Conformance instance: the application owns a uv_loop_t and petal attaches
 * to it. petal_loop_run() then drives the host loop with uv_run(). */
#include <stdio.h>
#include <stdlib.h>

#include "conformance.h"
#include "petal/uv.h"

const char *const conformance_instance = CONFORMANCE_INSTANCE;

/* Which host loop each live petal loop is attached to. */
#define MAX_LOOPS 8
static struct { petal_loop_t *loop; uv_loop_t *uv; } hosts[MAX_LOOPS];

static int host_index(petal_loop_t *loop)
{
    for (int i = 0; i < MAX_LOOPS; i++)
        if (hosts[i].loop == loop) return i;
    abort();
}

int conformance_loop_new(petal_loop_t **out)
{
    uv_loop_t *uv = malloc(sizeof *uv);
    if (!uv || uv_loop_init(uv) != 0) abort();
    int rc = petal_loop_new_uv(out, uv);
    if (rc) {
        uv_loop_close(uv);
        free(uv);
        return rc;
    }
    int i = host_index(NULL);
    hosts[i].loop = *out;
    hosts[i].uv = uv;
    return 0;
}

void conformance_loop_free(petal_loop_t *loop)
{
    int i = host_index(loop);
    uv_loop_t *uv = hosts[i].uv;
    hosts[i].loop = NULL;
    petal_loop_free(loop);
    /* petal's handles close on the host's next iteration; then the host
     * must close cleanly, proving petal left nothing behind. */
    uv_run(uv, UV_RUN_NOWAIT);
    int rc = uv_loop_close(uv);
    if (rc != 0) {
        fprintf(stderr, "host uv_loop_close: %s\n", uv_strerror(rc));
        abort();
    }
    free(uv);
}
