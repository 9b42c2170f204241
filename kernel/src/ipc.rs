//! Synchronous IPC through endpoints, MCS reply objects, and notifications.
//!
//! An endpoint holds one queue of threads, all sending or all receiving, in priority order
//! (first in, first out among equals, as seL4 MCS orders them). A message moves
//! straight from sender to receiver: the message info, message registers 0..3 (x2..x5) and the
//! rest of the words through the two IPC buffers; the receiver gets the badge of the sender's
//! capability in x0. A Call leaves the caller blocked on the receiver's reply object until
//! someone replies through it (Send on the reply capability, or ReplyRecv); each reply object
//! serves one call at a time. A notification is a word of badge bits: Signal ORs the badge in
//! (or wakes one waiter with it), Wait takes the word (or blocks).

use crate::{budget, thread};
use hmk_kernel::cspace::cap::Cap;
use hmk_kernel::object::sched_context::SchedContext;
use hmk_kernel::object::tcb::{self, TcbObject, ThreadState};

/// Endpoint and notification queue states, kept in the low bits of the tail word.
pub(crate) const QUEUE_IDLE: u64 = 0;
pub(crate) const QUEUE_SEND: u64 = 1;
pub(crate) const QUEUE_RECEIVE: u64 = 2;
pub(crate) const NOTIFICATION_ACTIVE: u64 = 1;
pub(crate) const NOTIFICATION_WAITING: u64 = 2;
pub(crate) const STATE_MASK: u64 = 3;

/// Flags of a blocked send (`TcbObject::tcb.blocked_flags`).
const FLAG_CALL: u64 = 1;
const FLAG_GRANT: u64 = 2;
/// The sender is sending its fault message, not its own.
const FLAG_FAULT: u64 = 4;
/// The sender's capability has the grant right: its extra capabilities travel.
const FLAG_CAN_GRANT: u64 = 8;

/// An endpoint object (16 bytes).
#[repr(C)]
pub(crate) struct Endpoint {
    pub(crate) head: u64,
    pub(crate) tail_and_state: u64,
}

/// A notification object (64 bytes).
#[repr(C)]
pub(crate) struct Notification {
    pub(crate) head: u64,
    pub(crate) tail_and_state: u64,
    pending: u64,
    pub(crate) bound_tcb: u64,
    /// The scheduling context bound to this notification (SchedContext Bind): lent to a
    /// passive thread its signal wakes, until that thread waits on it again.
    pub(crate) sched_context: u64,
    reserved: [u64; 3],
}

/// A reply object (32 bytes): the caller waiting for it, the receiver that holds it, and the
/// scheduling context the caller lent the receiver for this call (MCS donation), if any.
///
/// A context lent on down a chain of passive servers (a server that calls another) is lent
/// through one reply per call: they form its *call stack*. The context's `reply` is the newest
/// (the head), each reply's `older` the one lent through before it; every reply on the stack
/// names the context in `donated`. A reply on the head gives the context back one step; a call
/// cut out of the middle (its caller cancelled, its reply deleted) cuts the older calls off, as
/// seL4 does: they no longer give the context back.
#[repr(C)]
pub(crate) struct Reply {
    pub(crate) caller: u64,
    pub(crate) receiver: u64,
    pub(crate) donated: u64,
    pub(crate) older: u64,
}

const _: () = {
    assert!(core::mem::size_of::<Endpoint>() == 16);
    assert!(core::mem::size_of::<Notification>() == 64);
    assert!(core::mem::size_of::<Reply>() == 32);
};

fn tcb(ptr: u64) -> &'static mut TcbObject {
    // SAFETY: queue links, reply links and capabilities only hold live TCBs: a TCB leaves every
    // queue and reply before it is finalised.
    unsafe { &mut *(ptr as *mut TcbObject) }
}

pub(crate) fn endpoint(ptr: u64) -> &'static mut Endpoint {
    // SAFETY: endpoint capabilities and blocked threads name live endpoint objects.
    unsafe { &mut *(ptr as *mut Endpoint) }
}

pub(crate) fn notification(ptr: u64) -> &'static mut Notification {
    // SAFETY: notification capabilities and bindings name live notification objects.
    unsafe { &mut *(ptr as *mut Notification) }
}

pub(crate) fn reply(ptr: u64) -> &'static mut Reply {
    // SAFETY: reply capabilities and blocked threads name live reply objects.
    unsafe { &mut *(ptr as *mut Reply) }
}

/// A queue of threads stored as head and tail-plus-state words, highest priority first and in
/// arrival order among equal priorities (seL4 MCS `tcbAppend`).
struct Queue<'a> {
    head: &'a mut u64,
    tail_and_state: &'a mut u64,
}

