/* x86-64 System V context switch. Saves what the ABI says a callee must
 * preserve: rbx, rbp, r12-r15, the MXCSR control bits and the x87 control
 * word. Everything else is caller-saved, so the C caller already spilled it.
 * Frame below the saved sp: [mxcsr, x87 cw][r15 r14 r13 r12 rbx rbp][ret] */
#if defined(__x86_64__) && !defined(PETAL_CORO_UCONTEXT)
        .text

/* void petal_ctx_swap_asm(void **from_sp, void *to_sp) */
        .globl  petal_ctx_swap_asm
        .hidden petal_ctx_swap_asm
        .type   petal_ctx_swap_asm, @function
        .p2align 4
petal_ctx_swap_asm:
        .cfi_startproc
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movl    (%rsp), %eax
        movzwl  4(%rsp), %ecx
        movq    %rsp, (%rdi)
        movq    %rsi, %rsp
        /* Loading the control words is slow and they rarely differ. */
.Lcheck:
        cmpl    (%rsp), %eax
        jne     .Lload_all
        cmpw    4(%rsp), %cx
        jne     .Lload_all
.Lpop:
        addq    $8, %rsp
        popq    %r15
        popq    %r14
        popq    %r13
        popq    %r12
        popq    %rbx
        popq    %rbp
        ret
.Lload_all:
        ldmxcsr (%rsp)
        fldcw   4(%rsp)
        jmp     .Lpop
        .cfi_endproc
        .size   petal_ctx_swap_asm, .-petal_ctx_swap_asm

/* void petal_ctx_swap_via_asm(void **from_sp, void **to_sp,
 *                             void (*fn)(void *), void *arg, char *scratch_top)
 * Saves like the swap above, calls fn(arg) on the scratch stack, then loads
 * *to_sp (read only now: fn may have just written the target's stack). */
        .globl  petal_ctx_swap_via_asm
        .hidden petal_ctx_swap_via_asm
        .type   petal_ctx_swap_via_asm, @function
        .p2align 4
petal_ctx_swap_via_asm:
        .cfi_startproc
        pushq   %rbp
        pushq   %rbx
        pushq   %r12
        pushq   %r13
        pushq   %r14
        pushq   %r15
        subq    $8, %rsp
        stmxcsr (%rsp)
        fnstcw  4(%rsp)
        movq    %rsp, (%rdi)
        movl    (%rsp), %r13d       /* callee-saved: survive the call */
        movzwl  4(%rsp), %r14d
        movq    %rsi, %r12
        movq    %r8, %rsp
        movq    %rcx, %rdi
        callq   *%rdx
        movq    (%r12), %rsp
        movl    %r13d, %eax
        movl    %r14d, %ecx
        jmp     .Lcheck
        .cfi_endproc
        .size   petal_ctx_swap_via_asm, .-petal_ctx_swap_via_asm

/* First instruction of a new context: the initial frame put the entry
 * function in rbx and 0 in rbp; the entry never returns. */
        .globl  petal_ctx_start_asm
        .hidden petal_ctx_start_asm
        .type   petal_ctx_start_asm, @function
        .p2align 4
petal_ctx_start_asm:
        .cfi_startproc
        .cfi_undefined rip
        callq   *%rbx
        ud2
        .cfi_endproc
        .size   petal_ctx_start_asm, .-petal_ctx_start_asm
#endif
        .section .note.GNU-stack,"",@progbits
