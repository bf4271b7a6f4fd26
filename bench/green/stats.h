/* The figures of one benchmark run: (prog, n, column) -> runs, and how they
 * are printed (medians, spread, the targets of issue 5). */
#ifndef BENCH_GREEN_STATS_H
#define BENCH_GREEN_STATS_H

#include <stdbool.h>
#include <stdio.h>

struct cell {
    double *wall;   /* one per run */
    double *rss;    /* KiB, one per run */
    double *cpu;    /* user + system seconds of the whole process, one per run */
    int count;
    bool failed;
};

struct table {
    int nprogs, nns, ncols, max_runs;
    int progs[2];
    long *ns;
    char (*labels)[48];
    bool *is_petal;
    struct cell *cells;   /* [prog][n][col] */
};

int table_init(struct table *t, int nprogs, const int *progs, int nns, const long *ns, int ncols,
               int max_runs);
void table_set_label(struct table *t, int col, const char *label, bool is_petal);
void table_add(struct table *t, int p, int i, int c, double wall_s, double cpu_s, long rss_kib);
void table_fail(struct table *t, int p, int i, int c);
/* The medians, then the spread of every figure. */
void table_print(const struct table *t, FILE *f);
/* Prog 1 at 1M <= 1.0 s and >= 40x faster than gevent, at 100K <= 0.3 s;
 * Prog 2 at 1M <= 1 GiB in shared-stack mode. */
void targets_print(const struct table *t, FILE *f);
void table_free(struct table *t);

#endif
