/* echo_bench: the echo_tcp workload, petal's sock_* calls against each
 * native library (see echo_bench.h for the workload).
 *
 *   echo_bench [-r repetitions] [-n round trips] [-c connections]
 *              [-b uv,ev,event,uring] [-i petal|native|petal-readiness]
 *
 * For every repetition (outer loop) and backend it runs petal and the native
 * library (and, on uring, petal through the core's readiness path), one line
 * per run:
 *   workload=echo_tcp backend=<b> impl=<petal|petal-readiness|native> n=<n> seconds=<s>
 * then one summary line per backend:
 *   workload=echo_tcp backend=<b> petal_median=<s> petal_spread=<min-max>
 *     native_median=<s> native_spread=<min-max> ratio=<petal/native>
 *     [uring: readiness_median=<s> readiness_spread=<min-max>
 *      completion_vs_readiness=<petal/readiness>]
 *
 * Measure pinned to one core: taskset -c 1 bazel-bin/bench/echo_bench */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>

#include "bench/echo_bench.h"

/* ---- the table --------------------------------------------------------- */

enum { I_PETAL, I_NATIVE, I_READINESS, NIMPLS };
static const char *const impl_names[NIMPLS] = { "petal", "native", "petal-readiness" };

static const struct {
    const char *name;
    echo_fn native;
    const char *readiness;    /* petal variant through the core's readiness path */
} backends[] = {
    { "uv", echo_native_uv, NULL },
    { "ev", echo_native_ev, NULL },
    { "event", echo_native_event, NULL },
    { "uring", echo_native_uring, "uring-readiness" },
};
#define NBACKENDS (sizeof backends / sizeof backends[0])

static bool in_list(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l == len && strncmp(p, name, len) == 0) return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v and returns its median. */
static double median(double *v, int k)
{
    qsort(v, (size_t)k, sizeof *v, cmp_double);
    return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: echo_bench [-r repetitions] [-n round trips] [-c connections] [-b backends]\n"
               "                  [-i petal|native|petal-readiness]\n"
               "  -r  repetitions, default 5      -n  round trips in total, default 200000\n"
               "  -c  connections, default 100    -b  comma-separated, default uv,ev,event,uring\n"
               "  -i  run one implementation only (for profiling); no summary\n");
}

static double run_one(int b, int impl, long n, int nconn)
{
    struct echo_run r;
    int rc = echo_setup(&r, n, nconn);
    if (rc) echo_die(backends[b].name, "setup", rc);
    double s = impl == I_NATIVE ? backends[b].native(&r, backends[b].name)
                                : echo_petal(&r, impl == I_PETAL ? backends[b].name : backends[b].readiness);
    if (r.finished != n || r.accepted != nconn) echo_die(backends[b].name, "round trip count", r.finished);
    echo_teardown(&r);
    printf("workload=echo_tcp backend=%s impl=%s n=%ld seconds=%.6f\n", backends[b].name, impl_names[impl], n, s);
    fflush(stdout);
    return s;
}

int main(int argc, char **argv)
{
    int reps = 5, nconn = 100, only = -1;
    long n = 200000;
    const char *list = "uv,ev,event,uring";
    int opt;
    while ((opt = getopt(argc, argv, "r:n:c:b:i:h")) != -1) {
        switch (opt) {
        case 'r': reps = atoi(optarg); break;
        case 'n': n = atol(optarg); break;
        case 'c': nconn = atoi(optarg); break;
        case 'b': list = optarg; break;
        case 'i':
            for (int i = 0; i < NIMPLS; i++)
                if (strcmp(optarg, impl_names[i]) == 0) only = i;
            if (only < 0) {
                usage(stderr);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (reps < 1 || n < 1 || nconn < 1) {
        usage(stderr);
        return 2;
    }
    /* Two fds per connection plus the loops' own. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)(2 * nconn + 64)) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)(2 * nconn + 64) ? rl.rlim_max : (rlim_t)(2 * nconn + 64);
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    double *secs[NBACKENDS][NIMPLS];
    for (size_t b = 0; b < NBACKENDS; b++)
        for (int i = 0; i < NIMPLS; i++)
            if (!(secs[b][i] = calloc((size_t)reps, sizeof(double)))) return 1;

    /* Repetitions are the outer loop, so a burst of load on the machine
     * spreads over every backend. Within a backend the order of petal and
     * native alternates between repetitions, so neither always runs first. */
    for (int rep = 0; rep < reps; rep++)
        for (size_t b = 0; b < NBACKENDS; b++) {
            if (!in_list(list, backends[b].name)) continue;
            int order[NIMPLS] = { I_PETAL, I_NATIVE, I_READINESS };
            if (rep % 2) order[0] = I_NATIVE, order[1] = I_PETAL;
            for (int k = 0; k < NIMPLS; k++) {
                int impl = order[k];
                if (impl == I_READINESS && !backends[b].readiness) continue;
                if (only >= 0 && impl != only) continue;
                secs[b][impl][rep] = run_one((int)b, impl, n, nconn);
            }
        }

    if (only >= 0) return 0;
    for (size_t b = 0; b < NBACKENDS; b++) {
        if (!in_list(list, backends[b].name)) continue;
        double med[NIMPLS];
        for (int i = 0; i < NIMPLS; i++) med[i] = median(secs[b][i], reps);
        double *p = secs[b][I_PETAL], *nv = secs[b][I_NATIVE];
        printf("workload=echo_tcp backend=%s petal_median=%.6f petal_spread=%.6f-%.6f native_median=%.6f "
               "native_spread=%.6f-%.6f ratio=%.3f",
               backends[b].name, med[I_PETAL], p[0], p[reps - 1], med[I_NATIVE], nv[0], nv[reps - 1],
               med[I_PETAL] / med[I_NATIVE]);
        if (backends[b].readiness) {
            double *rd = secs[b][I_READINESS];
            printf(" readiness_median=%.6f readiness_spread=%.6f-%.6f completion_vs_readiness=%.3f",
                   med[I_READINESS], rd[0], rd[reps - 1], med[I_PETAL] / med[I_READINESS]);
        }
        printf("\n");
    }
    return 0;
}
