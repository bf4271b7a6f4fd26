/* The seed programs of the 2013 greenlet talk, on petal's green hub.
 *
 *   sleepers [-p 1|2] [-n N] [-b uv|ev|event|uring] [-s dedicated|shared] [-t seconds] [-R repeats]
 *
 * Prog 1 (default): spawns N greenlets that each sleep 200 ms, waits for all
 * of them and prints the wall time from the first spawn to the last wake.
 * Prog 2: spawns N greenlets that each sleep (an hour by default), waits until
 * all are asleep, prints the resident memory then (wall_s: the time until all
 * were asleep), and kills them. Defaults: prog 1, N = 100,000, the default
 * backend (PETAL_BACKEND, else petal_loop_new's choice), shared stacks.
 * Prints one line:
 *   prog=<1|2> backend=<b> stack=<dedicated|shared> n=<n> wall_s=<s> peak_rss_kib=<k>
 * peak_rss_kib is getrusage(RUSAGE_SELF) ru_maxrss when the figure is taken.
 * -R runs the program that many times in one process, one line each: the
 * later runs reuse memory the first one touched (malloc keeps it), which
 * separates the hub's own cost from first-touch page faults. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "petal/green.h"
#include "petal/loop.h"

struct opts {
    int prog;
    long n;
    const char *backend;   /* NULL: the default */
    int stack;             /* PETAL_GREEN_STACK_DEDICATED or _SHARED */
    double sleep_s;
    int repeats;
};

/* What the sleepers share; only main and the hub's greenlets touch it. */
struct run {
    double sleep_s;
    long asleep;   /* now asleep */
    long woke;     /* woke after a full sleep */
    long failed;   /* sleep returned an error other than a kill */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_rss_kib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;
}

static void *sleeper(void *arg)
{
    struct run *r = arg;
    r->asleep++;
    int rc = petal_green_sleep(r->sleep_s);
    r->asleep--;
    if (rc == 0)
        r->woke++;
    else if (rc != PETAL_EKILLED)
        r->failed++;
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sleepers [-p 1|2] [-n N] [-b uv|ev|event|uring] [-s dedicated|shared] [-t seconds]\n"
               "  -p  1: N greenlets sleep 200 ms, print the wall time (default)\n"
               "      2: N greenlets sleep, print the resident memory while all are asleep\n"
               "  -n  number of greenlets (default 100000)\n"
               "  -b  backend (default: $PETAL_BACKEND, else petal_loop_new's choice)\n"
               "  -s  stack mode (default shared: the fastest here, and gevent's kind)\n"
               "  -t  seconds each greenlet sleeps (default: prog 1 0.2, prog 2 3600)\n"
               "  -R  run it this many times in one process, a line each (default 1)\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .prog = 1, .n = 100000, .stack = PETAL_GREEN_STACK_SHARED, .sleep_s = -1,
                        .repeats = 1 };
    int c;
    char *end;
    while ((c = getopt(argc, argv, "p:n:b:s:t:R:h")) != -1) {
        switch (c) {
        case 'p':
            if (strcmp(optarg, "1") && strcmp(optarg, "2")) return -1;
            o->prog = optarg[0] - '0';
            break;
        case 'n':
            errno = 0;
            o->n = strtol(optarg, &end, 10);
            if (errno || *end || o->n < 1 || o->n > 100000000) return -1;
            break;
        case 'b': o->backend = optarg; break;
        case 's':
            if (!strcmp(optarg, "dedicated")) o->stack = PETAL_GREEN_STACK_DEDICATED;
            else if (!strcmp(optarg, "shared")) o->stack = PETAL_GREEN_STACK_SHARED;
            else return -1;
            break;
        case 't':
            o->sleep_s = strtod(optarg, &end);
            if (*end || !isfinite(o->sleep_s) || o->sleep_s < 0) return -1;
            break;
        case 'R':
            errno = 0;
            o->repeats = (int)strtol(optarg, &end, 10);
            if (errno || *end || o->repeats < 1 || o->repeats > 1000) return -1;
            break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (optind != argc) return -1;
    if (o->sleep_s < 0) o->sleep_s = o->prog == 1 ? 0.2 : 3600;
    return 0;
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "sleepers: %s: %s\n", what, petal_green_strerror(rc));
    return 1;
}

/* One run of the program on hub: 0, or 1 after printing why. */
static int run_on(const struct opts *o, petal_hub_t *hub)
{
    petal_loop_t *loop = petal_green_hub_loop(hub);
    struct run r = { .sleep_s = o->sleep_s };
    double start = now_s(), wall = 0;
    long rss = -1;
    int rc = 0, status = 0;
    for (long i = 0; i < o->n && rc == 0; i++) rc = petal_green_spawn(hub, sleeper, &r, NULL, NULL);
    if (rc < 0) {
        status = fail("petal_green_spawn", rc);
    } else if (o->prog == 1) {
        rc = petal_green_run(hub);
        wall = now_s() - start;
        rss = peak_rss_kib();
        if (rc < 0) status = fail("petal_green_run", rc);
        else if (r.woke != o->n || r.failed) {
            fprintf(stderr, "sleepers: %ld of %ld woke, %ld sleeps failed\n", r.woke, o->n, r.failed);
            status = 1;
        } else if (wall < o->sleep_s) {
            fprintf(stderr, "sleepers: all woke after %.6f s, before the %.3f s sleep\n", wall, o->sleep_s);
            status = 1;
        }
    } else {
        /* sleep(0) resumes main after everything already ready: after the
         * spawned greenlets started (and parked), whatever order the hub
         * starts them in. */
        while (rc == 0 && r.asleep + r.woke + r.failed < o->n) rc = petal_green_sleep(0);
        wall = now_s() - start;
        rss = peak_rss_kib();
        if (rc < 0) status = fail("petal_green_sleep(0) in main", rc);
        else if (r.asleep != o->n) {
            fprintf(stderr, "sleepers: only %ld of %ld asleep when measured (sleep %.3f s too short?)\n",
                    r.asleep, o->n, o->sleep_s);
            status = 1;
        }
    }
    if (status == 0) {
        printf("prog=%d backend=%s stack=%s n=%ld wall_s=%.6f peak_rss_kib=%ld\n", o->prog, petal_loop_backend(loop),
               o->stack == PETAL_GREEN_STACK_SHARED ? "shared" : "dedicated", o->n, wall, rss);
        fflush(stdout);
    }
    return status;
}

/* A hub per run: freeing it kills Prog 2's sleepers, which point at the
 * run's counters. */
static int run_once(const struct opts *o, petal_loop_t *loop)
{
    petal_hub_t *hub;
    petal_green_hub_opts hopts = { .stack_mode = o->stack };
    int rc = petal_green_hub_new(loop, &hopts, &hub);
    if (rc < 0) return fail("petal_green_hub_new", rc);
    int status = run_on(o, hub);
    rc = petal_green_hub_free(hub);
    if (rc < 0 && status == 0) status = fail("petal_green_hub_free", rc);
    return status;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    petal_loop_t *loop;
    int rc = o.backend ? petal_loop_new_backend(&loop, o.backend) : petal_loop_new(&loop);
    if (rc < 0) return fail(o.backend ? o.backend : "petal_loop_new", rc);
    /* Later runs reuse the heap the first one touched (-R). */
    if (o.repeats > 1) mallopt(M_TRIM_THRESHOLD, 1 << 30);
    int status = 0;
    for (int k = 0; k < o.repeats && status == 0; k++) status = run_once(&o, loop);
    petal_loop_free(loop);
    return status;
}
