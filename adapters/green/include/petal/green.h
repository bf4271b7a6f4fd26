/* petal green: a gevent-style hub on a petal loop.
 *
 * Greenlets (petal/greenlet.h) written in blocking style: sleep, wait for an
 * fd, recv, send, join, Event, Queue, Semaphore, Timeout, await a future.
 * Each blocking call parks the calling greenlet and switches to whoever runs
 * the loop (normally the hub greenlet); a loop callback switches back.
 *
 * One hub per thread, bound to one loop. How main, the hub and spawned
 * greenlets relate:
 * - the thread's main greenlet creates the hub and spawns greenlets; they do
 *   not run until the loop runs (spawn starts them on the next iteration);
 * - main drives the loop by blocking: petal_green_run() (until every spawned
 *   greenlet has finished), petal_green_join() (until one has), or any other
 *   blocking call. The first such call starts the hub greenlet, whose parent
 *   is main and which runs petal_loop_run(); while main is parked the hub
 *   switches into spawned greenlets from loop callbacks;
 * - callback-style code shares the loop: it spawns greenlets, sets Events,
 *   puts into Queues (no wait), and waits for a greenlet through its future
 *   (petal_green_future). It may also run the loop itself (petal_loop_run from
 *   main, or a hosted native loop): greenlets then switch back to it.
 * - blocking calls are refused with PETAL_EBLOCKING (never a hang) from the
 *   hub greenlet, from any loop callback, and from greenlets the hub did not
 *   spawn (other than main).
 *
 * Return values: 0 (or a count / size / fd) or a negative code: petal/error.h
 * codes, petal/greenlet.h codes, or the ones below. Timeouts are in seconds,
 * on the loop clock: < 0 waits forever, 0 does not wait where the call can
 * answer at once (queue, semaphore, event, join: see each), a positive value
 * bounds the wait; an expired wait returns PETAL_ETIMEDOUT. A greenlet being
 * killed (its cleanup hooks running) gets PETAL_EKILLED from every blocking
 * call, at once.
 *
 * Not thread-safe: every call belongs to the hub's thread, except what
 * petal/loop.h allows (petal_call_soon_threadsafe) to reach it. */
#ifndef PETAL_GREEN_H
#define PETAL_GREEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "petal/future.h"
#include "petal/greenlet.h"
#include "petal/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Hub codes, in -4201..-4299 (the loop core uses -4001.., coro -4101..). */
#define PETAL_EBLOCKING (-4201) /* blocking call from the hub, a loop callback or an unmanaged greenlet */
#define PETAL_ENOHUB    (-4202) /* no hub on this thread (or it belongs to another thread) */
/* Also used: PETAL_ETIMEDOUT (deadline passed), PETAL_EKILLED (killed),
 * -EDEADLK (joining yourself), PETAL_EBUSY (another greenlet already waits on
 * that fd in that direction; freeing an object greenlets wait on),
 * -EAGAIN (queue full/empty or semaphore taken with timeout 0),
 * PETAL_ESTOPPED (petal_loop_stop ended the loop while main waited),
 * PETAL_EEXIST (a second hub on one thread). */

typedef struct petal_hub petal_hub_t;
typedef struct petal_green petal_green_t;

/* The body of a spawned greenlet. Its return value is the greenlet's result
 * (and its future's result value, with no destructor). */
typedef void *(*petal_green_fn)(void *arg);

/* Stack modes for hubs and spawns. 0 means "the default": for a hub, the
 * dedicated mode; for a spawn, the hub's mode. */
enum petal_green_stack {
    PETAL_GREEN_STACK_DEFAULT = 0,
    PETAL_GREEN_STACK_DEDICATED = 1, /* own mmap'd stack: fastest switch */
    PETAL_GREEN_STACK_SHARED = 2     /* copied shared stack: ~400 B per sleeping greenlet */
};

typedef struct petal_green_hub_opts {
    int stack_mode;        /* enum petal_green_stack: default for spawns */
    size_t stack_size;     /* default for spawns; 0: petal/greenlet.h's default */
    size_t hub_stack_size; /* the hub greenlet's own (dedicated) stack, on which
                            * loop callbacks run while it drives the loop; 0: 1 MiB */
} petal_green_hub_opts;

typedef struct petal_green_opts {
    int stack_mode;    /* enum petal_green_stack; 0: the hub's */
    size_t stack_size; /* 0: the hub's */
    const char *name;  /* not copied (a literal, typically); NULL: "green" */
} petal_green_opts;

/* ---- the hub ------------------------------------------------------------ */

/* Makes this thread's hub for loop (opts may be NULL). PETAL_EEXIST if the
 * thread has one; PETAL_EINVAL for NULL or a closed loop. */
int petal_green_hub_new(petal_loop_t *loop, const petal_green_hub_opts *opts, petal_hub_t **out);
/* Kills every live greenlet (their cleanup hooks run), lets the hub greenlet
 * leave the loop (petal_loop_stop, so the current iteration ends), and frees
 * the hub. Handles still held stay valid (dead) until released. Call from the
 * main greenlet: PETAL_EBUSY from anywhere else. */
