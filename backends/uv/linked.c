/* Link-time selection: a program linked with //:petal_uv runs on libuv. */
#include "petal/backend.h"
#include "petal/uv.h"

const petal_backend_t *const petal_linked_backends[] = { &petal_backend_uv, NULL };
