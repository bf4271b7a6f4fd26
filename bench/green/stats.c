/* Medians and spreads of the runs, printed as Markdown tables. */
#include "bench/green/stats.h"

#include <stdlib.h>
#include <string.h>

static struct cell *at(const struct table *t, int p, int i, int c)
{
    return &t->cells[((size_t)p * (size_t)t->nns + (size_t)i) * (size_t)t->ncols + (size_t)c];
}

int table_init(struct table *t, int nprogs, const int *progs, int nns, const long *ns, int ncols,
               int max_runs)
{
    memset(t, 0, sizeof *t);
    t->nprogs = nprogs;
    t->nns = nns;
    t->ncols = ncols;
    t->max_runs = max_runs;
    memcpy(t->progs, progs, (size_t)nprogs * sizeof *progs);
    size_t ncells = (size_t)nprogs * (size_t)nns * (size_t)ncols;
    t->ns = malloc((size_t)nns * sizeof *t->ns);
    t->labels = calloc((size_t)ncols, sizeof *t->labels);
    t->is_petal = calloc((size_t)ncols, sizeof *t->is_petal);
    t->cells = calloc(ncells, sizeof *t->cells);
    if (!t->ns || !t->labels || !t->is_petal || !t->cells) {
        table_free(t);
        return -1;
    }
    memcpy(t->ns, ns, (size_t)nns * sizeof *ns);
    for (size_t k = 0; k < ncells; k++) {
        t->cells[k].wall = malloc((size_t)max_runs * sizeof(double));
        t->cells[k].rss = malloc((size_t)max_runs * sizeof(double));
        t->cells[k].cpu = malloc((size_t)max_runs * sizeof(double));
        if (!t->cells[k].wall || !t->cells[k].rss || !t->cells[k].cpu) {
            table_free(t);
            return -1;
        }
    }
    return 0;
}

void table_set_label(struct table *t, int col, const char *label, bool is_petal)
{
    snprintf(t->labels[col], sizeof t->labels[col], "%s", label);
    t->is_petal[col] = is_petal;
}

void table_add(struct table *t, int p, int i, int c, double wall_s, double cpu_s, long rss_kib)
{
    struct cell *x = at(t, p, i, c);
    if (x->count == t->max_runs) return;
    x->wall[x->count] = wall_s;
    x->cpu[x->count] = cpu_s;
    x->rss[x->count] = (double)rss_kib;
    x->count++;
}

