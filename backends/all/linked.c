/* Run-time selection: //:petal links every backend. petal_loop_new() takes
 * $PETAL_BACKEND if set, else the first of these that works here: io_uring
 * (its ring setup fails cleanly where the kernel or seccomp forbids it), then
 * libuv, libev, libevent. */
#include "petal/backend.h"
#include "petal/ev.h"
#include "petal/event.h"
#include "petal/uring.h"
#include "petal/uv.h"

const petal_backend_t *const petal_linked_backends[] = {
    &petal_backend_uring, &petal_backend_uv, &petal_backend_ev, &petal_backend_event, NULL,
};
