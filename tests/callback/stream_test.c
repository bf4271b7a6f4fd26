/* Transports on one backend (this file is linked once per backend): the
 * order of protocol callbacks, half-close, close/abort, writes after close,
 * resets, pause/resume reading, writev, write_eof. */
#include <limits.h>

#include "tests/callback/common.h"

static void test_native_sock_query(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    assert_int_equal(petal_loop_has_native_sock(loop), is_uring_backend(loop) ? 1 : 0);
    assert_int_equal(petal_loop_has_native_sock(NULL), PETAL_EINVAL);
    assert_int_equal(petal_loop_close(loop), 0);
    assert_int_equal(petal_loop_has_native_sock(loop), PETAL_ECLOSED);
    assert_int_equal(petal_loop_free(loop), 0);
}

/* connection_made comes on the loop, not inside adopt; then data, eof, lost. */
static void test_order_made_data_eof_lost(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    adopt_pair(loop, &r, false, &peer);
    assert_string_equal(r.log, "");
    assert_int_equal(write(peer, "hello", 5), 5);
    assert_int_equal(shutdown(peer, SHUT_WR), 0);
    run_until(loop, is_lost, &r, 5);
    assert_string_equal(r.log, "MDEL");
    assert_int_equal(r.lost_err, 0);
    assert_int_equal(r.len, 5);
    assert_memory_equal(r.data, "hello", 5);
    run_iters(loop, 3);
    assert_int_equal(r.lost, 1);
    /* the transport closed its fd: the peer sees EOF */
    char c;
    assert_int_equal(recv(peer, &c, 1, MSG_DONTWAIT), 0);
    close(peer);
    rec_free(&r);
    free_loop(loop);
}

static void write_hi(struct rec *r)
{
    r->in_api = true;
    assert_int_equal(petal_transport_write(r->t, "hi", 2), 0);
    r->in_api = false;
}

/* A protocol may write from connection_made. */
static void test_write_in_connection_made(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .on_made = write_hi };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, false, &peer);
    run_until(loop, is_made, &r, 5);
    size_t n;
    unsigned char *got = drain_raw(loop, peer, &n, false, 2, 5);
    assert_int_equal(n, 2);
    assert_memory_equal(got, "hi", 2);
    free(got);
    assert_int_equal(petal_transport_close(t), 0);
    run_until(loop, is_lost, &r, 5);
    assert_string_equal(r.log, "ML");
    assert_false(r.reentered);
    close(peer);
    free_loop(loop);
}

/* Closing before connection_made ran: made still comes first, lost last. */
static void test_close_before_made(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, false, &peer);
    r.t = t;
    r.in_api = true;
    assert_int_equal(petal_transport_close(t), 0);
    r.in_api = false;
    run_until(loop, is_lost, &r, 5);
    assert_string_equal(r.log, "ML");
    assert_false(r.reentered);
    close(peer);
    free_loop(loop);
}

/* close() with unsent data: everything reaches the peer, then EOF, and
 * connection_lost(0) comes only after the flush. */
static void test_close_flushes(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, false, &peer);
    run_until(loop, is_made, &r, 5);
    size_t n = 4 << 20;
    unsigned char *p = pattern(n, 1);
    r.in_api = true;
    assert_int_equal(petal_transport_write(t, p, n), 0);
    assert_true(petal_transport_get_write_buffer_size(t) > 0);    /* the kernel cannot take 4 MB */
    assert_int_equal(petal_transport_close(t), 0);
    assert_true(petal_transport_is_closing(t));
    assert_int_equal(petal_transport_close(t), PETAL_EALREADY);
    r.in_api = false;
    run_iters(loop, 3);
    assert_int_equal(r.lost, 0);    /* still flushing: nobody reads */
    expect_raw(loop, peer, p, n, 20);
    run_until(loop, is_lost, &r, 5);
    assert_int_equal(r.lost_err, 0);
    /* paused by the big write; resumed by the flush even while closing (asyncio) */
    assert_string_equal(r.log, "MPRL");
    assert_false(r.reentered);
    free(p);
    close(peer);
    free_loop(loop);
}

