//! TCB, scheduling-control and scheduling-context invocations: decoding with seL4's checks and
//! error codes, then the effect on the thread and the scheduler.

use crate::{budget, thread};
use hmk_kernel::cspace::cap::Cap;
use hmk_kernel::cspace::invoke::Outcome;
use hmk_kernel::cspace::ops::{self, DeleteContext, Preempted};
use hmk_kernel::cspace::slot::Slot;
use hmk_kernel::error::SyscallError;
use hmk_kernel::object::sched_context::{MIN_REFILLS, SchedContext, refill_capacity};
use hmk_kernel::object::tcb::{self, TcbObject, ThreadState};
use hmk_kernel::sched::refill::{Refill, RefillQueue};

/// seL4's invocation labels for these objects, as the ABI states them.
pub mod label {
    pub use hmk_sys::object::label::{
        SCHED_CONTEXT_BIND, SCHED_CONTEXT_CONSUMED, SCHED_CONTEXT_UNBIND, SCHED_CONTEXT_UNBIND_OBJECT,
        SCHED_CONTEXT_YIELD_TO, SCHED_CONTROL_CONFIGURE_FLAGS, TCB_BIND_NOTIFICATION as BIND_NOTIFICATION,
        TCB_CONFIGURE as CONFIGURE, TCB_COPY_REGISTERS as COPY_REGISTERS, TCB_READ_REGISTERS as READ_REGISTERS,
        TCB_RESUME as RESUME, TCB_SET_FLAGS as SET_FLAGS, TCB_SET_IPC_BUFFER as SET_IPC_BUFFER,
        TCB_SET_MC_PRIORITY as SET_MC_PRIORITY, TCB_SET_PRIORITY as SET_PRIORITY,
        TCB_SET_SCHED_PARAMS as SET_SCHED_PARAMS, TCB_SET_SPACE as SET_SPACE,
        TCB_SET_TIMEOUT_ENDPOINT as SET_TIMEOUT_ENDPOINT, TCB_SET_TLS_BASE as SET_TLS_BASE, TCB_SUSPEND as SUSPEND,
        TCB_UNBIND_NOTIFICATION as UNBIND_NOTIFICATION, TCB_WRITE_REGISTERS as WRITE_REGISTERS,
    };
}

/// Registers in seL4's `seL4_UserContext` order for AArch64: indices into `x` of
/// the saved context, with pc, sp and spsr first (encoded as 100, 101, 102) and the TLS
/// registers last (103, 104).
pub const USER_CONTEXT_ORDER: [u8; 36] = [
    100, 101, 102, 0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 17, 18, 29, 30, 9, 10, 11, 12, 13, 14, 15, 19, 20, 21, 22, 23, 24,
    25, 26, 27, 28, 103, 104,
];

/// The largest time a scheduling context may be configured with (seL4: about 2^60 µs);
/// we accept up to an hour, in microseconds.
const MAX_PERIOD_US: u64 = 3_600_000_000;
/// Smallest budget, in microseconds (seL4's MIN_BUDGET_US is twice the kernel WCET).
pub const MIN_BUDGET_US: u64 = 20;

fn arg(args: &[u64], index: usize) -> u64 {
    args.get(index).copied().unwrap_or(0)
}

fn tcb(ptr: u64) -> &'static mut TcbObject {
    // SAFETY: a thread capability names a live TCB object.
    unsafe { &mut *(ptr as *mut TcbObject) }
}

fn sc(ptr: u64) -> &'static mut SchedContext {
    // SAFETY: a scheduling-context capability names a live object.
    unsafe { &mut *(ptr as *mut SchedContext) }
}

fn register(context: &hmk_kernel::context::UserContext, code: u8) -> u64 {
    use register_code::{NEXT_PC, PC, SP, SPSR, TPIDR_EL0, TPIDRRO_EL0};
    match code {
        PC => context.pc,
        SP => context.sp,
        SPSR => context.spsr,
        TPIDR_EL0 | TPIDRRO_EL0 | NEXT_PC => 0,
        n => context.x[usize::from(n)],
    }
}

