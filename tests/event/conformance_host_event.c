/* Conformance instance: the application owns a struct event_base and petal
 * attaches to it. petal_loop_run() then drives the host base with
 * event_base_loop(). */
#include <stdio.h>
#include <stdlib.h>

#include "tests/conformance.h"
#include "petal/event.h"

const char *const conformance_instance = CONFORMANCE_INSTANCE;

/* Which host base each live petal loop is attached to. */
#define MAX_LOOPS 8
static struct { petal_loop_t *loop; struct event_base *base; } hosts[MAX_LOOPS];

static int host_index(petal_loop_t *loop)
{
    for (int i = 0; i < MAX_LOOPS; i++)
        if (hosts[i].loop == loop) return i;
    abort();
}

int conformance_loop_new(petal_loop_t **out)
{
    /* A default base, as applications make them (coarse clock, locks off
     * unless the application enabled threads). */
    struct event_base *base = event_base_new();
    if (!base) abort();
    int rc = petal_loop_new_event(out, base);
    if (rc) {
        event_base_free(base);
        return rc;
    }
    int i = host_index(NULL);
    hosts[i].loop = *out;
    hosts[i].base = base;
    return 0;
}

void conformance_loop_free(petal_loop_t *loop)
{
    int i = host_index(loop);
    struct event_base *base = hosts[i].base;
    hosts[i].loop = NULL;
    petal_loop_free(loop);
    /* petal must leave nothing behind in the host base. */
    int left = event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED | EVENT_BASE_COUNT_ACTIVE);
    if (left != 0) {
        fprintf(stderr, "host event_base: %d events left by petal\n", left);
        abort();
    }
    if (event_base_loop(base, EVLOOP_NONBLOCK) != 1) {
        fprintf(stderr, "host event_base: not empty after petal_loop_free\n");
        abort();
    }
    event_base_free(base);
}
