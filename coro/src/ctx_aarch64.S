/* AArch64 (AAPCS64) context switch. Saves the callee-saved registers
 * x19-x28, the frame pointer x29, the link register x30, the low halves
 * d8-d15 of v8-v15, and FPCR (rounding and flush-to-zero control).
 * Frame below the saved sp (176 bytes, keeps sp 16-aligned):
 *   0: x19 x20 ... 80: x29 x30  96: d8 d9 ... 144: d14 d15  160: fpcr */
#if defined(__aarch64__) && !defined(PETAL_CORO_UCONTEXT)
        .text

/* void petal_ctx_swap_asm(void **from_sp, void *to_sp) */
        .globl  petal_ctx_swap_asm
        .hidden petal_ctx_swap_asm
        .type   petal_ctx_swap_asm, %function
        .p2align 4
petal_ctx_swap_asm:
        sub     sp, sp, #176
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mrs     x9, fpcr
        str     x9, [sp, #160]
        mov     x9, sp
        str     x9, [x0]
        mov     sp, x1
.Lresume:
        ldr     x9, [sp, #160]
        msr     fpcr, x9
        ldp     x19, x20, [sp, #0]
        ldp     x21, x22, [sp, #16]
        ldp     x23, x24, [sp, #32]
        ldp     x25, x26, [sp, #48]
        ldp     x27, x28, [sp, #64]
        ldp     x29, x30, [sp, #80]
        ldp     d8, d9, [sp, #96]
        ldp     d10, d11, [sp, #112]
        ldp     d12, d13, [sp, #128]
        ldp     d14, d15, [sp, #144]
        add     sp, sp, #176
        ret
        .size   petal_ctx_swap_asm, .-petal_ctx_swap_asm

/* void petal_ctx_swap_via_asm(void **from_sp, void **to_sp,
 *                             void (*fn)(void *), void *arg, char *scratch_top)
 * Saves like the swap above, calls fn(arg) on the scratch stack, then loads
 * *to_sp (read only now: fn may have just written the target's stack). */
        .globl  petal_ctx_swap_via_asm
        .hidden petal_ctx_swap_via_asm
        .type   petal_ctx_swap_via_asm, %function
        .p2align 4
petal_ctx_swap_via_asm:
        sub     sp, sp, #176
        stp     x19, x20, [sp, #0]
        stp     x21, x22, [sp, #16]
        stp     x23, x24, [sp, #32]
        stp     x25, x26, [sp, #48]
        stp     x27, x28, [sp, #64]
        stp     x29, x30, [sp, #80]
        stp     d8, d9, [sp, #96]
        stp     d10, d11, [sp, #112]
        stp     d12, d13, [sp, #128]
        stp     d14, d15, [sp, #144]
        mrs     x9, fpcr
        str     x9, [sp, #160]
        mov     x9, sp
        str     x9, [x0]
        mov     x19, x1             /* callee-saved: survives the call */
        mov     sp, x4
        mov     x0, x3
        blr     x2
        ldr     x9, [x19]
        mov     sp, x9
        b       .Lresume
        .size   petal_ctx_swap_via_asm, .-petal_ctx_swap_via_asm

/* First instruction of a new context: the initial frame put the entry
 * function in x19 and 0 in x29; the entry never returns. */
        .globl  petal_ctx_start_asm
        .hidden petal_ctx_start_asm
        .type   petal_ctx_start_asm, %function
        .p2align 4
petal_ctx_start_asm:
        blr     x19
        brk     #0
        .size   petal_ctx_start_asm, .-petal_ctx_start_asm
#endif
        .section .note.GNU-stack,"",%progbits
