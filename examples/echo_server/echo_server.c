/* An echo server in callback style: every connection writes back what it
 * reads. When a client reads slower than it writes, the server stops
 * reading from it until its write buffer drains (pause/resume_writing).
 *
 *   echo_server HOST PORT      e.g. echo_server 127.0.0.1 0   (0: any free port)
 *
 * Prints "listening on ADDRESS:PORT" for every listening socket, then serves
 * until SIGINT or SIGTERM. The backend is $PETAL_BACKEND, or the default. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "petal/transport.h"

static void on_data(petal_transport_t *t, const void *data, size_t len, void *user)
{
    (void)user;
    petal_transport_write(t, data, len);
}

static bool on_eof(petal_transport_t *t, void *user)
{
    (void)t;
    (void)user;
    return false;    /* close once the echo is flushed */
}

static void on_pause(petal_transport_t *t, void *user)
{
    (void)user;
    petal_transport_pause_reading(t);
}

static void on_resume(petal_transport_t *t, void *user)
{
    (void)user;
    petal_transport_resume_reading(t);
}

static const petal_protocol_t echo = {
    .data_received = on_data,
    .eof_received = on_eof,
    .pause_writing = on_pause,
    .resume_writing = on_resume,
};

static void on_signal(petal_loop_t *loop, void *arg)
{
    petal_server_close(arg);
    petal_loop_stop(loop);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: echo_server HOST PORT\n");
        return 2;
    }
    petal_loop_t *loop;
    petal_server_t *server;
    int rc = petal_loop_new(&loop);
    if (rc == 0) rc = petal_create_server(loop, &echo, NULL, argv[1], atoi(argv[2]), 0, &server);
    if (rc) {
        fprintf(stderr, "echo_server: %s\n", petal_strerror(rc));
        return 1;
    }
    for (int i = 0; i < petal_server_count(server); i++) {
        struct sockaddr_storage a;
        socklen_t len;
        char host[INET6_ADDRSTRLEN];
        petal_server_address(server, i, &a, &len);
        int v6 = a.ss_family == AF_INET6;
        const void *ip = v6 ? (void *)&((struct sockaddr_in6 *)&a)->sin6_addr : (void *)&((struct sockaddr_in *)&a)->sin_addr;
        int port = ntohs(v6 ? ((struct sockaddr_in6 *)&a)->sin6_port : ((struct sockaddr_in *)&a)->sin_port);
        inet_ntop(a.ss_family, ip, host, sizeof host);
        printf(v6 ? "listening on [%s]:%d (%s)\n" : "listening on %s:%d (%s)\n", host, port, petal_loop_backend(loop));
    }
    fflush(stdout);
    petal_add_signal_handler(loop, SIGINT, on_signal, server);
    petal_add_signal_handler(loop, SIGTERM, on_signal, server);
    rc = petal_loop_run(loop);
    /* Connections still open are dropped with the loop. */
    petal_loop_free(loop);
    return rc ? 1 : 0;
}
