//! The kernel's side of object lifetimes: what deleting a capability does to the object it
//! names, how retyping clears memory, and the preemption check long operations make.

use crate::thread;
use hmk_kernel::cspace::cap::{Cap, Mapping};
use hmk_kernel::cspace::invoke::CNodeContext;
use hmk_kernel::cspace::ops::DeleteContext;
use hmk_kernel::object::tcb::{TcbObject, ThreadState};
use hmk_kernel::object::untyped::RetypeContext;

/// The kernel's implementation of the hooks the capability code calls.
pub struct KernelOps;

/// Whether an interrupt is waiting (ISR_EL1.I): long operations stop and restart later.
pub fn interrupt_pending() -> bool {
    let isr: u64;
    // SAFETY: reading ISR_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {}, isr_el1", out(reg) isr, options(nomem, nostack)) };
    isr & (1 << 7) != 0
}

impl DeleteContext for KernelOps {
    fn finalise(&mut self, cap: &Cap, is_final: bool) {
        match *cap {
            Cap::Thread { ptr } if is_final => {
                // A dying thread stops; if it is the caller, it does not return to user mode.
                // SAFETY: a thread capability names a live TCB until its last capability goes.
                unsafe { (*(ptr as *mut TcbObject)).tcb.state = ThreadState::Inactive };
                if ptr as *mut TcbObject == thread::current() {
                    thread::stop_current();
                }
            }
            Cap::Frame { mapped: Some(Mapping { asid, vaddr }), .. } => {
                thread::unmap_page(asid, vaddr);
            }
            // Endpoints and notifications release their waiting threads, but no thread can
            // wait on one until IPC exists, so there is nothing to release yet.
            _ => {}
        }
    }

    fn should_preempt(&mut self) -> bool {
        interrupt_pending()
    }
}

impl CNodeContext for KernelOps {
    fn cancel_badged_sends(&mut self, _cap: &Cap) {
        // No thread can be queued sending on an endpoint until IPC exists.
    }
}

impl RetypeContext for KernelOps {
    fn zero(&mut self, va: u64, len: u64) {
        // SAFETY: the retype code passes ranges inside a non-device untyped block, which lies in
        // RAM mapped by the kernel window and holds no live object.
        unsafe { core::ptr::write_bytes(va as *mut u8, 0, len as usize) };
    }

    fn should_preempt(&mut self) -> bool {
        interrupt_pending()
    }
}
