/* The checking echo client: lock-step chunks, every byte compared. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "examples/green_echo/echo.h"

uint8_t green_echo_pattern(uint32_t seed, uint64_t i)
{
    /* Differs between neighbouring bytes, chunks and connections. */
    return (uint8_t)(i * 131u + (i >> 9) + seed * 2654435761u + (seed >> 8));
}

struct client {
    int fd;
    char *out, *in;   /* heap: never hand shared-stack bytes to the loop */
};

static void client_cleanup(void *arg)
{
    struct client *c = arg;
    if (c->fd >= 0) {
        petal_loop_t *loop = petal_green_hub_loop(petal_green_hub_current());
        petal_fd_closing(loop, c->fd);
        close(c->fd);
    }
    free(c->out);
    free(c->in);
}

static int exchange(struct client *c, size_t len, size_t chunk, uint32_t seed, double timeout_s)
{
    for (uint64_t off = 0; off < len;) {
        size_t n = len - off < chunk ? (size_t)(len - off) : chunk;
        for (size_t k = 0; k < n; k++) c->out[k] = (char)green_echo_pattern(seed, off + k);
        ssize_t rc = petal_green_sendall(c->fd, c->out, n, timeout_s);
        if (rc < 0) return (int)rc;
        for (size_t got = 0; got < n;) {
            ssize_t r = petal_green_recv(c->fd, c->in + got, n - got, timeout_s);
            if (r < 0) return (int)r;
            if (r == 0) return -EPROTO;  /* the stream ended early */
            got += (size_t)r;
        }
        if (memcmp(c->out, c->in, n) != 0) return -EPROTO;
        off += n;
    }
    /* Our end of stream; the server closes in turn: no byte may follow. */
    if (shutdown(c->fd, SHUT_WR) < 0) return -errno;
    ssize_t r = petal_green_recv(c->fd, c->in, 1, timeout_s);
    return r == 0 ? 0 : r < 0 ? (int)r : -EPROTO;
}

int green_echo_client(const struct sockaddr_in *addr, size_t len, size_t chunk, uint32_t seed, double timeout_s)
{
    if (!addr || chunk == 0) return PETAL_EINVAL;
    petal_hub_t *hub = petal_green_hub_current();
    if (!hub) return PETAL_ENOHUB;
    struct client c = { .fd = -1 };
    petal_greenlet_cleanup_push(client_cleanup, &c);
    int rc = 0;
    c.out = malloc(chunk);
    c.in = malloc(chunk);
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!c.out || !c.in) rc = PETAL_ENOMEM;
    else if (c.fd < 0) rc = -errno;
    else rc = petal_green_connect(c.fd, (const struct sockaddr *)addr, sizeof *addr, timeout_s);
    if (rc == 0) rc = exchange(&c, len, chunk, seed, timeout_s);
    petal_greenlet_cleanup_pop(1);
    return rc;
}
