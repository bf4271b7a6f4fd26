/* Both styles on one loop: callback code (futures, call_soon/call_later,
 * add_reader, petal_sock_*) and greenlets exchange data both ways, over
 * futures and over sockets. Built once per backend. */
#include "green_common.h"

/* ---- futures both ways -------------------------------------------------- */

static petal_future_t *request;  /* callback -> greenlet */
static intptr_t replies[3];
static int nreplies;

static void answer_request(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
    assert_int_equal(petal_future_set_result(request, (void *)(intptr_t)20, NULL), 0);
}

static void *doubler(void *arg)
{
    void *v;
    assert_int_equal(petal_green_await(request, 5, &v), 0); /* set by a callback */
    return (void *)((intptr_t)v * 2 + (intptr_t)arg);
}

static void on_doubled(petal_future_t *f, void *arg)
{
    (void)arg;
    void *v;
    assert_int_equal(petal_future_result(f, &v), 0);
    replies[nreplies++] = (intptr_t)v;
}

/* A callback spawns a greenlet and waits for it through its future. */
static void spawn_from_callback(petal_loop_t *l, void *arg)
{
    (void)l;
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, doubler, arg, NULL, &g), 0);
    petal_future_t *f;
    assert_int_equal(petal_green_future(g, &f), 0);
    assert_int_equal(petal_future_add_done_callback(f, on_doubled, NULL), 0);
    petal_future_release(f);
    petal_green_release(g);
}

static void test_futures_both_ways(void **state)
{
    (void)state;
    nreplies = 0;
    assert_int_equal(petal_future_new(loop, &request), 0);
    petal_call_soon(loop, spawn_from_callback, (void *)1);
    petal_call_soon(loop, spawn_from_callback, (void *)2);
    petal_call_later(loop, 0.005, answer_request, NULL);
    /* main drives the loop by sleeping */
    for (int i = 0; i < 1000 && nreplies < 2; i++) assert_int_equal(petal_green_sleep(0.005), 0);
    assert_int_equal(nreplies, 2);
    assert_int_equal(replies[0], 41);
    assert_int_equal(replies[1], 42);
    petal_future_release(request);
}

/* main in asyncio style: run_until_complete on a future a greenlet sets. */
static void *completes(void *arg)
{
    assert_int_equal(petal_green_sleep(0.003), 0);
    assert_int_equal(petal_future_set_result(arg, (void *)0x5ee, NULL), 0);
    return NULL;
}

static void test_run_until_complete_with_greenlets(void **state)
{
    (void)state;
    petal_future_t *f;
    assert_int_equal(petal_future_new(loop, &f), 0);
    assert_int_equal(petal_green_spawn(hub, completes, f, NULL, NULL), 0);
    assert_int_equal(petal_loop_run_until_complete(loop, f), 0); /* main dispatches */
    void *v;
    assert_int_equal(petal_future_result(f, &v), 0);
    assert_ptr_equal(v, (void *)0x5ee);
    petal_future_release(f);
    assert_int_equal(petal_green_run(hub), 0);
}

/* ---- sockets: petal_sock_* callbacks against greenlets ------------------ */

#define ROUNDS 300
static int sp[2];
static int cb_round;
static char cb_buf[16];
static petal_future_t *cb_done;

static void cb_send_ping(void);

static void cb_on_recv(petal_future_t *f, void *arg)
{
    (void)arg;
    ssize_t n = petal_sock_result(f);
    petal_future_release(f);
    char want[16];
    snprintf(want, sizeof want, "pong%05d", cb_round);
    assert_int_equal(n, 9);
    assert_memory_equal(cb_buf, want, 9);
    if (++cb_round == ROUNDS) {
        petal_future_set_result(cb_done, NULL, NULL);
        return;
    }
    cb_send_ping();
}

static void cb_on_sent(petal_future_t *f, void *arg)
{
    (void)arg;
    assert_int_equal(petal_sock_result(f), 9);
    petal_future_release(f);
    petal_future_t *r;
    assert_int_equal(petal_sock_recv(loop, sp[0], cb_buf, 9, &r), 0);
    assert_int_equal(petal_future_add_done_callback(r, cb_on_recv, NULL), 0);
}

