//! The BootInfo frame the root task receives: seL4's layout, as `hmk-sys` states it (the ABI
//! has one Rust statement, shared by the kernel and user level), plus the kernel's choice of
//! root CNode size.

pub use hmk_sys::bootinfo::{BootInfo, EXTRA_FDT, MAX_BOOTINFO_UNTYPED, SlotRegion, UntypedDesc, slot as initial_slot};

/// Radix of the root CNode (seL4's default `CONFIG_ROOT_CNODE_SIZE_BITS`).
pub const ROOT_CNODE_BITS: u32 = 13;
