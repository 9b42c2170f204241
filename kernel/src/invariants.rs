//! The invariant checker (cargo feature `invariants`, on in test and fuzzing kernels): after
//! every entry from user mode it finds every live kernel object and checks the links between
//! them. A violation panics with the invariant's name, so a test run stops at the first system
//! call that broke the kernel's consistency rather than at some later crash.
//!
//! Objects are found the way the kernel itself knows them: through capabilities. The walk
//! starts at the root task's TCB and CNode and at every thread the scheduler holds, scans every
//! CNode and TCB whose capability it meets, and follows every derivation list it meets from end
//! to end. Each capability with memory becomes an entry in a table of objects, which is sorted
//! by address to check that no two objects overlap and to look up what a kernel link points at.
//!
//! What is checked:
//! - **objects**: no two distinct objects share memory; every descendant of an untyped lies
//!   below its watermark;
//! - **links name live objects of their type**: queue links, a thread's reply, scheduling
//!   context, bound notification and the object it is blocked on, a reply's caller, receiver
//!   and donated context, a context's thread and reply, a notification's bound thread, IRQ
//!   notifications, ASID pools and their VSpaces, the scheduler's current thread and context;
//! - **links are symmetric**: thread ↔ scheduling context, thread ↔ bound notification,
//!   reply ↔ caller, reply ↔ waiting receiver, reply ↔ donated context;
//! - **queues are well formed**: endpoint, notification, ready and release queues are doubly
//!   linked lists whose members are in the state the queue implies, endpoint and notification
//!   queues are in priority order, priorities match their
//!   ready queue, the release queue is sorted by refill time, and each thread is in at most one
//!   queue, and in one if it is blocked on an endpoint or notification or runnable and waiting;
//! - **scheduling contexts** have sane refill queues (count within capacity, amounts summing to
//!   the budget for sporadic ones).
//!
//! The tables have fixed sizes (no kernel heap); outgrowing them is reported as a violation of
//! its own, never silently skipped.

use crate::thread::KernelCell;
use crate::{ipc, thread};
use hmk_kernel::cspace::cap::{Cap, ZombieKind};
use hmk_kernel::cspace::slot::{self, Slot};
use hmk_kernel::object::sched_context::{SchedContext, refill_capacity};
use hmk_kernel::object::tcb::{self, TcbObject, ThreadState};

/// Most objects (capabilities with memory) the walk can hold.
const MAX_OBJECTS: usize = 16 * 1024;
/// Most CNodes and TCBs waiting to be scanned.
const MAX_PENDING: usize = 4 * 1024;
/// Entries of the visited set (a power of two, at least twice what it holds).
const SET_ENTRIES: usize = 32 * 1024;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[repr(u8)]
enum Kind {
    Endpoint,
    Notification,
    Reply,
    CNode,
    Tcb,
    /// A TCB or CNode being deleted: its memory is taken, but nothing may link to it.
    Zombie,
    SchedContext,
    Frame,
    PageTable,
    VSpace,
    AsidPool,
}

#[derive(Clone, Copy)]
struct Object {
    base: u64,
    size: u64,
    kind: Kind,
    /// How many endpoint or notification queues hold this thread, and how many scheduler
    /// queues.
    ipc_queues: u8,
    sched_queues: u8,
    /// Extra word: a CNode's radix, a scheduling context's size bits.
    extra: u32,
}

const NO_OBJECT: Object = Object { base: 0, size: 0, kind: Kind::Endpoint, ipc_queues: 0, sched_queues: 0, extra: 0 };

struct Walk {
    objects: [Object; MAX_OBJECTS],
    count: usize,
    /// CNodes (ptr, radix) and TCBs (ptr, u32::MAX) to scan.
    pending: [(u64, u32); MAX_PENDING],
    pending_len: usize,
    /// Visited keys, valid when tagged with the current round.
    visited: [(u64, u64); SET_ENTRIES],
    round: u64,
    /// The root task's TCB, noted at boot.
    root_tcb: u64,
}