impl Queue<'_> {
    fn state(&self) -> u64 {
        *self.tail_and_state & STATE_MASK
    }

    fn tail(&self) -> u64 {
        *self.tail_and_state & !STATE_MASK
    }

    fn set(&mut self, head: u64, tail: u64, state: u64) {
        *self.head = head;
        *self.tail_and_state = tail | if head == 0 { QUEUE_IDLE } else { state };
    }

    /// Queues `thread` behind every thread of its priority or higher.
    fn push(&mut self, thread: u64, state: u64) {
        let priority = tcb(thread).tcb.priority;
        // The last thread that stays ahead: scanning from the tail, as most arrivals go last.
        let mut before = self.tail();
        while before != 0 && tcb(before).tcb.priority < priority {
            before = tcb(before).tcb.queue_prev;
        }
        let after = if before == 0 { *self.head } else { tcb(before).tcb.queue_next };
        let t = tcb(thread);
        t.tcb.queue_prev = before;
        t.tcb.queue_next = after;
        let head = if before == 0 {
            thread
        } else {
            tcb(before).tcb.queue_next = thread;
            *self.head
        };
        let tail = if after == 0 {
            thread
        } else {
            tcb(after).tcb.queue_prev = thread;
            self.tail()
        };
        self.set(head, tail, state);
    }

    fn remove(&mut self, thread: u64) {
        let state = self.state();
        let t = tcb(thread);
        let (prev, next) = (t.tcb.queue_prev, t.tcb.queue_next);
        let mut head = *self.head;
        let mut tail = self.tail();
        if prev == 0 {
            head = next;
        } else {
            tcb(prev).tcb.queue_next = next;
        }
        if next == 0 {
            tail = prev;
        } else {
            tcb(next).tcb.queue_prev = prev;
        }
        t.tcb.queue_prev = 0;
        t.tcb.queue_next = 0;
        self.set(head, tail, state);
    }

    fn pop(&mut self) -> Option<u64> {
        let head = *self.head;
        (head != 0).then(|| {
            self.remove(head);
            head
        })
    }
}

fn endpoint_queue(ep: &mut Endpoint) -> Queue<'_> {
    Queue { head: &mut ep.head, tail_and_state: &mut ep.tail_and_state }
}

fn notification_queue(n: &mut Notification) -> Queue<'_> {
    Queue { head: &mut n.head, tail_and_state: &mut n.tail_and_state }
}

/// The kernel address of a thread's IPC buffer, if it has one.
pub fn ipc_buffer(thread: &TcbObject) -> Option<*mut u64> {
    match thread.slots[tcb::slot::IPC_BUFFER].cap() {
        Cap::Frame { ptr, .. } if thread.tcb.ipc_buffer != 0 => {
            Some((ptr + (thread.tcb.ipc_buffer & 0xc00)) as *mut u64)
        }
        _ => None,
    }
}

/// Copies a message from `sender` to `receiver` and sets the receiver's x0 (badge) and x1.
/// A sender with a pending fault sends its fault message instead of its own registers.
/// With `grant`, the sender's extra capabilities travel too (see [`transfer_caps`]);
/// `endpoint` is the endpoint the message goes through (0 for a reply).
fn transfer(sender: u64, receiver: u64, badge: u64, endpoint: u64, grant: bool) {
    if tcb(sender).tcb.blocked_flags & FLAG_FAULT != 0 {
        let (label, words, length) = fault_message(tcb(sender));
        deliver(receiver, badge, label, &words[..length]);
        return;
    }
    let (from, to) = (tcb(sender), tcb(receiver));
    let info = from.tcb.context.x[1];
    let mut length = (info & 0x7f).min(120) as usize;
    let (from_buffer, to_buffer) = (ipc_buffer(from), ipc_buffer(to));
    if from_buffer.is_none() || to_buffer.is_none() {
        length = length.min(4);
    }
    // Only the message's words are written: the receiver's other registers stay as they were.
    let in_registers = length.min(4);
    let registers: [u64; 4] = from.tcb.context.x[2..6].try_into().unwrap_or([0; 4]);
    to.tcb.context.x[2..2 + in_registers].copy_from_slice(&registers[..in_registers]);
    if let (Some(src), Some(dst)) = (from_buffer, to_buffer) {
        for i in 4..length {
            // SAFETY: both buffers are mapped frames; message word i < 120 lies inside them.
            unsafe { *dst.add(1 + i) = *src.add(1 + i) };
        }
    }
    let (extra, unwrapped) = match (from_buffer, to_buffer) {
        (Some(src), Some(dst)) if grant => transfer_caps(from, to, src, dst, ((info >> 7) & 3) as usize, endpoint),
        _ => (0, 0),
    };
    to.tcb.context.x[1] = ((info >> 12) << 12) | (unwrapped << 9) | (extra << 7) | length as u64;
    to.tcb.context.x[0] = badge;
}

