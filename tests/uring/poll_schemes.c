/* Level-triggered readiness on io_uring: what the running kernel accepts,
 * and what each way of getting readiness costs per pingpong round trip.
 * A measuring program, not a test (docs/backends/uring.md has its output):
 *
 *   bazel build -c opt //tests/uring:poll_schemes
 *   taskset -c 0 bazel-out/k8-opt/bin/tests/uring/poll_schemes [n] [reps]
 *
 * Part 1 asks the kernel: IORING_POLL_ADD_LEVEL (EINVAL: it was reverted
 * before 6.0 shipped, io_poll_add_prep accepts IORING_POLL_ADD_MULTI only);
 * whether a multishot POLL_ADD reports data a reader left behind (it does
 * not: one CQE per wakeup); whether a one-shot POLL_ADD armed on an fd that
 * still has data completes at once (it does: level); IORING_OP_EPOLL_WAIT
 * (6.15+) on a level-triggered epoll set, and its multishot flag.
 *
 * Part 2 runs pingpong (1 byte over a socketpair, both ends on one ring)
 * through petal's add_reader and through native variants, alternating, and
 * prints CPU and wall time per round trip: multishot POLL_ADD; one-shot
 * re-armed, handling CQEs posted while it handles earlier ones in the same
 * pass (bench/loop_native_uring.c with LOOP_BENCH_URING_ONESHOT=1); one-shot
 * re-armed in asyncio's order (a poll, then the callbacks of what it found;
 * readiness that appears meanwhile waits for the next poll: petal's
 * contract); EPOLL_WAIT re-submitted each iteration; multishot plus a
 * poll(2) re-check after each reader call. */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "petal/loop.h"
#include "petal/uring.h"

#define OP_EPOLL_WAIT 59        /* IORING_OP_EPOLL_WAIT, newer than liburing 2.3 */
#define POLL_ADD_LEVEL (1U << 3) /* IORING_POLL_ADD_LEVEL */

static double clk(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void die(const char *what, int err)
{
    fprintf(stderr, "poll_schemes: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

static void ring_init(struct io_uring *r)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
    int rc = io_uring_queue_init_params(256, r, &p);
    if (rc) die("io_uring_queue_init_params", rc);
}

static void pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv)) die("socketpair", errno);
}

static void put(int fd, const char *s, size_t n)
{
    if (write(fd, s, n) != (ssize_t)n) die("write", errno);
}

static void drain(int fd)
{
    char b[64];
    while (read(fd, b, sizeof b) > 0) {}
}

/* Waits up to 100 ms for one CQE: its res, or -ETIME if none came. */
static int next_cqe(struct io_uring *r)
{
    struct io_uring_cqe *cqe;
    struct __kernel_timespec ts = { 0, 100000000 };
    int rc = io_uring_submit_and_wait_timeout(r, &cqe, 1, &ts, NULL);
    if (rc < 0 && rc != -ETIME) die("io_uring_submit_and_wait_timeout", rc);
    if (io_uring_peek_cqe(r, &cqe)) return -ETIME;
    int res = cqe->res;
    io_uring_cqe_seen(r, cqe);
    return res;
}

static struct io_uring_sqe *sqe_of(struct io_uring *r, uint64_t data)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(r);
    if (!sqe) die("io_uring_get_sqe", EBUSY);
    io_uring_sqe_set_data64(sqe, data);
    return sqe;
}

static const char *cqe_text(int res)
{
    static char buf[64];
    if (res == -ETIME) return "no CQE within 100 ms";
    if (res < 0) snprintf(buf, sizeof buf, "res %d (%s)", res, strerror(-res));
    else snprintf(buf, sizeof buf, "CQE, res %#x", (unsigned)res);
    return buf;
}

