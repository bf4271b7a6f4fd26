/* The machine context switch: the only part that differs per CPU.
 * Two implementations: hand-written assembly (ctx_x86_64.S, ctx_aarch64.S,
 * ctx_asm.c) and portable ucontext (ctx_ucontext.c, built with
 * -DPETAL_CORO_UCONTEXT, Bazel --define=petal_coro=ucontext). */
#ifndef PETAL_CORO_CTX_H
#define PETAL_CORO_CTX_H

#include <stddef.h>

#ifdef PETAL_CORO_UCONTEXT
#include <ucontext.h>
typedef struct petal_ctx { ucontext_t uc; } petal_ctx;
#else
/* The suspended stack pointer; registers live on the stack below it. */
typedef struct petal_ctx { void *sp; } petal_ctx;
#endif

/* Prepares ctx to call entry() (which never returns) on [lo, lo + size). */
void petal_ctx_make(petal_ctx *ctx, char *lo, size_t size, void (*entry)(void));

/* Saves the running context in from and resumes to. */
#ifdef PETAL_CORO_UCONTEXT
void petal_ctx_swap(petal_ctx *from, petal_ctx *to);
#else
void petal_ctx_swap_asm(void **from_sp, void *to_sp);
static inline void petal_ctx_swap(petal_ctx *from, petal_ctx *to)
{
    petal_ctx_swap_asm(&from->sp, to->sp);
}
#endif

/* Like petal_ctx_swap, but between saving from and resuming to, runs
 * fn(arg) on the scratch stack [scratch_lo, scratch_lo + scratch_size): the
 * shared-stack mode uses it to rewrite the stack it is leaving. to is read
 * after fn returns. */
void petal_ctx_swap_via(petal_ctx *from, petal_ctx *to, void (*fn)(void *), void *arg,
                        char *scratch_lo, size_t scratch_size);

/* The stack pointer saved in a suspended ctx. */
char *petal_ctx_sp(const petal_ctx *ctx);

#endif
