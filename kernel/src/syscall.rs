//! System calls: the syscall number in x7 decides; capability invocations (Call, Send,
//! NBSend) look up the invoked capability and the extra capabilities in the caller's CSpace,
//! read the message from x2..x5 and the IPC buffer, dispatch by capability type, and (for
//! Call) write the reply: label 0 on success, or seL4's error code with its details.

use crate::arch::aarch64::timer;
use crate::objects::KernelOps;
use crate::{ipc, tcb_invoke, thread, vspace_invoke};
use hmk_kernel::context::UserContext;
use hmk_kernel::cspace::cap::Cap;
use hmk_kernel::cspace::invoke::{Outcome, invoke_cnode};
use hmk_kernel::cspace::lookup::lookup_cap_slot;
use hmk_kernel::error::SyscallError;
use hmk_kernel::object::tcb::{self, TcbObject};
use hmk_kernel::object::untyped::invoke_retype;

/// seL4's MCS syscall numbers (x7), as the ABI states them.
use hmk_sys::syscall::number;

use hmk_sys::object::label::UNTYPED_RETYPE;
/// Most message words and extra capabilities a message carries.
const MAX_MESSAGE_WORDS: usize = 120;
const MAX_EXTRA_CAPS: usize = 3;
/// Word offsets in the IPC buffer: the message words, and the capability pointers.
const IPC_MSG_WORD: usize = 1;
const IPC_CAPS_WORD: usize = 122;

/// The kernel address of `tcb`'s IPC buffer, if it has a valid one.
fn ipc_buffer(tcb: &TcbObject) -> Option<*mut u64> {
    match tcb.slots[tcb::slot::IPC_BUFFER].cap() {
        Cap::Frame { ptr, .. } => Some((ptr + (tcb.tcb.ipc_buffer & 0xfff & !0x3ff)) as *mut u64),
        _ => None,
    }
}

/// Handles `svc #0` from EL0 for the thread whose registers are `context`.
pub fn handle(context: &mut UserContext) {
    let syscall = context.x[7] as i64;
    match syscall {
        number::CALL | number::SEND | number::NB_SEND => invoke(context, syscall),
        number::RECV | number::NB_RECV | number::WAIT | number::NB_WAIT => {
            receive_on(context.x[0], context.x[6], syscall == number::RECV || syscall == number::WAIT, context)
        }
        number::REPLY_RECV => {
            if let Some(reply) = lookup_cap(context.x[6]) {
                ipc::reply_with(thread::current() as u64, reply);
            }
            receive_on(context.x[0], context.x[6], true, context);
        }
        number::NB_SEND_RECV => {
            send_without_blocking(context.x[8]);
            receive_on(context.x[0], context.x[6], true, context);
        }
        number::NB_SEND_WAIT => {
            send_without_blocking(context.x[6]);
            receive_on(context.x[0], 0, true, context);
        }
        number::YIELD => thread::yield_current(),
        #[cfg(feature = "debug-syscalls")]
        _ if debug::handle(syscall, context) => {}
        _ => {
            // The fault names the `svc` itself, where the thread restarts unless its handler
            // moves the PC on (seL4's FaultIP).
            context.pc -= 4;
            ipc::raise_fault(thread::current() as u64, [ipc::fault::UNKNOWN_SYSCALL, syscall as u64, 0, 0]);
        }
    }
}

/// The domain schedule the domain capability edits (one per system).
fn domain_schedule() -> &'static mut hmk_kernel::object::domain::Schedule {
    static SCHEDULE: thread::KernelCell<hmk_kernel::object::domain::Schedule> =
        thread::KernelCell::new(hmk_kernel::object::domain::Schedule::new());
    // SAFETY: kernel mode on the boot core; no caller holds another reference across a call.
    unsafe { SCHEDULE.get() }
}

fn current() -> &'static mut TcbObject {
    // SAFETY: a syscall comes from the running thread, whose TCB is live while it runs.
    unsafe { &mut *thread::current() }
}

/// The capability `cptr` names in the current thread's CSpace.
fn lookup(cptr: u64) -> Option<*mut hmk_kernel::cspace::slot::Slot> {
    let root = current().slots[tcb::slot::CSPACE_ROOT].cap();
    // SAFETY: every CNode reachable from a thread's CSpace root is a live object.
    unsafe { lookup_cap_slot(root, cptr) }.ok()
}

/// The capability `cptr` names, if the lookup succeeds.
fn lookup_cap(cptr: u64) -> Option<Cap> {
    // SAFETY: `lookup` returns live slots.
    lookup(cptr).map(|slot| unsafe { (*slot).cap() })
}

/// Receive (or wait, or poll) on the endpoint or notification `cptr`, with reply object
/// `reply_cptr` for a call.
fn receive_on(cptr: u64, reply_cptr: u64, blocking: bool, context: &mut UserContext) {
    let me = thread::current() as u64;
    match lookup_cap(cptr) {
        Some(cap @ (Cap::Endpoint { can_receive: true, .. } | Cap::Notification { can_receive: true, .. })) => {
            let reply = if reply_cptr == 0 { Cap::Null } else { lookup_cap(reply_cptr).unwrap_or(Cap::Null) };
            ipc::receive(me, cap, reply, blocking);
        }
        // seL4 faults on a capability that cannot receive, blocking or not.
        _ => cap_fault(context, "capability to receive on", cptr, true),
    }
}