/// The PC a thread shows to ReadRegisters and CopyRegisters (seL4's FaultIP): for a thread
/// blocked inside a system call the `svc`, where it restarts and where it would return were
/// the PC written back; otherwise its PC.
fn restart_pc(thread: u64) -> u64 {
    let pc = tcb(thread).tcb.context.pc;
    if crate::ipc::pc_after_svc(thread) { pc.wrapping_sub(4) } else { pc }
}

/// Register codes beyond x0..x30 in [`USER_CONTEXT_ORDER`] and fault replies.
pub mod register_code {
    pub const PC: u8 = 100;
    pub const SP: u8 = 101;
    pub const SPSR: u8 = 102;
    pub const TPIDR_EL0: u8 = 103;
    pub const TPIDRRO_EL0: u8 = 104;
    /// The PC a completed system call returns to: a fault reply's word for it is ignored,
    /// as the restart that follows sets it to the (restart) PC.
    pub const NEXT_PC: u8 = 105;
}

/// Sets one register of a thread, sanitised: SPSR keeps the thread at EL0 with interrupts on.
pub fn set_register(object: &mut TcbObject, code: u8, value: u64) {
    use register_code::{NEXT_PC, PC, SP, SPSR, TPIDR_EL0, TPIDRRO_EL0};
    let context = &mut object.tcb.context;
    match code {
        PC => context.pc = value,
        SP => context.sp = value,
        // Only the flags may change; the thread stays at EL0 with interrupts on.
        SPSR => context.spsr = value & 0xf000_0000,
        TPIDR_EL0 => object.tcb.tls_base = value,
        TPIDRRO_EL0 | NEXT_PC => {}
        n => context.x[usize::from(n)] = value,
    }
}

/// seL4 `checkPrio`: at most the authority's maximum controlled priority.
fn check_priority(priority: u64, authority: &Cap) -> Result<(), SyscallError> {
    let Cap::Thread { ptr } = *authority else { return Err(SyscallError::InvalidCapability { argument: 1 }) };
    let mcp = tcb(ptr).tcb.mcp;
    if priority > mcp {
        return Err(SyscallError::RangeError { min: 0, max: mcp });
    }
    Ok(())
}

/// MCS: a fault or timeout handler is an endpoint that can send and grant (or grant-reply), or
/// nothing.
fn valid_fault_handler(cap: &Cap) -> bool {
    match cap {
        Cap::Endpoint { can_send, can_grant, can_grant_reply, .. } => *can_send && (*can_grant || *can_grant_reply),
        Cap::Null => true,
        _ => false,
    }
}

/// Replaces the capability in the TCB's slot `index` by a copy of the one in `source`.
///
/// # Safety
/// `source` is a live slot holding `cap` (or `cap` is Null); the TCB is live.
unsafe fn install(
    object: &mut TcbObject,
    index: usize,
    cap: Cap,
    source: *mut Slot,
    ctx: &mut dyn DeleteContext,
) -> Result<(), Preempted> {
    let slot: *mut Slot = &mut object.slots[index];
    // SAFETY: the TCB's own slots are live; the caller vouches for `source`.
    unsafe {
        ops::delete_slot(slot, true, ctx)?;
        if !cap.is_null() && !source.is_null() && (*source).cap().same_object_as(&cap) {
            ops::insert_derived(cap, source, slot);
        }
    }
    Ok(())
}

/// seL4 `checkValidIPCBuffer`: 1 KiB aligned, in a normal (not device) frame.
fn check_ipc_buffer(address: u64, cap: &Cap) -> Result<(), SyscallError> {
    if !matches!(cap, Cap::Frame { is_device: false, .. }) {
        return Err(SyscallError::IllegalOperation);
    }
    if !address.is_multiple_of(1024) {
        return Err(SyscallError::AlignmentError);
    }
    Ok(())
}

