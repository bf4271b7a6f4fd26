/* echo_tcp through petal's sock_* calls, on any backend.
 *
 * Server: petal_sock_accept on the listener (one at a time, re-armed in its
 * done-callback); per connection a chain of petal_sock_recv whose
 * done-callback sends what arrived (petal_sock_send copies it, so the
 * receive buffer is free at once) and receives again. Client: send the
 * message and receive its echo; the receive's done-callback checks it and
 * sends the next. Every future gets a done-callback that checks its result
 * and releases it, as an asyncio program awaiting each call would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/echo_bench.h"
#include "petal/backend.h"
#include "petal/sock.h"
#include "petal/uring.h"

struct pctx {
    petal_loop_t *loop;
    struct echo_run *r;
    const char *name;
    struct pserver *servers;    /* one per accepted connection */
};

struct pserver {
    struct pctx *x;
    int fd;
    unsigned char buf[ECHO_MSG];
};

struct pclient {
    struct pctx *x;
    struct echo_client *c;
};

static void check(struct pctx *x, const char *what, long rc)
{
    if (rc < 0) echo_die(x->name, what, rc);
}

static void send_done(petal_future_t *f, void *arg)
{
    struct pctx *x = arg;
    ssize_t rc = petal_sock_result(f);
    petal_future_release(f);
    if (rc != PETAL_ECANCELED) check(x, "petal_sock_send", rc);
}

static void send_bytes(struct pctx *x, int fd, const void *buf, size_t len)
{
    petal_future_t *f;
    check(x, "petal_sock_send", petal_sock_send(x->loop, fd, buf, len, &f));
    check(x, "add_done_callback", petal_future_add_done_callback(f, send_done, x));
}

static void server_recv_done(petal_future_t *f, void *arg);

static void server_recv(struct pserver *s)
{
    petal_future_t *f;
    check(s->x, "petal_sock_recv", petal_sock_recv(s->x->loop, s->fd, s->buf, sizeof s->buf, &f));
    check(s->x, "add_done_callback", petal_future_add_done_callback(f, server_recv_done, s));
}

static void server_recv_done(petal_future_t *f, void *arg)
{
    struct pserver *s = arg;
    ssize_t n = petal_sock_result(f);
    petal_future_release(f);
    if (n == PETAL_ECANCELED) return;    /* teardown */
    if (n <= 0) echo_die(s->x->name, "server petal_sock_recv", n ? n : -EPIPE);
    send_bytes(s->x, s->fd, s->buf, (size_t)n);
    server_recv(s);
}

static void accept_done(petal_future_t *f, void *arg);

static void accept_next(struct pctx *x)
{
    petal_future_t *f;
    check(x, "petal_sock_accept", petal_sock_accept(x->loop, x->r->listen_fd, &f));
    check(x, "add_done_callback", petal_future_add_done_callback(f, accept_done, x));
}

static void accept_done(petal_future_t *f, void *arg)
{
    struct pctx *x = arg;
    ssize_t fd = petal_sock_result(f);
    petal_future_release(f);
    check(x, "petal_sock_accept", fd);
    echo_accepted(x->r, (int)fd);
    struct pserver *s = &x->servers[x->r->accepted - 1];
    s->x = x;
    s->fd = (int)fd;
    server_recv(s);
    if (x->r->accepted < x->r->nconn) accept_next(x);
}

static void client_recv_done(petal_future_t *f, void *arg);

static void client_recv(struct pclient *p)
{
    petal_future_t *f;
    struct echo_client *c = p->c;
    check(p->x, "petal_sock_recv", petal_sock_recv(p->x->loop, c->fd, c->in + c->got, ECHO_MSG - c->got, &f));
    check(p->x, "add_done_callback", petal_future_add_done_callback(f, client_recv_done, p));
}

/* Sends the client's next message, if any, and waits for its echo. */
static void client_next(struct pclient *p)
{
    if (!echo_next(p->x->r, p->c)) return;
    send_bytes(p->x, p->c->fd, p->c->out, ECHO_MSG);
    client_recv(p);
}

static void client_recv_done(petal_future_t *f, void *arg)
{
    struct pclient *p = arg;
    struct echo_client *c = p->c;
    ssize_t n = petal_sock_result(f);
    petal_future_release(f);
    if (n == PETAL_ECANCELED) return;
    if (n <= 0) echo_die(p->x->name, "client petal_sock_recv", n ? n : -EPIPE);
    c->got += (size_t)n;
    if (c->got < ECHO_MSG) {
        client_recv(p);
        return;
    }
    echo_check(p->x->r, c);
    if (echo_finished(p->x->r)) petal_loop_stop(p->x->loop);
    else client_next(p);
}

/* "uring-readiness": the io_uring backend without its completion path, so
 * the core serves sock_* on readiness (io_uring polls). */
static petal_backend_t uring_readiness;

double echo_petal(struct echo_run *r, const char *variant)
{
    struct pctx x = { .r = r, .name = variant };
    int rc;
    if (strcmp(variant, "uring-readiness") == 0) {
        uring_readiness = petal_backend_uring;
        uring_readiness.name = "uring-readiness";
        uring_readiness.sock_submit = NULL;
        uring_readiness.sock_cancel = NULL;
        rc = petal_loop_new_on(&x.loop, &uring_readiness, NULL);
    } else {
        rc = petal_loop_new_backend(&x.loop, variant);
    }
    check(&x, "loop creation", rc);
    struct pclient *cl = calloc((size_t)r->nconn, sizeof *cl);
    x.servers = calloc((size_t)r->nconn, sizeof *x.servers);
    if (!cl || !x.servers) echo_die(variant, "calloc", -ENOMEM);

    double t0 = echo_now();
    accept_next(&x);
    for (int i = 0; i < r->nconn; i++) {
        cl[i] = (struct pclient){ .x = &x, .c = &r->clients[i] };
        client_next(&cl[i]);
    }
    check(&x, "petal_loop_run", petal_loop_run(x.loop));
    double t1 = echo_now();

    /* Untimed: end the servers' pending receives (their callbacks see
     * PETAL_ECANCELED and free nothing else), then free everything. */
    for (int i = 0; i < r->accepted; i++) petal_fd_closing(x.loop, r->server_fds[i]);
    for (int i = 0; i < r->nconn; i++) petal_fd_closing(x.loop, r->clients[i].fd);
    petal_fd_closing(x.loop, r->listen_fd);
    petal_loop_run_once(x.loop);
    check(&x, "petal_loop_free", petal_loop_free(x.loop));
    free(cl);
    free(x.servers);
    return t1 - t0;
}
