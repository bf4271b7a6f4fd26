/* Overflow is caught and named: each case runs in a child process whose
 * stderr and fate the test inspects. */
#include "common.h"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

struct fate { int signal; char err[4096]; };

/* Runs fn in a child with stderr captured. */
static struct fate in_child(void (*fn)(void))
{
    struct fate f = {0, ""};
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* not cmocka's handler: a plain program */
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], f.err + len, sizeof f.err - 1 - len)) > 0)
        len += (size_t)n;
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    f.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return f;
}

static volatile int keep_going = 1;

static __attribute__((noinline)) int forever(int n)
{
    volatile char buf[200];
    buf[0] = (char)n;
    return keep_going ? forever(n + 1) + buf[0] : buf[0];
}

static void *recurse_forever(void *arg, void *v)
{
    (void)arg;
    (void)v;
    return V(forever(0));
}

static void dedicated_overflow_child(void)
{
    petal_greenlet *g = mk_sized(recurse_forever, NULL, DEDICATED, 32768, "deep-diver");
    petal_greenlet_switch(g, NULL, NULL);
}

static void dedicated_overflow_named(void **state)
{
    (void)state;
    struct fate f = in_child(dedicated_overflow_child);
    assert_int_equal(f.signal, SIGSEGV);
    assert_non_null(strstr(f.err, "stack overflow in greenlet \"deep-diver\""));
    assert_non_null(strstr(f.err, "ran off its stack of 32768 bytes"));
}

static void shared_overflow_child(void)
{
    petal_greenlet *g = mk_sized(recurse_forever, NULL, SHARED, 0, "shared-diver");
    petal_greenlet_switch(g, NULL, NULL);
}

static void shared_overflow_named(void **state)
{
    (void)state;
    struct fate f = in_child(shared_overflow_child);
    assert_int_equal(f.signal, SIGSEGV);
    assert_non_null(strstr(f.err, "stack overflow in greenlet \"shared-diver\""));
    if (UNDER_ASAN) /* shared greenlets get dedicated stacks under ASan */
        assert_non_null(strstr(f.err, "ran off its stack of 65536 bytes"));
    else
        assert_non_null(strstr(f.err, "ran off the shared stack of 1048576 bytes"));
}

static __attribute__((noinline)) int sink(int depth)
{
    volatile char buf[1024];
    buf[0] = (char)depth;
    if (depth == 0) {
        petal_greenlet_switch(petal_greenlet_parent(petal_greenlet_current()), NULL, NULL);
        return buf[0];
    }
    return sink(depth - 1) + buf[0];
}

static void *sink_deep(void *arg, void *v)
{
    (void)arg;
    (void)v;
    return V(sink(40)); /* about 40 KiB live */
}

static void shared_limit_child(void)
{
    petal_greenlet *g = mk_sized(sink_deep, NULL, SHARED, 16384, "greedy");
    petal_greenlet *h = mk_sized(sink_deep, NULL, SHARED, 0, "other");
    petal_greenlet_switch(g, NULL, NULL);
    petal_greenlet_switch(h, NULL, NULL); /* h needs the stack: g is saved, over its limit */
}

static void shared_live_size_checked(void **state)
{
    (void)state;
    if (UNDER_ASAN) {
        print_message("[ SKIPPED  ] shared live-size limit: ASan runs shared greenlets on dedicated stacks\n");
        return;
    }
    struct fate f = in_child(shared_limit_child);
    assert_int_equal(f.signal, SIGABRT);
    assert_non_null(strstr(f.err, "petal: greenlet \"greedy\" holds"));
    assert_non_null(strstr(f.err, "over its limit of 16384 bytes"));
}

static void plain_fault_child(void)
{
    petal_greenlet *g = mk(recurse_forever, NULL, NULL, DEDICATED); /* installs the handler */
    (void)g;
    volatile char *no_access = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    no_access[0] = 1;
}

static void other_faults_untouched(void **state)
{
    (void)state;
    struct fate f = in_child(plain_fault_child);
    assert_int_equal(f.signal, SIGSEGV); /* the default action, as without petal */
    assert_null(strstr(f.err, "petal:"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dedicated_overflow_named),
        cmocka_unit_test(shared_overflow_named),
        cmocka_unit_test(shared_live_size_checked),
        cmocka_unit_test(other_faults_untouched),
    };
    return cmocka_run_group_tests_name("overflow", tests, NULL, NULL);
}
