//! The running thread and the switch to user mode.
//!
//! Until the MCS scheduler exists the kernel runs one user thread, the root task: it runs, or
//! it is stopped and the kernel idles. Its registers live in its TCB; the exception entry code
//! saves into and restores from there directly. This module also holds the kernel's global
//! state (the ASID table) behind [`KernelCell`].

use crate::arch::aarch64::{exception, mmu};
use aarch64_cpu::registers::{DAIF, TPIDR_EL0, Writeable};
use core::cell::UnsafeCell;
use hmk_kernel::context::UserContext;
use hmk_kernel::cspace::cap::Cap;
use hmk_kernel::object::tcb::{self, TcbObject, ThreadState};

/// Kernel state that only the boot core touches, with interrupts masked, in kernel mode.
pub struct KernelCell<T>(UnsafeCell<T>);

// SAFETY: hmk runs the kernel on one core with interrupts masked; no two accesses overlap.
unsafe impl<T> Sync for KernelCell<T> {}

impl<T> KernelCell<T> {
    pub const fn new(value: T) -> Self {
        Self(UnsafeCell::new(value))
    }

    /// # Safety
    /// Only in kernel mode on the boot core, and no other reference to the value may be live.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get(&self) -> &mut T {
        // SAFETY: the caller upholds exclusivity.
        unsafe { &mut *self.0.get() }
    }
}

/// ASID pools by the top bits of the ASID (2^16 ASIDs, 512 per pool): kernel addresses of
/// pool objects, each an array of 512 VSpace root addresses.
pub const ASID_POOL_COUNT: usize = 128;

struct KernelState {
    current: *mut TcbObject,
    asid_pools: [u64; ASID_POOL_COUNT],
}

static STATE: KernelCell<KernelState> =
    KernelCell::new(KernelState { current: core::ptr::null_mut(), asid_pools: [0; ASID_POOL_COUNT] });

/// Records the ASID pool object for ASIDs `index * 512 ..`.
pub fn set_asid_pool(index: usize, pool: u64) {
    // SAFETY: kernel mode, no other reference live.
    unsafe { STATE.get() }.asid_pools[index] = pool;
}

/// The TCB of the thread that entered the kernel (null before the first thread runs).
pub fn current() -> *mut TcbObject {
    // SAFETY: kernel mode, no other reference live.
    unsafe { STATE.get() }.current
}

/// Makes `tcb` the running thread and switches to its address space.
pub fn start(tcb: *mut TcbObject) {
    // SAFETY: kernel mode; `tcb` is a live TCB object.
    unsafe {
        STATE.get().current = tcb;
        let object = &*tcb;
        if let Cap::VSpace { ptr, asid: Some(asid) } = object.slots[tcb::slot::VSPACE_ROOT].cap() {
            mmu::switch_user_vspace(mmu::virt_to_phys(ptr), u64::from(asid));
        }
        TPIDR_EL0.set(object.tcb.tls_base);
    }
}

/// Stops the current thread (it will not run again until resumed).
pub fn stop_current() {
    let tcb = current();
    if !tcb.is_null() {
        // SAFETY: kernel mode; the current TCB is live.
        unsafe { (*tcb).tcb.state = ThreadState::Inactive };
    }
}

/// The register area of the thread to run next, or `None` when nothing is runnable.
pub fn next_to_run() -> Option<*mut UserContext> {
    let tcb = current();
    // SAFETY: kernel mode; the current TCB is live.
    (!tcb.is_null() && unsafe { (*tcb).tcb.state.is_runnable() }).then(|| {
        // SAFETY: as above.
        unsafe { &mut (*tcb).tcb.context as *mut UserContext }
    })
}

/// Leaves the kernel: enters the next runnable thread, or idles until an interrupt makes one
/// runnable.
pub fn leave_kernel() -> ! {
    match next_to_run() {
        Some(context) => exception::enter_user(context),
        None => idle(),
    }
}

/// Waits for interrupts with IRQs unmasked; interrupt handling re-enters `leave_kernel` when a
/// thread has become runnable.
pub fn idle() -> ! {
    DAIF.write(DAIF::D::Masked + DAIF::A::Masked + DAIF::I::Unmasked + DAIF::F::Masked);
    loop {
        aarch64_cpu::asm::wfi();
    }
}

/// Removes the 4 KiB mapping at `vaddr` in the address space of `asid`, if there is one.
pub fn unmap_page(asid: u16, vaddr: u64) {
    // SAFETY: kernel mode, no other reference live.
    let pool = unsafe { STATE.get() }.asid_pools[usize::from(asid >> 9) % ASID_POOL_COUNT];
    if pool == 0 {
        return;
    }
    // SAFETY: a registered pool is a live 512-entry ASID pool object.
    let vspace = unsafe { *(pool as *const u64).add(usize::from(asid & 511)) };
    if vspace == 0 {
        return;
    }
    let walker = hmk_kernel::vspace::Walker { window_offset: mmu::phys_to_virt(0) };
    // SAFETY: the pool entry names a live VSpace root whose tables are live objects.
    if let Ok(entry) = unsafe { walker.entry(mmu::virt_to_phys(vspace), vaddr, 3) } {
        // SAFETY: `entry` points into a live table.
        unsafe { entry.write_volatile(0) };
        mmu::invalidate_page(asid, vaddr);
    }
}
