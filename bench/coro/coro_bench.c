/* Greenlet benchmarks: switch cost (dedicated, shared at two live sizes,
 * raw ucontext swapcontext), create+finish cost, resident memory per
 * suspended greenlet with a million suspended.
 *   bazel run -c opt //bench/coro:coro_bench [-- --runs N]
 * stdout: one line per figure, the median of the runs:
 *   bench=<switch|create|memory> mode=<dedicated|shared|ucontext> live_bytes=<n> value=<x> unit=<ns|bytes>
 * stderr: every run, minimum, maximum and spread. */
#include <petal/greenlet.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define SWITCHES 4000000L
#define CYCLES 1000000L
#define SUSPENDED 1000000L
#define MAX_RUNS 99

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int runs = 5;

/* Prints the median line and the spread of one figure. */
static void report(const char *bench, const char *mode, size_t live, const char *unit,
                   double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    printf("bench=%s mode=%s live_bytes=%zu value=%.*f unit=%s\n", bench, mode, live,
           strcmp(unit, "ns") ? 0 : 1, med, unit);
    fprintf(stderr, "# bench=%s mode=%s runs=%d median=%.1f min=%.1f max=%.1f spread=%.1f%% :", bench,
            mode, n, med, v[0], v[n - 1], med ? 100 * (v[n - 1] - v[0]) / med : 0);
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %.1f", v[i]);
    fprintf(stderr, "\n");
    fflush(stdout);
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "coro_bench: %s: %s\n", what, petal_greenlet_strerror(rc));
    exit(1);
}

static petal_greenlet *make(petal_greenlet_fn fn, void *arg, int mode)
{
    petal_greenlet_attr a = {0, mode, NULL};
    petal_greenlet *g;
    int rc = petal_greenlet_create(&g, fn, arg, NULL, &a);
    if (rc)
        die("create", rc);
    return g;
}

/* --- dedicated: main and one greenlet switch back and forth ------------- */

static void *bouncer(void *arg, void *v)
{
    (void)arg;
    (void)v;
    petal_greenlet *m = petal_greenlet_parent(petal_greenlet_current());
    for (;;)
        petal_greenlet_switch(m, NULL, NULL);
    return NULL;
}

static double switch_dedicated(size_t *live)
{
    petal_greenlet *g = make(bouncer, NULL, PETAL_STACK_DEDICATED);
    petal_greenlet_switch(g, NULL, NULL);
    *live = petal_greenlet_stack_in_use(g);
    double t0 = now_ns();
    for (long i = 0; i < SWITCHES / 2; i++)
        petal_greenlet_switch(g, NULL, NULL);
    double ns = (now_ns() - t0) / SWITCHES;
    petal_greenlet_destroy(g);
    return ns;
}

/* --- shared: two greenlets on the shared stack switch to each other, so
 * every switch copies one live part out and the other back in ----------- */

struct pair { size_t pad; petal_greenlet *a, *b; double ns; };

/* a times its switches to b; b only answers. With pad > 0 each first puts
 * pad bytes on the stack, to reach a given live size. */
static __attribute__((noinline)) void timed(struct pair *p)
{
    petal_greenlet_switch(p->b, NULL, NULL); /* starts b */
    double t0 = now_ns();
    for (long i = 0; i < SWITCHES / 2; i++)
        petal_greenlet_switch(p->b, NULL, NULL);
    p->ns = (now_ns() - t0) / SWITCHES;
}

static __attribute__((noinline)) void timed_padded(struct pair *p)
{
    volatile char pad[p->pad];
    pad[0] = pad[p->pad - 1] = 1;
    timed(p);
}

static __attribute__((noinline)) void answer(struct pair *p)
{
    for (;;)
        petal_greenlet_switch(p->a, NULL, NULL);
}

static __attribute__((noinline)) void answer_padded(struct pair *p)
{
    volatile char pad[p->pad];
    pad[0] = pad[p->pad - 1] = 1;
    answer(p);
}

static void *shared_a(void *arg, void *v)
{
    (void)v;
    struct pair *p = arg;
    if (p->pad)
        timed_padded(p);
    else
        timed(p);
    return NULL;
}

static void *shared_b(void *arg, void *v)
{
    (void)v;
    struct pair *p = arg;
    if (p->pad)
        answer_padded(p);
    else
        answer(p);
    return NULL;
}

/* Runs the pair with pad bytes of padding; *live is what b holds saved. */
static double shared_pair(size_t pad, size_t *live)
{
    struct pair p = {pad, NULL, NULL, 0};
    p.a = make(shared_a, &p, PETAL_STACK_SHARED);
    p.b = make(shared_b, &p, PETAL_STACK_SHARED);
    if (petal_greenlet_stack_mode(p.a) != PETAL_STACK_SHARED)
        die("shared mode", -95);
    petal_greenlet_switch(p.a, NULL, NULL);
    *live = petal_greenlet_stack_in_use(p.b);
    petal_greenlet_destroy(p.a);
    petal_greenlet_destroy(p.b);
    return p.ns;
}

