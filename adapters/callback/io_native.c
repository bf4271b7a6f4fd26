/* Transports on io_uring: one receive and at most one send in the kernel per
 * transport, submitted through petal/sock.h (completions, no readiness
 * polling). Each done-callback holds a reference on the transport, so a
 * completion that is delivered after connection_lost is simply dropped. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "adapters/callback/transport_internal.h"
#include "petal/sock.h"

static void on_recv(petal_future_t *fut, void *arg);
static void on_send(petal_future_t *fut, void *arg);

/* Receive size adapts to the traffic (as Netty's adaptive allocator): it
 * doubles while receives fill it, up to TRANSPORT_READ_SIZE, and halves
 * after a receive that used less than an eighth. The backend allocates a
 * buffer of this size per receive; small ones stay below malloc's
 * large-request size, where each allocation would consolidate the heap. */
#define RECV_MIN 960

static void adapt(petal_transport_t *t, ssize_t n)
{
    if (n <= 0) return;
    if ((size_t)n == t->rsize && t->rsize < TRANSPORT_READ_SIZE) t->rsize *= 2;
    else if ((size_t)n <= t->rsize / 8 && t->rsize > RECV_MIN) t->rsize /= 2;
    if (t->rsize < RECV_MIN) t->rsize = RECV_MIN;
    if (t->rsize > TRANSPORT_READ_SIZE) t->rsize = TRANSPORT_READ_SIZE;
}

static void submit_recv(petal_transport_t *t)
{
    if (!t->rbuf && !(t->rbuf = malloc(TRANSPORT_READ_SIZE))) {
        pcb_transport_force_close(t, PETAL_ENOMEM);
        return;
    }
    if (!t->rsize) t->rsize = RECV_MIN;
    petal_future_t *f;
    int rc = petal_sock_recv(t->loop, t->fd, t->rbuf, t->rsize, &f);
    if (rc == 0 && (rc = petal_future_add_done_callback(f, on_recv, t))) {
        petal_future_cancel(f);
        petal_future_release(f);
    }
    if (rc) {
        pcb_transport_force_close(t, rc);
        return;
    }
    t->rfut = f;
    t->refs++;
}

/* Bytes received while reading was paused, delivered after resume. */
static void held_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    petal_transport_t *t = arg;
    if (t->has_held && !t->closing && !t->paused) {
        t->has_held = false;
        t->reading_cb = true;
        pcb_transport_on_read(t, t->rbuf, t->held);
        t->reading_cb = false;
        if (!t->closing && !t->paused && !t->eof_in && !t->rfut) submit_recv(t);
    }
    pcb_transport_unref(t);
}

void pcb_native_start_reading(petal_transport_t *t)
{
    if (t->rfut || t->reading_cb || t->lost) return;    /* on_recv/held_cb re-arm when they return */
    if (t->has_held) {
        if (petal_call_soon(t->loop, held_cb, t) >= 0) t->refs++;
        return;
    }
    submit_recv(t);
}

static void on_recv(petal_future_t *fut, void *arg)
{
    petal_transport_t *t = arg;
    ssize_t n = petal_sock_result(fut);
    if (t->rfut == fut) t->rfut = NULL;
    petal_future_release(fut);
    if (t->closing) {    /* cancelled (or overtaken) by close/abort: dropped */
        pcb_transport_unref(t);
        return;
    }
    adapt(t, n);
    if (t->paused) {    /* data, EOF or error: kept for resume_reading */
        t->held = n;
        t->has_held = true;
    } else {
        t->reading_cb = true;
        pcb_transport_on_read(t, t->rbuf, n);
        t->reading_cb = false;
        if (!t->closing && !t->paused && !t->eof_in && !t->rfut) submit_recv(t);
    }
    pcb_transport_unref(t);
}

/* Cancels an operation of ours. If its callback is not scheduled yet it is
 * dropped here (nothing then waits for another loop iteration); otherwise
 * the callback runs, sees the transport closing and drops it. */
static void cancel_op(petal_transport_t *t, petal_future_t *f, petal_future_cb cb)
{
    bool mine = petal_future_remove_done_callback(f, cb, t) == 0;
    petal_future_cancel(f);
    if (mine) {
        petal_future_release(f);
        t->refs--;    /* never the last: connection_lost has not run */
    }
}

void pcb_native_stop_reading(petal_transport_t *t)
{
    /* Only close and abort stop a receive in flight (pause keeps it). */
    if (!t->rfut) return;
    petal_future_t *f = t->rfut;
    t->rfut = NULL;
    cancel_op(t, f, on_recv);
}

/* Sends the whole buffer as one operation (petal_sock_send copies it). */
static int submit_send(petal_transport_t *t, const void *data, size_t len)
{
    petal_future_t *f;
    int rc = petal_sock_send(t->loop, t->fd, data, len, &f);
    if (rc) return rc;
    if ((rc = petal_future_add_done_callback(f, on_send, t))) {
        petal_future_cancel(f);
        petal_future_release(f);
        return rc;
    }
    t->wfut = f;
    t->inflight = len;
    t->refs++;
    return 0;
}

static void flush(petal_transport_t *t)
{
    size_t len = t->wlen - t->wpos;
    int rc = submit_send(t, t->wbuf + t->wpos, len);
    if (rc) pcb_transport_force_close(t, rc);
    else t->wpos = t->wlen = 0;
}

static void on_send(petal_future_t *fut, void *arg)
{
    petal_transport_t *t = arg;
    ssize_t n = petal_sock_result(fut);
    if (t->wfut == fut) t->wfut = NULL;
    petal_future_release(fut);
    if (t->lost) {
        pcb_transport_unref(t);
        return;
    }
    t->inflight = 0;
    if (n < 0) {
        pcb_transport_force_close(t, (int)n);
    } else if (t->wlen > t->wpos) {
        flush(t);
        pcb_transport_maybe_resume(t);
    } else {
        pcb_transport_write_drained(t);
    }
    pcb_transport_unref(t);
}

int pcb_native_write(petal_transport_t *t, const struct iovec *iov, int iovcnt, size_t total)
{
    if (!t->wfut && iovcnt == 1) {
        int rc = submit_send(t, iov[0].iov_base, total);
        if (rc) pcb_transport_force_close(t, rc);
        return 0;
    }
    int rc = pcb_transport_buffer(t, iov, iovcnt, 0);
    if (rc) return rc;    /* nothing was taken: the stream is intact */
    if (!t->wfut) flush(t);
    return 0;
}

void pcb_native_stop_all(petal_transport_t *t)
{
    pcb_native_stop_reading(t);
    t->has_held = false;
    if (t->wfut) {
        petal_future_t *f = t->wfut;
        t->wfut = NULL;
        cancel_op(t, f, on_send);
    }
    t->inflight = 0;
}
