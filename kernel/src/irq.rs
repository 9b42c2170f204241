//! Interrupts for user-level drivers: which lines have been handed out as IRQHandler
//! capabilities, the notification each one signals, the IRQControl and IRQHandler invocations,
//! and delivery.
//!
//! A line is unmasked at the GIC when its handler capability is issued. When it fires, the
//! kernel masks it and signals the handler's notification; it stays masked until the driver
//! acknowledges it (IRQHandler Ack), so a level-triggered device cannot storm the kernel while
//! its driver runs. The timer line is the kernel's and is never handed out.

use crate::arch::aarch64::{gic, timer};
use crate::ipc;
use crate::thread::KernelCell;
use hmk_kernel::cspace::cap::Cap;
use hmk_kernel::cspace::invoke::Outcome;
use hmk_kernel::cspace::lookup::lookup_slot_for_cnode_op;
use hmk_kernel::cspace::ops;
use hmk_kernel::cspace::slot::Slot;
use hmk_kernel::error::SyscallError;
use hmk_sys::object::label;

/// INTIDs the table covers (the GIC's largest non-special INTID is 1019).
const LINES: usize = 1020;

#[derive(Clone, Copy)]
struct Line {
    /// A handler capability for this line exists.
    issued: bool,
    /// The notification (object, badge) it signals, if one is set.
    notification: Option<(u64, u64)>,
}

static TABLE: KernelCell<[Line; LINES]> = KernelCell::new([Line { issued: false, notification: None }; LINES]);

fn table() -> &'static mut [Line; LINES] {
    // SAFETY: kernel mode on the boot core; no caller holds another reference across a call.
    unsafe { TABLE.get() }
}

fn arg(args: &[u64], index: usize) -> u64 {
    args.get(index).copied().unwrap_or(0)
}

/// IRQControl Get (`IRQIssueIRQHandler`: irq, index, depth; root) and GetTrigger
/// (`ARMIRQIssueIRQHandlerTrigger`: irq, trigger, index, depth; root).
///
/// # Safety
/// `control_slot` is a live slot holding the IRQControl capability; every CNode reachable from
/// `extra[0]` is live.
pub unsafe fn invoke_control(
    label: u64,
    control_slot: *mut Slot,
    args: &[u64],
    extra: &[Cap],
) -> Result<Outcome, SyscallError> {
    let with_trigger = match label {
        label::IRQ_ISSUE_IRQ_HANDLER => false,
        label::ARM_IRQ_ISSUE_IRQ_HANDLER_TRIGGER => true,
        _ => return Err(SyscallError::IllegalOperation),
    };
    let first = usize::from(with_trigger);
    if args.len() < 3 + first || extra.is_empty() {
        return Err(SyscallError::TruncatedMessage);
    }
    let irq = arg(args, 0);
    let (index, depth) = (arg(args, 1 + first), arg(args, 2 + first));
    let max = u64::from(gic::line_count()).saturating_sub(1);
    if irq > max {
        return Err(SyscallError::RangeError { min: 0, max });
    }
    if irq == u64::from(timer::intid()) || table()[irq as usize].issued {
        return Err(SyscallError::RevokeFirst);
    }
    // SAFETY: the caller's contract covers the CNodes reached from `extra[0]`.
    let dest = unsafe { lookup_slot_for_cnode_op(extra[0], index, depth, false)? };
    // SAFETY: `dest` is a live slot.
    if !unsafe { (*dest).is_empty() } {
        return Err(SyscallError::DeleteFirst);
    }
    if with_trigger {
        gic::set_trigger(irq as u32, arg(args, 1) != 0);
    }
    table()[irq as usize] = Line { issued: true, notification: None };
    // SAFETY: `control_slot` is live and `dest` empty and unlinked.
    unsafe { ops::insert_derived(Cap::IrqHandler { irq }, control_slot, dest) };
    gic::enable(irq as u32);
    Ok(Outcome::Done)
}

/// IRQHandler Ack, SetNotification (extra: a notification that may send) and Clear.
pub fn invoke_handler(label: u64, irq: u64, extra: &[Cap]) -> Result<Outcome, SyscallError> {
    let line = &mut table()[irq as usize % LINES];
    match label {
        label::IRQ_ACK_IRQ => gic::enable(irq as u32),
        label::IRQ_SET_IRQ_HANDLER => {
            let Some(&cap) = extra.first() else { return Err(SyscallError::TruncatedMessage) };
            let Cap::Notification { ptr, badge, can_send: true, .. } = cap else {
                return Err(SyscallError::InvalidCapability { argument: 0 });
            };
            line.notification = Some((ptr, badge));
        }
        label::IRQ_CLEAR_IRQ_HANDLER => line.notification = None,
        _ => return Err(SyscallError::IllegalOperation),
    }
    Ok(Outcome::Done)
}

/// An interrupt for a user driver arrived: mask the line until the driver acknowledges it and
/// signal its notification. Returns `false` for a line nobody holds (the caller warns).
pub fn deliver(intid: u32) -> bool {
    let Some(line) = table().get(intid as usize) else { return false };
    gic::disable(intid);
    if !line.issued {
        return false;
    }
    if let Some((ptr, badge)) = line.notification {
        ipc::signal(Cap::Notification { ptr, badge, can_send: true, can_receive: false });
    }
    true
}

/// The last handler capability for `irq` was deleted: the line is masked and free again.
pub fn release(irq: u64) {
    if let Some(line) = table().get_mut(irq as usize) {
        *line = Line { issued: false, notification: None };
        gic::disable(irq as u32);
    }
}

/// The notification at `ptr` is being destroyed: no line may signal it any more.
/// The notifications IRQ lines deliver to (for the invariant checker).
#[cfg(feature = "invariants")]
pub fn notifications() -> impl Iterator<Item = u64> {
    table().iter().filter_map(|line| line.notification.map(|(ptr, _)| ptr))
}

pub fn forget_notification(ptr: u64) {
    for line in table().iter_mut().filter(|line| line.notification.is_some_and(|(n, _)| n == ptr)) {
        line.notification = None;
    }
}