/* abort() drops what is buffered and ends at once. */
static void test_abort_drops(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, false, &peer);
    run_until(loop, is_made, &r, 5);
    size_t n = 8 << 20;
    unsigned char *p = pattern(n, 2);
    r.in_api = true;
    assert_int_equal(petal_transport_write(t, p, n), 0);
    assert_int_equal(petal_transport_abort(t), 0);
    assert_int_equal(petal_transport_get_write_buffer_size(t), 0);
    assert_int_equal(petal_transport_abort(t), PETAL_EALREADY);
    assert_int_equal(petal_transport_close(t), PETAL_EALREADY);
    r.in_api = false;
    run_until(loop, is_lost, &r, 5);
    assert_int_equal(r.lost_err, 0);
    assert_false(r.reentered);
    size_t got_n;
    unsigned char *got = drain_raw(loop, peer, &got_n, true, 0, 10);
    assert_true(got_n < n);
    assert_memory_equal(got, p, got_n);    /* what did arrive is a prefix */
    free(got);
    free(p);
    close(peer);
    free_loop(loop);
}

/* abort() after close() drops the rest of the flush. */
static void test_abort_after_close(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, false, &peer);
    run_until(loop, is_made, &r, 5);
    size_t n = 8 << 20;
    unsigned char *p = pattern(n, 3);
    assert_int_equal(petal_transport_write(t, p, n), 0);
    assert_int_equal(petal_transport_close(t), 0);
    run_iters(loop, 2);
    assert_int_equal(r.lost, 0);
    assert_int_equal(petal_transport_abort(t), 0);
    run_until(loop, is_lost, &r, 5);
    assert_int_equal(r.lost, 1);
    free(p);
    close(peer);
    free_loop(loop);
}

/* Writes after close, abort or write_eof fail with -EPIPE. */
static void test_write_after_close_fails(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    int sv[2], sw[2];
    unix_pair(sv);
    unix_pair(sw);
    struct rec r = { .echo = false }, q = { .echo = false };
    petal_transport_t *t, *u;
    assert_int_equal(petal_transport_adopt(loop, &rec_proto, &r, sv[0], &t), 0);
    assert_int_equal(petal_transport_adopt(loop, &rec_proto, &q, sw[0], &u), 0);
    run_until(loop, is_made, &q, 5);
    assert_int_equal(petal_transport_write_eof(u), 0);
    assert_int_equal(petal_transport_write_eof(u), 0);    /* idempotent */
    assert_int_equal(petal_transport_write(u, "a", 1), -EPIPE);
    assert_int_equal(petal_transport_close(t), 0);
    assert_int_equal(petal_transport_write(t, "a", 1), -EPIPE);
    struct iovec v = { "a", 1 };
    assert_int_equal(petal_transport_writev(t, &v, 1), -EPIPE);
    assert_int_equal(petal_transport_write_eof(t), -EPIPE);
    assert_int_equal(petal_transport_abort(u), 0);
    assert_int_equal(petal_transport_write(u, "a", 1), -EPIPE);
    run_until(loop, is_lost, &r, 5);
    run_until(loop, is_lost, &q, 5);
    assert_string_equal(r.log, "ML");
    assert_string_equal(q.log, "ML");
    close(sv[1]);
    close(sw[1]);
    free_loop(loop);
}

/* Half-close: the client shuts down its side and still reads the answer. */
static void reply_and_close(struct rec *r)
{
    (void)r;
}

static bool both_lost(void *arg)
{
    struct rec *r = arg;
    return r[0].lost && r[1].lost;
}

static void test_half_close(void **state)
{
    (void)state;
    (void)reply_and_close;
    petal_loop_t *loop = new_loop();
    int sv[2];
    tcp_pair(sv);
    struct rec r[2] = { { .keep_open = true }, { .keep_open = false } };    /* r[0] server, r[1] client */
    petal_transport_t *srv, *cli;
    assert_int_equal(petal_transport_adopt(loop, &rec_proto, &r[0], sv[1], &srv), 0);
    assert_int_equal(petal_transport_adopt(loop, &rec_proto, &r[1], sv[0], &cli), 0);
    run_until(loop, is_made, &r[1], 5);
    assert_int_equal(petal_transport_write(cli, "question", 8), 0);
    assert_int_equal(petal_transport_write_eof(cli), 0);
    assert_false(petal_transport_is_closing(cli));
    struct rec *s = &r[0];
    run_until(loop, has_eof, s, 5);
    assert_string_equal(s->log, "MDE");
    assert_false(petal_transport_is_closing(srv));    /* kept open: eof_received said so */
    assert_false(petal_transport_is_reading(srv));
    assert_int_equal(petal_transport_write(srv, "answer", 6), 0);
    assert_int_equal(petal_transport_close(srv), 0);
    run_until(loop, both_lost, r, 5);
    assert_string_equal(r[0].log, "MDEL");
    assert_string_equal(r[1].log, "MDEL");
    assert_int_equal(r[0].lost_err, 0);
    assert_int_equal(r[1].lost_err, 0);
    assert_int_equal(r[1].len, 6);
    assert_memory_equal(r[1].data, "answer", 6);
    assert_memory_equal(r[0].data, "question", 8);
    rec_free(&r[0]);
    rec_free(&r[1]);
    free_loop(loop);
}

