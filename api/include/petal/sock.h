/* Socket operations that return futures (asyncio's loop.sock_*).
 *
 * On io_uring they are submitted as completions; on the other backends the
 * core performs them when the fd is ready. Behaviour is the same:
 * - several operations on one fd are served in order (FIFO per direction);
 * - the future's value is the result: petal_sock_result() reads it;
 * - cancelling the future (petal_future_cancel) or announcing the fd closed
 *   (petal_fd_closing: PETAL_ECANCELED) ends the operation; from then on
 *   petal never touches its buffer again;
 * - buf must stay valid until the future is done (send: petal may copy it).
 * recv and send work on blocking and non-blocking sockets alike (petal never
 * blocks and never changes the fd's flags); accept and connect need a
 * non-blocking socket (PETAL_EINVAL otherwise). A user reader (writer) and
 * petal's receive-side (send-side) operations cannot share one fd:
 * PETAL_EBUSY. */
#ifndef PETAL_SOCK_H
#define PETAL_SOCK_H

#include <sys/socket.h>
#include <sys/types.h>

#include "petal/future.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Receives up to len bytes; result: bytes received, 0 at end of stream. */
int petal_sock_recv(petal_loop_t *loop, int fd, void *buf, size_t len, petal_future_t **out);
/* Sends all len bytes (asyncio's sock_sendall); result: len. */
int petal_sock_send(petal_loop_t *loop, int fd, const void *buf, size_t len, petal_future_t **out);
/* Accepts one connection; result: the new fd, non-blocking and close-on-exec. */
int petal_sock_accept(petal_loop_t *loop, int fd, petal_future_t **out);
/* Connects; result: 0. */
int petal_sock_connect(petal_loop_t *loop, int fd, const struct sockaddr *addr, socklen_t addrlen,
                       petal_future_t **out);

/* 1 if the loop's backend performs these operations itself as completions
 * (io_uring), 0 if the core performs them on readiness; PETAL_EINVAL for
 * NULL, PETAL_ECLOSED for a closed loop. Adapters use it to pick their I/O
 * path (completion calls, or add_reader/add_writer directly). */
int petal_loop_has_native_sock(const petal_loop_t *loop);

/* The result of a finished socket operation's future: >= 0 as described
 * above, or a negative error code (PETAL_EINVALSTATE while pending). */
ssize_t petal_sock_result(const petal_future_t *fut);

#ifdef __cplusplus
}
#endif
#endif
