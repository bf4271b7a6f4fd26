/* The backend interface: what a native loop must provide to petal. This is
 * for backend implementers, not applications.
 *
 * The core (api/) owns ordering: ready queue, timers, handles, the fd table,
 * futures, signals, cross-thread wakeup. A backend only waits for fd
 * readiness and runs the core at the right point of its native iteration:
 *
 *   native iteration:  before blocking, ask petal_core_timeout_ns();
 *                      poll; report each ready fd with petal_core_io();
 *                      then call petal_core_tick() once.
 */
#ifndef PETAL_BACKEND_H
#define PETAL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "petal/future.h"
#include "petal/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { PETAL_READABLE = 1, PETAL_WRITABLE = 2 };

/* A socket operation (petal/sock.h) in flight. */
typedef enum { PETAL_OP_RECV, PETAL_OP_SEND, PETAL_OP_ACCEPT, PETAL_OP_CONNECT } petal_op_kind;

typedef struct petal_sock_op {
    /* What every operation uses comes first (one cache line); the address
     * last, as only connect and small sends touch it. */
    petal_op_kind kind;
    int fd;
    void *buf;                      /* RECV: the user's buffer; SEND: the bytes (with
                                     * sock_submit: the caller's, readable only during
                                     * sock_submit, which copies them) */
    size_t len;
    petal_future_t *fut;
    struct petal_sock_op *next;     /* core: per-fd queue, then completion list */
    ssize_t result;                 /* core: result waiting to be delivered */
    void *backend;                  /* the backend's per-operation state */
    bool completed;                 /* core: on the completion list */
    socklen_t addrlen;
    size_t done;                    /* SEND: bytes sent so far */
    struct sockaddr_storage addr;   /* CONNECT; SEND: a small send's bytes (buf points here) */
} petal_sock_op_t;

typedef struct petal_backend {
    const char *name;
    size_t state_size;   /* bytes of backend state, see petal_backend_state() */
    /* host: the application's native loop to attach to, or NULL for a loop
     * that petal creates and owns. */
    int (*init)(petal_loop_t *loop, void *host);
    /* Releases every native resource; for a host loop, leaves the host usable. */
    void (*destroy)(petal_loop_t *loop);
    /* Runs one native iteration (which calls petal_core_tick()). */
    int (*run_once)(petal_loop_t *loop);
    /* Sets the readiness interest of fd to events (PETAL_READABLE|WRITABLE,
     * 0 = none). *fd_state is the backend's per-fd slot, NULL at first. */
    int (*fd_watch)(petal_loop_t *loop, int fd, void **fd_state, unsigned events);
    /* Drops fd synchronously and frees *fd_state: the fd is about to be
     * closed, or was closed and its number reused. */
    void (*fd_forget)(petal_loop_t *loop, int fd, void **fd_state);
    /* Host mode only: petal got new work (a first ready callback, a new
     * earliest deadline) outside the native loop's hooks. Make sure the
     * native loop stays alive and runs the core in time. */
    void (*host_wakeup)(petal_loop_t *loop);
    /* Optional completion path for socket operations (io_uring). When NULL,
     * the core performs them on readiness. sock_submit starts op and later
     * reports it once with petal_core_sock_done() (not from inside
     * sock_submit). sock_cancel stops it: when it returns, the kernel must
     * never touch op->buf again, and petal_core_sock_done() must not be
     * called for op any more (the core has already finished it). */
    int (*sock_submit)(petal_loop_t *loop, petal_sock_op_t *op);
    void (*sock_cancel)(petal_loop_t *loop, petal_sock_op_t *op);
    /* Optional, for embedding: an fd that is readable when the backend has
     * completions of its own to process (io_uring's ring fd). */
    int (*embed_fd)(petal_loop_t *loop);
    /* A readiness request keeps the file open after close() (io_uring's
     * POLL_ADD holds a reference): the core then never leaves a watch armed
     * that no socket operation waits on, or a closed socket would stay open. */
    bool readiness_pins_fd;
} petal_backend_t;

void *petal_backend_state(petal_loop_t *loop);
/* True if loop is open and runs on backend: the check behind each backend's
 * accessor for its native loop (petal_loop_uv() and the like). */
bool petal_loop_on(const petal_loop_t *loop, const petal_backend_t *backend);

/* How long the native loop may block: 0 when callbacks are ready, -1 when
 * there are no timers, else nanoseconds until the earliest deadline. */
int64_t petal_core_timeout_ns(petal_loop_t *loop);
/* Rounded up to whole milliseconds (timers are never early); -1 = forever. */
int petal_core_timeout_ms(petal_loop_t *loop);
/* fd became ready for events (level-triggered: report it on every poll). */
void petal_core_io(petal_loop_t *loop, int fd, unsigned events);
/* The native loop says fd failed (closed, invalid): its watchers are woken
 * with err and dropped, and the error hook is told. */
void petal_core_io_error(petal_loop_t *loop, int fd, int err);
/* Runs expired timers and the callbacks that are ready now. */
void petal_core_tick(petal_loop_t *loop);
/* Checks that fd still names the file petal registered (not closed, number
 * not reused). Backends that apply fd changes lazily call it before handing
 * a changed fd to the kernel; on failure the watch is dropped and reported
 * (as petal_core_io_error) and the error is returned. */
int petal_core_fd_check(petal_loop_t *loop, int fd);
/* True for fds the loop uses itself (they must not keep a host loop alive). */
bool petal_core_fd_internal(petal_loop_t *loop, int fd);
/* Creates a loop on `backend`, attached to the native loop `host` if not
 * NULL. Backends' host-mode constructors call this. */
int petal_loop_new_on(petal_loop_t **out, const petal_backend_t *backend, void *host);
/* The backends linked into this program, NULL-terminated, in order of
 * preference; each link-time target (//:petal_uv, ...) defines it. */
extern const petal_backend_t *const petal_linked_backends[];

/* Completes a submitted socket operation: result >= 0 (bytes, new fd, 0)
 * or a negative error code. The core delivers it at the start of the next
 * petal_core_tick() and frees op. */
void petal_core_sock_done(petal_loop_t *loop, petal_sock_op_t *op, ssize_t result);

/* Reports a problem through the loop's error hook. */
void petal_core_report(petal_loop_t *loop, int err, int fd, const char *what);

#ifdef __cplusplus
}
#endif
#endif
