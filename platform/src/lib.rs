//! Board facts and the pure logic of bring-up, shared by the loader and the kernel.
//!
//! This crate owns what can be known about a machine without touching it: the device tree
//! probe ([`board`]), arithmetic on physical address ranges ([`region`]), the AArch64
//! VMSAv8-64 translation-table formats ([`pte`], [`window`]) and seL4's elfloader handoff
//! ([`handoff`]). It is `no_std`, has no target-specific code and is unit-tested on the host.
#![cfg_attr(not(test), no_std)]

pub mod board;
pub mod dtb_edit;
pub mod handoff;
pub mod mmio;
pub mod pl011;
pub mod pte;
pub mod region;
pub mod window;

/// Base of the kernel's physical-memory window in TTBR1 (seL4's `PPTR_BASE` on AArch64):
/// physical address `p` is visible to the kernel at `PPTR_BASE + p`.
pub const PPTR_BASE: u64 = 0xffff_ff80_0000_0000;

/// Size of the physical-memory window: physical addresses below 2^39 are mapped.
pub const PPTR_WINDOW_SIZE: u64 = 1 << 39;
