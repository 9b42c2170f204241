//! The kernel's own translation tables: the window of all RAM and the kernel's devices at
//! `PPTR_BASE + physical`, in TTBR1. Built at boot from the device tree, so the kernel relies
//! on no more than seL4's boot contract (its image mapped) from whatever loader started it.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{TTBR0_EL1, TTBR1_EL1, Writeable};
use hmk_platform::PPTR_BASE;
use hmk_platform::mmio::Mmio;
use hmk_platform::region::Region;
use hmk_platform::window::{MapError, Table, TableArena, map_window};

/// Tables for the window; enough for several RAM banks and the device pages.
const WINDOW_TABLE_COUNT: usize = 32;
static mut WINDOW_TABLES: [Table; WINDOW_TABLE_COUNT] = [Table::EMPTY; WINDOW_TABLE_COUNT];

/// The kernel virtual address of physical address `pa`.
pub const fn phys_to_virt(pa: u64) -> u64 {
    PPTR_BASE + pa
}

/// The physical address of a kernel window address.
pub const fn virt_to_phys(va: u64) -> u64 {
    va - PPTR_BASE
}

/// A device register block at physical address `pa`, seen through the window.
///
/// # Safety
/// `pa` must be the physical address of a register block of type `T` that [`build_window`]
/// mapped as device memory.
pub unsafe fn device<T>(pa: u64) -> Mmio<T> {
    // SAFETY: the caller guarantees a register block of type T is mapped at `pa` for good.
    unsafe { Mmio::new(&*(phys_to_virt(pa) as *const T)) }
}

/// Builds the window over `ram` and `devices`, then switches TTBR1 to it and TTBR0 to the empty
/// user address space, so nothing of the loader's tables stays in use (the memory they are in
/// is free RAM and becomes untyped, as with seL4's elfloader). Returns the number of tables
/// used. Call once, at boot, before touching any device.
pub fn build_window(ram: &[Region], devices: &[Region]) -> Result<usize, MapError> {
    // SAFETY: called once on the boot core before anything else uses the table array.
    let tables = unsafe { &mut *core::ptr::addr_of_mut!(WINDOW_TABLES) };
    let base_pa = virt_to_phys(tables.as_ptr() as u64);
    let mut arena = TableArena::new(tables, base_pa);
    map_window(&mut arena, PPTR_BASE, ram, devices)?;
    let used = arena.tables_used();
    barrier::dsb(barrier::ISHST);
    TTBR1_EL1.set(arena.root_pa());
    switch_to_empty_user_vspace();
    // SAFETY: drops every stale EL1 translation, the loader's global identity map included;
    // the new tables map the running kernel at the same addresses, so execution continues
    // unaffected.
    unsafe { core::arch::asm!("tlbi vmalle1", options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    Ok(used)
}

/// Makes the user address space with root table `root_pa` and `asid` current (TTBR0).
pub fn switch_user_vspace(root_pa: u64, asid: u64) {
    barrier::dsb(barrier::ISHST);
    TTBR0_EL1.set(root_pa | (asid << 48));
    barrier::isb(barrier::SY);
}

/// A user address space with nothing mapped, for threads whose own VSpace is missing or no
/// longer has its ASID (seL4's global user VSpace). ASID 0, which no VSpace is ever given.
#[repr(C, align(4096))]
struct EmptyTable([u64; 512]);
static EMPTY_USER_VSPACE: EmptyTable = EmptyTable([0; 512]);

/// Makes the empty user address space current: every EL0 access faults.
pub fn switch_to_empty_user_vspace() {
    switch_user_vspace(virt_to_phys(&EMPTY_USER_VSPACE as *const EmptyTable as u64), 0);
}

/// Drops the TLB entry of user page `vaddr` in address space `asid`.
pub fn invalidate_page(asid: u16, vaddr: u64) {
    let operand = (u64::from(asid) << 48) | ((vaddr >> 12) & ((1 << 44) - 1));
    barrier::dsb(barrier::ISHST);
    // SAFETY: a TLB invalidation by VA and ASID has no memory effects the compiler must know.
    unsafe { core::arch::asm!("tlbi vae1is, {}", in(reg) operand, options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// Drops every user and kernel TLB entry.
pub fn invalidate_all() {
    barrier::dsb(barrier::ISHST);
    // SAFETY: a TLB invalidation has no memory effects the compiler must know.
    unsafe { core::arch::asm!("tlbi vmalle1is", options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// Drops every TLB entry of address space `asid`.
pub fn invalidate_asid(asid: u16) {
    barrier::dsb(barrier::ISHST);
    // SAFETY: a TLB invalidation by ASID has no memory effects the compiler must know.
    unsafe { core::arch::asm!("tlbi aside1is, {}", in(reg) u64::from(asid) << 48, options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}