static void semantics(void)
{
    struct io_uring r;
    ring_init(&r);
    struct io_uring_probe *pr = io_uring_get_probe_ring(&r);
    printf("kernel: last opcode %d, IORING_OP_EPOLL_WAIT supported: %s\n", pr ? pr->last_op : -1,
           pr && pr->last_op >= OP_EPOLL_WAIT && io_uring_opcode_supported(pr, OP_EPOLL_WAIT) ? "yes" : "no");
    bool epoll_wait_op = pr && pr->last_op >= OP_EPOLL_WAIT && io_uring_opcode_supported(pr, OP_EPOLL_WAIT);
    if (pr) io_uring_free_probe(pr);
    int sv[2];
    pair(sv);

    struct io_uring_sqe *sqe = sqe_of(&r, 1);
    io_uring_prep_poll_add(sqe, sv[0], POLLIN);
    sqe->len = POLL_ADD_LEVEL;
    printf("POLL_ADD with IORING_POLL_ADD_LEVEL: %s\n", cqe_text(next_cqe(&r)));
    sqe = sqe_of(&r, 2);
    io_uring_prep_poll_add(sqe, sv[0], POLLIN);
    sqe->len = POLL_ADD_LEVEL | IORING_POLL_ADD_MULTI;
    printf("POLL_ADD with IORING_POLL_ADD_LEVEL|MULTI: %s\n", cqe_text(next_cqe(&r)));

    char b[4];
    io_uring_prep_poll_multishot(sqe_of(&r, 3), sv[0], POLLIN);
    put(sv[1], "ab", 2);
    printf("multishot POLL_ADD, 2 bytes arrive: %s\n", cqe_text(next_cqe(&r)));
    if (read(sv[0], b, 1) != 1) die("read", errno);
    printf("multishot POLL_ADD, reader took 1 byte and left 1: %s\n", cqe_text(next_cqe(&r)));
    put(sv[1], "c", 1);
    printf("multishot POLL_ADD, 1 more byte arrives: %s\n", cqe_text(next_cqe(&r)));
    io_uring_prep_poll_remove(sqe_of(&r, 4), 3);
    next_cqe(&r);
    next_cqe(&r);
    drain(sv[0]);

    put(sv[1], "ab", 2);
    if (read(sv[0], b, 1) != 1) die("read", errno);
    io_uring_prep_poll_add(sqe_of(&r, 5), sv[0], POLLIN);
    printf("one-shot POLL_ADD armed with 1 byte left: %s\n", cqe_text(next_cqe(&r)));
    drain(sv[0]);

    if (epoll_wait_op) {
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = { .events = EPOLLIN }, out[4];
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev)) die("epoll", errno);
        put(sv[1], "ab", 2);
        if (read(sv[0], b, 1) != 1) die("read", errno);
        io_uring_prep_rw(OP_EPOLL_WAIT, sqe_of(&r, 6), ep, out, 4, 0);
        printf("EPOLL_WAIT (level-triggered set) with 1 byte left: %s\n", cqe_text(next_cqe(&r)));
        sqe = sqe_of(&r, 7);
        io_uring_prep_rw(OP_EPOLL_WAIT, sqe, ep, out, 4, 0);
        sqe->rw_flags = 1;    /* epoll_flags: the multishot flag of the unmerged series */
        printf("EPOLL_WAIT with epoll_flags = 1 (multishot): %s\n", cqe_text(next_cqe(&r)));
        close(ep);
    }
    io_uring_queue_exit(&r);
    close(sv[0]);
    close(sv[1]);
}

/* ---- costs ---------------------------------------------------------------- */

enum scheme { PETAL, MULTI, ONESHOT_PASS, ONESHOT_ITER, EPOLLWAIT, MULTI_RECHECK, NSCHEMES };

static const char *const names[NSCHEMES] = {
    "petal add_reader (one-shot, per iteration)",
    "native multishot POLL_ADD (edge-like)",
    "native one-shot, mid-pass CQEs same pass",
    "native one-shot, per iteration (asyncio)",
    "native EPOLL_WAIT re-submitted (level)",
    "native multishot + poll(2) re-check",
};

struct pctx {
    long left;
};

static void petal_reader(petal_loop_t *loop, int fd, int status, void *arg)
{
    struct pctx *c = arg;
    char b;
    if (status || read(fd, &b, 1) != 1) return;
    if (c && --c->left == 0) {
        petal_loop_stop(loop);
        return;
    }
    put(fd, &b, 1);
}

static void run_petal(long n)
{
    petal_loop_t *loop;
    int rc = petal_loop_new_uring(&loop, NULL);
    if (rc) die("petal_loop_new_uring", rc);
    int sv[2];
    pair(sv);
    struct pctx c = { n };
    if (petal_add_reader(loop, sv[0], petal_reader, &c) < 0 || petal_add_reader(loop, sv[1], petal_reader, NULL) < 0)
        die("petal_add_reader", EINVAL);
    put(sv[0], "x", 1);
    if ((rc = petal_loop_run(loop))) die("petal_loop_run", rc);
    petal_remove_reader(loop, sv[0]);
    petal_remove_reader(loop, sv[1]);
    petal_loop_free(loop);
    close(sv[0]);
    close(sv[1]);
}

static void arm(struct io_uring *r, enum scheme s, int fd, int i)
{
    struct io_uring_sqe *sqe = sqe_of(r, (uint64_t)i);
    if (s == MULTI || s == MULTI_RECHECK) io_uring_prep_poll_multishot(sqe, fd, POLLIN);
    else io_uring_prep_poll_add(sqe, fd, POLLIN);
}

/* The reader: one byte in, the same byte back; false when done. */
static bool reader(int fd, bool counts, long *left)
{
    char b;
    if (read(fd, &b, 1) != 1) return true;
    if (counts && --*left == 0) return false;
    put(fd, &b, 1);
    return true;
}

