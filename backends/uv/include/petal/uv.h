/* petal on libuv. */
#ifndef PETAL_UV_H
#define PETAL_UV_H

#include <uv.h>

#include "petal/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a petal loop on libuv. With host == NULL petal creates and runs its
 * own uv_loop_t. With a host, petal attaches to the application's loop, which
 * the application keeps running with uv_run(); petal's work then happens in
 * a uv_prepare/uv_check pair, one uv_idle (while callbacks are ready) and one
 * uv_timer (its earliest deadline). After petal_loop_close() on a host loop,
 * let the host loop run once more so libuv can finish closing petal's handles
 * (as with any uv_close). */
int petal_loop_new_uv(petal_loop_t **out, uv_loop_t *host);

/* The backend, for petal_loop_new_on() and link-time backend lists. */
extern const struct petal_backend petal_backend_uv;

/* The uv_loop_t under a libuv petal loop, NULL for another backend. */
uv_loop_t *petal_loop_uv(petal_loop_t *loop);

#ifdef __cplusplus
}
#endif
#endif
