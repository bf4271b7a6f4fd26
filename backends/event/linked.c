/* Link-time selection: a program linked with //:petal_event runs on libevent. */
#include "petal/backend.h"
#include "petal/event.h"

const petal_backend_t *const petal_linked_backends[] = { &petal_backend_event, NULL };
