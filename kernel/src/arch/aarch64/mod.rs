//! Everything that depends on AArch64 itself: entry and vectors, exception decoding, the
//! kernel's translation tables, the GIC, the generic timer and the ways to stop the machine.

pub mod exception;
pub mod gic;
pub mod mmu;
pub mod stop;
pub mod timer;

core::arch::global_asm!(include_str!("entry.s"));
