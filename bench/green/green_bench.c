/* green_bench: the seed programs (examples/sleepers) on every backend and
 * stack mode, beside the same programs in Python with gevent, in one run.
 *
 *   green_bench [-p 1,2] [-n 100,1000,10000,100000,1000000] [-b uv,ev,event,uring]
 *               [-s dedicated,shared] [-r runs] [-R big_gevent_runs] [-G gevent_max_n]
 *               [-d dedicated_max_n] [-c cpu] [-T timeout_s] [--sleepers PATH] [--gevent PATH]
 *               [--python PATH]
 *
 * Every run is a fresh process (fork + exec), so each peak RSS (wait4's
 * ru_maxrss) is one program's. Runs are interleaved: for each (prog, n), run
 * k of every column before run k+1 of any, each round starting one column
 * later, so machine noise hits all alike.
 * Each run's figures go to stderr; the table of medians, the table of their
 * spread and the targets of issue 5 go to stdout. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/green/run.h"
#include "bench/green/stats.h"

#define MAX_LIST 16

struct column {
    char label[48];
    const char *backend;  /* NULL: gevent */
    const char *stack;
};

struct opts {
    int progs[2], nprogs;
    long ns[MAX_LIST];
    int nns;
    const char *backends[MAX_LIST];
    int nbackends;
    const char *stacks[2];
    int nstacks;
    int runs, big_gevent_runs, cpu;
    long gevent_max_n, dedicated_max_n;
    double timeout_s;
    const char *sleepers, *gevent, *python;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: green_bench [-p 1,2] [-n 100,1000,10000,100000,1000000] [-b uv,ev,event,uring]\n"
            "                   [-s dedicated,shared] [-r runs] [-R big_gevent_runs] [-G gevent_max_n]\n"
            "                   [-d dedicated_max_n] [-c cpu] [-T timeout_s] [--sleepers PATH] [--gevent PATH]\n"
            "                   [--python PATH]\n"
            "  -r  runs per figure (default 5)\n"
            "  -R  gevent runs at n >= 1,000,000 (default 1: ~1 min and 8 GB each)\n"
            "  -G  largest n gevent runs at (default 1000000; 0: no gevent column)\n"
            "  -d  largest n dedicated stacks run at (default 100000: a million dedicated\n"
            "      stacks hold 4.3 GB and take over a minute a run on this VM)\n"
            "  -c  pin every program to this cpu (default: not pinned)\n"
            "  -T  kill a program after this many seconds (default 900)\n");
}

/* Splits a comma-separated list in place. */
static int split(char *s, const char **out, int max)
{
    int k = 0;
    for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        if (k == max) return -1;
        out[k++] = tok;
    }
    return k;
}

static int parse_longs(char *s, long *out, int max, long lo)
{
    const char *parts[MAX_LIST];
    int k = split(s, parts, max);
    for (int i = 0; i < k; i++) {
        char *end;
        errno = 0;
        out[i] = strtol(parts[i], &end, 10);
        if (errno || *end || out[i] < lo) return -1;
    }
    return k;
}

