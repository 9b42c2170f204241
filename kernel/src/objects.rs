//! The kernel's side of object lifetimes: what deleting a capability does to the object it
//! names, how retyping clears memory, and the preemption check long operations make.

use crate::{ipc, thread};
use hmk_kernel::cspace::cap::Cap;
use hmk_kernel::cspace::invoke::CNodeContext;
use hmk_kernel::cspace::ops::DeleteContext;
use hmk_kernel::object::sched_context::SchedContext;
use hmk_kernel::object::tcb::TcbObject;
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
                // A dying thread stops and leaves the scheduler; if it is the caller, it does not
                // return to user mode. Its scheduling context is unbound.
                let tcb = ptr as *mut TcbObject;
                crate::tcb_invoke::suspend(tcb);
                thread::forget_destroyed(tcb);
                ipc::unbind_notification(ptr);
                // SAFETY: a thread capability names a live TCB until its last capability goes.
                let sc = unsafe { core::mem::take(&mut (*tcb).tcb.sched_context) };
                if sc != 0 {
                    // SAFETY: a bound scheduling context is a live object.
                    unsafe { (*(sc as *mut SchedContext)).tcb = 0 };
                }
            }
            Cap::SchedContext { ptr, .. } if is_final => {
                ipc::sched_context_deleted(ptr);
                thread::forget_consumed(ptr, true);
                // SAFETY: the capability names a live scheduling context.
                let tcb = unsafe { core::mem::take(&mut (*(ptr as *mut SchedContext)).tcb) };
                if tcb != 0 {
                    // A thread without a scheduling context cannot run.
                    // SAFETY: a bound TCB is live.
                    unsafe { (*(tcb as *mut TcbObject)).tcb.sched_context = 0 };
                    thread::dequeue(tcb as *mut TcbObject);
                }
            }
            Cap::Frame { ptr, size, mapped: Some(mapping), .. } => {
                crate::vspace_invoke::unmap_frame(ptr, size, mapping)
            }
            Cap::AsidPool { ptr, asid_base } if is_final => crate::vspace_invoke::release_pool(ptr, asid_base),
            Cap::PageTable { ptr, level, mapped: Some(mapping) } if is_final => {
                crate::vspace_invoke::unmap_table(ptr, level, mapping)
            }
            Cap::VSpace { ptr, asid: Some(asid) } if is_final => crate::vspace_invoke::release_asid(ptr, asid),
            Cap::Endpoint { ptr, .. } if is_final => ipc::release_all(ptr, false),
            Cap::Notification { ptr, .. } if is_final => {
                ipc::release_all(ptr, true);
                crate::irq::forget_notification(ptr);
            }
            Cap::IrqHandler { irq } if is_final => crate::irq::release(irq),
            Cap::Reply { ptr, .. } if is_final => ipc::reply_deleted(ptr),
            _ => {}
        }
    }

    fn should_preempt(&mut self) -> bool {
        interrupt_pending()
    }
}

impl CNodeContext for KernelOps {
    fn cancel_badged_sends(&mut self, cap: &Cap) {
        if let Cap::Endpoint { ptr, badge, .. } = *cap {
            ipc::cancel_badged_sends(ptr, badge);
        }
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
