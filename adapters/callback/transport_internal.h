/* Private to adapters/callback: the transport object and the two I/O paths
 * (readiness in io_ready.c, completions in io_native.c). */
#ifndef PETAL_TRANSPORT_INTERNAL_H
#define PETAL_TRANSPORT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "petal/future.h"
#include "petal/transport.h"

/* Bytes read per receive. */
#define TRANSPORT_READ_SIZE (64 * 1024)

/* Per loop (registry.c). */
struct registry {
    petal_transport_t *transports;   /* live, linked through prev/next */
    petal_server_t *servers;
    unsigned char rbuf[TRANSPORT_READ_SIZE];    /* readiness receives land here */
};

struct petal_transport {
    petal_loop_t *loop;
    struct registry *reg;
    petal_transport_t *prev, *next;
    const petal_protocol_t *proto;
    void *user;
    int fd;
    unsigned refs;           /* 1 until connection_lost ran, +1 per callback of ours in flight */
    bool native;             /* io_uring completions (io_native.c), else readiness */
    bool closing;            /* close()/abort()/error: no more writes, no more reads */
    bool lost;               /* connection_lost is scheduled */
    bool made;               /* connection_made ran */
    bool paused;             /* user paused reading */
    bool eof_in;             /* the peer's EOF was seen */
    bool eof_req;            /* write_eof() asked */
    bool eof_done;           /* shutdown(SHUT_WR) done */
    bool writing_paused;     /* pause_writing told, resume_writing not yet */
    bool reader_on, writer_on;   /* readiness watches */
    bool reading_cb;         /* completion path: inside data_received */
    int lost_err;
    /* write buffer: bytes [wpos, wlen) of wbuf wait for the kernel */
    unsigned char *wbuf;
    size_t wpos, wlen, wcap;
    size_t high, low;
    /* completion path */
    petal_future_t *rfut, *wfut;
    size_t inflight;         /* bytes of the send in the kernel */
    unsigned char *rbuf;     /* receive buffer of the recv in the kernel */
    size_t rsize;            /* bytes asked of the next recv */
    ssize_t held;            /* result received while paused (bytes in rbuf) */
    bool has_held;
    struct sockaddr_storage peer, local;
    socklen_t peerlen, locallen;
    int peer_err, local_err;
};

/* registry.c: NULL when out of memory */
struct registry *pcb_registry_of(petal_loop_t *loop);
/* The loop is closing: close the fd and free, whatever is pending. */
void pcb_transport_release_at_close(petal_transport_t *t);
void pcb_server_release_at_close(petal_server_t *s);

/* transport.c */
int pcb_transport_new(petal_loop_t *loop, const petal_protocol_t *proto, void *user, int fd, petal_transport_t **out);
void pcb_transport_unref(petal_transport_t *t);
/* Ends the transport now with err (0 = clean): drops the buffer, stops all
 * I/O, schedules connection_lost. No-op if already lost. */
void pcb_transport_force_close(petal_transport_t *t, int err);
/* Data arrived (n > 0), EOF (n == 0) or a receive error (n < 0). */
void pcb_transport_on_read(petal_transport_t *t, const void *data, ssize_t n);
/* The write buffer emptied: resume_writing, write_eof or close as asked. */
void pcb_transport_write_drained(petal_transport_t *t);
void pcb_transport_maybe_resume(petal_transport_t *t);
size_t pcb_transport_buffered(const petal_transport_t *t);
/* Appends to the write buffer (PETAL_ENOMEM). */
int pcb_transport_buffer(petal_transport_t *t, const struct iovec *iov, int iovcnt, size_t skip);
/* Marks the buffer's first n bytes as sent. */
void pcb_transport_consume(petal_transport_t *t, size_t n);

/* io_ready.c / io_native.c: the path's operations */
void pcb_ready_start_reading(petal_transport_t *t);
void pcb_ready_stop_reading(petal_transport_t *t);
int pcb_ready_write(petal_transport_t *t, const struct iovec *iov, int iovcnt, size_t total);
void pcb_ready_stop_all(petal_transport_t *t);
void pcb_native_start_reading(petal_transport_t *t);
void pcb_native_stop_reading(petal_transport_t *t);
int pcb_native_write(petal_transport_t *t, const struct iovec *iov, int iovcnt, size_t total);
void pcb_native_stop_all(petal_transport_t *t);

#endif
