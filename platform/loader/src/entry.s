// The loader's first instructions: an arm64 Image header (so QEMU and the Pi firmware load us
// at base + 0x80000 and pass the DTB in x0), then secondary-core parking, the EL2 -> EL1 drop,
// BSS clearing and the call into Rust. Also the data-cache flush before the MMU goes on, the
// vectors that park the core on any exception, and `enter_kernel`, the last jump in seL4's
// elfloader state (docs/abi.md, "Boot handoff").

.equ LOADER_STACK_SIZE, 0x4000

.section .text.boot, "ax"
.global _start
_start:
    b       primary_entry                   // code0
    .word   0                               // code1
    .quad   0x80000                         // text_offset
    .quad   __loader_size                   // image_size, BSS included
    .quad   0x2                             // flags: little-endian, 4 KiB pages
    .quad   0, 0, 0                         // reserved
    .ascii  "ARM\x64"                       // magic
    .word   0                               // reserved

primary_entry:
    msr     daifset, #0xf                   // no interrupt or abort reaches the loader
    mov     x19, x0                         // DTB physical address
    mrs     x9, mpidr_el1
    and     x9, x9, #0xffffff               // Aff2..Aff0
    cbnz    x9, park                        // only CPU 0 boots; others wait here

    mrs     x9, CurrentEL
    lsr     x9, x9, #2
    cmp     x9, #1
    b.eq    at_el1
    cmp     x9, #2
    b.ne    park                            // EL3 starts are not supported

    // EL2: leave a sane hypervisor configuration behind and drop to EL1h.
    mov     x9, #(1 << 31)                  // HCR_EL2.RW: EL1 is AArch64; nothing trapped
    msr     hcr_el2, x9
    mov     x9, #3                          // CNTHCTL_EL2: EL1 may use the physical timer/counter
    msr     cnthctl_el2, x9
    msr     cntvoff_el2, xzr
    mrs     x9, pmcr_el0                    // MDCR_EL2.HPMN = PMCR_EL0.N: EL1 sees every counter
    ubfx    x9, x9, #11, #5
    msr     mdcr_el2, x9
    mov     x9, #0x33ff                     // CPTR_EL2: RES1 bits only, TFP clear (no FP trap)
    msr     cptr_el2, x9
    msr     hstr_el2, xzr                   // no system-register traps to EL2
    mrs     x9, id_aa64pfr0_el1             // GICv3 system-register interface present?
    ubfx    x9, x9, #24, #4
    cbz     x9, 1f
    mov     x9, #0xf                        // ICC_SRE_EL2: SRE, DFB, DIB, Enable (EL1 may use ICC_*)
    msr     S3_4_C12_C9_5, x9
    isb
1:  msr     vttbr_el2, xzr
    ldr     x9, =0x30d00800                 // SCTLR_EL1: RES1 bits, MMU and caches off
    msr     sctlr_el1, x9
    mov     x9, #0x3c5                      // SPSR_EL2: EL1h, D A I F masked
    msr     spsr_el2, x9
    adr     x9, at_el1
    msr     elr_el2, x9
    isb
    eret

at_el1:
    ldr     x9, =0x30d00800                 // SCTLR_EL1: known state, MMU and caches off
    msr     sctlr_el1, x9
    mov     x9, #(3 << 20)                  // CPACR_EL1.FPEN: FP/SIMD usable at EL0 and EL1
    msr     cpacr_el1, x9
    isb
    adrp    x9, __bss_start
    add     x9, x9, :lo12:__bss_start
    adrp    x10, __bss_end
    add     x10, x10, :lo12:__bss_end
2:  cmp     x9, x10
    b.hs    3f
    stp     xzr, xzr, [x9], #16
    b       2b
3:  adrp    x9, LOADER_STACK
    add     x9, x9, :lo12:LOADER_STACK
    add     x9, x9, #LOADER_STACK_SIZE
    mov     sp, x9
    mov     x0, x19
    bl      loader_main

park:
    wfe
    b       park
    .ltorg