/// Moves up to `count` capabilities named in the sender's IPC buffer into the receiver's
/// receive slot (seL4 `transferCaps`): a badged capability to the endpoint the message goes
/// through is *unwrapped* (only its badge travels, in the receiver's `caps_or_badges`); any
/// other capability is derived into the one receive slot the receiver names in its IPC buffer
/// (`receiveCNode`, `receiveIndex`, `receiveDepth`), which must be empty. The first capability
/// that cannot travel ends the transfer. Returns (capabilities transferred, unwrapped bits).
fn transfer_caps(
    from: &TcbObject,
    to: &TcbObject,
    src: *mut u64,
    dst: *mut u64,
    count: usize,
    endpoint: u64,
) -> (u64, u64) {
    use hmk_kernel::cspace::{lookup, ops};
    const CAPS_WORD: usize = 122;
    const RECEIVE_WORD: usize = 125;
    let sender_root = from.slots[tcb::slot::CSPACE_ROOT].cap();
    let receiver_root = to.slots[tcb::slot::CSPACE_ROOT].cap();
    // SAFETY: both IPC buffers are mapped frames; words 122..128 are inside them.
    let (receive_cnode, receive_index, receive_depth) =
        unsafe { (*dst.add(RECEIVE_WORD), *dst.add(RECEIVE_WORD + 1), *dst.add(RECEIVE_WORD + 2)) };
    // SAFETY: every CNode reachable from a thread's CSpace root is live.
    let mut dest = unsafe {
        lookup::lookup_cap_slot(receiver_root, receive_cnode)
            .ok()
            .and_then(|node| lookup::lookup_slot_for_cnode_op((*node).cap(), receive_index, receive_depth, false).ok())
            .filter(|slot| (**slot).is_empty())
    };
    let (mut transferred, mut unwrapped) = (0u64, 0u64);
    for i in 0..count.min(3) {
        // SAFETY: as above.
        let cptr = unsafe { *src.add(CAPS_WORD + i) };
        // SAFETY: as above.
        let Ok(slot) = (unsafe { lookup::lookup_cap_slot(sender_root, cptr) }) else { break };
        // SAFETY: lookups return live slots.
        let cap = unsafe { (*slot).cap() };
        match cap {
            Cap::Endpoint { ptr, badge, .. } if endpoint != 0 && ptr == endpoint => {
                // SAFETY: as above.
                unsafe { *dst.add(CAPS_WORD + i) = badge };
                unwrapped |= 1 << i;
            }
            _ => {
                let Some(target) = dest.take() else { break };
                // SAFETY: `slot` is a live slot.
                let derived = match unsafe { ops::derive(slot, cap) } {
                    Ok(derived) if !derived.is_null() => derived,
                    _ => break,
                };
                // SAFETY: `slot` is live and `target` an empty live slot.
                unsafe { ops::insert_derived(derived, slot, target) };
            }
        }
        transferred += 1;
    }
    (transferred, unwrapped)
}

/// Writes a kernel-made message (label, words) into `receiver`'s registers and IPC buffer.
fn deliver(receiver: u64, badge: u64, label: u64, words: &[u64]) {
    let to = tcb(receiver);
    let buffer = ipc_buffer(to);
    let length = if buffer.is_some() { words.len().min(120) } else { words.len().min(4) };
    for (i, &word) in words.iter().take(length).enumerate() {
        if i < 4 {
            to.tcb.context.x[2 + i] = word;
        } else if let Some(buffer) = buffer {
            // SAFETY: the buffer is a mapped frame; i < 120.
            unsafe { *buffer.add(1 + i) = word };
        }
    }
    to.tcb.context.x[1] = (label << 12) | length as u64;
    to.tcb.context.x[0] = badge;
}

/// seL4's fault kinds, as stored in a faulting TCB (`fault[0]`) and used as message labels.
pub mod fault {
    pub const CAP: u64 = 1;
    pub const UNKNOWN_SYSCALL: u64 = 2;
    pub const USER_EXCEPTION: u64 = 3;
    pub const TIMEOUT: u64 = 5;
    pub const VM: u64 = 6;
}

/// The fault message of a faulting thread: label, words, length (seL4's layouts). A timeout
/// fault's second word is the microseconds its scheduling context consumed since that was last
/// reported, and reporting it here restarts the count (seL4 `schedContext_updateConsumed`, when
/// the fault is delivered, as for SchedContext Consumed and YieldTo); without a context the
/// message is the badge alone.
fn fault_message(t: &TcbObject) -> (u64, [u64; 16], usize) {
    let c = &t.tcb.context;
    let f = t.tcb.fault;
    let mut words = [0u64; 16];
    let length = match f[0] {
        fault::CAP => {
            // Restart PC, capability address, in receive phase, lookup failure.
            words[..4].copy_from_slice(&[c.pc, f[1], f[2], f[3] & 0xff]);
            words[4] = f[3] >> 8;
            5
        }
        fault::UNKNOWN_SYSCALL => {
            // X0..X7, FaultIP (the `svc`, where the thread restarts), SP, the next PC (seL4's
            // "LR" word is ELR), SPSR, the syscall number.
            words[..8].copy_from_slice(&c.x[..8]);
            words[8..13].copy_from_slice(&[c.pc, c.sp, c.pc.wrapping_add(4), c.spsr, f[1]]);
            13
        }
        fault::USER_EXCEPTION => {
            // FaultIP, SP, SPSR, Number (the ESR), Code (0 on AArch64).
            words[..5].copy_from_slice(&[c.pc, c.sp, c.spsr, f[1], f[2]]);
            5
        }
        fault::TIMEOUT => {
            words[0] = f[1];
            let sc = t.tcb.sched_context;
            if sc == 0 {
                1
            } else {
                words[1] = budget::take_consumed_us(sc, crate::arch::aarch64::timer::frequency());
                2
            }
        }
        _ => {
            words[..4].copy_from_slice(&[c.pc, f[1], f[2], f[3]]);
            4
        }
    };
    (f[0], words, length)
}

/// Sends `thread`'s fault to its fault handler as a Call; without a usable handler the thread
/// stops. `fault` is the kind and its data words.
pub fn raise_fault(thread: u64, fault: [u64; 4]) {
    let t = tcb(thread);
    t.tcb.fault = fault;
    let handler = t.slots[tcb::slot::FAULT_HANDLER].cap();
    match handler {
        Cap::Endpoint { can_send: true, can_grant, can_grant_reply, .. } if can_grant || can_grant_reply => {
            t.tcb.blocked_flags = FLAG_FAULT;
            send_flagged(thread, handler, true, true, FLAG_FAULT, false);
        }
        _ => {
            log::warn!("thread fault {:?} without a fault handler; thread stopped", fault);
            t.tcb.state = ThreadState::Inactive;
            thread::forget(thread as *mut TcbObject);
        }
    }
}