/// The send half of NBSendRecv and NBSendWait: a non-blocking send to `cptr`.
fn send_without_blocking(cptr: u64) {
    let me = thread::current() as u64;
    match lookup_cap(cptr) {
        Some(cap @ Cap::Endpoint { .. }) => ipc::send_donating(me, cap),
        Some(cap @ Cap::Notification { .. }) => ipc::signal(cap),
        Some(cap @ Cap::Reply { .. }) => ipc::reply_with(me, cap),
        _ => {}
    }
}

/// A capability invocation. Only Call gets a reply; only the blocking ones (Call, Send) fault
/// on a failed lookup, NBSend then does nothing.
fn invoke(context: &mut UserContext, syscall: i64) {
    let is_call = syscall == number::CALL;
    let is_blocking = syscall != number::NB_SEND;
    let caller = current();
    let info = context.x[1];
    let label = info >> 12;
    let buffer = ipc_buffer(caller);
    let mut length = ((info & 0x7f) as usize).min(MAX_MESSAGE_WORDS);
    if buffer.is_none() {
        length = length.min(4);
    }
    let extra_count = (((info >> 7) & 3) as usize).min(MAX_EXTRA_CAPS);
    let Some(slot) = lookup(context.x[0]) else {
        if is_blocking {
            cap_fault(context, "invoked capability", context.x[0], false);
        }
        return;
    };
    let mut args = [0u64; MAX_MESSAGE_WORDS];
    args[..4].copy_from_slice(&context.x[2..6]);
    let mut extra = [Cap::Null; MAX_EXTRA_CAPS];
    let mut extra_slots = [core::ptr::null_mut(); MAX_EXTRA_CAPS];
    if let Some(buffer) = buffer {
        for (i, word) in args.iter_mut().enumerate().take(length).skip(4) {
            // SAFETY: the IPC buffer is one mapped frame; word offsets stay below 128.
            *word = unsafe { *buffer.add(IPC_MSG_WORD + i) };
        }
        for i in 0..extra_count {
            // SAFETY: as above.
            let cptr = unsafe { *buffer.add(IPC_CAPS_WORD + i) };
            let Some(extra_slot) = lookup(cptr) else {
                if is_blocking {
                    cap_fault(context, "extra capability", cptr, false);
                }
                return;
            };
            extra_slots[i] = extra_slot;
            // SAFETY: `lookup` returns live slots.
            extra[i] = unsafe { (*extra_slot).cap() };
        }
    }
    let count = if buffer.is_some() { extra_count } else { 0 };
    let (extra, extra_slots) = (&extra[..count], &extra_slots[..count]);
    let args = &args[..length];
    // Endpoints, notifications and replies carry messages rather than being invoked.
    // SAFETY: `lookup` returns live slots.
    match unsafe { (*slot).cap() } {
        // seL4: invoking an endpoint or notification without the send right is an error.
        Cap::Endpoint { can_send: false, .. } | Cap::Notification { can_send: false, .. } => {
            if is_call {
                reply_error(context, buffer, SyscallError::InvalidCapability { argument: 0 });
            }
            return;
        }
        cap @ Cap::Endpoint { .. } => return ipc::send(thread::current() as u64, cap, is_blocking, is_call),
        cap @ Cap::Notification { .. } => return ipc::signal(cap),
        cap @ Cap::Reply { .. } => return ipc::reply_with(thread::current() as u64, cap),
        _ => {}
    }
    let mut ops = KernelOps;
    let mut reply = [0u64; MAX_MESSAGE_WORDS];
    let mut reply_length = 0;
    let frequency = timer::frequency();
    // SAFETY: `slot` and the extra capabilities come from live CSpaces; every object their
    // capabilities name is live (capabilities are deleted before their objects).
    let result = unsafe {
        match (*slot).cap() {
            Cap::Null => Err(SyscallError::InvalidCapability { argument: 0 }),
            cnode @ Cap::CNode { .. } => invoke_cnode(label, cnode, args, extra, &mut ops),
            Cap::Untyped { .. } if label == UNTYPED_RETYPE => invoke_retype(slot, args, extra, &mut ops),
            Cap::Thread { ptr } => tcb_invoke::invoke_tcb(
                label,
                ptr,
                args,
                tcb_invoke::Extra { caps: extra, slots: extra_slots },
                &mut reply,
                &mut reply_length,
                &mut ops,
            ),
            Cap::SchedControl { .. } => {
                tcb_invoke::invoke_sched_control(label, args, extra, thread::kernel_time(), frequency)
            }
            Cap::Domain => domain_schedule()
                .invoke(label, args, extra.first().map(|cap| matches!(cap, Cap::Thread { .. })))
                .map(|()| Outcome::Done),
            Cap::SchedContext { ptr, .. } => {
                tcb_invoke::invoke_sched_context(label, ptr, extra, &mut reply, &mut reply_length, frequency)
            }
            Cap::IrqControl => crate::irq::invoke_control(label, slot, args, extra),
            Cap::IrqHandler { irq } => crate::irq::invoke_handler(label, irq, extra),
            Cap::AsidControl
            | Cap::AsidPool { .. }
            | Cap::PageTable { .. }
            | Cap::Frame { .. }
            | Cap::VSpace { .. } => {
                vspace_invoke::invoke(label, slot, args, extra, extra_slots, &mut reply, &mut reply_length)
            }
            _ => Err(SyscallError::IllegalOperation),
        }
    };
    match result {
        Ok(Outcome::Preempted) => context.pc -= 4,
        Ok(Outcome::Done) if is_call => {
            context.x[0] = 0;
            context.x[1] = reply_length as u64;
            for (i, &word) in reply.iter().enumerate().take(reply_length) {
                if i < 4 {
                    context.x[2 + i] = word;
                } else if let Some(buffer) = buffer {
                    // SAFETY: the IPC buffer is one mapped frame; i < 120.
                    unsafe { *buffer.add(IPC_MSG_WORD + i) = word };
                }
            }
        }
        Err(error) if is_call => reply_error(context, buffer, error),
        _ => {}
    }
}

