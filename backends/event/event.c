/* The libevent backend.
 *
 * One native iteration (event_base_loop: dispatch, expire timeouts, run the
 * active callbacks) is one petal iteration, in both modes. libevent has no
 * prepare/check hooks, so petal places its iteration with two events of its
 * own, at the same priority as its fd events:
 *
 * - `tick` is never added, only made active (event_active) by petal's fd
 *   callbacks and by `timer`. libevent activates every ready fd in dispatch
 *   and every expired timeout right after it, before running any callback,
 *   so a tick made active from one of those callbacks is queued behind all
 *   of them: the core runs once, after all of this iteration's I/O.
 * - `timer` carries petal's earliest deadline, or a zero timeout while
 *   callbacks are ready. It makes the next dispatch poll without blocking
 *   and then queues the tick. The tick never re-activates itself: libevent
 *   would run it again in the same pass, before polling I/O again.
 *
 * Each watched fd has one persistent event with the merged interest;
 * changing it is event_del + event_add, both synchronous (epoll_ctl now).
 * An fd closed between that change and the next poll drops out of epoll
 * silently, so changed fds are checked (petal_core_fd_check) before the
 * next poll in owned mode and at the end of each tick. In host mode petal's
 * wakeup fd is flagged EVLIST_INTERNAL, libevent's own way of saying "does
 * not keep event_base_dispatch() alive" (libevent has no unref). */
#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "petal/backend.h"
#include "petal/event.h"

struct evb {
    petal_loop_t *loop;        /* NULL once destroyed */
    struct event_base *base;
    bool owned;
    bool in_tick;              /* inside on_tick: it re-arms when done */
    bool tick_active;          /* tick queued, not run yet */
    bool timer_on;             /* timer added (pending), as far as arm knows */
    struct event timer;
    struct event tick;
    struct evfd *dirty;        /* fds changed since the last check */
};

struct evfd {
    struct event ev;
    struct evb *b;
    int fd;
    short events;              /* EV_READ|EV_WRITE registered, 0 = none */
    bool is_dirty;
    struct evfd *next_dirty;
};

static struct evb *state(petal_loop_t *loop)
{
    return *(struct evb **)petal_backend_state(loop);
}

static void want_tick(struct evb *b)
{
    if (b->tick_active) return;
    b->tick_active = true;
    event_active(&b->tick, EV_TIMEOUT, 0);
}

static void check_dirty(struct evb *b)
{
    while (b->dirty) {
        struct evfd *f = b->dirty;
        b->dirty = f->next_dirty;
        f->is_dirty = false;
        /* May drop f (fd_forget frees it). */
        petal_core_fd_check(b->loop, f->fd);
    }
}

/* Arms `timer` for the next iteration: zero while callbacks are ready (or
 * fds wait for their check), petal's earliest deadline otherwise. */
static void arm(struct evb *b)
{
    int64_t ns = b->dirty ? 0 : petal_core_timeout_ns(b->loop);
    if (ns < 0) {
        /* event_del costs ~150 instructions even on an event that is not
         * pending: skip it when nothing is armed (every idle tick). */
        if (b->timer_on) event_del(&b->timer);
        b->timer_on = false;
        return;
    }
    /* Rounded up: libevent must not wake before petal's deadline. */
    struct timeval tv = { .tv_sec = (time_t)(ns / 1000000000),
                          .tv_usec = (suseconds_t)((ns % 1000000000 + 999) / 1000) };
    if (tv.tv_usec == 1000000) {
        tv.tv_sec++;
        tv.tv_usec = 0;
    }
    /* libevent adds tv to its cached time, which may be stale inside a
     * callback; a fresh reading avoids waking early (petal would only
     * re-arm, but that is a wasted iteration). */
    if (ns > 0) event_base_update_cache_time(b->base);
    event_add(&b->timer, &tv);
    b->timer_on = true;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct evb *b = arg;
    b->timer_on = false;       /* a fired timeout is no longer pending */
    want_tick(b);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct evb *b = arg;
    b->tick_active = false;
    b->in_tick = true;
    petal_core_tick(b->loop);
    b->in_tick = false;
    if (!b->loop) {            /* a callback freed the loop (host mode) */
        free(b);
        return;
    }
    /* An owned loop re-arms in evb_run_once, right before its next
     * dispatch; a host's next dispatch comes without asking us. */
    if (b->owned) return;
    check_dirty(b);
    arm(b);
}

static void on_fd(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    struct evfd *f = arg;
    struct evb *b = f->b;
    /* First, so that host_wakeup (called when I/O makes callbacks ready)
     * knows the tick is coming and leaves the timer alone. */
    want_tick(b);
    unsigned ev = 0;
    if (what & EV_READ) ev |= PETAL_READABLE;
    if (what & EV_WRITE) ev |= PETAL_WRITABLE;
    petal_core_io(b->loop, f->fd, ev);
}

static void evb_host_wakeup(petal_loop_t *loop)
{
    struct evb *b = state(loop);
    if (!b->in_tick && !b->tick_active) arm(b);
}

