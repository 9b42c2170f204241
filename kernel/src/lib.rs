//! The parts of the kernel that are pure logic: no registers, no MMIO, no assembly. They build
//! for the target as part of the kernel binary and for the host, where they are unit- and
//! property-tested (`cargo test -p hmk-kernel --lib`).
#![cfg_attr(not(test), no_std)]
// Binary literals below are grouped by CNode level (index, guard, index), not by nibble.
#![cfg_attr(test, allow(clippy::unusual_byte_groupings))]

pub mod boot_alloc;
pub mod boot_info;
pub mod context;
pub mod cspace;
pub mod error;
pub mod object;
pub mod sched;
pub mod vspace;
