/* Name resolution and the executor pool (petal/resolve.h, petal/executor.h),
 * the same on every backend. No network: names come from /etc/hosts
 * ("localhost") or are numeric. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "petal/executor.h"
#include "petal/resolve.h"

static petal_loop_t *new_loop(void)
{
    petal_loop_t *loop;
    assert_int_equal(petal_loop_new(&loop), 0);
    return loop;
}

/* Runs the loop until fut is done; returns its status. */
static int wait_for(petal_loop_t *loop, petal_future_t *fut)
{
    return petal_loop_run_until_complete(loop, fut);
}

static const struct sockaddr_in *first_v4(const struct addrinfo *ai)
{
    for (; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) return (const struct sockaddr_in *)ai->ai_addr;
    return NULL;
}

static void test_localhost_goes_through_the_pool(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
    petal_future_t *fut;
    assert_int_equal(petal_executor_workers(loop), 0);   /* threads are lazy */
    assert_int_equal(petal_getaddrinfo(loop, "localhost", "8080", &hints, &fut), 0);
    assert_false(petal_future_done(fut));
    assert_int_equal(petal_executor_workers(loop), 1);
    assert_int_equal(wait_for(loop, fut), 0);
    const struct addrinfo *ai;
    assert_int_equal(petal_getaddrinfo_result(fut, &ai), 0);
    const struct sockaddr_in *sin = first_v4(ai);
    assert_non_null(sin);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_int_equal(ntohs(sin->sin_port), 8080);
    assert_int_equal(ai->ai_socktype, SOCK_STREAM);
    petal_future_release(fut);
    assert_int_equal(petal_loop_free(loop), 0);
}