.section .text
// clean_invalidate_dcache_all(): every data or unified cache level up to the point of
// coherency, each set and way, cleaned and invalidated (DC CISW). CCSIDR_EL1 has two layouts:
// with FEAT_CCIDX (ID_AA64MMFR2_EL1.CCIDX != 0) associativity is bits 23:3 and the set count
// bits 55:32, without it bits 12:3 and 27:13. Uses x0..x12 only; no stack.
.global clean_invalidate_dcache_all
clean_invalidate_dcache_all:
    dsb     sy
    mrs     x0, clidr_el1
    ubfx    x3, x0, #24, #3                 // LoC
    lsl     x3, x3, #1                      // as a CSSELR level field (level << 1)
    cbz     x3, 9f
    mrs     x12, id_aa64mmfr2_el1
    ubfx    x12, x12, #20, #4               // CCIDX
    mov     x10, #0                         // CSSELR value: level << 1, data side
1:  add     x2, x10, x10, lsr #1            // 3 * level: the level's Ctype field in CLIDR
    lsr     x1, x0, x2
    and     x1, x1, #7
    cmp     x1, #2                          // 2 data only, 3 separate, 4 unified
    b.lt    8f
    msr     csselr_el1, x10
    isb
    mrs     x1, ccsidr_el1
    and     x2, x1, #7
    add     x2, x2, #4                      // log2(line bytes): the set field's shift
    cbnz    x12, 2f
    ubfx    x4, x1, #3, #10                 // ways - 1
    ubfx    x7, x1, #13, #15                // sets - 1
    b       3f
2:  ubfx    x4, x1, #3, #21
    ubfx    x7, x1, #32, #24
3:  clz     w5, w4                          // the way field sits at the top of the operand
4:  mov     x9, x4
5:  lsl     x6, x9, x5
    orr     x11, x10, x6
    lsl     x6, x7, x2
    orr     x11, x11, x6
    dc      cisw, x11
    subs    x9, x9, #1
    b.ge    5b
    subs    x7, x7, #1
    b.ge    4b
8:  add     x10, x10, #2
    cmp     x3, x10
    b.gt    1b
9:  msr     csselr_el1, xzr
    dsb     sy
    isb
    ret

// The loader's vectors, in VBAR_EL1 when the kernel starts (as the elfloader leaves its own):
// a kernel that took an exception before installing its own vectors stops here, in a loop.
.macro PARK_VECTOR
.balign 0x80
1:  wfe
    b       1b
.endm
.balign 2048
.global loader_vectors
loader_vectors:
    .rept 16
    PARK_VECTOR
    .endr

.global enter_kernel
// enter_kernel(x0..x5 = handoff, x6 = kernel entry): never returns. Everything seL4's
// elfloader does not promise is left unusable, so a kernel relying on it fails at once:
// x6..x29 and the thread-ID registers hold a poison value, SP_EL0 too, FP/SIMD traps at EL1
// and EL0 (CPACR_EL1 = 0). SP stays the loader's stack, as the elfloader's; x30 holds the entry.
enter_kernel:
    mov     x30, x6
    ldr     x6, =0xdeadbeefdeadbeef
    msr     cpacr_el1, xzr
    msr     tpidr_el1, x6
    msr     tpidr_el0, x6
    msr     tpidrro_el0, x6
    msr     sp_el0, x6
    isb
    mov     x7, x6
    mov     x8, x6
    mov     x9, x6
    mov     x10, x6
    mov     x11, x6
    mov     x12, x6
    mov     x13, x6
    mov     x14, x6
    mov     x15, x6
    mov     x16, x6
    mov     x17, x6
    mov     x18, x6
    mov     x19, x6
    mov     x20, x6
    mov     x21, x6
    mov     x22, x6
    mov     x23, x6
    mov     x24, x6
    mov     x25, x6
    mov     x26, x6
    mov     x27, x6
    mov     x28, x6
    mov     x29, x6
    br      x30
    .ltorg

.section .bss.loader_stack, "aw", %nobits
.balign 16
LOADER_STACK:
    .space  LOADER_STACK_SIZE
