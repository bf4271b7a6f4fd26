/* petal: one event-loop API (asyncio's) over libuv, libev, libevent and io_uring.
 *
 * Threading: a loop belongs to the thread that runs it. Only
 * petal_call_soon_threadsafe() may be called from other threads.
 *
 * Return values: 0 or a negative PETAL_E* code (see petal/error.h). Calls
 * that create a handle return it as a positive petal_handle_t, or a negative
 * error code. */
#ifndef PETAL_LOOP_H
#define PETAL_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "petal/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct petal_loop petal_loop_t;

/* A handle names a scheduled callback by value (slot index + generation),
 * never by pointer: a handle that ran or was cancelled can never refer to
 * anything else. Valid handles are > 0; negative values are error codes. */
typedef int64_t petal_handle_t;

typedef void (*petal_cb)(petal_loop_t *loop, void *arg);

/* I/O callback: status is 0 when the fd is ready, or a negative code when the
 * watch ended (PETAL_ECANCELED after petal_fd_closing). */
typedef void (*petal_io_cb)(petal_loop_t *loop, int fd, int status, void *arg);

/* Problems found outside any call (a stale fd, a failing backend). fd is -1
 * when no fd is involved. */
typedef void (*petal_error_hook)(petal_loop_t *loop, int err, int fd, const char *what, void *arg);

/* ---- lifecycle ---------------------------------------------------------- */

/* Creates a loop on the default backend: $PETAL_BACKEND if set and linked in,
 * else the first linked backend that works on this machine. */
int petal_loop_new(petal_loop_t **out);
/* Creates a loop on a named backend ("uv", "ev", "event", "uring"). */
int petal_loop_new_backend(petal_loop_t **out, const char *backend);
/* Name of the backend the loop runs on. */
const char *petal_loop_backend(const petal_loop_t *loop);
/* True when petal drives a native loop that the application runs itself. */
bool petal_loop_is_hosted(const petal_loop_t *loop);

/* Runs until petal_loop_stop(). Returns PETAL_EBUSY if already running. */
int petal_loop_run(petal_loop_t *loop);
/* Runs one iteration: polls I/O (blocking only if nothing is ready), then runs
 * the callbacks that were ready when the iteration began. */
int petal_loop_run_once(petal_loop_t *loop);
/* Ends run() after the current iteration. run() may be called again. */
int petal_loop_stop(petal_loop_t *loop);
bool petal_loop_is_running(const petal_loop_t *loop);
bool petal_loop_is_closed(const petal_loop_t *loop);
/* Releases everything the loop holds (pending callbacks are dropped, signals
 * are given back). PETAL_EBUSY while running. The object stays valid (every
 * later call returns PETAL_ECLOSED) until petal_loop_free(). */
int petal_loop_close(petal_loop_t *loop);
/* Closes (if needed) and frees. Memory is kept until the last future made on
 * this loop is released. Not allowed while running. */
int petal_loop_free(petal_loop_t *loop);

void petal_loop_set_error_hook(petal_loop_t *loop, petal_error_hook hook, void *arg);

/* ---- time: the loop's monotonic clock ---------------------------------- */
double petal_time(const petal_loop_t *loop);
int64_t petal_time_ns(const petal_loop_t *loop);

/* ---- callbacks and timers ---------------------------------------------- */

/* FIFO. A callback scheduled while callbacks run goes to the next iteration,
 * after I/O has been polled. */
petal_handle_t petal_call_soon(petal_loop_t *loop, petal_cb cb, void *arg);
/* Never early on the loop clock; equal deadlines run in scheduling order.
 * delay must be finite and >= 0. */
