/* What the green tests share: a loop on the linked backend and its hub,
 * made and freed around every test; small socket helpers. Included by one
 * test file each (static definitions). */
#ifndef PETAL_TESTS_GREEN_COMMON_H
#define PETAL_TESTS_GREEN_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "petal/green.h"
#include "petal/sock.h"

static petal_loop_t *loop;
static petal_hub_t *hub;

static inline int setup_mode(int mode)
{
    if (petal_loop_new(&loop)) return -1;
    petal_green_hub_opts o = {.stack_mode = mode};
    return petal_green_hub_new(loop, &o, &hub) ? -1 : 0;
}

static inline int setup(void **state)
{
    (void)state;
    return setup_mode(PETAL_GREEN_STACK_DEFAULT);
}

static inline int setup_shared(void **state)
{
    (void)state;
    return setup_mode(PETAL_GREEN_STACK_SHARED);
}

static inline int teardown(void **state)
{
    (void)state;
    int rc = petal_green_hub_free(hub);
    hub = NULL;
    if (rc) return -1;
    return petal_loop_free(loop) ? -1 : 0;
}

/* A non-blocking TCP listener on 127.0.0.1, port in *addr. */
static inline int tcp_listener(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    socklen_t len = sizeof *addr;
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    assert_int_equal(listen(fd, 128), 0);
    return fd;
}

static inline int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    return fd;
}

static inline void close_fd(int fd)
{
    petal_fd_closing(loop, fd);
    close(fd);
}

#endif