static WALK: KernelCell<Walk> = KernelCell::new(Walk {
    objects: [NO_OBJECT; MAX_OBJECTS],
    count: 0,
    pending: [(0, 0); MAX_PENDING],
    pending_len: 0,
    visited: [(0, 0); SET_ENTRIES],
    round: 0,
    root_tcb: 0,
});

fn walk() -> &'static mut Walk {
    // SAFETY: kernel mode on the boot core; only this module touches the walk, one check at a
    // time.
    unsafe { WALK.get() }
}

/// Notes the root task's TCB, where every walk starts.
pub fn note_root(root_tcb: *mut TcbObject) {
    walk().root_tcb = root_tcb as u64;
}

fn violation(name: &str, detail: core::fmt::Arguments) -> ! {
    panic!("invariant violated: {name}: {detail}")
}

macro_rules! check {
    ($condition:expr, $name:expr, $($detail:tt)+) => {
        if !$condition {
            violation($name, format_args!($($detail)+));
        }
    };
}

/// Keys of the visited set: CNode and TCB containers, and derivation lists (by any member).
const CONTAINER: u64 = 1;
const LIST: u64 = 2;

impl Walk {
    /// Inserts `key`; `false` if it was there already.
    fn visit(&mut self, key: u64) -> bool {
        let mut index = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize & (SET_ENTRIES - 1);
        for _ in 0..SET_ENTRIES {
            let (stored, round) = self.visited[index];
            if round != self.round {
                self.visited[index] = (key, self.round);
                return true;
            }
            if stored == key {
                return false;
            }
            index = (index + 1) & (SET_ENTRIES - 1);
        }
        violation("checker capacity", format_args!("visited set full"))
    }

    fn push_container(&mut self, ptr: u64, radix: u32) {
        if self.visit(ptr | CONTAINER) {
            check!(self.pending_len < MAX_PENDING, "checker capacity", "more than {MAX_PENDING} pending containers");
            self.pending[self.pending_len] = (ptr, radix);
            self.pending_len += 1;
        }
    }

    fn add_object(&mut self, base: u64, size: u64, kind: Kind, extra: u32) {
        check!(self.count < MAX_OBJECTS, "checker capacity", "more than {MAX_OBJECTS} capabilities with memory");
        self.objects[self.count] = Object { base, size, kind, ipc_queues: 0, sched_queues: 0, extra };
        self.count += 1;
    }

    /// Records the capability in `slot` and queues the containers it names.
    fn note_cap(&mut self, slot: *mut Slot) {
        // SAFETY: the walk only reaches live slots (container contents and list links).
        let cap = unsafe { (*slot).cap() };
        let (kind, extra) = match cap {
            Cap::Endpoint { .. } => (Kind::Endpoint, 0),
            Cap::Notification { .. } => (Kind::Notification, 0),
            Cap::Reply { .. } => (Kind::Reply, 0),
            Cap::CNode { ptr, radix, .. } => {
                self.push_container(ptr, radix);
                (Kind::CNode, radix)
            }
            Cap::Thread { ptr } => {
                self.push_container(ptr, u32::MAX);
                (Kind::Tcb, 0)
            }
            Cap::Zombie { ptr, kind, .. } => {
                self.push_container(ptr, if let ZombieKind::CNode { radix } = kind { radix } else { u32::MAX });
                (Kind::Zombie, 0)
            }
            Cap::SchedContext { size_bits, .. } => (Kind::SchedContext, size_bits),
            Cap::Frame { .. } => (Kind::Frame, 0),
            Cap::PageTable { .. } => (Kind::PageTable, 0),
            Cap::VSpace { .. } => (Kind::VSpace, 0),
            Cap::AsidPool { .. } => (Kind::AsidPool, 0),
            Cap::Untyped { ptr, size_bits, free_index, .. } => {
                // SAFETY: as above.
                unsafe { check_untyped(slot, ptr, size_bits, free_index) };
                return;
            }
            _ => return,
        };
        if let Some((base, size)) = cap.object_region() {
            self.add_object(base, size, kind, extra);
        }
    }

