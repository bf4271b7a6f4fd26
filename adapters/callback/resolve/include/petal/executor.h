/* Blocking work off the loop thread (asyncio's loop.run_in_executor).
 *
 * Each loop has a small pool of worker threads, created lazily (at most
 * petal_executor_max_workers(), 4 unless changed) and exiting after 5 s
 * without work (petal_executor_set_idle_timeout). Results come back to the
 * loop thread (workers signal an eventfd the loop watches) and complete a
 * petal future there. While jobs are outstanding that watch keeps a host
 * loop (uv_run, ev_run, event_base_dispatch) running, as libuv's own work
 * requests do; an idle pool keeps nothing alive.
 *
 * petal_loop_close() (and so petal_loop_free()) shuts the pool down: jobs not
 * yet started are dropped (their futures stay pending, arg_dtor runs), jobs
 * already running are waited for, and every result that was not delivered is
 * destroyed. No thread outlives the loop.
 *
 * Cancelling the future (petal_future_cancel) drops a job that has not
 * started; a running job finishes on its worker and its result is destroyed
 * with its dtor, never leaked. */
#ifndef PETAL_EXECUTOR_H
#define PETAL_EXECUTOR_H

#include "petal/future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs on a worker thread. It must not use the loop (except
 * petal_call_soon_threadsafe). Returns 0 with *value and *dtor set (the
 * future's result and its destructor, both may stay NULL), or a negative
 * error code for the future. */
typedef int (*petal_work_fn)(void *arg, void **value, petal_dtor *dtor);

/* Queues fn(arg) for the loop's pool; *out gets a new future (the caller owns
 * the reference) that completes on the loop thread with fn's result.
 * arg_dtor (may be NULL) runs exactly once, on the loop thread or inside
 * petal_loop_close(), when petal no longer needs arg: after fn ran, or when
 * the job was dropped without running. On error nothing is queued and
 * arg_dtor is not called. */
int petal_run_in_executor(petal_loop_t *loop, petal_work_fn fn, void *arg, petal_dtor arg_dtor,
                          petal_future_t **out);

/* Upper bound on the loop's worker threads (1..64, default 4). Lowering it
 * does not stop workers that are busy. */
int petal_executor_set_max_workers(petal_loop_t *loop, unsigned n);
/* Current bound, or a negative code (PETAL_EINVAL, PETAL_ECLOSED). */
int petal_executor_max_workers(petal_loop_t *loop);
/* How long an idle worker waits for work before it exits (default 5 s;
 * finite and > 0, else PETAL_EINVAL). Applies from each worker's next wait. */
int petal_executor_set_idle_timeout(petal_loop_t *loop, double seconds);
/* Worker threads alive now (for tests and monitoring), or a negative code. */
int petal_executor_workers(petal_loop_t *loop);

#ifdef __cplusplus
}
#endif
#endif
