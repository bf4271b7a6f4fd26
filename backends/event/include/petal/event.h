/* petal on libevent 2.1. */
#ifndef PETAL_EVENT_H
#define PETAL_EVENT_H

#include <event2/event.h>

#include "petal/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a petal loop on libevent. With host == NULL petal creates and runs
 * its own event_base (never with libevent signal events: petal's core owns
 * signals). With a host, petal attaches to the application's event_base,
 * which the application keeps running with event_base_dispatch() or
 * event_base_loop(); petal's work then happens in one timer event (its
 * earliest deadline, or "now" while callbacks are ready), one internal event
 * that runs petal's iteration after the iteration's I/O callbacks, and one
 * persistent event per watched fd, all at the base's default priority.
 * petal keeps event_base_dispatch() alive only while it has callbacks,
 * timers or watched fds; its wakeup fd (call_soon_threadsafe, signals) is
 * polled but does not keep the host alive. Free the petal loop before the
 * event_base; the base is then left exactly as petal found it. */
int petal_loop_new_event(petal_loop_t **out, struct event_base *host);

/* The backend, for petal_loop_new_on() and link-time backend lists. */
extern const struct petal_backend petal_backend_event;

/* The event_base under a libevent petal loop, NULL for another backend. */
struct event_base *petal_loop_event_base(petal_loop_t *loop);

#ifdef __cplusplus
}
#endif
#endif