void table_fail(struct table *t, int p, int i, int c)
{
    at(t, p, i, c)->failed = true;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, and (max - min) / median. Sorts v. */
static double median(double *v, int k, double *spread)
{
    qsort(v, (size_t)k, sizeof *v, cmp_double);
    double m = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
    if (spread) *spread = m > 0 ? (v[k - 1] - v[0]) / m : 0;
    return m;
}

static void fmt_rss(char *buf, size_t len, double kib)
{
    if (kib >= 1024.0 * 1024.0)
        snprintf(buf, len, "%.2f GiB", kib / (1024.0 * 1024.0));
    else
        snprintf(buf, len, "%.1f MiB", kib / 1024.0);
}

static void header(const struct table *t, FILE *f)
{
    fprintf(f, "| prog | n |");
    for (int c = 0; c < t->ncols; c++) fprintf(f, " %s |", t->labels[c]);
    fprintf(f, "\n| --- | ---: |");
    for (int c = 0; c < t->ncols; c++) fprintf(f, " ---: |");
    fprintf(f, "\n");
}

/* One table: a header, then a row per (prog, n) with one cell per column. */
static void section(const struct table *t, FILE *f, const char *title, void (*cell)(FILE *f, struct cell *x))
{
    fprintf(f, "%s", title);
    header(t, f);
    for (int p = 0; p < t->nprogs; p++)
        for (int i = 0; i < t->nns; i++) {
            fprintf(f, "| %d | %ld |", t->progs[p], t->ns[i]);
            for (int c = 0; c < t->ncols; c++) cell(f, at(t, p, i, c));
            fprintf(f, "\n");
        }
}

static void wall_rss_cell(FILE *f, struct cell *x)
{
    if (x->count == 0) {
        fprintf(f, " %s |", x->failed ? "FAILED" : "-");
        return;
    }
    char rss[32];
    fmt_rss(rss, sizeof rss, median(x->rss, x->count, NULL));
    double w = median(x->wall, x->count, NULL);
    fprintf(f, w < 10 ? " %.3f s / %s%s |" : " %.1f s / %s%s |", w, rss, x->failed ? " (+FAILED)" : "");
}

static void cpu_cell(FILE *f, struct cell *x)
{
    if (x->count == 0) fprintf(f, " - |");
    else fprintf(f, " %.3f s |", median(x->cpu, x->count, NULL));
}

static void spread_cell(FILE *f, struct cell *x)
{
    if (x->count == 0) {
        fprintf(f, " - |");
        return;
    }
    double sw, sr;
    median(x->wall, x->count, &sw);
    median(x->rss, x->count, &sr);
    fprintf(f, " %.0f%% / %.0f%% (%d) |", sw * 100, sr * 100, x->count);
}

void table_print(const struct table *t, FILE *f)
{
    section(t, f, "\nMedians: wall time (as the program measured it) / peak RSS (wait4 ru_maxrss).\n\n",
            wall_rss_cell);
    section(t, f,
            "\nMedians of CPU time (user + system, wait4) of the whole process: what the\n"
            "machine's load does not stretch (Prog 1's 0.2 s sleep is not in it).\n\n",
            cpu_cell);
    section(t, f, "\nSpread (max - min) / median of wall time and of RSS, and the number of runs.\n\n",
            spread_cell);
}

static int find(const struct table *t, int prog, long n, int *p, int *i)
{
    *p = *i = -1;
    for (int k = 0; k < t->nprogs; k++)
        if (t->progs[k] == prog) *p = k;
    for (int k = 0; k < t->nns; k++)
        if (t->ns[k] == n) *i = k;
    return *p >= 0 && *i >= 0 ? 0 : -1;
}

static int gevent_col(const struct table *t)
{
    for (int c = 0; c < t->ncols; c++)
        if (!t->is_petal[c]) return c;
    return -1;
}

void targets_print(const struct table *t, FILE *f)
{
    int p, i, g = gevent_col(t);
    fprintf(f, "\nTargets (issue 5):\n");
    if (find(t, 1, 1000000, &p, &i) == 0) {
        struct cell *gc = g >= 0 ? at(t, p, i, g) : NULL;
        double gw = gc && gc->count ? median(gc->wall, gc->count, NULL) : 0;
        for (int c = 0; c < t->ncols; c++) {
            struct cell *x = at(t, p, i, c);
            if (!t->is_petal[c] || !x->count) continue;
            double w = median(x->wall, x->count, NULL);
            fprintf(f, "  prog 1 n=1000000 %-16s %.3f s (<= 1.0 s: %s; cpu %.3f s)", t->labels[c], w,
                    w <= 1.0 ? "met" : "MISSED", median(x->cpu, x->count, NULL));
            if (gw > 0)
                fprintf(f, ", %.0fx faster than gevent's %.1f s (>= 40x: %s)", gw / w, gw, gw / w >= 40 ? "met" : "MISSED");
            fprintf(f, "\n");
        }
    }
    if (find(t, 1, 100000, &p, &i) == 0)
        for (int c = 0; c < t->ncols; c++) {
            struct cell *x = at(t, p, i, c);
            if (!t->is_petal[c] || !x->count) continue;
            double w = median(x->wall, x->count, NULL);
            fprintf(f, "  prog 1 n=100000  %-16s %.3f s (<= 0.3 s: %s; cpu %.3f s)\n", t->labels[c], w,
                    w <= 0.3 ? "met" : "MISSED", median(x->cpu, x->count, NULL));
        }
    if (find(t, 2, 1000000, &p, &i) == 0)
        for (int c = 0; c < t->ncols; c++) {
            struct cell *x = at(t, p, i, c);
            if (!t->is_petal[c] || !x->count || !strstr(t->labels[c], "shared")) continue;
            double kib = median(x->rss, x->count, NULL);
            fprintf(f, "  prog 2 n=1000000 %-16s %.0f MiB (<= 1024 MiB: %s)\n", t->labels[c], kib / 1024,
                    kib <= 1024.0 * 1024.0 ? "met" : "MISSED");
        }
    if (g >= 0)
        for (int k = 0; k < t->nns; k++)
            for (int q = 0; q < t->nprogs; q++) {
                struct cell *x = at(t, q, k, g);
                if (x->count && x->count < t->max_runs)
                    fprintf(f, "  note: gevent prog %d n=%ld ran %d time(s), not %d (-R)\n", t->progs[q], t->ns[k],
                            x->count, t->max_runs);
            }
}

void table_free(struct table *t)
{
    if (t->cells) {
        size_t ncells = (size_t)t->nprogs * (size_t)t->nns * (size_t)t->ncols;
        for (size_t k = 0; k < ncells; k++) {
            free(t->cells[k].wall);
            free(t->cells[k].rss);
            free(t->cells[k].cpu);
        }
    }
    free(t->cells);
    free(t->is_petal);
    free(t->labels);
    free(t->ns);
    memset(t, 0, sizeof *t);
}
