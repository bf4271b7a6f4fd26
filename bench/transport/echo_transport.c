/* echo_tcp through petal transports: the listener is served by
 * petal_server_adopt, every client fd by petal_transport_adopt; the server
 * protocol echoes in data_received, the client protocol checks each echo and
 * writes the next message. One loop, petal_loop_new_backend(variant). */
#include <stdlib.h>
#include <string.h>

#include "bench/echo_bench.h"
#include "bench/transport/echo_transport.h"
#include "petal/transport.h"

struct tstate {
    struct echo_run *r;
    petal_loop_t *loop;
    petal_transport_t **servers;    /* accepted connections, for teardown */
    petal_transport_t **clients;
    int lost;
};

struct tclient {
    struct tstate *st;
    struct echo_client *c;
};

static void die(const char *what, long err)
{
    echo_die("petal transport", what, err);
}

static void s_made(petal_transport_t *t, void *user)
{
    struct tstate *st = user;
    st->servers[st->r->accepted] = t;
    echo_accepted(st->r, petal_transport_fileno(t));
}

static void s_data(petal_transport_t *t, const void *data, size_t len, void *user)
{
    (void)user;
    int rc = petal_transport_write(t, data, len);
    if (rc) die("server write", rc);
}

static void lost(petal_transport_t *t, int err, void *user)
{
    (void)t;
    (void)err;
    struct tclient *tc = user;
    tc->st->lost++;
}

static void s_lost(petal_transport_t *t, int err, void *user)
{
    (void)t;
    (void)err;
    ((struct tstate *)user)->lost++;
}

static const petal_protocol_t server_proto = { .connection_made = s_made, .data_received = s_data,
                                               .connection_lost = s_lost };

static void send_next(struct tclient *tc, petal_transport_t *t)
{
    if (!echo_next(tc->st->r, tc->c)) return;
    int rc = petal_transport_write(t, tc->c->out, ECHO_MSG);
    if (rc) die("client write", rc);
}

static void c_made(petal_transport_t *t, void *user)
{
    send_next(user, t);
}

static void c_data(petal_transport_t *t, const void *data, size_t len, void *user)
{
    struct tclient *tc = user;
    struct echo_client *c = tc->c;
    if (len > ECHO_MSG - c->got) die("client read (more than was sent)", (long)len);
    memcpy(c->in + c->got, data, len);
    c->got += len;
    if (c->got < ECHO_MSG) return;
    echo_check(tc->st->r, c);
    if (echo_finished(tc->st->r)) petal_loop_stop(tc->st->loop);
    else send_next(tc, t);
}

static const petal_protocol_t client_proto = { .connection_made = c_made, .data_received = c_data,
                                               .connection_lost = lost };

double echo_transport(struct echo_run *r, const char *variant)
{
    struct tstate st = { .r = r };
    int rc = petal_loop_new_backend(&st.loop, variant);
    if (rc) die("petal_loop_new_backend", rc);
    struct tclient *tcs = calloc((size_t)r->nconn, sizeof *tcs);
    st.servers = calloc((size_t)r->nconn, sizeof *st.servers);
    st.clients = calloc((size_t)r->nconn, sizeof *st.clients);
    if (!tcs || !st.servers || !st.clients) die("calloc", -12);

    double t0 = echo_now();
    petal_server_t *server;
    if ((rc = petal_server_adopt(st.loop, &server_proto, &st, r->listen_fd, &server))) die("server_adopt", rc);
    for (int i = 0; i < r->nconn; i++) {
        tcs[i] = (struct tclient){ .st = &st, .c = &r->clients[i] };
        if ((rc = petal_transport_adopt(st.loop, &client_proto, &tcs[i], r->clients[i].fd, &st.clients[i])))
            die("transport_adopt", rc);
    }
    if ((rc = petal_loop_run(st.loop))) die("run", rc);
    double t1 = echo_now();

    /* Untimed: the transports own their fds and close them. */
    petal_server_close(server);
    r->listen_fd = -1;
    for (int i = 0; i < r->nconn; i++) {
        petal_transport_abort(st.clients[i]);
        r->clients[i].fd = -1;
    }
    for (int i = 0; i < r->accepted; i++) {
        petal_transport_abort(st.servers[i]);
        r->server_fds[i] = -1;
    }
    while (st.lost < r->nconn + r->accepted) petal_loop_run_once(st.loop);
    petal_loop_free(st.loop);
    free(tcs);
    free(st.servers);
    free(st.clients);
    return t1 - t0;
}
