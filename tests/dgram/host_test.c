/* Host mode: the application owns the native loop and runs it itself
 * (uv_run, ev_run, event_base_dispatch); a name lookup through the pool and
 * a UDP echo on petal's datagram transports happen inside it, and the host's
 * run returns once both transports are closed. One source, one target per
 * host library (HOST_UV, HOST_EV, HOST_EVENT). */
#include "dgram_common.h"

#include "petal/resolve.h"

#if defined(HOST_UV)
#include "petal/uv.h"
#elif defined(HOST_EV)
#include "petal/ev.h"
#elif defined(HOST_EVENT)
#include <event2/event.h>

#include "petal/event.h"
#else
#error "one of HOST_UV, HOST_EV, HOST_EVENT"
#endif

struct app {
    petal_loop_t *loop;
    struct rec srv, cli;
    petal_datagram_transport_t *s, *c;
    int resolved;
};

static void client_got_echo(petal_datagram_transport_t *t, const void *data, size_t len,
                            const struct sockaddr *addr, socklen_t addrlen, void *user)
{
    struct app *a = user;
    rec_datagram(t, data, len, addr, addrlen, &a->cli);
    assert_int_equal(petal_datagram_close(a->c), 0);
    assert_int_equal(petal_datagram_close(a->s), 0);
}

static void client_made(petal_datagram_transport_t *t, void *user) { rec_made(t, &((struct app *)user)->cli); }
static void client_lost(petal_datagram_transport_t *t, int err, void *user)
{
    rec_lost(t, err, &((struct app *)user)->cli);
}

static void on_resolved(petal_future_t *fut, void *arg)
{
    struct app *a = arg;
    const struct addrinfo *ai;
    assert_int_equal(petal_getaddrinfo_result(fut, &ai), 0);
    a->resolved++;
    petal_datagram_protocol_t sp = rec_proto(&a->srv);
    a->srv.echo = true;
    assert_int_equal(petal_create_datagram_endpoint(a->loop, &sp, ai->ai_addr, ai->ai_addrlen, NULL, 0, NULL, &a->s), 0);
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    assert_int_equal(petal_datagram_get_sockname(a->s, (struct sockaddr *)&bound, &len), 0);
    memset(&a->cli, 0, sizeof a->cli);
    petal_datagram_protocol_t cp = { client_made, client_got_echo, NULL, client_lost, NULL, NULL, a };
    assert_int_equal(petal_create_datagram_endpoint(a->loop, &cp, NULL, 0, (struct sockaddr *)&bound, len, NULL, &a->c),
                     0);
    assert_int_equal(petal_datagram_sendto(a->c, "hosted", 6, NULL, 0), 0);
}

static void test_echo_inside_the_hosts_run(void **state)
{
    (void)state;
    struct app a = { 0 };
#if defined(HOST_UV)
    uv_loop_t host;
    assert_int_equal(uv_loop_init(&host), 0);
    assert_int_equal(petal_loop_new_uv(&a.loop, &host), 0);
#elif defined(HOST_EV)
    struct ev_loop *host = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(host);
    assert_int_equal(petal_loop_new_ev(&a.loop, host), 0);
#else
    struct event_base *host = event_base_new();
    assert_non_null(host);
    assert_int_equal(petal_loop_new_event(&a.loop, host), 0);
#endif
    assert_true(petal_loop_is_hosted(a.loop));
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM };
    petal_future_t *fut;
    assert_int_equal(petal_getaddrinfo(a.loop, "localhost", "0", &hints, &fut), 0);
    assert_int_equal(petal_future_add_done_callback(fut, on_resolved, &a), 0);

    /* the application's own run: returns when neither side has work left */
#if defined(HOST_UV)
    uv_run(&host, UV_RUN_DEFAULT);
#elif defined(HOST_EV)
    ev_run(host, 0);
#else
    assert_int_equal(event_base_dispatch(host), 1);   /* 1: no events left */
#endif
    assert_int_equal(a.resolved, 1);
    assert_string_equal(a.srv.log, "mdl");
    assert_string_equal(a.cli.log, "mdl");
    assert_memory_equal(a.cli.last, "hosted", 6);
    petal_future_release(fut);
    assert_int_equal(petal_loop_free(a.loop), 0);
#if defined(HOST_UV)
    uv_run(&host, UV_RUN_NOWAIT);   /* lets libuv finish closing petal's handles */
    assert_int_equal(uv_loop_close(&host), 0);
#elif defined(HOST_EV)
    ev_loop_destroy(host);
#else
    event_base_free(host);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_inside_the_hosts_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
