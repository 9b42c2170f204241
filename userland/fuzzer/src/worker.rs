//! A fuzzing thread: makes objects in its sandbox, starts helper threads on them, drives IPC
//! between them, and above all deletes, revokes and reuses the memory of objects that others
//! still refer to, then touches the referrers. One step is one "call" of the run's count (a
//! step may make a few invocations: revoke then retype, start a helper, ...).

use crate::helper::{self, Command};
use crate::layout::*;
use crate::model::{FIRST_FREE, Kind, MAX_OBJECTS, Model, NONE, READ, Ref, SLOTS};
use crate::sys::{Buffer, Rng, say};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use hmk_sys::error::Error;
use hmk_sys::invocation::{USER_CONTEXT_WORDS, UserContext};
use hmk_sys::message::MessageInfo;
use hmk_sys::object::{ObjectType, label};
use hmk_sys::syscall::{self, Registers};

/// Operations a step can be, for the trace and the last-operations record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    None,
    Retype,
    Copy,
    Mint,
    Move,
    Mutate,
    Delete,
    Revoke,
    ReuseRevoke,
    ReuseRetype,
    Configure,
    SetSchedParams,
    SetPriority,
    Suspend,
    Resume,
    BindNotification,
    UnbindNotification,
    StartHelper,
    SetTimeoutEndpoint,
    ReadRegisters,
    WriteRegisters,
    SetIpcBuffer,
    CopyRegisters,
    ConfigureFlags,
    ScBind,
    ScUnbind,
    ScUnbindObject,
    ScConsumed,
    ScYieldTo,
    Helper(Command),
    NbSend,
    NbRecv,
    Signal,
    Poll,
    ReplySend,
    MakePassive,
    Yield,
    RandomInvoke,
    Exercise,
}

/// One recorded operation: what, on which slots, and the outcome (0 ok, else the error).
#[derive(Clone, Copy, Debug)]
pub struct Record {
    pub step: u64,
    pub op: Op,
    pub a: u64,
    pub b: u64,
    pub result: u64,
}

/// The result of an operation that has not returned (yet).
pub const PENDING: u64 = u64::MAX;
const EMPTY_RECORD: Record = Record { step: 0, op: Op::None, a: 0, b: 0, result: 0 };
/// Operations each thread remembers (printed when it faults or hangs).
pub const HISTORY: usize = 12;

pub struct Worker {
    index: usize,
    buffer: Buffer,
    rng: Rng,
    model: Model,
    /// The TCB object each helper runs on (NONE: free).
    helpers: [u8; helper::PER_WORKER],
    step: u64,
    trace: bool,
    pub history: [Record; HISTORY],
    pub history_len: u64,
}

/// Every fuzzing thread's state, each touched by its own thread only (and by the supervisor
/// after the thread is gone).
pub struct Workers(pub [UnsafeCell<Worker>; crate::MAX_THREADS]);

// SAFETY: entry `i` is used by fuzzing thread `i` while it runs, and by the supervisor only
// when that thread has stopped (faulted, hung or finished).
unsafe impl Sync for Workers {}

pub static WORKERS: Workers = Workers(
    [const {
        UnsafeCell::new(Worker {
            index: 0,
            buffer: Buffer(core::ptr::null_mut()),
            rng: Rng(0),
            model: Model::new(),
            helpers: [NONE; helper::PER_WORKER],
            step: 0,
            trace: false,
            history: [EMPTY_RECORD; HISTORY],
            history_len: 0,
        })
    }; crate::MAX_THREADS],
);

/// Calls made by each fuzzing thread, over all its restarts.
pub static PROGRESS: [AtomicU64; crate::MAX_THREADS] = [const { AtomicU64::new(0) }; crate::MAX_THREADS];
/// Calls each fuzzing thread makes in all.
pub static SHARE: [AtomicU64; crate::MAX_THREADS] = [const { AtomicU64::new(0) }; crate::MAX_THREADS];
/// The seed of each thread's current incarnation.
pub static SEEDS: [AtomicU64; crate::MAX_THREADS] = [const { AtomicU64::new(0) }; crate::MAX_THREADS];
/// Helpers started and successful calls, over all threads (for the summary).
pub static HELPERS_STARTED: AtomicU64 = AtomicU64::new(0);
pub static SUCCEEDED: AtomicU64 = AtomicU64::new(0);

/// A fuzzing thread's body: x0 is its index; the supervisor set its seed and buffer.
pub extern "C" fn main(index: u64) -> ! {
    let index = index as usize % crate::MAX_THREADS;
    // SAFETY: see `Workers`: this thread is the only user of its entry while it runs.
    let worker = unsafe { &mut *WORKERS.0[index].get() };
    worker.run(index)
}

