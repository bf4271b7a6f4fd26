/* The loop: lifecycle, one iteration (asyncio's _run_once), run/stop. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loop_internal.h"

int64_t petal_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double petal_time(const petal_loop_t *loop)
{
    (void)loop;
    return (double)petal_now_ns() / 1e9;
}

int64_t petal_time_ns(const petal_loop_t *loop)
{
    (void)loop;
    return petal_now_ns();
}

static const petal_backend_t *find_backend(const char *name)
{
    for (const petal_backend_t *const *b = petal_linked_backends; *b; b++)
        if (!name || strcmp((*b)->name, name) == 0) return *b;
    return NULL;
}

/* Creates a loop on `backend`, attached to `host` if not NULL. For backend
 * implementers: host-mode constructors call this. */
int petal_loop_new_on(petal_loop_t **out, const petal_backend_t *backend, void *host)
{
    if (!out || !backend) return PETAL_EINVAL;
    *out = NULL;
    petal_loop_t *loop = calloc(1, sizeof *loop);
    if (!loop) return PETAL_ENOMEM;
    loop->backend = backend;
    loop->hosted = host != NULL;
    loop->refs = 1;
    loop->free_head = UINT32_MAX;
    loop->wake_fd = -1;
    loop->embed_fd = -1;
    pthread_mutex_init(&loop->ts_lock, NULL);
    int rc = PETAL_ENOMEM;
    if (backend->state_size && !(loop->backend_state = calloc(1, backend->state_size))) goto fail;
    if ((rc = backend->init(loop, host))) goto fail;
    if ((rc = wake_init(loop))) {
        backend->destroy(loop);
        goto fail;
    }
    *out = loop;
    return 0;
fail:
    free(loop->backend_state);
    pthread_mutex_destroy(&loop->ts_lock);
    free(loop);
    return rc;
}

int petal_loop_new_backend(petal_loop_t **out, const char *name)
{
    if (!out || !name) return PETAL_EINVAL;
    const petal_backend_t *b = find_backend(name);
    if (!b) return PETAL_ENOSYS;
    return petal_loop_new_on(out, b, NULL);
}

int petal_loop_new(petal_loop_t **out)
{
    if (!out) return PETAL_EINVAL;
    const char *want = getenv("PETAL_BACKEND");
    if (want && *want) return petal_loop_new_backend(out, want);
    /* First linked backend that works here (io_uring may be blocked). */
    int rc = PETAL_ENOSYS;
    for (const petal_backend_t *const *b = petal_linked_backends; *b; b++)
        if ((rc = petal_loop_new_on(out, *b, NULL)) == 0) return 0;
    return rc;
}

const char *petal_loop_backend(const petal_loop_t *loop)
{
    return loop ? loop->backend->name : NULL;
}

bool petal_loop_is_hosted(const petal_loop_t *loop)
{
    return loop && loop->hosted;
}

void *petal_backend_state(petal_loop_t *loop)
{
    return loop->backend_state;
}

bool petal_loop_on(const petal_loop_t *loop, const petal_backend_t *backend)
{
    return loop && !loop->closed && loop->backend == backend;
}

void petal_loop_set_error_hook(petal_loop_t *loop, petal_error_hook hook, void *arg)
{
    if (!loop) return;
    loop->error_hook = hook;
    loop->error_hook_arg = arg;
}

void petal_core_report(petal_loop_t *loop, int err, int fd, const char *what)
{
    if (loop->error_hook) loop->error_hook(loop, err, fd, what, loop->error_hook_arg);
}

int64_t petal_core_timeout_ns(petal_loop_t *loop)
{
    if (loop->no_wait || loop->ready_len || loop->done_head || loop->stopping ||
        (loop->nsignals && signals_pending(loop)) || atomic_load_explicit(&loop->ts_pending, memory_order_relaxed))
        return 0;
    if (loop->unverified_live) {
        /* About to block while receives wait with their fd unchecked (sock.c).
         * First poll once without blocking: usually I/O is there and serves
         * them. If that poll brought nothing, check them now: none may sleep
         * on a registration that its fd number no longer names. */
        if (loop->zero_poll_iter != loop->iter) {
            loop->zero_poll_iter = loop->iter + 1;
            return 0;
        }
        sock_verify(loop, true);
        if (loop->done_head || loop->ready_len) return 0;
    }
    if (!loop->heap_len) return -1;
    int64_t first = timers_first(loop);
    if (first == INT64_MAX) return -1;
    int64_t d = first - petal_now_ns();
    return d > 0 ? d : 0;
}