    /// Records every capability of the derivation list `slot` is in, once per list.
    fn note_list(&mut self, slot: *mut Slot) {
        // SAFETY: `slot` is live; list links only name live slots (the slot module's
        // invariant, which this walk relies on and so checks only by not crashing).
        unsafe {
            let mut first = slot;
            let mut steps = 0usize;
            while !(*first).prev().is_null() {
                first = (*first).prev();
                steps += 1;
                check!(steps <= MAX_OBJECTS * 4, "derivation list", "a list without a start");
            }
            if !self.visit(first as u64 | LIST) {
                return;
            }
            let mut at = first;
            let mut prev: *mut Slot = core::ptr::null_mut();
            while !at.is_null() {
                check!(
                    (*at).prev() == prev,
                    "derivation list",
                    "slot {:#x}: back link {:#x}",
                    at as u64,
                    (*at).prev() as u64
                );
                check!(!(*at).is_empty(), "derivation list", "empty slot {:#x} in a list", at as u64);
                self.note_cap(at);
                prev = at;
                at = (*at).next();
            }
        }
    }

    /// Scans the slots of one CNode or TCB.
    fn scan(&mut self, ptr: u64, radix: u32) {
        let (first, count) =
            if radix == u32::MAX { (ptr as *mut Slot, tcb::slot::COUNT) } else { (ptr as *mut Slot, 1usize << radix) };
        if radix == u32::MAX {
            check_tcb_slots(ptr);
        }
        for i in 0..count {
            // SAFETY: the container is a live CNode of 2^radix slots or a TCB's slots.
            let slot = unsafe { first.add(i) };
            // SAFETY: as above. (An empty slot is all zeros: no need to decode it.)
            if unsafe { (*slot).raw_cap() != [0, 0] && !(*slot).is_empty() } {
                self.note_list(slot);
            }
        }
    }

    fn index_of(&self, ptr: u64, kind: Kind) -> Option<usize> {
        let objects = &self.objects[..self.count];
        let at = objects.partition_point(|o| (o.base, o.kind) < (ptr, kind));
        (at < objects.len() && objects[at].base == ptr && objects[at].kind == kind).then_some(at)
    }

    /// The live object of `kind` at `ptr`, or a violation naming `what` links there.
    fn live(&self, ptr: u64, kind: Kind, what: &str) -> usize {
        match self.index_of(ptr, kind) {
            Some(index) => index,
            None => violation("links name live objects", format_args!("{what} is {ptr:#x}, no live {kind:?} there")),
        }
    }
}

/// Every descendant of an untyped lies below its watermark (its copies excepted: a copy is
/// the same block, and the original is full while it exists).
///
/// # Safety
/// `slot` is live.
unsafe fn check_untyped(slot: *mut Slot, base: u64, size_bits: u32, free_index: u64) {
    let size = 1u64 << size_bits;
    check!(free_index <= size, "untyped watermark", "untyped {base:#x}: watermark {free_index:#x} past its size");
    // SAFETY: the caller's contract; list links name live slots.
    unsafe {
        let mut next = (*slot).next();
        while !next.is_null() && slot::is_parent_of(&*slot, &*next) {
            let cap = (*next).cap();
            let is_copy = matches!(cap, Cap::Untyped { ptr, size_bits: bits, .. } if ptr == base && bits == size_bits);
            if let Some((child, child_size)) = cap.object_region()
                && !is_copy
            {
                check!(
                    child >= base && child + child_size <= base + free_index,
                    "untyped children lie inside it",
                    "{cap:?} outside untyped {base:#x} below its watermark {free_index:#x}"
                );
            }
            next = (*next).next();
        }
    }
}

fn tcb_at(ptr: u64) -> &'static TcbObject {
    // SAFETY: called only for pointers the walk found as live TCBs.
    unsafe { &*(ptr as *const TcbObject) }
}

