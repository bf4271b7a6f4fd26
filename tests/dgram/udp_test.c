/* UDP endpoints over IPv4 and IPv6, the same on every backend. */
#include <fcntl.h>
#include <stdio.h>

#include "dgram_common.h"

#include "petal/resolve.h"

struct pair {
    petal_loop_t *loop;
    struct rec srv, cli;
    petal_datagram_transport_t *s, *c;
};

/* A server bound to an ephemeral loopback port and a client connected to it. */
static void make_pair(struct pair *p, int family)
{
    p->loop = new_loop();
    petal_datagram_protocol_t sp = rec_proto(&p->srv), cp = rec_proto(&p->cli);
    p->srv.echo = true;
    struct sockaddr_storage any;
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in a = loopback4(0);
        len = sizeof a;
        memcpy(&any, &a, len);
    } else {
        struct sockaddr_in6 a = loopback6(0);
        len = sizeof a;
        memcpy(&any, &a, len);
    }
    assert_int_equal(petal_create_datagram_endpoint(p->loop, &sp, (struct sockaddr *)&any, len, NULL, 0, NULL, &p->s),
                     0);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    assert_int_equal(petal_datagram_get_sockname(p->s, (struct sockaddr *)&bound, &blen), 0);
    assert_int_equal(blen, len);
    assert_int_equal(petal_create_datagram_endpoint(p->loop, &cp, NULL, 0, (struct sockaddr *)&bound, blen, NULL, &p->c),
                     0);
}

static void close_pair(struct pair *p)
{
    if (p->srv.t) assert_int_equal(petal_datagram_close(p->s), 0);
    if (p->cli.t) assert_int_equal(petal_datagram_close(p->c), 0);
    run_until(p->loop, is_lost, &p->srv);
    run_until(p->loop, is_lost, &p->cli);
    assert_int_equal(p->srv.lost_err, 0);
    assert_int_equal(p->cli.lost_err, 0);
    assert_int_equal(petal_loop_free(p->loop), 0);
}

static bool two_back(void *arg) { return ((struct rec *)arg)->datagrams >= 2; }
static bool two_errors(void *arg) { return ((struct rec *)arg)->errors >= 2; }

static void ping_pong(int family)
{
    struct pair p;
    make_pair(&p, family);
    assert_int_equal(petal_datagram_sendto(p.c, "ping", 4, NULL, 0), 0);
    run_until(p.loop, got_datagram, &p.cli);   /* the echo came back */
    assert_int_equal(p.srv.datagrams, 1);
    assert_int_equal(p.cli.last_len, 4);
    assert_memory_equal(p.cli.last, "ping", 4);
    /* the server saw the client's own address */
    struct sockaddr_storage cname, peer;
    socklen_t clen = sizeof cname, plen = sizeof peer;
    assert_int_equal(petal_datagram_get_sockname(p.c, (struct sockaddr *)&cname, &clen), 0);
    assert_int_equal(p.srv.fromlen, clen);
    assert_memory_equal(&p.srv.from, &cname, clen);
    assert_int_equal(((struct sockaddr *)&p.srv.from)->sa_family, family);
    /* and the client's peer is the server */
    assert_int_equal(petal_datagram_get_peername(p.c, (struct sockaddr *)&peer, &plen), 0);
    assert_int_equal(p.cli.fromlen, plen);
    assert_memory_equal(&p.cli.from, &peer, plen);
    assert_int_equal(petal_datagram_get_peername(p.s, (struct sockaddr *)&peer, &plen), -ENOTCONN);
    /* naming the peer on a connected endpoint is allowed */
    assert_int_equal(petal_datagram_sendto(p.c, "", 0, (struct sockaddr *)&peer, plen), 0);
    run_until(p.loop, two_back, &p.cli);
    assert_ptr_equal(petal_datagram_user(p.c), &p.cli);
    assert_ptr_equal(petal_datagram_loop(p.c), p.loop);
    assert_true(petal_datagram_fd(p.c) >= 0);
    close_pair(&p);
    assert_string_equal(p.cli.log, "mddl");    /* ping's echo, then the empty datagram's */
    assert_int_equal(p.cli.last_len, 0);
}

