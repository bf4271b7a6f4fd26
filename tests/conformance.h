/* The conformance suite is one source (conformance.c) compiled once per
 * backend and mode; each instance supplies how a test loop is made. */
#ifndef PETAL_CONFORMANCE_H
#define PETAL_CONFORMANCE_H

#include "petal/loop.h"

/* Name of this instance, e.g. "uv" or "uv-host". */
extern const char *const conformance_instance;
/* Makes a fresh loop for one test (owned, or attached to a new host loop). */
int conformance_loop_new(petal_loop_t **out);
/* Frees it, and for a host loop checks that the host shuts down cleanly. */
void conformance_loop_free(petal_loop_t *loop);

#endif
