/* petal on libev. */
#ifndef PETAL_EV_H
#define PETAL_EV_H

#include <ev.h>

#include "petal/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a petal loop on libev. With host == NULL petal creates and runs its
 * own loop with ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK), never the default
 * loop, so libev installs no SIGCHLD handler. With a host, petal attaches to
 * the application's loop, which the application keeps running with ev_run();
 * petal's work then happens in an ev_prepare/ev_check pair, one ev_idle
 * (while callbacks are ready) and one ev_timer (its earliest deadline). The
 * hooks are unreferenced: ev_run(host, 0) returns once neither side has work.
 * All of petal's watchers are stopped synchronously by petal_loop_close(), so
 * the host can be destroyed right after it. */
int petal_loop_new_ev(petal_loop_t **out, struct ev_loop *host);

/* The backend, for petal_loop_new_on() and link-time backend lists. */
extern const struct petal_backend petal_backend_ev;

/* The struct ev_loop under a libev petal loop, NULL for another backend. */
struct ev_loop *petal_loop_ev(petal_loop_t *loop);

#ifdef __cplusplus
}
#endif
#endif