static void test_send_receive_v4(void **state)
{
    (void)state;
    ping_pong(AF_INET);
}

static void test_send_receive_v6(void **state)
{
    (void)state;
    ping_pong(AF_INET6);
}

static void test_large_datagram(void **state)
{
    (void)state;
    struct pair p;
    make_pair(&p, AF_INET);
    enum { BIG = 65507 };   /* the largest UDP payload over IPv4 */
    unsigned char *buf = malloc(BIG);
    for (int i = 0; i < BIG; i++) buf[i] = (unsigned char)(i * 7 + 3);
    assert_int_equal(petal_datagram_sendto(p.c, buf, BIG, NULL, 0), 0);
    assert_int_equal(petal_datagram_sendto(p.c, buf, 1000, NULL, 0), 0);
    run_until(p.loop, two_back, &p.cli);
    assert_int_equal(p.srv.datagrams, 2);
    assert_int_equal(p.cli.last_len, 1000);
    assert_memory_equal(p.cli.last, buf, 1000);
    /* one more round, to check the big one's bytes at the client */
    p.srv.echo = false;
    assert_int_equal(petal_datagram_sendto(p.s, buf, BIG, (struct sockaddr *)&p.srv.from, p.srv.fromlen), 0);
    int before = p.cli.datagrams;
    while (p.cli.datagrams == before) assert_int_equal(petal_loop_run_once(p.loop), 0);
    assert_int_equal(p.cli.last_len, BIG);
    assert_memory_equal(p.cli.last, buf, BIG);
    /* too big for UDP: the kernel's EMSGSIZE goes to error_received */
    unsigned char *huge = calloc(1, 70000);
    assert_int_equal(petal_datagram_sendto(p.c, huge, 70000, NULL, 0), 0);
    assert_int_equal(p.cli.errors, 1);
    assert_int_equal(p.cli.last_err, -EMSGSIZE);
    assert_false(petal_datagram_is_closing(p.c));
    free(huge);
    free(buf);
    close_pair(&p);
}

static bool three(void *arg) { return ((struct rec *)arg)->datagrams >= 3; }

/* connection_made comes first even when datagrams are already waiting;
 * datagrams arrive in order; connection_lost comes last, once. */
static void test_callback_order(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r;
    petal_datagram_protocol_t proto = rec_proto(&r);
    struct sockaddr_in a = loopback4(0);
    petal_datagram_transport_t *t;
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, (struct sockaddr *)&a, sizeof a, NULL, 0, NULL, &t), 0);
    assert_int_equal(r.n, 0);   /* nothing is called from inside create */
    socklen_t len = sizeof a;
    assert_int_equal(petal_datagram_get_sockname(t, (struct sockaddr *)&a, &len), 0);
    int raw = socket(AF_INET, SOCK_DGRAM, 0);
    for (char c = '1'; c <= '3'; c++) assert_int_equal(sendto(raw, &c, 1, 0, (struct sockaddr *)&a, sizeof a), 1);
    run_until(loop, three, &r);
    assert_string_equal(r.log, "mddd");
    assert_int_equal(r.last[0], '3');
    assert_int_equal(petal_datagram_close(t), 0);
    assert_true(petal_datagram_is_closing(t));
    /* nothing is received once closing */
    char c = '4';
    assert_int_equal(sendto(raw, &c, 1, 0, (struct sockaddr *)&a, sizeof a), 1);
    run_until(loop, is_lost, &r);
    assert_string_equal(r.log, "mdddl");
    close(raw);
    assert_int_equal(petal_loop_free(loop), 0);
}