/// The capabilities passed with an invocation and the slots they came from.
pub struct Extra<'a> {
    pub caps: &'a [Cap],
    pub slots: &'a [*mut Slot],
}

/// Decodes and performs an invocation of the thread capability naming `target`.
///
/// # Safety
/// `extra.slots` are live slots holding `extra.caps`; every object named is live.
pub unsafe fn invoke_tcb(
    label: u64,
    target: u64,
    args: &[u64],
    extra: Extra,
    reply: &mut [u64; 120],
    reply_length: &mut usize,
    ctx: &mut dyn DeleteContext,
) -> Result<Outcome, SyscallError> {
    let object = tcb(target);
    let is_current = target as *mut TcbObject == thread::current();
    let need_caps = |n: usize| if extra.caps.len() < n { Err(SyscallError::TruncatedMessage) } else { Ok(()) };
    match label {
        label::SUSPEND => {
            suspend(target as *mut TcbObject);
            Ok(Outcome::Done)
        }
        label::RESUME => {
            crate::ipc::restart(target, true);
            Ok(Outcome::Done)
        }
        label::READ_REGISTERS => {
            if args.len() < 2 {
                return Err(SyscallError::TruncatedMessage);
            }
            let count = arg(args, 1);
            if count < 1 || count > USER_CONTEXT_ORDER.len() as u64 {
                return Err(SyscallError::RangeError { min: 1, max: USER_CONTEXT_ORDER.len() as u64 });
            }
            if is_current {
                return Err(SyscallError::IllegalOperation);
            }
            if arg(args, 0) & 1 != 0 {
                suspend(target as *mut TcbObject);
            }
            for (i, &code) in USER_CONTEXT_ORDER.iter().take(count as usize).enumerate() {
                reply[i] = match code {
                    register_code::TPIDR_EL0 => object.tcb.tls_base,
                    register_code::PC => restart_pc(target),
                    _ => register(&object.tcb.context, code),
                };
            }
            *reply_length = count as usize;
            Ok(Outcome::Done)
        }
        label::WRITE_REGISTERS => {
            if args.len() < 2 {
                return Err(SyscallError::TruncatedMessage);
            }
            let count = arg(args, 1);
            if (args.len() as u64 - 2) < count {
                return Err(SyscallError::TruncatedMessage);
            }
            if is_current {
                return Err(SyscallError::IllegalOperation);
            }
            for (i, &code) in USER_CONTEXT_ORDER.iter().take(count as usize).enumerate() {
                set_register(object, code, args[2 + i]);
            }
            if count > 0 {
                // A PC just written is where the thread restarts, now or at a later Resume.
                crate::ipc::pc_was_written(target);
            }
            if arg(args, 0) & 1 != 0 {
                crate::ipc::restart(target, true);
            }
            Ok(Outcome::Done)
        }
        label::COPY_REGISTERS => {
            if args.is_empty() || extra.caps.is_empty() {
                return Err(SyscallError::TruncatedMessage);
            }
            let Cap::Thread { ptr: source } = extra.caps[0] else {
                return Err(SyscallError::InvalidCapability { argument: 1 });
            };
            let flags = arg(args, 0);
            if flags & 1 != 0 {
                suspend(source as *mut TcbObject);
            }
            let from = tcb(source);
            let (mut context, tls) = (from.tcb.context, from.tcb.tls_base);
            context.pc = restart_pc(source);
            let to = tcb(target);
            if flags & 4 != 0 {
                crate::ipc::pc_was_written(target);
                to.tcb.context.pc = context.pc;
                to.tcb.context.sp = context.sp;
                to.tcb.context.spsr = context.spsr;
                for n in [0, 1, 2, 3, 4, 5, 6, 7, 8, 16, 17, 18, 29, 30] {
                    to.tcb.context.x[n] = context.x[n];
                }
            }
            if flags & 8 != 0 {
                for n in [9, 10, 11, 12, 13, 14, 15, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28] {
                    to.tcb.context.x[n] = context.x[n];
                }
                to.tcb.tls_base = tls;
            }
            if flags & 2 != 0 {
                crate::ipc::restart(target, true);
            }
            Ok(Outcome::Done)
        }
        label::SET_PRIORITY | label::SET_MC_PRIORITY => {
            if args.is_empty() || extra.caps.is_empty() {
                return Err(SyscallError::TruncatedMessage);
            }
            let value = arg(args, 0);
            check_priority(value, &extra.caps[0])?;
            if label == label::SET_PRIORITY {
                thread::set_priority(target as *mut TcbObject, value);
            } else {
                object.tcb.mcp = value;
            }
            Ok(Outcome::Done)
        }
        label::SET_SCHED_PARAMS => {
            if args.len() < 2 {
                return Err(SyscallError::TruncatedMessage);
            }
            need_caps(3)?;
            let (mcp, priority) = (arg(args, 0), arg(args, 1));
            check_priority(mcp, &extra.caps[0])?;
            check_priority(priority, &extra.caps[0])?;
            let new_sc = match extra.caps[1] {
                Cap::SchedContext { ptr, .. } => {
                    if object.tcb.sched_context != 0 || sc(ptr).tcb != 0 {
                        return Err(SyscallError::IllegalOperation);
                    }
                    Some(ptr)
                }
                Cap::Null if is_current => return Err(SyscallError::IllegalOperation),
                Cap::Null => None,
                _ => return Err(SyscallError::InvalidCapability { argument: 2 }),
            };
            if !valid_fault_handler(&extra.caps[2]) {
                return Err(SyscallError::InvalidCapability { argument: 3 });
            }
            // SAFETY: the caller vouches for the extra slots.
            if unsafe { install(object, tcb::slot::FAULT_HANDLER, extra.caps[2], extra.slots[2], ctx) }.is_err() {
                return Ok(Outcome::Preempted);
            }
            object.tcb.mcp = mcp;
            thread::set_priority(target as *mut TcbObject, priority);
            match new_sc {
                Some(ptr) => bind(ptr, target),
                None => unbind_tcb(target),
            }
            Ok(Outcome::Done)
        }
        label::SET_TIMEOUT_ENDPOINT => {
            need_caps(1)?;
            if !valid_fault_handler(&extra.caps[0]) {
                return Err(SyscallError::InvalidCapability { argument: 1 });
            }
            // SAFETY: the caller vouches for the extra slots.
            let done = unsafe { install(object, tcb::slot::TIMEOUT_HANDLER, extra.caps[0], extra.slots[0], ctx) };
            Ok(if done.is_ok() { Outcome::Done } else { Outcome::Preempted })
        }
        label::SET_IPC_BUFFER => {
            if args.is_empty() {
                return Err(SyscallError::TruncatedMessage);
            }
            need_caps(1)?;
            let address = arg(args, 0);
            let mut buffer_cap = Cap::Null;
            if address != 0 {
                // SAFETY: the caller vouches for the extra slots.
                buffer_cap = unsafe { ops::derive(extra.slots[0], extra.caps[0]) }?;
                check_ipc_buffer(address, &buffer_cap)?;
            }
            // SAFETY: the caller vouches for the extra slots.
            if unsafe { install(object, tcb::slot::IPC_BUFFER, buffer_cap, extra.slots[0], ctx) }.is_err() {
                return Ok(Outcome::Preempted);
            }
            object.tcb.ipc_buffer = address;
            Ok(Outcome::Done)
        }
        label::CONFIGURE | label::SET_SPACE => {
            let configure = label == label::CONFIGURE;
            if args.len() < if configure { 3 } else { 2 } {
                return Err(SyscallError::TruncatedMessage);
            }
            need_caps(3)?;
            // Configure: CSpace, VSpace, IPC buffer frame. SetSpace: fault handler, CSpace, VSpace.
            let (c_index, v_index) = if configure { (0, 1) } else { (1, 2) };
            let (c_data, v_data) = (arg(args, 0), arg(args, 1));
            if !configure && !valid_fault_handler(&extra.caps[0]) {
                return Err(SyscallError::InvalidCapability { argument: 1 });
            }
            let mut buffer_cap = Cap::Null;
            let buffer_address = if configure { arg(args, 2) } else { 0 };
            if configure && buffer_address != 0 {
                // SAFETY: the caller vouches for the extra slots.
                buffer_cap = unsafe { ops::derive(extra.slots[2], extra.caps[2]) }?;
                check_ipc_buffer(buffer_address, &buffer_cap)?;
            }
            let mut c_cap = extra.caps[c_index];
            if c_data != 0 {
                c_cap = ops::update_cap_data(false, c_data, c_cap).unwrap_or(Cap::Null);
            }
            // SAFETY: the caller vouches for the extra slots.
            c_cap = unsafe { ops::derive(extra.slots[c_index], c_cap) }?;
            if !matches!(c_cap, Cap::CNode { .. }) {
                return Err(SyscallError::IllegalOperation);
            }
            let _ = v_data;
            // SAFETY: the caller vouches for the extra slots.
            let v_cap = unsafe { ops::derive(extra.slots[v_index], extra.caps[v_index]) }?;
            if !matches!(v_cap, Cap::VSpace { asid: Some(_), .. }) {
                return Err(SyscallError::IllegalOperation);
            }
            // SAFETY: the caller vouches for the extra slots.
            let done = unsafe {
                install(object, tcb::slot::CSPACE_ROOT, c_cap, extra.slots[c_index], ctx)
                    .and_then(|()| install(object, tcb::slot::VSPACE_ROOT, v_cap, extra.slots[v_index], ctx))
                    .and_then(|()| {
                        if configure {
                            install(object, tcb::slot::IPC_BUFFER, buffer_cap, extra.slots[2], ctx)
                        } else {
                            install(object, tcb::slot::FAULT_HANDLER, extra.caps[0], extra.slots[0], ctx)
                        }
                    })
            };
            if done.is_err() {
                return Ok(Outcome::Preempted);
            }
            if configure {
                object.tcb.ipc_buffer = buffer_address;
            }
            Ok(Outcome::Done)
        }
        label::BIND_NOTIFICATION => {
            need_caps(1)?;
            // seL4: anything but a notification, like a busy one, is an illegal operation.
            let Cap::Notification { ptr, can_receive, .. } = extra.caps[0] else {
                return Err(SyscallError::IllegalOperation);
            };
            if !can_receive || object.tcb.bound_notification != 0 || crate::ipc::notification_busy(ptr) {
                return Err(SyscallError::IllegalOperation);
            }
            crate::ipc::bind_notification(target, ptr);
            Ok(Outcome::Done)
        }
        label::UNBIND_NOTIFICATION => {
            if !crate::ipc::unbind_notification(target) {
                return Err(SyscallError::IllegalOperation);
            }
            Ok(Outcome::Done)
        }
        label::SET_TLS_BASE => {
            if args.is_empty() {
                return Err(SyscallError::TruncatedMessage);
            }
            object.tcb.tls_base = arg(args, 0);
            if is_current {
                thread::start(target as *mut TcbObject);
            }
            Ok(Outcome::Done)
        }
        label::SET_FLAGS => {
            // Clear, then set; unknown flags are ignored. Reply: the flags now.
            if args.len() < 2 {
                return Err(SyscallError::TruncatedMessage);
            }
            let flags = ((object.tcb.flags & !arg(args, 0)) | arg(args, 1)) & tcb::FLAG_FPU_DISABLED;
            object.tcb.flags = flags;
            if flags & tcb::FLAG_FPU_DISABLED != 0 {
                // Its FP registers go back to its TCB; its next FP use traps.
                thread::give_up_fp_unit(target as *mut TcbObject);
            }
            reply[0] = flags;
            *reply_length = 1;
            Ok(Outcome::Done)
        }
        _ => Err(SyscallError::IllegalOperation),
    }
}

