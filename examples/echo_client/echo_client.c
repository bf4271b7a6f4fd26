/* An echo client in callback style: connects, sends BYTES bytes in pieces
 * (as fast as flow control allows), checks that every byte comes back, then
 * half-closes and waits for the server to close. Exits 0 on success.
 *
 *   echo_client HOST PORT [BYTES]      (BYTES: default 1000000)
 *
 * The backend is $PETAL_BACKEND, or the default. */
#include <stdio.h>
#include <stdlib.h>

#include "petal/transport.h"

#define PIECE 16384

struct client {
    petal_loop_t *loop;
    size_t total, sent, received;
    bool paused, bad, done;
    int err;
};

static unsigned char byte_at(size_t i)
{
    return (unsigned char)(i * 31 + (i >> 8));
}

static void send_more(petal_transport_t *t, struct client *c)
{
    unsigned char buf[PIECE];
    while (!c->paused && c->sent < c->total) {
        size_t n = c->total - c->sent < PIECE ? c->total - c->sent : PIECE;
        for (size_t i = 0; i < n; i++) buf[i] = byte_at(c->sent + i);
        if (petal_transport_write(t, buf, n)) return;
        c->sent += n;
    }
    if (c->sent == c->total) petal_transport_write_eof(t);
}

static void on_made(petal_transport_t *t, void *user)
{
    send_more(t, user);
}

static void on_data(petal_transport_t *t, const void *data, size_t len, void *user)
{
    (void)t;
    struct client *c = user;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        if (c->received + i >= c->total || p[i] != byte_at(c->received + i)) c->bad = true;
    c->received += len;
}

static void on_lost(petal_transport_t *t, int err, void *user)
{
    (void)t;
    struct client *c = user;
    c->err = err;
    c->done = true;
    petal_loop_stop(c->loop);
}

static void on_pause(petal_transport_t *t, void *user)
{
    (void)t;
    ((struct client *)user)->paused = true;
}

static void on_resume(petal_transport_t *t, void *user)
{
    struct client *c = user;
    c->paused = false;
    send_more(t, c);
}

static const petal_protocol_t proto = {
    .connection_made = on_made,
    .data_received = on_data,
    .connection_lost = on_lost,
    .pause_writing = on_pause,
    .resume_writing = on_resume,
};

static void on_timeout(petal_loop_t *loop, void *arg)
{
    (void)arg;
    fprintf(stderr, "echo_client: timed out\n");
    petal_loop_stop(loop);
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: echo_client HOST PORT [BYTES]\n");
        return 2;
    }
    struct client c = { .total = argc == 4 ? strtoul(argv[3], NULL, 10) : 1000000 };
    petal_future_t *fut = NULL;
    int rc = petal_loop_new(&c.loop);
    if (rc == 0) rc = petal_create_connection(c.loop, &proto, &c, argv[1], atoi(argv[2]), &fut);
    if (rc == 0) rc = petal_loop_run_until_complete(c.loop, fut);    /* the connect */
    if (rc) {
        fprintf(stderr, "echo_client: connect: %s\n", petal_strerror(rc));
        return 1;
    }
    petal_future_release(fut);
    petal_call_later(c.loop, 30, on_timeout, NULL);
    petal_loop_run(c.loop);    /* until connection_lost (or the timeout) */
    petal_loop_free(c.loop);
    bool ok = c.done && c.err == 0 && !c.bad && c.received == c.total;
    printf("echo_client: sent %zu, received %zu, %s\n", c.sent, c.received, ok ? "all bytes match" : "FAILED");
    return ok ? 0 : 1;
}
