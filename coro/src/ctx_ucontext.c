/* Portable context switch over POSIX ucontext (makecontext/swapcontext).
 * Slow (swapcontext saves the signal mask with a system call) but needs no
 * assembly; built with -DPETAL_CORO_UCONTEXT. */
#ifdef PETAL_CORO_UCONTEXT
#include "ctx.h"

#include <stdlib.h>

void petal_ctx_make(petal_ctx *ctx, char *lo, size_t size, void (*entry)(void))
{
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    makecontext(&ctx->uc, entry, 0);
}

void petal_ctx_swap(petal_ctx *from, petal_ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}

/* The scratch context of this thread: runs fn(arg), then resumes to. */
static _Thread_local struct {
    petal_ctx ctx;
    void (*fn)(void *);
    void *arg;
    petal_ctx *to;
} scratch;

static void scratch_main(void)
{
    scratch.fn(scratch.arg);
    setcontext(&scratch.to->uc);
    abort();
}

void petal_ctx_swap_via(petal_ctx *from, petal_ctx *to, void (*fn)(void *), void *arg,
                        char *scratch_lo, size_t scratch_size)
{
    scratch.fn = fn;
    scratch.arg = arg;
    scratch.to = to;
    petal_ctx_make(&scratch.ctx, scratch_lo, scratch_size, scratch_main);
    swapcontext(&from->uc, &scratch.ctx.uc);
}

char *petal_ctx_sp(const petal_ctx *ctx)
{
#if defined(__x86_64__)
    return (char *)ctx->uc.uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (char *)ctx->uc.uc_mcontext.sp;
#else
    (void)ctx;
    return NULL; /* unknown: the shared mode then saves its whole stack */
#endif
}
#endif
