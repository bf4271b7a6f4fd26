/* petal on io_uring (liburing).
 *
 * Owned mode (host == NULL below): petal creates its own ring, without
 * SQPOLL, and runs it in petal_loop_run().
 *
 * Host mode: the application owns a struct io_uring and drains its
 * completion queue itself. petal puts its own SQEs on that ring and marks
 * them: bit 0 of their user_data is set (the rest points to petal's request
 * record). Applications must keep bit 0 of their own user_data clear (pointers
 * and even numbers do; liburing's internal LIBURING_UDATA_TIMEOUT is
 * recognised). The application's loop is then:
 *
 *     while (app_has_work || petal_uring_alive(loop)) {
 *         struct __kernel_timespec ts;
 *         int64_t ns = petal_uring_before_wait(loop);     // petal's SQEs queued
 *         io_uring_submit_and_wait_timeout(ring, &cqe, 1, petal_uring_timespec(ns, &ts), NULL);
 *         while (io_uring_peek_cqe(ring, &cqe) == 0) {
 *             if (petal_uring_owns(cqe)) petal_uring_dispatch(loop, cqe);
 *             else handle_my_cqe(cqe);
 *             io_uring_cqe_seen(ring, cqe);
 *         }
 *         petal_uring_after_wait(loop);                   // runs petal's callbacks
 *     }
 *
 * (The application may wait less than petal asks, never more.) petal calls
 * io_uring_submit() itself only where a request must reach the kernel at
 * once (removing a poll before its fd may be closed: petal_fd_closing, the
 * last reader/writer removed; a full SQ), which also submits SQEs the
 * application has queued but not yet submitted.
 * After petal_loop_free() on a host ring, petal's last requests (poll
 * removals) may still complete: keep handing CQEs that petal_uring_owns() to
 * petal_uring_dispatch() (the loop argument may then be NULL) until the
 * ring is drained, e.g. one io_uring_submit_and_get_events() and a peek loop,
 * before io_uring_queue_exit(). */
#ifndef PETAL_URING_H
#define PETAL_URING_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include "petal/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a petal loop on io_uring. host == NULL: petal creates its own ring
 * (IORING_SETUP_SUBMIT_ALL|COOP_TASKRUN|SINGLE_ISSUER where the kernel takes
 * them; with SINGLE_ISSUER the loop must then always be run from the thread
 * that first ran it). Where io_uring is unavailable (kernel without it,
 * seccomp, kernel.io_uring_disabled) this returns PETAL_ENOSYS or
 * PETAL_EPERM and petal_loop_new() moves on to the next linked backend. */
int petal_loop_new_uring(petal_loop_t **out, struct io_uring *host);

/* The backend, for petal_loop_new_on() and link-time backend lists. */
extern const struct petal_backend petal_backend_uring;

/* The ring under an io_uring petal loop, NULL for another backend. */
struct io_uring *petal_loop_uring(petal_loop_t *loop);

/* ---- host mode ---------------------------------------------------------- */

/* True if cqe answers one of petal's requests (bit 0 of user_data). */
bool petal_uring_owns(const struct io_uring_cqe *cqe);
/* Hands petal one of its completions (petal_uring_owns(cqe) must be true).
 * It only records readiness; callbacks run in petal_uring_after_wait(). */
void petal_uring_dispatch(petal_loop_t *loop, const struct io_uring_cqe *cqe);
/* Call before each wait: queues petal's SQEs (submit them with your wait)
 * and returns how long you may block: 0 = do not block, -1 = no petal
 * deadline (block until a CQE), else nanoseconds. */
int64_t petal_uring_before_wait(petal_loop_t *loop);
/* Call after each wait, once the CQEs are dispatched: runs petal's timers
 * and ready callbacks (one petal iteration). */
void petal_uring_after_wait(petal_loop_t *loop);
/* True while petal has callbacks, timers or user-watched fds: the host loop
 * should keep going. (petal's own wakeup fd does not count.) */
bool petal_uring_alive(petal_loop_t *loop);
/* ns from petal_uring_before_wait() as a wait timeout: NULL for -1. */
struct __kernel_timespec *petal_uring_timespec(int64_t ns, struct __kernel_timespec *ts);

/* When petal itself drives a host ring (petal_loop_run on a hosted loop),
 * the application's CQEs it reaps go to cb (without one they are dropped
 * and reported through the loop's error hook). */
typedef void (*petal_uring_cqe_cb)(const struct io_uring_cqe *cqe, void *arg);
void petal_uring_set_cqe_handler(petal_loop_t *loop, petal_uring_cqe_cb cb, void *arg);

#ifdef __cplusplus
}
#endif
#endif
