/* green_echo: an echo server with one greenlet per connection, and a client
 * that checks every byte, on petal's hub.
 *
 *   green_echo [-b backend] [-s dedicated|shared] server [-p port]
 *       serves 127.0.0.1:port until SIGINT or SIGTERM
 *   green_echo [-b backend] [-s mode] client -p port [-c conns] [-m bytes] [-k chunk]
 *       conns concurrent connections each echo m bytes through that server
 *   green_echo [-b backend] [-s mode] demo [-c conns] [-m bytes] [-k chunk]
 *       both on one loop (the default: 100 connections x 1 MiB)
 * The client modes print
 *   green_echo: backend=<b> conns=<c> bytes=<m> ok=<c> wall_s=<s> mib_s=<rate>
 * and exit 0 only when every connection echoed every byte. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "examples/green_echo/echo.h"
#include "petal/green.h"

struct opts {
    const char *backend, *mode;
    int stack;
    long port, conns, chunk;
    long long bytes;
};

struct job {
    struct sockaddr_in addr;
    const struct opts *o;
    long id;
    int rc;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: green_echo [-b backend] [-s dedicated|shared] server [-p port]\n"
               "       green_echo [-b backend] [-s dedicated|shared] client -p port [-c conns] [-m bytes] [-k chunk]\n"
               "       green_echo [-b backend] [-s dedicated|shared] demo [-c conns] [-m bytes] [-k chunk]\n");
}

static long parse_long(const char *s, long lo, long hi, int *bad)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) *bad = 1;
    return v;
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){ .stack = PETAL_GREEN_STACK_DEDICATED, .port = -1, .conns = 100, .chunk = 64 * 1024,
                        .bytes = 1024 * 1024 };
    int c, bad = 0;
    while ((c = getopt(argc, argv, "+b:s:h")) != -1) {
        if (c == 'b') o->backend = optarg;
        else if (c == 's' && !strcmp(optarg, "dedicated")) o->stack = PETAL_GREEN_STACK_DEDICATED;
        else if (c == 's' && !strcmp(optarg, "shared")) o->stack = PETAL_GREEN_STACK_SHARED;
        else if (c == 'h') { usage(stdout); exit(0); }
        else return -1;
    }
    if (optind >= argc) return -1;
    o->mode = argv[optind];
    if (strcmp(o->mode, "server") && strcmp(o->mode, "client") && strcmp(o->mode, "demo")) return -1;
    optind++;
    while ((c = getopt(argc, argv, "p:c:m:k:")) != -1) {
        switch (c) {
        case 'p': o->port = parse_long(optarg, 0, 65535, &bad); break;
        case 'c': o->conns = parse_long(optarg, 1, 1000000, &bad); break;
        case 'm': o->bytes = parse_long(optarg, 0, 1L << 40, &bad); break;
        case 'k': o->chunk = parse_long(optarg, 1, 1L << 26, &bad); break;
        default: return -1;
        }
    }
    if (bad || optind != argc) return -1;
    if (!strcmp(o->mode, "client") && o->port <= 0) return -1;
    if (!strcmp(o->mode, "server") && o->port < 0) o->port = 0;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each connection and the server need an fd: raise the soft limit if needed. */
static void want_fds(long n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= (rlim_t)n) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)n ? (rlim_t)n : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static void *client_run(void *arg)
{
    struct job *j = arg;
    j->rc = green_echo_client(&j->addr, (size_t)j->o->bytes, (size_t)j->o->chunk, (uint32_t)j->id, 60);
    return NULL;
}