/* write_eof with data buffered: shutdown waits for the flush. */
static void test_write_eof_after_flush(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .keep_open = true };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, false, &peer);
    run_until(loop, is_made, &r, 5);
    size_t n = 2 << 20;
    unsigned char *p = pattern(n, 4);
    assert_int_equal(petal_transport_write(t, p, n), 0);
    assert_int_equal(petal_transport_write_eof(t), 0);
    expect_raw(loop, peer, p, n, 20);
    /* our side still reads */
    assert_int_equal(write(peer, "late", 4), 4);
    close(peer);
    run_until(loop, has_eof, &r, 5);
    assert_int_equal(r.len, 4);
    assert_memory_equal(r.data, "late", 4);
    /* keep_open: both directions are done, but only close() ends it */
    run_iters(loop, 3);
    assert_int_equal(r.lost, 0);
    assert_int_equal(petal_transport_close(t), 0);
    run_until(loop, is_lost, &r, 5);
    assert_int_equal(r.lost_err, 0);
    free(p);
    rec_free(&r);
    free_loop(loop);
}

/* eof_received returning false closes the transport (asyncio). */
static void test_eof_false_closes(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .keep_open = false };
    int peer;
    adopt_pair(loop, &r, false, &peer);
    assert_int_equal(shutdown(peer, SHUT_WR), 0);
    run_until(loop, is_lost, &r, 5);
    assert_string_equal(r.log, "MEL");
    assert_int_equal(r.lost_err, 0);
    close(peer);
    free_loop(loop);
}

/* A peer that resets the connection: connection_lost(-ECONNRESET). */
static void test_peer_reset(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    adopt_pair(loop, &r, true, &peer);
    run_until(loop, is_made, &r, 5);
    struct linger lg = { 1, 0 };
    assert_int_equal(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(peer);    /* RST */
    run_until(loop, is_lost, &r, 5);
    assert_int_equal(r.lost_err, -ECONNRESET);
    assert_string_equal(r.log, "ML");
    free_loop(loop);
}

/* Writing to a reset peer ends the transport with an error, reported by
 * connection_lost (not from inside write). */
static void test_write_to_reset_peer(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, true, &peer);
    assert_int_equal(petal_transport_pause_reading(t), 0);    /* only writes can notice */
    run_until(loop, is_made, &r, 5);
    struct linger lg = { 1, 0 };
    assert_int_equal(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(peer);
    run_iters(loop, 2);
    unsigned char buf[1024] = { 0 };
    double end = now_s() + 5;
    while (!r.lost) {
        assert_true(now_s() < end);
        r.in_api = true;
        int rc = petal_transport_write(t, buf, sizeof buf);
        r.in_api = false;
        assert_true(rc == 0 || rc == -EPIPE);
        run_iters(loop, 1);
    }
    assert_false(r.reentered);
    assert_true(r.lost_err == -ECONNRESET || r.lost_err == -EPIPE);
    free_loop(loop);
}

/* Callbacks are never run from inside a petal_transport_* call. */
static void close_in_data(struct rec *r)
{
    r->in_api = true;
    assert_int_equal(petal_transport_write(r->t, "bye", 3), 0);
    assert_int_equal(petal_transport_close(r->t), 0);
    /* 0 while "bye" is still on its way (io_uring: until the send completes),
     * PETAL_EALREADY once the kernel took it and close() ended the transport */
    int rc = petal_transport_abort(r->t);
    assert_true(rc == 0 || rc == PETAL_EALREADY);
    assert_int_equal(petal_transport_abort(r->t), PETAL_EALREADY);
    r->in_api = false;
}

static void test_close_inside_data_received(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .on_data = close_in_data };
    int peer;
    adopt_pair(loop, &r, false, &peer);
    assert_int_equal(write(peer, "x", 1), 1);
    assert_int_equal(shutdown(peer, SHUT_WR), 0);
    run_until(loop, is_lost, &r, 5);
    run_iters(loop, 3);
    assert_string_equal(r.log, "MDL");    /* no eof after close, lost once */
    assert_int_equal(r.lost, 1);
    assert_false(r.reentered);
    close(peer);
    rec_free(&r);
    free_loop(loop);
}