/// Whether `thread` has a timeout handler that can take a timeout fault.
pub fn has_timeout_handler(thread: u64) -> bool {
    matches!(
        tcb(thread).slots[tcb::slot::TIMEOUT_HANDLER].cap(),
        Cap::Endpoint { can_send: true, can_grant, can_grant_reply, .. } if can_grant || can_grant_reply
    )
}

/// The running thread used up its budget: a timeout fault (label 5: the scheduling context's
/// badge, then the time consumed, read when it is delivered) goes to its timeout handler as a
/// Call.
pub fn raise_timeout(thread: u64, badge: u64) {
    let t = tcb(thread);
    t.tcb.fault = [fault::TIMEOUT, badge, 0, 0];
    t.tcb.blocked_flags = FLAG_FAULT;
    let handler = t.slots[tcb::slot::TIMEOUT_HANDLER].cap();
    send_flagged(thread, handler, true, true, FLAG_FAULT, false);
}

/// Message word `i` of `thread`'s own message: x2..x5, then its IPC buffer (0 without one).
fn message_word(thread: &TcbObject, buffer: Option<*mut u64>, i: usize) -> u64 {
    match (i, buffer) {
        (0..4, _) => thread.tcb.context.x[2 + i],
        (4..120, Some(buffer)) => {
            // SAFETY: the IPC buffer is a mapped frame; message word i < 120 lies inside it.
            unsafe { *buffer.add(1 + i) }
        }
        _ => 0,
    }
}

/// The registers a fault reply's words set, in message order (seL4's reply layouts), as
/// register codes of [`crate::tcb_invoke::set_register`].
fn fault_reply_registers(kind: u64) -> &'static [u8] {
    use crate::tcb_invoke::register_code::{NEXT_PC, PC, SP, SPSR};
    match kind {
        // X0..X7, FaultIP, SP, the next PC (which the restart replaces by FaultIP), SPSR.
        fault::UNKNOWN_SYSCALL => &[0, 1, 2, 3, 4, 5, 6, 7, PC, SP, NEXT_PC, SPSR],
        fault::USER_EXCEPTION => &[PC, SP, SPSR],
        // The whole user context but the TLS registers, in seL4_UserContext order.
        fault::TIMEOUT => &crate::tcb_invoke::USER_CONTEXT_ORDER[..34],
        _ => &[],
    }
}

/// The reply to a fault: its words set the faulted thread's registers as seL4's reply layout
/// for the fault says. After a capability or VM fault the thread always restarts (seL4 ignores
/// the label there); after the others only with label 0, anything else leaves it stopped.
fn fault_reply(replier: u64, caller: u64) -> bool {
    let from = tcb(replier);
    let info = from.tcb.context.x[1];
    let (label, length) = (info >> 12, ((info & 0x7f) as usize).min(120));
    let c = tcb(caller);
    let kind = c.tcb.fault[0];
    c.tcb.fault = [0; 4];
    c.tcb.blocked_flags = 0;
    let registers = fault_reply_registers(kind);
    if !registers.is_empty() && length > 0 {
        let buffer = ipc_buffer(from);
        for (i, &code) in registers.iter().enumerate().take(length) {
            crate::tcb_invoke::set_register(tcb(caller), code, message_word(tcb(replier), buffer, i));
        }
    }
    matches!(kind, fault::CAP | fault::VM) || label == 0
}

fn wake(thread: u64) {
    tcb(thread).tcb.state = ThreadState::Running;
    tcb(thread).tcb.blocked_on = 0;
    thread::make_ready(thread as *mut TcbObject);
}

fn block(thread: u64, state: ThreadState, on: u64) {
    let t = tcb(thread);
    t.tcb.state = state;
    t.tcb.blocked_on = on;
    thread::dequeue(thread as *mut TcbObject);
}

fn sched_context(ptr: u64) -> &'static mut SchedContext {
    // SAFETY: threads and replies name only live scheduling contexts: finalising a context
    // unbinds it from both first.
    unsafe { &mut *(ptr as *mut SchedContext) }
}

/// Links `caller` to the reply object `reply_ptr`: the caller waits until it is replied to. A
/// passive `receiver` (one without a scheduling context) runs the call on the caller's: the
/// scheduling context moves to the receiver until the reply (MCS donation), and the reply and
/// the context name each other until then.
/// A timeout fault's sender lends nothing: its context has no budget left to lend (seL4).
fn wait_for_reply(caller: u64, reply_ptr: u64, receiver: u64) {
    let r = reply(reply_ptr);
    r.caller = caller;
    r.donated = 0;
    let c = tcb(caller);
    c.tcb.reply = reply_ptr;
    let timeout_fault = c.tcb.blocked_flags & FLAG_FAULT != 0 && c.tcb.fault[0] == fault::TIMEOUT;
    block(caller, ThreadState::BlockedOnReply, reply_ptr);
    let sc = tcb(caller).tcb.sched_context;
    if sc != 0 && !timeout_fault && tcb(receiver).tcb.sched_context == 0 {
        // Lent on: the reply goes on top of the context's call stack.
        move_sched_context(sc, caller, receiver);
        let r = reply(reply_ptr);
        r.donated = sc;
        r.older = sched_context(sc).reply;
        sched_context(sc).reply = reply_ptr;
        thread::make_ready(receiver as *mut TcbObject);
    }
}

