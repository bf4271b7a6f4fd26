/* echo_tcp directly on libuv.
 *
 * Every socket is a uv_tcp_t (uv_tcp_open on the fds of echo_setup), the
 * listener takes connections with uv_listen/uv_accept, and both sides read
 * with uv_read_start (the alloc callback hands out the connection's own
 * buffer). Writes use uv_try_write, the cheapest faithful way: uv_write
 * would add an epoll_ctl(MOD) after every completed write (see
 * NATIVE_COSTS.md), and with at most one 64-byte message in flight per
 * connection the socket buffer is never full, so uv_try_write always sends
 * everything (anything less fails the run loudly).
 *
 * Reads go into a buffer larger than a message: libuv reads again (one more
 * read() that returns EAGAIN) whenever a read fills its buffer, so an
 * exactly-64-byte buffer would cost native libuv a system call per read. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bench/echo_bench.h"

#define RBUF (4 * ECHO_MSG)

struct userver {
    uv_tcp_t h;
    struct echo_run *r;
    unsigned char buf[RBUF];
};

struct uclient {
    uv_tcp_t h;
    struct echo_run *r;
    struct echo_client *c;
    unsigned char buf[RBUF];    /* copied into c->in */
};

static void check(const char *what, int rc)
{
    if (rc < 0) echo_die("native uv", what, rc);
}

static void write_all(uv_stream_t *s, void *buf, size_t len)
{
    uv_buf_t b = uv_buf_init(buf, (unsigned)len);
    int rc = uv_try_write(s, &b, 1);
    if (rc != (int)len) echo_die("native uv", "uv_try_write (short or failed)", rc < 0 ? rc : -EAGAIN);
}

static void server_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct userver *s = h->data;
    *buf = uv_buf_init((char *)s->buf, sizeof s->buf);
}

static void server_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct userver *s = st->data;
    if (n < 0) echo_die("native uv", "server read", n);
    if (n > 0) write_all(st, s->buf, (size_t)n);
}

static void client_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct uclient *u = h->data;
    *buf = uv_buf_init((char *)u->buf, sizeof u->buf);
}

static void client_next(struct uclient *u)
{
    if (echo_next(u->r, u->c)) write_all((uv_stream_t *)&u->h, u->c->out, ECHO_MSG);
}

static void client_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    struct uclient *u = st->data;
    if (n < 0) echo_die("native uv", "client read", n);
    if ((size_t)n > ECHO_MSG - u->c->got) echo_die("native uv", "client read (more than was sent)", -EPROTO);
    memcpy(u->c->in + u->c->got, u->buf, (size_t)n);
    u->c->got += (size_t)n;
    if (n == 0 || u->c->got < ECHO_MSG) return;
    echo_check(u->r, u->c);
    if (echo_finished(u->r)) uv_stop(st->loop);
    else client_next(u);
}

struct ulisten {
    uv_tcp_t h;
    struct echo_run *r;
    struct userver *servers;
};

static void on_connection(uv_stream_t *st, int status)
{
    struct ulisten *l = st->data;
    check("listen", status);
    struct userver *s = &l->servers[l->r->accepted];
    s->r = l->r;
    check("uv_tcp_init", uv_tcp_init(st->loop, &s->h));
    s->h.data = s;
    check("uv_accept", uv_accept(st, (uv_stream_t *)&s->h));
    uv_os_fd_t fd;
    check("uv_fileno", uv_fileno((uv_handle_t *)&s->h, &fd));
    echo_accepted(l->r, fd);
    check("uv_read_start", uv_read_start((uv_stream_t *)&s->h, server_alloc, server_read));
}

double echo_native_uv(struct echo_run *r, const char *variant)
{
    (void)variant;
    uv_loop_t loop;
    check("uv_loop_init", uv_loop_init(&loop));
    struct ulisten l = { .r = r };
    struct uclient *cl = calloc((size_t)r->nconn, sizeof *cl);
    l.servers = calloc((size_t)r->nconn, sizeof *l.servers);
    if (!cl || !l.servers) echo_die("native uv", "calloc", -ENOMEM);

    double t0 = echo_now();
    check("uv_tcp_init", uv_tcp_init(&loop, &l.h));
    l.h.data = &l;
    check("uv_tcp_open", uv_tcp_open(&l.h, r->listen_fd));
    check("uv_listen", uv_listen((uv_stream_t *)&l.h, r->nconn + 16, on_connection));
    for (int i = 0; i < r->nconn; i++) {
        struct uclient *u = &cl[i];
        u->r = r;
        u->c = &r->clients[i];
        check("uv_tcp_init", uv_tcp_init(&loop, &u->h));
        u->h.data = u;
        check("uv_tcp_open", uv_tcp_open(&u->h, u->c->fd));
        check("uv_read_start", uv_read_start((uv_stream_t *)&u->h, client_alloc, client_read));
        client_next(u);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    double t1 = echo_now();

    /* Untimed: uv_close closes the fds itself; tell echo_teardown. */
    uv_close((uv_handle_t *)&l.h, NULL);
    r->listen_fd = -1;
    for (int i = 0; i < r->nconn; i++) {
        uv_close((uv_handle_t *)&cl[i].h, NULL);
        r->clients[i].fd = -1;
    }
    for (int i = 0; i < r->accepted; i++) {
        uv_close((uv_handle_t *)&l.servers[i].h, NULL);
        r->server_fds[i] = -1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    check("uv_loop_close", uv_loop_close(&loop));
    free(cl);
    free(l.servers);
    return t1 - t0;
}
