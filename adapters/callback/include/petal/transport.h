/* Transports and protocols: asyncio's callback-style streams for C.
 *
 * A protocol is a table of callbacks; a transport is one connected stream
 * socket (TCP over IPv4/IPv6, or Unix-domain). petal reads from the socket
 * and hands the bytes to the protocol; the protocol writes through the
 * transport, which never blocks: what the kernel will not take now is kept in
 * the transport's buffer and sent when the socket is writable.
 *
 * Order of protocol callbacks for one transport (same on every backend):
 *   connection_made, data_received*, eof_received?, connection_lost
 * connection_made always comes first (on the loop, after the call that made
 * the transport returned); connection_lost comes exactly once and last. After
 * connection_lost returns the transport is freed: do not use its pointer
 * again. connection_made, data_received, eof_received and connection_lost are
 * never called from inside a petal_transport_* call (they are deferred with
 * call_soon, as asyncio does); pause_writing is called from inside
 * petal_transport_write() when that write crosses the high-water mark, as in
 * asyncio, so a writer can stop at once.
 *
 * On io_uring, transports use completions (recv/send/accept submitted to the
 * ring through petal/sock.h); on the other backends, readiness
 * (add_reader/add_writer, write tried first). The observable behaviour is the
 * same (docs/transports.md).
 *
 * Errors: 0 or a negative PETAL_E* / negated errno code. */
#ifndef PETAL_TRANSPORT_H
#define PETAL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "petal/future.h"
#include "petal/loop.h"
/* One header for the callback adapter: datagrams and name resolution too. */
#include "petal/datagram.h"
#include "petal/resolve.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct petal_transport petal_transport_t;
typedef struct petal_server petal_server_t;

/* Every callback gets the transport and its user pointer
 * (petal_transport_user()). Any callback may be NULL. */
typedef struct petal_protocol {
    void (*connection_made)(petal_transport_t *t, void *user);
    /* data is valid only during the call. */
    void (*data_received)(petal_transport_t *t, const void *data, size_t len, void *user);
    /* The peer shut down its write side. Return true to keep the transport
     * open for writing (half-closed); false closes it (NULL: false). */
    bool (*eof_received)(petal_transport_t *t, void *user);
    /* err is 0 for a clean close (close() flushed, abort(), eof), else the
     * error that ended the connection (e.g. -ECONNRESET). The transport is
     * freed when this returns. */
    void (*connection_lost)(petal_transport_t *t, int err, void *user);
    /* The write buffer went above the high-water mark / back to the low one. */
    void (*pause_writing)(petal_transport_t *t, void *user);
    void (*resume_writing)(petal_transport_t *t, void *user);
} petal_protocol_t;

/* Default write-buffer limits (asyncio's): high 64 KiB, low high/4. */
#define PETAL_TRANSPORT_HIGH_WATER (64 * 1024)

/* ---- making transports ------------------------------------------------- */

/* Connects to host:port (TCP). host is a numeric IPv4/IPv6 address, or a
 * name resolved off the loop thread (petal/resolve.h); every address is
 * tried in order. The future completes with the transport (read it with
 * petal_future_result(); value is a petal_transport_t *) after
 * connection_made has been scheduled, or with the last connect error.
 * proto must stay valid while the transport lives; user is the transport's
 * user pointer. Cancelling the future abandons the attempt. */
int petal_create_connection(petal_loop_t *loop, const petal_protocol_t *proto, void *user, const char *host,
                            int port, petal_future_t **out);
/* Same, to one socket address (AF_INET, AF_INET6 or AF_UNIX). */
int petal_create_connection_addr(petal_loop_t *loop, const petal_protocol_t *proto, void *user,
                                 const struct sockaddr *addr, socklen_t addrlen, petal_future_t **out);
/* Same, to a Unix-domain stream socket at path. */
int petal_create_unix_connection(petal_loop_t *loop, const petal_protocol_t *proto, void *user, const char *path,
                                 petal_future_t **out);

/* Makes a transport of an already-connected stream socket (asyncio's
 * connect_accepted_socket). On success the transport owns fd: it sets it
 * non-blocking and closes it after connection_lost. On failure the fd stays
 * the caller's: PETAL_EBADF (not open), -ENOTSOCK, PETAL_EINVAL (not a
 * stream socket, or a listening one: see petal_server_adopt). */