/// Reply `reply_ptr` and every older one leave their context's call stack (they no longer give
/// it back); the newer reply above them, or the context if `reply_ptr` was the head, forgets
/// them.
fn cut_call_stack(reply_ptr: u64) {
    let sc = reply(reply_ptr).donated;
    if sc == 0 {
        return;
    }
    if sched_context(sc).reply == reply_ptr {
        sched_context(sc).reply = 0;
    } else {
        let mut newer = sched_context(sc).reply;
        while newer != 0 && reply(newer).older != reply_ptr {
            newer = reply(newer).older;
        }
        if newer != 0 {
            reply(newer).older = 0;
        }
    }
    let mut r = reply_ptr;
    while r != 0 {
        let older = core::mem::take(&mut reply(r).older);
        reply(r).donated = 0;
        r = older;
    }
}

/// Moves scheduling context `sc` from thread `from` to thread `to`.
fn move_sched_context(sc: u64, from: u64, to: u64) {
    tcb(from).tcb.sched_context = 0;
    tcb(to).tcb.sched_context = sc;
    sched_context(sc).tcb = to;
    thread::dequeue(from as *mut TcbObject);
}

/// Scheduling context `sc` is no longer lent (SchedContext Unbind, or its deletion): every
/// reply on its call stack forgets it and will not give it back.
pub fn forget_lending(sc: u64) {
    let head = core::mem::take(&mut sched_context(sc).reply);
    if head != 0 {
        // The head names `sc`, so the cut walks the whole stack.
        sched_context(sc).reply = head;
        cut_call_stack(head);
    }
}

/// Gives a donated scheduling context back to `caller` from whoever holds it (or from nobody,
/// if its holder died), unless the caller has one of its own again. Only the head of the call
/// stack gives it back (popped, the next older call becomes the head); a reply from the middle
/// cuts the stack there and gives nothing back (seL4 `reply_remove`).
fn return_donation(reply_ptr: u64, caller: u64) {
    let sc = reply(reply_ptr).donated;
    if sc == 0 {
        return;
    }
    if sched_context(sc).reply != reply_ptr {
        cut_call_stack(reply_ptr);
        return;
    }
    let r = reply(reply_ptr);
    sched_context(sc).reply = core::mem::take(&mut r.older);
    r.donated = 0;
    if tcb(caller).tcb.sched_context != 0 {
        return;
    }
    let holder = sched_context(sc).tcb;
    if holder != 0 {
        move_sched_context(sc, holder, caller);
    } else {
        sched_context(sc).tcb = caller;
        tcb(caller).tcb.sched_context = sc;
    }
}

/// Scheduling context `sc` is being deleted: a reply it is lent through, and a notification it
/// is bound to, forget it.
pub fn sched_context_deleted(sc: u64) {
    forget_lending(sc);
    unbind_sched_context(sc);
}

/// SchedContext Bind of notification `ntfn` to scheduling context `sc`; false (seL4's
/// IllegalOperation) when either is bound to a notification or context already.
pub fn bind_sched_context(ntfn: u64, sc: u64) -> bool {
    if notification(ntfn).sched_context != 0 || sched_context(sc).notification != 0 {
        return false;
    }
    notification(ntfn).sched_context = sc;
    sched_context(sc).notification = ntfn;
    true
}

/// Cuts the binding of scheduling context `sc` to its notification, if any. A passive thread
/// running on the context keeps it until it waits again (as in seL4).
pub fn unbind_sched_context(sc: u64) {
    let ntfn = core::mem::take(&mut sched_context(sc).notification);
    if ntfn != 0 && notification(ntfn).sched_context == sc {
        notification(ntfn).sched_context = 0;
    }
}

/// A signal on `ntfn` wakes `thread`: a passive thread (no scheduling context of its own) runs
/// on the notification's context, if that is free (seL4 `maybeDonateSchedContext`).
fn maybe_lend_notification_context(thread: u64, ntfn: u64) {
    let sc = notification(ntfn).sched_context;
    if tcb(thread).tcb.sched_context == 0 && sc != 0 && sched_context(sc).tcb == 0 {
        sched_context(sc).tcb = thread;
        tcb(thread).tcb.sched_context = sc;
    }
}

/// `thread` waits on `ntfn` again (or on an endpoint with `ntfn` bound): the notification's
/// context it runs on goes back to the notification (seL4 `maybeReturnSchedContext`).
fn maybe_return_notification_context(ntfn: u64, thread: u64) {
    let sc = notification(ntfn).sched_context;
    if sc != 0 && tcb(thread).tcb.sched_context == sc {
        tcb(thread).tcb.sched_context = 0;
        sched_context(sc).tcb = 0;
    }
}

/// Send (and Call) on the endpoint `cap` from thread `sender`.
pub fn send(sender: u64, cap: Cap, blocking: bool, call: bool) {
    tcb(sender).tcb.blocked_flags = 0;
    send_flagged(sender, cap, blocking, call, 0, false);
}

/// The send phase of NBSendRecv and NBSendWait: a non-blocking send that, delivered to a
/// passive receiver, moves the sender's scheduling context to it for good (seL4 MCS donation
/// on a send that can donate); the sender goes on to receive without one.
pub fn send_donating(sender: u64, cap: Cap) {
    tcb(sender).tcb.blocked_flags = 0;
    send_flagged(sender, cap, false, false, 0, true);
}