static void run_native(enum scheme s, long n)
{
    struct io_uring r;
    ring_init(&r);
    int sv[2], ep = -1;
    struct epoll_event out[4];
    pair(sv);
    if (s == EPOLLWAIT) {
        if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) die("epoll_create1", errno);
        for (int i = 0; i < 2; i++) {
            struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
            if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[i], &ev)) die("epoll_ctl", errno);
        }
        io_uring_prep_rw(OP_EPOLL_WAIT, sqe_of(&r, 9), ep, out, 4, 0);
    } else {
        for (int i = 0; i < 2; i++) arm(&r, s, sv[i], i);
    }
    long left = n;
    put(sv[0], "x", 1);
    for (bool go = true; go;) {
        struct io_uring_cqe *cqe;
        int rc = io_uring_submit_and_wait(&r, 1);
        if (rc < 0 && rc != -EINTR) die("io_uring_submit_and_wait", rc);
        if (s == ONESHOT_PASS || s == MULTI || s == MULTI_RECHECK) {
            /* each CQE handled as it is seen, also those posted meanwhile
             * (io_uring_for_each_cqe re-reads the tail) */
            unsigned head, seen = 0;
            io_uring_for_each_cqe(&r, head, cqe)
            {
                seen++;
                int i = (int)cqe->user_data;
                if (s == ONESHOT_PASS || !(cqe->flags & IORING_CQE_F_MORE)) arm(&r, s, sv[i], i);
                if (go) go = reader(sv[i], i == 0, &left);
                if (go && s == MULTI_RECHECK) {
                    struct pollfd pf = { sv[i], POLLIN, 0 };
                    if (poll(&pf, 1, 0) < 0) die("poll", errno);    /* data left: would call the reader again */
                }
            }
            io_uring_cq_advance(&r, seen);
            continue;
        }
        /* a poll, then the callbacks of what it found */
        bool ready[2] = { false, false };
        for (unsigned k = io_uring_cq_ready(&r); k > 0 && io_uring_peek_cqe(&r, &cqe) == 0; k--) {
            if (s == EPOLLWAIT)
                for (int j = 0; j < cqe->res; j++) ready[out[j].data.u64] = true;
            else
                ready[cqe->user_data] = true;
            io_uring_cqe_seen(&r, cqe);
        }
        for (int i = 0; i < 2 && go; i++) {
            if (!ready[i]) continue;
            go = reader(sv[i], i == 0, &left);
            if (s == ONESHOT_ITER) arm(&r, s, sv[i], i);
        }
        if (s == EPOLLWAIT) io_uring_prep_rw(OP_EPOLL_WAIT, sqe_of(&r, 9), ep, out, 4, 0);
    }
    io_uring_queue_exit(&r);
    close(sv[0]);
    close(sv[1]);
    if (ep >= 0) close(ep);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 50000;
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    if (n <= 0 || reps <= 0 || reps > 64) {
        fprintf(stderr, "usage: poll_schemes [round trips > 0] [repetitions 1-64]\n");
        return 2;
    }
    semantics();
    struct io_uring r;
    ring_init(&r);
    struct io_uring_probe *pr = io_uring_get_probe_ring(&r);
    bool epoll_wait_op = pr && pr->last_op >= OP_EPOLL_WAIT && io_uring_opcode_supported(pr, OP_EPOLL_WAIT);
    if (pr) io_uring_free_probe(pr);
    io_uring_queue_exit(&r);

    static double wall[NSCHEMES][64], cpu[NSCHEMES][64];
    for (int k = 0; k < reps; k++)
        for (int j = 0; j < NSCHEMES; j++) {
            enum scheme s = (enum scheme)((j + k) % NSCHEMES);    /* a different order each repetition */
            if (s == EPOLLWAIT && !epoll_wait_op) continue;
            double w0 = clk(CLOCK_MONOTONIC), c0 = clk(CLOCK_PROCESS_CPUTIME_ID);
            if (s == PETAL) run_petal(n);
            else run_native(s, n);
            wall[s][k] = clk(CLOCK_MONOTONIC) - w0;
            cpu[s][k] = clk(CLOCK_PROCESS_CPUTIME_ID) - c0;
        }
    double cm[NSCHEMES], wm[NSCHEMES];
    printf("pingpong, %ld round trips, %d repetitions, medians (min-max):\n", n, reps);
    for (int s = 0; s < NSCHEMES; s++) {
        if (s == EPOLLWAIT && !epoll_wait_op) continue;
        qsort(wall[s], (size_t)reps, sizeof(double), cmp_double);
        qsort(cpu[s], (size_t)reps, sizeof(double), cmp_double);
        wm[s] = wall[s][reps / 2];
        cm[s] = cpu[s][reps / 2];
        printf("%-44s cpu %6.2f us (%.2f-%.2f)  wall %6.2f us (%.2f-%.2f)  petal/this cpu %.3f wall %.3f\n", names[s],
               cm[s] / (double)n * 1e6, cpu[s][0] / (double)n * 1e6, cpu[s][reps - 1] / (double)n * 1e6,
               wm[s] / (double)n * 1e6, wall[s][0] / (double)n * 1e6, wall[s][reps - 1] / (double)n * 1e6,
               cm[PETAL] / cm[s], wm[PETAL] / wm[s]);
    }
    return 0;
}