int petal_transport_adopt(petal_loop_t *loop, const petal_protocol_t *proto, void *user, int fd,
                          petal_transport_t **out);

/* ---- servers ----------------------------------------------------------- */

/* Listens on host:port (TCP) and makes a transport of every connection,
 * with proto and user as its user pointer (change it in connection_made with
 * petal_transport_set_user). host: a numeric address, or NULL for every
 * interface (0.0.0.0 and ::, one socket each). port 0 picks a free port
 * (the same one for every socket); read it with petal_server_address().
 * SO_REUSEADDR is set. backlog <= 0 means 128. */
int petal_create_server(petal_loop_t *loop, const petal_protocol_t *proto, void *user, const char *host, int port,
                        int backlog, petal_server_t **out);
/* Listens on a Unix-domain stream socket at path (a stale socket file there
 * is removed first; the file is removed again by petal_server_close). */
int petal_create_unix_server(petal_loop_t *loop, const petal_protocol_t *proto, void *user, const char *path,
                             int backlog, petal_server_t **out);
/* Serves an already-listening stream socket (the server owns fd). */
int petal_server_adopt(petal_loop_t *loop, const petal_protocol_t *proto, void *user, int fd,
                       petal_server_t **out);
/* Number of listening sockets. */
int petal_server_count(const petal_server_t *s);
/* Address of listening socket i: 0, PETAL_EINVAL for a bad index or NULL. */
int petal_server_address(const petal_server_t *s, int i, struct sockaddr_storage *addr, socklen_t *len);
/* Stops listening, closes the listening sockets and frees the server.
 * Connections already made stay open (asyncio's Server.close()). */
int petal_server_close(petal_server_t *s);

/* ---- the transport ----------------------------------------------------- */

/* Queues len bytes. Never blocks: sends what the kernel takes at once and
 * buffers the rest. 0 when accepted; a failure of the connection is reported
 * through connection_lost, not here. -EPIPE after close(), abort(),
 * write_eof() or a lost connection; PETAL_EINVAL for NULL data with len > 0
 * (writev: also iovcnt < 0 or > IOV_MAX). */
int petal_transport_write(petal_transport_t *t, const void *data, size_t len);
int petal_transport_writev(petal_transport_t *t, const struct iovec *iov, int iovcnt);
/* Shuts down the write side once the buffer is flushed (half-close). */
int petal_transport_write_eof(petal_transport_t *t);
/* Stops reading, flushes the buffer, then closes: connection_lost(0).
 * PETAL_EALREADY if already closing. */
int petal_transport_close(petal_transport_t *t);
/* Closes now; buffered data is dropped: connection_lost(0). PETAL_EALREADY
 * if connection_lost is already on its way. */
int petal_transport_abort(petal_transport_t *t);
/* Stop / restart delivering data_received (no-ops on a closing transport).
 * No data is lost: on io_uring a receive already in the kernel completes
 * and its bytes are delivered after resume. */
int petal_transport_pause_reading(petal_transport_t *t);
int petal_transport_resume_reading(petal_transport_t *t);
bool petal_transport_is_reading(const petal_transport_t *t);
bool petal_transport_is_closing(const petal_transport_t *t);
/* high >= low; pause_writing when the buffered size goes above high,
 * resume_writing when it drops to low or below. Negative values pick the
 * defaults (high 64 KiB; low high/4). PETAL_EINVAL if low > high. */
int petal_transport_set_write_buffer_limits(petal_transport_t *t, ssize_t high, ssize_t low);
int petal_transport_get_write_buffer_limits(const petal_transport_t *t, size_t *high, size_t *low);
/* Bytes accepted by write() and not yet handed to the kernel. */
size_t petal_transport_get_write_buffer_size(const petal_transport_t *t);
/* Addresses, read when the transport was made (still valid after the peer
 * left). The kernel's error (e.g. -ENOTCONN) if it had none then. */
int petal_transport_peername(const petal_transport_t *t, struct sockaddr_storage *addr, socklen_t *len);
int petal_transport_sockname(const petal_transport_t *t, struct sockaddr_storage *addr, socklen_t *len);
int petal_transport_fileno(const petal_transport_t *t);
petal_loop_t *petal_transport_loop(const petal_transport_t *t);
void *petal_transport_user(const petal_transport_t *t);
void petal_transport_set_user(petal_transport_t *t, void *user);

#ifdef __cplusplus
}
#endif
#endif