fn send_flagged(sender: u64, cap: Cap, blocking: bool, call: bool, extra_flags: u64, can_donate: bool) {
    let Cap::Endpoint { ptr, badge, can_send, can_grant, can_grant_reply, .. } = cap else { return };
    if !can_send {
        return;
    }
    let ep = endpoint(ptr);
    let mut queue = endpoint_queue(ep);
    if queue.state() == QUEUE_RECEIVE {
        let receiver = queue.pop().unwrap_or(0);
        transfer(sender, receiver, badge, ptr, can_grant);
        let receiver_reply = tcb(receiver).tcb.reply;
        tcb(receiver).tcb.reply = 0;
        if receiver_reply != 0 {
            reply(receiver_reply).receiver = 0;
        }
        wake(receiver);
        if call {
            if (can_grant || can_grant_reply) && receiver_reply != 0 {
                wait_for_reply(sender, receiver_reply, receiver);
            } else {
                // No way to answer: the caller is not kept waiting forever (seL4 leaves it
                // inactive).
                tcb(sender).tcb.state = ThreadState::Inactive;
                thread::dequeue(sender as *mut TcbObject);
            }
        } else if can_donate {
            let sc = tcb(sender).tcb.sched_context;
            if sc != 0 && tcb(receiver).tcb.sched_context == 0 {
                move_sched_context(sc, sender, receiver);
                thread::make_ready(receiver as *mut TcbObject);
            }
        }
        return;
    }
    if blocking {
        let t = tcb(sender);
        t.tcb.blocked_badge = badge;
        t.tcb.blocked_flags = extra_flags
            | if call { FLAG_CALL } else { 0 }
            | if can_grant || can_grant_reply { FLAG_GRANT } else { 0 }
            | if can_grant { FLAG_CAN_GRANT } else { 0 };
        block(sender, ThreadState::BlockedOnSend, ptr);
        queue.push(sender, QUEUE_SEND);
    }
}

/// Receive on the endpoint or notification `cap` into thread `receiver`, with `reply_cap` (MCS)
/// for a call it may take.
pub fn receive(receiver: u64, cap: Cap, reply_cap: Cap, blocking: bool) {
    match cap {
        Cap::Endpoint { ptr, can_receive: true, .. } => {
            // A signal pending on the bound notification comes first.
            let bound = tcb(receiver).tcb.bound_notification;
            if bound != 0 && notification(bound).tail_and_state & STATE_MASK == NOTIFICATION_ACTIVE {
                take_signal(receiver, bound);
                return;
            }
            let reply_ptr = match reply_cap {
                Cap::Reply { ptr, .. } => ptr,
                _ => 0,
            };
            if reply_ptr != 0 {
                // A reply object serves one receiver and one call: another thread blocked
                // receiving with it loses it, and a call still waiting on it is aborted.
                let r = reply(reply_ptr);
                if r.receiver != 0 {
                    tcb(r.receiver).tcb.reply = 0;
                    r.receiver = 0;
                }
                if r.caller != 0 {
                    abort_call(reply_ptr);
                }
            }
            let ep = endpoint(ptr);
            let mut queue = endpoint_queue(ep);
            if queue.state() == QUEUE_SEND {
                let sender = queue.pop().unwrap_or(0);
                let s = tcb(sender);
                let (badge, flags) = (s.tcb.blocked_badge, s.tcb.blocked_flags);
                transfer(sender, receiver, badge, ptr, flags & FLAG_CAN_GRANT != 0);
                if flags & FLAG_CALL != 0 {
                    if flags & FLAG_GRANT != 0 && reply_ptr != 0 {
                        wait_for_reply(sender, reply_ptr, receiver);
                    } else {
                        s.tcb.state = ThreadState::Inactive;
                    }
                } else {
                    wake(sender);
                }
                return;
            }
            if blocking {
                let bound = tcb(receiver).tcb.bound_notification;
                if bound != 0 {
                    maybe_return_notification_context(bound, receiver);
                }
                // The reply and the receiver name each other only while it waits.
                tcb(receiver).tcb.reply = reply_ptr;
                if reply_ptr != 0 {
                    reply(reply_ptr).receiver = receiver;
                }
                block(receiver, ThreadState::BlockedOnReceive, ptr);
                queue.push(receiver, QUEUE_RECEIVE);
            } else {
                // Nothing to receive: only the badge register is written (seL4).
                tcb(receiver).tcb.context.x[0] = 0;
            }
        }
        Cap::Notification { ptr, can_receive: true, .. } => wait(receiver, ptr, blocking),
        _ => {}
    }
}

/// Replies through the reply object `cap` with the current message of `replier`.
pub fn reply_with(replier: u64, cap: Cap) {
    let Cap::Reply { ptr, can_grant } = cap else { return };
    let caller = reply(ptr).caller;
    if caller == 0 {
        return;
    }
    reply(ptr).caller = 0;
    tcb(caller).tcb.reply = 0;
    return_donation(ptr, caller);
    if tcb(caller).tcb.blocked_flags & FLAG_FAULT != 0 {
        let answered_timeout = tcb(caller).tcb.fault[0] == fault::TIMEOUT;
        if fault_reply(replier, caller) {
            run_replied(caller, Some(answered_timeout));
        } else {
            tcb(caller).tcb.state = ThreadState::Inactive;
        }
        return;
    }
    transfer(replier, caller, 0, 0, can_grant);
    run_replied(caller, None);
}