int petal_green_hub_free(petal_hub_t *hub);
/* This thread's hub, or NULL. */
petal_hub_t *petal_green_hub_current(void);
petal_loop_t *petal_green_hub_loop(const petal_hub_t *hub);

/* From the main greenlet: runs the loop until every spawned greenlet has
 * finished: 0 (at once if none is alive); PETAL_ESTOPPED if
 * petal_loop_stop() ended the loop first; PETAL_EBLOCKING from anywhere else
 * (a greenlet waits with petal_green_joinall). */
int petal_green_run(petal_hub_t *hub);

typedef struct petal_green_stats {
    size_t live;      /* spawned, not finished (includes not yet started) */
    size_t parked;    /* live and waiting for something */
    uint64_t spawned; /* since the hub was made */
    uint64_t finished;
    uint64_t switches; /* switches into greenlets by the hub */
} petal_green_stats;
void petal_green_hub_stats(const petal_hub_t *hub, petal_green_stats *out);

/* ---- greenlets ---------------------------------------------------------- */

/* Spawns fn(arg): O(1), no system call, no stack yet. It starts on the next
 * loop iteration, in spawn order. From anywhere on the hub's thread (a
 * greenlet, main, a loop callback). out NULL: fire and forget (the hub frees
 * it when it finishes); else *out is a handle to release with
 * petal_green_release(). opts may be NULL. */
int petal_green_spawn(petal_hub_t *hub, petal_green_fn fn, void *arg, const petal_green_opts *opts,
                      petal_green_t **out);
petal_green_t *petal_green_retain(petal_green_t *g);
void petal_green_release(petal_green_t *g);

/* The spawned greenlet running now, or NULL (main, the hub, a callback). */
petal_green_t *petal_green_current(void);

enum petal_green_state {
    PETAL_GREEN_PENDING = 0, /* spawned, not started yet */
    PETAL_GREEN_RUNNING = 1, /* the current greenlet */
    PETAL_GREEN_PARKED = 2,  /* waiting in a blocking call (or ready to resume) */
    PETAL_GREEN_DEAD = 3     /* finished: returned, exited or killed */
};
int petal_green_state(const petal_green_t *g);
const char *petal_green_name(const petal_green_t *g);
/* A dead greenlet's outcome: 0 and *value (its return value); its exit code
 * (petal_green_exit); PETAL_EKILLED. PETAL_EINVALSTATE while not dead. */
int petal_green_result(const petal_green_t *g, void **value);

/* A new reference to the greenlet's completion future (made on first call):
 * its result is the return value, or the exit code / PETAL_EKILLED as an
 * error. Callback code waits on it with petal_future_add_done_callback. */
int petal_green_future(petal_green_t *g, petal_future_t **out);

/* Ends the current spawned greenlet with err (< 0, or 0 for a NULL result):
 * cleanup hooks run, joiners wake, the future fails with err. Does not
 * return, except PETAL_EINVAL (err > 0) and PETAL_EBLOCKING (not a spawned
 * greenlet). */
int petal_green_exit(int err);

/* Waits until g is dead: 0 (read the outcome with petal_green_result),
 * PETAL_ETIMEDOUT, -EDEADLK for the current greenlet. timeout 0 only checks. */
int petal_green_join(petal_green_t *g, double timeout_s);
/* Waits until all n are dead, or the timeout: returns how many are dead
 * (n when all are), or a negative code. NULL entries count as dead. */
int petal_green_joinall(petal_green_t *const *gs, size_t n, double timeout_s);

/* Kills g now: an unstarted greenlet never runs; a parked one's wait is
 * cancelled (timer, reader, future), then it unwinds through its cleanup
 * hooks (petal_greenlet_cleanup_push) and dies with PETAL_EKILLED; its
 * joiners wake. Returns when g is dead (0). Killing the current greenlet does
 * not return. Killing a dead one: 0. Allowed from anywhere on the thread. */
int petal_green_kill(petal_green_t *g);
/* Kills each in order; 0. */
int petal_green_killall(petal_green_t *const *gs, size_t n);

/* ---- waiting ------------------------------------------------------------ */

/* Parks for at least seconds. sleep(0) yields: every greenlet and callback
 * already ready runs first, and I/O is polled before the caller resumes. */
int petal_green_sleep(double seconds);
int petal_green_sleep_ns(int64_t ns);

/* Waits until fd is readable / writable (level-triggered readiness). 0,
 * PETAL_ETIMEDOUT, PETAL_ECANCELED (petal_fd_closing), PETAL_EBUSY (another
 * greenlet waits on it in that direction), loop errors (PETAL_EBADF...). */
int petal_green_wait_readable(int fd, double timeout_s);
int petal_green_wait_writable(int fd, double timeout_s);

/* Cooperative socket calls through petal_sock_* (io_uring completions on
 * that backend). On timeout or kill the operation is cancelled: for send,
 * an unknown prefix of buf may have gone out. */
