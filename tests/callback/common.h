/* What the transport tests share: a protocol that records every callback,
 * loop helpers and socket pairs. Included by one test file each. */
#ifndef PETAL_TESTS_CALLBACK_COMMON_H
#define PETAL_TESTS_CALLBACK_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "petal/sock.h"
#include "petal/transport.h"

/* What one transport saw. log is the order of callbacks: M (made), D (data),
 * E (eof), L (lost), P (pause_writing), R (resume_writing). */
struct rec {
    char log[256];
    size_t nlog;
    int lost_err;
    int made, lost, eofs, pauses, resumes;
    unsigned char *data;        /* everything received */
    size_t len, cap;
    bool keep_open;             /* eof_received's answer */
    bool echo;                  /* write back what arrives */
    bool in_api;                /* set by a test around petal_transport_* calls */
    bool reentered;             /* a callback ran while in_api */
    size_t buffered_at_pause, buffered_at_resume;
    petal_transport_t *t;
    void (*on_made)(struct rec *r);
    void (*on_data)(struct rec *r);
    void (*on_resume)(struct rec *r);
    void *ctx;
};

static inline void rec_log(struct rec *r, char c)
{
    if (r->in_api) r->reentered = true;
    if (r->nlog + 1 < sizeof r->log) r->log[r->nlog++] = c;
    r->log[r->nlog] = 0;
}

static inline void rec_made(petal_transport_t *t, void *u)
{
    struct rec *r = u;
    r->t = t;
    r->made++;
    rec_log(r, 'M');
    if (r->on_made) r->on_made(r);
}

static inline void rec_data(petal_transport_t *t, const void *d, size_t n, void *u)
{
    struct rec *r = u;
    /* one D per run of data, so logs do not depend on how the kernel splits it */
    if (!r->nlog || r->log[r->nlog - 1] != 'D') rec_log(r, 'D');
    else if (r->in_api) r->reentered = true;
    if (r->len + n > r->cap) {
        r->cap = (r->len + n) * 2;
        r->data = realloc(r->data, r->cap);
        assert_non_null(r->data);
    }
    memcpy(r->data + r->len, d, n);
    r->len += n;
    if (r->echo) assert_int_equal(petal_transport_write(t, d, n), 0);
    if (r->on_data) r->on_data(r);
}

static inline bool rec_eof(petal_transport_t *t, void *u)
{
    (void)t;
    struct rec *r = u;
    r->eofs++;
    rec_log(r, 'E');
    return r->keep_open;
}

static inline void rec_lost(petal_transport_t *t, int err, void *u)
{
    struct rec *r = u;
    assert_ptr_equal(t, r->t);
    r->lost++;
    r->lost_err = err;
    rec_log(r, 'L');
    /* writes after the end fail */
    assert_int_equal(petal_transport_write(t, "x", 1), -EPIPE);
    r->t = NULL;
}

static inline void rec_pause(petal_transport_t *t, void *u)
{
    struct rec *r = u;
    r->pauses++;
    r->buffered_at_pause = petal_transport_get_write_buffer_size(t);
    if (r->nlog + 1 < sizeof r->log) r->log[r->nlog++] = 'P';
    r->log[r->nlog] = 0;
}

static inline void rec_resume(petal_transport_t *t, void *u)
{
    struct rec *r = u;
    r->resumes++;
    r->buffered_at_resume = petal_transport_get_write_buffer_size(t);
    rec_log(r, 'R');
    if (r->on_resume) r->on_resume(r);
}

static const petal_protocol_t rec_proto = {
    .connection_made = rec_made,
    .data_received = rec_data,
    .eof_received = rec_eof,
    .connection_lost = rec_lost,
    .pause_writing = rec_pause,
    .resume_writing = rec_resume,
};

