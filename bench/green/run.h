/* Runs one seed program in a fresh process and reads its result line. */
#ifndef BENCH_GREEN_RUN_H
#define BENCH_GREEN_RUN_H

#include <stddef.h>

struct run_result {
    double wall_s;      /* as the program printed it */
    long self_rss_kib;  /* peak_rss_kib as the program printed it */
    long peak_rss_kib;  /* ru_maxrss of the child from wait4() */
    double cpu_s;       /* user + system CPU time of the child, from wait4() */
};

/* Forks, pins the child to cpu (if >= 0), execs argv[0] with argv, collects
 * its stdout and waits with wait4(). Checks that the child printed one line
 * prog=<prog> ... n=<n> ... and exited 0. Kills it after timeout_s.
 * Returns 0, or a negative errno-style code with a message in err. */
int run_program(char *const argv[], int prog, long n, int cpu, double timeout_s,
                struct run_result *out, char *err, size_t errlen);

#endif