impl Worker {
    fn run(&mut self, index: usize) -> ! {
        self.index = index;
        self.buffer = Buffer(crate::worker_buffer(index));
        self.rng = Rng(SEEDS[index].load(Ordering::SeqCst));
        self.trace = crate::TRACE;
        self.helpers = [NONE; helper::PER_WORKER];
        self.history_len = 0;
        self.model.reset();
        for k in 0..UNTYPEDS {
            self.model.add(Kind::Untyped, (FIRST_UNTYPED + k) as usize, NONE);
        }
        let share = SHARE[index].load(Ordering::SeqCst);
        while PROGRESS[index].load(Ordering::SeqCst) < share {
            self.step = PROGRESS[index].load(Ordering::SeqCst);
            self.one_step();
            PROGRESS[index].fetch_add(1, Ordering::SeqCst);
        }
        let info = MessageInfo::new(DONE_LABEL, 0, 0, 1);
        syscall::send(Registers { cap_or_badge: SUPERVISOR, info, mrs: [index as u64, 0, 0, 0] });
        let _ = self.buffer.invoke(OWN_TCB, label::TCB_SUSPEND, &[], &[]);
        loop {
            syscall::yield_now();
        }
    }

    /// Records (and with tracing prints) an operation and its outcome; replaces the record
    /// [`Worker::announce`] left for it.
    fn note(&mut self, op: Op, a: u64, b: u64, result: Result<(), Error>) {
        let result = match result {
            Ok(()) => {
                SUCCEEDED.fetch_add(1, Ordering::Relaxed);
                0
            }
            Err(e) => e as u64,
        };
        let record = Record { step: self.step, op, a, b, result };
        let last = self.history_len.wrapping_sub(1) % HISTORY as u64;
        let pending = self.history_len > 0 && {
            let r = &self.history[last as usize];
            r.result == PENDING && r.step == record.step && r.op == op && r.a == a
        };
        if pending {
            self.history[last as usize] = record;
        } else {
            self.push(record);
        }
        if self.trace {
            say!(@self.index as u64 + 1; "fuzz: t{} #{} {:?} {} {} -> {}", self.index, record.step, op, a, b, result);
        }
    }

    fn push(&mut self, record: Record) {
        self.history[(self.history_len % HISTORY as u64) as usize] = record;
        self.history_len += 1;
    }

    /// Before an operation that may not return (a fault, a hang): recorded as pending, and
    /// printed when tracing, so the last record names it.
    fn announce(&mut self, op: Op, a: u64, b: u64) {
        self.push(Record { step: self.step, op, a, b, result: PENDING });
        if self.trace {
            say!(@self.index as u64 + 1; "fuzz: t{} #{} {:?} {} {} ...", self.index, self.step, op, a, b);
        }
    }

    fn invoke(&self, cap: u64, label: u64, args: &[u64], caps: &[u64]) -> Result<(), Error> {
        self.buffer.invoke(cap, label, args, caps).map(|_| ())
    }

    fn one_step(&mut self) {
        self.refresh_helpers();
        match self.rng.below(100) {
            0..14 => self.retype(),
            14..22 => self.copy_like(),
            22..31 => self.delete(),
            31..40 => self.reuse(),
            40..52 => self.tcb_op(),
            52..60 => self.sc_op(),
            60..74 => self.helper_command(),
            74..84 => self.worker_ipc(),
            84..88 => self.make_passive(),
            88..91 => {
                syscall::yield_now();
                self.note(Op::Yield, 0, 0, Ok(()));
            }
            91..95 => self.revoke(),
            _ => self.random_invoke(),
        }
    }

    /// Helpers that finished their command are no longer blocked.
    fn refresh_helpers(&mut self) {
        for h in 0..helper::PER_WORKER {
            let tcb = self.helpers[h];
            if tcb != NONE && helper::idle(self.helper_id(h)) {
                self.model.unlink_from(tcb, Ref::BlockedOn);
            }
        }
    }

    fn helper_id(&self, h: usize) -> usize {
        self.index * helper::PER_WORKER + h
    }

    /// A live object for which `want` holds; 60% of the time one that others refer to (or
    /// that refers to others), if there is one.
    fn pick(&mut self, want: impl Fn(Kind) -> bool) -> Option<u8> {
        let mut referenced = [false; MAX_OBJECTS];
        for e in &self.model.edges[..self.model.edge_count] {
            referenced[e.from as usize % MAX_OBJECTS] = true;
            referenced[e.to as usize % MAX_OBJECTS] = true;
        }
        let prefer = self.rng.chance(60);
        let eligible = |o: usize, model: &Model| model.objects[o].live && want(model.objects[o].kind);
        let (mut all, mut with_refs) = (0, 0);
        for o in 0..MAX_OBJECTS {
            if eligible(o, &self.model) {
                all += 1;
                with_refs += u64::from(referenced[o]);
            }
        }
        let only_referenced = prefer && with_refs > 0;
        let count = if only_referenced { with_refs } else { all };
        if count == 0 {
            return None;
        }
        let mut nth = self.rng.below(count);
        for o in 0..MAX_OBJECTS {
            if eligible(o, &self.model) && (!only_referenced || referenced[o]) {
                if nth == 0 {
                    return Some(o as u8);
                }
                nth -= 1;
            }
        }
        None
    }

    /// A slot holding `object` (any of them: copies as much as originals).
    fn slot_of(&mut self, object: u8) -> Option<u64> {
        let count = (FIRST_FREE..SLOTS).filter(|&s| self.model.slots[s].object == object).count() as u64;
        if count == 0 {
            return None;
        }
        let nth = self.rng.below(count) as usize;
        (FIRST_FREE..SLOTS).filter(|&s| self.model.slots[s].object == object).nth(nth).map(|s| s as u64)
    }

