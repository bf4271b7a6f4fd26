/* The hub's I/O: fd readiness, cooperative sockets (petal_sock_* underneath,
 * io_uring completions on that backend), futures both ways, and the dump.
 * Built once per backend. */
#include <signal.h>
#include <sys/un.h>

#include "green_common.h"

static int sp[2];
static int rc_seen;

static void make_pair(void)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sp), 0);
}

static void close_pair(void)
{
    close_fd(sp[0]);
    close_fd(sp[1]);
}

/* ---- fd readiness ------------------------------------------------------- */

static void *reads_when_ready(void *arg)
{
    (void)arg;
    assert_int_equal(petal_green_wait_readable(sp[0], -1), 0);
    char c;
    assert_int_equal(read(sp[0], &c, 1), 1);
    return (void *)(intptr_t)c;
}

static void test_wait_readable(void **state)
{
    (void)state;
    make_pair();
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, reads_when_ready, NULL, NULL, &g), 0);
    assert_int_equal(petal_green_sleep(0.005), 0);
    assert_int_equal(petal_green_state(g), PETAL_GREEN_PARKED);
    assert_int_equal(write(sp[1], "r", 1), 1);
    assert_int_equal(petal_green_join(g, -1), 0);
    void *v;
    assert_int_equal(petal_green_result(g, &v), 0);
    assert_int_equal((char)(intptr_t)v, 'r');
    assert_int_equal(petal_green_wait_writable(sp[1], 1), 0); /* an empty socket is writable */
    assert_int_equal(petal_green_wait_readable(sp[0], 0.005), PETAL_ETIMEDOUT);
    assert_int_equal(petal_green_wait_readable(-1, 1), PETAL_EBADF);
    petal_green_release(g);
    close_pair();
}

static void *waits_forever(void *arg)
{
    rc_seen = petal_green_wait_readable(sp[0], -1);
    (void)arg;
    return NULL;
}

static void test_wait_fd_busy_closing_and_kill(void **state)
{
    (void)state;
    make_pair();
    petal_green_t *a, *b;
    assert_int_equal(petal_green_spawn(hub, waits_forever, NULL, NULL, &a), 0);
    assert_int_equal(petal_green_sleep(0.002), 0);
    /* a second waiter in the same direction is refused, not silently replacing */
    assert_int_equal(petal_green_wait_readable(sp[0], 1), PETAL_EBUSY);
    /* killing the waiter removes its reader: the fd can be waited on again */
    assert_int_equal(petal_green_kill(a), 0);
    assert_int_equal(petal_green_wait_readable(sp[0], 0.002), PETAL_ETIMEDOUT);
    /* announcing the close wakes the waiter with PETAL_ECANCELED */
    rc_seen = 0;
    assert_int_equal(petal_green_spawn(hub, waits_forever, NULL, NULL, &b), 0);
    assert_int_equal(petal_green_sleep(0.002), 0);
    assert_int_equal(petal_fd_closing(loop, sp[0]), 0);
    assert_int_equal(petal_green_join(b, -1), 0);
    assert_int_equal(rc_seen, PETAL_ECANCELED);
    petal_green_release(a);
    petal_green_release(b);
    close_pair();
}

/* ---- sockets ------------------------------------------------------------ */

#define NBYTES (256 * 1024)
static struct sockaddr_in srv_addr;
static int srv_fd;
static unsigned char *payload;

static void *echo_server(void *arg)
{
    (void)arg;
    int c = petal_green_accept(srv_fd, -1);
    assert_true(c >= 0);
    static char buf[4096];
    ssize_t n;
    while ((n = petal_green_recv(c, buf, sizeof buf, -1)) > 0) assert_int_equal(petal_green_sendall(c, buf, (size_t)n, -1), n);
    assert_int_equal(n, 0);
    close_fd(c);
    return NULL;
}