/* The example's path beside this program's runfiles, for a bare run. */
static const char *runfile(const char *argv0, const char *rel)
{
    static char buf[2][4096];
    static int which;
    char *b = buf[which++ % 2];
    snprintf(b, sizeof buf[0], "%s.runfiles/petal/%s", argv0, rel);
    if (access(b, R_OK) == 0) return b;
    return rel;  /* bazel run: the cwd is the runfiles tree */
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static char def_ns[] = "100,1000,10000,100000,1000000";
    static char def_b[] = "uv,ev,event,uring";
    static char def_s[] = "dedicated,shared";
    static char def_p[] = "1,2";
    char *ns = def_ns, *bs = def_b, *ss = def_s, *ps = def_p;
    *o = (struct opts){ .runs = 5, .big_gevent_runs = 1, .cpu = -1, .gevent_max_n = 1000000,
                        .dedicated_max_n = 100000, .timeout_s = 900, .python = "/usr/bin/python3" };
    static const struct option longs[] = {
        { "sleepers", required_argument, NULL, 'S' },
        { "gevent", required_argument, NULL, 'P' },
        { "python", required_argument, NULL, 'Y' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "p:n:b:s:r:R:G:d:c:T:h", longs, NULL)) != -1) {
        switch (c) {
        case 'p': ps = optarg; break;
        case 'n': ns = optarg; break;
        case 'b': bs = optarg; break;
        case 's': ss = optarg; break;
        case 'r': o->runs = atoi(optarg); break;
        case 'R': o->big_gevent_runs = atoi(optarg); break;
        case 'G': o->gevent_max_n = atol(optarg); break;
        case 'd': o->dedicated_max_n = atol(optarg); break;
        case 'c': o->cpu = atoi(optarg); break;
        case 'T': o->timeout_s = atof(optarg); break;
        case 'S': o->sleepers = optarg; break;
        case 'P': o->gevent = optarg; break;
        case 'Y': o->python = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (optind != argc || o->runs < 1 || o->big_gevent_runs < 1 || o->timeout_s <= 0) return -1;
    long pl[2];
    o->nprogs = parse_longs(ps, pl, 2, 1);
    for (int i = 0; i < o->nprogs; i++) {
        if (pl[i] > 2) return -1;
        o->progs[i] = (int)pl[i];
    }
    o->nns = parse_longs(ns, o->ns, MAX_LIST, 1);
    o->nbackends = split(bs, o->backends, MAX_LIST);
    o->nstacks = split(ss, o->stacks, 2);
    if (o->nprogs < 1 || o->nns < 1 || o->nbackends < 0 || o->nstacks < 1) return -1;
    for (int i = 0; i < o->nstacks; i++)
        if (strcmp(o->stacks[i], "dedicated") && strcmp(o->stacks[i], "shared")) return -1;
    if (!o->sleepers) o->sleepers = runfile(argv[0], "examples/sleepers/sleepers");
    if (!o->gevent) o->gevent = runfile(argv[0], "examples/sleepers/sleepers_gevent.py");
    return 0;
}

static int runs_for(const struct opts *o, const struct column *col, long n)
{
    if (col->backend) return strcmp(col->stack, "dedicated") || n <= o->dedicated_max_n ? o->runs : 0;
    if (n > o->gevent_max_n) return 0;
    return n >= 1000000 && o->big_gevent_runs < o->runs ? o->big_gevent_runs : o->runs;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    struct column cols[2 * MAX_LIST + 1];
    int ncols = 0;
    for (int b = 0; b < o.nbackends; b++)
        for (int s = 0; s < o.nstacks; s++) {
            struct column *c = &cols[ncols++];
            snprintf(c->label, sizeof c->label, "%s %s", o.backends[b], o.stacks[s]);
            c->backend = o.backends[b];
            c->stack = o.stacks[s];
        }
    if (o.gevent_max_n > 0) cols[ncols++] = (struct column){ .label = "gevent" };

    struct table t;
    if (table_init(&t, o.nprogs, o.progs, o.nns, o.ns, ncols, o.runs) < 0) {
        fprintf(stderr, "green_bench: out of memory\n");
        return 1;
    }
    for (int c = 0; c < ncols; c++) table_set_label(&t, c, cols[c].label, cols[c].backend != NULL);
    fprintf(stderr, "green_bench: sleepers=%s gevent=%s python=%s cpu=%d runs=%d\n", o.sleepers,
            o.gevent, o.python, o.cpu, o.runs);
    printf("green_bench: %d run(s) per figure%s; gevent up to n=%ld, %d run(s) at n >= 1000000; "
           "dedicated stacks up to n=%ld (-d); %s\n",
           o.runs, o.cpu >= 0 ? "" : " (not pinned: -c)", o.gevent_max_n, o.big_gevent_runs, o.dedicated_max_n,
           o.cpu >= 0 ? "every program pinned to one cpu (-c)" : "programs not pinned");

    int failures = 0;
    for (int p = 0; p < o.nprogs; p++)
        for (int i = 0; i < o.nns; i++)
            for (int r = 0; r < o.runs; r++)
                for (int k = 0; k < ncols; k++) {
                    /* Each round starts one column later: whatever a big run
                     * leaves behind (memory to reclaim) hits every column. */
                    int c = (k + r) % ncols;
                    const struct column *col = &cols[c];
                    if (r >= runs_for(&o, col, o.ns[i])) continue;
                    char prog[8], n[24];
                    snprintf(prog, sizeof prog, "%d", o.progs[p]);
                    snprintf(n, sizeof n, "%ld", o.ns[i]);
                    char *sl[] = { (char *)o.sleepers, "-p", prog, "-n", n, "-b", (char *)col->backend,
                                   "-s", (char *)col->stack, NULL };
                    char *py[] = { (char *)o.python, (char *)o.gevent, "-p", prog, "-n", n, NULL };
                    struct run_result res;
                    char err[512];
                    int rc = run_program(col->backend ? sl : py, o.progs[p], o.ns[i], o.cpu, o.timeout_s,
                                         &res, err, sizeof err);
                    if (rc < 0) {
                        fprintf(stderr, "run prog=%d n=%ld column=\"%s\" run=%d FAILED: %s\n", o.progs[p],
                                o.ns[i], col->label, r + 1, err);
                        table_fail(&t, p, i, c);
                        failures++;
                        continue;
                    }
                    if (!col->backend) {
                        /* The process after a gevent run pays ~0.3 s of system
                         * time at n = 100K here, whatever it is (measured: ev
                         * and uv alike, with or without a pause; a small run
                         * does not absorb it, a same-size one does). One
                         * discarded petal run of the same size takes it. */
                        const struct column *next = &cols[(c + 1) % ncols];
                        if (next->backend) {
                            struct run_result settle;
                            char *st[] = { (char *)o.sleepers, "-p", prog, "-n", n, "-b",
                                           (char *)next->backend, "-s", (char *)next->stack, NULL };
                            run_program(st, o.progs[p], o.ns[i], o.cpu, o.timeout_s, &settle, err,
                                        sizeof err);
                        }
                    }
                    fprintf(stderr, "run prog=%d n=%ld column=\"%s\" run=%d wall_s=%.6f cpu_s=%.3f peak_rss_kib=%ld\n",
                            o.progs[p], o.ns[i], col->label, r + 1, res.wall_s, res.cpu_s, res.peak_rss_kib);
                    table_add(&t, p, i, c, res.wall_s, res.cpu_s, res.peak_rss_kib);
                }
    table_print(&t, stdout);
    targets_print(&t, stdout);
    table_free(&t);
    if (failures) fprintf(stdout, "\n%d run(s) FAILED (see stderr)\n", failures);
    return failures ? 1 : 0;
}