static void test_numeric_needs_no_thread_but_same_order(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct addrinfo hints = { .ai_socktype = SOCK_DGRAM };
    petal_future_t *f4, *f6;
    assert_int_equal(petal_getaddrinfo(loop, "127.0.0.1", "53", &hints, &f4), 0);
    assert_int_equal(petal_getaddrinfo(loop, "::1", "53", &hints, &f6), 0);
    /* not done before the loop runs, like a looked-up name */
    assert_false(petal_future_done(f4));
    assert_false(petal_future_done(f6));
    assert_int_equal(wait_for(loop, f6), 0);
    assert_true(petal_future_done(f4));
    assert_int_equal(petal_executor_workers(loop), 0);
    const struct addrinfo *ai;
    assert_int_equal(petal_getaddrinfo_result(f4, &ai), 0);
    assert_int_equal(ai->ai_family, AF_INET);
    assert_null(ai->ai_next);
    assert_int_equal(petal_getaddrinfo_result(f6, &ai), 0);
    assert_int_equal(ai->ai_family, AF_INET6);
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ai->ai_addr;
    assert_true(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
    assert_int_equal(ntohs(s6->sin6_port), 53);
    petal_future_release(f4);
    petal_future_release(f6);
    assert_int_equal(petal_loop_free(loop), 0);
}

static void test_unknown_host_is_an_eai_code(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    petal_future_t *fut;
    assert_int_equal(petal_getaddrinfo(loop, "no-such-host.invalid", NULL, NULL, &fut), 0);
    int rc = wait_for(loop, fut);
    /* NONAME with a name server or none; AGAIN if one exists but is silent */
    assert_true(rc == PETAL_EAI_NONAME || rc == PETAL_EAI_AGAIN);
    assert_int_equal(rc, PETAL_EAI_BASE + (rc == PETAL_EAI_NONAME ? EAI_NONAME : EAI_AGAIN));
    assert_true(rc <= -4301 && rc >= -4399);
    assert_string_equal(petal_strerror(rc), gai_strerror(rc - PETAL_EAI_BASE));
    const struct addrinfo *ai = (const void *)1;
    assert_int_equal(petal_getaddrinfo_result(fut, &ai), rc);
    assert_null(ai);
    petal_future_release(fut);
    assert_int_equal(petal_loop_free(loop), 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    petal_future_t *fut = (void *)1;
    assert_int_equal(petal_getaddrinfo(loop, "localhost", NULL, NULL, NULL), PETAL_EINVAL);
    assert_int_equal(petal_getaddrinfo(NULL, "localhost", NULL, NULL, &fut), PETAL_EINVAL);
    assert_null(fut);
    assert_int_equal(petal_getaddrinfo(loop, NULL, NULL, NULL, &fut), PETAL_EINVAL);
    assert_int_equal(petal_getnameinfo(loop, NULL, 0, 0, &fut), PETAL_EINVAL);
    struct sockaddr_in sin = { .sin_family = AF_INET };
    assert_int_equal(petal_getnameinfo(loop, (struct sockaddr *)&sin, 1, 0, &fut), PETAL_EINVAL);
    assert_int_equal(petal_run_in_executor(loop, NULL, NULL, NULL, &fut), PETAL_EINVAL);
    assert_int_equal(petal_executor_set_max_workers(loop, 0), PETAL_EINVAL);
    assert_int_equal(petal_executor_set_max_workers(loop, 65), PETAL_EINVAL);
    assert_int_equal(petal_getaddrinfo_result(NULL, NULL), PETAL_EINVAL);

    /* errors the C library finds come back through the future */
    struct addrinfo numeric = { .ai_flags = AI_NUMERICHOST };
    assert_int_equal(petal_getaddrinfo(loop, "localhost", NULL, &numeric, &fut), 0);
    assert_int_equal(wait_for(loop, fut), PETAL_EAI_NONAME);
    petal_future_release(fut);
    struct addrinfo family = { .ai_family = 12345 };
    assert_int_equal(petal_getaddrinfo(loop, "localhost", NULL, &family, &fut), 0);
    assert_int_equal(wait_for(loop, fut), PETAL_EAI_FAMILY);
    petal_future_release(fut);
    struct addrinfo sock = { .ai_socktype = SOCK_RAW, .ai_protocol = 0 };
    assert_int_equal(petal_getaddrinfo(loop, "127.0.0.1", "http", &sock, &fut), 0);
    assert_int_equal(wait_for(loop, fut), PETAL_EAI_SERVICE);
    petal_future_release(fut);

    assert_int_equal(petal_eai_error(0, 0), 0);
    assert_int_equal(petal_eai_error(EAI_MEMORY, 0), PETAL_ENOMEM);
    assert_int_equal(petal_eai_error(EAI_SYSTEM, EMFILE), -EMFILE);
    assert_int_equal(petal_eai_error(EAI_NONAME, 0), PETAL_EAI_NONAME);

    assert_int_equal(petal_loop_close(loop), 0);
    assert_int_equal(petal_getaddrinfo(loop, "localhost", NULL, NULL, &fut), PETAL_ECLOSED);
    assert_int_equal(petal_executor_workers(loop), PETAL_ECLOSED);
    assert_int_equal(petal_loop_free(loop), 0);
}

static void test_getnameinfo(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    petal_future_t *num, *name;
    assert_int_equal(petal_getnameinfo(loop, (struct sockaddr *)&sin, sizeof sin, NI_NUMERICHOST | NI_NUMERICSERV,
                                       &num), 0);
    assert_int_equal(petal_getnameinfo(loop, (struct sockaddr *)&sin, sizeof sin, NI_NUMERICSERV, &name), 0);
    assert_int_equal(wait_for(loop, name), 0);
    assert_int_equal(wait_for(loop, num), 0);
    const petal_nameinfo_t *ni;
    assert_int_equal(petal_getnameinfo_result(num, &ni), 0);
    assert_string_equal(ni->host, "127.0.0.1");
    assert_string_equal(ni->service, "80");
    assert_int_equal(petal_getnameinfo_result(name, &ni), 0);
    assert_string_equal(ni->host, "localhost");   /* /etc/hosts */
    petal_future_release(num);
    petal_future_release(name);
    assert_int_equal(petal_loop_free(loop), 0);
}

/* ---- executor: a job that blocks until the test lets it go -------------- */

struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int entered;
};

static void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->open = false;
    g->entered = 0;
}

