/* Stack overflow is caught and named. Running off a stack touches its
 * guard region; the kernel raises SIGSEGV. The handler runs on an
 * alternate signal stack (the faulting stack is unusable), checks whether
 * the fault lies in the current greenlet's guard, writes one line naming
 * the greenlet and its stack size, then restores the default action and
 * returns: the access faults again and the process dies of SIGSEGV, as it
 * would have without petal. Other faults go to the previous handler. */
#include "internal.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ALTSTACK_SIZE ((size_t)64 * 1024)

static struct sigaction previous; /* written once, under pthread_once */
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

struct line { char buf[256]; size_t len; };

static void put(struct line *l, const char *s)
{
    while (*s && l->len < sizeof l->buf - 1)
        l->buf[l->len++] = *s++;
}

static void put_num(struct line *l, uintptr_t v, unsigned base)
{
    char tmp[32];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (base == 16)
        put(l, "0x");
    while (n && l->len < sizeof l->buf - 1)
        l->buf[l->len++] = tmp[--n];
}

static void say(struct line *l)
{
    put(l, "\n");
    ssize_t w = write(STDERR_FILENO, l->buf, l->len);
    (void)w;
}

static void default_action(int sig)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
    int saved_errno = errno;
    struct petal_thread *t = petal_tls;
    petal_greenlet *g = t ? t->current : NULL;
    if (g && !g->is_main) {
        int shared = g->mode == PETAL_STACK_SHARED;
        char *lo = shared ? t->shared_lo : g->mem;
        size_t size = shared ? PETAL_GREENLET_SHARED_STACK : g->stack_size;
        char *a = si->si_addr;
        if (lo && a < lo && a >= lo - petal_guard_size()) {
            struct line l = {.len = 0};
            put(&l, "petal: stack overflow in greenlet \"");
            put(&l, g->name);
            put(&l, shared ? "\": ran off the shared stack of " : "\": ran off its stack of ");
            put_num(&l, size, 10);
            put(&l, " bytes (fault at ");
            put_num(&l, (uintptr_t)a, 16);
            put(&l, ")");
            say(&l);
            default_action(sig);
            errno = saved_errno;
            return;
        }
    }
    if (previous.sa_flags & SA_SIGINFO)
        previous.sa_sigaction(sig, si, uctx);
    else if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN)
        default_action(sig); /* the fault repeats and kills, as without us */
    else
        previous.sa_handler(sig);
    errno = saved_errno;
}

static void install_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous);
}

void petal_overflow_init(struct petal_thread *t)
{
    pthread_once(&handler_once, install_handler);
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0 && (cur.ss_flags & SS_DISABLE)) {
        char *p = mmap(NULL, ALTSTACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return; /* try again with the next greenlet */
        stack_t ss = {.ss_sp = p, .ss_size = ALTSTACK_SIZE, .ss_flags = 0};
        if (sigaltstack(&ss, NULL)) {
            munmap(p, ALTSTACK_SIZE);
            return;
        }
        t->altstack = p;
    }
    t->overflow_ready = 1;
}

void petal_overflow_free(struct petal_thread *t)
{
    if (t->altstack) {
        stack_t ss = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
        sigaltstack(&ss, NULL);
        munmap(t->altstack, ALTSTACK_SIZE);
        t->altstack = NULL;
    }
    t->overflow_ready = 0;
}

_Noreturn void petal_fatal_live_size(const petal_greenlet *g, size_t live)
{
    struct line l = {.len = 0};
    put(&l, "petal: greenlet \"");
    put(&l, g->name);
    put(&l, "\" holds ");
    put_num(&l, live, 10);
    put(&l, " live bytes of shared stack, over its limit of ");
    put_num(&l, g->stack_size, 10);
    put(&l, " bytes (or out of memory saving them)");
    say(&l);
    abort();
}