fn sched_context_at(ptr: u64) -> &'static SchedContext {
    // SAFETY: called only for pointers the walk found as live scheduling contexts.
    unsafe { &*(ptr as *const SchedContext) }
}

/// The raw thread state word (the enum is read as a number so a corrupt one cannot be
/// mistaken for a valid one).
fn state_word(t: &TcbObject) -> u64 {
    // SAFETY: `ThreadState` is `repr(u64)`: the field is one aligned word.
    unsafe { *(core::ptr::addr_of!(t.tcb.state) as *const u64) }
}

/// A TCB's own slots hold only what their roles allow.
fn check_tcb_slots(ptr: u64) {
    let t = tcb_at(ptr);
    let ok = |index: usize, allowed: fn(&Cap) -> bool| {
        let cap = t.slots[index].cap();
        check!(cap.is_null() || allowed(&cap), "TCB slots", "TCB {ptr:#x} slot {index} holds {cap:?}");
    };
    // A CNode whose last capability is a thread's CSpace root turns into a zombie there when it
    // is deleted (seL4 `finaliseSlot`), and a preempted deletion leaves it there for a while.
    ok(tcb::slot::CSPACE_ROOT, |c| matches!(c, Cap::CNode { .. } | Cap::Zombie { kind: ZombieKind::CNode { .. }, .. }));
    ok(tcb::slot::VSPACE_ROOT, |c| matches!(c, Cap::VSpace { .. }));
    ok(tcb::slot::IPC_BUFFER, |c| matches!(c, Cap::Frame { .. }));
    ok(tcb::slot::FAULT_HANDLER, |c| matches!(c, Cap::Endpoint { .. }));
    ok(tcb::slot::TIMEOUT_HANDLER, |c| matches!(c, Cap::Endpoint { .. }));
}

const STATE_RUNNING: u64 = ThreadState::Running as u64;
const STATE_RESTART: u64 = ThreadState::Restart as u64;
const STATE_RECEIVE: u64 = ThreadState::BlockedOnReceive as u64;
const STATE_SEND: u64 = ThreadState::BlockedOnSend as u64;
const STATE_REPLY: u64 = ThreadState::BlockedOnReply as u64;
const STATE_NOTIFICATION: u64 = ThreadState::BlockedOnNotification as u64;

/// Walks one endpoint or notification queue: members are live TCBs in `state` blocked on
/// `owner`, linked both ways, ending at `tail`.
fn check_ipc_queue(w: &mut Walk, owner: u64, head: u64, tail: u64, state: u64, what: &str) {
    let (mut at, mut prev, mut length) = (head, 0u64, 0usize);
    while at != 0 {
        let index = w.live(at, Kind::Tcb, what);
        length += 1;
        check!(length <= w.count, "queues are well formed", "{what} {owner:#x} has a cycle");
        let t = tcb_at(at);
        check!(
            state_word(t) == state,
            "queue members wait there",
            "thread {at:#x} in {what} {owner:#x} is in state {}",
            state_word(t)
        );
        check!(
            t.tcb.blocked_on == owner,
            "queue members wait there",
            "thread {at:#x} in {what} {owner:#x} is blocked on {:#x}",
            t.tcb.blocked_on
        );
        check!(t.tcb.queue_prev == prev, "queues are well formed", "thread {at:#x} in {what} {owner:#x}: back link");
        check!(
            prev == 0 || tcb_at(prev).tcb.priority >= t.tcb.priority,
            "queues are well formed",
            "thread {at:#x} of priority {} in {what} {owner:#x} behind one of priority {}",
            t.tcb.priority,
            tcb_at(prev).tcb.priority
        );
        w.objects[index].ipc_queues += 1;
        prev = at;
        at = t.tcb.queue_next;
    }
    check!(prev == tail, "queues are well formed", "{what} {owner:#x}: tail {tail:#x}, last member {prev:#x}");
}

