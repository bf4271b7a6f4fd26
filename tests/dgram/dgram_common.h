/* What the datagram tests share: a protocol that records its callbacks, and
 * running the loop until a condition holds. Included by one test file each. */
#ifndef PETAL_TESTS_DGRAM_COMMON_H
#define PETAL_TESTS_DGRAM_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "petal/datagram.h"

/* One letter per callback: m(ade) d(atagram) e(rror) l(ost) p(ause) r(esume). */
struct rec {
    char log[4096];
    int n;
    int datagrams, errors, first_err, last_err, lost_err;
    unsigned char last[70000];
    size_t last_len;
    struct sockaddr_storage from;
    socklen_t fromlen;
    bool echo;               /* send every datagram back to its sender */
    bool close_on_datagram;  /* close from inside datagram_received */
    petal_datagram_transport_t *t;
};

static inline void note(struct rec *r, char c)
{
    if (r->n < (int)sizeof r->log - 1) r->log[r->n++] = c;
}

static inline void rec_made(petal_datagram_transport_t *t, void *user)
{
    struct rec *r = user;
    r->t = t;
    note(r, 'm');
}

static inline void rec_datagram(petal_datagram_transport_t *t, const void *data, size_t len, const struct sockaddr *addr,
                         socklen_t addrlen, void *user)
{
    struct rec *r = user;
    note(r, 'd');
    r->datagrams++;
    assert_true(len <= sizeof r->last);
    memcpy(r->last, data, len);
    r->last_len = len;
    memcpy(&r->from, addr, addrlen);
    r->fromlen = addrlen;
    if (r->echo) assert_int_equal(petal_datagram_sendto(t, data, len, addr, addrlen), 0);
    if (r->close_on_datagram) assert_int_equal(petal_datagram_close(t), 0);
}

static inline void rec_error(petal_datagram_transport_t *t, int err, void *user)
{
    (void)t;
    struct rec *r = user;
    note(r, 'e');
    if (!r->errors++) r->first_err = err;
    r->last_err = err;
}

static inline void rec_lost(petal_datagram_transport_t *t, int err, void *user)
{
    struct rec *r = user;
    assert_ptr_equal(t, r->t);
    note(r, 'l');
    r->lost_err = err;
    r->t = NULL;
}

static inline void rec_pause(petal_datagram_transport_t *t, void *user)
{
    (void)t;
    note(user, 'p');
}

static inline void rec_resume(petal_datagram_transport_t *t, void *user)
{
    (void)t;
    note(user, 'r');
}

static inline petal_datagram_protocol_t rec_proto(struct rec *r)
{
    memset(r, 0, sizeof *r);
    return (petal_datagram_protocol_t){ rec_made, rec_datagram, rec_error, rec_lost, rec_pause, rec_resume, r };
}

static inline void nothing(petal_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
}

/* Runs iterations until pred(arg) holds; fails after 5 s. */
static inline void run_until(petal_loop_t *loop, bool (*pred)(void *), void *arg)
{
    double end = petal_time(loop) + 5.0;
    while (!pred(arg)) {
        assert_true(petal_time(loop) < end);
        petal_handle_t h = petal_call_later(loop, 0.02, nothing, NULL);   /* bounds the wait */
        assert_true(h > 0);
        assert_int_equal(petal_loop_run_once(loop), 0);
        petal_cancel(loop, h);
    }
}

static inline bool is_lost(void *arg) { return strchr(((struct rec *)arg)->log, 'l') != NULL; }
static inline bool is_made(void *arg) { return ((struct rec *)arg)->t != NULL; }
static inline bool got_error(void *arg) { return ((struct rec *)arg)->errors > 0; }
static inline bool got_datagram(void *arg) { return ((struct rec *)arg)->datagrams > 0; }

static inline struct sockaddr_in loopback4(uint16_t port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static inline struct sockaddr_in6 loopback6(uint16_t port)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    return a;
}

static inline petal_loop_t *new_loop(void)
{
    petal_loop_t *loop;
    assert_int_equal(petal_loop_new(&loop), 0);
    return loop;
}

#endif
