/* Futures: asyncio's Future for C. A future is pending, then done (with a
 * result value or an error code) or cancelled. Done-callbacks are scheduled
 * with call_soon in registration order, never called from inside set_*.
 *
 * Futures are reference counted: petal_future_new returns one reference;
 * petal_future_release drops one. The result's destructor runs when the last
 * reference goes. */
#ifndef PETAL_FUTURE_H
#define PETAL_FUTURE_H

#include "petal/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct petal_future petal_future_t;
typedef void (*petal_future_cb)(petal_future_t *fut, void *arg);
typedef void (*petal_dtor)(void *value);

int petal_future_new(petal_loop_t *loop, petal_future_t **out);
petal_future_t *petal_future_retain(petal_future_t *fut);
void petal_future_release(petal_future_t *fut);
petal_loop_t *petal_future_loop(const petal_future_t *fut);

/* PETAL_EINVALSTATE if the future is already done or cancelled. */
int petal_future_set_result(petal_future_t *fut, void *value, petal_dtor dtor);
int petal_future_set_error(petal_future_t *fut, int err);   /* err < 0 */
/* 0 if it was pending and is now cancelled, PETAL_EINVALSTATE if done. */
int petal_future_cancel(petal_future_t *fut);

bool petal_future_done(const petal_future_t *fut);        /* done or cancelled */
bool petal_future_cancelled(const petal_future_t *fut);
/* 0 and *value when done with a result; the error code when done with an
 * error; PETAL_ECANCELED when cancelled; PETAL_EINVALSTATE while pending. */
int petal_future_result(const petal_future_t *fut, void **value);

/* If the future is already done, cb is scheduled with call_soon at once. */
int petal_future_add_done_callback(petal_future_t *fut, petal_future_cb cb, void *arg);
/* Removes every registration of (cb, arg) not yet scheduled: 0 if any,
 * PETAL_ENOENT if none. */
int petal_future_remove_done_callback(petal_future_t *fut, petal_future_cb cb, void *arg);

/* asyncio's run_until_complete: runs the loop until fut is done. Returns the
 * future's own status (as petal_future_result), or PETAL_ESTOPPED if
 * petal_loop_stop() ended the run first. */
int petal_loop_run_until_complete(petal_loop_t *loop, petal_future_t *fut);

#ifdef __cplusplus
}
#endif
#endif