/* Finds the padding that makes the live size target (frames differ per
 * build), then measures. */
static double switch_shared(size_t target, size_t *live)
{
    size_t pad = 0, got;
    shared_pair(0, &got);
    for (int i = 0; i < 4 && got != target; i++) {
        long next = (long)pad + (long)target - (long)got;
        if (next < 0 || (next == 0 && pad == 0))
            break; /* the bare frames are already bigger */
        pad = (size_t)(next ? next : 1);
        shared_pair(pad, &got);
    }
    return shared_pair(pad, live);
}

/* --- ucontext: bare swapcontext, for comparison --------------------------- */

static ucontext_t uc_main, uc_other;

static void uc_bouncer(void)
{
    for (;;)
        swapcontext(&uc_other, &uc_main);
}

static double switch_ucontext(void)
{
    static char stack[64 * 1024];
    long n = SWITCHES / 20; /* a system call each: slow */
    getcontext(&uc_other);
    uc_other.uc_stack.ss_sp = stack;
    uc_other.uc_stack.ss_size = sizeof stack;
    uc_other.uc_link = NULL;
    makecontext(&uc_other, uc_bouncer, 0);
    swapcontext(&uc_main, &uc_other);
    double t0 = now_ns();
    for (long i = 0; i < n / 2; i++)
        swapcontext(&uc_main, &uc_other);
    return (now_ns() - t0) / n;
}

/* --- create + finish ------------------------------------------------------ */

static void *finish(void *arg, void *v)
{
    (void)v;
    return arg;
}

static double create_finish(int mode)
{
    double t0 = now_ns();
    for (long i = 0; i < CYCLES; i++) {
        petal_greenlet *g = make(finish, NULL, mode);
        petal_greenlet_switch(g, NULL, NULL);
        petal_greenlet_destroy(g);
    }
    return (now_ns() - t0) / CYCLES;
}

/* --- memory: a million suspended, in a fresh child process per run ------- */

static void *sleeper(void *arg, void *v)
{
    (void)arg;
    (void)v;
    petal_greenlet_switch(petal_greenlet_parent(petal_greenlet_current()), NULL, NULL);
    return NULL;
}

static long resident(void)
{
    long size, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || fscanf(f, "%ld %ld", &size, &res) != 2)
        res = 0;
    if (f)
        fclose(f);
    return res * sysconf(_SC_PAGESIZE);
}

static void memory_child(int mode, int fd)
{
    petal_greenlet **g = malloc(SUSPENDED * sizeof *g);
    if (!g)
        _exit(1);
    memset(g, 0, SUSPENDED * sizeof *g);
    petal_greenlet_destroy(make(finish, NULL, mode)); /* pools, shared stack */
    long before = resident();
    for (long i = 0; i < SUSPENDED; i++) {
        g[i] = make(sleeper, NULL, mode);
        petal_greenlet_switch(g[i], NULL, NULL);
    }
    petal_greenlet *other = make(sleeper, NULL, mode); /* the last one copied out too */
    petal_greenlet_switch(other, NULL, NULL);
    double per = (double)(resident() - before) / SUSPENDED;
    double live = (double)petal_greenlet_stack_in_use(g[SUSPENDED / 2]);
    double out[2] = {per, live};
    if (write(fd, out, sizeof out) != sizeof out)
        _exit(1);
    _exit(0);
}

static double memory(int mode, size_t *live)
{
    int fds[2];
    double out[2] = {0, 0};
    if (pipe(fds))
        die("pipe", -1);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        memory_child(mode, fds[1]);
    }
    close(fds[1]);
    if (read(fds[0], out, sizeof out) != sizeof out)
        die("memory child", -1);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    *live = (size_t)out[1];
    return out[0];
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
    if (runs < 1 || runs > MAX_RUNS)
        runs = 5;
    double v[MAX_RUNS];
    size_t live = 0;

    for (int r = 0; r < runs; r++)
        v[r] = switch_dedicated(&live);
    report("switch", "dedicated", live, "ns", v, runs);
    size_t targets[2] = {256, 4096};
    for (int k = 0; k < 2; k++) {
        for (int r = 0; r < runs; r++)
            v[r] = switch_shared(targets[k], &live);
        report("switch", "shared", live, "ns", v, runs);
    }
    for (int r = 0; r < runs; r++)
        v[r] = switch_ucontext();
    report("switch", "ucontext", 0, "ns", v, runs);

    for (int r = 0; r < runs; r++)
        v[r] = create_finish(PETAL_STACK_DEDICATED);
    report("create", "dedicated", 0, "ns", v, runs);
    for (int r = 0; r < runs; r++)
        v[r] = create_finish(PETAL_STACK_SHARED);
    report("create", "shared", 0, "ns", v, runs);

    for (int r = 0; r < runs; r++)
        v[r] = memory(PETAL_STACK_DEDICATED, &live);
    report("memory", "dedicated", live, "bytes", v, runs);
    for (int r = 0; r < runs; r++)
        v[r] = memory(PETAL_STACK_SHARED, &live);
    report("memory", "shared", live, "bytes", v, runs);
    return 0;
}