/// Runs the whole check. Called after every entry from user mode, once the next thread is
/// chosen (`current` is that thread).
pub fn check_all() {
    let w = walk();
    w.round = w.round.wrapping_add(1).max(1);
    w.count = 0;
    w.pending_len = 0;
    let sched = thread::view();
    // Roots: the root task, the running thread and every thread the scheduler holds.
    for root in [w.root_tcb, sched.current as u64, sched.fp_owner as u64] {
        if root != 0 {
            w.push_container(root, u32::MAX);
        }
    }
    for prio in 0..256 {
        let mut at = sched.ready.heads[prio];
        let mut guard = 0;
        while at != 0 && guard < MAX_PENDING {
            w.push_container(at, u32::MAX);
            at = tcb_at(at).tcb.sched_next;
            guard += 1;
        }
    }
    let mut at = sched.release_head;
    let mut guard = 0;
    while at != 0 && guard < MAX_PENDING {
        w.push_container(at, u32::MAX);
        at = tcb_at(at).tcb.sched_next;
        guard += 1;
    }
    while w.pending_len > 0 {
        w.pending_len -= 1;
        let (ptr, radix) = w.pending[w.pending_len];
        w.scan(ptr, radix);
    }
    let count = w.count;
    w.objects[..count].sort_unstable_by_key(|o| (o.base, o.kind));

    // Distinct objects never overlap; capabilities to one object agree on its size.
    let mut last: Option<Object> = None;
    for o in &w.objects[..count] {
        if let Some(p) = last {
            if p.base == o.base && p.kind == o.kind {
                check!(
                    p.size == o.size,
                    "objects do not overlap",
                    "{:?} {:#x} with sizes {:#x} and {:#x}",
                    o.kind,
                    o.base,
                    p.size,
                    o.size
                );
                continue;
            }
            check!(
                p.base + p.size <= o.base,
                "objects do not overlap",
                "{:?} {:#x}+{:#x} and {:?} {:#x}",
                p.kind,
                p.base,
                p.size,
                o.kind,
                o.base
            );
        }
        last = Some(*o);
    }

    // The roots must themselves be live threads.
    for (root, what) in [(sched.current as u64, "the current thread"), (sched.fp_owner as u64, "the FP owner")] {
        if root != 0 {
            w.live(root, Kind::Tcb, what);
        }
    }
    if sched.current_sc != 0 {
        w.live(sched.current_sc, Kind::SchedContext, "the scheduling context being charged");
    }

    // Scheduler queues.
    for prio in 0..256usize {
        let head = sched.ready.heads[prio];
        let bit = sched.ready.bitmap[prio / 64] & (1 << (prio % 64)) != 0;
        check!(bit == (head != 0), "ready queues are well formed", "priority {prio}: bitmap bit {bit}, head {head:#x}");
        let (mut at, mut prev) = (head, 0u64);
        while at != 0 {
            let index = w.live(at, Kind::Tcb, "a ready-queue link");
            let t = tcb_at(at);
            let s = state_word(t);
            check!(
                s == STATE_RUNNING || s == STATE_RESTART,
                "ready threads are runnable",
                "thread {at:#x} in state {s}"
            );
            check!(
                t.tcb.in_ready_queue == thread::IN_READY,
                "ready queues are well formed",
                "thread {at:#x} marked {}",
                t.tcb.in_ready_queue
            );
            check!(
                t.tcb.priority as usize == prio,
                "ready queues are well formed",
                "thread {at:#x} of priority {} in queue {prio}",
                t.tcb.priority
            );
            check!(t.tcb.sched_prev == prev, "ready queues are well formed", "thread {at:#x}: back link");
            check!(
                w.objects[index].sched_queues == 0,
                "a thread is in one queue",
                "thread {at:#x} twice in the scheduler"
            );
            w.objects[index].sched_queues += 1;
            prev = at;
            at = t.tcb.sched_next;
        }
        check!(prev == sched.ready.tails[prio], "ready queues are well formed", "priority {prio}: tail");
    }
    let (mut at, mut prev, mut last_time) = (sched.release_head, 0u64, 0u64);
    while at != 0 {
        let index = w.live(at, Kind::Tcb, "a release-queue link");
        let t = tcb_at(at);
        check!(
            t.tcb.in_ready_queue == thread::IN_RELEASE,
            "release queue is well formed",
            "thread {at:#x} marked {}",
            t.tcb.in_ready_queue
        );
        check!(t.tcb.sched_prev == prev, "release queue is well formed", "thread {at:#x}: back link");
        check!(t.tcb.sched_context != 0, "release queue is well formed", "thread {at:#x} has no scheduling context");
        let time = crate::budget::next_refill(t.tcb.sched_context);
        check!(time >= last_time, "release queue is sorted", "thread {at:#x} at {time} after {last_time}");
        check!(w.objects[index].sched_queues == 0, "a thread is in one queue", "thread {at:#x} twice in the scheduler");
        w.objects[index].sched_queues += 1;
        last_time = time;
        prev = at;
        at = t.tcb.sched_next;
    }

    // Endpoint, notification, reply and scheduling context links.
    for i in 0..count {
        let o = w.objects[i];
        if i > 0 && w.objects[i - 1].base == o.base && w.objects[i - 1].kind == o.kind {
            continue;
        }
        match o.kind {
            Kind::Endpoint => {
                let ep = ipc::endpoint(o.base);
                let (head, tail, state) =
                    (ep.head, ep.tail_and_state & !ipc::STATE_MASK, ep.tail_and_state & ipc::STATE_MASK);
                match state {
                    ipc::QUEUE_IDLE => check!(
                        head == 0 && tail == 0,
                        "queues are well formed",
                        "idle endpoint {:#x} with members",
                        o.base
                    ),
                    ipc::QUEUE_SEND => check_ipc_queue(w, o.base, head, tail, STATE_SEND, "endpoint send queue"),
                    ipc::QUEUE_RECEIVE => {
                        check_ipc_queue(w, o.base, head, tail, STATE_RECEIVE, "endpoint receive queue")
                    }
                    _ => violation("queues are well formed", format_args!("endpoint {:#x} in state {state}", o.base)),
                }
            }
            Kind::Notification => {
                let n = ipc::notification(o.base);
                let (head, tail, state) =
                    (n.head, n.tail_and_state & !ipc::STATE_MASK, n.tail_and_state & ipc::STATE_MASK);
                if state == ipc::NOTIFICATION_WAITING {
                    check_ipc_queue(w, o.base, head, tail, STATE_NOTIFICATION, "notification queue");
                } else {
                    check!(
                        head == 0 && tail == 0,
                        "queues are well formed",
                        "notification {:#x} in state {state} with waiters",
                        o.base
                    );
                }
                if n.sched_context != 0 {
                    w.live(n.sched_context, Kind::SchedContext, "a notification's scheduling context");
                    check!(
                        sched_context_at(n.sched_context).notification == o.base,
                        "bindings are symmetric",
                        "notification {:#x} bound to context {:#x}, not back",
                        o.base,
                        n.sched_context
                    );
                }
                if n.bound_tcb != 0 {
                    w.live(n.bound_tcb, Kind::Tcb, "a notification's bound thread");
                    check!(
                        tcb_at(n.bound_tcb).tcb.bound_notification == o.base,
                        "bindings are symmetric",
                        "notification {:#x} bound to thread {:#x}, not back",
                        o.base,
                        n.bound_tcb
                    );
                }
            }
            Kind::Reply => {
                let r = ipc::reply(o.base);
                if r.caller != 0 {
                    w.live(r.caller, Kind::Tcb, "a reply's caller");
                    let t = tcb_at(r.caller);
                    check!(
                        state_word(t) == STATE_REPLY && t.tcb.reply == o.base,
                        "reply links are symmetric",
                        "reply {:#x}: caller {:#x} in state {} naming {:#x}",
                        o.base,
                        r.caller,
                        state_word(t),
                        t.tcb.reply
                    );
                }
                if r.receiver != 0 {
                    w.live(r.receiver, Kind::Tcb, "a reply's receiver");
                    let t = tcb_at(r.receiver);
                    check!(
                        state_word(t) == STATE_RECEIVE && t.tcb.reply == o.base,
                        "reply links are symmetric",
                        "reply {:#x}: receiver {:#x} in state {} naming {:#x}",
                        o.base,
                        r.receiver,
                        state_word(t),
                        t.tcb.reply
                    );
                }
                if r.donated != 0 {
                    w.live(r.donated, Kind::SchedContext, "a reply's donated context");
                    // The reply is on its context's call stack: reached from the head through
                    // the older links (a stack is at most as deep as there are replies).
                    let mut at = sched_context_at(r.donated).reply;
                    let mut steps = 0;
                    while at != 0 && at != o.base && steps < MAX_OBJECTS {
                        at = ipc::reply(at).older;
                        steps += 1;
                    }
                    check!(
                        at == o.base,
                        "donation links are symmetric",
                        "reply {:#x} lends {:#x}, whose call stack does not hold it",
                        o.base,
                        r.donated
                    );
                }
                if r.older != 0 {
                    w.live(r.older, Kind::Reply, "a reply's older call");
                    check!(
                        r.donated != 0 && ipc::reply(r.older).donated == r.donated,
                        "donation links are symmetric",
                        "reply {:#x} (context {:#x}) has an older call {:#x} of another context",
                        o.base,
                        r.donated,
                        r.older
                    );
                }
            }
            Kind::SchedContext => check_sched_context(w, o),
            _ => {}
        }
    }

    // Threads: their own links, and the queue they must (or must not) be in.
    for i in 0..count {
        let o = w.objects[i];
        if o.kind != Kind::Tcb || (i > 0 && w.objects[i - 1].base == o.base && w.objects[i - 1].kind == o.kind) {
            continue;
        }
        check_thread(w, o, sched.current as u64);
    }

    // The IRQ table and the ASID table.
    for n in crate::irq::notifications() {
        w.live(n, Kind::Notification, "an IRQ line's notification");
    }
    for (index, &pool) in sched.asid_pools.iter().enumerate() {
        if pool == 0 {
            continue;
        }
        w.live(pool, Kind::AsidPool, "an ASID table entry");
        for entry in 0..512 {
            // SAFETY: a live ASID pool holds 512 words.
            let vspace = unsafe { *(pool as *const u64).add(entry) };
            if vspace != 0 {
                w.live(vspace, Kind::VSpace, if index == 0 && entry == 0 { "ASID 0" } else { "an ASID pool entry" });
            }
        }
    }
}

