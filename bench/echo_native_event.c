/* echo_tcp directly on libevent: plain `struct event`s (EV_READ|EV_PERSIST)
 * with read/write system calls in the callbacks (echo_native_fd.h), not
 * bufferevents, whose evbuffer copies and extra callbacks would only add
 * cost. The base is created as petal's libevent backend creates its own:
 * no locking (EVENT_BASE_FLAG_NOLOCK); epoll here. */
#include <event2/event.h>
#include <stdlib.h>

#include "bench/echo_native_fd.h"

#define IMPL "native event"

struct vserver {
    struct event *ev;
    unsigned char buf[ECHO_MSG];
};

struct vctx {
    struct event_base *base;
    struct echo_run *r;
    struct event *listener;
    struct vserver *servers;
};

struct vclient {
    struct event *ev;
    struct vctx *x;
    struct echo_client *c;
};

static void server_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    echo_fd_server_readable(IMPL, fd, ((struct vserver *)arg)->buf);
}

static void client_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct vclient *v = arg;
    if (echo_fd_client_readable(IMPL, v->x->r, v->c)) event_base_loopbreak(v->x->base);
}

static void listen_cb(evutil_socket_t lfd, short what, void *arg)
{
    (void)lfd;
    (void)what;
    struct vctx *x = arg;
    int fd;
    while (x->r->accepted < x->r->nconn && (fd = echo_fd_accept(IMPL, x->r)) >= 0) {
        struct vserver *s = &x->servers[x->r->accepted - 1];
        s->ev = event_new(x->base, fd, EV_READ | EV_PERSIST, server_cb, s);
        if (!s->ev || event_add(s->ev, NULL)) echo_die(IMPL, "event_add", -ENOMEM);
    }
    if (x->r->accepted == x->r->nconn) event_del(x->listener);
}

double echo_native_event(struct echo_run *r, const char *variant)
{
    (void)variant;
    struct vctx x = { .r = r };
    struct event_config *cfg = event_config_new();
    if (!cfg) echo_die(IMPL, "event_config_new", -ENOMEM);
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    x.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!x.base) echo_die(IMPL, "event_base_new_with_config", -ENOMEM);
    struct vclient *cl = calloc((size_t)r->nconn, sizeof *cl);
    x.servers = calloc((size_t)r->nconn, sizeof *x.servers);
    if (!cl || !x.servers) echo_die(IMPL, "calloc", -ENOMEM);

    double t0 = echo_now();
    x.listener = event_new(x.base, r->listen_fd, EV_READ | EV_PERSIST, listen_cb, &x);
    if (!x.listener || event_add(x.listener, NULL)) echo_die(IMPL, "event_add", -ENOMEM);
    for (int i = 0; i < r->nconn; i++) {
        struct vclient *v = &cl[i];
        v->x = &x;
        v->c = &r->clients[i];
        v->ev = event_new(x.base, v->c->fd, EV_READ | EV_PERSIST, client_cb, v);
        if (!v->ev || event_add(v->ev, NULL)) echo_die(IMPL, "event_add", -ENOMEM);
        echo_fd_client_next(IMPL, r, v->c);
    }
    if (event_base_dispatch(x.base) < 0) echo_die(IMPL, "event_base_dispatch", -EIO);
    double t1 = echo_now();

    event_free(x.listener);
    for (int i = 0; i < r->nconn; i++) event_free(cl[i].ev);
    for (int i = 0; i < r->accepted; i++) event_free(x.servers[i].ev);
    event_base_free(x.base);
    free(cl);
    free(x.servers);
    return t1 - t0;
}