/* Closing from datagram_received: no datagram after it, lost follows. */
static void test_close_from_callback(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r;
    petal_datagram_protocol_t proto = rec_proto(&r);
    r.close_on_datagram = true;
    struct sockaddr_in a = loopback4(0);
    petal_datagram_transport_t *t;
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, (struct sockaddr *)&a, sizeof a, NULL, 0, NULL, &t), 0);
    socklen_t len = sizeof a;
    assert_int_equal(petal_datagram_get_sockname(t, (struct sockaddr *)&a, &len), 0);
    int raw = socket(AF_INET, SOCK_DGRAM, 0);
    for (int i = 0; i < 5; i++) assert_int_equal(sendto(raw, "x", 1, 0, (struct sockaddr *)&a, sizeof a), 1);
    run_until(loop, is_lost, &r);
    assert_string_equal(r.log, "mdl");
    close(raw);
    assert_int_equal(petal_loop_free(loop), 0);
}

/* The peer's port is closed: the ICMP error comes back as ECONNREFUSED to
 * error_received and the endpoint stays usable. */
static void test_icmp_refused_goes_to_error_received(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    int tmp = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = loopback4(0);
    socklen_t len = sizeof a;
    assert_int_equal(bind(tmp, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(tmp, (struct sockaddr *)&a, &len), 0);
    close(tmp);   /* nobody listens there now */
    struct rec r;
    petal_datagram_protocol_t proto = rec_proto(&r);
    petal_datagram_transport_t *t;
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, NULL, 0, (struct sockaddr *)&a, sizeof a, NULL, &t), 0);
    run_until(loop, is_made, &r);
    assert_int_equal(petal_datagram_sendto(t, "hello?", 6, NULL, 0), 0);
    run_until(loop, got_error, &r);
    assert_int_equal(r.last_err, -ECONNREFUSED);
    assert_null(strchr(r.log, 'l'));
    assert_false(petal_datagram_is_closing(t));
    /* still open: sending again is accepted (its refusal is reported too) */
    assert_int_equal(petal_datagram_sendto(t, "again", 5, NULL, 0), 0);
    run_until(loop, two_errors, &r);
    assert_int_equal(r.last_err, -ECONNREFUSED);
    assert_int_equal(petal_datagram_close(t), 0);
    run_until(loop, is_lost, &r);
    assert_int_equal(r.lost_err, 0);
    assert_int_equal(petal_loop_free(loop), 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r;
    petal_datagram_protocol_t proto = rec_proto(&r);
    petal_datagram_transport_t *t = (void *)1, *u;
    struct sockaddr_in a4 = loopback4(0);
    struct sockaddr_in6 a6 = loopback6(0);
    struct sockaddr *s4 = (struct sockaddr *)&a4, *s6 = (struct sockaddr *)&a6;
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, s4, sizeof a4, NULL, 0, NULL, NULL), PETAL_EINVAL);
    assert_int_equal(petal_create_datagram_endpoint(NULL, &proto, s4, sizeof a4, NULL, 0, NULL, &t), PETAL_EINVAL);
    assert_null(t);
    assert_int_equal(petal_create_datagram_endpoint(loop, NULL, s4, sizeof a4, NULL, 0, NULL, &t), PETAL_EINVAL);
    /* no address and no family; families that disagree; short addresses */
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, NULL, 0, NULL, 0, NULL, &t), PETAL_EINVAL);
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, s4, sizeof a4, s6, sizeof a6, NULL, &t), PETAL_EINVAL);
    petal_datagram_options_t v6 = { .family = AF_INET6 };
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, s4, sizeof a4, NULL, 0, &v6, &t), PETAL_EINVAL);
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, s4, 4, NULL, 0, NULL, &t), PETAL_EINVAL);
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, s6, sizeof a4, NULL, 0, NULL, &t), PETAL_EINVAL);
    /* the kernel's refusal comes back as -errno, nothing is made */
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, s4, sizeof a4, NULL, 0, NULL, &t), 0);
    socklen_t len = sizeof a4;
    assert_int_equal(petal_datagram_get_sockname(t, s4, &len), 0);
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, s4, sizeof a4, NULL, 0, NULL, &u), -EADDRINUSE);
    assert_null(u);
    /* sendto: destination rules */
    assert_int_equal(petal_datagram_sendto(t, "x", 1, NULL, 0), -EDESTADDRREQ);
    assert_int_equal(petal_datagram_sendto(t, NULL, 1, s4, sizeof a4), PETAL_EINVAL);
    assert_int_equal(petal_datagram_sendto(t, "x", 1, s4, 3), PETAL_EINVAL);
    assert_int_equal(petal_datagram_sendto(NULL, "x", 1, s4, sizeof a4), PETAL_EINVAL);
    petal_datagram_options_t inet = { .family = AF_INET };
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, NULL, 0, s4, sizeof a4, &inet, &u), 0);
    struct sockaddr_in other = loopback4(9);
    assert_int_equal(petal_datagram_sendto(u, "x", 1, (struct sockaddr *)&other, sizeof other), -EISCONN);
    assert_int_equal(petal_datagram_set_write_buffer_limits(u, 10, 20), PETAL_EINVAL);
    assert_int_equal(petal_datagram_set_write_buffer_limits(u, 0, 0), 0);
    assert_int_equal(petal_datagram_set_protocol(u, NULL), PETAL_EINVAL);
    struct sockaddr_storage ss;
    assert_int_equal(petal_datagram_get_sockname(u, (struct sockaddr *)&ss, NULL), PETAL_EINVAL);
    /* adopt: only open datagram sockets */
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(petal_datagram_adopt(loop, tcp, &proto, &u), PETAL_EINVAL);
    close(tcp);
    assert_int_equal(petal_datagram_adopt(loop, tcp, &proto, &u), PETAL_EBADF);
    assert_int_equal(petal_datagram_adopt(loop, -1, &proto, &u), PETAL_EBADF);
    assert_int_equal(petal_datagram_close(NULL), PETAL_EINVAL);
    assert_int_equal(petal_datagram_abort(NULL), PETAL_EINVAL);
    assert_int_equal(petal_datagram_fd(NULL), PETAL_EINVAL);
    assert_int_equal(petal_datagram_get_write_buffer_size(NULL), 0);
    assert_int_equal(petal_loop_close(loop), 0);
    assert_int_equal(petal_create_datagram_endpoint(loop, &proto, s4, sizeof a4, NULL, 0, NULL, &u), PETAL_ECLOSED);
    assert_int_equal(petal_loop_free(loop), 0);
}

