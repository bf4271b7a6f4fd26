/* io_uring socket operations (backends/uring/sock.c) in the interleavings a
 * loaded machine produces: a cancel that loses the race with the kernel, a
 * cancel of a request not submitted yet, an fd closed and its number reused
 * while a cancelled request is still in the kernel, a buffer that cannot be
 * allocated. Each case ends with the fd's queue usable again and the loop
 * freed cleanly (ASan). */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "petal/sock.h"
#include "petal/uring.h"

static petal_loop_t *new_loop(void)
{
    petal_loop_t *l;
    assert_int_equal(petal_loop_new_uring(&l, NULL), 0);
    return l;
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void pair(int s[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s), 0);
}

static void close_pair(petal_loop_t *l, int s[2])
{
    petal_fd_closing(l, s[0]);
    petal_fd_closing(l, s[1]);
    close(s[0]);
    close(s[1]);
}

static void noop_cb(petal_loop_t *l, void *arg)
{
    (void)l;
    (void)arg;
}

/* One iteration that waits at most 2 ms. */
static void iterate(petal_loop_t *l)
{
    petal_handle_t h = petal_call_later(l, 0.002, noop_cb, NULL);
    assert_true(h > 0);
    assert_int_equal(petal_loop_run_once(l), 0);
    petal_cancel(l, h);
}

/* Runs iterations until fut is done or about 5 s have passed. */
static void run_until(petal_loop_t *l, petal_future_t *fut)
{
    int64_t end = petal_time_ns(l) + 5000000000;
    while (!petal_future_done(fut) && petal_time_ns(l) < end) iterate(l);
    assert_true(petal_future_done(fut));
}

static ssize_t recv_now(petal_loop_t *l, int fd, char *buf, size_t len)
{
    petal_future_t *f;
    assert_int_equal(petal_sock_recv(l, fd, buf, len, &f), 0);
    run_until(l, f);
    ssize_t n = petal_sock_result(f);
    petal_future_release(f);
    return n;
}

/* Cancelled before its SQE reached the kernel: the cancel and the recv go in
 * one submit; the recv, with data there, completes anyway (the cancel finds
 * nothing: -ENOENT) and its bytes are dropped. The next recv is served. */
static void test_cancel_before_submit(void **state)
{
    (void)state;
    petal_loop_t *l = new_loop();
    int s[2];
    pair(s);
    assert_int_equal(send(s[1], "abcd", 4, 0), 4);
    char buf[8];
    petal_future_t *f;
    assert_int_equal(petal_sock_recv(l, s[0], buf, sizeof buf, &f), 0);
    assert_int_equal(petal_future_cancel(f), 0);
    assert_true(petal_future_cancelled(f));
    petal_future_release(f);
    assert_int_equal(send(s[1], "efgh", 4, 0), 4);
    /* "abcd" went to the cancelled recv or is still there: either way the
     * stream goes on in order. */
    char got[16];
    size_t have = 0;
    while (have < 4 || (have == 4 && memcmp(got, "abcd", 4) == 0)) {
        ssize_t n = recv_now(l, s[0], got + have, sizeof got - have);
        assert_true(n > 0);
        have += (size_t)n;
    }
    assert_true((have == 4 && memcmp(got, "efgh", 4) == 0) || (have == 8 && memcmp(got, "abcdefgh", 8) == 0));
    close_pair(l, s);
    assert_int_equal(petal_loop_free(l), 0);
}

/* A recv in the kernel is cancelled and its fd closed at once; the number is
 * reused by a new socket before the cancelled request's CQE was reaped. The
 * new socket's recv waits behind it in the fd's queue, and must start when
 * that CQE arrives. */
