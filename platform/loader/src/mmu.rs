//! The loader's translation tables and MMU switch-on.
//!
//! TTBR0 identity-maps RAM and the console so the loader keeps running once the MMU is on;
//! TTBR1 maps the kernel window (all RAM at `PPTR_BASE + physical`, plus the console and GIC as
//! Device-nGnRE), a superset of what seL4's boot contract promises the kernel.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1, TTBR1_EL1};
use aarch64_cpu::registers::{ReadWriteable, Readable, Writeable};
use hmk_platform::PPTR_BASE;
use hmk_platform::board::BoardConfig;
use hmk_platform::pte::MAIR_VALUE;
use hmk_platform::region::Region;
use hmk_platform::window::{Table, TableArena, map_window};

static mut IDENTITY_TABLES: [Table; 8] = [Table::EMPTY; 8];
static mut WINDOW_TABLES: [Table; 16] = [Table::EMPTY; 16];

/// Physical addresses of the two root tables.
pub struct Roots {
    ttbr0: u64,
    ttbr1: u64,
}

/// Builds both translation regimes; `None` if the arenas are too small.
pub fn build(board: &BoardConfig, devices: &[Region]) -> Option<Roots> {
    // SAFETY: the loader is single-threaded and calls `build` once; the MMU is off, so the
    // tables' addresses are their physical addresses.
    let (identity, window) =
        unsafe { (&mut *core::ptr::addr_of_mut!(IDENTITY_TABLES), &mut *core::ptr::addr_of_mut!(WINDOW_TABLES)) };
    let identity_pa = identity.as_ptr() as u64;
    let window_pa = window.as_ptr() as u64;
    let mut identity = TableArena::new(identity, identity_pa);
    map_window(&mut identity, 0, board.memory.as_slice(), &devices[..1]).ok()?;
    let mut window = TableArena::new(window, window_pa);
    map_window(&mut window, PPTR_BASE, board.memory.as_slice(), devices).ok()?;
    Some(Roots { ttbr0: identity.root_pa(), ttbr1: window.root_pa() })
}

/// Programs MAIR, TCR and both TTBRs as seL4's boot contract describes, then enables the MMU
/// and the caches.
pub fn enable(roots: Roots) {
    let pa_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(5);
    MAIR_EL1.set(MAIR_VALUE);
    TCR_EL1.write(
        TCR_EL1::T0SZ.val(16)
            + TCR_EL1::T1SZ.val(16)
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::TG1::KiB_4
            + TCR_EL1::SH0::Inner
            + TCR_EL1::SH1::Inner
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::IRGN1::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::ORGN1::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::AS::ASID16Bits
            + TCR_EL1::IPS.val(pa_range),
    );
    TTBR0_EL1.set(roots.ttbr0);
    TTBR1_EL1.set(roots.ttbr1);
    barrier::dsb(barrier::SY);
    barrier::isb(barrier::SY);
    // SAFETY: invalidating every EL1 TLB entry has no memory effects the compiler must know.
    unsafe { core::arch::asm!("tlbi vmalle1", "ic iallu", options(nostack)) };
    barrier::dsb(barrier::SY);
    barrier::isb(barrier::SY);
    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    barrier::isb(barrier::SY);
}
