#ifndef PETAL_BENCH_ECHO_TRANSPORT_H
#define PETAL_BENCH_ECHO_TRANSPORT_H

#include "bench/echo_bench.h"

/* echo_tcp through petal transports on backend variant. */
double echo_transport(struct echo_run *r, const char *variant);

#endif
