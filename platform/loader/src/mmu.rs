//! The loader's translation tables and MMU switch-on: exactly seL4's elfloader state
//! ([`hmk_platform::handoff`]).
//!
//! TTBR1 maps the kernel's 1 GiB region from the kernel's start, TTBR0 the loader's own image,
//! both with 2 MiB blocks; nothing else is mapped (no RAM beyond those, no device), so a kernel
//! that touched anything outside seL4's contract before building its own window would fault.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1, TTBR1_EL1, VBAR_EL1};
use aarch64_cpu::registers::{ReadWriteable, Readable, Writeable};
use hmk_platform::handoff::{self, BlockMap};
use hmk_platform::pte::MAIR_VALUE;
use hmk_platform::window::Table;

static mut KERNEL_TABLES: [Table; 3] = [Table::EMPTY; 3];
static mut LOADER_TABLES: [Table; 3] = [Table::EMPTY; 3];

unsafe extern "C" {
    /// Cleans and invalidates every data and unified cache line by set and way (`entry.s`).
    fn clean_invalidate_dcache_all();
    /// The loader's exception vectors: any exception parks the core (`entry.s`).
    static loader_vectors: u8;
}

/// Physical addresses of the two root tables.
pub struct Roots {
    ttbr0: u64,
    ttbr1: u64,
}

/// Writes both translation regimes: `kernel` for TTBR1, `loader` (identity) for TTBR0.
pub fn build(kernel: &BlockMap, loader: &BlockMap) -> Roots {
    // SAFETY: the loader is single-threaded and calls `build` once; the MMU is off, so the
    // tables' addresses are their physical addresses.
    let (kernel_tables, loader_tables) =
        unsafe { (&mut *core::ptr::addr_of_mut!(KERNEL_TABLES), &mut *core::ptr::addr_of_mut!(LOADER_TABLES)) };
    let kernel_pa = kernel_tables.as_ptr() as u64;
    let loader_pa = loader_tables.as_ptr() as u64;
    Roots {
        ttbr1: handoff::write_tables(kernel, kernel_tables, kernel_pa),
        ttbr0: handoff::write_tables(loader, loader_tables, loader_pa),
    }
}

/// Programs MAIR, TCR and both TTBRs as the elfloader does, cleans and invalidates the data
/// caches (everything so far was written with them off), enables the MMU and caches, and
/// points VBAR_EL1 at the loader's parking vectors.
pub fn enable(roots: Roots) {
    // SAFETY: the caches are off; cleaning and invalidating them by set/way loses nothing
    // the loader wrote (its writes went to memory) and drops any line firmware left.
    unsafe { clean_invalidate_dcache_all() };
    // SAFETY: discarding instructions fetched so far has no memory effects.
    unsafe { core::arch::asm!("ic iallu", "dsb nsh", "isb", options(nostack)) };
    MAIR_EL1.set(MAIR_VALUE);
    TCR_EL1.set(handoff::tcr(ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange)));
    TTBR0_EL1.set(roots.ttbr0);
    TTBR1_EL1.set(roots.ttbr1);
    barrier::isb(barrier::SY);
    // SAFETY: invalidating every EL1 TLB entry has no memory effects the compiler must know.
    unsafe { core::arch::asm!("tlbi vmalle1is", options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    barrier::isb(barrier::SY);
    VBAR_EL1.set(core::ptr::addr_of!(loader_vectors) as u64);
    barrier::isb(barrier::SY);
}
