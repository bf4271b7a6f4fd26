/* The per-loop worker pool behind petal_run_in_executor.
 *
 * A job is owned by the loop thread (it sits on the pool's `jobs` list until
 * it is finished with); workers only take queued jobs and hand back a result
 * on the pool's `done` list under the pool's mutex, then write the pool's
 * eventfd. The loop thread reads that eventfd with an ordinary reader, which
 * is registered only while jobs are outstanding: like libuv's work requests,
 * pending work keeps a host loop (uv_run, ev_run, ...) running until its
 * result is delivered, and an idle pool keeps nothing alive.
 * A job is freed when both its pipeline (queue, worker, delivery) and the
 * done-callback on its future have let go of it (refs), or at loop close. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

#define DEFAULT_WORKERS 4
#define MAX_WORKERS 64
#define IDLE_EXIT_NS (5 * 1000000000LL)

enum job_state { QUEUED, RUNNING, DONE, DROPPED };

struct job {
    struct job *prev, *next;     /* pool->jobs (loop thread) */
    struct job *qnext;           /* pool->queue, then pool->done (under mu) */
    struct pool *pool;
    petal_work_fn fn;
    void *arg;
    petal_dtor arg_dtor;
    petal_future_t *fut;         /* one reference */
    enum job_state state;        /* under mu */
    int refs;                    /* pipeline + done-callback (loop thread) */
    int rc;                      /* result, valid once DONE */
    void *value;
    petal_dtor dtor;
};

struct worker {
    pthread_t tid;
    bool exited;                 /* under mu: ready to be joined */
    struct worker *next;
    struct pool *pool;
};

struct pool {
    petal_loop_t *loop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *qhead, *qtail;   /* under mu */
    unsigned queued, idle, nthreads, max;  /* under mu */
    int64_t idle_ns;             /* under mu */
    bool closing;                /* under mu */
    struct job *dhead, *dtail;   /* results to deliver (under mu) */
    int efd;                     /* eventfd: workers say results are waiting */
    struct worker *workers;      /* list changed by the loop thread only */
    struct job *jobs;            /* loop thread */
    unsigned outstanding;        /* loop thread: jobs given to workers, not delivered or dropped */
    bool watching;               /* loop thread: reader on efd registered */
};

static const char pool_key;

static void job_unlink(struct pool *p, struct job *j)
{
    if (j->prev) j->prev->next = j->next;
    else p->jobs = j->next;
    if (j->next) j->next->prev = j->prev;
}

/* Releases what the job still holds: arg, an undelivered result, the future. */
static void job_free(struct job *j)
{
    if (j->arg_dtor) j->arg_dtor(j->arg);
    if (j->dtor && j->value) j->dtor(j->value);
    petal_future_release(j->fut);
    free(j);
}

static void job_unref(struct job *j)
{
    if (--j->refs) return;
    job_unlink(j->pool, j);
    job_free(j);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pool *p = w->pool;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->qhead && !p->closing) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            int64_t ns = until.tv_nsec + p->idle_ns;
            until.tv_sec += (time_t)(ns / 1000000000);
            until.tv_nsec = (long)(ns % 1000000000);
            p->idle++;
            int rc = pthread_cond_timedwait(&p->cv, &p->mu, &until);
            p->idle--;
            if (rc == ETIMEDOUT && !p->qhead) goto out;
        }
        if (p->closing) break;
        struct job *j = p->qhead;
        p->qhead = j->qnext;
        if (!p->qhead) p->qtail = NULL;
        p->queued--;
        j->state = RUNNING;
        pthread_mutex_unlock(&p->mu);

        void *value = NULL;
        petal_dtor dtor = NULL;
        int rc = j->fn(j->arg, &value, &dtor);

        pthread_mutex_lock(&p->mu);
        j->rc = rc > 0 ? PETAL_EINVAL : rc;
        j->value = value;
        j->dtor = dtor;
        j->state = DONE;
        j->qnext = NULL;
        bool first = !p->dhead;
        if (p->dtail) p->dtail->qnext = j;
        else p->dhead = j;
        p->dtail = j;
        if (first) (void)eventfd_write(p->efd, 1);
    }
out:
    p->nthreads--;
    w->exited = true;
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* Loop thread: hands the result to the future, or destroys it when the
 * future was cancelled meanwhile. */
static void deliver(petal_loop_t *loop, void *arg)
{
    (void)loop;
    struct job *j = arg;
    if (j->arg_dtor) j->arg_dtor(j->arg);
    j->arg_dtor = NULL;
    if (!petal_future_done(j->fut)) {
        int rc = j->rc ? petal_future_set_error(j->fut, j->rc) : petal_future_set_result(j->fut, j->value, j->dtor);
        if (rc == 0) j->value = NULL, j->dtor = NULL;   /* the future owns it */
    }
    if (j->dtor && j->value) j->dtor(j->value);
    j->value = NULL;
    j->dtor = NULL;
    job_unref(j);
}

/* The reader on efd exists exactly while jobs are outstanding. */
static void on_results(petal_loop_t *loop, int fd, int status, void *arg);

static void outstanding_add(struct pool *p, int delta)
{
    p->outstanding += (unsigned)delta;
    if (p->outstanding && !p->watching) {
        /* Should this fail (out of memory), results still arrive with the
         * next job that manages to register it, or are freed at close. */
        p->watching = petal_add_reader(p->loop, p->efd, on_results, p) == 0;
    } else if (!p->outstanding && p->watching) {
        petal_remove_reader(p->loop, p->efd);
        p->watching = false;
    }
}

static void on_results(petal_loop_t *loop, int fd, int status, void *arg)
{
    struct pool *p = arg;
    if (status < 0) {             /* someone announced our fd closing */
        p->watching = false;
        return;
    }
    eventfd_t v;
    (void)eventfd_read(fd, &v);
    pthread_mutex_lock(&p->mu);
    struct job *j = p->dhead;
    p->dhead = p->dtail = NULL;
    pthread_mutex_unlock(&p->mu);
    int n = 0;
    while (j) {
        struct job *next = j->qnext;
        deliver(loop, j);
        j = next;
        n++;
    }
    outstanding_add(p, -n);
}

/* Done-callback on the job's future: a cancelled job that no worker took yet
 * is dropped without running. */
static void on_future_done(petal_future_t *fut, void *arg)
{
    struct job *j = arg;
    struct pool *p = j->pool;
    bool dropped = false;
    if (petal_future_cancelled(fut)) {
        pthread_mutex_lock(&p->mu);
        if (j->state == QUEUED) {
            struct job **pp = &p->qhead, *prev = NULL;
            while (*pp != j) prev = *pp, pp = &(*pp)->qnext;
            *pp = j->qnext;
            if (p->qtail == j) p->qtail = prev;
            p->queued--;
            j->state = DROPPED;
            dropped = true;
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (dropped) {
        job_unref(j);            /* the pipeline's reference */
        outstanding_add(p, -1);
    }
    job_unref(j);
}

/* Joins workers that left after idling (loop thread). */
static void reap(struct pool *p, bool all)
{
    for (struct worker **pp = &p->workers; *pp;) {
        struct worker *w = *pp;
        pthread_mutex_lock(&p->mu);
        bool gone = w->exited;
        pthread_mutex_unlock(&p->mu);
        if (!gone && !all) {
            pp = &w->next;
            continue;
        }
        pthread_join(w->tid, NULL);
        *pp = w->next;
        free(w);
    }
}

static void pool_destroy(void *arg)
{
    struct pool *p = arg;
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    reap(p, true);   /* running jobs finish first */
    if (p->watching) petal_remove_reader(p->loop, p->efd);
    if (p->efd >= 0) {
        (void)petal_fd_closing(p->loop, p->efd);
        close(p->efd);
    }
    while (p->jobs) {
        struct job *j = p->jobs;
        p->jobs = j->next;
        job_free(j);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static int pool_get(petal_loop_t *loop, struct pool **out)
{
    if (!loop) return PETAL_EINVAL;
    if (petal_loop_is_closed(loop)) return PETAL_ECLOSED;
    struct pool *p = petal_loop_get_local(loop, &pool_key);
    if (!p) {
        if (!(p = calloc(1, sizeof *p))) return PETAL_ENOMEM;
        p->loop = loop;
        p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->efd < 0) {
            int err = -errno;
            free(p);
            return err;
        }
        p->max = DEFAULT_WORKERS;
        p->idle_ns = IDLE_EXIT_NS;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&p->cv, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&p->mu, NULL);
        int rc = petal_loop_set_local(loop, &pool_key, p, pool_destroy);
        if (rc) {
            pool_destroy(p);
            return rc;
        }
    }
    *out = p;
    return 0;
}

/* Starts a worker with every signal blocked: signals belong to the loop. */
static int spawn(struct pool *p)
{
    struct worker *w = calloc(1, sizeof *w);
    if (!w) return PETAL_ENOMEM;
    w->pool = p;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_mutex_lock(&p->mu);
    int rc = pthread_create(&w->tid, NULL, worker_main, w);
    if (rc == 0) p->nthreads++;
    pthread_mutex_unlock(&p->mu);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        free(w);
        return -rc;
    }
    w->next = p->workers;
    p->workers = w;
    return 0;
}

static int job_new(struct pool *p, petal_future_t **out, struct job **jout)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j) return PETAL_ENOMEM;
    int rc = petal_future_new(p->loop, &j->fut);
    if (rc == 0 && (rc = petal_future_add_done_callback(j->fut, on_future_done, j)))
        petal_future_release(j->fut);
    if (rc) {
        free(j);
        return rc;
    }
    j->pool = p;
    j->refs = 2;
    j->next = p->jobs;
    if (p->jobs) p->jobs->prev = j;
    p->jobs = j;
    *out = petal_future_retain(j->fut);
    *jout = j;
    return 0;
}

/* Undoes job_new for a job no one has seen yet. */
static void job_discard(struct job *j, petal_future_t *user_ref)
{
    (void)petal_future_remove_done_callback(j->fut, on_future_done, j);
    petal_future_release(user_ref);
    j->arg_dtor = NULL;
    job_unlink(j->pool, j);
    job_free(j);
}

int petal_run_in_executor(petal_loop_t *loop, petal_work_fn fn, void *arg, petal_dtor arg_dtor,
                          petal_future_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (!fn) return PETAL_EINVAL;
    struct pool *p;
    int rc = pool_get(loop, &p);
    if (rc) return rc;
    reap(p, false);
    struct job *j;
    petal_future_t *fut;
    if ((rc = job_new(p, &fut, &j))) return rc;
    j->fn = fn;
    j->arg = arg;
    j->arg_dtor = arg_dtor;

    /* Queue and decide in one critical section: a worker leaving after its
     * idle wait can then never leave a job behind. */
    pthread_mutex_lock(&p->mu);
    j->state = QUEUED;
    if (p->qtail) p->qtail->qnext = j;
    else p->qhead = j;
    p->qtail = j;
    p->queued++;
    bool need = p->queued > p->idle && p->nthreads < p->max;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (need && (rc = spawn(p))) {
        pthread_mutex_lock(&p->mu);
        bool stranded = p->nthreads == 0;   /* then j is the only queued job */
        if (stranded) {
            p->qhead = p->qtail = NULL;
            p->queued = 0;
        }
        pthread_mutex_unlock(&p->mu);
        if (stranded) {
            job_discard(j, fut);
            return rc;
        }
    }
    outstanding_add(p, 1);
    *out = fut;
    return 0;
}

int executor_complete_soon(petal_loop_t *loop, int rc, void *value, petal_dtor dtor, petal_future_t **out)
{
    struct pool *p;
    int err = pool_get(loop, &p);
    struct job *j;
    petal_future_t *fut;
    if (err || (err = job_new(p, &fut, &j))) {
        if (dtor && value) dtor(value);
        return err;
    }
    j->state = DONE;
    j->rc = rc;
    j->value = value;
    j->dtor = dtor;
    petal_handle_t h = petal_call_soon(loop, deliver, j);
    if (h < 0) {
        job_discard(j, fut);
        return (int)h;
    }
    *out = fut;
    return 0;
}

int petal_executor_set_max_workers(petal_loop_t *loop, unsigned n)
{
    if (n < 1 || n > MAX_WORKERS) return PETAL_EINVAL;
    struct pool *p;
    int rc = pool_get(loop, &p);
    if (rc) return rc;
    pthread_mutex_lock(&p->mu);
    p->max = n;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int petal_executor_set_idle_timeout(petal_loop_t *loop, double seconds)
{
    if (!(seconds > 0 && seconds < 1e9)) return PETAL_EINVAL;   /* also NaN */
    struct pool *p;
    int rc = pool_get(loop, &p);
    if (rc) return rc;
    pthread_mutex_lock(&p->mu);
    p->idle_ns = (int64_t)(seconds * 1e9);
    if (p->idle_ns < 1) p->idle_ns = 1;
    pthread_mutex_unlock(&p->mu);
    return 0;
}

int petal_executor_max_workers(petal_loop_t *loop)
{
    struct pool *p;
    int rc = pool_get(loop, &p);
    if (rc) return rc;
    pthread_mutex_lock(&p->mu);
    int n = (int)p->max;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int petal_executor_workers(petal_loop_t *loop)
{
    struct pool *p;
    int rc = pool_get(loop, &p);
    if (rc) return rc;
    pthread_mutex_lock(&p->mu);
    int n = (int)p->nthreads;
    pthread_mutex_unlock(&p->mu);
    return n;
}
