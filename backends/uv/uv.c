/* The libuv backend.
 *
 * One native iteration is one petal iteration, in both modes (petal's own
 * uv_run is stopped from the check hook): the uv_prepare callback tells
 * libuv how long it may block (an active uv_idle forces a zero timeout, one
 * uv_timer carries petal's earliest deadline), and the uv_check callback,
 * after the poll, runs the core.
 *
 * Each watched fd gets one uv_poll_t. Three libuv habits are papered over:
 * uv_poll_init() sets O_NONBLOCK (petal restores the user's flags); libuv
 * reports EPOLLERR as UV_EBADF and stops the poll (petal reports it as
 * readiness while the fd is still open, as select() would); and libuv
 * aborts if an fd is closed between uv_poll_start() and its next poll
 * (petal checks changed fds in the prepare callback, right before). */
#include <fcntl.h>
#include <stdlib.h>

#include "petal/backend.h"
#include "petal/uv.h"

struct uvb {
    petal_loop_t *loop;
    uv_loop_t *uv;
    uv_loop_t own;
    bool owned;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t idle;
    uv_timer_t timer;
    int open_handles;          /* of the four above, not yet closed */
    bool one_iteration;        /* inside uvb_run_once: stop after the check */
    struct uvfd *dirty;        /* fds changed since the last poll */
};

struct uvfd {
    uv_poll_t poll;
    struct uvb *b;
    int fd;
    int uv_events;             /* interest given to uv_poll_start */
    bool is_dirty;
    struct uvfd *next_dirty;
};

static struct uvb *state(petal_loop_t *loop)
{
    return *(struct uvb **)petal_backend_state(loop);
}

static void on_idle(uv_idle_t *h) { (void)h; }
static void on_timer(uv_timer_t *h);

static void check_dirty(struct uvb *b)
{
    while (b->dirty) {
        struct uvfd *f = b->dirty;
        b->dirty = f->next_dirty;
        f->is_dirty = false;
        /* May drop f (and free it later through uv_close). */
        petal_core_fd_check(b->loop, f->fd);
    }
}

/* Sets libuv's timeout for the coming poll: an active idle handle forces
 * zero, the timer carries petal's earliest deadline. Both are referenced
 * handles, so they also keep a host's uv_run() alive while petal has work. */
static void arm(struct uvb *b)
{
    int ms = petal_core_timeout_ms(b->loop);
    if (ms == 0) {
        if (!uv_is_active((uv_handle_t *)&b->idle)) uv_idle_start(&b->idle, on_idle);
    } else if (uv_is_active((uv_handle_t *)&b->idle)) {
        uv_idle_stop(&b->idle);
    }
    if (ms > 0) {
        uv_update_time(b->uv);
        uv_timer_start(&b->timer, on_timer, (uint64_t)ms, 0);
    } else if (uv_is_active((uv_handle_t *)&b->timer)) {
        uv_timer_stop(&b->timer);
    }
}

/* libuv keeps time in whole milliseconds, so its timer can fire a fraction
 * of a millisecond before petal's deadline, and in UV_RUN_ONCE it may fire
 * after the check hook ran petal's tick. Re-arm here: otherwise, with the
 * deadline still ahead and no idle or timer handle active, uv_run() has
 * nothing alive, returns at once without running the hooks, and the loop
 * spins forever (seen as rare hangs of the host-mode conformance tests). */
static void on_timer(uv_timer_t *h)
{
    arm(h->data);
}

static void on_prepare(uv_prepare_t *h)
{
    struct uvb *b = h->data;
    check_dirty(b);
    arm(b);
}

static void uvb_host_wakeup(petal_loop_t *loop)
{
    arm(state(loop));
}

static void on_check(uv_check_t *h)
{
    struct uvb *b = h->data;
    petal_core_tick(b->loop);
    if (b->one_iteration) uv_stop(b->uv);
}

static int uvb_init(petal_loop_t *loop, void *host)
{
    struct uvb *b = calloc(1, sizeof *b);
    if (!b) return PETAL_ENOMEM;
    b->loop = loop;
    b->owned = host == NULL;
    b->uv = host ? host : &b->own;
    int rc;
    if (b->owned && (rc = uv_loop_init(&b->own)) != 0) {
        free(b);
        return rc;
    }
    uv_prepare_init(b->uv, &b->prepare);
    uv_check_init(b->uv, &b->check);
    uv_idle_init(b->uv, &b->idle);
    uv_timer_init(b->uv, &b->timer);
    b->prepare.data = b->check.data = b->idle.data = b->timer.data = b;
    b->open_handles = 4;
    uv_prepare_start(&b->prepare, on_prepare);
    uv_check_start(&b->check, on_check);
    /* The hooks alone must not keep a host's uv_run() alive. */
    uv_unref((uv_handle_t *)&b->prepare);
    uv_unref((uv_handle_t *)&b->check);
    *(struct uvb **)petal_backend_state(loop) = b;
    return 0;
}

static void on_hook_closed(uv_handle_t *h)
{
    struct uvb *b = h->data;
    if (--b->open_handles == 0 && !b->owned) free(b);
}

