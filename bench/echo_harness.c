/* The echo_tcp workload's shared part, the API of bench/echo_bench.h:
 * sockets set up before the timed region, the message pattern, the echo
 * check, teardown. Used by echo_bench (petal's sock_* calls and the native
 * loops) and by bench/transport (petal transports beside libuv). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench/echo_bench.h"

double echo_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

_Noreturn void echo_die(const char *impl, const char *what, long err)
{
    fprintf(stderr, "echo_tcp: %s: %s failed: %ld (%s)\n", impl, what, err, strerror(err < 0 ? (int)-err : (int)err));
    exit(1);
}

/* Byte i of message seq of client id: differs between clients, messages and
 * positions, so a lost, duplicated or misrouted byte is seen. */
static unsigned char pattern(int id, long seq, int i)
{
    return (unsigned char)(id * 131 + seq * 7 + i * 3 + 1);
}

bool echo_next(struct echo_run *r, struct echo_client *c)
{
    if (r->started >= r->n) return false;
    r->started++;
    c->seq++;
    c->got = 0;
    for (int i = 0; i < ECHO_MSG; i++) c->out[i] = pattern(c->id, c->seq, i);
    return true;
}

void echo_check(struct echo_run *r, struct echo_client *c)
{
    for (int i = 0; i < ECHO_MSG; i++)
        if (c->in[i] != pattern(c->id, c->seq, i)) {
            fprintf(stderr, "echo_tcp: client %d message %ld byte %d: got %u, sent %u\n", c->id, c->seq, i,
                    c->in[i], pattern(c->id, c->seq, i));
            exit(1);
        }
    r->finished++;
}

void echo_accepted(struct echo_run *r, int fd)
{
    if (r->accepted >= r->nconn) echo_die("server", "accept (one connection too many)", 0);
    r->server_fds[r->accepted++] = fd;
}

int echo_setup(struct echo_run *r, long n, int nconn)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    r->nconn = nconn;
    r->clients = calloc((size_t)nconn, sizeof *r->clients);
    r->server_fds = calloc((size_t)nconn, sizeof *r->server_fds);
    if (!r->clients || !r->server_fds) return -ENOMEM;

    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    int one = 1;
    r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* TCP_NODELAY on both ends (accepted sockets inherit the listener's). */
    if (r->listen_fd < 0 || setsockopt(r->listen_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) || bind(r->listen_fd, (struct sockaddr *)&a, sizeof a) ||
        listen(r->listen_fd, nconn + 16) || getsockname(r->listen_fd, (struct sockaddr *)&a, &alen))
        return -errno;
    for (int i = 0; i < nconn; i++) {
        struct echo_client *c = &r->clients[i];
        c->id = i;
        /* Blocking connect: on loopback it completes once the kernel has the
         * connection in the listener's backlog, before anyone accepts. */
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a)) return -errno;
        if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
            fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK))
            return -errno;
    }
    return 0;
}

void echo_teardown(struct echo_run *r)
{
    /* fd -1: the implementation has closed it (libuv's uv_close does). */
    for (int i = 0; i < r->nconn; i++)
        if (r->clients[i].fd >= 0) close(r->clients[i].fd);
    for (int i = 0; i < r->accepted; i++)
        if (r->server_fds[i] >= 0) close(r->server_fds[i]);
    if (r->listen_fd >= 0) close(r->listen_fd);
    free(r->clients);
    free(r->server_fds);
}
