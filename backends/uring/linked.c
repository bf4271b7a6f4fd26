/* Link-time selection: a program linked with //:petal_uring runs on io_uring. */
#include "petal/backend.h"
#include "petal/uring.h"

const petal_backend_t *const petal_linked_backends[] = { &petal_backend_uring, NULL };
