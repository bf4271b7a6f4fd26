/* Link-time selection: a program linked with //:petal_ev runs on libev. */
#include "petal/backend.h"
#include "petal/ev.h"

const petal_backend_t *const petal_linked_backends[] = { &petal_backend_ev, NULL };