/// A caller answered through its reply object runs on, unless the scheduling context it runs
/// on (perhaps just returned to it) has no budget left: then, with a timeout handler and unless
/// the answer was to a timeout fault, it takes a timeout fault at once (seL4
/// `doReplyTransfer`); otherwise it waits for its refill. `fault` is whether the answer was to a
/// fault (and whether that was a timeout fault); after a plain reply the timeout's restart
/// point is the `svc` of the call (seL4's FaultIP), after a fault reply the PC the reply left.
fn run_replied(caller: u64, fault: Option<bool>) {
    let sc = tcb(caller).tcb.sched_context;
    // The cheap tests first: most callers have no timeout handler.
    if sc != 0 && fault != Some(true) && has_timeout_handler(caller) && !thread::has_budget(sc) {
        let t = tcb(caller);
        t.tcb.state = ThreadState::Running;
        t.tcb.blocked_on = 0;
        if fault.is_none() {
            t.tcb.context.pc -= 4;
        }
        raise_timeout(caller, budget::badge(sc));
        return;
    }
    wake(caller);
}

/// The caller waiting on reply object `reply_ptr` gives up (the reply is deleted or reused):
/// it stops, as seL4 leaves such a caller inactive.
fn abort_call(reply_ptr: u64) {
    let caller = core::mem::take(&mut reply(reply_ptr).caller);
    if caller != 0 {
        return_donation(reply_ptr, caller);
        let c = tcb(caller);
        c.tcb.reply = 0;
        c.tcb.state = ThreadState::Inactive;
        c.tcb.blocked_on = 0;
    }
}

/// Signal the notification `cap`.
pub fn signal(cap: Cap) {
    let Cap::Notification { ptr, badge, can_send: true, .. } = cap else { return };
    let n = notification(ptr);
    let mut queue = notification_queue(n);
    if queue.state() == NOTIFICATION_WAITING {
        let waiter = queue.pop().unwrap_or(0);
        // A signal writes only the badge register (seL4); x1 keeps what the waiter had.
        tcb(waiter).tcb.context.x[0] = badge;
        maybe_lend_notification_context(waiter, ptr);
        wake(waiter);
        return;
    }
    let bound = n.bound_tcb;
    if bound != 0 && tcb(bound).tcb.state == ThreadState::BlockedOnReceive {
        // The bound thread waits on an endpoint: the signal wakes it instead.
        cancel(bound);
        tcb(bound).tcb.context.x[0] = badge;
        maybe_lend_notification_context(bound, ptr);
        wake(bound);
        return;
    }
    n.pending |= badge;
    n.tail_and_state = (n.tail_and_state & !STATE_MASK) | NOTIFICATION_ACTIVE;
}

fn take_signal(receiver: u64, ptr: u64) {
    let n = notification(ptr);
    let t = tcb(receiver);
    t.tcb.context.x[0] = core::mem::take(&mut n.pending);
    n.tail_and_state &= !STATE_MASK;
}

/// Wait (or poll, when not blocking) on notification `ptr`.
fn wait(receiver: u64, ptr: u64, blocking: bool) {
    let n = notification(ptr);
    if n.tail_and_state & STATE_MASK == NOTIFICATION_ACTIVE {
        take_signal(receiver, ptr);
        return;
    }
    if blocking {
        maybe_return_notification_context(ptr, receiver);
        block(receiver, ThreadState::BlockedOnNotification, ptr);
        notification_queue(notification(ptr)).push(receiver, NOTIFICATION_WAITING);
    } else {
        tcb(receiver).tcb.context.x[0] = 0;
    }
}

/// Whether `thread` is blocked inside one of its own system calls (not in a fault message,
/// whose PC is the faulting instruction).
pub fn blocked_in_system_call(thread: u64) -> bool {
    let t = tcb(thread);
    matches!(
        t.tcb.state,
        ThreadState::BlockedOnSend
            | ThreadState::BlockedOnReceive
            | ThreadState::BlockedOnNotification
            | ThreadState::BlockedOnReply
    ) && t.tcb.blocked_flags & FLAG_FAULT == 0
}

/// Whether `thread` is blocked inside one of its own system calls with its PC still just after
/// the `svc`: a restart re-executes the call from the `svc`. A PC written meanwhile (by
/// WriteRegisters or CopyRegisters) is where it restarts itself.
pub fn pc_after_svc(thread: u64) -> bool {
    blocked_in_system_call(thread) && tcb(thread).tcb.pc_written == 0
}

/// WriteRegisters or CopyRegisters wrote `thread`'s PC: if it is blocked in a system call,
/// it restarts (and returns) there.
pub fn pc_was_written(thread: u64) {
    if blocked_in_system_call(thread) {
        tcb(thread).tcb.pc_written = 1;
    }
}

/// `thread`'s priority changed: if it waits in an endpoint or notification queue, it moves to
/// its new place there (seL4 MCS `reorderEP` / `reorderNTFN`).
pub fn reorder(thread: u64) {
    let t = tcb(thread);
    let on = t.tcb.blocked_on;
    let mut queue = match t.tcb.state {
        ThreadState::BlockedOnSend | ThreadState::BlockedOnReceive => endpoint_queue(endpoint(on)),
        ThreadState::BlockedOnNotification => notification_queue(notification(on)),
        _ => return,
    };
    let state = queue.state();
    queue.remove(thread);
    queue.push(thread, state);
}