/// Stops a thread until it is resumed; a pending IPC is cancelled.
pub fn suspend(target: *mut TcbObject) {
    let object = tcb(target as u64);
    // A thread stopped inside a blocking system call re-executes it when resumed (seL4's
    // Restart state).
    if crate::ipc::pc_after_svc(target as u64) {
        object.tcb.context.pc -= 4;
    }
    crate::ipc::cancel(target as u64);
    tcb(target as u64).tcb.state = ThreadState::Inactive;
    thread::forget(target);
}

fn bind(sc_ptr: u64, tcb_ptr: u64) {
    sc(sc_ptr).tcb = tcb_ptr;
    tcb(tcb_ptr).tcb.sched_context = sc_ptr;
    thread::make_ready(tcb_ptr as *mut TcbObject);
}

fn unbind_tcb(tcb_ptr: u64) {
    let object = tcb(tcb_ptr);
    if object.tcb.sched_context != 0 {
        sc(object.tcb.sched_context).tcb = 0;
        object.tcb.sched_context = 0;
        thread::dequeue(tcb_ptr as *mut TcbObject);
    }
}

/// Counter ticks for `us` microseconds at `frequency` Hz.
pub fn ticks_from_us(us: u64, frequency: u64) -> u64 {
    ((u128::from(us) * u128::from(frequency)) / 1_000_000) as u64
}