int petal_green_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, double timeout_s);
/* The new fd (non-blocking, close-on-exec), or a negative code. */
int petal_green_accept(int fd, double timeout_s);
/* Bytes received (0 at end of stream), or a negative code. */
ssize_t petal_green_recv(int fd, void *buf, size_t len, double timeout_s);
/* Sends all len bytes (gevent's sendall): len, or a negative code. */
ssize_t petal_green_sendall(int fd, const void *buf, size_t len, double timeout_s);
/* The same as petal_green_sendall (gevent's send may send less; petal's
 * socket calls always send everything). */
ssize_t petal_green_send(int fd, const void *buf, size_t len, double timeout_s);

/* Waits for a petal future of the hub's loop: its status (as
 * petal_future_result, *value set on success; value may be NULL), or
 * PETAL_ETIMEDOUT (the future is left as it is). */
int petal_green_await(petal_future_t *fut, double timeout_s, void **value);

/* ---- Timeout: a scoped deadline ---------------------------------------- */

/* Lives in the caller's frame; begin/end must nest (LIFO) within one
 * greenlet (or main). Every blocking call between them fails with
 * PETAL_ETIMEDOUT once the deadline has passed. seconds < 0: no deadline. */
typedef struct petal_green_timeout {
    int64_t deadline_ns; /* private */
    int64_t saved_ns;    /* private: the enclosing scopes' deadline */
    void *owner;         /* private: the greenlet that opened it */
    void *saved_top;     /* private: the enclosing scope */
} petal_green_timeout;
int petal_green_timeout_begin(petal_green_timeout *t, double seconds);
/* Closes the scope: 1 if its deadline has passed, 0 if not, PETAL_EINVAL if
 * t is not the innermost open scope of the caller. */
int petal_green_timeout_end(petal_green_timeout *t);

/* ---- Event -------------------------------------------------------------- */

typedef struct petal_green_event petal_green_event;
int petal_green_event_new(petal_hub_t *hub, petal_green_event **out);
/* PETAL_EBUSY while greenlets wait on it. */
int petal_green_event_free(petal_green_event *ev);
/* Sets the flag and wakes every waiter, in the order they waited. From
 * anywhere on the thread (callbacks too). */
int petal_green_event_set(petal_green_event *ev);
int petal_green_event_clear(petal_green_event *ev);
bool petal_green_event_is_set(const petal_green_event *ev);
/* 0 if the flag is set or was set during the wait (even if cleared since),
 * PETAL_ETIMEDOUT otherwise (timeout 0: at once). */
int petal_green_event_wait(petal_green_event *ev, double timeout_s);

/* ---- Queue (FIFO of pointers; waiters served in order) ----------------- */

typedef struct petal_green_queue petal_green_queue;
/* maxsize 0: unbounded. */
int petal_green_queue_new(petal_hub_t *hub, size_t maxsize, petal_green_queue **out);
int petal_green_queue_free(petal_green_queue *q); /* PETAL_EBUSY while waited on */
/* put: 0, -EAGAIN (full, timeout 0), PETAL_ETIMEDOUT. Callbacks may put with
 * timeout 0. */
int petal_green_queue_put(petal_green_queue *q, void *item, double timeout_s);
/* get: 0 and *item, -EAGAIN (empty, timeout 0), PETAL_ETIMEDOUT. */
int petal_green_queue_get(petal_green_queue *q, void **item, double timeout_s);
size_t petal_green_queue_size(const petal_green_queue *q);

/* ---- Semaphore and Lock (no owner: anyone may release) ----------------- */

typedef struct petal_green_sem petal_green_sem;
/* max 0: unbounded; else release beyond max is PETAL_EINVALSTATE. */
int petal_green_sem_new(petal_hub_t *hub, unsigned value, unsigned max, petal_green_sem **out);
int petal_green_sem_free(petal_green_sem *s); /* PETAL_EBUSY while waited on */
/* 0, -EAGAIN (taken, timeout 0), PETAL_ETIMEDOUT. FIFO among waiters. */
int petal_green_sem_acquire(petal_green_sem *s, double timeout_s);
int petal_green_sem_release(petal_green_sem *s);
unsigned petal_green_sem_value(const petal_green_sem *s);
/* A Lock is a semaphore with value 1 and max 1. */
int petal_green_lock_new(petal_hub_t *hub, petal_green_sem **out);

/* ---- debugging ---------------------------------------------------------- */

/* Prints every live greenlet of this thread's hub, one line each:
 *   green <id> "<name>" <state> wait=<what> stack=<mode> used=<bytes>
 * (docs/green.md lists the wait forms). PETAL_ENOHUB without a hub. */
int petal_green_dump(FILE *out);
/* Installs a handler on the hub's loop (petal_add_signal_handler) that
 * dumps to out when signum arrives (Go's SIGQUIT dump). signum 0 removes it. */
int petal_green_dump_on_signal(petal_hub_t *hub, int signum, FILE *out);

/* Describes hub codes, then greenlet and loop codes. Never NULL. */
const char *petal_green_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif
