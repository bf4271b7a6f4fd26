/* The libev backend.
 *
 * One native iteration (ev_run with EVRUN_ONCE) is one petal iteration, in
 * both modes: the ev_prepare callback tells libev how long it may block (an
 * active ev_idle forces a zero timeout, one ev_timer carries petal's earliest
 * deadline), and the ev_check callback, after the poll, runs the core.
 *
 * Each watched fd gets one ev_io. libev habits papered over here:
 * - pending watchers run highest priority first, and within a priority in
 *   reverse order of queueing: the check hook (queued after the poll's I/O)
 *   would run before the I/O callbacks of the same iteration. It gets
 *   EV_MINPRI so readiness always reaches the core before the tick.
 * - libev caches its clock: ev_now_update() before arming the timer, or it
 *   would count from the last poll and fire early.
 * - only the highest-priority idle watchers run, so ours (which only forces a
 *   zero timeout) sits at EV_MINPRI and never starves an application's.
 * - fd changes are applied lazily in fd_reify, after the prepare watchers,
 *   and libev 4.33 (built with assertions, as Debian does) aborts when
 *   epoll_ctl says EBADF. The prepare hook therefore checks every changed fd
 *   and sits at EV_MINPRI, so it runs after the application's prepare
 *   watchers: a closed fd (or a reused number) never reaches epoll under a
 *   stale watch. Where libev does report a bad fd (EV_ERROR: the select
 *   backend, or epoll out of resources) it becomes petal_core_io_error().
 * - ev_unref() is a loop-wide counter, not a watcher flag: every unreferenced
 *   watcher is re-referenced right before it stops (and when libev stops it
 *   on EV_ERROR), or a host's ev_run() would return too early or never. */
#include <stdlib.h>

#include "petal/backend.h"
#include "petal/ev.h"

struct evb {
    petal_loop_t *loop;
    struct ev_loop *ev;
    bool owned;
    ev_prepare prepare;
    ev_check check;
    ev_idle idle;
    ev_timer timer;
    struct evfd *dirty;        /* fds changed since the last poll */
};

struct evfd {
    ev_io io;
    struct evb *b;
    int fd;
    bool unref;                /* host mode, internal fd: not counted by ev_run */
    bool is_dirty;
    struct evfd *next_dirty;
};

static struct evb *state(petal_loop_t *loop)
{
    return petal_backend_state(loop);
}

static void on_idle(struct ev_loop *ev, ev_idle *w, int revents) { (void)ev; (void)w; (void)revents; }
static void on_timer(struct ev_loop *ev, ev_timer *w, int revents);

static void check_dirty(struct evb *b)
{
    while (b->dirty) {
        struct evfd *f = b->dirty;
        b->dirty = f->next_dirty;
        f->is_dirty = false;
        /* May drop f (petal_core_io_error -> fd_forget frees it). */
        petal_core_fd_check(b->loop, f->fd);
    }
}

/* Sets libev's timeout for the coming poll: an active idle watcher forces
 * zero, the timer carries petal's earliest deadline. Both are referenced, so
 * they also keep a host's ev_run() alive while petal has work. */
static void arm(struct evb *b)
{
    int64_t ns = petal_core_timeout_ns(b->loop);
    if (ns == 0) {
        if (!ev_is_active(&b->idle)) ev_idle_start(b->ev, &b->idle);
    } else if (ev_is_active(&b->idle)) {
        ev_idle_stop(b->ev, &b->idle);
    }
    if (ev_is_active(&b->timer)) ev_timer_stop(b->ev, &b->timer);
    if (ns > 0) {
        ev_now_update(b->ev);    /* libev counts from its cached time */
        ev_timer_set(&b->timer, (ev_tstamp)ns / 1e9, 0.);
        ev_timer_start(b->ev, &b->timer);
    }
}

/* libev has stopped the timer when this runs. If petal then finds nothing
 * due (the application's callback in this same iteration cancelled the due
 * timer, or the native clock ran ahead), no referenced watcher of petal's is
 * left active, and a host's ev_run(host, 0) would end with petal's later
 * timers still pending (its prepare hook, which re-arms, only runs if
 * another iteration starts). So re-arm here, as the libuv backend does.
 * Owned loops need not: petal_loop_run() starts every iteration itself. */
static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)ev;
    (void)revents;
    struct evb *b = w->data;
    if (!b->owned) arm(b);
}

static void on_prepare(struct ev_loop *ev, ev_prepare *w, int revents)
{
    (void)ev;
    (void)revents;
    struct evb *b = w->data;
    check_dirty(b);
    arm(b);
}

static void on_check(struct ev_loop *ev, ev_check *w, int revents)
{
    (void)revents;
    struct evb *b = w->data;
    petal_loop_t *loop = b->loop;
    petal_core_tick(loop);
    if (petal_loop_is_closed(loop)) return;    /* by a callback: b is gone */
    /* petal has no work left: a host's ev_run() ends with this iteration
     * rather than after one more poll for a deadline already served. (An
     * owned loop's ev_run(EVRUN_ONCE) ends anyway, and its next prepare
     * re-arms.) */
    if (!b->owned && petal_core_timeout_ns(loop) < 0) {
        if (ev_is_active(&b->idle)) ev_idle_stop(ev, &b->idle);
        if (ev_is_active(&b->timer)) ev_timer_stop(ev, &b->timer);
    }
}

static void evb_host_wakeup(petal_loop_t *loop)
{
    arm(state(loop));
}

static int evb_init(petal_loop_t *loop, void *host)
{
    struct evb *b = state(loop);
    b->loop = loop;
    b->owned = host == NULL;
    /* Never the default loop: that one takes SIGCHLD for ev_child. */
    b->ev = host ? host : ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!b->ev) return PETAL_ENOMEM;
    ev_prepare_init(&b->prepare, on_prepare);
    ev_check_init(&b->check, on_check);
    ev_idle_init(&b->idle, on_idle);
    ev_timer_init(&b->timer, on_timer, 0., 0.);
    ev_set_priority(&b->prepare, EV_MINPRI);
    ev_set_priority(&b->check, EV_MINPRI);
    ev_set_priority(&b->idle, EV_MINPRI);
    b->prepare.data = b->check.data = b->idle.data = b->timer.data = b;
    ev_prepare_start(b->ev, &b->prepare);
    ev_check_start(b->ev, &b->check);
    if (!b->owned) {
        /* The hooks alone must not keep a host's ev_run() alive. */
        ev_unref(b->ev);
        ev_unref(b->ev);
    }
    return 0;
}

static void evb_destroy(petal_loop_t *loop)
{
    struct evb *b = state(loop);
    if (ev_is_active(&b->idle)) ev_idle_stop(b->ev, &b->idle);
    if (ev_is_active(&b->timer)) ev_timer_stop(b->ev, &b->timer);
    if (!b->owned) {
        ev_ref(b->ev);
        ev_ref(b->ev);
    }
    ev_prepare_stop(b->ev, &b->prepare);
    ev_check_stop(b->ev, &b->check);
    if (b->owned) ev_loop_destroy(b->ev);
    b->ev = NULL;
    b->loop = NULL;
}

static int evb_run_once(petal_loop_t *loop)
{
    struct evb *b = state(loop);
    /* A hosted loop with no work of either side has no referenced watcher,
     * and ev_run() would poll without blocking: petal_loop_run() would spin.
     * Counted for this one iteration, the loop sleeps in the poll like an
     * owned one, until petal's wakeup fd (a cross-thread call, a signal)
     * or the host's own watchers wake it. */
    if (!b->owned) ev_ref(b->ev);
    ev_run(b->ev, EVRUN_ONCE);
    if (!b->owned) ev_unref(b->ev);
    return 0;
}

static void io_stop(struct evfd *f)
{
    if (!ev_is_active(&f->io)) return;
    if (f->unref) ev_ref(f->b->ev);
    ev_io_stop(f->b->ev, &f->io);    /* synchronous: no callback after this */
}

static void on_io(struct ev_loop *ev, ev_io *w, int revents)
{
    struct evfd *f = w->data;
    petal_loop_t *loop = f->b->loop;
    if (revents & EV_ERROR) {
        /* libev could not watch the fd and stopped the watcher itself, which
         * dropped a reference we had given back. EBADF if the fd no longer
         * names the watched file (reported by the check), else the kernel
         * refused it for lack of resources. */
        int fd = f->fd;
        if (f->unref) ev_ref(ev);
        if (petal_core_fd_check(loop, fd) == 0) petal_core_io_error(loop, fd, PETAL_ENOMEM);
        return;
    }
    unsigned events = ((revents & EV_READ) ? PETAL_READABLE : 0u) | ((revents & EV_WRITE) ? PETAL_WRITABLE : 0u);
    petal_core_io(loop, f->fd, events);
}

static int evb_fd_watch(petal_loop_t *loop, int fd, void **fd_state, unsigned events)
{
    struct evb *b = state(loop);
    struct evfd *f = *fd_state;
    bool fresh = f == NULL;
    if (fresh) {
        if (!events) return 0;
        if (!(f = calloc(1, sizeof *f))) return PETAL_ENOMEM;
        ev_init(&f->io, on_io);
        f->io.data = f;
        f->b = b;
        f->fd = fd;
        f->unref = !b->owned && petal_core_fd_internal(loop, fd);
        *fd_state = f;
    }
    int evev = ((events & PETAL_READABLE) ? EV_READ : 0) | ((events & PETAL_WRITABLE) ? EV_WRITE : 0);
    io_stop(f);
    if (!evev) return 0;
    /* ev_io_set marks the fd as possibly a new file, so libev re-registers
     * it with the kernel even if the mask looks unchanged (a reused number). */
    if (fresh)
        ev_io_set(&f->io, fd, evev);
    else
        ev_io_modify(&f->io, evev);
    ev_io_start(b->ev, &f->io);
    if (f->unref) ev_unref(b->ev);
    if (!f->is_dirty) {
        f->is_dirty = true;
        f->next_dirty = b->dirty;
        b->dirty = f;
    }
    return 0;
}

static void evb_fd_forget(petal_loop_t *loop, int fd, void **fd_state)
{
    (void)fd;
    struct evb *b = state(loop);
    struct evfd *f = *fd_state;
    *fd_state = NULL;
    if (!f) return;
    if (f->is_dirty) {
        for (struct evfd **p = &b->dirty; *p; p = &(*p)->next_dirty)
            if (*p == f) {
                *p = f->next_dirty;
                break;
            }
    }
    io_stop(f);
    free(f);
}

const petal_backend_t petal_backend_ev = {
    .name = "ev",
    .state_size = sizeof(struct evb),
    .init = evb_init,
    .destroy = evb_destroy,
    .run_once = evb_run_once,
    .fd_watch = evb_fd_watch,
    .fd_forget = evb_fd_forget,
    .host_wakeup = evb_host_wakeup,
};

int petal_loop_new_ev(petal_loop_t **out, struct ev_loop *host)
{
    return petal_loop_new_on(out, &petal_backend_ev, host);
}

struct ev_loop *petal_loop_ev(petal_loop_t *loop)
{
    return petal_loop_on(loop, &petal_backend_ev) ? state(loop)->ev : NULL;
}