static void test_options(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec r1, r2;
    petal_datagram_protocol_t p1 = rec_proto(&r1), p2 = rec_proto(&r2);
    petal_datagram_options_t opts = { .reuse_port = true, .allow_broadcast = true };
    struct sockaddr_in a = loopback4(0);
    petal_datagram_transport_t *t1, *t2;
    assert_int_equal(petal_create_datagram_endpoint(loop, &p1, (struct sockaddr *)&a, sizeof a, NULL, 0, &opts, &t1), 0);
    socklen_t len = sizeof a;
    assert_int_equal(petal_datagram_get_sockname(t1, (struct sockaddr *)&a, &len), 0);
    /* SO_REUSEPORT on both: the second may bind the same port */
    assert_int_equal(petal_create_datagram_endpoint(loop, &p2, (struct sockaddr *)&a, sizeof a, NULL, 0, &opts, &t2), 0);
    int v = 0;
    socklen_t vl = sizeof v;
    assert_int_equal(getsockopt(petal_datagram_fd(t1), SOL_SOCKET, SO_BROADCAST, &v, &vl), 0);
    assert_int_equal(v, 1);
    /* an unbound endpoint of a given family, bound at its first send */
    petal_datagram_options_t v4 = { .family = AF_INET };
    struct rec r3;
    petal_datagram_protocol_t p3 = rec_proto(&r3);
    petal_datagram_transport_t *t3;
    assert_int_equal(petal_create_datagram_endpoint(loop, &p3, NULL, 0, NULL, 0, &v4, &t3), 0);
    assert_int_equal(petal_datagram_sendto(t3, "hi", 2, (struct sockaddr *)&a, sizeof a), 0);
    while (r1.datagrams + r2.datagrams == 0) assert_int_equal(petal_loop_run_once(loop), 0);
    petal_datagram_close(t1);
    petal_datagram_close(t2);
    petal_datagram_close(t3);
    run_until(loop, is_lost, &r3);
    assert_int_equal(petal_loop_free(loop), 0);
}

