// Kernel entry and exception vectors.
//
// `_start` is entered at EL1h with the MMU on, as seL4's elfloader contract says: x0..x5 carry
// the handoff (user image start/end, pv offset, user entry, DTB address and size). Like seL4's
// own entry it takes nothing else from the loader: it masks interrupts, sets the whole of
// SCTLR_EL1 itself (the elfloader passes on firmware's bits with only M, C and I set), clears
// TPIDRRO_EL0 (user threads read it as 0, as they would from seL4), moves to the kernel's own
// stack and calls `kernel_main` with the six values.
//
// Every exception saves a TrapFrame (x0..x30, ELR, SPSR, SP_EL0: 34 words). kind =
// 4 * group + type (group 0 current EL with SP0, 1 current EL with SPx, 2 lower EL AArch64,
// 3 lower EL AArch32; type 0 synchronous, 1 IRQ, 2 FIQ, 3 SError).
//
// From EL1 (groups 0, 1) the frame goes on the kernel stack and `handle_exception(kind,
// frame)` returns to the interrupted kernel code. From EL0 (groups 2, 3) SP_EL1 points just past
// the running thread's saved-register area (set by `restore_user_context`), so the registers
// land directly in the thread's TCB; the kernel then switches to its own stack and calls
// `handle_user_exception(kind, context)`, which returns the register area of the thread to
// run next, and `restore_user_context` enters it.

.equ KERNEL_STACK_SIZE, 0x4000
// SCTLR_EL1: the ARMv8.0 RES1 bits (11, 20, 22, 23, 28, 29), MMU (M), data and instruction
// caches (C, I) on; alignment checks, WXN, EL0 cache maintenance, DC ZVA, WFI/WFE and CTR_EL0
// at EL0 off (they trap), little-endian at both levels.
.equ KERNEL_SCTLR, 0x30d01805
.equ FRAME_SIZE, 272

.section .text.boot, "ax"
.global _start
_start:
    msr     daifset, #0xf
    ldr     x9, =KERNEL_SCTLR
    msr     sctlr_el1, x9
    isb
    msr     tpidrro_el0, xzr
    adrp    x9, KERNEL_STACK
    add     x9, x9, :lo12:KERNEL_STACK
    add     x9, x9, #KERNEL_STACK_SIZE
    mov     sp, x9
    bl      kernel_main
1:  wfe
    b       1b
    .ltorg

.macro VECTOR kind
.balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       exception_common
.endm

.macro USER_VECTOR kind
.balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       user_exception_common
.endm

.macro SAVE_X2_TO_SP_EL0
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x9, elr_el1
    stp     x30, x9, [sp, #240]
    mrs     x9, spsr_el1
    mrs     x10, sp_el0
    stp     x9, x10, [sp, #256]
.endm

.macro RESTORE_ALL_AND_POP
    ldp     x30, x9, [sp, #240]
    msr     elr_el1, x9
    ldp     x9, x10, [sp, #256]
    msr     spsr_el1, x9
    msr     sp_el0, x10
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #FRAME_SIZE
.endm

.section .text.vectors, "ax"
.balign 0x800
.global exception_vectors
exception_vectors:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    USER_VECTOR 8
    USER_VECTOR 9
    USER_VECTOR 10
    USER_VECTOR 11
    USER_VECTOR 12
    USER_VECTOR 13
    USER_VECTOR 14
    USER_VECTOR 15

exception_common:
    SAVE_X2_TO_SP_EL0
    mov     x1, sp
    bl      handle_exception
    RESTORE_ALL_AND_POP
    eret

user_exception_common:
    SAVE_X2_TO_SP_EL0
    mov     x1, sp
    adrp    x9, KERNEL_STACK
    add     x9, x9, :lo12:KERNEL_STACK
    add     x9, x9, #KERNEL_STACK_SIZE
    mov     sp, x9
    bl      handle_user_exception
    // fall through with x0 = the register area of the thread to run

// restore_user_context(x0 = saved-register area): enters the thread at EL0, leaving SP_EL1
// just past its register area for the next exception. Never returns.
.global restore_user_context
restore_user_context:
    mov     sp, x0
    RESTORE_ALL_AND_POP
    eret

.section .bss.kernel_stack, "aw", %nobits
.balign 16
KERNEL_STACK:
    .space  KERNEL_STACK_SIZE
