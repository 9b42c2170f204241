// The loader's first instructions: an arm64 Image header (so QEMU and the Pi firmware load us
// at base + 0x80000 and pass the DTB in x0), then secondary-core parking, the EL2 -> EL1 drop,
// BSS clearing and the call into Rust. Also `enter_kernel`, the last jump.

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
.global enter_kernel
// enter_kernel(x0..x5 = handoff, x6 = kernel entry): never returns.
enter_kernel:
    br      x6

.section .bss.loader_stack, "aw", %nobits
.balign 16
LOADER_STACK:
    .space  LOADER_STACK_SIZE