/// Takes a blocked thread out of whatever it waits in (before suspending or deleting it, or
/// waking it for another reason). A thread waiting for a reply loses the call.
pub fn cancel(thread: u64) {
    let t = tcb(thread);
    let on = t.tcb.blocked_on;
    match t.tcb.state {
        ThreadState::BlockedOnSend | ThreadState::BlockedOnReceive => {
            endpoint_queue(endpoint(on)).remove(thread);
            let r = core::mem::take(&mut t.tcb.reply);
            if r != 0 && reply(r).receiver == thread {
                reply(r).receiver = 0;
            }
        }
        ThreadState::BlockedOnNotification => notification_queue(notification(on)).remove(thread),
        ThreadState::BlockedOnReply => {
            // The call is abandoned; a scheduling context it lent stays with the server (as
            // in seL4), which would otherwise be stranded mid-call.
            let r = t.tcb.reply;
            if r != 0 {
                reply(r).caller = 0;
                cut_call_stack(r);
            }
            tcb(thread).tcb.reply = 0;
        }
        _ => return,
    }
    // Whatever it was sending (its own message or a fault message) is abandoned with the wait:
    // a thread restarted after a fault must not reply or send with its old fault's words.
    let t = tcb(thread);
    t.tcb.blocked_on = 0;
    t.tcb.blocked_flags = 0;
}

/// A thread just taken out of the queue it waited in restarts (seL4's Restart state): one that
/// waited inside its own system call re-executes it, one that was sending a fault message
/// re-executes the faulting instruction (its PC is already there) and faults anew.
fn run_again(thread: u64) {
    let t = tcb(thread);
    if t.tcb.blocked_flags & FLAG_FAULT == 0 && t.tcb.pc_written == 0 {
        t.tcb.context.pc -= 4;
    }
    t.tcb.blocked_flags = 0;
    t.tcb.state = ThreadState::Restart;
    thread::make_ready(thread as *mut TcbObject);
}

/// seL4 `restart` (Resume, and WriteRegisters / CopyRegisters with resume): a stopped thread,
/// inactive or blocked in IPC, runs again; a blocked one leaves its queue or call first and,
/// with `rewind`, re-executes the system call it was blocked in. A running thread is left
/// alone.
pub fn restart(thread: u64, rewind: bool) {
    let t = tcb(thread);
    match t.tcb.state {
        ThreadState::Inactive => {}
        ThreadState::BlockedOnSend
        | ThreadState::BlockedOnReceive
        | ThreadState::BlockedOnNotification
        | ThreadState::BlockedOnReply => {
            if rewind && pc_after_svc(thread) {
                t.tcb.context.pc -= 4;
            }
            cancel(thread);
        }
        _ => return,
    }
    tcb(thread).tcb.state = ThreadState::Restart;
    thread::make_ready(thread as *mut TcbObject);
}

/// Every thread waiting on endpoint or notification `ptr` is released to restart its system
/// call (which then finds the capability gone): seL4's cancelAllIPC / cancelAllSignals.
pub fn release_all(ptr: u64, is_notification: bool) {
    loop {
        let next = if is_notification {
            notification_queue(notification(ptr)).pop()
        } else {
            endpoint_queue(endpoint(ptr)).pop()
        };
        let Some(thread) = next else { break };
        let t = tcb(thread);
        t.tcb.blocked_on = 0;
        let r = core::mem::take(&mut t.tcb.reply);
        if r != 0 {
            reply(r).receiver = 0;
        }
        run_again(thread);
    }
    if is_notification {
        let n = notification(ptr);
        if n.bound_tcb != 0 {
            tcb(n.bound_tcb).tcb.bound_notification = 0;
            n.bound_tcb = 0;
        }
        let sc = notification(ptr).sched_context;
        if sc != 0 {
            unbind_sched_context(sc);
        }
    }
}

/// Cancels the sends queued on endpoint `ptr` with exactly `badge`; they restart their calls.
pub fn cancel_badged_sends(ptr: u64, badge: u64) {
    let ep = endpoint(ptr);
    if endpoint_queue(ep).state() != QUEUE_SEND {
        return;
    }
    let mut next = ep.head;
    while next != 0 {
        let thread = next;
        next = tcb(thread).tcb.queue_next;
        if tcb(thread).tcb.blocked_badge == badge {
            endpoint_queue(endpoint(ptr)).remove(thread);
            tcb(thread).tcb.blocked_on = 0;
            run_again(thread);
        }
    }
}

/// A reply object is deleted: the caller waiting on it loses the call; its receiver forgets it.
pub fn reply_deleted(ptr: u64) {
    abort_call(ptr);
    let receiver = core::mem::take(&mut reply(ptr).receiver);
    if receiver != 0 && tcb(receiver).tcb.reply == ptr {
        tcb(receiver).tcb.reply = 0;
    }
}

/// Binds notification `ptr` to thread `thread` (TCB BindNotification).
pub fn bind_notification(thread: u64, ptr: u64) -> bool {
    let n = notification(ptr);
    if n.bound_tcb != 0 || tcb(thread).tcb.bound_notification != 0 {
        return false;
    }
    n.bound_tcb = thread;
    tcb(thread).tcb.bound_notification = ptr;
    true
}

/// Undoes [`bind_notification`]; `false` when nothing was bound.
pub fn unbind_notification(thread: u64) -> bool {
    let ptr = core::mem::take(&mut tcb(thread).tcb.bound_notification);
    if ptr == 0 {
        return false;
    }
    notification(ptr).bound_tcb = 0;
    true
}

/// Whether notification `ptr` already waits or is bound (it cannot then be bound again).
pub fn notification_busy(ptr: u64) -> bool {
    let n = notification(ptr);
    n.bound_tcb != 0 || n.tail_and_state & STATE_MASK == NOTIFICATION_WAITING
}