int petal_core_timeout_ms(petal_loop_t *loop)
{
    int64_t ns = petal_core_timeout_ns(loop);
    if (ns < 0) return -1;
    int64_t ms = (ns + 999999) / 1000000;
    return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* The second half of an iteration, after I/O was polled: cross-thread calls
 * and signals, then expired timers, then everything that is ready now. */
void petal_core_tick(petal_loop_t *loop)
{
    if (loop->closed || loop->ticking) return;
    loop->ticking = true;
    loop->iter++;
    wake_drain(loop);
    if (loop->done_head) sock_deliver(loop);
    if (loop->heap_len) timers_expire(loop, petal_now_ns());
    ready_run(loop);
    if (loop->n_unverified) sock_verify(loop, false);
    /* stop() while the application itself drives a host loop: nothing to end. */
    if (!loop->running) loop->stopping = false;
    loop->ticking = false;
}

/* One iteration. When no user fd is watched, no socket operation is in the
 * backend's hands (io_uring: it needs no watch, yet completes only when the
 * ring is entered) and nothing can arrive from another thread or a signal,
 * a zero-timeout poll could report nothing: the core then runs without
 * entering the native loop. */
static int iterate(petal_loop_t *loop)
{
    if (!loop->hosted && loop->user_fds == 0 && loop->native_ops == 0 && (loop->ready_len || loop->done_head) &&
        !atomic_load_explicit(&loop->ts_pending, memory_order_relaxed) && !signals_pending(loop)) {
        petal_core_tick(loop);
        return 0;
    }
    return loop->backend->run_once(loop);
}

static int run(petal_loop_t *loop, bool once, petal_future_t *until)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (loop->running) return PETAL_EBUSY;
    loop->running = true;
    do {
        rc = iterate(loop);
        if (rc) break;
    } while (!once && !loop->stopping && !(until && petal_future_done(until)));
    loop->running = false;
    loop->stopping = false;
    return rc;
}

int petal_loop_run(petal_loop_t *loop)
{
    return run(loop, false, NULL);
}

int petal_loop_run_once(petal_loop_t *loop)
{
    return run(loop, true, NULL);
}

int petal_loop_run_until_complete(petal_loop_t *loop, petal_future_t *fut)
{
    if (!fut) return PETAL_EINVAL;
    int rc = loop_check(loop);
    if (rc) return rc;
    if (petal_future_loop(fut) != loop) return PETAL_EINVAL;
    if (!petal_future_done(fut)) {
        if ((rc = run(loop, false, fut))) return rc;
        if (!petal_future_done(fut)) return PETAL_ESTOPPED;
    }
    void *value;
    return petal_future_result(fut, &value);
}

int petal_loop_stop(petal_loop_t *loop)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    loop->stopping = true;
    return 0;
}

bool petal_loop_is_running(const petal_loop_t *loop)
{
    return loop && loop->running;
}

bool petal_loop_is_closed(const petal_loop_t *loop)
{
    return loop && loop->closed;
}

int petal_loop_close(petal_loop_t *loop)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    /* running, or a host loop is inside petal's iteration */
    if (loop->running || loop->ticking) return PETAL_EBUSY;
    locals_destroy(loop);
    sock_deliver(loop);
    futures_spare_free(loop);
    signals_release_all(loop);
    fds_destroy(loop);
    loop->backend->destroy(loop);
    embed_destroy(loop);
    wake_destroy(loop);
    timers_destroy(loop);
    loop->closed = true;
    handles_destroy(loop);
    free(loop->backend_state);
    loop->backend_state = NULL;
    return 0;
}

static void loop_unref(petal_loop_t *loop)
{
    if (--loop->refs == 0) {
        sock_ops_free(loop);
        futures_spare_free(loop);
        pthread_mutex_destroy(&loop->ts_lock);
        free(loop);
    }
}

int petal_loop_free(petal_loop_t *loop)
{
    if (!loop) return PETAL_EINVAL;
    if (loop->running || loop->ticking) return PETAL_EBUSY;
    if (!loop->closed) petal_loop_close(loop);
    loop_unref(loop);
    return 0;
}

void future_loop_release(petal_loop_t *loop)
{
    loop_unref(loop);
}