static void cb_send_ping(void)
{
    char msg[16];
    snprintf(msg, sizeof msg, "ping%05d", cb_round);
    petal_future_t *s;
    assert_int_equal(petal_sock_send(loop, sp[0], msg, 9, &s), 0);
    assert_int_equal(petal_future_add_done_callback(s, cb_on_sent, NULL), 0);
}

static void *green_ponger(void *arg)
{
    (void)arg;
    char buf[16];
    for (int i = 0; i < ROUNDS; i++) {
        size_t have = 0;
        while (have < 9) {
            ssize_t n = petal_green_recv(sp[1], buf + have, 9 - have, 5);
            assert_true(n > 0);
            have += (size_t)n;
        }
        char want[16];
        snprintf(want, sizeof want, "ping%05d", i);
        assert_memory_equal(buf, want, 9);
        memcpy(buf, "pong", 4);
        assert_int_equal(petal_green_sendall(sp[1], buf, 9, 5), 9);
    }
    return NULL;
}

static void test_sock_callbacks_and_greenlet_ping_pong(void **state)
{
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    cb_round = 0;
    assert_int_equal(petal_future_new(loop, &cb_done), 0);
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, green_ponger, NULL, NULL, &g), 0);
    cb_send_ping();
    assert_int_equal(petal_green_await(cb_done, 30, NULL), 0); /* main waits for the callback side */
    assert_int_equal(petal_green_join(g, 5), 0);
    assert_int_equal(petal_green_result(g, NULL), 0);
    assert_int_equal(cb_round, ROUNDS);
    petal_green_release(g);
    petal_future_release(cb_done);
    close_fd(sp[0]);
    close_fd(sp[1]);
}

/* ---- sockets: add_reader callbacks against a greenlet ------------------- */

static int rd_count;
static unsigned rd_sum;

/* Level-triggered reader: reads what is there, answers each byte with its
 * successor, stops at 0. */
static void reader_cb(petal_loop_t *l, int fd, int status, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    unsigned char b[64];
    ssize_t n = read(fd, b, sizeof b);
    assert_true(n > 0);
    for (ssize_t i = 0; i < n; i++) {
        rd_count++;
        rd_sum += b[i];
        if (b[i] == 0) {
            assert_int_equal(petal_remove_reader(l, fd), 0);
            return;
        }
        unsigned char reply = (unsigned char)(b[i] + 1);
        assert_int_equal(write(fd, &reply, 1), 1);
    }
}

static void *counter_greenlet(void *arg)
{
    (void)arg;
    unsigned char v = 1;
    for (int i = 0; i < 200; i++) {
        assert_int_equal(write(sp[1], &v, 1), 1);
        assert_int_equal(petal_green_wait_readable(sp[1], 5), 0);
        unsigned char r;
        assert_int_equal(read(sp[1], &r, 1), 1);
        assert_int_equal(r, (unsigned char)(v + 1));
        v = (unsigned char)(r == 255 ? 1 : r);
    }
    unsigned char zero = 0;
    assert_int_equal(write(sp[1], &zero, 1), 1);
    return NULL;
}

static void test_add_reader_callback_and_greenlet(void **state)
{
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
    rd_count = 0;
    rd_sum = 0;
    assert_int_equal(petal_add_reader(loop, sp[0], reader_cb, NULL), 0);
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, counter_greenlet, NULL, NULL, &g), 0);
    assert_int_equal(petal_green_join(g, 30), 0);
    assert_int_equal(petal_green_result(g, NULL), 0);
    for (int i = 0; i < 1000 && rd_count < 201; i++) assert_int_equal(petal_green_sleep(0.005), 0); /* the final 0 */
    assert_int_equal(rd_count, 201);
    assert_int_equal(petal_remove_reader(loop, sp[0]), PETAL_ENOENT); /* it removed itself */
    petal_green_release(g);
    close_fd(sp[0]);
    close_fd(sp[1]);
}

/* ---- a TCP server in callback style, clients as greenlets --------------- */

#define CLIENTS 20
static int lfd;
static struct sockaddr_in laddr;
static int accepted, closed;

struct conn {
    int fd;
    char buf[256];
};

static void conn_on_recv(petal_future_t *f, void *arg);

