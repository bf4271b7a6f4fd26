/* Servers: listening sockets that make a transport of every connection.
 * Readiness backends accept in the listener's read callback (a batch per
 * wakeup); io_uring keeps one accept in the kernel per listening socket. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "adapters/callback/transport_internal.h"
#include "petal/sock.h"

#define MAX_LISTEN 4
#define ACCEPT_BATCH 64
#define RETRY_S 0.1    /* out of fds or memory: accept again after this */

struct lsock {
    petal_server_t *s;
    int fd;
    bool watching;              /* readiness: reader registered */
    petal_future_t *afut;       /* io_uring: the accept in the kernel */
    petal_handle_t retry;       /* timer after EMFILE and the like */
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct petal_server {
    petal_loop_t *loop;
    struct registry *reg;
    petal_server_t *prev, *next;
    const petal_protocol_t *proto;
    void *user;
    bool native, closed;
    unsigned refs;              /* 1 until closed, +1 per accept callback in flight */
    int n;
    struct lsock socks[MAX_LISTEN];
    char *unix_path;            /* removed on close */
};

static void server_free(petal_server_t *s)
{
    if (s->prev) s->prev->next = s->next;
    else s->reg->servers = s->next;
    if (s->next) s->next->prev = s->prev;
    free(s->unix_path);
    free(s);
}

static void server_unref(petal_server_t *s)
{
    if (--s->refs == 0) server_free(s);
}

void pcb_server_release_at_close(petal_server_t *s)
{
    if (!s->closed) {
        s->refs++;    /* keep s for server_free below, whatever is pending */
        petal_server_close(s);
    }
    server_free(s);
}

static void listen_start(struct lsock *l);

static void retry_cb(petal_loop_t *loop, void *arg)
{
    (void)loop;
    struct lsock *l = arg;
    l->retry = 0;
    listen_start(l);
}

/* Handles one accept result; false to stop accepting for now. */
static bool accepted(struct lsock *l, int fd)
{
    petal_server_t *s = l->s;
    if (fd >= 0) {
        petal_transport_t *t;
        if (pcb_transport_new(s->loop, s->proto, s->user, fd, &t)) close(fd);
        return true;
    }
    if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
        /* asyncio's answer: pause, so the loop does not spin on the error. */
        petal_handle_t h = petal_call_later(s->loop, RETRY_S, retry_cb, l);
        if (h > 0) l->retry = h;
        return false;
    }
    return true;    /* ECONNABORTED, EPROTO, ...: the next connection is fine */
}

static void on_acceptable(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)loop;
    struct lsock *l = arg;
    if (status < 0) {
        l->watching = false;
        return;
    }
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (c < 0 && errno == EINTR) continue;
        if (!accepted(l, c < 0 ? -errno : c)) {
            petal_remove_reader(l->s->loop, fd);
            l->watching = false;
            return;
        }
    }
}

static void on_accept(petal_future_t *fut, void *arg)
{
    struct lsock *l = arg;
    petal_server_t *s = l->s;
    ssize_t r = petal_sock_result(fut);
    if (l->afut == fut) l->afut = NULL;
    petal_future_release(fut);
    if (s->closed) {
        if (r >= 0) close((int)r);
    } else if (accepted(l, (int)r)) {
        listen_start(l);
    }
    server_unref(s);
}

static void listen_start(struct lsock *l)
{
    petal_server_t *s = l->s;
    if (s->closed) return;
    if (!s->native) {
        if (!l->watching && petal_add_reader(s->loop, l->fd, on_acceptable, l) == 0) l->watching = true;
        return;
    }
    petal_future_t *f;
    if (l->afut || petal_sock_accept(s->loop, l->fd, &f)) return;
    if (petal_future_add_done_callback(f, on_accept, l)) {
        petal_future_cancel(f);
        petal_future_release(f);
        return;
    }
    l->afut = f;
    s->refs++;
}

static int server_new(petal_loop_t *loop, const petal_protocol_t *proto, void *user, petal_server_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (!loop || !proto) return PETAL_EINVAL;
    int native = petal_loop_has_native_sock(loop);
    if (native < 0) return native;
    struct registry *reg = pcb_registry_of(loop);
    if (!reg) return PETAL_ENOMEM;
    petal_server_t *s = calloc(1, sizeof *s);
    if (!s) return PETAL_ENOMEM;
    s->loop = loop;
    s->reg = reg;
    s->next = reg->servers;
    if (s->next) s->next->prev = s;
    reg->servers = s;
    s->proto = proto;
    s->user = user;
    s->native = native;
    s->refs = 1;
    *out = s;
    return 0;
}

/* Adds a listening fd (owned by the server from now on) and starts it. */
static void server_add(petal_server_t *s, int fd)
{
    struct lsock *l = &s->socks[s->n++];
    l->s = s;
    l->fd = fd;
    l->addrlen = sizeof l->addr;
    if (getsockname(fd, (struct sockaddr *)&l->addr, &l->addrlen) < 0) l->addrlen = 0;
}

static void server_start(petal_server_t *s)
{
    for (int i = 0; i < s->n; i++) listen_start(&s->socks[i]);
}

