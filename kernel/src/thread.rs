//! The running thread and the switch to user mode.
//!
//! Until the MCS scheduler exists there is one user thread, the root task: it runs, or it is
//! stopped and the kernel idles. Its registers live in [`ROOT_CONTEXT`]; the exception entry
//! code saves into and restores from there directly.

use crate::arch::aarch64::exception;
use aarch64_cpu::registers::{DAIF, Writeable};
use core::cell::UnsafeCell;
use hmk_kernel::context::UserContext;

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

struct Threads {
    root: UserContext,
    root_runnable: bool,
}

static THREADS: KernelCell<Threads> =
    KernelCell::new(Threads { root: UserContext { x: [0; 31], pc: 0, spsr: 0, sp: 0 }, root_runnable: false });

/// Installs the root task's first registers and marks it runnable.
pub fn start_root(context: UserContext) {
    // SAFETY: boot, kernel mode, no other reference.
    let threads = unsafe { THREADS.get() };
    threads.root = context;
    threads.root_runnable = true;
}

/// Stops the current thread (it will not run again until resumed).
pub fn stop_current() {
    // SAFETY: kernel mode, no other reference live.
    unsafe { THREADS.get() }.root_runnable = false;
}

/// The register area of the thread to run next, or `None` when nothing is runnable.
pub fn next_to_run() -> Option<*mut UserContext> {
    // SAFETY: kernel mode, no other reference live.
    let threads = unsafe { THREADS.get() };
    threads.root_runnable.then_some(&mut threads.root as *mut UserContext)
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