petal_handle_t petal_call_later(petal_loop_t *loop, double delay_s, petal_cb cb, void *arg);
petal_handle_t petal_call_later_ns(petal_loop_t *loop, int64_t delay_ns, petal_cb cb, void *arg);
/* when is on the petal_time() clock; a past time runs on the next iteration. */
petal_handle_t petal_call_at(petal_loop_t *loop, double when_s, petal_cb cb, void *arg);
petal_handle_t petal_call_at_ns(petal_loop_t *loop, int64_t when_ns, petal_cb cb, void *arg);
/* 0 if it was pending and will not run; PETAL_EALREADY if it already ran or
 * was cancelled; PETAL_EINVAL for a value that was never a handle. */
int petal_cancel(petal_loop_t *loop, petal_handle_t handle);

/* The only call that is safe from any thread: queues cb for the loop's thread
 * and wakes the loop. Safe to call until petal_loop_close(). */
int petal_call_soon_threadsafe(petal_loop_t *loop, petal_cb cb, void *arg);

/* ---- fd readiness (level-triggered) ------------------------------------ */

/* One reader and one writer per fd; adding again replaces. petal never changes
 * the fd's flags. PETAL_EBADF for a closed fd, PETAL_EPERM if the kernel
 * cannot poll it (regular files). */
int petal_add_reader(petal_loop_t *loop, int fd, petal_io_cb cb, void *arg);
int petal_add_writer(petal_loop_t *loop, int fd, petal_io_cb cb, void *arg);
/* 0 if one was registered (it will not run any more), PETAL_ENOENT if not. */
int petal_remove_reader(petal_loop_t *loop, int fd);
int petal_remove_writer(petal_loop_t *loop, int fd);
/* Announce that fd is about to be closed: every reader, writer and pending
 * operation on it is woken with PETAL_ECANCELED and deregistered, so nothing
 * completes onto a reused fd number. Call it before close(fd). PETAL_ENOENT if
 * nothing was registered. */
int petal_fd_closing(petal_loop_t *loop, int fd);

/* ---- embedding in another event loop (GLib, sd-event, Qt, ...) -------- */

/* For a loop petal owns, driven by some other event loop: poll the returned
 * fd for reading in that loop, waiting no longer than
 * petal_loop_embed_timeout(), then call petal_loop_run_ready(). The fd
 * belongs to petal (do not close it). PETAL_EINVAL for a hosted loop (its
 * host already drives it). */
int petal_loop_embed_fd(petal_loop_t *loop);
/* How long the other loop may sleep for petal, as poll() takes it: 0 when
 * callbacks are ready, -1 without timers, else milliseconds (rounded up) to
 * the earliest one. */
int petal_loop_embed_timeout(petal_loop_t *loop, int *timeout_ms);
/* One iteration that never blocks: polls I/O without waiting, runs what is
 * ready. */
int petal_loop_run_ready(petal_loop_t *loop);

/* ---- per-loop state of libraries built on petal ----------------------- */

/* A library (the resolver's worker pool, a transport registry) keeps its
 * per-loop state here instead of in globals. key is the address of a static
 * object of that library, so keys never collide. dtor(value), if not NULL,
 * runs once inside petal_loop_close(), before the loop releases anything
 * else, in reverse order of attachment: the fd table and the backend still
 * work (petal_fd_closing, remove_reader), but callbacks scheduled from a dtor
 * never run. PETAL_EEXIST if key already has a value; a NULL value detaches
 * the key without calling its dtor (PETAL_ENOENT if it had none). */
int petal_loop_set_local(petal_loop_t *loop, const void *key, void *value, void (*dtor)(void *value));
/* The value attached under key, or NULL. */
void *petal_loop_get_local(const petal_loop_t *loop, const void *key);

/* ---- signals ----------------------------------------------------------- */

/* cb runs on the loop's thread as an ordinary callback. One loop per process
 * owns a given signal (PETAL_EEXIST otherwise); adding again on the same loop
 * replaces. SIGKILL, SIGSTOP and numbers out of range give PETAL_EINVAL. */
int petal_add_signal_handler(petal_loop_t *loop, int signum, petal_cb cb, void *arg);
int petal_remove_signal_handler(petal_loop_t *loop, int signum);

#ifdef __cplusplus
}
#endif
#endif
