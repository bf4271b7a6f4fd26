/* Blocking calls of a greenlet: sleep, fd readiness, socket operations,
 * futures, and Timeout scopes. */
#include <stdlib.h>
#include <string.h>

#include "green_internal.h"
#include "petal/sock.h"

static inline int sleep_ns(int64_t ns)
{
    struct petal_green *r;
    int rc = green_enter(&r);
    if (rc) return rc;
    if (ns < 0) return PETAL_EINVAL;
    petal_hub_t *hub = r->hub;
    int64_t now = green_now(hub);
    bool scope = r->scope_deadline >= 0 && r->scope_deadline - now < ns;
    if (scope && r->scope_deadline <= now) return PETAL_ETIMEDOUT;
    if (ns == 0) { /* yield: behind everything already ready */
        green_begin_wait(r, W_READY, NULL);
        r->woken = true;
        green_push_ready(hub, r);
    } else {
        green_begin_wait(r, W_SLEEP, NULL);
        green_arm(hub, r, scope ? r->scope_deadline : now + ns, scope);
    }
    return green_park(hub, r);
}

int petal_green_sleep_ns(int64_t ns) { return sleep_ns(ns); }

int petal_green_sleep(double seconds)
{
    if (!(seconds >= 0)) return PETAL_EINVAL; /* negative or NaN */
    double ns = seconds * 1e9;
    return sleep_ns(ns > 4e18 ? INT64_MAX / 2 : (int64_t)ns);
}

/* ---- fd readiness ------------------------------------------------------- */

static int grow_fd_tables(petal_hub_t *hub, int fd)
{
    if ((size_t)fd < hub->fd_cap) return 0;
    size_t cap = hub->fd_cap ? hub->fd_cap : 64;
    while (cap <= (size_t)fd) cap *= 2;
    struct petal_green **rd = realloc(hub->fd_read, cap * sizeof *rd);
    if (!rd) return PETAL_ENOMEM;
    hub->fd_read = rd;
    struct petal_green **wr = realloc(hub->fd_write, cap * sizeof *wr);
    if (!wr) return PETAL_ENOMEM;
    hub->fd_write = wr;
    memset(rd + hub->fd_cap, 0, (cap - hub->fd_cap) * sizeof *rd);
    memset(wr + hub->fd_cap, 0, (cap - hub->fd_cap) * sizeof *wr);
    hub->fd_cap = cap;
    return 0;
}

static void io_cb(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)loop;
    (void)fd;
    struct petal_green *r = arg;
    green_cancel_wait(r->hub, r);
    green_wake(r->hub, r, status);
}

static int wait_fd(int fd, bool write, double timeout_s)
{
    struct petal_green *r;
    int rc = green_enter(&r);
    if (rc) return rc;
    if (fd < 0) return PETAL_EBADF;
    petal_hub_t *hub = r->hub;
    int64_t dl;
    bool scope;
    if ((rc = green_prepare(r, timeout_s, &dl, &scope))) return rc;
    if ((rc = grow_fd_tables(hub, fd))) return rc;
    struct petal_green **t = write ? hub->fd_write : hub->fd_read;
    if (t[fd]) return PETAL_EBUSY;
    rc = write ? petal_add_writer(hub->loop, fd, io_cb, r) : petal_add_reader(hub->loop, fd, io_cb, r);
    if (rc) return rc;
    t[fd] = r;
    r->wfd = fd;
    green_begin_wait(r, write ? W_WRITE : W_READ, NULL);
    green_arm(hub, r, dl, scope);
    return green_park(hub, r);
}

int petal_green_wait_readable(int fd, double timeout_s) { return wait_fd(fd, false, timeout_s); }
int petal_green_wait_writable(int fd, double timeout_s) { return wait_fd(fd, true, timeout_s); }

/* ---- futures and socket operations -------------------------------------- */

/* Parks r until fut (owned by the caller's reference, handed to r) is done,
 * the deadline passes or r is killed. Returns the park status; the caller
 * reads the future's result when it is 0, then drops r->opfut. */
static int wait_future(struct petal_green *r, int kind, petal_future_t *fut, int64_t dl, bool scope)
{
    r->opfut = fut;
    green_begin_wait(r, kind, fut);
    green_ref(r); /* held by the done callback */
    int rc = petal_future_add_done_callback(fut, green_future_cb, r);
    if (rc) {
        green_unref(r);
        r->wait = W_NONE;
        r->wobj = NULL;
        return rc;
    }
    green_arm(r->hub, r, dl, scope);
    return green_park(r->hub, r);
}

static void drop_opfut(struct petal_green *r)
{
    if (r->opfut) petal_future_release(r->opfut);
    r->opfut = NULL;
}

/* A socket call: starts the operation (start() fills *fut), waits, returns
 * the operation's result. On timeout or kill the operation is cancelled. */
static ssize_t sock_call(struct petal_green *r, int kind, int fd, petal_future_t *fut, int64_t dl, bool scope)
{
    r->wfd = fd;
    int st = wait_future(r, kind, fut, dl, scope);
    ssize_t res;
    if (st == 0) {
        res = petal_sock_result(fut);
    } else {
        if (!petal_future_done(fut)) petal_future_cancel(fut);
        res = st;
    }
    drop_opfut(r);
    return res;
}

#define BOUNCE_MAX ((size_t)64 * 1024)

/* True when p may be on the stack the caller runs on: a shared-stack
 * greenlet's buffer would be copied away while it is parked, so petal must
 * not write into it then. */
