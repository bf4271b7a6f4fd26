/* create_connection: resolve the host off the loop thread (petal/resolve.h;
 * numeric hosts are answered without a thread), try each address in order
 * (petal_sock_connect, so io_uring connects as a completion), make a
 * transport of the first that connects, and complete the caller's future
 * with it. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "adapters/callback/transport_internal.h"
#include "petal/resolve.h"
#include "petal/sock.h"

struct conn {
    petal_loop_t *loop;
    const petal_protocol_t *proto;
    void *user;
    unsigned refs;              /* the out callback + the step in flight */
    bool finished;              /* out is done (result, error or cancelled) */
    petal_future_t *out;
    petal_future_t *step;       /* the lookup or connect in flight */
    petal_future_t *names;      /* the finished lookup: owns list */
    int fd;
    int last_err;
    const struct addrinfo *list;
    const struct addrinfo *cur;
    struct addrinfo one;        /* petal_create_connection_addr's address */
    struct sockaddr_storage one_addr;
};

static void conn_unref(struct conn *c)
{
    if (--c->refs) return;
    if (c->names) petal_future_release(c->names);
    petal_future_release(c->out);
    free(c);
}

static void drop_fd(struct conn *c)
{
    if (c->fd < 0) return;
    petal_fd_closing(c->loop, c->fd);
    close(c->fd);
    c->fd = -1;
}

static void finish(struct conn *c, int err, petal_transport_t *t)
{
    c->finished = true;
    if (t) petal_future_set_result(c->out, t, NULL);
    else petal_future_set_error(c->out, err);
}

static void try_next(struct conn *c);

static void on_connected(petal_future_t *fut, void *arg)
{
    struct conn *c = arg;
    ssize_t r = petal_sock_result(fut);
    c->step = NULL;
    petal_future_release(fut);
    if (c->finished) {    /* the caller cancelled */
        drop_fd(c);
    } else if (r < 0) {
        drop_fd(c);
        c->last_err = (int)r;
        c->cur = c->cur->ai_next;
        try_next(c);
    } else {
        petal_transport_t *t;
        int rc = pcb_transport_new(c->loop, c->proto, c->user, c->fd, &t);
        if (rc) drop_fd(c);
        c->fd = -1;
        finish(c, rc, rc ? NULL : t);
    }
    conn_unref(c);
}

static void try_next(struct conn *c)
{
    for (; c->cur; c->cur = c->cur->ai_next) {
        const struct addrinfo *a = c->cur;
        c->fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            c->last_err = -errno;
            continue;
        }
        petal_future_t *f;
        int rc = petal_sock_connect(c->loop, c->fd, a->ai_addr, a->ai_addrlen, &f);
        if (rc == 0 && (rc = petal_future_add_done_callback(f, on_connected, c))) {
            petal_future_cancel(f);
            petal_future_release(f);
        }
        if (rc) {
            drop_fd(c);
            c->last_err = rc;
            continue;
        }
        c->step = f;
        c->refs++;
        return;
    }
    finish(c, c->last_err ? c->last_err : PETAL_EINVAL, NULL);
}

/* The caller's future is done: if it was cancelled, abandon the attempt. */
static void on_out_done(petal_future_t *fut, void *arg)
{
    (void)fut;
    struct conn *c = arg;
    if (!c->finished) {
        c->finished = true;
        if (c->step) petal_future_cancel(c->step);    /* on_connected closes the fd */
    }
    conn_unref(c);
}

static int conn_new(petal_loop_t *loop, const petal_protocol_t *proto, void *user, petal_future_t **out,
                    struct conn **cp)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (!loop || !proto) return PETAL_EINVAL;
    struct conn *c = calloc(1, sizeof *c);
    if (!c) return PETAL_ENOMEM;
    int rc = petal_future_new(loop, &c->out);
    if (rc == 0 && (rc = petal_future_add_done_callback(c->out, on_out_done, c))) petal_future_release(c->out);
    if (rc) {
        free(c);
        return rc;
    }
    c->loop = loop;
    c->proto = proto;
    c->user = user;
    c->refs = 1;
    c->fd = -1;
    *cp = c;
    return 0;
}

/* Starts connecting through c's address list and hands out the future. */
static int conn_start(struct conn *c, petal_future_t **out)
{
    c->cur = c->list;
    *out = petal_future_retain(c->out);
    try_next(c);
    return 0;
}

int petal_create_connection_addr(petal_loop_t *loop, const petal_protocol_t *proto, void *user,
                                 const struct sockaddr *addr, socklen_t addrlen, petal_future_t **out)
{
    if (!addr || addrlen < sizeof(sa_family_t) || addrlen > sizeof(struct sockaddr_storage)) {
        if (out) *out = NULL;
        return PETAL_EINVAL;
    }
    if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6 && addr->sa_family != AF_UNIX) {
        if (out) *out = NULL;
        return -EAFNOSUPPORT;
    }
    struct conn *c;
    int rc = conn_new(loop, proto, user, out, &c);
    if (rc) return rc;
    memcpy(&c->one_addr, addr, addrlen);
    c->one.ai_family = addr->sa_family;
    c->one.ai_socktype = SOCK_STREAM;
    c->one.ai_addr = (struct sockaddr *)&c->one_addr;
    c->one.ai_addrlen = addrlen;
    c->list = &c->one;
    return conn_start(c, out);
}

int petal_create_unix_connection(petal_loop_t *loop, const petal_protocol_t *proto, void *user, const char *path,
                                 petal_future_t **out)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (!path || !*path || strlen(path) >= sizeof a.sun_path) {
        if (out) *out = NULL;
        return PETAL_EINVAL;
    }
    strcpy(a.sun_path, path);
    return petal_create_connection_addr(loop, proto, user, (struct sockaddr *)&a, sizeof a, out);
}

static void on_resolved(petal_future_t *fut, void *arg)
{
    struct conn *c = arg;
    c->step = NULL;
    c->names = fut;    /* keeps the list alive until the end */
    if (!c->finished) {
        const struct addrinfo *list;
        int rc = petal_getaddrinfo_result(fut, &list);
        if (rc) {
            finish(c, rc, NULL);
        } else {
            c->list = c->cur = list;
            try_next(c);
        }
    }
    conn_unref(c);
}

int petal_create_connection(petal_loop_t *loop, const petal_protocol_t *proto, void *user, const char *host,
                            int port, petal_future_t **out)
{
    if (!host || !*host || port <= 0 || port > 65535) {
        if (out) *out = NULL;
        return PETAL_EINVAL;
    }
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = { .ai_flags = AI_NUMERICSERV, .ai_socktype = SOCK_STREAM };
    struct conn *c;
    int rc = conn_new(loop, proto, user, out, &c);
    if (rc) return rc;
    petal_future_t *f;
    if ((rc = petal_getaddrinfo(loop, host, service, &hints, &f)) == 0 &&
        (rc = petal_future_add_done_callback(f, on_resolved, c))) {
        petal_future_cancel(f);
        petal_future_release(f);
    }
    if (rc) {
        petal_future_remove_done_callback(c->out, on_out_done, c);
        conn_unref(c);
        return rc;
    }
    c->step = f;
    c->refs++;
    *out = petal_future_retain(c->out);
    return 0;
}
