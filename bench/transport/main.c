/* echo_tcp through petal transports on each backend, beside the same
 * workload on libuv's uv_tcp_t (bench/echo_native_uv.c), in one run.
 *
 *   echo_tcp [-r repetitions] [-n round trips] [-c connections] [-b uv,ev,event,uring]
 *            [-i transport|native_uv]   (one side only, for profiling; no summary)
 *
 * Each repetition runs, per backend, the transport version and a native
 * libuv run next to it (their order alternates between repetitions), so
 * every ratio compares runs made moments apart. One line per run:
 *   workload=echo_tcp impl=<transport|native_uv> backend=<b> n=<n> seconds=<s> cpu_seconds=<s>
 * then per backend:
 *   workload=echo_tcp backend=<b> transport_median=<s> transport_spread=<min-max>
 *     native_uv_median=<s> native_uv_spread=<min-max> ratio=<transport/native_uv>
 *     pair_ratio_median=<median of each repetition's transport/native>
 *     cpu_ratio=<transport/native_uv median CPU seconds>
 * seconds is the wall time of the timed region (the throughput the target
 * is stated in); cpu_seconds is this process's CPU time over the whole run
 * of that implementation (loop setup and teardown included, the same for
 * both), which a machine shared with other work disturbs much less.
 *
 * Measure with -c opt, pinned: taskset -c 1 .../bench/transport/echo_tcp */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/echo_bench.h"
#include "bench/transport/echo_transport.h"

static const char *const all_backends[] = { "uv", "ev", "event", "uring" };
#define NB 4

static bool listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l == len && strncmp(p, name, len) == 0) return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int k)
{
    qsort(v, (size_t)k, sizeof *v, cmp);
    return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run(bool transport, const char *backend, long n, int nconn, double *cpu)
{
    struct echo_run r;
    int rc = echo_setup(&r, n, nconn);
    if (rc) echo_die(backend, "setup", rc);
    double c0 = cpu_now();
    double s = transport ? echo_transport(&r, backend) : echo_native_uv(&r, "uv");
    *cpu = cpu_now() - c0;
    if (r.finished != n || r.accepted != nconn) echo_die(backend, "round trip count", r.finished);
    echo_teardown(&r);
    printf("workload=echo_tcp impl=%s backend=%s n=%ld seconds=%.6f cpu_seconds=%.6f\n",
           transport ? "transport" : "native_uv", backend, n, s, *cpu);
    fflush(stdout);
    return s;
}

int main(int argc, char **argv)
{
    int reps = 5, nconn = 100, opt, only = -1;
    long n = 200000;
    const char *list = "uv,ev,event,uring";
    while ((opt = getopt(argc, argv, "r:n:c:b:i:h")) != -1) {
        switch (opt) {
        case 'i': only = strcmp(optarg, "transport") == 0 ? 1 : strcmp(optarg, "native_uv") == 0 ? 0 : -2; break;
        case 'r': reps = atoi(optarg); break;
        case 'n': n = atol(optarg); break;
        case 'c': nconn = atoi(optarg); break;
        case 'b': list = optarg; break;
        default:
            fprintf(opt == 'h' ? stdout : stderr,
                    "usage: echo_tcp [-r repetitions (5)] [-n round trips (200000)] [-c connections (100)]\n"
                    "                [-b backends (uv,ev,event,uring)] [-i transport|native_uv]\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (reps < 1 || n < 1 || nconn < 1 || only == -2) return 2;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)(2 * nconn + 64)) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)(2 * nconn + 64) ? rl.rlim_max : (rlim_t)(2 * nconn + 64);
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    double *tr[NB], *nat[NB], *trc[NB], *natc[NB], *pair[NB];
    for (int b = 0; b < NB; b++) {
        tr[b] = calloc((size_t)reps, sizeof(double));
        nat[b] = calloc((size_t)reps, sizeof(double));
        trc[b] = calloc((size_t)reps, sizeof(double));
        natc[b] = calloc((size_t)reps, sizeof(double));
        pair[b] = calloc((size_t)reps, sizeof(double));
        if (!tr[b] || !nat[b] || !trc[b] || !natc[b] || !pair[b]) return 1;
    }
    /* Repetitions outside: a burst of load spreads over every backend. */
    for (int rep = 0; rep < reps; rep++)
        for (int b = 0; b < NB; b++) {
            if (!listed(list, all_backends[b])) continue;
            bool first = rep % 2 == 0;
            double cx, cy;
            if (only >= 0) {
                run(only == 1, all_backends[b], n, nconn, &cx);
                continue;
            }
            double x = run(first, all_backends[b], n, nconn, &cx);
            double y = run(!first, all_backends[b], n, nconn, &cy);
            tr[b][rep] = first ? x : y;
            nat[b][rep] = first ? y : x;
            trc[b][rep] = first ? cx : cy;
            natc[b][rep] = first ? cy : cx;
            pair[b][rep] = tr[b][rep] / nat[b][rep];
        }
    for (int b = 0; b < NB && only < 0; b++) {
        if (!listed(list, all_backends[b])) continue;
        double mt = median(tr[b], reps), mn = median(nat[b], reps);
        double ct = median(trc[b], reps), cn = median(natc[b], reps), pr = median(pair[b], reps);
        printf("workload=echo_tcp backend=%s transport_median=%.6f transport_spread=%.6f-%.6f native_uv_median=%.6f "
               "native_uv_spread=%.6f-%.6f ratio=%.3f pair_ratio_median=%.3f pair_ratio_spread=%.3f-%.3f "
               "transport_cpu_median=%.6f native_uv_cpu_median=%.6f cpu_ratio=%.3f\n",
               all_backends[b], mt, tr[b][0], tr[b][reps - 1], mn, nat[b][0], nat[b][reps - 1], mt / mn, pr,
               pair[b][0], pair[b][reps - 1], ct, cn, ct / cn);
        free(tr[b]);
        free(nat[b]);
        free(trc[b]);
        free(natc[b]);
        free(pair[b]);
    }
    return 0;
}
