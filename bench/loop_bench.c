/* loop_bench: petal against the native event loops.
 *
 *   loop_bench [-w soon,fanout_soon,timers,timer_cancel,pingpong]
 *              [-r repetitions] [-n count] [-m fresh|warm] [-b uv,...]
 *              [-i petal|native]
 *
 * For every repetition, workload and backend it runs petal then the native
 * library, interleaved in one process so that machine noise hits both, and
 * prints one line per run:
 *   workload=<w> backend=<b> impl=<petal|native> n=<n> seconds=<s>
 * then one summary line per workload and backend:
 *   workload=<w> backend=<b> petal_median=<s> petal_spread=<min-max>
 *     native_median=<s> native_spread=<min-max> ratio=<petal/native median>
 *
 * Measure pinned to one core: taskset -c 1 bazel-bin/bench/loop_bench */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/loop_bench.h"
#include "petal/loop.h"

bool bench_warm;

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_verdict(const char *who, const char *what, int rc, long ran, long want_ran,
                  const char *(*describe)(int))
{
    if (rc) {
        fprintf(stderr, "%s %s: %s\n", who, what, describe ? describe(rc) : strerror(-rc));
        return rc;
    }
    if (ran != want_ran) {
        fprintf(stderr, "%s %s: %ld callbacks ran, expected %ld\n", who, what, ran, want_ran);
        return -EPROTO;
    }
    return 0;
}

static const struct {
    const char *name;
    long n;   /* default count */
} workloads[W_COUNT] = {
    [W_SOON] = { "soon", 1000000 },
    [W_FANOUT_SOON] = { "fanout_soon", 1000000 },
    [W_TIMERS] = { "timers", 1000000 },
    [W_TIMER_CANCEL] = { "timer_cancel", 1000000 },
    [W_PINGPONG] = { "pingpong", 200000 },
};

/* One entry per native library compiled in; the petal column of the same
 * backend is measured beside it when that backend is linked into petal. */
static const struct bench_impl *const natives[] = {
    &bench_native_uv,
    &bench_native_ev,
    &bench_native_event,
    &bench_native_uring,
};
#define NNATIVES (sizeof natives / sizeof natives[0])

enum { IMPL_PETAL, IMPL_NATIVE, NIMPLS };
static const char *const impl_names[NIMPLS] = { "petal", "native" };

static void usage(FILE *f)
{
    fprintf(f,
            "usage: loop_bench [-w workloads] [-r repetitions] [-n count] [-m fresh|warm] [-b backends]\n"
            "                  [-i petal|native]\n"
            "  -w  comma-separated, default all:");
    for (int w = 0; w < W_COUNT; w++) fprintf(f, " %s", workloads[w].name);
    fprintf(f,
            "\n  -r  repetitions, default 5\n"
            "  -n  count for every selected workload (default: 1000000, pingpong 200000)\n"
            "  -m  fresh (default): memory for the n callbacks is allocated inside the timed\n"
            "      region on both sides; warm: allocated and touched before it (steady state)\n"
            "  -b  comma-separated backends, default every one with a native column:");
    for (size_t b = 0; b < NNATIVES; b++) fprintf(f, " %s", natives[b]->backend);
    fprintf(f, "\n  -i  run only one implementation (for profiling); no summary ratio\n");
}

/* Is `name` in the comma-separated `list`? */
static bool in_list(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, name, n) == 0) return true;
        if (!end) break;
        p = end + 1;
    }
    return false;
}

/* Every name of the comma-separated `list` must be one of `names`. */
static bool list_valid(const char *list, const char *const *names, size_t count)
{
    char *copy = strdup(list), *save = NULL;
    bool ok = copy != NULL;
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && ok; tok = strtok_r(NULL, ",", &save)) {
        bool found = false;
        for (size_t k = 0; k < count; k++) found |= strcmp(tok, names[k]) == 0;
        if (!found) {
            fprintf(stderr, "loop_bench: unknown name '%s'\n", tok);
            ok = false;
        }
    }
    free(copy);
    return ok;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Does petal have this backend linked in (and working on this machine)? */