static void uvb_destroy(petal_loop_t *loop)
{
    struct uvb *b = state(loop);
    b->loop = NULL;
    uv_close((uv_handle_t *)&b->prepare, on_hook_closed);
    uv_close((uv_handle_t *)&b->check, on_hook_closed);
    uv_close((uv_handle_t *)&b->idle, on_hook_closed);
    uv_close((uv_handle_t *)&b->timer, on_hook_closed);
    if (!b->owned) return;    /* freed by the last close callback */
    /* Our own loop: let libuv finish every close, then drop it. */
    while (uv_loop_close(b->uv) == UV_EBUSY) uv_run(b->uv, UV_RUN_NOWAIT);
    free(b);
}

static int uvb_run_once(petal_loop_t *loop)
{
    struct uvb *b = state(loop);
    /* A hosted loop with no work on either side has no referenced handle:
     * uv_run() would return at once without polling, and petal_loop_run()
     * would spin without ever seeing a cross-thread call. Referenced for
     * this one iteration, the check hook keeps the loop alive, so it sleeps
     * in the poll (petal's wakeup fd is in it) like an owned loop. */
    if (!b->owned) uv_ref((uv_handle_t *)&b->check);
    /* One iteration: UV_RUN_DEFAULT stopped from the check hook. (UV_RUN_ONCE
     * would read the clock and run timers once more after the check, a
     * cost per iteration for nothing petal needs.) */
    b->one_iteration = true;
    uv_run(b->uv, UV_RUN_DEFAULT);
    b->one_iteration = false;
    if (!b->owned) uv_unref((uv_handle_t *)&b->check);
    return 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct uvfd *f = h->data;
    petal_loop_t *loop = f->b->loop;
    if (status < 0) {
        /* libuv turns EPOLLERR into UV_EBADF and stops the poll. While the fd
         * is still the one petal watches, that is readiness (the next read or
         * write reports the socket error), so poll again. */
        if (petal_core_fd_check(loop, f->fd) != 0) return;
        uv_poll_start(h, f->uv_events, on_poll);
        petal_core_io(loop, f->fd, PETAL_READABLE | PETAL_WRITABLE);
        return;
    }
    unsigned ev = 0;
    if (events & (UV_READABLE | UV_DISCONNECT)) ev |= PETAL_READABLE;
    if (events & UV_WRITABLE) ev |= PETAL_WRITABLE;
    petal_core_io(loop, f->fd, ev);
}

static void on_poll_closed(uv_handle_t *h)
{
    free(h->data);
}

static int uvb_fd_watch(petal_loop_t *loop, int fd, void **fd_state, unsigned events)
{
    struct uvb *b = state(loop);
    struct uvfd *f = *fd_state;
    if (!f) {
        if (!events) return 0;
        if (!(f = calloc(1, sizeof *f))) return PETAL_ENOMEM;
        int flags = fcntl(fd, F_GETFL);
        int rc = uv_poll_init(b->uv, &f->poll, fd);
        if (rc) {
            free(f);
            return rc;
        }
        /* uv_poll_init sets O_NONBLOCK; petal never changes a watched fd. */
        if (flags >= 0 && !(flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags);
        f->poll.data = f;
        f->b = b;
        f->fd = fd;
        if (petal_core_fd_internal(loop, fd) && !b->owned) uv_unref((uv_handle_t *)&f->poll);
        *fd_state = f;
    }
    int uvev = ((events & PETAL_READABLE) ? UV_READABLE : 0) | ((events & PETAL_WRITABLE) ? UV_WRITABLE : 0);
    int rc = uvev ? uv_poll_start(&f->poll, uvev, on_poll) : uv_poll_stop(&f->poll);
    if (rc) return rc;
    f->uv_events = uvev;
    if (uvev && !f->is_dirty) {
        f->is_dirty = true;
        f->next_dirty = b->dirty;
        b->dirty = f;
    }
    return 0;
}

static void uvb_fd_forget(petal_loop_t *loop, int fd, void **fd_state)
{
    (void)fd;
    struct uvb *b = state(loop);
    struct uvfd *f = *fd_state;
    *fd_state = NULL;
    if (!f) return;
    if (f->is_dirty) {
        for (struct uvfd **p = &b->dirty; *p; p = &(*p)->next_dirty)
            if (*p == f) {
                *p = f->next_dirty;
                break;
            }
    }
    uv_poll_stop(&f->poll);    /* synchronous EPOLL_CTL_DEL on libuv 1.44 */
    uv_close((uv_handle_t *)&f->poll, on_poll_closed);
}

const petal_backend_t petal_backend_uv = {
    .name = "uv",
    .state_size = sizeof(struct uvb *),
    .init = uvb_init,
    .destroy = uvb_destroy,
    .run_once = uvb_run_once,
    .fd_watch = uvb_fd_watch,
    .fd_forget = uvb_fd_forget,
    .host_wakeup = uvb_host_wakeup,
};

int petal_loop_new_uv(petal_loop_t **out, uv_loop_t *host)
{
    return petal_loop_new_on(out, &petal_backend_uv, host);
}

uv_loop_t *petal_loop_uv(petal_loop_t *loop)
{
    return petal_loop_on(loop, &petal_backend_uv) ? state(loop)->uv : NULL;
}