/* Bytes arrive complete and in order. */
static void test_receive_in_order(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    adopt_pair(loop, &r, true, &peer);
    size_t n = 3 << 20, off = 0;
    unsigned char *p = pattern(n, 5);
    fcntl(peer, F_SETFL, O_NONBLOCK);
    double end = now_s() + 20;
    while (off < n) {
        ssize_t k = send(peer, p + off, n - off, MSG_NOSIGNAL);
        if (k > 0) off += (size_t)k;
        else assert_true(errno == EAGAIN);
        assert_true(now_s() < end);
        run_iters(loop, 1);
    }
    close(peer);
    run_until(loop, is_lost, &r, 20);
    assert_int_equal(r.len, n);
    assert_memory_equal(r.data, p, n);
    assert_string_equal(r.log, "MDEL");
    free(p);
    rec_free(&r);
    free_loop(loop);
}

/* pause_reading stops data_received; resume delivers what came meanwhile. */
static void test_pause_resume_reading(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, false, &peer);
    assert_int_equal(write(peer, "one", 3), 3);
    run_until(loop, is_made, &r, 5);
    run_until_len(loop, &r, 3, 5);
    assert_true(petal_transport_is_reading(t));
    assert_int_equal(petal_transport_pause_reading(t), 0);
    assert_int_equal(petal_transport_pause_reading(t), 0);
    assert_false(petal_transport_is_reading(t));
    assert_int_equal(write(peer, "two", 3), 3);
    assert_int_equal(shutdown(peer, SHUT_WR), 0);
    run_iters(loop, 10);
    assert_int_equal(r.len, 3);    /* nothing while paused */
    assert_int_equal(r.eofs, 0);
    assert_int_equal(petal_transport_resume_reading(t), 0);
    assert_int_equal(petal_transport_resume_reading(t), 0);
    assert_true(petal_transport_is_reading(t));
    run_until(loop, is_lost, &r, 5);
    assert_int_equal(r.len, 6);
    assert_memory_equal(r.data, "onetwo", 6);
    assert_string_equal(r.log, "MDEL");
    close(peer);
    rec_free(&r);
    free_loop(loop);
}

/* Paused from connection_made: nothing is read until resume. */
static void pause_now(struct rec *r)
{
    assert_int_equal(petal_transport_pause_reading(r->t), 0);
}

static void test_pause_in_connection_made(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .on_made = pause_now };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, false, &peer);
    assert_int_equal(write(peer, "abc", 3), 3);
    run_iters(loop, 10);
    assert_string_equal(r.log, "M");
    /* the data is still in the kernel: nobody took it */
    int avail = 0;
    (void)avail;
    assert_int_equal(petal_transport_resume_reading(t), 0);
    run_until_len(loop, &r, 3, 5);
    assert_memory_equal(r.data, "abc", 3);
    assert_int_equal(petal_transport_close(t), 0);
    assert_int_equal(petal_transport_pause_reading(t), 0);    /* no-op when closing */
    assert_int_equal(petal_transport_resume_reading(t), 0);
    run_until(loop, is_lost, &r, 5);
    close(peer);
    rec_free(&r);
    free_loop(loop);
}

/* writev: pieces arrive in order, whether sent at once or buffered. */
static void test_writev(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, false, &peer);
    run_until(loop, is_made, &r, 5);
    size_t big = 1 << 20;
    unsigned char *p = pattern(3 * big, 6);
    struct iovec v[3] = { { p, big }, { p + big, 0 }, { p + big, 2 * big } };
    assert_int_equal(petal_transport_writev(t, v, 3), 0);
    struct iovec w[2] = { { (void *)"end", 3 }, { (void *)"!", 1 } };
    assert_int_equal(petal_transport_writev(t, w, 2), 0);
    assert_int_equal(petal_transport_writev(t, NULL, 0), 0);
    struct iovec bad = { NULL, 4 };
    assert_int_equal(petal_transport_writev(t, &bad, 1), PETAL_EINVAL);
    assert_int_equal(petal_transport_writev(t, v, -1), PETAL_EINVAL);
    assert_int_equal(petal_transport_writev(t, v, IOV_MAX + 1), PETAL_EINVAL);
    assert_int_equal(petal_transport_write(t, NULL, 3), PETAL_EINVAL);
    assert_int_equal(petal_transport_write(t, NULL, 0), 0);
    assert_int_equal(petal_transport_close(t), 0);
    size_t n;
    unsigned char *got = drain_raw(loop, peer, &n, true, 0, 20);
    assert_int_equal(n, 3 * big + 4);
    assert_memory_equal(got, p, 3 * big);
    assert_memory_equal(got + 3 * big, "end!", 4);
    run_until(loop, is_lost, &r, 5);
    free(got);
    free(p);
    close(peer);
    free_loop(loop);
}