fn check_sched_context(w: &Walk, o: Object) {
    // SAFETY: a live scheduling context found by the walk.
    let sc = unsafe { &*(o.base as *const SchedContext) };
    if sc.notification != 0 {
        w.live(sc.notification, Kind::Notification, "a scheduling context's notification");
        check!(
            ipc::notification(sc.notification).sched_context == o.base,
            "bindings are symmetric",
            "context {:#x} bound to notification {:#x}, not back",
            o.base,
            sc.notification
        );
    }
    if sc.tcb != 0 {
        w.live(sc.tcb, Kind::Tcb, "a scheduling context's thread");
        check!(
            tcb_at(sc.tcb).tcb.sched_context == o.base,
            "bindings are symmetric",
            "context {:#x} bound to {:#x}, not back",
            o.base,
            sc.tcb
        );
    }
    if sc.reply != 0 {
        w.live(sc.reply, Kind::Reply, "a scheduling context's reply");
        check!(
            ipc::reply(sc.reply).donated == o.base,
            "donation links are symmetric",
            "context {:#x} lent through reply {:#x}, not back",
            o.base,
            sc.reply
        );
    }
    let (head, count) = sc.refill_head_count();
    if sc.budget != 0 && count != 0 {
        let capacity = refill_capacity(o.extra);
        let max = sc.refill_max as usize;
        check!(
            count <= max && max <= capacity && head < max,
            "refills fit",
            "context {:#x}: head {head} count {count} max {max} capacity {capacity}",
            o.base
        );
        if sc.budget < sc.period {
            let mut total = 0u64;
            for i in 0..count {
                // SAFETY: `max` refills lie after the 80-byte core, inside the object.
                let refill = unsafe {
                    &*((o.base + crate::budget::CORE_BYTES) as *const hmk_kernel::sched::refill::Refill)
                        .add((head + i) % max)
                };
                total += refill.amount;
            }
            check!(total == sc.budget, "refills sum to the budget", "context {:#x}: {total} of {}", o.base, sc.budget);
        }
    }
}