static int evb_init(petal_loop_t *loop, void *host)
{
    struct evb *b = calloc(1, sizeof *b);
    if (!b) return PETAL_ENOMEM;
    b->loop = loop;
    b->owned = host == NULL;
    b->base = host;
    if (b->owned) {
        struct event_config *cfg = event_config_new();
        if (cfg) {
            /* One thread uses this base; CLOCK_MONOTONIC, not _COARSE. */
            event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
            event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
            b->base = event_base_new_with_config(cfg);
            event_config_free(cfg);
        }
        if (!b->base) {
            free(b);
            return PETAL_ENOMEM;
        }
    }
    /* Both at the base's default priority, like the fd events. */
    evtimer_assign(&b->timer, b->base, on_timer, b);
    event_assign(&b->tick, b->base, -1, 0, on_tick, b);
    *(struct evb **)petal_backend_state(loop) = b;
    return 0;
}

static void evb_destroy(petal_loop_t *loop)
{
    struct evb *b = state(loop);
    /* The core already forgot every fd. */
    event_del(&b->timer);
    event_del(&b->tick);
    b->loop = NULL;
    if (b->owned) event_base_free(b->base);
    if (!b->in_tick) free(b);    /* else on_tick frees it when it returns */
}

static int evb_run_once(petal_loop_t *loop)
{
    struct evb *b = state(loop);
    check_dirty(b);
    arm(b);
    /* ONCE: block until something is active, run it (the tick last), return.
     * NO_EXIT_ON_EMPTY: a host base whose only event is petal's internal
     * wakeup fd must still block on it, not return at once. */
    if (event_base_loop(b->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0)
        return PETAL_EBUSY;    /* reentrant call on a running base, or dispatch failed */
    return 0;
}

static void mark_dirty(struct evb *b, struct evfd *f)
{
    if (f->is_dirty) return;
    f->is_dirty = true;
    f->next_dirty = b->dirty;
    b->dirty = f;
}

static void unmark_dirty(struct evb *b, struct evfd *f)
{
    if (!f->is_dirty) return;
    for (struct evfd **p = &b->dirty; *p; p = &(*p)->next_dirty)
        if (*p == f) {
            *p = f->next_dirty;
            break;
        }
    f->is_dirty = false;
}

/* (Re)registers f with interest `want` (0 = none). */
static int attach(struct evfd *f, short want)
{
    struct evb *b = f->b;
    if (f->events) event_del(&f->ev);
    f->events = 0;
    if (!want) return 0;
    event_assign(&f->ev, b->base, f->fd, (short)(want | EV_PERSIST), on_fd, f);
    /* Same priority as the tick, even if the host changed its priorities
     * since: the tick must queue behind this event. */
    event_priority_set(&f->ev, event_get_priority(&b->tick));
    if (!b->owned && petal_core_fd_internal(b->loop, f->fd)) f->ev.ev_evcallback.evcb_flags |= EVLIST_INTERNAL;
    errno = 0;
    if (event_add(&f->ev, NULL) != 0) return errno > 0 ? -errno : PETAL_EBADF;
    f->events = want;
    mark_dirty(b, f);
    return 0;
}

static int evb_fd_watch(petal_loop_t *loop, int fd, void **fd_state, unsigned events)
{
    struct evb *b = state(loop);
    struct evfd *f = *fd_state;
    if (!f) {
        if (!events) return 0;
        if (!(f = calloc(1, sizeof *f))) return PETAL_ENOMEM;
        f->b = b;
        f->fd = fd;
        *fd_state = f;
    }
    short want = (short)(((events & PETAL_READABLE) ? EV_READ : 0) | ((events & PETAL_WRITABLE) ? EV_WRITE : 0));
    if (want == f->events) return 0;
    short before = f->events;
    int rc = attach(f, want);
    if (rc && before) attach(f, before);    /* the core keeps the old watch */
    /* A host may poll before petal's next tick: check the change first. */
    if (!rc && !b->owned) evb_host_wakeup(loop);
    return rc;
}

static void evb_fd_forget(petal_loop_t *loop, int fd, void **fd_state)
{
    (void)fd;
    struct evb *b = state(loop);
    struct evfd *f = *fd_state;
    *fd_state = NULL;
    if (!f) return;
    unmark_dirty(b, f);
    if (f->events) event_del(&f->ev);    /* synchronous; also leaves the active queue */
    free(f);
}

const petal_backend_t petal_backend_event = {
    .name = "event",
    .state_size = sizeof(struct evb *),
    .init = evb_init,
    .destroy = evb_destroy,
    .run_once = evb_run_once,
    .fd_watch = evb_fd_watch,
    .fd_forget = evb_fd_forget,
    .host_wakeup = evb_host_wakeup,
};

int petal_loop_new_event(petal_loop_t **out, struct event_base *host)
{
    return petal_loop_new_on(out, &petal_backend_event, host);
}

struct event_base *petal_loop_event_base(petal_loop_t *loop)
{
    return petal_loop_on(loop, &petal_backend_event) ? state(loop)->base : NULL;
}
