/* io_uring hazards petal papers over (docs/backends/uring.md), each shown on
 * the raw ring where that matters and then through petal. */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "petal/uring.h"

static int calls[3], errors;

static void tagged_cb(petal_loop_t *l, int fd, int status, void *arg)
{
    (void)l;
    if (status != 0) {
        errors++;
        return;
    }
    calls[(intptr_t)arg]++;
    char c;
    (void)read(fd, &c, 1);
}

static void stop_cb(petal_loop_t *l, void *arg)
{
    (void)arg;
    petal_loop_stop(l);
}

static void run_for(petal_loop_t *l, double s)
{
    assert_true(petal_call_later(l, s, stop_cb, NULL) > 0);
    assert_int_equal(petal_loop_run(l), 0);
}

/* liburing#568/#932: close() does not end a poll; the ring keeps the file,
 * so the peer never sees EOF. petal_fd_closing() removes the poll first. */
static void test_fd_closing_releases_the_file(void **state)
{
    (void)state;
    int s[2];
    char c;
    /* The hazard, on a raw ring. */
    struct io_uring ring;
    assert_int_equal(io_uring_queue_init(8, &ring, 0), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s), 0);
    io_uring_prep_poll_add(io_uring_get_sqe(&ring), s[0], POLLIN);
    assert_int_equal(io_uring_submit(&ring), 1);
    close(s[0]);
    assert_int_equal(recv(s[1], &c, 1, 0), -1);    /* no EOF: the file lives on */
    io_uring_queue_exit(&ring);
    /* now it does, once the kernel has torn the ring down (asynchronously) */
    ssize_t got = -1;
    for (int i = 0; i < 200 && got != 0; i++) {
        got = recv(s[1], &c, 1, 0);
        if (got != 0) usleep(5000);
    }
    assert_int_equal(got, 0);
    close(s[1]);

    /* Through petal. */
    petal_loop_t *l;
    assert_int_equal(petal_loop_new_uring(&l, NULL), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s), 0);
    assert_int_equal(petal_add_reader(l, s[0], tagged_cb, (void *)0), 0);
    run_for(l, 0.005);    /* the poll is in the kernel */
    assert_int_equal(petal_fd_closing(l, s[0]), 0);
    close(s[0]);
    assert_int_equal(recv(s[1], &c, 1, 0), 0);     /* EOF at once */
    close(s[1]);
    assert_int_equal(petal_loop_free(l), 0);
}

/* A poll that completed before petal_fd_closing() (its CQE not yet reaped)
 * must not reach the new watcher of the reused number (liburing#733). */
static void test_stale_completion_never_reaches_the_core(void **state)
{
    (void)state;
    petal_loop_t *l;
    assert_int_equal(petal_loop_new_uring(&l, NULL), 0);
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    calls[1] = calls[2] = errors = 0;
    assert_int_equal(petal_add_reader(l, a[0], tagged_cb, (void *)1), 0);
    run_for(l, 0.005);
    assert_int_equal(write(a[1], "x", 1), 1);    /* the poll completes in the kernel */
    assert_int_equal(petal_fd_closing(l, a[0]), 0);
    int num = a[0];
    close(a[0]);
    close(a[1]);
    assert_int_equal(pipe(b), 0);
    assert_int_equal(b[0], num);
    assert_int_equal(petal_add_reader(l, b[0], tagged_cb, (void *)2), 0);
    run_for(l, 0.02);
    assert_int_equal(calls[1], 0);
    assert_int_equal(calls[2], 0);               /* b has no data */
    assert_int_equal(errors, 1);                 /* reader 1: PETAL_ECANCELED */
    assert_int_equal(write(b[1], "y", 1), 1);
    run_for(l, 0.005);
    assert_int_equal(calls[2], 1);
    petal_fd_closing(l, b[0]);
    close(b[0]);
    close(b[1]);
    assert_int_equal(petal_loop_free(l), 0);
}

/* More changed fds than the SQ has entries (256): petal submits as it goes. */
#define NPIPES 300
static void test_more_fds_than_sq_entries(void **state)
{
    (void)state;
    petal_loop_t *l;
    assert_int_equal(petal_loop_new_uring(&l, NULL), 0);
    static int p[NPIPES][2];
    calls[0] = 0;
    for (int i = 0; i < NPIPES; i++) {
        assert_int_equal(pipe(p[i]), 0);
        assert_int_equal(write(p[i][1], "z", 1), 1);
        assert_int_equal(petal_add_reader(l, p[i][0], tagged_cb, (void *)0), 0);
    }
    assert_int_equal(petal_loop_run_once(l), 0);
    assert_int_equal(calls[0], NPIPES);
    for (int i = 0; i < NPIPES; i++) {
        petal_fd_closing(l, p[i][0]);
        close(p[i][0]);
        close(p[i][1]);
    }
    assert_int_equal(petal_loop_free(l), 0);
}

/* io_uring blocked (seccomp, as in many containers): loop creation returns
 * the kernel's error, not a crash. Shown in a child with a seccomp filter
 * that fails io_uring_setup with ENOSYS. */
static void test_io_uring_blocked_gives_a_clear_error(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = { .len = sizeof f / sizeof *f, .filter = f };
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) _exit(2);
        petal_loop_t *l = NULL;
        int rc = petal_loop_new_uring(&l, NULL);
        int rc2 = petal_loop_new(&l);    /* only io_uring is linked here */
        _exit(rc == PETAL_ENOSYS && rc2 == PETAL_ENOSYS && l == NULL ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_closing_releases_the_file),
        cmocka_unit_test(test_stale_completion_never_reaches_the_core),
        cmocka_unit_test(test_more_fds_than_sq_entries),
        cmocka_unit_test(test_io_uring_blocked_gives_a_clear_error),
    };
    return cmocka_run_group_tests_name("uring_hazards", tests, NULL, NULL);
}