static void *echo_client(void *arg)
{
    (void)arg;
    int fd = tcp_socket();
    assert_int_equal(petal_green_connect(fd, (struct sockaddr *)&srv_addr, sizeof srv_addr, -1), 0);
    assert_int_equal(petal_green_sendall(fd, payload, NBYTES, -1), NBYTES);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    unsigned char *got = malloc(NBYTES + 1); /* room for one byte too many */
    size_t have = 0;
    ssize_t n;
    while ((n = petal_green_recv(fd, got + have, NBYTES - have + 1, -1)) > 0) have += (size_t)n;
    assert_int_equal(n, 0);
    assert_int_equal(have, NBYTES);
    assert_memory_equal(got, payload, NBYTES);
    free(got);
    close_fd(fd);
    return NULL;
}

static void test_socket_echo(void **state)
{
    (void)state;
    payload = malloc(NBYTES);
    for (int i = 0; i < NBYTES; i++) payload[i] = (unsigned char)(i * 7 + i / 251);
    srv_fd = tcp_listener(&srv_addr);
    petal_green_t *g[2];
    assert_int_equal(petal_green_spawn(hub, echo_server, NULL, NULL, &g[0]), 0);
    assert_int_equal(petal_green_spawn(hub, echo_client, NULL, NULL, &g[1]), 0);
    assert_int_equal(petal_green_joinall(g, 2, 30), 2);
    assert_int_equal(petal_green_result(g[0], NULL), 0);
    assert_int_equal(petal_green_result(g[1], NULL), 0);
    petal_green_release(g[0]);
    petal_green_release(g[1]);
    close_fd(srv_fd);
    free(payload);
}

/* A shared-stack greenlet receiving into a buffer on its own stack: the bytes
 * must land although the stack is copied away while it waits. */
static void *stack_reader(void *arg)
{
    (void)arg;
    char buf[64];
    memset(buf, 0, sizeof buf);
    ssize_t n = petal_green_recv(sp[0], buf, sizeof buf, 5);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "hello", 5);
    return (void *)(intptr_t)n;
}

static void *stack_scribbler(void *arg)
{
    (void)arg;
    volatile char junk[512];
    for (int i = 0; i < 512; i++) junk[i] = (char)0xAA;
    assert_int_equal(petal_green_sleep(0.01), 0); /* holds the shared stack while data arrives */
    return (void *)(intptr_t)junk[0];
}

static void write_hello(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
    assert_int_equal(write(sp[1], "hello", 5), 5);
}

static void test_recv_into_a_shared_stack_buffer(void **state)
{
    (void)state;
    make_pair();
    petal_green_t *r;
    assert_int_equal(petal_green_spawn(hub, stack_reader, NULL, NULL, &r), 0);
    petal_green_spawn(hub, stack_scribbler, NULL, NULL, NULL);
    petal_call_later(loop, 0.003, write_hello, NULL);
    assert_int_equal(petal_green_run(hub), 0);
    assert_int_equal(petal_green_result(r, NULL), 0);
    petal_green_release(r);
    close_pair();
}

static void *recv_times_out_then_works(void *arg)
{
    (void)arg;
    char buf[8];
    assert_int_equal(petal_green_recv(sp[0], buf, sizeof buf, 0.005), PETAL_ETIMEDOUT);
    assert_int_equal(write(sp[1], "ab", 2), 2);
    assert_int_equal(petal_green_recv(sp[0], buf, sizeof buf, 5), 2); /* the cancelled recv took nothing */
    assert_memory_equal(buf, "ab", 2);
    return NULL;
}

static void *recv_forever(void *arg)
{
    (void)arg;
    char buf[8];
    rc_seen = (int)petal_green_recv(sp[0], buf, sizeof buf, -1);
    return NULL;
}

static void test_recv_timeout_and_kill_cancel_the_operation(void **state)
{
    (void)state;
    make_pair();
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, recv_times_out_then_works, NULL, NULL, &g), 0);
    assert_int_equal(petal_green_join(g, -1), 0);
    assert_int_equal(petal_green_result(g, NULL), 0);
    petal_green_release(g);
    rc_seen = 1;
    assert_int_equal(petal_green_spawn(hub, recv_forever, NULL, NULL, &g), 0);
    assert_int_equal(petal_green_sleep(0.003), 0);
    assert_int_equal(petal_green_kill(g), 0); /* its recv is cancelled; nothing leaks */
    assert_int_equal(rc_seen, 1);             /* it never returned */
    assert_int_equal(write(sp[1], "z", 1), 1);
    char c;
    assert_int_equal(petal_green_recv(sp[0], &c, 1, 5), 1); /* main's recv gets the byte */
    assert_int_equal(c, 'z');
    petal_green_release(g);
    close_pair();
}