static inline void rec_free(struct rec *r)
{
    free(r->data);
    r->data = NULL;
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs iterations until cond(arg) holds; fails the test after limit_s. A
 * timer keeps every iteration short. */
static inline void tick_cb(petal_loop_t *l, void *a) { (void)l; (void)a; }

static inline void run_until(petal_loop_t *loop, bool (*cond)(void *), void *arg, double limit_s)
{
    double end = now_s() + limit_s;
    while (!cond(arg)) {
        if (now_s() > end) fail_msg("condition not reached in %.1f s", limit_s);
        petal_handle_t h = petal_call_later(loop, 0.01, tick_cb, NULL);
        assert_true(h > 0);
        assert_int_equal(petal_loop_run_once(loop), 0);
        petal_cancel(loop, h);
    }
}

/* Runs n iterations. */
static inline void run_iters(petal_loop_t *loop, int n)
{
    for (int i = 0; i < n; i++) {
        petal_handle_t h = petal_call_later(loop, 0.002, tick_cb, NULL);
        assert_int_equal(petal_loop_run_once(loop), 0);
        petal_cancel(loop, h);
    }
}

static inline bool is_lost(void *arg) { return ((struct rec *)arg)->lost > 0; }
static inline bool is_made(void *arg) { return ((struct rec *)arg)->made > 0; }

static inline bool has_eof(void *arg) { return ((struct rec *)arg)->eofs > 0; }

static inline bool got_len(void *arg)
{
    struct rec *r = arg;
    return r->len >= (size_t)(uintptr_t)r->ctx;
}

/* Runs iterations until r received at least n bytes (uses r->ctx). */
static inline void run_until_len(petal_loop_t *loop, struct rec *r, size_t n, double limit_s)
{
    r->ctx = (void *)(uintptr_t)n;
    run_until(loop, got_len, r, limit_s);
}

static inline petal_loop_t *new_loop(void)
{
    petal_loop_t *loop;
    assert_int_equal(petal_loop_new(&loop), 0);
    return loop;
}

static inline void free_loop(petal_loop_t *loop)
{
    run_iters(loop, 3);    /* let scheduled releases run */
    assert_int_equal(petal_loop_free(loop), 0);
}

/* A connected pair of stream sockets: Unix socketpair, both non-blocking. */
static inline void unix_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

/* A connected TCP pair over 127.0.0.1. */
static inline void tcp_pair(int sv[2])
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &alen), 0);
    sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(sv[0], (struct sockaddr *)&a, sizeof a), 0);
    sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    assert_true(sv[1] >= 0);
    close(l);
}

/* Adopts one end of a fresh pair (Unix, or TCP over 127.0.0.1: the
 * accepted end) as a transport recording into r; *peer gets the raw end. */
static inline petal_transport_t *adopt_pair(petal_loop_t *loop, struct rec *r, bool tcp, int *peer)
{
    int sv[2];
    if (tcp) tcp_pair(sv);
    else unix_pair(sv);
    int mine = tcp ? 1 : 0;
    petal_transport_t *t;
    assert_int_equal(petal_transport_adopt(loop, &rec_proto, r, sv[mine], &t), 0);
    *peer = sv[!mine];
    return t;
}

/* Reads everything the raw end gets until EOF (or limit bytes), running the
 * loop meanwhile. Returns the bytes read (malloc'd). */
static inline unsigned char *drain_raw(petal_loop_t *loop, int fd, size_t *len, bool until_eof, size_t limit, double limit_s)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    double end = now_s() + limit_s;
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t k = recv(fd, buf + n, cap - n, MSG_DONTWAIT);
        if (k > 0) {
            n += (size_t)k;
            if (!until_eof && n >= limit) break;
            continue;
        }
        if (k == 0) break;
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
        if (now_s() > end) fail_msg("peer did not finish in %.1f s (%zu bytes)", limit_s, n);
        run_iters(loop, 1);
    }
    *len = n;
    return buf;
}

/* Reads the raw end until EOF and checks it got exactly want[0..n). */
static inline void expect_raw(petal_loop_t *loop, int fd, const void *want, size_t n, double limit_s)
{
    size_t got_n;
    unsigned char *got = drain_raw(loop, fd, &got_n, true, 0, limit_s);
    assert_int_equal(got_n, n);
    assert_memory_equal(got, want, n);
    free(got);
}

static inline unsigned char pattern_byte(size_t i, unsigned seed)
{
    return (unsigned char)((i * 7 + (i >> 9) * 13 + seed * 101) & 0xff);
}

static inline unsigned char *pattern(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++) p[i] = pattern_byte(i, seed);
    return p;
}

static inline bool is_uring_backend(petal_loop_t *loop)
{
    return strcmp(petal_loop_backend(loop), "uring") == 0;
}

#endif
