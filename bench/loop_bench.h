/* loop_bench: petal against the native loops, workload by workload.
 *
 * The program is a table: workloads (rows) x implementations (columns). An
 * implementation is a backend name plus "petal" or "native". Every petal
 * column uses the same code (loop_petal.c), which creates its loop with
 * petal_loop_new_backend(name), so linking another backend adds a column
 * without a code change. Each native library brings its own file
 * (loop_native_uv.c, loop_native_ev.c, ...) and one entry in
 * bench_natives[] (loop_bench.c).
 *
 * Contract of a workload function: set up (loop, handles, memory) outside
 * the timed region, time only the work with bench_now(), check that every
 * callback ran exactly as expected, tear down outside the timed region.
 * Returns 0 and *seconds, or a negative error code (petal or libuv, both
 * negated errno values) after printing what went wrong to stderr. */
#ifndef LOOP_BENCH_H
#define LOOP_BENCH_H

#include <stdbool.h>
#include <stddef.h>

enum bench_workload {
    W_SOON,          /* chain: each callback schedules the next, one per iteration */
    W_FANOUT_SOON,   /* n callbacks scheduled at once, then run */
    W_TIMERS,        /* n one-shot timers spread uniformly over 0-100 ms */
    W_TIMER_CANCEL,  /* n timers 10 s out, all cancelled */
    W_PINGPONG,      /* n one-byte round trips over a socketpair, one loop */
    W_COUNT
};

/* Spread of the timers workload and delay of timer_cancel. */
#define BENCH_TIMERS_SPAN_NS 100000000LL    /* 100 ms */
#define BENCH_CANCEL_DELAY_NS 10000000000LL /* 10 s */

typedef int (*bench_fn)(const char *backend, long n, double *seconds);

/* Memory mode (-m), for the workloads that hold n callbacks at once
 * (fanout_soon, timers, timer_cancel):
 *   fresh (false, default): each side allocates what it needs inside the
 *     timed region: petal's fresh loop grows its arrays, the native code
 *     mallocs its n handles (first touched by uv_*_init);
 *   warm (true): steady state. Outside the timed region, the petal loop is
 *     primed (it has held n callbacks and n timers once, so its arrays are
 *     grown and faulted in) and the native handle array is allocated and
 *     touched. */
extern bool bench_warm;

/* One column of the table. fn[w] == NULL: not implemented for workload w. */
struct bench_impl {
    const char *backend;  /* "uv", "ev", "event", "uring" */
    const char *impl;     /* "petal" or "native" */
    bench_fn fn[W_COUNT];
    /* max_n[w] > 0: this backend's cell of workload w (petal and native)
     * runs at most this many (a native way too slow for the full n). */
    long max_n[W_COUNT];
};

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);

/* The verdict of one run: rc if it failed (printed with describe, or
 * strerror(-rc) when describe is NULL), -EPROTO if ran != want_ran, else 0.
 * who names the implementation in messages ("native ev", "petal"). */
int bench_verdict(const char *who, const char *what, int rc, long ran, long want_ran,
                  const char *(*describe)(int));

/* loop_petal.c: the petal column, for any backend name. */
extern const bench_fn bench_petal[W_COUNT];

/* loop_native_<backend>.c */
extern const struct bench_impl bench_native_uv;
extern const struct bench_impl bench_native_ev;
extern const struct bench_impl bench_native_event;
extern const struct bench_impl bench_native_uring;

#endif
