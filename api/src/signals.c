/* The process-wide signal dispatcher.
 *
 * A POSIX signal disposition belongs to the whole process, so each signal has
 * at most one owning loop in the process. petal's handler only marks the
 * signal pending and writes the owner's eventfd (both async-signal-safe); the
 * owner's thread then runs the user's callback as an ordinary callback.
 *
 * This is the one piece of process-wide mutable state in petal, and it is
 * inherent: the kernel's signal table is process-wide too. */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "loop_internal.h"

static pthread_mutex_t owners_lock = PTHREAD_MUTEX_INITIALIZER;
static petal_loop_t *owner[NSIG];           /* guarded by owners_lock */
static struct sigaction saved[NSIG];        /* disposition before petal took it */
static atomic_int owner_fd[NSIG];           /* owner's wake fd + 1 (0: none); read by the handler */
static atomic_int pending[NSIG];
static atomic_int any_pending;

static void on_signal(int signum)
{
    int saved_errno = errno;
    atomic_store(&pending[signum], 1);
    atomic_store(&any_pending, 1);
    int fd = atomic_load(&owner_fd[signum]) - 1;
    if (fd >= 0) (void)eventfd_write(fd, 1);
    errno = saved_errno;
}

static bool valid_signal(int signum)
{
    return signum > 0 && signum < NSIG && signum != SIGKILL && signum != SIGSTOP;
}

int petal_add_signal_handler(petal_loop_t *loop, int signum, petal_cb cb, void *arg)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (!cb || !valid_signal(signum)) return PETAL_EINVAL;
    pthread_mutex_lock(&owners_lock);
    if (owner[signum] && owner[signum] != loop) {
        pthread_mutex_unlock(&owners_lock);
        return PETAL_EEXIST;
    }
    if (!owner[signum]) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigfillset(&sa.sa_mask);
        atomic_store(&pending[signum], 0);
        atomic_store(&owner_fd[signum], loop->wake_fd + 1);
        if (sigaction(signum, &sa, &saved[signum]) != 0) {
            rc = -errno;
            atomic_store(&owner_fd[signum], 0);
            pthread_mutex_unlock(&owners_lock);
            return rc;
        }
        owner[signum] = loop;
        loop->nsignals++;
    }
    loop->sig[signum].cb = cb;
    loop->sig[signum].arg = arg;
    pthread_mutex_unlock(&owners_lock);
    return 0;
}

static void release(petal_loop_t *loop, int signum)
{
    sigaction(signum, &saved[signum], NULL);
    atomic_store(&owner_fd[signum], 0);
    atomic_store(&pending[signum], 0);
    owner[signum] = NULL;
    loop->sig[signum].cb = NULL;
    loop->nsignals--;
}

int petal_remove_signal_handler(petal_loop_t *loop, int signum)
{
    int rc = loop_check(loop);
    if (rc) return rc;
    if (!valid_signal(signum)) return PETAL_EINVAL;
    pthread_mutex_lock(&owners_lock);
    rc = owner[signum] == loop ? 0 : PETAL_ENOENT;
    if (rc == 0) release(loop, signum);
    pthread_mutex_unlock(&owners_lock);
    return rc;
}

void signals_release_all(petal_loop_t *loop)
{
    if (!loop->nsignals) return;
    pthread_mutex_lock(&owners_lock);
    for (int s = 1; s < NSIG && loop->nsignals; s++)
        if (owner[s] == loop) release(loop, s);
    pthread_mutex_unlock(&owners_lock);
}

bool signals_pending(const petal_loop_t *loop)
{
    return loop->nsignals && atomic_load_explicit(&any_pending, memory_order_relaxed);
}

/* Schedules the callback of every pending signal this loop owns. */
void signals_dispatch(petal_loop_t *loop)
{
    atomic_store(&any_pending, 0);
    for (int s = 1; s < NSIG; s++) {
        if (!loop->sig[s].cb || !atomic_exchange(&pending[s], 0)) continue;
        if (schedule(loop, SLOT_SOON, (void *)loop->sig[s].cb, loop->sig[s].arg) < 0) {
            atomic_store(&pending[s], 1);    /* retry on the next iteration */
            atomic_store(&any_pending, 1);
        }
    }
    /* Another loop's signals may still be pending: let it see the flag. */
    for (int s = 1; s < NSIG; s++)
        if (atomic_load(&pending[s])) atomic_store(&any_pending, 1);
}
