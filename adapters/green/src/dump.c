/* Debugging: one line per live greenlet (petal_green_dump), on demand or on
 * a signal; and the hub's error strings. */
#include <inttypes.h>

#include "green_internal.h"

static const char *state_name(int s)
{
    switch (s) {
    case PETAL_GREEN_PENDING: return "pending";
    case PETAL_GREEN_RUNNING: return "running";
    case PETAL_GREEN_PARKED: return "parked";
    default: return "dead";
    }
}

static void print_wait(FILE *out, const struct petal_green *r)
{
    if (r->state == PETAL_GREEN_PARKED && r->woken) {
        fputs("wait=ready", out);
        return;
    }
    switch (r->wait) {
    case W_NONE: fputs("wait=none", out); break;
    case W_READY: fputs("wait=ready", out); break;
    case W_SLEEP: fputs("wait=sleep", out); break;
    case W_READ: fprintf(out, "wait=readable(fd=%d)", r->wfd); break;
    case W_WRITE: fprintf(out, "wait=writable(fd=%d)", r->wfd); break;
    case W_FUTURE: fprintf(out, "wait=future(%p)", r->wobj); break;
    case W_RECV: fprintf(out, "wait=recv(fd=%d)", r->wfd); break;
    case W_SEND: fprintf(out, "wait=send(fd=%d)", r->wfd); break;
    case W_ACCEPT: fprintf(out, "wait=accept(fd=%d)", r->wfd); break;
    case W_CONNECT: fprintf(out, "wait=connect(fd=%d)", r->wfd); break;
    case W_JOIN: fprintf(out, "wait=join(green %" PRIu32 ")", ((const struct petal_green *)r->wobj)->id); break;
    case W_EVENT: fprintf(out, "wait=event(%p)", r->wobj); break;
    case W_QGET: fprintf(out, "wait=queue-get(%p)", r->wobj); break;
    case W_QPUT: fprintf(out, "wait=queue-put(%p)", r->wobj); break;
    case W_SEM: fprintf(out, "wait=semaphore(%p)", r->wobj); break;
    case W_RUN: fputs("wait=run", out); break;
    default: fputs("wait=?", out); break;
    }
}

static void dump_one(FILE *out, petal_hub_t *hub, const struct petal_green *r)
{
    fprintf(out, "green %" PRIu32 " \"%s\" %s ", r->id, r->name, state_name(r->state));
    print_wait(out, r);
    if (r->deadline >= 0 && r->state == PETAL_GREEN_PARKED && !r->woken)
        fprintf(out, " deadline=%+.6fs%s", (double)(r->deadline - green_now(hub)) / 1e9,
                r->dl_scope ? "(timeout scope)" : "");
    int mode = r->co ? petal_greenlet_stack_mode(r->co) : r->mode;
    size_t used = r->co ? petal_greenlet_stack_in_use(r->co) : 0;
    fprintf(out, " stack=%s used=%zu\n", r->is_main ? "main" : mode == PETAL_STACK_SHARED ? "shared" : "dedicated",
            used);
}

static void dump_hub(petal_hub_t *hub, FILE *out)
{
    fprintf(out, "petal green hub: backend=%s live=%zu parked=%zu spawned=%" PRIu64 " finished=%" PRIu64 "\n",
            petal_loop_backend(hub->loop), hub->live, hub->parked, hub->spawned, hub->finished);
    if (hub->main_rec.state == PETAL_GREEN_PARKED) dump_one(out, hub, &hub->main_rec);
    for (const struct petal_green *r = hub->live_head; r; r = r->live_next) dump_one(out, hub, r);
    fflush(out);
}

int petal_green_dump(FILE *out)
{
    petal_hub_t *hub = green_hub();
    if (!hub) return PETAL_ENOHUB;
    if (!out) return PETAL_EINVAL;
    dump_hub(hub, out);
    return 0;
}

static void on_signal(petal_loop_t *loop, void *arg)
{
    (void)loop;
    petal_hub_t *hub = arg;
    dump_hub(hub, hub->dump_out ? hub->dump_out : stderr);
}

int petal_green_dump_on_signal(petal_hub_t *hub, int signum, FILE *out)
{
    if (!hub || signum < 0) return PETAL_EINVAL;
    if (hub != green_hub()) return PETAL_EWRONGTHREAD;
    if (signum == 0) {
        if (hub->dump_signum <= 0) return PETAL_ENOENT;
        int rc = petal_remove_signal_handler(hub->loop, hub->dump_signum);
        hub->dump_signum = 0;
        return rc;
    }
    int rc = petal_add_signal_handler(hub->loop, signum, on_signal, hub);
    if (rc) return rc;
    if (hub->dump_signum > 0 && hub->dump_signum != signum) petal_remove_signal_handler(hub->loop, hub->dump_signum);
    hub->dump_signum = signum;
    hub->dump_out = out;
    return 0;
}

const char *petal_green_strerror(int err)
{
    switch (err) {
    case PETAL_EBLOCKING:
        return "blocking call where nothing can resume the caller (the hub, a loop callback, or a greenlet the hub did not spawn)";
    case PETAL_ENOHUB: return "no green hub on this thread";
    default: break;
    }
    if (err <= -4100 && err > -4200) return petal_greenlet_strerror(err);
    return petal_strerror(err);
}
