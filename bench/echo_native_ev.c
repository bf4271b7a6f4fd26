/* echo_tcp directly on libev: one ev_io per socket (the listener's accepts
 * with accept4, the connections' read and write at once, see
 * echo_native_fd.h). The loop is created as petal's libev backend creates
 * its own: ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK) (epoll here). */
#include <ev.h>
#include <stdlib.h>

#include "bench/echo_native_fd.h"

#define IMPL "native ev"

struct eserver {
    ev_io w;
    unsigned char buf[ECHO_MSG];
};

struct eclient {
    ev_io w;
    struct echo_run *r;
    struct echo_client *c;
};

struct elisten {
    ev_io w;
    struct echo_run *r;
    struct eserver *servers;
};

static void server_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    echo_fd_server_readable(IMPL, w->fd, ((struct eserver *)w)->buf);
}

static void client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct eclient *e = (struct eclient *)w;
    if (echo_fd_client_readable(IMPL, e->r, e->c)) ev_break(loop, EVBREAK_ALL);
}

static void listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct elisten *l = (struct elisten *)w;
    int fd;
    while (l->r->accepted < l->r->nconn && (fd = echo_fd_accept(IMPL, l->r)) >= 0) {
        struct eserver *s = &l->servers[l->r->accepted - 1];
        ev_io_init(&s->w, server_cb, fd, EV_READ);
        ev_io_start(loop, &s->w);
    }
    if (l->r->accepted == l->r->nconn) ev_io_stop(loop, w);
}

double echo_native_ev(struct echo_run *r, const char *variant)
{
    (void)variant;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!loop) echo_die(IMPL, "ev_loop_new", -ENOMEM);
    struct elisten l = { .r = r };
    struct eclient *cl = calloc((size_t)r->nconn, sizeof *cl);
    l.servers = calloc((size_t)r->nconn, sizeof *l.servers);
    if (!cl || !l.servers) echo_die(IMPL, "calloc", -ENOMEM);

    double t0 = echo_now();
    ev_io_init(&l.w, listen_cb, r->listen_fd, EV_READ);
    ev_io_start(loop, &l.w);
    for (int i = 0; i < r->nconn; i++) {
        struct eclient *e = &cl[i];
        e->r = r;
        e->c = &r->clients[i];
        ev_io_init(&e->w, client_cb, e->c->fd, EV_READ);
        ev_io_start(loop, &e->w);
        echo_fd_client_next(IMPL, r, e->c);
    }
    ev_run(loop, 0);
    double t1 = echo_now();

    ev_io_stop(loop, &l.w);
    for (int i = 0; i < r->nconn; i++) ev_io_stop(loop, &cl[i].w);
    for (int i = 0; i < r->accepted; i++) ev_io_stop(loop, &l.servers[i].w);
    ev_loop_destroy(loop);
    free(cl);
    free(l.servers);
    return t1 - t0;
}
