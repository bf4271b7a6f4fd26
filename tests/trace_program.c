/* A program written once against petal and linked against each backend
 * (//tests:trace_<backend>): it prints the order in which its callbacks ran,
 * and //tests:same_output checks that every backend prints the same. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "petal/future.h"
#include "petal/loop.h"
#include "petal/sock.h"

static int sock[2];
static petal_future_t *fut;

static void say(petal_loop_t *loop, void *arg)
{
    (void)loop;
    printf("%s\n", (const char *)arg);
}

static void stop(petal_loop_t *loop, void *arg)
{
    say(loop, arg);
    petal_loop_stop(loop);
}

static void write_now(petal_loop_t *loop, void *arg);

/* Runs in the second iteration; starts the timed part from there, with gaps
 * wide enough that a slow iteration (sanitizers, a loaded machine) cannot
 * reorder it. */
static void second_iteration(petal_loop_t *loop, void *arg)
{
    say(loop, arg);
    petal_call_later(loop, 0.250, say, "timer 250 ms (a)");
    petal_call_later(loop, 0.250, say, "timer 250 ms (b)");
    petal_call_later(loop, 0.100, write_now, NULL);
}

static void chain(petal_loop_t *loop, void *arg)
{
    say(loop, arg);
    petal_call_soon(loop, second_iteration, "soon scheduled by a callback: next iteration");
}

static void on_readable(petal_loop_t *loop, int fd, int status, void *arg)
{
    (void)arg;
    char buf[16];
    ssize_t n = read(fd, buf, sizeof buf);
    printf("reader: status %d, read %zd bytes\n", status, n);
    petal_remove_reader(loop, fd);
    petal_future_set_result(fut, "future result", NULL);
}

static void on_done(petal_future_t *f, void *arg)
{
    (void)arg;
    void *v;
    petal_future_result(f, &v);
    printf("future done: %s\n", (const char *)v);
}

static void write_now(petal_loop_t *loop, void *arg)
{
    (void)loop;
    (void)arg;
    printf("timer 100 ms: writing\n");
    if (write(sock[1], "hello", 5) != 5) perror("write");
}

int main(void)
{
    petal_loop_t *loop;
    int rc = petal_loop_new(&loop);
    if (rc) {
        fprintf(stderr, "petal_loop_new: %s\n", petal_strerror(rc));
        return 1;
    }
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sock);
    petal_future_new(loop, &fut);
    petal_future_add_done_callback(fut, on_done, NULL);

    petal_call_later(loop, 0.0, say, "timer 0 ms");
    petal_call_soon(loop, say, "soon 1");
    petal_call_soon(loop, chain, "soon 2");
    petal_handle_t h = petal_call_soon(loop, say, "cancelled: never printed");
    petal_call_soon(loop, say, "soon 3");
    printf("cancel: %s\n", petal_strerror(petal_cancel(loop, h)));
    printf("cancel again: %s\n", petal_strerror(petal_cancel(loop, h)));
    petal_add_reader(loop, sock[0], on_readable, NULL);
    printf("run until the future is done: %s\n", petal_strerror(petal_loop_run_until_complete(loop, fut)));

    char buf[8] = { 0 };
    petal_future_t *recv;
    (void)!write(sock[1], "sock", 4);
    petal_sock_recv(loop, sock[0], buf, sizeof buf, &recv);
    petal_loop_run_until_complete(loop, recv);
    printf("sock_recv: %zd bytes \"%s\"\n", petal_sock_result(recv), buf);

    petal_call_later(loop, 0.400, stop, "timer 400 ms: stop");
    petal_loop_run(loop);

    petal_future_release(recv);
    petal_future_release(fut);
    printf("fd_closing: %s\n", petal_strerror(petal_fd_closing(loop, sock[0])));
    close(sock[0]);
    close(sock[1]);
    printf("free: %s\n", petal_strerror(petal_loop_free(loop)));
    return 0;
}
