/* call_soon_threadsafe and the loop's wakeup fd.
 *
 * Other threads append to a mutex-protected queue and, when it was empty,
 * write the loop's eventfd; the loop swaps the queue out in one lock and
 * schedules its calls. Signal handlers write the same eventfd. */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop_internal.h"

static void on_wake(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)arg;
    (void)status;
    eventfd_t v;
    (void)eventfd_read(fd, &v);  /* nonblocking: EAGAIN when already drained */
    wake_drain(loop);
}

int wake_init(petal_loop_t *loop)
{
    loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (loop->wake_fd < 0) return -errno;
    int rc = fds_watch(loop, loop->wake_fd, on_wake, NULL, false, OWNER_INTERNAL);
    if (rc) {
        close(loop->wake_fd);
        loop->wake_fd = -1;
    }
    return rc;
}

void wake_destroy(petal_loop_t *loop)
{
    if (loop->wake_fd >= 0) close(loop->wake_fd);
    loop->wake_fd = -1;
    pthread_mutex_lock(&loop->ts_lock);
    free(loop->ts_calls);
    loop->ts_calls = NULL;
    loop->ts_len = loop->ts_cap = 0;
    pthread_mutex_unlock(&loop->ts_lock);
}

int petal_call_soon_threadsafe(petal_loop_t *loop, petal_cb cb, void *arg)
{
    if (!loop || !cb) return PETAL_EINVAL;
    pthread_mutex_lock(&loop->ts_lock);
    if (loop->closed) {
        pthread_mutex_unlock(&loop->ts_lock);
        return PETAL_ECLOSED;
    }
    if (loop->ts_len == loop->ts_cap) {
        size_t cap = loop->ts_cap ? loop->ts_cap * 2 : 64;
        struct ts_call *c = realloc(loop->ts_calls, cap * sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&loop->ts_lock);
            return PETAL_ENOMEM;
        }
        loop->ts_calls = c;
        loop->ts_cap = cap;
    }
    loop->ts_calls[loop->ts_len++] = (struct ts_call){ cb, arg };
    bool first = loop->ts_len == 1;
    if (first) atomic_store(&loop->ts_pending, 1);
    pthread_mutex_unlock(&loop->ts_lock);
    if (first) (void)eventfd_write(loop->wake_fd, 1);
    return 0;
}

/* Puts calls that could not be scheduled back in front of the queue. */
static void requeue(petal_loop_t *loop, const struct ts_call *calls, size_t n)
{
    pthread_mutex_lock(&loop->ts_lock);
    struct ts_call *merged = malloc((n + loop->ts_len) * sizeof *merged);
    if (merged) {
        memcpy(merged, calls, n * sizeof *merged);
        if (loop->ts_len) memcpy(merged + n, loop->ts_calls, loop->ts_len * sizeof *merged);
        free(loop->ts_calls);
        loop->ts_calls = merged;
        loop->ts_len += n;
        loop->ts_cap = loop->ts_len;
        atomic_store(&loop->ts_pending, 1);
    }
    pthread_mutex_unlock(&loop->ts_lock);
    petal_core_report(loop, PETAL_ENOMEM, -1,
                      merged ? "call_soon_threadsafe: out of memory, calls delayed"
                             : "call_soon_threadsafe: out of memory, calls lost");
}

/* Moves cross-thread calls to the ready queue and dispatches signals. */
void wake_drain(petal_loop_t *loop)
{
    if (loop->nsignals && signals_pending(loop)) signals_dispatch(loop);
    if (!atomic_load_explicit(&loop->ts_pending, memory_order_acquire)) return;
    pthread_mutex_lock(&loop->ts_lock);
    struct ts_call *calls = loop->ts_calls;
    size_t n = loop->ts_len;
    loop->ts_calls = NULL;
    loop->ts_len = loop->ts_cap = 0;
    atomic_store(&loop->ts_pending, 0);
    pthread_mutex_unlock(&loop->ts_lock);
    for (size_t i = 0; i < n; i++) {
        if (schedule(loop, SLOT_SOON, (void *)calls[i].cb, calls[i].arg) < 0) {
            requeue(loop, calls + i, n - i);
            break;
        }
    }
    free(calls);
}
