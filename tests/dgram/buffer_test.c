/* Queued datagrams: what the kernel will not take now (EAGAIN) is buffered,
 * flushed in order, flushed by close, dropped by abort, and drives
 * pause/resume_writing. Loopback UDP never says EAGAIN (the receiver drops
 * instead), so these tests use a Unix datagram socketpair, whose sender
 * blocks when the receiver's queue is full; the transport code is the same. */
#include <fcntl.h>

#include "dgram_common.h"

enum { N = 300, SIZE = 512 };

struct sink {
    int fd;
    int received;      /* datagrams read, checked in sequence */
    bool reading;
};

static void sink_read(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)loop;
    assert_int_equal(status, 0);
    struct sink *s = arg;
    unsigned char buf[SIZE + 1];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        assert_int_equal(n, SIZE);
        int seq;
        memcpy(&seq, buf, sizeof seq);
        assert_int_equal(seq, s->received);   /* in order, none lost */
        assert_int_equal(buf[SIZE - 1], (unsigned char)seq);
        s->received++;
    }
}

static void sink_start(petal_loop_t *loop, struct sink *s)
{
    assert_int_equal(petal_add_reader(loop, s->fd, sink_read, s), 0);
    s->reading = true;
}

static void sink_end(petal_loop_t *loop, struct sink *s)
{
    if (s->reading) assert_int_equal(petal_remove_reader(loop, s->fd), 0);
    sink_read(loop, s->fd, 0, s);   /* whatever is left */
    assert_int_equal(petal_fd_closing(loop, s->fd), PETAL_ENOENT);
    close(s->fd);
}

struct fixture {
    petal_loop_t *loop;
    struct rec r;
    petal_datagram_transport_t *t;
    struct sink sink;
};

static void setup(struct fixture *f)
{
    f->loop = new_loop();
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
    petal_datagram_protocol_t proto = rec_proto(&f->r);
    assert_int_equal(petal_datagram_adopt(f->loop, sv[0], &proto, &f->t), 0);
    assert_true(fcntl(sv[0], F_GETFL) & O_NONBLOCK);   /* petal made it non-blocking */
    f->sink = (struct sink){ .fd = sv[1] };
    /* flow control has its own test: no pause_writing in the others */
    assert_int_equal(petal_datagram_set_write_buffer_limits(f->t, (size_t)1 << 30, 0), 0);
    run_until(f->loop, is_made, &f->r);
}

/* Sends datagram seq: its number first, its low byte last. */
static int send_seq(petal_datagram_transport_t *t, int seq)
{
    unsigned char buf[SIZE] = { 0 };
    memcpy(buf, &seq, sizeof seq);
    buf[SIZE - 1] = (unsigned char)seq;
    return petal_datagram_sendto(t, buf, SIZE, NULL, 0);
}

/* Sends all N at once: the receiver's queue fills, the rest is buffered. */
static void send_all(struct fixture *f)
{
    for (int i = 0; i < N; i++) assert_int_equal(send_seq(f->t, i), 0);
    assert_true(petal_datagram_get_write_buffer_size(f->t) > 0);
    assert_int_equal(petal_datagram_get_write_buffer_size(f->t) % SIZE, 0);
}

static void test_buffered_in_order(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    send_all(&f);
    sink_start(f.loop, &f.sink);
    while (petal_datagram_get_write_buffer_size(f.t) > 0) assert_int_equal(petal_loop_run_once(f.loop), 0);
    assert_int_equal(petal_datagram_close(f.t), 0);
    run_until(f.loop, is_lost, &f.r);
    sink_end(f.loop, &f.sink);
    assert_int_equal(f.sink.received, N);
    assert_string_equal(f.r.log, "ml");
    assert_int_equal(petal_loop_free(f.loop), 0);
}