fn check_thread(w: &Walk, o: Object, current: u64) {
    let t = tcb_at(o.base);
    let ptr = o.base;
    let state = state_word(t);
    check!(state <= ThreadState::Idle as u64, "thread states", "thread {ptr:#x} in state {state}");
    if t.tcb.sched_context != 0 {
        w.live(t.tcb.sched_context, Kind::SchedContext, "a thread's scheduling context");
        // SAFETY: live, as just checked.
        let sc = unsafe { &*(t.tcb.sched_context as *const SchedContext) };
        check!(
            sc.tcb == ptr,
            "bindings are symmetric",
            "thread {ptr:#x} runs on {:#x}, bound to {:#x}",
            t.tcb.sched_context,
            sc.tcb
        );
    }
    if t.tcb.bound_notification != 0 {
        w.live(t.tcb.bound_notification, Kind::Notification, "a thread's bound notification");
        check!(
            ipc::notification(t.tcb.bound_notification).bound_tcb == ptr,
            "bindings are symmetric",
            "thread {ptr:#x} bound to notification {:#x}, not back",
            t.tcb.bound_notification
        );
    }
    if t.tcb.reply != 0 {
        w.live(t.tcb.reply, Kind::Reply, "a thread's reply");
        let r = ipc::reply(t.tcb.reply);
        let linked = (state == STATE_REPLY && r.caller == ptr) || (state == STATE_RECEIVE && r.receiver == ptr);
        check!(
            linked,
            "reply links are symmetric",
            "thread {ptr:#x} in state {state} names reply {:#x} (caller {:#x}, receiver {:#x})",
            t.tcb.reply,
            r.caller,
            r.receiver
        );
    }
    let in_ipc_queue = matches!(state, STATE_SEND | STATE_RECEIVE | STATE_NOTIFICATION);
    check!(
        o.ipc_queues == u8::from(in_ipc_queue),
        "a thread is in one queue",
        "thread {ptr:#x} in state {state} is in {} endpoint or notification queues",
        o.ipc_queues
    );
    match state {
        STATE_SEND | STATE_RECEIVE => {
            w.live(t.tcb.blocked_on, Kind::Endpoint, "a blocked thread's endpoint");
        }
        STATE_NOTIFICATION => {
            w.live(t.tcb.blocked_on, Kind::Notification, "a blocked thread's notification");
        }
        STATE_REPLY => check!(
            t.tcb.reply != 0,
            "reply links are symmetric",
            "thread {ptr:#x} waits for a reply without a reply object"
        ),
        _ => {}
    }
    let runnable = state == STATE_RUNNING || state == STATE_RESTART;
    // The thread that entered the kernel may already be queued again (its budget ran out); any
    // other runnable thread with a context must be waiting in a queue.
    let waiting_to_run = runnable && t.tcb.sched_context != 0 && ptr != current;
    let queued_ok =
        if ptr == current { o.sched_queues <= u8::from(runnable) } else { o.sched_queues == u8::from(waiting_to_run) };
    check!(
        queued_ok,
        "a runnable thread is scheduled",
        "thread {ptr:#x} (state {state}, context {:#x}, current {}) is in {} scheduler queues",
        t.tcb.sched_context,
        ptr == current,
        o.sched_queues
    );
    check!(
        (t.tcb.in_ready_queue != 0) == (o.sched_queues != 0),
        "ready queues are well formed",
        "thread {ptr:#x} marked {} but in {} queues",
        t.tcb.in_ready_queue,
        o.sched_queues
    );
}