static int run_clients(petal_hub_t *hub, const struct opts *o, struct sockaddr_in addr, const char *backend)
{
    struct job *jobs = calloc((size_t)o->conns, sizeof *jobs);
    petal_green_t **gs = calloc((size_t)o->conns, sizeof *gs);
    if (!jobs || !gs) {
        free(jobs);
        free(gs);
        fprintf(stderr, "green_echo: out of memory\n");
        return 1;
    }
    double start = now_s();
    long spawned = 0, ok = 0;
    for (; spawned < o->conns; spawned++) {
        jobs[spawned] = (struct job){ .addr = addr, .o = o, .id = spawned, .rc = PETAL_ECANCELED };
        int rc = petal_green_spawn(hub, client_run, &jobs[spawned], NULL, &gs[spawned]);
        if (rc < 0) {
            fprintf(stderr, "green_echo: spawn: %s\n", petal_green_strerror(rc));
            break;
        }
    }
    int rc = petal_green_joinall(gs, (size_t)spawned, -1);
    double wall = now_s() - start;
    if (rc < 0) fprintf(stderr, "green_echo: joinall: %s\n", petal_green_strerror(rc));
    for (long i = 0; i < spawned; i++) {
        if (jobs[i].rc == 0) ok++;
        else if (ok + 10 > i) fprintf(stderr, "green_echo: connection %ld: %s\n", i, petal_green_strerror(jobs[i].rc));
        petal_green_release(gs[i]);
    }
    double mib = (double)o->bytes * (double)ok / (1024.0 * 1024.0);
    printf("green_echo: backend=%s conns=%ld bytes=%lld ok=%ld wall_s=%.3f mib_s=%.1f\n", backend, o->conns,
           o->bytes, ok, wall, wall > 0 ? mib / wall : 0);
    free(jobs);
    free(gs);
    return ok == o->conns ? 0 : 1;
}

static void on_signal(petal_loop_t *loop, void *arg)
{
    (void)loop;
    petal_green_event_set(arg);
}

static int serve_forever(petal_hub_t *hub, green_echo_server *srv)
{
    petal_loop_t *loop = petal_green_hub_loop(hub);
    petal_green_event *quit = NULL;
    int rc = petal_green_event_new(hub, &quit);
    if (rc == 0) rc = petal_add_signal_handler(loop, SIGINT, on_signal, quit);
    if (rc == 0) rc = petal_add_signal_handler(loop, SIGTERM, on_signal, quit);
    if (rc == 0) {
        struct sockaddr_in a = green_echo_server_addr(srv);
        printf("green_echo: serving 127.0.0.1:%u on %s\n", ntohs(a.sin_port), petal_loop_backend(loop));
        fflush(stdout);
        rc = petal_green_event_wait(quit, -1);
        printf("green_echo: %llu connections, %llu bytes echoed\n",
               (unsigned long long)green_echo_server_accepted(srv), (unsigned long long)green_echo_server_bytes(srv));
    }
    petal_remove_signal_handler(loop, SIGINT);
    petal_remove_signal_handler(loop, SIGTERM);
    if (quit) petal_green_event_free(quit);
    if (rc < 0) fprintf(stderr, "green_echo: %s\n", petal_green_strerror(rc));
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0) {
        usage(stderr);
        return 2;
    }
    want_fds(2 * o.conns + 64);
    petal_loop_t *loop;
    int rc = o.backend ? petal_loop_new_backend(&loop, o.backend) : petal_loop_new(&loop);
    if (rc < 0) {
        fprintf(stderr, "green_echo: loop %s: %s\n", o.backend ? o.backend : "", petal_strerror(rc));
        return 1;
    }
    petal_hub_t *hub;
    petal_green_hub_opts hopts = { .stack_mode = o.stack };
    rc = petal_green_hub_new(loop, &hopts, &hub);
    if (rc < 0) {
        fprintf(stderr, "green_echo: hub: %s\n", petal_green_strerror(rc));
        petal_loop_free(loop);
        return 1;
    }
    int status = 0;
    green_echo_server *srv = NULL;
    if (strcmp(o.mode, "client") != 0) {
        rc = green_echo_server_start(hub, (uint16_t)(o.port > 0 ? o.port : 0), NULL, &srv);
        if (rc < 0) {
            fprintf(stderr, "green_echo: listen: %s\n", petal_green_strerror(rc));
            status = 1;
        }
    }
    if (status == 0) {
        if (!strcmp(o.mode, "server")) {
            status = serve_forever(hub, srv) < 0;
        } else {
            struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o.port) };
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            if (srv) addr = green_echo_server_addr(srv);
            status = run_clients(hub, &o, addr, petal_loop_backend(loop));
        }
    }
    if (srv && (rc = green_echo_server_stop(srv)) < 0) {
        fprintf(stderr, "green_echo: stop: %s\n", petal_green_strerror(rc));
        status = 1;
    }
    petal_green_hub_free(hub);
    petal_loop_free(loop);
    return status;
}