    /// A slot holding an object of `kind` (preferring referenced ones), or 0 (an empty slot:
    /// "none" for optional capability arguments) with probability `none_percent`.
    fn cap_of(&mut self, kind: Kind, none_percent: u64) -> u64 {
        if self.rng.chance(none_percent) {
            return 0;
        }
        match self.pick(|k| k == kind) {
            Some(object) => self.slot_of(object).unwrap_or(0),
            None => 0,
        }
    }

    /// As [`Worker::cap_of`] (never none), a capability with the read right: one the thread
    /// may receive or poll on.
    fn readable_cap_of(&mut self, kind: Kind) -> u64 {
        let Some(object) = self.pick(|k| k == kind) else { return 0 };
        let readable = |s: usize, m: &Model| m.slots[s].object == object && m.slots[s].rights & READ != 0;
        let count = (FIRST_FREE..SLOTS).filter(|&s| readable(s, &self.model)).count() as u64;
        if count == 0 {
            return 0;
        }
        let nth = self.rng.below(count) as usize;
        (FIRST_FREE..SLOTS).filter(|&s| readable(s, &self.model)).nth(nth).map_or(0, |s| s as u64)
    }

    fn free_slot(&mut self) -> Option<u64> {
        let start = self.rng.below(SLOTS as u64);
        self.model.free_slot(start).map(|s| s as u64)
    }

    fn forget_dead(&mut self, dead: &[u8]) {
        for h in 0..helper::PER_WORKER {
            if dead.contains(&self.helpers[h]) {
                self.helpers[h] = NONE;
            }
        }
    }

    // ---- capabilities and memory ----

    fn retype(&mut self) {
        let Some(untyped) = self.pick(|k| k == Kind::Untyped) else { return self.note(Op::Retype, 0, 0, Ok(())) };
        let Some(from) = self.slot_of(untyped) else { return };
        let (kind, object_type, bits) = match self.rng.below(16) {
            0..3 => (Kind::Tcb, ObjectType::Tcb, 0),
            3..6 => (Kind::Endpoint, ObjectType::Endpoint, 0),
            6..8 => (Kind::Notification, ObjectType::Notification, 0),
            8..10 => (Kind::SchedContext, ObjectType::SchedContext, 7 + self.rng.below(3)),
            10..12 => (Kind::Reply, ObjectType::Reply, 0),
            12..14 => (Kind::Frame, ObjectType::SmallPage, 0),
            14 => (Kind::Untyped, ObjectType::Untyped, 8 + self.rng.below(7)),
            _ => (Kind::CNode, ObjectType::CNode, 1 + self.rng.below(4)),
        };
        self.retype_into(from, kind, object_type, bits);
    }

    fn retype_into(&mut self, from: u64, kind: Kind, object_type: ObjectType, bits: u64) -> bool {
        let Some(dest) = self.free_slot() else {
            self.delete();
            return false;
        };
        let result = self.invoke(from, label::UNTYPED_RETYPE, &[object_type as u64, bits, 0, 0, dest, 1], &[OWN_CNODE]);
        if result.is_ok() {
            self.model.add(kind, dest as usize, from as u8);
        }
        self.note(Op::Retype, from, dest, result);
        result.is_ok()
    }

    fn copy_like(&mut self) {
        let Some(object) = self.pick(|_| true) else { return };
        let (Some(src), Some(dest)) = (self.slot_of(object), self.free_slot()) else { return };
        let rights = self.rng.below(16);
        let badge = self.rng.below(4);
        let (op, result) = match self.rng.below(4) {
            0 => {
                (Op::Copy, self.invoke(OWN_CNODE, label::CNODE_COPY, &[dest, DEPTH, src, DEPTH, rights], &[OWN_CNODE]))
            }
            1 => (
                Op::Mint,
                self.invoke(OWN_CNODE, label::CNODE_MINT, &[dest, DEPTH, src, DEPTH, rights, badge], &[OWN_CNODE]),
            ),
            2 => (Op::Move, self.invoke(OWN_CNODE, label::CNODE_MOVE, &[dest, DEPTH, src, DEPTH], &[OWN_CNODE])),
            _ => (
                Op::Mutate,
                self.invoke(OWN_CNODE, label::CNODE_MUTATE, &[dest, DEPTH, src, DEPTH, badge], &[OWN_CNODE]),
            ),
        };
        if result.is_ok() {
            match op {
                Op::Copy | Op::Mint => self.model.derive(src as usize, dest as usize, rights as u8),
                _ => self.model.moved(src as usize, dest as usize),
            }
        }
        self.note(op, src, dest, result);
    }

    fn delete_slot(&mut self, slot: u64) {
        // The sandbox's own untypeds are revoked, never deleted: the thread would run dry.
        if self.model.slots[slot as usize].parent == NONE && self.model.kind_at(slot as usize) == Some(Kind::Untyped) {
            return self.revoke_slot(slot);
        }
        self.announce(Op::Delete, slot, 0);
        let result = self.invoke(OWN_CNODE, label::CNODE_DELETE, &[slot, DEPTH], &[]);
        if result.is_ok() {
            let mut dead = [NONE; 8];
            let count = self.model.deleted(slot as usize, &mut dead);
            self.forget_dead(&dead[..count]);
        }
        self.note(Op::Delete, slot, 0, result);
    }