static bool future_done(void *arg) { return petal_future_done(arg); }

static void test_host_names(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec srv, cli;
    petal_datagram_protocol_t sp = rec_proto(&srv), cp = rec_proto(&cli);
    srv.echo = true;
    petal_future_t *fs, *fc, *bad;
    /* "localhost" comes from /etc/hosts through the resolver's pool */
    petal_datagram_options_t v4 = { .family = AF_INET };
    assert_int_equal(petal_create_datagram_endpoint_host(loop, &sp, "localhost", "0", NULL, NULL, &v4, &fs), 0);
    assert_int_equal(petal_loop_run_until_complete(loop, fs), 0);
    void *v;
    assert_int_equal(petal_future_result(fs, &v), 0);
    petal_datagram_transport_t *s = v;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    assert_int_equal(petal_datagram_get_sockname(s, (struct sockaddr *)&a, &len), 0);
    assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
    char port[8];
    snprintf(port, sizeof port, "%u", ntohs(a.sin_port));
    assert_int_equal(petal_create_datagram_endpoint_host(loop, &cp, NULL, NULL, "127.0.0.1", port, NULL, &fc), 0);
    assert_int_equal(petal_loop_run_until_complete(loop, fc), 0);
    assert_int_equal(petal_future_result(fc, &v), 0);
    petal_datagram_transport_t *c = v;
    assert_int_equal(petal_datagram_sendto(c, "abc", 3, NULL, 0), 0);
    run_until(loop, got_datagram, &cli);
    assert_memory_equal(cli.last, "abc", 3);
    /* an unknown name fails the future with the resolver's code */
    assert_int_equal(petal_create_datagram_endpoint_host(loop, &cp, NULL, NULL, "no-such-host.invalid", "9", NULL, &bad),
                     0);
    run_until(loop, future_done, bad);
    int rc = petal_future_result(bad, NULL);
    assert_true(rc == PETAL_EAI_NONAME || rc == PETAL_EAI_AGAIN);
    /* both sides named: bound to the local name, connected to the remote */
    petal_future_t *both, *nofam;
    assert_int_equal(petal_create_datagram_endpoint_host(loop, &cp, "localhost", "0", "127.0.0.1", port, NULL, &both), 0);
    assert_int_equal(petal_loop_run_until_complete(loop, both), 0);
    assert_int_equal(petal_future_result(both, &v), 0);
    struct sockaddr_in bl, bp;
    socklen_t bll = sizeof bl, bpl = sizeof bp;
    assert_int_equal(petal_datagram_get_sockname(v, (struct sockaddr *)&bl, &bll), 0);
    assert_int_equal(ntohl(bl.sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(petal_datagram_get_peername(v, (struct sockaddr *)&bp, &bpl), 0);
    assert_int_equal(bp.sin_port, a.sin_port);
    /* no family in common: an IPv6 local name and an IPv4 peer */
    assert_int_equal(petal_create_datagram_endpoint_host(loop, &cp, "::1", "0", "127.0.0.1", port, NULL, &nofam), 0);
    assert_int_equal(petal_loop_run_until_complete(loop, nofam), PETAL_EAI_ADDRFAMILY);
    petal_future_release(both);
    petal_future_release(nofam);
    /* nothing to resolve and no family */
    petal_future_t *none = (void *)1;
    assert_int_equal(petal_create_datagram_endpoint_host(loop, &cp, NULL, NULL, NULL, NULL, NULL, &none), PETAL_EINVAL);
    assert_null(none);
    /* freed with lookups in flight: no leak */
    petal_future_t *inflight;
    assert_int_equal(petal_create_datagram_endpoint_host(loop, &cp, "localhost", "0", "localhost", port, NULL, &inflight),
                     0);
    petal_future_release(fs);
    petal_future_release(fc);
    petal_future_release(bad);
    assert_int_equal(petal_loop_free(loop), 0);   /* also frees the two open transports */
    assert_false(petal_future_done(inflight));
    petal_future_release(inflight);
}

static bool all_three(void *arg)
{
    struct rec *c = arg;
    return c[0].datagrams && c[1].datagrams && c[2].datagrams;
}

/* One unconnected server, three clients: each reply goes to its sender. */
static void test_replies_reach_each_sender(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct rec srv, cli[3];
    petal_datagram_protocol_t sp = rec_proto(&srv);
    srv.echo = true;
    struct sockaddr_in a = loopback4(0);
    petal_datagram_transport_t *s, *c[3];
    assert_int_equal(petal_create_datagram_endpoint(loop, &sp, (struct sockaddr *)&a, sizeof a, NULL, 0, NULL, &s), 0);
    socklen_t len = sizeof a;
    assert_int_equal(petal_datagram_get_sockname(s, (struct sockaddr *)&a, &len), 0);
    for (int i = 0; i < 3; i++) {
        petal_datagram_protocol_t cp = rec_proto(&cli[i]);
        assert_int_equal(petal_create_datagram_endpoint(loop, &cp, NULL, 0, (struct sockaddr *)&a, sizeof a, NULL, &c[i]),
                         0);
        char msg = (char)('a' + i);
        assert_int_equal(petal_datagram_sendto(c[i], &msg, 1, NULL, 0), 0);
    }
    run_until(loop, all_three, cli);
    assert_int_equal(srv.datagrams, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cli[i].datagrams, 1);
        assert_int_equal(cli[i].last[0], 'a' + i);
        assert_int_equal(petal_datagram_close(c[i]), 0);
    }
    assert_int_equal(petal_datagram_close(s), 0);
    run_until(loop, is_lost, &srv);
    assert_int_equal(petal_loop_free(loop), 0);
    for (int i = 0; i < 3; i++) assert_string_equal(cli[i].log, "mdl");
}

/* Adopting a connected, blocking UDP socket: it becomes a connected,
 * non-blocking endpoint owned by petal. */
static void test_adopt_connected_socket(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    int srvfd = socket(AF_INET, SOCK_DGRAM, 0), fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = loopback4(0);
    socklen_t len = sizeof a;
    assert_int_equal(bind(srvfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(srvfd, (struct sockaddr *)&a, &len), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    struct rec r;
    petal_datagram_protocol_t proto = rec_proto(&r);
    petal_datagram_transport_t *t;
    assert_int_equal(petal_datagram_adopt(loop, fd, &proto, &t), 0);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    assert_int_equal(petal_datagram_get_peername(t, (struct sockaddr *)&peer, &plen), 0);
    assert_int_equal(plen, sizeof peer);
    assert_int_equal(peer.sin_port, a.sin_port);
    assert_int_equal(petal_datagram_sendto(t, "adopted", 7, NULL, 0), 0);
    char buf[16];
    assert_int_equal(recv(srvfd, buf, sizeof buf, 0), 7);   /* blocking: waits for it */
    assert_memory_equal(buf, "adopted", 7);
    assert_int_equal(petal_datagram_close(t), 0);
    run_until(loop, is_lost, &r);
    assert_int_equal(fcntl(fd, F_GETFD), -1);                 /* petal closed it */
    close(srvfd);
    assert_int_equal(petal_loop_free(loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_receive_v4),
        cmocka_unit_test(test_send_receive_v6),
        cmocka_unit_test(test_large_datagram),
        cmocka_unit_test(test_callback_order),
        cmocka_unit_test(test_close_from_callback),
        cmocka_unit_test(test_icmp_refused_goes_to_error_received),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_host_names),
        cmocka_unit_test(test_replies_reach_each_sender),
        cmocka_unit_test(test_adopt_connected_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