static bool petal_has(const char *backend)
{
    petal_loop_t *loop;
    if (petal_loop_new_backend(&loop, backend) != 0) return false;
    petal_loop_free(loop);
    return true;
}

int main(int argc, char **argv)
{
    const char *wlist = NULL, *blist = NULL, *only = NULL;
    long reps = 5, n_override = 0;
    int opt;
    while ((opt = getopt(argc, argv, "w:r:n:m:b:i:h")) != -1) {
        char *end;
        switch (opt) {
        case 'w': wlist = optarg; break;
        case 'b': blist = optarg; break;
        case 'i': only = optarg; break;
        case 'm':
            if (strcmp(optarg, "fresh") != 0 && strcmp(optarg, "warm") != 0) {
                fprintf(stderr, "loop_bench: -m takes fresh or warm\n");
                return 2;
            }
            bench_warm = strcmp(optarg, "warm") == 0;
            break;
        case 'r':
        case 'n': {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || v <= 0) {
                fprintf(stderr, "loop_bench: -%c needs a positive integer\n", opt);
                return 2;
            }
            *(opt == 'r' ? &reps : &n_override) = v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return 2;
    }
    const char *wnames[W_COUNT], *bnames[NNATIVES];
    for (int w = 0; w < W_COUNT; w++) wnames[w] = workloads[w].name;
    for (size_t b = 0; b < NNATIVES; b++) bnames[b] = natives[b]->backend;
    if ((wlist && !list_valid(wlist, wnames, W_COUNT)) || (blist && !list_valid(blist, bnames, NNATIVES)) ||
        (only && !list_valid(only, impl_names, NIMPLS)))
        return 2;

    /* The table: columns (backend x impl) that will run. */
    bench_fn col[NNATIVES][NIMPLS][W_COUNT];
    memset(col, 0, sizeof col);
    bool any = false;
    for (size_t b = 0; b < NNATIVES; b++) {
        const char *name = natives[b]->backend;
        if (blist && !in_list(blist, name)) continue;
        bool petal = petal_has(name);
        if (!petal) fprintf(stderr, "loop_bench: petal has no working '%s' backend linked; native only\n", name);
        for (int w = 0; w < W_COUNT; w++) {
            if (wlist && !in_list(wlist, workloads[w].name)) continue;
            if (petal && (!only || !strcmp(only, "petal"))) col[b][IMPL_PETAL][w] = bench_petal[w];
            if (!only || !strcmp(only, "native")) col[b][IMPL_NATIVE][w] = natives[b]->fn[w];
            any |= col[b][IMPL_PETAL][w] || col[b][IMPL_NATIVE][w];
        }
    }
    if (!any) {
        fprintf(stderr, "loop_bench: nothing to run\n");
        return 2;
    }

    /* n of each cell: the workload's (or -n), capped by the backend's max_n
     * for both petal and native. */
    long cell_n[NNATIVES][W_COUNT];
    for (size_t b = 0; b < NNATIVES; b++)
        for (int w = 0; w < W_COUNT; w++) {
            long n = n_override ? n_override : workloads[w].n, cap = natives[b]->max_n[w];
            cell_n[b][w] = cap > 0 && n > cap ? cap : n;
        }

    double *secs = calloc(NNATIVES * NIMPLS * W_COUNT * (size_t)reps, sizeof *secs);
    if (!secs) return 1;
#define SAMPLES(b, i, w) (secs + ((((b) * NIMPLS + (i)) * W_COUNT + (w)) * (size_t)reps))

    /* Repetitions outermost, so a burst of noise on the machine spreads over
     * every workload instead of spoiling all the samples of one. */
    for (long r = 0; r < reps; r++)
        for (int w = 0; w < W_COUNT; w++)
            for (size_t b = 0; b < NNATIVES; b++)
                for (int i = 0; i < NIMPLS; i++) {
                    bench_fn fn = col[b][i][w];
                    if (!fn) continue;
                    long n = cell_n[b][w];
                    double s = 0;
                    int rc = fn(natives[b]->backend, n, &s);
                    if (rc) {
                        fprintf(stderr, "loop_bench: workload=%s backend=%s impl=%s failed: %s\n",
                                workloads[w].name, natives[b]->backend, impl_names[i], petal_strerror(rc));
                        free(secs);
                        return 1;
                    }
                    SAMPLES(b, i, w)[r] = s;
                    printf("workload=%s backend=%s impl=%s n=%ld seconds=%.6f\n", workloads[w].name,
                           natives[b]->backend, impl_names[i], n, s);
                    fflush(stdout);
                }

    for (int w = 0; w < W_COUNT; w++)
        for (size_t b = 0; b < NNATIVES; b++) {
            if (!col[b][IMPL_PETAL][w] && !col[b][IMPL_NATIVE][w]) continue;
            printf("workload=%s backend=%s", workloads[w].name, natives[b]->backend);
            double med[NIMPLS] = { 0 };
            for (int i = 0; i < NIMPLS; i++) {
                if (!col[b][i][w]) {
                    printf(" %s_median=- %s_spread=-", impl_names[i], impl_names[i]);
                    continue;
                }
                double *v = SAMPLES(b, i, w);
                med[i] = median(v, (int)reps);   /* sorts v */
                printf(" %s_median=%.6f %s_spread=%.6f-%.6f", impl_names[i], med[i], impl_names[i], v[0],
                       v[reps - 1]);
            }
            if (med[IMPL_PETAL] > 0 && med[IMPL_NATIVE] > 0)
                printf(" ratio=%.3f\n", med[IMPL_PETAL] / med[IMPL_NATIVE]);
            else
                printf(" ratio=-\n");
        }

    /* One table: rows workloads, columns backends, each cell
     * "petal s / native s / ratio" of the medians (already sorted above). */
    printf("\nmedians: petal s / native s / petal/native (n per cell; * = capped for this backend)\n");
    printf("%-13s", "workload");
    for (size_t b = 0; b < NNATIVES; b++)
        if (!blist || in_list(blist, natives[b]->backend)) printf(" | %-28s", natives[b]->backend);
    printf("\n");
    for (int w = 0; w < W_COUNT; w++) {
        if (wlist && !in_list(wlist, workloads[w].name)) continue;
        printf("%-13s", workloads[w].name);
        for (size_t b = 0; b < NNATIVES; b++) {
            if (blist && !in_list(blist, natives[b]->backend)) continue;
            char cell[NIMPLS][16], ratio[16] = "-", buf[64];
            double med[NIMPLS] = { 0 };
            for (int i = 0; i < NIMPLS; i++) {
                snprintf(cell[i], sizeof cell[i], "-");
                if (!col[b][i][w]) continue;
                double *v = SAMPLES(b, i, w);
                med[i] = reps % 2 ? v[reps / 2] : (v[reps / 2 - 1] + v[reps / 2]) / 2;
                snprintf(cell[i], sizeof cell[i], "%.4g", med[i]);
            }
            if (med[IMPL_PETAL] > 0 && med[IMPL_NATIVE] > 0)
                snprintf(ratio, sizeof ratio, "%.3f", med[IMPL_PETAL] / med[IMPL_NATIVE]);
            long full = n_override ? n_override : workloads[w].n;
            snprintf(buf, sizeof buf, "%s / %s / %s%s", cell[IMPL_PETAL], cell[IMPL_NATIVE], ratio,
                     cell_n[b][w] < full ? "*" : "");
            printf(" | %-28s", buf);
        }
        printf("\n");
    }
    free(secs);
    return 0;
}