static bool on_shared_stack(struct petal_green *r, const void *p)
{
    if (r->is_main || !r->co || petal_greenlet_stack_mode(r->co) != PETAL_STACK_SHARED) return false;
    char here;
    uintptr_t a = (uintptr_t)p, h = (uintptr_t)&here;
    uintptr_t span = PETAL_GREENLET_SHARED_STACK;
    return a + span > h && a < h + span;
}

/* The start of a socket call without argument checks of its own: enter as
 * a greenlet, then the timeout and scope checks. */
static int sock_enter(struct petal_green **r, double timeout_s, int64_t *dl, bool *scope)
{
    int rc = green_enter(r);
    if (rc) return rc;
    return green_prepare(*r, timeout_s, dl, scope);
}

ssize_t petal_green_recv(int fd, void *buf, size_t len, double timeout_s)
{
    struct petal_green *r;
    int rc = green_enter(&r);
    if (rc) return rc;
    if (!buf && len) return PETAL_EINVAL;
    int64_t dl;
    bool scope;
    if ((rc = green_prepare(r, timeout_s, &dl, &scope))) return rc;
    void *target = buf;
    if (len && on_shared_stack(r, buf)) {
        if (len > BOUNCE_MAX) len = BOUNCE_MAX; /* recv may return less anyway */
        if (!(r->bounce = malloc(len))) return PETAL_ENOMEM;
        target = r->bounce;
    }
    petal_future_t *fut;
    rc = petal_sock_recv(r->hub->loop, fd, target, len, &fut);
    if (rc) {
        free(r->bounce);
        r->bounce = NULL;
        return rc;
    }
    ssize_t res = sock_call(r, W_RECV, fd, fut, dl, scope);
    if (res > 0 && r->bounce) memcpy(buf, r->bounce, (size_t)res);
    free(r->bounce);
    r->bounce = NULL;
    return res;
}

ssize_t petal_green_sendall(int fd, const void *buf, size_t len, double timeout_s)
{
    struct petal_green *r;
    int64_t dl;
    bool scope;
    int rc = sock_enter(&r, timeout_s, &dl, &scope);
    if (rc) return rc;
    petal_future_t *fut;
    if ((rc = petal_sock_send(r->hub->loop, fd, buf, len, &fut))) return rc; /* petal copies buf */
    return sock_call(r, W_SEND, fd, fut, dl, scope);
}

ssize_t petal_green_send(int fd, const void *buf, size_t len, double timeout_s)
{
    return petal_green_sendall(fd, buf, len, timeout_s);
}

int petal_green_accept(int fd, double timeout_s)
{
    struct petal_green *r;
    int64_t dl;
    bool scope;
    int rc = sock_enter(&r, timeout_s, &dl, &scope);
    if (rc) return rc;
    petal_future_t *fut;
    if ((rc = petal_sock_accept(r->hub->loop, fd, &fut))) return rc;
    return (int)sock_call(r, W_ACCEPT, fd, fut, dl, scope);
}

int petal_green_connect(int fd, const struct sockaddr *addr, socklen_t addrlen, double timeout_s)
{
    struct petal_green *r;
    int64_t dl;
    bool scope;
    int rc = sock_enter(&r, timeout_s, &dl, &scope);
    if (rc) return rc;
    petal_future_t *fut;
    if ((rc = petal_sock_connect(r->hub->loop, fd, addr, addrlen, &fut))) return rc; /* addr copied */
    return (int)sock_call(r, W_CONNECT, fd, fut, dl, scope);
}

int petal_green_await(petal_future_t *fut, double timeout_s, void **value)
{
    if (!fut) return PETAL_EINVAL;
    if (petal_future_done(fut)) return petal_future_result(fut, value);
    struct petal_green *r;
    int rc = green_enter(&r);
    if (rc) return rc;
    if (petal_future_loop(fut) != r->hub->loop) return PETAL_EINVAL;
    if (timeout_s == 0) return PETAL_ETIMEDOUT;
    int64_t dl;
    bool scope;
    if ((rc = green_prepare(r, timeout_s, &dl, &scope))) return rc;
    int st = wait_future(r, W_FUTURE, petal_future_retain(fut), dl, scope);
    if (st == 0) st = petal_future_result(fut, value);
    drop_opfut(r);
    return st;
}

/* ---- Timeout scopes ----------------------------------------------------- */

int petal_green_timeout_begin(petal_green_timeout *t, double seconds)
{
    if (!t || seconds != seconds) return PETAL_EINVAL;
    petal_hub_t *hub = green_hub();
    if (!hub) return PETAL_ENOHUB;
    struct petal_green *r = green_self(hub);
    if (!r) return PETAL_EBLOCKING;
    int64_t dl = -1;
    if (seconds >= 0) {
        double ns = seconds * 1e9;
        dl = ns > 4e18 ? -1 : green_now(hub) + (int64_t)ns;
    }
    t->deadline_ns = dl;
    t->saved_ns = r->scope_deadline;
    t->owner = r;
    t->saved_top = r->scope_top;
    if (dl >= 0 && (r->scope_deadline < 0 || dl < r->scope_deadline)) r->scope_deadline = dl;
    r->scope_top = t;
    return 0;
}

int petal_green_timeout_end(petal_green_timeout *t)
{
    if (!t) return PETAL_EINVAL;
    petal_hub_t *hub = green_hub();
    if (!hub) return PETAL_ENOHUB;
    struct petal_green *r = green_self(hub);
    if (!r || t->owner != r || r->scope_top != t) return PETAL_EINVAL;
    r->scope_deadline = t->saved_ns;
    r->scope_top = t->saved_top;
    t->owner = NULL;
    return t->deadline_ns >= 0 && green_now(hub) >= t->deadline_ns ? 1 : 0;
}
