/* The echo server: an acceptor greenlet and one greenlet per connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "examples/green_echo/echo.h"

#define ECHO_BUF (64 * 1024)

struct conn {
    struct conn *prev, *next;  /* on the server's live or done list */
    green_echo_server *server;
    petal_green_t *g;
    int fd;
    char *buf;                 /* heap: never hand shared-stack bytes to the loop */
};

struct green_echo_server {
    petal_hub_t *hub;
    petal_loop_t *loop;
    petal_green_opts opts;
    int lfd;
    struct sockaddr_in addr;
    petal_green_t *acceptor;
    struct conn live;          /* list heads (circular) */
    struct conn done;          /* finished; their handles wait for release */
    size_t nopen;
    uint64_t accepted, bytes;
};

static void list_init(struct conn *head) { head->prev = head->next = head; }

static void list_unlink(struct conn *c)
{
    c->prev->next = c->next;
    c->next->prev = c->prev;
}

static void list_push(struct conn *head, struct conn *c)
{
    c->next = head;
    c->prev = head->prev;
    head->prev->next = c;
    head->prev = c;
}

static void close_fd(petal_loop_t *loop, int fd)
{
    petal_fd_closing(loop, fd);  /* PETAL_ENOENT when nothing was registered */
    close(fd);
}

/* Frees the records of finished connections (their greenlets are dead). */
static void reap(green_echo_server *s)
{
    while (s->done.next != &s->done) {
        struct conn *c = s->done.next;
        list_unlink(c);
        petal_green_release(c->g);
        free(c);
    }
}

/* Runs when the connection's greenlet dies, however: returned or killed. */
static void conn_cleanup(void *arg)
{
    struct conn *c = arg;
    close_fd(c->server->loop, c->fd);
    free(c->buf);
    c->buf = NULL;
    list_unlink(c);
    list_push(&c->server->done, c);
    c->server->nopen--;
}

static void *conn_run(void *arg)
{
    struct conn *c = arg;
    petal_greenlet_cleanup_push(conn_cleanup, c);
    for (;;) {
        ssize_t got = petal_green_recv(c->fd, c->buf, ECHO_BUF, -1);
        if (got <= 0) break;  /* end of stream, or the peer reset */
        if (petal_green_sendall(c->fd, c->buf, (size_t)got, -1) < 0) break;
        c->server->bytes += (uint64_t)got;
    }
    petal_greenlet_cleanup_pop(1);
    return NULL;
}

static int serve(green_echo_server *s, int fd)
{
    struct conn *c = calloc(1, sizeof *c);
    char *buf = malloc(ECHO_BUF);
    if (!c || !buf) {
        free(c);
        free(buf);
        return -ENOMEM;
    }
    *c = (struct conn){ .server = s, .fd = fd, .buf = buf };
    int rc = petal_green_spawn(s->hub, conn_run, c, &s->opts, &c->g);
    if (rc < 0) {
        free(buf);
        free(c);
        return rc;
    }
    list_push(&s->live, c);
    s->nopen++;
    s->accepted++;
    return 0;
}

/* Connections taken per wakeup without waiting again: what is queued, up
 * to this bound. One accept per loop iteration let a burst of clients wait
 * for as many iterations as there were clients ahead of them, each
 * iteration busy with the echoes of those already served: under load the
 * last of echo_test's thousand clients waited over a minute for their first
 * echo and timed out (batches of 64 still took 16 iterations of seconds
 * each). accept4 + spawn cost microseconds, so a whole burst fits in one
 * wakeup (asyncio's and gevent's servers also accept in batches). */
#define ACCEPT_BATCH 4096

static void *accept_run(void *arg)
{
    green_echo_server *s = arg;
    for (;;) {
        int fd = petal_green_accept(s->lfd, -1);
        if (fd == PETAL_EKILLED || fd == PETAL_ECANCELED || fd == PETAL_EBADF) break;
        if (fd < 0) {
            /* Out of fds or a connection aborted before accept: keep serving. */
            petal_green_sleep(0.01);
            continue;
        }
        /* Then those already queued (lfd is non-blocking: never waits). */
        for (int n = 1; fd >= 0; n++) {
            if (serve(s, fd) < 0) close(fd);
            fd = n < ACCEPT_BATCH ? accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC) : -1;
        }
        reap(s);
    }
    return NULL;
}

static int listen_on(uint16_t port, struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    *addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *addr;
    if (bind(fd, (struct sockaddr *)addr, sizeof *addr) < 0 || listen(fd, 4096) < 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int green_echo_server_start(petal_hub_t *hub, uint16_t port, const petal_green_opts *opts,
                            green_echo_server **out)
{
    if (!hub || !out) return PETAL_EINVAL;
    green_echo_server *s = calloc(1, sizeof *s);
    if (!s) return PETAL_ENOMEM;
    s->hub = hub;
    s->loop = petal_green_hub_loop(hub);
    if (opts) s->opts = *opts;
    if (!s->opts.name) s->opts.name = "echo-conn";
    list_init(&s->live);
    list_init(&s->done);
    s->lfd = listen_on(port, &s->addr);
    if (s->lfd < 0) {
        int rc = s->lfd;
        free(s);
        return rc;
    }
    petal_green_opts aopts = s->opts;
    aopts.name = "echo-accept";
    int rc = petal_green_spawn(hub, accept_run, s, &aopts, &s->acceptor);
    if (rc < 0) {
        close(s->lfd);
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

struct sockaddr_in green_echo_server_addr(const green_echo_server *s) { return s->addr; }
uint64_t green_echo_server_accepted(const green_echo_server *s) { return s->accepted; }
size_t green_echo_server_open(const green_echo_server *s) { return s->nopen; }
uint64_t green_echo_server_bytes(const green_echo_server *s) { return s->bytes; }

int green_echo_server_stop(green_echo_server *s)
{
    if (!s) return PETAL_EINVAL;
    petal_green_t *me = petal_green_current();
    if (me && me == s->acceptor) return PETAL_EBUSY;
    for (struct conn *c = s->live.next; c != &s->live; c = c->next)
        if (c->g == me) return PETAL_EBUSY;
    int rc = petal_green_kill(s->acceptor);
    petal_green_release(s->acceptor);
    while (s->live.next != &s->live) {
        struct conn *c = s->live.next;
        int k = petal_green_kill(c->g);  /* its cleanup moves it to done */
        if (k < 0 && rc == 0) rc = k;
        if (k < 0) break;
        /* Spawned but never started (spawn runs it on a later iteration), or
         * it could not get a stack: it never ran, so its cleanup hook was
         * never pushed. Close its socket here. */
        if (s->live.next == c) conn_cleanup(c);
    }
    reap(s);
    close_fd(s->loop, s->lfd);
    free(s);
    return rc;
}