    fn revoke_slot(&mut self, slot: u64) {
        self.announce(Op::Revoke, slot, 0);
        let result = self.invoke(OWN_CNODE, label::CNODE_REVOKE, &[slot, DEPTH], &[]);
        if result.is_ok() {
            let mut dead = [NONE; 8];
            let count = self.model.revoked(slot as usize, &mut dead);
            self.forget_dead(&dead[..count]);
        }
        self.note(Op::Revoke, slot, 0, result);
    }

    fn delete(&mut self) {
        let Some(object) = self.pick(|_| true) else { return };
        let mut neighbours = [NONE; 8];
        let count = self.model.neighbours(object, &mut neighbours);
        let Some(slot) = self.slot_of(object) else { return };
        self.delete_slot(slot);
        if self.rng.chance(50) {
            self.exercise(&neighbours[..count]);
        }
    }

    fn revoke(&mut self) {
        let Some(object) = self.pick(|_| true) else { return };
        let Some(slot) = self.slot_of(object) else { return };
        self.revoke_slot(slot);
    }

    /// The heart of the fuzzer: take an object others refer to, revoke the untyped it came
    /// from (it dies with everything else made there), retype that memory into frames or new
    /// objects at once, then make the referrers act.
    fn reuse(&mut self) {
        let Some(object) = self.pick(|k| k != Kind::Untyped) else { return self.retype() };
        let mut neighbours = [NONE; 8];
        let count = self.model.neighbours(object, &mut neighbours);
        let Some(slot) = self.slot_of(object) else { return };
        let parent = self.model.slots[slot as usize].parent;
        if parent == NONE || self.model.kind_at(parent as usize) != Some(Kind::Untyped) {
            return self.delete_slot(slot);
        }
        let parent = u64::from(parent);
        self.announce(Op::ReuseRevoke, parent, slot);
        let result = self.invoke(OWN_CNODE, label::CNODE_REVOKE, &[parent, DEPTH], &[]);
        if result.is_ok() {
            let mut dead = [NONE; 8];
            let dead_count = self.model.revoked(parent as usize, &mut dead);
            self.forget_dead(&dead[..dead_count]);
        }
        self.note(Op::ReuseRevoke, parent, slot, result);
        for _ in 0..1 + self.rng.below(4) {
            let made = match self.rng.below(10) {
                0..6 => self.retype_into(parent, Kind::Frame, ObjectType::SmallPage, 0),
                6 => self.retype_into(parent, Kind::Tcb, ObjectType::Tcb, 0),
                7 => self.retype_into(parent, Kind::Endpoint, ObjectType::Endpoint, 0),
                8 => self.retype_into(parent, Kind::Reply, ObjectType::Reply, 0),
                _ => self.retype_into(parent, Kind::SchedContext, ObjectType::SchedContext, 8),
            };
            if !made {
                break;
            }
        }
        self.note(Op::ReuseRetype, parent, 0, Ok(()));
        self.exercise(&neighbours[..count]);
    }

    /// Makes each of `objects` (if still alive) do something: the referrers of what just died.
    fn exercise(&mut self, objects: &[u8]) {
        for &object in objects {
            if object == NONE || !self.model.objects[object as usize].live {
                continue;
            }
            let Some(slot) = self.slot_of(object) else { continue };
            let kind = self.model.objects[object as usize].kind;
            let helper = self.model.objects[object as usize].helper;
            self.announce(Op::Exercise, slot, kind as u64);
            let result = match kind {
                Kind::Tcb if helper != NONE && self.helpers.contains(&object) => {
                    self.post_random(helper as usize % helper::PER_WORKER);
                    Ok(())
                }
                Kind::Tcb => match self.rng.below(4) {
                    0 => self.invoke(slot, label::TCB_RESUME, &[], &[]),
                    1 => self.invoke(slot, label::TCB_SUSPEND, &[], &[]),
                    2 => self.invoke(slot, label::TCB_READ_REGISTERS, &[0, 4], &[]),
                    _ => {
                        let priority = PRIORITY - self.rng.below(5);
                        self.invoke(slot, label::TCB_SET_PRIORITY, &[priority], &[OWN_TCB])
                    }
                },
                Kind::Endpoint => {
                    if self.rng.chance(50) || self.model.slots[slot as usize].rights & READ == 0 {
                        syscall::nb_send(Registers {
                            cap_or_badge: slot,
                            info: MessageInfo::new(9, 0, 0, 1),
                            mrs: [1; 4],
                        });
                    } else {
                        // A receive with no reply object (0) is fine; a missing one would fault.
                        let reply = self.cap_of(Kind::Reply, 30);
                        syscall::nb_recv(slot, reply);
                    }
                    Ok(())
                }
                Kind::Notification => {
                    syscall::signal(slot);
                    if self.model.slots[slot as usize].rights & READ != 0 {
                        syscall::poll(slot);
                    }
                    Ok(())
                }
                Kind::SchedContext => self.invoke(slot, label::SCHED_CONTEXT_CONSUMED, &[], &[]),
                Kind::Reply => {
                    syscall::nb_send(Registers { cap_or_badge: slot, info: MessageInfo::new(0, 0, 0, 1), mrs: [7; 4] });
                    self.model.unlink_from(object, Ref::ReplyNames);
                    Ok(())
                }
                Kind::Frame => self.invoke(slot, label::ARM_PAGE_GET_ADDRESS, &[], &[]),
                Kind::Untyped | Kind::CNode => Ok(()),
            };
            self.note(Op::Exercise, slot, kind as u64, result);
        }
        syscall::yield_now();
    }