static void test_close_flushes_buffer(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    send_all(&f);
    assert_int_equal(petal_datagram_close(f.t), 0);
    assert_true(petal_datagram_is_closing(f.t));
    assert_int_equal(send_seq(f.t, N), -EPIPE);           /* no sends once closing */
    assert_int_equal(petal_datagram_close(f.t), PETAL_EALREADY);
    assert_true(petal_datagram_get_write_buffer_size(f.t) > 0);   /* still queued */
    sink_start(f.loop, &f.sink);
    run_until(f.loop, is_lost, &f.r);
    assert_int_equal(f.r.lost_err, 0);
    sink_end(f.loop, &f.sink);
    assert_int_equal(f.sink.received, N);                  /* every queued datagram went out */
    assert_string_equal(f.r.log, "ml");
    assert_int_equal(petal_loop_free(f.loop), 0);
}

static void test_abort_drops_buffer(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    send_all(&f);
    int queued = (int)(petal_datagram_get_write_buffer_size(f.t) / SIZE);
    assert_int_equal(petal_datagram_abort(f.t), 0);
    assert_int_equal(petal_datagram_get_write_buffer_size(f.t), 0);
    assert_int_equal(petal_datagram_abort(f.t), PETAL_EALREADY);
    assert_int_equal(petal_datagram_close(f.t), PETAL_EALREADY);
    assert_int_equal(send_seq(f.t, N), -EPIPE);
    sink_start(f.loop, &f.sink);
    run_until(f.loop, is_lost, &f.r);
    assert_int_equal(f.r.lost_err, 0);
    sink_end(f.loop, &f.sink);
    assert_int_equal(f.sink.received, N - queued);         /* only what the kernel took */
    assert_string_equal(f.r.log, "ml");
    assert_int_equal(petal_loop_free(f.loop), 0);
}

/* abort after close: the flush is given up. */
static void test_abort_after_close(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    send_all(&f);
    int queued = (int)(petal_datagram_get_write_buffer_size(f.t) / SIZE);
    assert_int_equal(petal_datagram_close(f.t), 0);
    assert_int_equal(petal_datagram_abort(f.t), 0);
    run_until(f.loop, is_lost, &f.r);
    sink_end(f.loop, &f.sink);
    assert_int_equal(f.sink.received, N - queued);
    assert_string_equal(f.r.log, "ml");
    assert_int_equal(petal_loop_free(f.loop), 0);
}

static bool resumed(void *arg) { return strchr(((struct rec *)arg)->log, 'r') != NULL; }

static void test_flow_control(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    assert_int_equal(petal_datagram_set_write_buffer_limits(f.t, 8 * SIZE, 2 * SIZE), 0);
    int sent = 0;
    size_t at_pause = 0;
    while (!strchr(f.r.log, 'p')) {
        assert_true(sent < N);
        assert_int_equal(send_seq(f.t, sent++), 0);
        at_pause = petal_datagram_get_write_buffer_size(f.t);
    }
    assert_true(at_pause > 8 * SIZE);                 /* above the high mark */
    assert_int_equal(at_pause, 9 * SIZE);
    for (int i = 0; i < 5; i++) assert_int_equal(send_seq(f.t, sent++), 0);   /* still accepted */
    assert_string_equal(f.r.log, "mp");               /* paused once */
    sink_start(f.loop, &f.sink);
    run_until(f.loop, resumed, &f.r);
    assert_true(petal_datagram_get_write_buffer_size(f.t) <= 2 * SIZE);
    assert_string_equal(f.r.log, "mpr");
    assert_int_equal(petal_datagram_close(f.t), 0);
    run_until(f.loop, is_lost, &f.r);
    sink_end(f.loop, &f.sink);
    assert_int_equal(f.sink.received, sent);
    assert_string_equal(f.r.log, "mprl");
    assert_int_equal(petal_loop_free(f.loop), 0);
}

/* Someone announces the transport's fd closing: a fatal error, reported once
 * through connection_lost. */
static void test_fd_closing_is_fatal(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    assert_int_equal(petal_fd_closing(f.loop, petal_datagram_fd(f.t)), 0);
    run_until(f.loop, is_lost, &f.r);
    assert_int_equal(f.r.lost_err, PETAL_ECANCELED);
    assert_string_equal(f.r.log, "ml");
    sink_end(f.loop, &f.sink);
    assert_int_equal(petal_loop_free(f.loop), 0);
}