static void gate_open(struct gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait_entered(struct gate *g, int n)
{
    for (;;) {
        pthread_mutex_lock(&g->mu);
        int e = g->entered;
        pthread_mutex_unlock(&g->mu);
        if (e >= n) return;
        usleep(1000);
    }
}

static atomic_int values_alive, args_freed, ran;

static void value_free(void *v)
{
    free(v);
    atomic_fetch_sub(&values_alive, 1);
}

static void arg_free(void *a)
{
    (void)a;
    atomic_fetch_add(&args_freed, 1);
}

/* Waits at the gate, then returns a heap value (so a leak would show). */
static int gated_job(void *arg, void **value, petal_dtor *dtor)
{
    struct gate *g = arg;
    atomic_fetch_add(&ran, 1);
    pthread_mutex_lock(&g->mu);
    g->entered++;
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    *value = malloc(16);
    *dtor = value_free;
    atomic_fetch_add(&values_alive, 1);
    return 0;
}

static int failing_job(void *arg, void **value, petal_dtor *dtor)
{
    (void)arg;
    (void)value;
    (void)dtor;
    return -EPROTO;
}

static void reset_counters(void)
{
    atomic_store(&values_alive, 0);
    atomic_store(&args_freed, 0);
    atomic_store(&ran, 0);
}

static void test_executor_result_error_and_bound(void **state)
{
    (void)state;
    reset_counters();
    petal_loop_t *loop = new_loop();
    assert_int_equal(petal_executor_max_workers(loop), 4);
    struct gate g;
    gate_init(&g);
    petal_future_t *f[10];
    for (int i = 0; i < 10; i++) assert_int_equal(petal_run_in_executor(loop, gated_job, &g, arg_free, &f[i]), 0);
    gate_wait_entered(&g, 4);
    usleep(20000);
    /* never more threads than the bound, however many jobs wait */
    assert_int_equal(petal_executor_workers(loop), 4);
    assert_int_equal(atomic_load(&ran), 4);
    gate_open(&g);
    for (int i = 0; i < 10; i++) {
        void *v;
        assert_int_equal(wait_for(loop, f[i]), 0);
        assert_int_equal(petal_future_result(f[i], &v), 0);
        assert_non_null(v);
    }
    assert_int_equal(atomic_load(&args_freed), 10);
    assert_int_equal(atomic_load(&values_alive), 10);   /* owned by the futures */
    for (int i = 0; i < 10; i++) petal_future_release(f[i]);
    /* a pending done-callback holds its future until it runs */
    assert_int_equal(petal_loop_run_once(loop), 0);
    assert_int_equal(atomic_load(&values_alive), 0);

    petal_future_t *bad;
    assert_int_equal(petal_run_in_executor(loop, failing_job, NULL, NULL, &bad), 0);
    assert_int_equal(wait_for(loop, bad), -EPROTO);
    petal_future_release(bad);
    assert_int_equal(petal_loop_free(loop), 0);
}

static void test_cancel_queued_and_running(void **state)
{
    (void)state;
    reset_counters();
    petal_loop_t *loop = new_loop();
    assert_int_equal(petal_executor_set_max_workers(loop, 1), 0);
    struct gate g;
    gate_init(&g);
    petal_future_t *running, *queued, *after;
    assert_int_equal(petal_run_in_executor(loop, gated_job, &g, arg_free, &running), 0);
    assert_int_equal(petal_run_in_executor(loop, gated_job, &g, arg_free, &queued), 0);
    gate_wait_entered(&g, 1);
    assert_int_equal(petal_future_cancel(running), 0);
    assert_int_equal(petal_future_cancel(queued), 0);
    /* a lookup cancelled while queued behind them */
    petal_future_t *lookup;
    assert_int_equal(petal_getaddrinfo(loop, "localhost", NULL, NULL, &lookup), 0);
    assert_int_equal(petal_future_cancel(lookup), 0);
    petal_future_release(lookup);
    assert_int_equal(petal_run_in_executor(loop, failing_job, NULL, NULL, &after), 0);
    assert_int_equal(petal_loop_run_once(loop), 0);    /* done-callbacks drop the queued job */
    assert_int_equal(atomic_load(&args_freed), 1);
    gate_open(&g);
    assert_int_equal(wait_for(loop, after), -EPROTO);   /* FIFO: the running job finished first */
    assert_int_equal(atomic_load(&ran), 1);             /* the cancelled queued job never ran */
    assert_int_equal(atomic_load(&args_freed), 2);
    assert_int_equal(atomic_load(&values_alive), 0);    /* the running job's result was freed */
    assert_int_equal(petal_future_result(running, NULL), PETAL_ECANCELED);
    petal_future_release(running);
    petal_future_release(queued);
    petal_future_release(after);
    assert_int_equal(petal_loop_free(loop), 0);
}

static void test_many_concurrent_lookups(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    enum { N = 300 };
    petal_future_t *f[N];
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_DGRAM };
    char port[16];
    for (int i = 0; i < N; i++) {
        snprintf(port, sizeof port, "%d", 1000 + i);
        assert_int_equal(petal_getaddrinfo(loop, i % 3 ? "localhost" : "127.0.0.1", port, &hints, &f[i]), 0);
    }
    assert_true(petal_executor_workers(loop) <= 4);
    for (int i = 0; i < N; i++) {
        assert_int_equal(wait_for(loop, f[i]), 0);
        const struct addrinfo *ai;
        assert_int_equal(petal_getaddrinfo_result(f[i], &ai), 0);
        const struct sockaddr_in *sin = first_v4(ai);
        assert_non_null(sin);
        assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
        assert_int_equal(ntohs(sin->sin_port), 1000 + i);
        petal_future_release(f[i]);
    }
    assert_true(petal_executor_workers(loop) <= 4);
    assert_int_equal(petal_loop_free(loop), 0);
}