fn reply_error(context: &mut UserContext, buffer: Option<*mut u64>, error: SyscallError) {
    let (details, count) = error.details();
    context.x[0] = 0;
    context.x[1] = (error.code() << 12) | count as u64;
    for (i, &word) in details.iter().enumerate().take(count) {
        if i < 4 {
            context.x[2 + i] = word;
        } else if let Some(buffer) = buffer {
            // SAFETY: the IPC buffer is one mapped frame; word offset 5 is inside it.
            unsafe { *buffer.add(IPC_MSG_WORD + i) = word };
        }
    }
}

/// A capability lookup failed in a blocking invocation: a capability fault goes to the
/// thread's fault handler, and the system call restarts when the handler replies.
fn cap_fault(context: &mut UserContext, what: &str, cptr: u64, in_receive: bool) {
    let _ = what;
    context.pc -= 4;
    ipc::raise_fault(thread::current() as u64, [ipc::fault::CAP, cptr, u64::from(in_receive), 2]);
}

/// The debug system calls, compiled in with the `debug-syscalls` feature.
#[cfg(feature = "debug-syscalls")]
mod debug {
    use super::{IPC_MSG_WORD, current, ipc_buffer, lookup, number};
    use crate::arch::aarch64::stop;
    use crate::console;
    use hmk_kernel::context::UserContext;
    use hmk_kernel::cspace::cap::Cap;
    use hmk_kernel::object::tcb::TcbObject;

    /// Handles `syscall` if it is a debug syscall; `false` otherwise.
    pub fn handle(syscall: i64, context: &mut UserContext) -> bool {
        match syscall {
            number::DEBUG_PUT_CHAR => {
                let t = &mut current().tcb;
                console::put_byte(context.x[0] as u8, &mut t.console_line, &mut t.console_len);
            }
            number::DEBUG_HALT => {
                log::info!("hmk: halted by the DebugHalt syscall");
                stop::stop(0);
            }
            number::DEBUG_CAP_IDENTIFY => context.x[0] = identify(context.x[0]),
            number::DEBUG_NAME_THREAD => name_thread(context.x[0]),
            number::DEBUG_DUMP_SCHEDULER => dump_scheduler(),
            _ => return false,
        }
        true
    }

    fn identify(cptr: u64) -> u64 {
        // SAFETY: `lookup` returns live slots.
        lookup(cptr).map_or(0, |slot| unsafe { (*slot).cap() }.tag())
    }

    fn name_thread(cptr: u64) {
        let caller = current();
        let Some(buffer) = ipc_buffer(caller) else { return };
        // SAFETY: `lookup` returns live slots.
        let Some(Cap::Thread { ptr }) = lookup(cptr).map(|slot| unsafe { (*slot).cap() }) else { return };
        let mut name = [0u8; 32];
        // SAFETY: the IPC buffer frame is mapped in the kernel window; the name is read from its
        // message area (at most 31 bytes), never past the frame.
        unsafe { core::ptr::copy_nonoverlapping(buffer.add(IPC_MSG_WORD) as *const u8, name.as_mut_ptr(), 31) };
        let length = name.iter().position(|&b| b == 0).unwrap_or(31);
        name[length..].fill(0);
        // SAFETY: a thread capability names a live TCB object.
        unsafe { (*(ptr as *mut TcbObject)).tcb.name = name };
    }

    fn dump_scheduler() {
        let tcb = current();
        let length = tcb.tcb.name.iter().position(|&b| b == 0).unwrap_or(32);
        log::info!(
            "scheduler: current thread '{}' priority {} state {:?}",
            core::str::from_utf8(&tcb.tcb.name[..length]).unwrap_or("?"),
            tcb.tcb.priority,
            tcb.tcb.state
        );
    }
}