static void test_number_reused_while_a_cancel_is_in_flight(void **state)
{
    (void)state;
    petal_loop_t *l = new_loop();
    int s[2];
    pair(s);
    char buf[8];
    petal_future_t *f;
    assert_int_equal(petal_sock_recv(l, s[0], buf, sizeof buf, &f), 0);
    iterate(l); /* in the kernel, waiting */
    assert_false(petal_future_done(f));
    int num = s[0];
    assert_int_equal(petal_fd_closing(l, s[0]), 0);
    assert_true(petal_future_done(f));
    petal_future_release(f);
    close(s[0]);
    int t[2];
    pair(t);
    if (t[0] != num) { /* the number went to t[1]: use that end */
        int x = t[0];
        t[0] = t[1];
        t[1] = x;
    }
    assert_int_equal(t[0], num);
    assert_int_equal(send(t[1], "new", 3, 0), 3);
    assert_int_equal(recv_now(l, t[0], buf, sizeof buf), 3);
    assert_memory_equal(buf, "new", 3);
    /* The old peer sees the end of stream: the ring let go of the file. */
    char c;
    ssize_t got = -1;
    for (int i = 0; i < 1000 && got != 0; i++) {
        iterate(l);
        got = recv(s[1], &c, 1, 0);
    }
    assert_int_equal(got, 0);
    close(s[1]);
    close_pair(l, t);
    assert_int_equal(petal_loop_free(l), 0);
}

/* An accept cancelled while a connection is already queued: the kernel may
 * complete it anyway; that fd is closed, not leaked, and the next accept
 * gets the connection or the next one. */
static void test_accept_cancel_race(void **state)
{
    (void)state;
    petal_loop_t *l = new_loop();
    int fds_before = count_fds();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 8), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
    int c[2];
    for (int i = 0; i < 2; i++) {
        c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_int_equal(connect(c[i], (struct sockaddr *)&a, sizeof a), 0);
    }
    petal_future_t *f;
    assert_int_equal(petal_sock_accept(l, lfd, &f), 0);
    assert_int_equal(petal_future_cancel(f), 0);
    petal_future_release(f);
    assert_int_equal(petal_sock_accept(l, lfd, &f), 0);
    run_until(l, f);
    int fd = (int)petal_sock_result(f);
    assert_true(fd >= 0);
    petal_future_release(f);
    /* One of the two connections was accepted here; the other was either
     * closed by petal (the cancel lost the race) or is still queued: no
     * accepted fd is left open behind the user's back. */
    close(fd);
    for (int i = 0; i < 2; i++) close(c[i]);
    petal_fd_closing(l, lfd);
    close(lfd);
    for (int i = 0; i < 100 && count_fds() != fds_before; i++) iterate(l);
    assert_int_equal(count_fds(), fds_before);
    assert_int_equal(petal_loop_free(l), 0);
}

/* A receive buffer petal cannot allocate: PETAL_ENOMEM at once, the
 * request goes back to the free list, and the fd works on. */
static void test_unallocatable_recv_is_refused(void **state)
{
    (void)state;
    petal_loop_t *l = new_loop();
    int s[2];
    pair(s);
    char buf[8];
    petal_future_t *f = NULL;
    /* Warm the free list, so the refused request is a recycled one. */
    assert_int_equal(send(s[1], "a", 1, 0), 1);
    assert_int_equal(recv_now(l, s[0], buf, sizeof buf), 1);
    assert_int_equal(petal_sock_recv(l, s[0], buf, (size_t)1 << 46, &f), PETAL_ENOMEM);
    assert_null(f);
    assert_int_equal(send(s[1], "b", 1, 0), 1);
    assert_int_equal(recv_now(l, s[0], buf, sizeof buf), 1);
    assert_int_equal(buf[0], 'b');
    close_pair(l, s);
    assert_int_equal(petal_loop_free(l), 0);
}

/* Under ASan a failed allocation must come back as NULL, not abort. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1";
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_before_submit),
        cmocka_unit_test(test_number_reused_while_a_cancel_is_in_flight),
        cmocka_unit_test(test_accept_cancel_race),
        cmocka_unit_test(test_unallocatable_recv_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