/// SchedControl ConfigureFlags: budget, period (µs), extra refills, badge, flags.
///
/// # Safety
/// `extra` names live objects.
pub unsafe fn invoke_sched_control(
    label: u64,
    args: &[u64],
    extra: &[Cap],
    now: u64,
    frequency: u64,
) -> Result<Outcome, SyscallError> {
    if label != label::SCHED_CONTROL_CONFIGURE_FLAGS {
        return Err(SyscallError::IllegalOperation);
    }
    if args.len() < 5 || extra.is_empty() {
        return Err(SyscallError::TruncatedMessage);
    }
    let Cap::SchedContext { ptr, size_bits } = extra[0] else {
        return Err(SyscallError::InvalidCapability { argument: 1 });
    };
    let (budget_us, period_us, extra_refills, badge, flags) =
        (arg(args, 0), arg(args, 1), arg(args, 2), arg(args, 3), arg(args, 4));
    if !(MIN_BUDGET_US..=MAX_PERIOD_US).contains(&budget_us) {
        return Err(SyscallError::RangeError { min: MIN_BUDGET_US, max: MAX_PERIOD_US });
    }
    if !(MIN_BUDGET_US..=MAX_PERIOD_US).contains(&period_us) {
        return Err(SyscallError::RangeError { min: MIN_BUDGET_US, max: MAX_PERIOD_US });
    }
    if budget_us > period_us {
        return Err(SyscallError::RangeError { min: MIN_BUDGET_US, max: period_us });
    }
    // seL4: at least MIN_REFILLS refills; the extra ones must fit in the object. Checked
    // without adding to the user's number, which may be anything.
    let capacity = refill_capacity(size_bits);
    let most_extra = capacity.saturating_sub(MIN_REFILLS) as u64;
    if extra_refills > most_extra {
        return Err(SyscallError::RangeError { min: 0, max: most_extra });
    }
    let core = sc(ptr);
    core.budget = ticks_from_us(budget_us, frequency);
    core.period = ticks_from_us(period_us, frequency);
    core.badge = badge;
    core.flags = flags;
    // SAFETY: the refill array follows the core inside the object.
    let refills = unsafe { core::slice::from_raw_parts_mut((ptr + 80) as *mut Refill, capacity) };
    let queue = RefillQueue::new(
        refills,
        extra_refills as usize + MIN_REFILLS,
        core.budget,
        core.period,
        now,
        ticks_from_us(MIN_BUDGET_US, frequency),
    );
    let (head, count, max) = (queue.head, queue.count, queue.max);
    core.set_refill_head_count(head, count);
    core.refill_max = max as u64;
    thread::forget_consumed(ptr, false);
    if core.tcb != 0 {
        thread::reconsider(core.tcb as *mut TcbObject);
    }
    Ok(Outcome::Done)
}