/* Someone announces the fd closing behind the transport's back. */
static void test_fd_closing_ends_transport(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r = { .echo = false };
    int peer;
    petal_transport_t *t = adopt_pair(loop, &r, false, &peer);
    run_iters(loop, 3);
    assert_int_equal(petal_fd_closing(loop, petal_transport_fileno(t)), 0);
    run_until(loop, is_lost, &r, 5);
    assert_int_equal(r.lost_err, PETAL_ECANCELED);
    close(peer);
    free_loop(loop);
}

/* The user pointer can change in connection_made (servers share one). */
static struct rec swapped;
static void swap_user(struct rec *r)
{
    swapped.t = r->t;
    petal_transport_set_user(r->t, &swapped);
    assert_ptr_equal(petal_transport_user(r->t), &swapped);
}

static void test_set_user(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    int sv[2];
    unix_pair(sv);
    memset(&swapped, 0, sizeof swapped);
    struct rec r = { .on_made = swap_user };
    petal_transport_t *t;
    assert_int_equal(petal_transport_adopt(loop, &rec_proto, &r, sv[0], &t), 0);
    assert_ptr_equal(petal_transport_loop(t), loop);
    assert_int_equal(write(sv[1], "z", 1), 1);
    close(sv[1]);
    run_until(loop, is_lost, &swapped, 5);
    assert_string_equal(r.log, "M");
    assert_string_equal(swapped.log, "DEL");
    rec_free(&swapped);
    free_loop(loop);
}

/* Freeing the loop with transports and a server still open closes their
 * fds and frees them (no leak under ASan); no protocol callback runs. */
static void test_loop_freed_with_open_transports(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    int sv[2], sw[2];
    unix_pair(sv);
    tcp_pair(sw);
    struct rec r = { .echo = false }, q = { .echo = false }, z = { .echo = false };
    petal_transport_t *t, *u;
    assert_int_equal(petal_transport_adopt(loop, &rec_proto, &r, sv[0], &t), 0);
    assert_int_equal(petal_transport_adopt(loop, &rec_proto, &q, sw[0], &u), 0);
    petal_server_t *server;
    assert_int_equal(petal_create_server(loop, &rec_proto, &z, "127.0.0.1", 0, 0, &server), 0);
    run_until(loop, is_made, &q, 5);
    unsigned char big[65536] = { 1 };
    for (int i = 0; i < 64; i++) assert_int_equal(petal_transport_write(u, big, sizeof big), 0);
    assert_int_equal(petal_transport_close(t), 0);    /* connection_lost scheduled, never run */
    assert_int_equal(petal_loop_free(loop), 0);
    assert_string_equal(r.log, "M");
    assert_int_equal(r.lost + q.lost, 0);
    /* the peers see their ends closed */
    char c;
    assert_int_equal(recv(sv[1], &c, 1, MSG_DONTWAIT), 0);
    close(sv[1]);
    close(sw[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native_sock_query),
        cmocka_unit_test(test_order_made_data_eof_lost),
        cmocka_unit_test(test_write_in_connection_made),
        cmocka_unit_test(test_close_before_made),
        cmocka_unit_test(test_close_flushes),
        cmocka_unit_test(test_abort_drops),
        cmocka_unit_test(test_abort_after_close),
        cmocka_unit_test(test_write_after_close_fails),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_write_eof_after_flush),
        cmocka_unit_test(test_eof_false_closes),
        cmocka_unit_test(test_peer_reset),
        cmocka_unit_test(test_write_to_reset_peer),
        cmocka_unit_test(test_close_inside_data_received),
        cmocka_unit_test(test_receive_in_order),
        cmocka_unit_test(test_pause_resume_reading),
        cmocka_unit_test(test_pause_in_connection_made),
        cmocka_unit_test(test_writev),
        cmocka_unit_test(test_fd_closing_ends_transport),
        cmocka_unit_test(test_set_user),
        cmocka_unit_test(test_loop_freed_with_open_transports),
    };
    return cmocka_run_group_tests_name("transport_stream", tests, NULL, NULL);
}