/* A loop freed with open transports closes their sockets and frees them,
 * queued datagrams included, without calling back. */
static void test_loop_free_with_open_transports(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    send_all(&f);
    struct rec u;
    petal_datagram_protocol_t proto = rec_proto(&u);
    struct sockaddr_in a = loopback4(0);
    petal_datagram_transport_t *t2;
    assert_int_equal(
        petal_create_datagram_endpoint(f.loop, &proto, (struct sockaddr *)&a, sizeof a, NULL, 0, NULL, &t2), 0);
    int fd1 = petal_datagram_fd(f.t), fd2 = petal_datagram_fd(t2);
    assert_int_equal(petal_loop_free(f.loop), 0);
    assert_int_equal(fcntl(fd1, F_GETFD), -1);
    assert_int_equal(fcntl(fd2, F_GETFD), -1);
    assert_string_equal(f.r.log, "m");
    assert_string_equal(u.log, "");      /* never started */
    close(f.sink.fd);
}

static bool errors_reached(void *arg)
{
    struct fixture *f = arg;
    return f->r.errors > 0 && petal_datagram_get_write_buffer_size(f->t) == 0;
}

/* The receiver goes away with datagrams queued: each one's failure while
 * flushing goes to error_received, none is fatal. Linux refuses the first
 * send to a dead Unix peer (ECONNREFUSED, which also disconnects) and the
 * rest with ENOTCONN. */
static void test_flush_errors_go_to_error_received(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    send_all(&f);
    int queued = (int)(petal_datagram_get_write_buffer_size(f.t) / SIZE);
    close(f.sink.fd);
    run_until(f.loop, errors_reached, &f);
    assert_int_equal(f.r.errors, queued);
    assert_int_equal(f.r.first_err, -ECONNREFUSED);
    assert_int_equal(f.r.last_err, queued > 1 ? -ENOTCONN : -ECONNREFUSED);
    assert_false(petal_datagram_is_closing(f.t));
    assert_int_equal(petal_datagram_close(f.t), 0);
    run_until(f.loop, is_lost, &f.r);
    assert_int_equal(f.r.lost_err, 0);
    assert_int_equal(petal_loop_free(f.loop), 0);
}

static int swapped_calls;

static void swapped_lost(petal_datagram_transport_t *t, int err, void *user)
{
    (void)t;
    (void)err;
    assert_ptr_equal(user, &swapped_calls);
    swapped_calls++;
}

/* set_protocol: the new callbacks and user pointer take over. */
static void test_set_protocol(void **state)
{
    (void)state;
    struct fixture f;
    setup(&f);
    petal_datagram_protocol_t other = { .connection_lost = swapped_lost, .user = &swapped_calls };
    assert_int_equal(petal_datagram_set_protocol(f.t, &other), 0);
    assert_ptr_equal(petal_datagram_user(f.t), &swapped_calls);
    assert_int_equal(petal_datagram_close(f.t), 0);
    while (swapped_calls == 0) assert_int_equal(petal_loop_run_once(f.loop), 0);
    assert_int_equal(swapped_calls, 1);
    assert_string_equal(f.r.log, "m");   /* the first protocol heard nothing more */
    sink_end(f.loop, &f.sink);
    assert_int_equal(petal_loop_free(f.loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buffered_in_order),
        cmocka_unit_test(test_close_flushes_buffer),
        cmocka_unit_test(test_abort_drops_buffer),
        cmocka_unit_test(test_abort_after_close),
        cmocka_unit_test(test_flow_control),
        cmocka_unit_test(test_fd_closing_is_fatal),
        cmocka_unit_test(test_loop_free_with_open_transports),
        cmocka_unit_test(test_flush_errors_go_to_error_received),
        cmocka_unit_test(test_set_protocol),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
