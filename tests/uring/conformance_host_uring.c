/* Conformance instance: the application owns a struct io_uring and petal
 * attaches to it. petal_loop_run() then drives the host ring itself. */
#include <stdio.h>
#include <stdlib.h>

#include "petal/uring.h"
#include "tests/conformance.h"

const char *const conformance_instance = CONFORMANCE_INSTANCE;

/* Which host ring each live petal loop is attached to. */
#define MAX_LOOPS 8
static struct { petal_loop_t *loop; struct io_uring *ring; } hosts[MAX_LOOPS];

static int host_index(petal_loop_t *loop)
{
    for (int i = 0; i < MAX_LOOPS; i++)
        if (hosts[i].loop == loop) return i;
    abort();
}

int conformance_loop_new(petal_loop_t **out)
{
    struct io_uring *ring = malloc(sizeof *ring);
    if (!ring || io_uring_queue_init(64, ring, 0) != 0) abort();
    int rc = petal_loop_new_uring(out, ring);
    if (rc) {
        io_uring_queue_exit(ring);
        free(ring);
        return rc;
    }
    int i = host_index(NULL);
    hosts[i].loop = *out;
    hosts[i].ring = ring;
    return 0;
}

void conformance_loop_free(petal_loop_t *loop)
{
    int i = host_index(loop);
    struct io_uring *ring = hosts[i].ring;
    hosts[i].loop = NULL;
    petal_loop_free(loop);
    /* petal's last poll removals complete now; hand them back to petal, as
     * the application must. Anything else left means petal leaked work. */
    io_uring_submit_and_get_events(ring);
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(ring, &cqe) == 0) {
        if (!petal_uring_owns(cqe)) {
            fprintf(stderr, "host ring: unexpected CQE %llu\n", (unsigned long long)cqe->user_data);
            abort();
        }
        petal_uring_dispatch(NULL, cqe);
        io_uring_cqe_seen(ring, cqe);
    }
    io_uring_queue_exit(ring);
    free(ring);
}
