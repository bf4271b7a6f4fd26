/* UDP endpoints: asyncio's create_datagram_endpoint, DatagramProtocol and
 * DatagramTransport for C.
 *
 * A protocol is a struct of callbacks (each may be NULL) and a user pointer;
 * petal copies it. On every backend the transport watches its socket for
 * readiness (add_reader/add_writer), as asyncio's selector loop does, so the
 * observable behaviour is the same everywhere:
 *
 * - connection_made runs first, on the next iteration after creation; then
 *   datagram_received for each datagram, in arrival order; connection_lost
 *   runs last, exactly once (after close, abort or a fatal error).
 * - sendto never blocks: a datagram the kernel will not take now (EAGAIN) is
 *   copied and queued, and sent in order when the socket is writable.
 * - Errors of single datagrams are not fatal: the kernel's error for a send,
 *   an ICMP error reported on a connected socket (ECONNREFUSED when the peer
 *   port is closed) or a failed receive go to error_received and the
 *   transport stays open. connection_lost gets 0 after close/abort.
 * - The transport pointer stays valid until connection_lost returns; petal
 *   then closes the socket and frees the transport. A loop closed with
 *   transports still open closes their sockets and frees them without
 *   calling back.
 *
 * Every call returns 0 or a negative code (petal/error.h). */
#ifndef PETAL_DATAGRAM_H
#define PETAL_DATAGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "petal/future.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct petal_datagram_transport petal_datagram_transport_t;

typedef struct petal_datagram_protocol {
    void (*connection_made)(petal_datagram_transport_t *t, void *user);
    /* data is valid only during the call; addr is the sender (for a
     * connected endpoint, the peer). */
    void (*datagram_received)(petal_datagram_transport_t *t, const void *data, size_t len,
                              const struct sockaddr *addr, socklen_t addrlen, void *user);
    /* err: negative code of a send or receive that failed (the transport
     * stays open), e.g. -ECONNREFUSED, -EMSGSIZE, -EHOSTUNREACH. */
    void (*error_received)(petal_datagram_transport_t *t, int err, void *user);
    /* err: 0 after close/abort, else the fatal error. Last callback. */
    void (*connection_lost)(petal_datagram_transport_t *t, int err, void *user);
    /* Flow control (asyncio's BaseProtocol): the buffered size went above the
     * high-water mark / came back to the low-water mark. */
    void (*pause_writing)(petal_datagram_transport_t *t, void *user);
    void (*resume_writing)(petal_datagram_transport_t *t, void *user);
    void *user;
} petal_datagram_protocol_t;

typedef struct petal_datagram_options {
    /* AF_INET or AF_INET6; AF_UNSPEC (0) takes the addresses' family, and is
     * an error (PETAL_EINVAL) when no address is given. */
    int family;
    bool reuse_port;        /* SO_REUSEPORT before bind */
    bool allow_broadcast;   /* SO_BROADCAST */
} petal_datagram_options_t;

/* Creates a UDP endpoint (non-blocking, close-on-exec socket). local: bind
 * address (NULL: an ephemeral one is chosen at the first send). remote: the
 * peer it is connected to (NULL: unconnected; every sendto names its
 * destination). Both addresses must be of one family. opts may be NULL.
 * Socket errors (EADDRINUSE, EAFNOSUPPORT, ...) are returned as -errno and
 * no transport is made; connection_made is scheduled on success. */
int petal_create_datagram_endpoint(petal_loop_t *loop, const petal_datagram_protocol_t *proto,
                                   const struct sockaddr *local, socklen_t local_len,
                                   const struct sockaddr *remote, socklen_t remote_len,
                                   const petal_datagram_options_t *opts, petal_datagram_transport_t **out);

/* The same with host names and services, resolved off the loop thread
 * (petal/resolve.h), trying each resolved (local, remote) pair of one family
 * in order like asyncio. Any of the four strings may be NULL (local_host NULL
 * with a local_service binds the wildcard address). *out gets a new future
 * (the caller owns it) whose result is the petal_datagram_transport_t *
 * (not owned by the future: it lives until connection_lost), or the error of
 * the last attempt. Cancelling the future before it is done abandons the
 * attempt: no transport is made. */
int petal_create_datagram_endpoint_host(petal_loop_t *loop, const petal_datagram_protocol_t *proto,
                                        const char *local_host, const char *local_service,
                                        const char *remote_host, const char *remote_service,
                                        const petal_datagram_options_t *opts, petal_future_t **out);

/* Adopts an existing UDP socket (asyncio's sock=): petal makes it
 * non-blocking and owns it from now on (closes it after connection_lost). A
 * connected socket becomes a connected endpoint. PETAL_EINVAL if fd is not a
 * datagram socket. */
int petal_datagram_adopt(petal_loop_t *loop, int fd, const petal_datagram_protocol_t *proto,
                         petal_datagram_transport_t **out);

/* Sends one datagram (len may be 0). addr must be NULL or equal to the peer
 * on a connected endpoint (else -EISCONN), and is required on an
 * unconnected one (-EDESTADDRREQ). Returns 0 once the datagram is sent or
 * queued; the kernel's error for it goes to error_received (the call still
 * returns 0). -EPIPE once the transport is closing; PETAL_ENOMEM if it could
 * not be queued. */
int petal_datagram_sendto(petal_datagram_transport_t *t, const void *data, size_t len, const struct sockaddr *addr,
                          socklen_t addrlen);

/* Stops receiving, sends what is queued, then calls connection_lost(0). A
 * second close is a no-op returning PETAL_EALREADY. */
int petal_datagram_close(petal_datagram_transport_t *t);
/* Stops at once: queued datagrams are dropped, connection_lost(0) follows
 * on the next iteration. PETAL_EALREADY if connection_lost is already due. */
int petal_datagram_abort(petal_datagram_transport_t *t);
bool petal_datagram_is_closing(const petal_datagram_transport_t *t);

/* Bytes of datagrams queued and not yet handed to the kernel. */
size_t petal_datagram_get_write_buffer_size(const petal_datagram_transport_t *t);
/* Flow-control marks (asyncio's set_write_buffer_limits), in bytes of queued
 * payload: pause_writing when the size goes above high, resume_writing when
 * it is back at low or below. high == low == 0 restores the defaults (64 KiB
 * and 16 KiB). PETAL_EINVAL if low > high. */
int petal_datagram_set_write_buffer_limits(petal_datagram_transport_t *t, size_t high, size_t low);

/* Local (bound) and peer address; *len is in/out as for getsockname(2).
 * Peer: -ENOTCONN on an unconnected endpoint. */
int petal_datagram_get_sockname(const petal_datagram_transport_t *t, struct sockaddr *addr, socklen_t *len);
int petal_datagram_get_peername(const petal_datagram_transport_t *t, struct sockaddr *addr, socklen_t *len);

/* The socket (for setsockopt and the like; do not close it or read it). */
int petal_datagram_fd(const petal_datagram_transport_t *t);
petal_loop_t *petal_datagram_loop(const petal_datagram_transport_t *t);
/* The protocol's user pointer; petal_datagram_set_protocol replaces the
 * callbacks (asyncio's set_protocol). */
void *petal_datagram_user(const petal_datagram_transport_t *t);
int petal_datagram_set_protocol(petal_datagram_transport_t *t, const petal_datagram_protocol_t *proto);

#ifdef __cplusplus
}
#endif
#endif