static void test_connect_refused_and_bad_fd(void **state)
{
    (void)state;
    struct sockaddr_in a;
    int l = tcp_listener(&a);
    close(l); /* nothing listens there now */
    int fd = tcp_socket();
    int rc = petal_green_connect(fd, (struct sockaddr *)&a, sizeof a, 5);
    assert_int_equal(rc, -ECONNREFUSED);
    close_fd(fd);
    char c;
    assert_true(petal_green_recv(-1, &c, 1, 1) < 0);
    assert_int_equal(petal_green_recv(3, NULL, 1, 1), PETAL_EINVAL);
}

/* ---- futures both ways -------------------------------------------------- */

static void resolve_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    petal_future_set_result(arg, (void *)0x42, NULL);
}

static void test_await_a_future(void **state)
{
    (void)state;
    petal_future_t *f;
    assert_int_equal(petal_future_new(loop, &f), 0);
    void *v = NULL;
    assert_int_equal(petal_green_await(f, 0.005, &v), PETAL_ETIMEDOUT);
    assert_false(petal_future_done(f)); /* a timed-out await leaves the future alone */
    petal_call_later(loop, 0.003, resolve_cb, f);
    assert_int_equal(petal_green_await(f, -1, &v), 0);
    assert_ptr_equal(v, (void *)0x42);
    petal_future_release(f);
    assert_int_equal(petal_future_new(loop, &f), 0);
    petal_future_cancel(f);
    assert_int_equal(petal_green_await(f, -1, NULL), PETAL_ECANCELED);
    petal_future_release(f);
    assert_int_equal(petal_green_await(NULL, -1, NULL), PETAL_EINVAL);
}

static void *awaits(void *arg)
{
    void *v = NULL;
    int rc = petal_green_await(arg, -1, &v);
    return rc ? (void *)(intptr_t)rc : v;
}

static void test_kill_while_awaiting(void **state)
{
    (void)state;
    petal_future_t *f;
    assert_int_equal(petal_future_new(loop, &f), 0);
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, awaits, f, NULL, &g), 0);
    assert_int_equal(petal_green_sleep(0.002), 0);
    assert_int_equal(petal_green_kill(g), 0);
    assert_int_equal(petal_future_set_result(f, NULL, NULL), 0); /* nobody is woken any more */
    assert_int_equal(petal_green_sleep(0.002), 0);
    assert_int_equal(petal_green_result(g, NULL), PETAL_EKILLED);
    petal_green_release(g);
    petal_future_release(f);
}

static int done_seen;
static void *done_value;

static void on_green_done(petal_future_t *f, void *arg)
{
    (void)arg;
    done_seen = petal_future_result(f, &done_value) == 0 ? 1 : -1;
}

static void *returns_arg(void *arg)
{
    assert_int_equal(petal_green_sleep(0.002), 0);
    return arg;
}

static void test_greenlet_future_for_callback_code(void **state)
{
    (void)state;
    done_seen = 0;
    petal_green_t *g;
    assert_int_equal(petal_green_spawn(hub, returns_arg, (void *)0x77, NULL, &g), 0);
    petal_future_t *f;
    assert_int_equal(petal_green_future(g, &f), 0);
    assert_int_equal(petal_future_add_done_callback(f, on_green_done, NULL), 0);
    assert_int_equal(petal_green_run(hub), 0);
    assert_int_equal(petal_green_sleep(0), 0); /* done callbacks are call_soon'd */
    assert_int_equal(done_seen, 1);
    assert_ptr_equal(done_value, (void *)0x77);
    petal_future_t *f2; /* asked for after death: made done */
    assert_int_equal(petal_green_future(g, &f2), 0);
    assert_ptr_equal(f2, f);
    petal_future_release(f2);
    petal_future_release(f);
    petal_green_release(g);
}