/// SchedContext Bind, Unbind, UnbindObject, Consumed.
pub fn invoke_sched_context(
    label: u64,
    sc_ptr: u64,
    extra: &[Cap],
    reply: &mut [u64; 120],
    reply_length: &mut usize,
    frequency: u64,
) -> Result<Outcome, SyscallError> {
    let core = sc(sc_ptr);
    match label {
        label::SCHED_CONTEXT_BIND => {
            let Some(cap) = extra.first() else { return Err(SyscallError::TruncatedMessage) };
            match *cap {
                Cap::Thread { ptr } => {
                    if core.tcb != 0 || tcb(ptr).tcb.sched_context != 0 {
                        return Err(SyscallError::IllegalOperation);
                    }
                    bind(sc_ptr, ptr);
                    Ok(Outcome::Done)
                }
                Cap::Notification { ptr, .. } => {
                    if crate::ipc::bind_sched_context(ptr, sc_ptr) {
                        Ok(Outcome::Done)
                    } else {
                        Err(SyscallError::IllegalOperation)
                    }
                }
                _ => Err(SyscallError::InvalidCapability { argument: 1 }),
            }
        }
        label::SCHED_CONTEXT_UNBIND => {
            // Everything bound goes: the thread (not the caller itself) and the notification.
            if core.tcb != 0 {
                if core.tcb as *mut TcbObject == thread::current() {
                    return Err(SyscallError::IllegalOperation);
                }
                unbind_tcb(core.tcb);
            }
            crate::ipc::unbind_sched_context(sc_ptr);
            // And the reply it is lent through: that reply no longer gives it back (seL4).
            crate::ipc::forget_lending(sc_ptr);
            Ok(Outcome::Done)
        }
        label::SCHED_CONTEXT_UNBIND_OBJECT => match extra.first() {
            Some(Cap::Thread { ptr }) => {
                if core.tcb != *ptr || *ptr as *mut TcbObject == thread::current() {
                    return Err(SyscallError::IllegalOperation);
                }
                unbind_tcb(*ptr);
                Ok(Outcome::Done)
            }
            Some(Cap::Notification { ptr, .. }) => {
                if core.notification != *ptr {
                    return Err(SyscallError::IllegalOperation);
                }
                crate::ipc::unbind_sched_context(sc_ptr);
                Ok(Outcome::Done)
            }
            Some(_) => Err(SyscallError::InvalidCapability { argument: 1 }),
            None => Err(SyscallError::TruncatedMessage),
        },
        label::SCHED_CONTEXT_YIELD_TO => {
            // The thread bound to this context runs next if it may: it goes to the head of its
            // priority, and a caller of no higher priority steps behind it. Reply: consumed µs.
            let target = core.tcb;
            let caller = thread::current();
            if target == 0 || target as *mut TcbObject == caller {
                return Err(SyscallError::IllegalOperation);
            }
            let (target_priority, caller_priority, caller_mcp) =
                (tcb(target).tcb.priority, tcb(caller as u64).tcb.priority, tcb(caller as u64).tcb.mcp);
            if target_priority > caller_mcp {
                return Err(SyscallError::IllegalOperation);
            }
            if thread::schedulable(tcb(target)) {
                thread::move_to_head(target as *mut TcbObject);
                if target_priority >= caller_priority {
                    thread::rotate_current();
                }
            }
            reply[0] = budget::take_consumed_us(sc_ptr, frequency);
            *reply_length = 1;
            Ok(Outcome::Done)
        }
        label::SCHED_CONTEXT_CONSUMED => {
            reply[0] = budget::take_consumed_us(sc_ptr, frequency);
            *reply_length = 1;
            Ok(Outcome::Done)
        }
        _ => Err(SyscallError::IllegalOperation),
    }
}