struct opener {
    struct gate *g;
    useconds_t delay;
};

static void *open_later(void *arg)
{
    struct opener *o = arg;
    usleep(o->delay);
    gate_open(o->g);
    return NULL;
}

/* Freeing the loop with jobs running, queued and delivered-but-not-run:
 * no leak (ASan), no crash, no thread left behind. */
static void test_loop_free_with_work_in_flight(void **state)
{
    (void)state;
    reset_counters();
    petal_loop_t *loop = new_loop();
    struct gate g;
    gate_init(&g);
    petal_future_t *f[12];
    for (int i = 0; i < 6; i++) assert_int_equal(petal_run_in_executor(loop, gated_job, &g, arg_free, &f[i]), 0);
    for (int i = 6; i < 12; i++) assert_int_equal(petal_getaddrinfo(loop, "localhost", "80", NULL, &f[i]), 0);
    gate_wait_entered(&g, 4);
    struct opener o = { &g, 50000 };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, open_later, &o), 0);
    /* waits for the 4 running jobs, drops the 2 queued ones and the lookups */
    assert_int_equal(petal_loop_free(loop), 0);
    pthread_join(t, NULL);
    assert_int_equal(atomic_load(&ran), 4);
    assert_int_equal(atomic_load(&args_freed), 6);
    assert_int_equal(atomic_load(&values_alive), 0);
    for (int i = 0; i < 12; i++) {
        assert_false(petal_future_done(f[i]));   /* never completed: the loop is gone */
        petal_future_release(f[i]);
    }
}

static int sleepy_job(void *arg, void **value, petal_dtor *dtor)
{
    (void)value;
    (void)dtor;
    struct timespec ts = { 0, *(long *)arg };
    nanosleep(&ts, NULL);
    return 0;
}

struct order {
    char log[8];
    int n;
};

static void timer_fired(petal_loop_t *loop, void *arg)
{
    (void)loop;
    struct order *o = arg;
    o->log[o->n++] = 't';
}

static void job_done(petal_future_t *f, void *arg)
{
    (void)f;
    struct order *o = arg;
    o->log[o->n++] = 'j';
}

/* A blocking call in the pool (500 ms) does not hold up a 10 ms timer: the
 * timer fires first. If the loop thread blocked, the order would flip. */
