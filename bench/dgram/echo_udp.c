/* echo_udp: UDP round trips through petal's datagram transports on each
 * backend, beside the same workload on libuv's uv_udp_t, in one run.
 *
 *   echo_udp [-r repetitions (5)] [-n round trips (200000)] [-c clients (50)] [-b uv,ev,event,uring]
 *
 * One server endpoint echoes; c connected client endpoints each keep one
 * 64-byte datagram in flight until n round trips are done. Server and
 * clients share one loop and one thread. Native libuv: uv_udp_recv_start,
 * uv_udp_try_send (never EAGAIN here: one datagram in flight per client),
 * uv_udp_connect for the clients. Each repetition runs petal and native
 * next to each other (order alternating), so ratios compare runs made
 * moments apart. Output, per run and then per backend:
 *   workload=echo_udp impl=<petal|native_uv> backend=<b> n=<n> seconds=<s>
 *   workload=echo_udp backend=<b> petal_median=<s> petal_spread=<min-max>
 *     native_uv_median=<s> native_uv_spread=<min-max> ratio=<petal/native_uv>
 * A lost datagram (loopback can drop under memory pressure) would stall the
 * run: a 60 s watchdog then fails it loudly.
 *
 * Measure with -c opt, pinned: taskset -c 1 .../bench/dgram/echo_udp */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "petal/datagram.h"

#define MSG 64
#define MAXC 1000

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *who, const char *what, long rc)
{
    fprintf(stderr, "echo_udp: %s: %s failed (%ld)\n", who, what, rc);
    exit(1);
}

struct run {
    long n, sent, done;
    int nclients;
    unsigned char msg[MSG];
};

/* ---- petal ------------------------------------------------------------ */

struct prun {
    struct run *r;
    petal_loop_t *loop;
    petal_datagram_transport_t *srv, *cli[MAXC];
};

static void p_echo(petal_datagram_transport_t *t, const void *data, size_t len, const struct sockaddr *from,
                   socklen_t fromlen, void *user)
{
    (void)user;
    int rc = petal_datagram_sendto(t, data, len, from, fromlen);
    if (rc) die("petal", "server sendto", rc);
}

static void p_reply(petal_datagram_transport_t *t, const void *data, size_t len, const struct sockaddr *from,
                    socklen_t fromlen, void *user)
{
    (void)from;
    (void)fromlen;
    struct prun *p = user;
    struct run *r = p->r;
    if (len != MSG || memcmp(data, r->msg, MSG)) die("petal", "echo content", (long)len);
    if (++r->done == r->n) {
        petal_loop_stop(p->loop);
        return;
    }
    if (r->sent < r->n) {
        r->sent++;
        int rc = petal_datagram_sendto(t, r->msg, MSG, NULL, 0);
        if (rc) die("petal", "client sendto", rc);
    }
}

static void p_error(petal_datagram_transport_t *t, int err, void *user)
{
    (void)t;
    (void)user;
    die("petal", "datagram (error_received)", err);
}

static void p_watchdog(petal_loop_t *loop, void *arg)
{
    struct prun *p = arg;
    (void)loop;
    die("petal", "progress (a datagram was lost?)", p->r->done);
}

static double run_petal(struct run *r, const char *backend)
{
    struct prun p = { .r = r };
    int rc = petal_loop_new_backend(&p.loop, backend);
    if (rc) die(backend, "petal_loop_new_backend", rc);
    petal_datagram_protocol_t sp = { .datagram_received = p_echo, .error_received = p_error, .user = &p };
    petal_datagram_protocol_t cp = { .datagram_received = p_reply, .error_received = p_error, .user = &p };
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if ((rc = petal_create_datagram_endpoint(p.loop, &sp, (struct sockaddr *)&a, sizeof a, NULL, 0, NULL, &p.srv)))
        die(backend, "server endpoint", rc);
    socklen_t len = sizeof a;
    petal_datagram_get_sockname(p.srv, (struct sockaddr *)&a, &len);
    for (int i = 0; i < r->nclients; i++)
        if ((rc = petal_create_datagram_endpoint(p.loop, &cp, NULL, 0, (struct sockaddr *)&a, sizeof a, NULL,
                                                 &p.cli[i])))
            die(backend, "client endpoint", rc);
    petal_loop_run_once(p.loop);   /* connection_made, readers registered */
    double t0 = now();
    for (int i = 0; i < r->nclients && r->sent < r->n; i++, r->sent++)
        if ((rc = petal_datagram_sendto(p.cli[i], r->msg, MSG, NULL, 0))) die(backend, "first sendto", rc);
    petal_handle_t wd = petal_call_later(p.loop, 60.0, p_watchdog, &p);
    petal_loop_run(p.loop);
    double s = now() - t0;
    petal_cancel(p.loop, wd);
    petal_loop_free(p.loop);   /* closes the endpoints */
    return s;
}

/* ---- native libuv ----------------------------------------------------- */

struct uclient {
    uv_udp_t h;
    struct urun *u;
};

struct urun {
    struct run *r;
    uv_loop_t loop;
    uv_udp_t srv;
    struct uclient cli[MAXC];
    unsigned char buf[4 * MSG];
};

static void u_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    struct urun *u = h->loop->data;
    *buf = uv_buf_init((char *)u->buf, sizeof u->buf);
}