static void conn_read(struct conn *c)
{
    petal_future_t *r;
    assert_int_equal(petal_sock_recv(loop, c->fd, c->buf, sizeof c->buf, &r), 0);
    assert_int_equal(petal_future_add_done_callback(r, conn_on_recv, c), 0);
}

static void conn_on_sent(petal_future_t *f, void *arg)
{
    assert_true(petal_sock_result(f) > 0);
    petal_future_release(f);
    conn_read(arg);
}

static void conn_on_recv(petal_future_t *f, void *arg)
{
    struct conn *c = arg;
    ssize_t n = petal_sock_result(f);
    petal_future_release(f);
    if (n <= 0) {
        close_fd(c->fd);
        free(c);
        closed++;
        return;
    }
    for (ssize_t i = 0; i < n; i++) c->buf[i] = (char)(c->buf[i] ^ 0x20); /* swap case */
    petal_future_t *s;
    assert_int_equal(petal_sock_send(loop, c->fd, c->buf, (size_t)n, &s), 0);
    assert_int_equal(petal_future_add_done_callback(s, conn_on_sent, c), 0);
}

static void on_accept(petal_future_t *f, void *arg)
{
    (void)arg;
    ssize_t fd = petal_sock_result(f);
    petal_future_release(f);
    if (fd < 0) return; /* the listener closed */
    accepted++;
    struct conn *c = calloc(1, sizeof *c);
    c->fd = (int)fd;
    conn_read(c);
    petal_future_t *a;
    assert_int_equal(petal_sock_accept(loop, lfd, &a), 0);
    assert_int_equal(petal_future_add_done_callback(a, on_accept, NULL), 0);
}

static void *tcp_client(void *arg)
{
    int id = (int)(intptr_t)arg;
    int fd = tcp_socket();
    assert_int_equal(petal_green_connect(fd, (struct sockaddr *)&laddr, sizeof laddr, 5), 0);
    char msg[32], got[32];
    for (int i = 0; i < 10; i++) {
        int len = snprintf(msg, sizeof msg, "client%02d-msg%02d", id, i);
        assert_int_equal(petal_green_sendall(fd, msg, (size_t)len, 5), len);
        int have = 0;
        while (have < len) {
            ssize_t n = petal_green_recv(fd, got + have, (size_t)(len - have), 5);
            assert_true(n > 0);
            have += (int)n;
        }
        for (int k = 0; k < len; k++) assert_int_equal(got[k], (char)(msg[k] ^ 0x20));
    }
    close_fd(fd);
    return NULL;
}

static void test_callback_server_greenlet_clients(void **state)
{
    (void)state;
    accepted = closed = 0;
    lfd = tcp_listener(&laddr);
    petal_future_t *a;
    assert_int_equal(petal_sock_accept(loop, lfd, &a), 0);
    assert_int_equal(petal_future_add_done_callback(a, on_accept, NULL), 0);
    petal_green_t *g[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) assert_int_equal(petal_green_spawn(hub, tcp_client, (void *)(intptr_t)i, NULL, &g[i]), 0);
    assert_int_equal(petal_green_joinall(g, CLIENTS, 60), CLIENTS);
    for (int i = 0; i < CLIENTS; i++) {
        assert_int_equal(petal_green_result(g[i], NULL), 0);
        petal_green_release(g[i]);
    }
    assert_int_equal(accepted, CLIENTS);
    for (int i = 0; i < 1000 && closed < CLIENTS; i++) assert_int_equal(petal_green_sleep(0.005), 0);
    assert_int_equal(closed, CLIENTS); /* the server saw every EOF and freed its conns */
    close_fd(lfd);
    assert_int_equal(petal_green_sleep(0.002), 0); /* the pending accept ends (cancelled) */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TS(f) cmocka_unit_test_setup_teardown(f, setup_shared, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_futures_both_ways),
        T(test_run_until_complete_with_greenlets),
        T(test_sock_callbacks_and_greenlet_ping_pong),
        TS(test_sock_callbacks_and_greenlet_ping_pong),
        T(test_add_reader_callback_and_greenlet),
        T(test_callback_server_greenlet_clients),
        TS(test_callback_server_greenlet_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