int petal_server_close(petal_server_t *s)
{
    if (!s) return PETAL_EINVAL;
    if (s->closed) return PETAL_EALREADY;
    s->closed = true;
    for (int i = 0; i < s->n; i++) {
        struct lsock *l = &s->socks[i];
        if (l->retry > 0) petal_cancel(s->loop, l->retry);
        if (l->watching) petal_remove_reader(s->loop, l->fd);
        if (l->afut) {
            petal_future_t *f = l->afut;
            l->afut = NULL;
            /* Callback not yet scheduled: drop it here, so nothing waits
             * for a loop iteration that may never come. Else on_accept
             * drops it. */
            bool mine = petal_future_remove_done_callback(f, on_accept, l) == 0;
            petal_future_cancel(f);
            if (mine) {
                petal_future_release(f);
                s->refs--;
            }
        }
        petal_fd_closing(s->loop, l->fd);
        close(l->fd);
        l->fd = -1;
    }
    if (s->unix_path) unlink(s->unix_path);
    server_unref(s);
    return 0;
}

static int listen_fd(int family, const struct sockaddr *a, socklen_t alen, int backlog, int *out)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    if (family != AF_UNIX) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    /* One socket per family, as asyncio does with host=None. */
    if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, a, alen) < 0 || listen(fd, backlog) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    *out = fd;
    return 0;
}

static void set_port(struct sockaddr *a, int port)
{
    if (a->sa_family == AF_INET) ((struct sockaddr_in *)a)->sin_port = htons((uint16_t)port);
    else if (a->sa_family == AF_INET6) ((struct sockaddr_in6 *)a)->sin6_port = htons((uint16_t)port);
}

static int get_port(const struct sockaddr_storage *a)
{
    if (a->ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->ss_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return 0;
}

int petal_create_server(petal_loop_t *loop, const petal_protocol_t *proto, void *user, const char *host, int port,
                        int backlog, petal_server_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (port < 0 || port > 65535) return PETAL_EINVAL;
    if (backlog <= 0) backlog = 128;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
                              .ai_socktype = SOCK_STREAM };
    struct addrinfo *ai;
    petal_server_t *s;
    int rc = server_new(loop, proto, user, &s);
    if (rc) return rc;
    if (getaddrinfo(host, service, &hints, &ai) != 0) {
        server_unref(s);
        return PETAL_EINVAL;    /* not a numeric address */
    }
    for (struct addrinfo *p = ai; p && s->n < MAX_LISTEN; p = p->ai_next) {
        int fd;
        /* port 0 with several sockets: the later ones take the first's port */
        if (port == 0 && s->n) set_port(p->ai_addr, get_port(&s->socks[0].addr));
        rc = listen_fd(p->ai_family, p->ai_addr, p->ai_addrlen, backlog, &fd);
        if (rc == -EAFNOSUPPORT && !host) continue;    /* no IPv6 on this machine */
        if (rc) break;
        server_add(s, fd);
    }
    freeaddrinfo(ai);
    if (rc == 0 && s->n == 0) rc = -EAFNOSUPPORT;
    if (rc) {
        petal_server_close(s);
        return rc;
    }
    server_start(s);
    *out = s;
    return 0;
}

int petal_create_unix_server(petal_loop_t *loop, const petal_protocol_t *proto, void *user, const char *path,
                             int backlog, petal_server_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    if (!path || !*path || strlen(path) >= sizeof a.sun_path) return PETAL_EINVAL;
    strcpy(a.sun_path, path);
    if (backlog <= 0) backlog = 128;
    petal_server_t *s;
    int rc = server_new(loop, proto, user, &s);
    if (rc) return rc;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);    /* a stale socket file */
    int fd;
    if ((rc = listen_fd(AF_UNIX, (struct sockaddr *)&a, sizeof a, backlog, &fd))) {
        server_unref(s);
        return rc;
    }
    if (!(s->unix_path = strdup(path))) {
        close(fd);
        unlink(path);
        server_unref(s);
        return PETAL_ENOMEM;
    }
    server_add(s, fd);
    server_start(s);
    *out = s;
    return 0;
}

int petal_server_adopt(petal_loop_t *loop, const petal_protocol_t *proto, void *user, int fd, petal_server_t **out)
{
    if (!out) return PETAL_EINVAL;
    *out = NULL;
    if (!loop || !proto) return PETAL_EINVAL;
    if (fd < 0 || fcntl(fd, F_GETFL) < 0) return PETAL_EBADF;
    int listening = 0;
    socklen_t l = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &l) < 0) return -errno;
    if (!listening) return PETAL_EINVAL;
    petal_server_t *s;
    int rc = server_new(loop, proto, user, &s);
    if (rc) return rc;
    int fl = fcntl(fd, F_GETFL);
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        rc = -errno;
        server_unref(s);
        return rc;
    }
    server_add(s, fd);
    server_start(s);
    *out = s;
    return 0;
}

int petal_server_count(const petal_server_t *s)
{
    return s ? s->n : PETAL_EINVAL;
}

int petal_server_address(const petal_server_t *s, int i, struct sockaddr_storage *addr, socklen_t *len)
{
    if (!s || !addr || !len || i < 0 || i >= s->n) return PETAL_EINVAL;
    memcpy(addr, &s->socks[i].addr, s->socks[i].addrlen);
    *len = s->socks[i].addrlen;
    return 0;
}
