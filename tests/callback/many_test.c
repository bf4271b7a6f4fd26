/* 1,000 concurrent connections on one loop, each echoing 1 MB through a
 * server with back-pressure; every byte is checked. Linked once per
 * backend. */
#include <sys/resource.h>

#include "tests/callback/common.h"

#define NCONN 1000
#define BYTES (1u << 20)
#define CHUNK (64u * 1024)

struct client {
    petal_transport_t *t;
    unsigned id;
    size_t sent, received;
    bool paused, made, eof, bad;
    int lost, lost_err;
};

struct server_conn {
    petal_transport_t *t;
    int lost, lost_err;
};

static struct client *clients;
static struct server_conn *sconns;
static int nsconn, clients_lost, servers_lost;
static unsigned char *src;    /* the pattern every client sends, shifted by its id */

/* Client c sends src[shift(c)...] (2 MB of pattern, so any 1 MB window
 * fits): every connection carries different bytes. */
static const unsigned char *stream_of(const struct client *c)
{
    return src + (c->id * 4099u) % BYTES;
}

static void client_fill(struct client *c)
{
    while (!c->paused && c->sent < BYTES) {
        size_t n = BYTES - c->sent < CHUNK ? BYTES - c->sent : CHUNK;
        assert_int_equal(petal_transport_write(c->t, stream_of(c) + c->sent, n), 0);
        c->sent += n;
    }
    if (c->sent == BYTES && !c->eof) {
        c->eof = true;
        assert_int_equal(petal_transport_write_eof(c->t), 0);
    }
}

static void c_made(petal_transport_t *t, void *u)
{
    struct client *c = u;
    c->t = t;
    c->made = true;
    client_fill(c);
}

static void c_data(petal_transport_t *t, const void *d, size_t n, void *u)
{
    (void)t;
    struct client *c = u;
    if (c->received + n > BYTES || memcmp(d, stream_of(c) + c->received, n) != 0) c->bad = true;
    c->received += n;
}

static void c_lost(petal_transport_t *t, int err, void *u)
{
    (void)t;
    struct client *c = u;
    c->lost++;
    c->lost_err = err;
    clients_lost++;
}

static void c_pause(petal_transport_t *t, void *u) { (void)t; ((struct client *)u)->paused = true; }

static void c_resume(petal_transport_t *t, void *u)
{
    (void)t;
    struct client *c = u;
    c->paused = false;
    client_fill(c);
}

static const petal_protocol_t client_proto = {
    .connection_made = c_made, .data_received = c_data, .connection_lost = c_lost,
    .pause_writing = c_pause, .resume_writing = c_resume,
};

/* The server echoes; when its peer reads slowly it stops reading. */
static void s_made(petal_transport_t *t, void *u)
{
    (void)u;
    assert_true(nsconn < NCONN);
    struct server_conn *s = &sconns[nsconn++];
    s->t = t;
    petal_transport_set_user(t, s);
}

static void s_data(petal_transport_t *t, const void *d, size_t n, void *u)
{
    (void)u;
    assert_int_equal(petal_transport_write(t, d, n), 0);
}

static bool s_eof(petal_transport_t *t, void *u)
{
    (void)u;
    assert_int_equal(petal_transport_close(t), 0);    /* after the echo is flushed */
    return true;
}

static void s_lost(petal_transport_t *t, int err, void *u)
{
    (void)t;
    struct server_conn *s = u;
    s->lost++;
    s->lost_err = err;
    servers_lost++;
}

static void s_pause(petal_transport_t *t, void *u) { (void)u; petal_transport_pause_reading(t); }
static void s_resume(petal_transport_t *t, void *u) { (void)u; petal_transport_resume_reading(t); }

static const petal_protocol_t server_proto = {
    .connection_made = s_made, .data_received = s_data, .eof_received = s_eof, .connection_lost = s_lost,
    .pause_writing = s_pause, .resume_writing = s_resume,
};

static bool all_lost(void *arg)
{
    (void)arg;
    return clients_lost == NCONN && servers_lost == NCONN;
}

static void test_thousand_connections_echo_1mb(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * NCONN + 100) {
        if (rl.rlim_max < 2 * NCONN + 100) fail_msg("RLIMIT_NOFILE hard limit %lu < %d", (unsigned long)rl.rlim_max, 2 * NCONN + 100);
        rl.rlim_cur = 2 * NCONN + 100;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    /* pseudo-random bytes (xorshift): no period, so a lost, repeated or
     * misrouted chunk of any size shows */
    src = malloc(2 * BYTES);
    assert_non_null(src);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < 2 * BYTES; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        src[i] = (unsigned char)(x >> 24);
    }
    clients = calloc(NCONN, sizeof *clients);
    sconns = calloc(NCONN, sizeof *sconns);
    assert_non_null(clients);
    assert_non_null(sconns);
    petal_loop_t *loop = new_loop();
    petal_server_t *server;
    assert_int_equal(petal_create_server(loop, &server_proto, NULL, "127.0.0.1", 0, 2048, &server), 0);
    struct sockaddr_storage a;
    socklen_t alen;
    assert_int_equal(petal_server_address(server, 0, &a, &alen), 0);
    petal_future_t **futs = calloc(NCONN, sizeof *futs);
    for (unsigned i = 0; i < NCONN; i++) {
        clients[i].id = i;
        assert_int_equal(petal_create_connection_addr(loop, &client_proto, &clients[i], (struct sockaddr *)&a, alen,
                                                      &futs[i]), 0);
    }
    double t0 = now_s();
    run_until(loop, all_lost, NULL, 300);
    double secs = now_s() - t0;
    print_message("1000 x 1 MB echoed on %s in %.2f s\n", petal_loop_backend(loop), secs);
    for (unsigned i = 0; i < NCONN; i++) {
        struct client *c = &clients[i];
        assert_int_equal(petal_future_result(futs[i], NULL), 0);
        petal_future_release(futs[i]);
        assert_true(c->made);
        assert_false(c->bad);
        assert_int_equal(c->received, BYTES);
        assert_int_equal(c->lost, 1);
        assert_int_equal(c->lost_err, 0);
        assert_int_equal(sconns[i].lost, 1);
        assert_int_equal(sconns[i].lost_err, 0);
    }
    assert_int_equal(nsconn, NCONN);
    assert_int_equal(petal_server_close(server), 0);
    free_loop(loop);
    free(futs);
    free(clients);
    free(sconns);
    free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thousand_connections_echo_1mb),
    };
    return cmocka_run_group_tests_name("transport_many", tests, NULL, NULL);
}