/* ---- the dump ----------------------------------------------------------- */

static petal_green_event *dump_ev;

static void *waits_event(void *arg)
{
    (void)arg;
    petal_green_event_wait(dump_ev, -1);
    return NULL;
}

static void *long_sleep(void *arg)
{
    (void)arg;
    petal_green_sleep(100);
    return NULL;
}

static char *dump_to_string(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_non_null(m);
    assert_int_equal(petal_green_dump(m), 0);
    fclose(m);
    return text;
}

static void test_dump_lists_every_live_greenlet(void **state)
{
    (void)state;
    make_pair();
    assert_int_equal(petal_green_event_new(hub, &dump_ev), 0);
    petal_green_opts o1 = {.name = "sleepy"}, o2 = {.name = "reader"}, o3 = {.name = "eventful"},
                     o4 = {.name = "late", .stack_mode = PETAL_GREEN_STACK_SHARED};
    petal_green_spawn(hub, long_sleep, NULL, &o1, NULL);
    petal_green_spawn(hub, waits_forever, NULL, &o2, NULL);
    petal_green_spawn(hub, waits_event, NULL, &o3, NULL);
    assert_int_equal(petal_green_sleep(0.002), 0);
    petal_green_spawn(hub, long_sleep, NULL, &o4, NULL); /* not started yet */
    char *text = dump_to_string();
    char want[64];
    snprintf(want, sizeof want, "wait=readable(fd=%d)", sp[0]);
    assert_non_null(strstr(text, "petal green hub: backend="));
    assert_non_null(strstr(text, "live=4"));
    assert_non_null(strstr(text, "\"sleepy\" parked wait=sleep deadline=+"));
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "\"eventful\" parked wait=event("));
    assert_non_null(strstr(text, "\"late\" pending wait=none stack=shared used=0"));
    assert_non_null(strstr(text, "stack=dedicated used="));
    free(text);
    petal_green_event_set(dump_ev);
    assert_int_equal(petal_green_sleep(0.001), 0);
    text = dump_to_string();
    assert_null(strstr(text, "eventful")); /* finished: gone from the dump */
    free(text);
    assert_int_equal(petal_green_hub_free(hub), 0); /* kills the rest */
    assert_int_equal(petal_green_hub_new(loop, NULL, &hub), 0);
    assert_int_equal(petal_green_event_free(dump_ev), 0);
    close_pair();
}

static void *raises(void *arg)
{
    (void)arg;
    raise(SIGUSR2);
    petal_green_sleep(0.05); /* the dump runs from the loop meanwhile */
    return NULL;
}

static void test_dump_on_signal(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    assert_int_equal(petal_green_dump_on_signal(hub, SIGUSR2, m), 0);
    petal_green_opts o = {.name = "signaller"};
    petal_green_spawn(hub, raises, NULL, &o, NULL);
    assert_int_equal(petal_green_run(hub), 0);
    assert_int_equal(petal_green_dump_on_signal(hub, 0, NULL), 0);
    assert_int_equal(petal_green_dump_on_signal(hub, 0, NULL), PETAL_ENOENT);
    fclose(m);
    assert_non_null(strstr(text, "\"signaller\""));
    assert_non_null(strstr(text, "\"main\" parked wait=run"));
    free(text);
    assert_int_equal(petal_green_dump_on_signal(NULL, SIGUSR2, stderr), PETAL_EINVAL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
#define TS(f) cmocka_unit_test_setup_teardown(f, setup_shared, teardown)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        T(test_wait_readable),
        T(test_wait_fd_busy_closing_and_kill),
        T(test_socket_echo),
        TS(test_socket_echo),
        TS(test_recv_into_a_shared_stack_buffer),
        T(test_recv_timeout_and_kill_cancel_the_operation),
        TS(test_recv_timeout_and_kill_cancel_the_operation),
        T(test_connect_refused_and_bad_fd),
        T(test_await_a_future),
        T(test_kill_while_awaiting),
        T(test_greenlet_future_for_callback_code),
        T(test_dump_lists_every_live_greenlet),
        T(test_dump_on_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
