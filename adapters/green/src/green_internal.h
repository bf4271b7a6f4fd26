/* Private state of the green hub: shared by hub.c, wait.c, sync.c, dump.c. */
#ifndef PETAL_GREEN_INTERNAL_H
#define PETAL_GREEN_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "petal/green.h"

/* What a parked greenlet waits on (also what the dump prints). */
enum green_wait {
    W_NONE = 0,
    W_READY,   /* sleep(0): queued on the hub's ready list */
    W_SLEEP,   /* only its deadline */
    W_READ,    /* fd readable */
    W_WRITE,   /* fd writable */
    W_FUTURE,  /* petal_green_await */
    W_RECV,    /* petal_sock_* futures: cancelled when the wait ends early */
    W_SEND,
    W_ACCEPT,
    W_CONNECT,
    W_JOIN,    /* in the target's joiners list */
    W_EVENT,   /* in an Event's waiters list */
    W_QGET,
    W_QPUT,
    W_SEM,
    W_RUN      /* main in petal_green_run */
};

struct green_list {
    struct petal_green *head, *tail;
};

struct petal_green {
    petal_hub_t *hub;
    petal_greenlet *co;        /* made when it first runs; its parent is whoever
                                * switched it in last: parking goes back there */
    petal_green_fn fn;
    void *arg;
    const char *name;
    union {
        void *value;           /* return value, once returned */
        void *xfer;            /* queue item handed over, while in a queue wait */
    };
    void *wobj;                /* object waited on */
    petal_future_t *opfut;     /* owned: the socket operation / awaited future */
    void *bounce;              /* owned: heap buffer for recv on a shared stack */
    int64_t deadline;          /* armed deadline (ns, loop clock), -1 none */
    int64_t scope_deadline;    /* innermost Timeout scopes' deadline, -1 none */
    void *scope_top;
    petal_handle_t timer;      /* loop timer when the deadline is not in the hub's FIFO */
    petal_future_t *fut;       /* completion future, made on demand */
    struct petal_green *live_prev, *live_next;
    struct petal_green *ready_next; /* also the slab's free list */
    /* One pair of links: the hub's deadline FIFO, or a waiters list (wlist
     * set; the deadline then uses a loop timer). */
    struct petal_green *prev, *next;
    struct green_list *wlist;
    struct green_list joiners;
    uint32_t id;
    uint32_t stack_size;
    int32_t refs;
    int32_t status;            /* what the current wait returns */
    int32_t err;               /* outcome */
    union {
        int32_t wfd;           /* fd of an fd / socket wait */
        uint32_t wgen;         /* Event generation at wait start */
    };
    uint8_t state;             /* enum petal_green_state */
    uint8_t wait;              /* enum green_wait */
    uint8_t mode;              /* enum petal_stack_mode */
    bool is_main : 1;
    bool woken : 1;            /* its wait is over; a resume is on its way */
    bool killing : 1;          /* being killed: blocking calls fail at once */
    bool returned : 1, exited : 1;
    bool in_ready : 1, in_dl : 1;
    bool dl_scope : 1;         /* the armed deadline is a Timeout scope's */
};

struct petal_hub {
    petal_loop_t *loop;
    petal_greenlet *g;         /* the hub greenlet (runs petal_loop_run), made on first need */
    petal_greenlet *main_co;
    struct petal_green main_rec;
    struct petal_green *running; /* record switched in now; NULL while the hub dispatches */
    int mode;
    size_t stack_size;
    size_t hub_stack_size;
    bool in_loop;              /* the hub greenlet is inside petal_loop_run */
    bool closing, freed;
    bool run_waiting;
    bool dl_firing;
    struct petal_green *ready_head, *ready_tail;
    petal_handle_t ready_handle;
    struct green_list dl;      /* deadlines, sorted; one loop timer for the head */
    petal_handle_t dl_timer;
    int64_t dl_timer_at;
    struct petal_green *live_head;
    size_t live, parked, nrec;
    uint64_t spawned, finished, switches;
    uint32_t next_id;
    struct petal_green **fd_read, **fd_write;
    size_t fd_cap;
    void *slabs;               /* record chunks (not under ASan) */
    char *slab_next, *slab_end;
    struct petal_green *free_recs;
    int dump_signum;
    FILE *dump_out;
};

/* hub.c */
petal_hub_t *green_hub(void);
int green_enter(struct petal_green **out);
struct petal_green *green_self(petal_hub_t *hub);
int64_t green_now(petal_hub_t *hub);
int green_deadline(struct petal_green *r, double timeout_s, int64_t *dl, bool *scope);
void green_arm(petal_hub_t *hub, struct petal_green *r, int64_t dl, bool scope);
void green_begin_wait(struct petal_green *r, int kind, void *obj);
petal_greenlet *green_main_target(petal_hub_t *hub, struct petal_green *r);
void green_cancel_wait(petal_hub_t *hub, struct petal_green *r);
void green_wake(petal_hub_t *hub, struct petal_green *r, int status);
void green_wake_later(petal_hub_t *hub, struct petal_green *r, int status);
void green_push_ready(petal_hub_t *hub, struct petal_green *r);
void green_ref(struct petal_green *r);
void green_unref(struct petal_green *r);
void green_future_cb(petal_future_t *fut, void *arg);

/* Intrusive FIFO of waiters. */
void green_list_push(struct green_list *l, struct petal_green *r);
void green_list_unlink(struct petal_green *r);
struct petal_green *green_list_pop(struct green_list *l);

/* Common start of a blocking wait: timeout check, scope check. Returns 0 to
 * go on and park, or the code to return at once. */
int green_prepare(struct petal_green *r, double timeout_s, int64_t *dl, bool *scope);

/* Parks r (its wait registered) until a wake: switches to whoever switched
 * it in (main: to the hub greenlet, which runs the loop). Returns the wait's
 * status. Inline and small: every byte of this frame is kept by each parked
 * shared-stack greenlet. */
static inline int green_park(petal_hub_t *hub, struct petal_green *r)
{
    petal_greenlet *to = r->is_main ? green_main_target(hub, r) : petal_greenlet_parent(r->co);
    if (!to) return r->status;
    r->state = PETAL_GREEN_PARKED;
    hub->parked++;
    petal_greenlet_switch(to, NULL, NULL);
    hub->parked--;
    r->state = PETAL_GREEN_RUNNING;
    r->wait = W_NONE;
    return r->status;
}

#endif
