/* Conformance instance: the application owns a struct ev_loop and petal
 * attaches to it. petal_loop_run() then drives the host loop with ev_run(). */
#include <stdio.h>
#include <stdlib.h>

#include "petal/ev.h"
#include "tests/conformance.h"

const char *const conformance_instance = CONFORMANCE_INSTANCE;

/* Which host loop each live petal loop is attached to. */
#define MAX_LOOPS 8
static struct { petal_loop_t *loop; struct ev_loop *ev; } hosts[MAX_LOOPS];

static int host_index(petal_loop_t *loop)
{
    for (int i = 0; i < MAX_LOOPS; i++)
        if (hosts[i].loop == loop) return i;
    abort();
}

int conformance_loop_new(petal_loop_t **out)
{
    /* What an application would do; not the default loop (see petal/ev.h). */
    struct ev_loop *ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!ev) abort();
    int rc = petal_loop_new_ev(out, ev);
    if (rc) {
        ev_loop_destroy(ev);
        return rc;
    }
    int i = host_index(NULL);
    hosts[i].loop = *out;
    hosts[i].ev = ev;
    return 0;
}

void conformance_loop_free(petal_loop_t *loop)
{
    int i = host_index(loop);
    struct ev_loop *ev = hosts[i].ev;
    hosts[i].loop = NULL;
    petal_loop_free(loop);
    /* petal stopped every watcher and gave back every reference it took:
     * ev_run() returns how many active (referenced) watchers remain. */
    int left = ev_run(ev, EVRUN_NOWAIT);
    if (left != 0 || ev_pending_count(ev) != 0) {
        fprintf(stderr, "host left with %d active references, %u pending\n", left, ev_pending_count(ev));
        abort();
    }
    ev_loop_destroy(ev);
}
