/* Per-loop state of the stream transports (petal_loop_set_local): the
 * readiness path's receive buffer, and the live transports and servers, so
 * that closing the loop with some still open closes their fds and frees
 * them. No protocol callback runs then (none can once the loop closes). */
#include <stdlib.h>

#include "adapters/callback/transport_internal.h"

static const char registry_key;

static void registry_dtor(void *value)
{
    struct registry *reg = value;
    while (reg->transports) pcb_transport_release_at_close(reg->transports);
    while (reg->servers) pcb_server_release_at_close(reg->servers);
    free(reg);
}

struct registry *pcb_registry_of(petal_loop_t *loop)
{
    struct registry *reg = petal_loop_get_local(loop, &registry_key);
    if (reg) return reg;
    if (!(reg = calloc(1, sizeof *reg))) return NULL;
    if (petal_loop_set_local(loop, &registry_key, reg, registry_dtor)) {
        free(reg);
        return NULL;
    }
    return reg;
}