    // ---- threads ----

    fn tcb_op(&mut self) {
        let Some(tcb) = self.pick(|k| k == Kind::Tcb) else { return self.retype() };
        let Some(slot) = self.slot_of(tcb) else { return };
        let sub = self.rng.below(14);
        let (op, result) = match sub {
            0 => {
                let (address, frame) = self.buffer_choice();
                let result =
                    self.invoke(slot, label::TCB_CONFIGURE, &[CSPACE_DATA, 0, address], &[OWN_CNODE, VSPACE, frame]);
                if result.is_ok() {
                    self.set_buffer_edge(tcb, address, frame);
                }
                (Op::Configure, result)
            }
            1 => {
                let sc = self.cap_of(Kind::SchedContext, 20);
                let fault = self.cap_of(Kind::Endpoint, 40);
                let priority = PRIORITY - self.rng.below(10);
                let result =
                    self.invoke(slot, label::TCB_SET_SCHED_PARAMS, &[PRIORITY, priority], &[OWN_TCB, sc, fault]);
                if result.is_ok() {
                    self.model.unlink_to(tcb, Ref::ScBound);
                    if let Some(sc) = self.model.object_at(sc as usize) {
                        self.model.link(sc, tcb, Ref::ScBound);
                    }
                    match self.model.object_at(fault as usize) {
                        Some(ep) => self.model.link(tcb, ep, Ref::FaultHandler),
                        None => self.model.unlink_from(tcb, Ref::FaultHandler),
                    }
                }
                (Op::SetSchedParams, result)
            }
            2 => {
                let priority = PRIORITY - self.rng.below(10);
                (Op::SetPriority, self.invoke(slot, label::TCB_SET_PRIORITY, &[priority], &[OWN_TCB]))
            }
            3 => {
                let result = self.invoke(slot, label::TCB_SUSPEND, &[], &[]);
                if result.is_ok() {
                    self.model.unlink_from(tcb, Ref::BlockedOn);
                }
                (Op::Suspend, result)
            }
            4 => (Op::Resume, self.invoke(slot, label::TCB_RESUME, &[], &[])),
            5 => {
                let ntfn = self.cap_of(Kind::Notification, 0);
                let result = self.invoke(slot, label::TCB_BIND_NOTIFICATION, &[], &[ntfn]);
                if let (Ok(()), Some(n)) = (result, self.model.object_at(ntfn as usize)) {
                    self.model.link(n, tcb, Ref::NtfnBound);
                }
                (Op::BindNotification, result)
            }
            6 => {
                let result = self.invoke(slot, label::TCB_UNBIND_NOTIFICATION, &[], &[]);
                if result.is_ok() {
                    self.model.unlink_to(tcb, Ref::NtfnBound);
                }
                (Op::UnbindNotification, result)
            }
            7 | 8 => return self.start_helper(tcb, slot),
            9 => {
                let ep = self.cap_of(Kind::Endpoint, 30);
                let result = self.invoke(slot, label::TCB_SET_TIMEOUT_ENDPOINT, &[], &[ep]);
                if result.is_ok() {
                    match self.model.object_at(ep as usize) {
                        Some(e) => self.model.link(tcb, e, Ref::TimeoutHandler),
                        None => self.model.unlink_from(tcb, Ref::TimeoutHandler),
                    }
                }
                (Op::SetTimeoutEndpoint, result)
            }
            10 => {
                let suspend = self.rng.below(2);
                let count = 1 + self.rng.below(USER_CONTEXT_WORDS as u64);
                (Op::ReadRegisters, self.invoke(slot, label::TCB_READ_REGISTERS, &[suspend, count], &[]))
            }
            11 => {
                // A thread sent to address 0 (or a tiny one): it faults at once, to its handler.
                let mut args = [0u64; 2 + USER_CONTEXT_WORDS];
                args[0] = self.rng.below(2);
                args[1] = 3;
                args[2] = self.rng.below(4) * 4;
                args[3] = self.rng.below(2) << 12;
                let result = self.invoke(slot, label::TCB_WRITE_REGISTERS, &args[..5], &[]);
                (Op::WriteRegisters, result)
            }
            12 => {
                let (address, frame) = self.buffer_choice();
                let result = self.invoke(slot, label::TCB_SET_IPC_BUFFER, &[address], &[frame]);
                if result.is_ok() {
                    self.set_buffer_edge(tcb, address, frame);
                }
                (Op::SetIpcBuffer, result)
            }
            _ => {
                let other = self.cap_of(Kind::Tcb, 0);
                // Never resume the target nor copy pc and sp: two threads on one stack would
                // scribble on memory the whole program shares.
                let flags = self.rng.below(2) | self.rng.below(2) << 3;
                (Op::CopyRegisters, self.invoke(slot, label::TCB_COPY_REGISTERS, &[flags], &[other]))
            }
        };
        self.note(op, slot, sub, result);
    }

