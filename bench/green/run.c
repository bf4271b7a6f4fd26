/* Fresh process per run, so that the peak RSS is that of one program. */
#include "bench/green/run.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void child(char *const argv[], int cpu, int out_fd)
{
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0) {
            fprintf(stderr, "green_bench: cannot pin to cpu %d: %s\n", cpu, strerror(errno));
            _exit(126);
        }
    }
    if (dup2(out_fd, STDOUT_FILENO) < 0) _exit(126);
    execv(argv[0], argv);
    fprintf(stderr, "green_bench: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Reads the child's stdout into buf until EOF or the deadline. */
static int collect(int fd, char *buf, size_t cap, double deadline)
{
    size_t len = 0;
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0) return -ETIMEDOUT;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int ms = left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
        int r = poll(&p, 1, ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -errno;
        if (r == 0) continue;
        char tmp[4096];
        ssize_t got = read(fd, tmp, sizeof tmp);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -errno;
        if (got == 0) break;
        size_t keep = (size_t)got < cap - 1 - len ? (size_t)got : cap - 1 - len;
        memcpy(buf + len, tmp, keep);   /* longer output is cut, not fatal */
        len += keep;
    }
    buf[len] = '\0';
    return 0;
}

static int parse(const char *buf, int prog, long n, struct run_result *out, char *err, size_t errlen)
{
    const char *line = strstr(buf, "prog=");
    int p;
    long got_n;
    char backend[32], stack[32];
    if (!line || sscanf(line, "prog=%d backend=%31s stack=%31s n=%ld wall_s=%lf peak_rss_kib=%ld",
                        &p, backend, stack, &got_n, &out->wall_s, &out->self_rss_kib) != 6) {
        snprintf(err, errlen, "no result line in output: \"%.200s\"", buf);
        return -EPROTO;
    }
    if (p != prog || got_n != n) {
        snprintf(err, errlen, "result is for prog=%d n=%ld, asked prog=%d n=%ld", p, got_n, prog, n);
        return -EPROTO;
    }
    return 0;
}

int run_program(char *const argv[], int prog, long n, int cpu, double timeout_s,
                struct run_result *out, char *err, size_t errlen)
{
    int fds[2];
    err[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        return -errno;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(fds[0]);
        close(fds[1]);
        snprintf(err, errlen, "fork: %s", strerror(e));
        return -e;
    }
    if (pid == 0) child(argv, cpu, fds[1]);
    close(fds[1]);

    static char buf[64 * 1024];
    int rc = collect(fds[0], buf, sizeof buf, now_s() + timeout_s);
    close(fds[0]);
    if (rc == -ETIMEDOUT) {
        kill(pid, SIGKILL);
        snprintf(err, errlen, "killed after %.0f s", timeout_s);
    }
    int status;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            snprintf(err, errlen, "wait4: %s", strerror(errno));
            return -errno;
        }
    }
    if (rc < 0) {
        if (!err[0]) snprintf(err, errlen, "reading output: %s", strerror(-rc));
        return rc;
    }
    if (WIFSIGNALED(status)) {
        snprintf(err, errlen, "died of signal %d", WTERMSIG(status));
        return -ECHILD;
    }
    if (WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "exited with status %d", WEXITSTATUS(status));
        return -ECHILD;
    }
    rc = parse(buf, prog, n, out, err, errlen);
    if (rc < 0) return rc;
    out->peak_rss_kib = ru.ru_maxrss;  /* KiB on Linux */
    out->cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                 (double)ru.ru_stime.tv_usec / 1e6;
    return 0;
}
