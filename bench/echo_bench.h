/* echo_bench: the echo_tcp workload, shared by its implementations.
 *
 * nconn client connections on 127.0.0.1 to one listening socket, all on one
 * loop in one thread. Each client sends ECHO_MSG bytes, the server echoes
 * them, the client checks every byte and sends its next message, until n
 * round trips have been completed in total.
 *
 * The clients' connect() is done before the timed region (plain blocking
 * connect on loopback, identical for every implementation); accepting the
 * connections on the loop is inside it. Every implementation:
 *   - gets the listening fd and the connected client fds from echo_setup();
 *   - at the start of the timed region, starts accepting on the listener and
 *     sends each client's first message;
 *   - counts round trips with echo_client_done(), which says whether the
 *     client sends another message, and stops when echo_finished();
 *   - closes nothing: echo_teardown() closes every fd afterwards (each
 *     implementation first releases its own watchers on them; one that
 *     cannot help closing an fd sets its number to -1). */
#ifndef ECHO_BENCH_H
#define ECHO_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#define ECHO_MSG 64

struct echo_client {
    int id;
    int fd;
    long seq;                           /* message number */
    size_t got;                         /* bytes of the echo received so far */
    unsigned char out[ECHO_MSG];        /* the message in flight */
    unsigned char in[ECHO_MSG];         /* its echo */
    void *impl;                         /* the implementation's per-client state */
};

struct echo_run {
    long n;                             /* round trips to complete */
    long started, finished;             /* messages sent / echoes checked */
    int nconn;
    int listen_fd;
    int accepted;                       /* server connections so far */
    struct echo_client *clients;
    int *server_fds;                    /* accepted fds, for echo_teardown() */
};

/* Listener on an ephemeral port, nconn connected non-blocking clients. */
int echo_setup(struct echo_run *r, long n, int nconn);
/* Closes every fd and frees what echo_setup() allocated. */
void echo_teardown(struct echo_run *r);

/* Records an accepted fd (exits loudly past nconn). */
void echo_accepted(struct echo_run *r, int fd);

/* Fills c->out with the next message of c, counts it as started; false when
 * n messages are already started (the client then stays idle). */
bool echo_next(struct echo_run *r, struct echo_client *c);
/* c->in holds the complete echo: checks every byte (exits with status 1 on a
 * mismatch) and counts the round trip. */
void echo_check(struct echo_run *r, struct echo_client *c);
static inline bool echo_finished(const struct echo_run *r)
{
    return r->finished >= r->n;
}

/* Prints what failed and exits with status 1. */
_Noreturn void echo_die(const char *impl, const char *what, long err);

double echo_now(void);

/* One implementation: runs r (already set up) and returns the seconds of the
 * timed region, or exits on failure. variant names the backend (petal:
 * "uv", "ev", "event", "uring", "uring-readiness"). */
typedef double (*echo_fn)(struct echo_run *r, const char *variant);

double echo_petal(struct echo_run *r, const char *variant);
double echo_native_uv(struct echo_run *r, const char *variant);
double echo_native_ev(struct echo_run *r, const char *variant);
double echo_native_event(struct echo_run *r, const char *variant);
double echo_native_uring(struct echo_run *r, const char *variant);

#endif