    /// An IPC buffer: none, or a frame of the sandbox at a 1 KiB aligned address (the kernel
    /// reaches it through the frame; it need not be mapped).
    fn buffer_choice(&mut self) -> (u64, u64) {
        if self.rng.chance(40) {
            return (0, 0);
        }
        let frame = self.cap_of(Kind::Frame, 0);
        (0x1000_0000 + self.rng.below(4) * 1024, frame)
    }

    fn set_buffer_edge(&mut self, tcb: u8, address: u64, frame: u64) {
        match self.model.object_at(frame as usize) {
            Some(f) if address != 0 => self.model.link(tcb, f, Ref::IpcBuffer),
            _ => self.model.unlink_from(tcb, Ref::IpcBuffer),
        }
    }

    /// Starts a helper thread on `tcb`: configured in the sandbox's CSpace and the shared
    /// VSpace, given a scheduling context if it has none, started at `helper::main`.
    fn start_helper(&mut self, tcb: u8, slot: u64) {
        let Some(h) = self.helpers.iter().position(|&t| t == NONE) else { return self.helper_command() };
        if self.model.objects[tcb as usize].helper != NONE {
            return self.helper_command();
        }
        let id = self.helper_id(h);
        let (address, frame) = self.buffer_choice();
        let mut result =
            self.invoke(slot, label::TCB_CONFIGURE, &[CSPACE_DATA, 0, address], &[OWN_CNODE, VSPACE, frame]);
        if result.is_ok() {
            self.set_buffer_edge(tcb, address, frame);
        }
        if result.is_ok() && self.model.source(tcb, Ref::ScBound).is_none() {
            // A fresh scheduling context, or any one the model thinks is free.
            let sc = self.pick(|k| k == Kind::SchedContext);
            let sc = sc.filter(|&s| self.model.target(s, Ref::ScBound).is_none());
            if let Some(sc) = sc {
                let sc_slot = self.slot_of(sc).unwrap_or(0);
                let budget = 500 + self.rng.below(5000);
                let period = budget * (1 + self.rng.below(3));
                let _ = self.invoke(
                    SCHED_CONTROL,
                    label::SCHED_CONTROL_CONFIGURE_FLAGS,
                    &[budget, period, 0, 0, 0],
                    &[sc_slot],
                );
                let fault = self.cap_of(Kind::Endpoint, 30);
                result =
                    self.invoke(slot, label::TCB_SET_SCHED_PARAMS, &[PRIORITY, PRIORITY], &[OWN_TCB, sc_slot, fault]);
                if result.is_ok() {
                    self.model.link(sc, tcb, Ref::ScBound);
                    if let Some(ep) = self.model.object_at(fault as usize) {
                        self.model.link(tcb, ep, Ref::FaultHandler);
                    }
                }
            }
        }
        if result.is_ok() {
            helper::reset(id);
            let mut regs = UserContext::default();
            regs.0[UserContext::PC] = helper::main as *const () as usize as u64;
            regs.0[UserContext::SP] = helper::stack_top(id);
            regs.0[UserContext::X0] = id as u64;
            let mut args = [0u64; 2 + 4];
            args[0] = 1;
            args[1] = 4;
            args[2..6].copy_from_slice(&regs.0[..4]);
            result = self.invoke(slot, label::TCB_WRITE_REGISTERS, &args, &[]);
            if result.is_ok() {
                self.helpers[h] = tcb;
                self.model.objects[tcb as usize].helper = h as u8;
                HELPERS_STARTED.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.note(Op::StartHelper, slot, id as u64, result);
    }

    fn sc_op(&mut self) {
        let Some(sc) = self.pick(|k| k == Kind::SchedContext) else { return self.retype() };
        let Some(slot) = self.slot_of(sc) else { return };
        let sub = self.rng.below(6);
        let (op, result) = match sub {
            0 => {
                let budget = 200 + self.rng.below(10_000);
                let period = budget + self.rng.below(3) * budget;
                let extra = self.rng.below(3);
                let flags = self.rng.below(2);
                let args = [budget, period, extra, self.rng.below(8), flags];
                (Op::ConfigureFlags, self.invoke(SCHED_CONTROL, label::SCHED_CONTROL_CONFIGURE_FLAGS, &args, &[slot]))
            }
            1 => {
                let target =
                    if self.rng.chance(70) { self.cap_of(Kind::Tcb, 0) } else { self.cap_of(Kind::Notification, 0) };
                let result = self.invoke(slot, label::SCHED_CONTEXT_BIND, &[], &[target]);
                if let (Ok(()), Some(object)) = (result, self.model.object_at(target as usize)) {
                    let kind = match self.model.objects[object as usize].kind {
                        Kind::Tcb => Ref::ScBound,
                        _ => Ref::ScNotification,
                    };
                    self.model.link(sc, object, kind);
                }
                (Op::ScBind, result)
            }
            2 => {
                let result = self.invoke(slot, label::SCHED_CONTEXT_UNBIND, &[], &[]);
                if result.is_ok() {
                    for kind in [Ref::ScBound, Ref::ScNotification, Ref::ScDonated] {
                        self.model.unlink_from(sc, kind);
                    }
                }
                (Op::ScUnbind, result)
            }
            3 => {
                let target = self.cap_of(Kind::Tcb, 0);
                (Op::ScUnbindObject, self.invoke(slot, label::SCHED_CONTEXT_UNBIND_OBJECT, &[], &[target]))
            }
            4 => (Op::ScConsumed, self.invoke(slot, label::SCHED_CONTEXT_CONSUMED, &[], &[])),
            _ => {
                self.announce(Op::ScYieldTo, slot, 0);
                (Op::ScYieldTo, self.invoke(slot, label::SCHED_CONTEXT_YIELD_TO, &[], &[]))
            }
        };
        self.note(op, slot, sub, result);
    }

    // ---- IPC ----

    /// Posts a random command to helper `h` and lets it run.
    fn post_random(&mut self, h: usize) {
        let tcb = self.helpers[h];
        if tcb == NONE {
            return;
        }
        let command = match self.rng.below(12) {
            0..3 => Command::Recv,
            3..5 => Command::Call,
            5 => Command::Send,
            6 => Command::NbSend,
            7 => Command::ReplyRecv,
            8 => Command::Wait,
            9 => Command::Signal,
            10 => {
                if self.rng.chance(30) {
                    Command::Fault
                } else {
                    Command::SendReply
                }
            }
            _ => Command::NbSendRecv,
        };
        let a = match command {
            Command::Wait | Command::Signal => self.cap_of(Kind::Notification, 5),
            _ => self.cap_of(Kind::Endpoint, 5),
        };
        let b = self.cap_of(Kind::Reply, 20);
        self.post(h, command, a, b);
    }

    fn post(&mut self, h: usize, command: Command, a: u64, b: u64) {
        let tcb = self.helpers[h];
        let id = self.helper_id(h);
        if helper::idle(id) {
            self.model.unlink_from(tcb, Ref::BlockedOn);
        }
        let (ep, reply) = (self.model.object_at(a as usize), self.model.object_at(b as usize));
        match command {
            Command::Recv | Command::ReplyRecv | Command::Wait | Command::Send => {
                if let Some(ep) = ep {
                    self.model.link(tcb, ep, Ref::BlockedOn);
                }
                if let (Command::Recv | Command::ReplyRecv, Some(reply)) = (command, reply) {
                    self.model.link(reply, tcb, Ref::ReplyNames);
                }
            }
            Command::Call => {
                if let Some(ep) = ep {
                    self.model.link(tcb, ep, Ref::BlockedOn);
                    // A server waiting there takes the call: its reply names this caller, and
                    // a passive server runs on the caller's scheduling context.
                    let server = (0..self.model.edge_count)
                        .map(|i| self.model.edges[i])
                        .find(|e| e.to == ep && e.kind == Ref::BlockedOn && e.from != tcb)
                        .map(|e| e.from);
                    if let Some(server) = server {
                        if let Some(reply) = self.model.source(server, Ref::ReplyNames) {
                            self.model.link(reply, tcb, Ref::ReplyNames);
                        }
                        if self.model.source(server, Ref::ScBound).is_none()
                            && let Some(sc) = self.model.source(tcb, Ref::ScBound)
                        {
                            self.model.link(sc, server, Ref::ScDonated);
                        }
                    }
                }
            }
            Command::SendReply => {
                if let Some(reply) = reply {
                    self.model.unlink_from(reply, Ref::ReplyNames);
                }
            }
            Command::Fault => {
                if let Some(handler) = self.model.target(tcb, Ref::FaultHandler) {
                    self.model.link(tcb, handler, Ref::BlockedOn);
                }
            }
            _ => {}
        }
        self.announce(Op::Helper(command), a, b);
        helper::post(id, command, a, b);
        self.note(Op::Helper(command), a, b, Ok(()));
        syscall::yield_now();
    }

    fn helper_command(&mut self) {
        let live: u64 = self.helpers.iter().filter(|&&t| t != NONE).count() as u64;
        if live == 0 {
            // No helper yet: make a thread and start one.
            if let Some(tcb) = self.pick(|k| k == Kind::Tcb)
                && let Some(slot) = self.slot_of(tcb)
            {
                return self.start_helper(tcb, slot);
            }
            return self.retype();
        }
        let nth = self.rng.below(live) as usize;
        let h = (0..helper::PER_WORKER).filter(|&h| self.helpers[h] != NONE).nth(nth).unwrap_or(0);
        self.post_random(h);
    }

    /// IPC the fuzzing thread does itself, never blocking, and only on capabilities the model
    /// believes exist (IPC on an empty slot is a capability fault, which stops the thread).
    fn worker_ipc(&mut self) {
        match self.rng.below(5) {
            0 => {
                let ep = self.cap_of(Kind::Endpoint, 0);
                if ep == 0 {
                    return self.retype();
                }
                self.announce(Op::NbSend, ep, 0);
                syscall::nb_send(Registers { cap_or_badge: ep, info: MessageInfo::new(3, 0, 0, 2), mrs: [5; 4] });
                self.note(Op::NbSend, ep, 0, Ok(()));
            }
            1 => {
                let ep = self.readable_cap_of(Kind::Endpoint);
                if ep == 0 {
                    return self.retype();
                }
                let reply = self.cap_of(Kind::Reply, 20);
                self.announce(Op::NbRecv, ep, reply);
                let got = syscall::nb_recv(ep, reply);
                // A caller's message: the reply object names it now.
                if got.info.length() != 0
                    && let (Some(e), Some(r)) =
                        (self.model.object_at(ep as usize), self.model.object_at(reply as usize))
                {
                    let caller = (0..self.model.edge_count)
                        .map(|i| self.model.edges[i])
                        .find(|x| x.to == e && x.kind == Ref::BlockedOn)
                        .map(|x| x.from);
                    if let Some(caller) = caller {
                        self.model.link(r, caller, Ref::ReplyNames);
                    }
                }
                self.note(Op::NbRecv, ep, reply, Ok(()));
            }
            2 => {
                let ntfn = self.cap_of(Kind::Notification, 0);
                if ntfn == 0 {
                    return self.retype();
                }
                self.announce(Op::Signal, ntfn, 0);
                syscall::signal(ntfn);
                self.note(Op::Signal, ntfn, 0, Ok(()));
            }
            3 => {
                let ntfn = self.readable_cap_of(Kind::Notification);
                if ntfn == 0 {
                    return self.retype();
                }
                self.announce(Op::Poll, ntfn, 0);
                syscall::poll(ntfn);
                self.note(Op::Poll, ntfn, 0, Ok(()));
            }
            _ => {
                let reply = self.cap_of(Kind::Reply, 0);
                if reply == 0 {
                    return self.retype();
                }
                self.announce(Op::ReplySend, reply, 0);
                syscall::nb_send(Registers { cap_or_badge: reply, info: MessageInfo::new(0, 0, 0, 1), mrs: [8; 4] });
                if let Some(r) = self.model.object_at(reply as usize) {
                    self.model.unlink_from(r, Ref::ReplyNames);
                }
                self.note(Op::ReplySend, reply, 0, Ok(()));
            }
        }
    }

    /// A helper waiting on an endpoint loses its scheduling context (a passive server), then
    /// another helper calls it, lending it its own.
    fn make_passive(&mut self) {
        let mut server = None;
        for h in 0..helper::PER_WORKER {
            let tcb = self.helpers[h];
            if tcb != NONE
                && let (Some(ep), Some(sc)) =
                    (self.model.target(tcb, Ref::BlockedOn), self.model.source(tcb, Ref::ScBound))
                && self.model.objects[ep as usize].kind == Kind::Endpoint
            {
                server = Some((tcb, ep, sc));
                break;
            }
        }
        let Some((tcb, ep, sc)) = server else { return self.helper_command() };
        let Some(sc_slot) = self.slot_of(sc) else { return };
        let result = self.invoke(sc_slot, label::SCHED_CONTEXT_UNBIND, &[], &[]);
        if result.is_ok() {
            self.model.unlink_from(sc, Ref::ScBound);
        }
        self.note(Op::MakePassive, sc_slot, 0, result);
        let client = (0..helper::PER_WORKER).find(|&h| self.helpers[h] != NONE && self.helpers[h] != tcb);
        if let (Some(client), Some(ep_slot)) = (client, self.slot_of(ep)) {
            let reply = self.cap_of(Kind::Reply, 50);
            self.post(client, Command::Call, ep_slot, reply);
        }
    }

    /// A random label with random words and capabilities on an object that answers calls
    /// (never an endpoint, notification or reply: a Call there could block the thread).
    fn random_invoke(&mut self) {
        let Some(object) = self.pick(|k| !matches!(k, Kind::Endpoint | Kind::Notification | Kind::Reply)) else {
            return;
        };
        let Some(slot) = self.slot_of(object) else { return };
        let label = self.rng.below(60);
        let mut args = [0u64; 8];
        for a in args.iter_mut() {
            *a = match self.rng.below(3) {
                0 => self.rng.word(),
                1 => self.rng.below(SLOTS as u64),
                _ => self.rng.below(64),
            };
        }
        let length = self.rng.below(9) as usize;
        let mut caps = [0u64; 3];
        for c in caps.iter_mut() {
            *c = FIRST_FREE as u64 + self.rng.below((SLOTS - FIRST_FREE) as u64);
        }
        let count = self.rng.below(4) as usize;
        // Resuming a thread at a random address in the shared address space could run any
        // code: keep WriteRegisters and CopyRegisters from resuming.
        if label == label::TCB_WRITE_REGISTERS || label == label::TCB_COPY_REGISTERS {
            args[0] &= !0b11;
        }
        if label == label::TCB_RESUME || label == label::TCB_CONFIGURE || label == label::TCB_SET_SPACE {
            return self.tcb_op();
        }
        self.announce(Op::RandomInvoke, slot, label);
        let result = self.invoke(slot, label, &args[..length], &caps[..count]);
        self.note(Op::RandomInvoke, slot, label, result);
    }
}