static void test_slow_work_does_not_block_timers(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    struct order o = { { 0 }, 0 };
    long ns = 500 * 1000 * 1000;
    petal_future_t *slow, *lookup;
    assert_int_equal(petal_run_in_executor(loop, sleepy_job, &ns, NULL, &slow), 0);
    assert_int_equal(petal_future_add_done_callback(slow, job_done, &o), 0);
    assert_true(petal_call_later(loop, 0.01, timer_fired, &o) > 0);
    /* a hosts lookup meanwhile uses another worker and is not held up either */
    assert_int_equal(petal_getaddrinfo(loop, "localhost", NULL, NULL, &lookup), 0);
    assert_int_equal(wait_for(loop, lookup), 0);
    assert_false(petal_future_done(slow));
    assert_int_equal(wait_for(loop, slow), 0);
    assert_int_equal(petal_loop_run_once(loop), 0);   /* the done-callback */
    assert_string_equal(o.log, "tj");
    petal_future_release(slow);
    petal_future_release(lookup);
    assert_int_equal(petal_loop_free(loop), 0);
}

static int quick_job(void *arg, void **value, petal_dtor *dtor)
{
    (void)arg;
    (void)value;
    (void)dtor;
    return 0;
}

/* Idle workers leave; the next job starts a new one. */
static void test_idle_workers_exit(void **state)
{
    (void)state;
    petal_loop_t *loop = new_loop();
    assert_int_equal(petal_executor_set_idle_timeout(loop, 0.0), PETAL_EINVAL);
    assert_int_equal(petal_executor_set_idle_timeout(loop, 0.0 / 0.0), PETAL_EINVAL);
    assert_int_equal(petal_executor_set_idle_timeout(loop, 0.05), 0);
    for (int round = 0; round < 2; round++) {
        petal_future_t *f[3];
        for (int i = 0; i < 3; i++) assert_int_equal(petal_run_in_executor(loop, quick_job, NULL, NULL, &f[i]), 0);
        assert_true(petal_executor_workers(loop) >= 1);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(wait_for(loop, f[i]), 0);
            petal_future_release(f[i]);
        }
        for (int i = 0; i < 200 && petal_executor_workers(loop) > 0; i++) usleep(5000);
        assert_int_equal(petal_executor_workers(loop), 0);
    }
    assert_int_equal(petal_loop_free(loop), 0);
}

/* Each thread runs its own loop with its own pool: nothing is shared. */
static void *loop_thread(void *arg)
{
    int *ok = arg;
    petal_loop_t *loop;
    if (petal_loop_new(&loop)) return NULL;
    enum { M = 50 };
    petal_future_t *f[M];
    struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
    int good = 0;
    for (int i = 0; i < M; i++)
        if (petal_getaddrinfo(loop, "localhost", "7", &hints, &f[i])) f[i] = NULL;
    for (int i = 0; i < M; i++) {
        if (!f[i]) continue;
        const struct addrinfo *ai;
        if (wait_for(loop, f[i]) == 0 && petal_getaddrinfo_result(f[i], &ai) == 0 && first_v4(ai)) good++;
        petal_future_release(f[i]);
    }
    if (petal_executor_workers(loop) > 4) good = -1;
    if (petal_loop_free(loop) == 0) *ok = good;
    return NULL;
}

static void test_loops_on_two_threads(void **state)
{
    (void)state;
    pthread_t t[2];
    int ok[2] = { 0, 0 };
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&t[i], NULL, loop_thread, &ok[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    assert_int_equal(ok[0], 50);
    assert_int_equal(ok[1], 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_localhost_goes_through_the_pool),
        cmocka_unit_test(test_numeric_needs_no_thread_but_same_order),
        cmocka_unit_test(test_unknown_host_is_an_eai_code),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_getnameinfo),
        cmocka_unit_test(test_executor_result_error_and_bound),
        cmocka_unit_test(test_cancel_queued_and_running),
        cmocka_unit_test(test_many_concurrent_lookups),
        cmocka_unit_test(test_loop_free_with_work_in_flight),
        cmocka_unit_test(test_slow_work_does_not_block_timers),
        cmocka_unit_test(test_idle_workers_exit),
        cmocka_unit_test(test_loops_on_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