static void u_echo(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags)
{
    (void)flags;
    if (n == 0 && !from) return;   /* nothing more to read */
    if (n < 0) die("native uv", "server recv", n);
    uv_buf_t b = uv_buf_init(buf->base, (unsigned)n);
    int rc = uv_udp_try_send(h, &b, 1, from);
    if (rc != n) die("native uv", "server uv_udp_try_send", rc);
}

static void u_reply(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from, unsigned flags)
{
    (void)flags;
    if (n == 0 && !from) return;
    struct urun *u = h->loop->data;
    struct run *r = u->r;
    if (n != MSG || memcmp(buf->base, r->msg, MSG)) die("native uv", "echo content", n);
    if (++r->done == r->n) {
        uv_stop(&u->loop);
        return;
    }
    if (r->sent < r->n) {
        r->sent++;
        uv_buf_t b = uv_buf_init((char *)r->msg, MSG);
        int rc = uv_udp_try_send(h, &b, 1, NULL);
        if (rc != MSG) die("native uv", "client uv_udp_try_send", rc);
    }
}

static double run_native(struct run *r)
{
    struct urun *u = calloc(1, sizeof *u);
    u->r = r;
    uv_loop_init(&u->loop);
    u->loop.data = u;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int rc = uv_udp_init(&u->loop, &u->srv);
    if (!rc) rc = uv_udp_bind(&u->srv, (struct sockaddr *)&a, 0);
    if (!rc) rc = uv_udp_recv_start(&u->srv, u_alloc, u_echo);
    if (rc) die("native uv", "server", rc);
    int len = sizeof a;
    uv_udp_getsockname(&u->srv, (struct sockaddr *)&a, &len);
    for (int i = 0; i < r->nclients; i++) {
        rc = uv_udp_init(&u->loop, &u->cli[i].h);
        if (!rc) rc = uv_udp_connect(&u->cli[i].h, (struct sockaddr *)&a);
        if (!rc) rc = uv_udp_recv_start(&u->cli[i].h, u_alloc, u_reply);
        if (rc) die("native uv", "client", rc);
    }
    double t0 = now();
    uv_buf_t b = uv_buf_init((char *)r->msg, MSG);
    for (int i = 0; i < r->nclients && r->sent < r->n; i++, r->sent++)
        if ((rc = uv_udp_try_send(&u->cli[i].h, &b, 1, NULL)) != MSG) die("native uv", "first send", rc);
    uv_run(&u->loop, UV_RUN_DEFAULT);
    double s = now() - t0;
    uv_close((uv_handle_t *)&u->srv, NULL);
    for (int i = 0; i < r->nclients; i++) uv_close((uv_handle_t *)&u->cli[i].h, NULL);
    uv_run(&u->loop, UV_RUN_DEFAULT);
    uv_loop_close(&u->loop);
    free(u);
    return s;
}

/* ---- driver ----------------------------------------------------------- */

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int k)
{
    qsort(v, (size_t)k, sizeof *v, cmp);
    return k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
}

static double one(bool petal, const char *backend, long n, int nclients)
{
    struct run r = { .n = n, .nclients = nclients };
    for (int i = 0; i < MSG; i++) r.msg[i] = (unsigned char)(i * 13 + 1);
    double s = petal ? run_petal(&r, backend) : run_native(&r);
    if (r.done != n) die(backend, "round trip count", r.done);
    printf("workload=echo_udp impl=%s backend=%s n=%ld seconds=%.6f\n", petal ? "petal" : "native_uv", backend, n, s);
    fflush(stdout);
    return s;
}

int main(int argc, char **argv)
{
    int reps = 5, nclients = 50, opt;
    long n = 200000;
    char list[64] = "uv,ev,event,uring";
    while ((opt = getopt(argc, argv, "r:n:c:b:h")) != -1) {
        switch (opt) {
        case 'r': reps = atoi(optarg); break;
        case 'n': n = atol(optarg); break;
        case 'c': nclients = atoi(optarg); break;
        case 'b': snprintf(list, sizeof list, "%s", optarg); break;
        default:
            fprintf(opt == 'h' ? stdout : stderr,
                    "usage: echo_udp [-r repetitions (5)] [-n round trips (200000)] [-c clients (50)]"
                    " [-b backends (uv,ev,event,uring)]\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (reps < 1 || reps > 100 || n < 1 || nclients < 1 || nclients > MAXC) {
        fprintf(stderr, "echo_udp: bad arguments\n");
        return 2;
    }
    const char *backends[8];
    int nb = 0;
    for (char *save = NULL, *b = strtok_r(list, ",", &save); b && nb < 8; b = strtok_r(NULL, ",", &save))
        backends[nb++] = b;
    double pt[8][100], nt[8][100];
    for (int rep = 0; rep < reps; rep++)
        for (int i = 0; i < nb; i++) {
            bool petal_first = (rep + i) % 2 == 0;
            double a = one(petal_first, backends[i], n, nclients);
            double b = one(!petal_first, backends[i], n, nclients);
            pt[i][rep] = petal_first ? a : b;
            nt[i][rep] = petal_first ? b : a;
        }
    for (int i = 0; i < nb; i++) {
        double pm = median(pt[i], reps), nm = median(nt[i], reps);
        printf("workload=echo_udp backend=%s petal_median=%.6f petal_spread=%.6f-%.6f native_uv_median=%.6f "
               "native_uv_spread=%.6f-%.6f ratio=%.3f\n",
               backends[i], pm, pt[i][0], pt[i][reps - 1], nm, nt[i][0], nt[i][reps - 1], pm / nm);
    }
    return 0;
}
