/* Building the first frame of a new context for the assembly switch: the
 * frame petal_ctx_swap_asm pops, with petal_ctx_start_asm as return address
 * and the entry function in a callee-saved register. The frame is built
 * when the greenlet is first switched to, so it starts with the
 * floating-point control state of the greenlet that starts it. */
#ifndef PETAL_CORO_UCONTEXT
#include "ctx.h"

#include <stdint.h>
#include <string.h>

void petal_ctx_start_asm(void);
void petal_ctx_swap_via_asm(void **from_sp, void **to_sp, void (*fn)(void *), void *arg,
                            char *scratch_top);

#if defined(__x86_64__)
enum { FRAME_WORDS = 8 };
static void fill_frame(uint64_t *f, void (*entry)(void))
{
    uint32_t mxcsr;
    uint16_t cw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    f[0] = (uint64_t)mxcsr | ((uint64_t)cw << 32);
    f[5] = (uint64_t)(uintptr_t)entry;               /* rbx */
    f[6] = 0;                                        /* rbp: ends frame chains */
    f[7] = (uint64_t)(uintptr_t)petal_ctx_start_asm; /* return address */
}
#elif defined(__aarch64__)
enum { FRAME_WORDS = 22 };
static void fill_frame(uint64_t *f, void (*entry)(void))
{
    uint64_t fpcr;
    __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
    f[0] = (uint64_t)(uintptr_t)entry;                /* x19 */
    f[10] = 0;                                        /* x29: ends frame chains */
    f[11] = (uint64_t)(uintptr_t)petal_ctx_start_asm; /* x30 */
    f[20] = fpcr;
}
#else
#error "no assembly context switch for this CPU: build with -DPETAL_CORO_UCONTEXT"
#endif

void petal_ctx_make(petal_ctx *ctx, char *lo, size_t size, void (*entry)(void))
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *f = (uint64_t *)top - FRAME_WORDS;
    memset(f, 0, FRAME_WORDS * sizeof *f);
    fill_frame(f, entry);
    ctx->sp = f;
}

void petal_ctx_swap_via(petal_ctx *from, petal_ctx *to, void (*fn)(void *), void *arg,
                        char *scratch_lo, size_t scratch_size)
{
    char *top = (char *)(((uintptr_t)scratch_lo + scratch_size) & ~(uintptr_t)15);
    petal_ctx_swap_via_asm(&from->sp, &to->sp, fn, arg, top);
}

char *petal_ctx_sp(const petal_ctx *ctx)
{
    return ctx->sp;
}
#endif
