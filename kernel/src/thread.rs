//! Threads: the running thread, the ready queues and the switch to user mode.
//!
//! A thread runs when it is runnable and has a scheduling context (MCS). The scheduler keeps
//! one FIFO ready queue per priority (256) and a bitmap of the non-empty ones, and runs the
//! highest-priority ready thread; a thread keeps the CPU until a higher-priority one is ready
//! or it gives up its slice (Yield, or the end of a timer slice), then it goes behind the others
//! of its priority. The one thread a kernel entry wakes may go ahead of its queue (seL4's
//! direct switch, [`Woken`]). Time is charged from kernel entry to kernel entry, so the
//! kernel's own time is the thread's it dispatches (seL4's `ksCurTime`). Registers live in the
//! TCB (the exception entry code saves into and restores from there directly); FP/SIMD
//! registers are switched with the thread. This module also holds the kernel's global state
//! (the ASID table) behind [`KernelCell`].

use crate::arch::aarch64::{exception, mmu, timer};
use crate::budget;
use aarch64_cpu::registers::{DAIF, Readable, TPIDR_EL0, Writeable};
use core::cell::UnsafeCell;
use hmk_kernel::context::UserContext;
use hmk_kernel::cspace::cap::Cap;
use hmk_kernel::object::tcb::{self, TcbObject};

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

/// Thread priorities: 0 (lowest) to 255.
const PRIORITIES: usize = 256;

/// Ready queues, one per priority, with a bitmap of the non-empty ones so the highest is found
/// in constant time. Links are the TCBs' `sched_prev` / `sched_next`.
pub(crate) struct ReadyQueues {
    pub(crate) heads: [u64; PRIORITIES],
    pub(crate) tails: [u64; PRIORITIES],
    pub(crate) bitmap: [u64; PRIORITIES / 64],
}

pub(crate) struct KernelState {
    pub(crate) current: *mut TcbObject,
    /// The thread whose FP/SIMD registers are in the CPU.
    pub(crate) fp_owner: *mut TcbObject,
    /// The current thread gave up the rest of its slice (Yield, end of slice): it goes behind
    /// the others of its priority.
    rotate: bool,
    pub(crate) ready: ReadyQueues,
    /// Which threads this kernel entry has made ready (see [`Woken`]).
    woken: Woken,
    /// Threads whose scheduling context has no budget until a refill time, sorted by it.
    pub(crate) release_head: u64,
    /// When the kernel was last entered (counter ticks; seL4's `ksCurTime`). The running thread
    /// has been charged up to it; the thread dispatched on the way out is charged from it, so
    /// the kernel's own time is charged to the thread it chooses, as seL4 charges it. Every
    /// scheduling decision of an entry is taken at this time.
    kernel_time: u64,
    /// The scheduling context being charged (the running thread's), and the ticks it has
    /// consumed since it was last committed (seL4's `ksCurSC`, `ksConsumed`; see `budget`).
    pub(crate) current_sc: u64,
    consumed: u64,
    /// When the dispatched thread's budget ends, and when the release queue's first refill is
    /// due (counter ticks; `u64::MAX`: never). The timer is set for the earlier.
    budget_end: u64,
    next_release: u64,
    pub(crate) asid_pools: [u64; ASID_POOL_COUNT],
}

/// The threads a kernel entry has made ready, for the choice on its way out. The one thread an
/// entry wakes is seL4's scheduler-action candidate (`possibleSwitchTo`): when the running
/// thread has blocked, or has a lower priority, that thread runs next if no higher priority is
/// ready, ahead of the threads queued before it at its priority (a server called, a caller
/// replied to, a thread resumed runs at once). Meanwhile it waits in its ready queue like any
/// other, and leaving the queue (blocking again) makes it no candidate. When an entry wakes
/// several, the ready queues alone decide (seL4 `rescheduleRequired`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Woken {
    None,
    One(*mut TcbObject),
    Several,
}

static STATE: KernelCell<KernelState> = KernelCell::new(KernelState {
    current: core::ptr::null_mut(),
    fp_owner: core::ptr::null_mut(),
    rotate: false,
    ready: ReadyQueues { heads: [0; PRIORITIES], tails: [0; PRIORITIES], bitmap: [0; PRIORITIES / 64] },
    woken: Woken::None,
    release_head: 0,
    kernel_time: 0,
    current_sc: 0,
    consumed: 0,
    budget_end: u64::MAX,
    next_release: u64::MAX,
    asid_pools: [0; ASID_POOL_COUNT],
});

fn state() -> &'static mut KernelState {
    // SAFETY: kernel mode on the boot core; callers do not hold two of these at once across a
    // call that takes another.
    unsafe { STATE.get() }
}

/// The scheduler's state, for the invariant checker to read.
#[cfg(feature = "invariants")]
pub(crate) fn view() -> &'static KernelState {
    state()
}

/// Where in the scheduler a thread is: values of `TcbObject::tcb.in_ready_queue`.
#[cfg(feature = "invariants")]
pub(crate) const IN_READY: u64 = IN_READY_QUEUE;
#[cfg(feature = "invariants")]
pub(crate) const IN_RELEASE: u64 = IN_RELEASE_QUEUE;

/// Records the ASID pool object for ASIDs `index * 512 ..` (0: none).
pub fn set_asid_pool(index: usize, pool: u64) {
    state().asid_pools[index] = pool;
}

/// The ASID pool object for ASIDs `index * 512 ..` (0: none).
pub fn asid_pool(index: usize) -> u64 {
    state().asid_pools[index % ASID_POOL_COUNT]
}

/// When the kernel was entered this time (seL4's `ksCurTime`): the time at which this entry's
/// scheduling decisions are taken.
pub fn kernel_time() -> u64 {
    state().kernel_time
}

/// Takes the timestamp of a kernel entry; returns the ticks since the previous one, which the
/// context being charged has used (the kernel's time in the previous entry included).
fn take_entry_timestamp() -> u64 {
    let st = state();
    let now = timer::now();
    now.saturating_sub(core::mem::replace(&mut st.kernel_time, now))
}

/// The kernel was entered from idle (an interrupt): the time since the last entry was nobody's.
pub fn enter_from_idle() {
    take_entry_timestamp();
}

/// The TCB of the thread that entered the kernel (null before the first thread runs).
pub fn current() -> *mut TcbObject {
    state().current
}

fn tcb_ref(tcb: u64) -> &'static mut TcbObject {
    // SAFETY: queue links and `current` only ever hold live TCB objects (a TCB leaves every
    // queue before it is finalised).
    unsafe { &mut *(tcb as *mut TcbObject) }
}

/// Whether `tcb` may be scheduled: runnable, with a scheduling context (MCS) that has budget
/// now.
pub fn schedulable(tcb: &TcbObject) -> bool {
    tcb.tcb.state.is_runnable() && tcb.tcb.sched_context != 0 && budget::ready(tcb.tcb.sched_context, kernel_time())
}

/// Whether scheduling context `sc` could run a thread now: its head refill is due and covers the
/// minimum budget beyond what it has used since it was last charged (seL4 `refill_ready` and
/// `refill_sufficient`).
pub fn has_budget(sc: u64) -> bool {
    let st = state();
    let consumed = if sc == st.current_sc { st.consumed } else { 0 };
    budget::ready(sc, st.kernel_time) && budget::sufficient(sc, consumed)
}

/// Where in the scheduler a thread is (`TcbObject::tcb.in_ready_queue`).
const IN_READY_QUEUE: u64 = 1;
const IN_RELEASE_QUEUE: u64 = 2;

/// Puts `tcb` at the tail (or head) of its priority's ready queue, if it is not queued.
fn enqueue(tcb: *mut TcbObject, at_head: bool) {
    let ready = &mut state().ready;
    let object = tcb_ref(tcb as u64);
    if object.tcb.in_ready_queue != 0 {
        return;
    }
    let prio = (object.tcb.priority as usize).min(PRIORITIES - 1);
    let me = tcb as u64;
    object.tcb.in_ready_queue = IN_READY_QUEUE;
    if ready.heads[prio] == 0 {
        object.tcb.sched_prev = 0;
        object.tcb.sched_next = 0;
        ready.heads[prio] = me;
        ready.tails[prio] = me;
        ready.bitmap[prio / 64] |= 1 << (prio % 64);
    } else if at_head {
        object.tcb.sched_prev = 0;
        object.tcb.sched_next = ready.heads[prio];
        tcb_ref(ready.heads[prio]).tcb.sched_prev = me;
        ready.heads[prio] = me;
    } else {
        object.tcb.sched_next = 0;
        object.tcb.sched_prev = ready.tails[prio];
        tcb_ref(ready.tails[prio]).tcb.sched_next = me;
        ready.tails[prio] = me;
    }
}

/// Takes `tcb` out of its ready queue or the release queue, if it is in one.
pub fn dequeue(tcb: *mut TcbObject) {
    let object = tcb_ref(tcb as u64);
    if object.tcb.in_ready_queue == IN_RELEASE_QUEUE {
        release_remove(tcb as u64);
        return;
    }
    let st = state();
    if st.woken == Woken::One(tcb) {
        st.woken = Woken::None;
    }
    let ready = &mut st.ready;
    if object.tcb.in_ready_queue == 0 {
        return;
    }
    let prio = (object.tcb.priority as usize).min(PRIORITIES - 1);
    let (prev, next) = (object.tcb.sched_prev, object.tcb.sched_next);
    if prev == 0 {
        ready.heads[prio] = next;
    } else {
        tcb_ref(prev).tcb.sched_next = next;
    }
    if next == 0 {
        ready.tails[prio] = prev;
    } else {
        tcb_ref(next).tcb.sched_prev = prev;
    }
    if ready.heads[prio] == 0 {
        ready.bitmap[prio / 64] &= !(1 << (prio % 64));
    }
    object.tcb.in_ready_queue = 0;
    object.tcb.sched_prev = 0;
    object.tcb.sched_next = 0;
}

/// The highest priority with a ready thread.
fn highest_ready() -> Option<usize> {
    let bitmap = &state().ready.bitmap;
    (0..bitmap.len()).rev().find(|&i| bitmap[i] != 0).map(|i| i * 64 + 63 - bitmap[i].leading_zeros() as usize)
}

/// Makes a thread that became runnable eligible to run: ready now, or when its scheduling
/// context's next refill is due.
pub fn make_ready(tcb: *mut TcbObject) {
    let object = tcb_ref(tcb as u64);
    if tcb == current() || !object.tcb.state.is_runnable() || object.tcb.sched_context == 0 {
        return;
    }
    let now = kernel_time();
    let sc = object.tcb.sched_context;
    // The context being charged has not been blocked: its refills stay as they are.
    if sc != state().current_sc {
        budget::unblock(sc, now);
    }
    if budget::ready(sc, now) {
        if object.tcb.in_ready_queue == 0 {
            let st = state();
            st.woken = if st.woken == Woken::None { Woken::One(tcb) } else { Woken::Several };
        }
        enqueue(tcb, false);
    } else {
        release_insert(tcb as u64);
    }
}

/// A thread's scheduling context was reconfigured: a thread waiting for a refill that no
/// longer exists is looked at again (ready now, or queued by its new refill time).
pub fn reconsider(tcb: *mut TcbObject) {
    if tcb_ref(tcb as u64).tcb.in_ready_queue == IN_RELEASE_QUEUE {
        release_remove(tcb as u64);
    }
    make_ready(tcb);
}

/// Puts a thread whose budget is exhausted in the release queue, by refill time.
fn release_insert(thread: u64) {
    if tcb_ref(thread).tcb.in_ready_queue != 0 {
        return;
    }
    let when = budget::next_refill(tcb_ref(thread).tcb.sched_context);
    let st = state();
    let mut prev = 0u64;
    let mut next = st.release_head;
    while next != 0 && budget::next_refill(tcb_ref(next).tcb.sched_context) <= when {
        prev = next;
        next = tcb_ref(next).tcb.sched_next;
    }
    let t = tcb_ref(thread);
    t.tcb.in_ready_queue = IN_RELEASE_QUEUE;
    t.tcb.sched_prev = prev;
    t.tcb.sched_next = next;
    if prev == 0 {
        st.release_head = thread;
    } else {
        tcb_ref(prev).tcb.sched_next = thread;
    }
    if next != 0 {
        tcb_ref(next).tcb.sched_prev = thread;
    }
}

fn release_remove(thread: u64) {
    let t = tcb_ref(thread);
    let (prev, next) = (t.tcb.sched_prev, t.tcb.sched_next);
    if prev == 0 {
        state().release_head = next;
    } else {
        tcb_ref(prev).tcb.sched_next = next;
    }
    if next != 0 {
        tcb_ref(next).tcb.sched_prev = prev;
    }
    let t = tcb_ref(thread);
    t.tcb.in_ready_queue = 0;
    t.tcb.sched_prev = 0;
    t.tcb.sched_next = 0;
}

/// Moves every thread whose refill is due from the release queue to the ready queues.
fn release_due(now: u64) {
    loop {
        let head = state().release_head;
        if head == 0 || budget::next_refill(tcb_ref(head).tcb.sched_context) > now {
            return;
        }
        release_remove(head);
        make_ready(head as *mut TcbObject);
    }
}

/// Charges the running thread for the time since the previous kernel entry, the kernel's time
/// then included (called on every entry to the kernel from user mode). Threads whose refill
/// came due are released only on the way out ([`next_to_run`], as seL4's `awaken` in
/// `schedule`), after what the thread entered for. While its head refill covers what it
/// consumed, nothing else happens. When it does not, the budget is charged; a thread left without budget leaves the
/// CPU until its next refill, and one with a timeout handler gets a timeout fault. Returns
/// whether the thread may go on; if not, what it entered the kernel for must not happen now
/// (a system call is restarted when the thread next runs).
pub fn account() -> bool {
    let used = take_entry_timestamp();
    let st = state();
    let now = st.kernel_time;
    let (cur, sc) = (st.current, st.current_sc);
    let mut may_go_on = true;
    if !cur.is_null() && sc != 0 {
        budget::count_usage(sc, used);
        st.consumed = st.consumed.saturating_add(used);
        if !budget::sufficient(sc, st.consumed) {
            let consumed = core::mem::take(&mut st.consumed);
            let object = tcb_ref(cur as u64);
            let charge = budget::exhaust(sc, consumed, now);
            if object.tcb.state.is_runnable() && object.tcb.sched_context == sc {
                // On a sporadic context every charge is a timeout fault for a thread with a
                // handler, even when a later refill is due already (seL4 `endTimeslice`);
                // otherwise the thread waits for its refill, or goes behind its equals when it
                // has one (a round-robin context has already sent it there).
                let sporadic = budget::is_sporadic(sc);
                if sporadic && crate::ipc::has_timeout_handler(cur as u64) {
                    may_go_on = false;
                    crate::ipc::raise_timeout(cur as u64, budget::badge(sc));
                } else if charge == budget::Charge::Exhausted {
                    may_go_on = false;
                    release_insert(cur as u64);
                } else if sporadic {
                    rotate_current();
                }
            }
        }
    }
    may_go_on
}

/// Scheduling context `sc` is reconfigured (its refills start afresh) or, with `deleted`,
/// finalised: what it consumed and was not committed is dropped, and a deleted context is no
/// longer the one being charged.
pub fn forget_consumed(sc: u64, deleted: bool) {
    let st = state();
    if st.current_sc == sc {
        st.consumed = 0;
        if deleted {
            st.current_sc = 0;
        }
    }
}

/// Puts a ready thread at the head of its priority's queue (SchedContext YieldTo).
pub fn move_to_head(tcb: *mut TcbObject) {
    if tcb_ref(tcb as u64).tcb.in_ready_queue == IN_READY_QUEUE {
        dequeue(tcb);
        enqueue(tcb, true);
    }
}

/// Changes a thread's priority, moving it between ready queues. A thread waiting in the
/// release queue stays there (that queue is ordered by refill time, not priority); one waiting
/// in an endpoint or notification queue moves to its new place there.
pub fn set_priority(tcb: *mut TcbObject, priority: u64) {
    let ready = tcb_ref(tcb as u64).tcb.in_ready_queue == IN_READY_QUEUE;
    if ready {
        dequeue(tcb);
    }
    tcb_ref(tcb as u64).tcb.priority = priority;
    if ready {
        enqueue(tcb, false);
    }
    crate::ipc::reorder(tcb as u64);
}

/// The current thread gives up the rest of its time slice.
pub fn rotate_current() {
    state().rotate = true;
}

/// Yield (seL4 MCS `handleYield`): the running thread gives up the rest of its head refill. On
/// a round-robin context that starts a fresh slice behind its equals; a sporadic context is
/// charged the whole refill and its thread waits for the next one unless it is due already.
/// No timeout fault comes of it.
pub fn yield_current() {
    let st = state();
    let (current, sc) = (st.current, st.current_sc);
    if current.is_null() || !budget::is_sporadic(sc) {
        rotate_current();
        return;
    }
    let consumed = core::mem::take(&mut st.consumed);
    let object = tcb_ref(current as u64);
    if budget::exhaust(sc, consumed, st.kernel_time) == budget::Charge::Exhausted
        && object.tcb.state.is_runnable()
        && object.tcb.sched_context == sc
    {
        release_insert(current as u64);
    } else {
        rotate_current();
    }
}

/// Makes `tcb` the running thread and switches to its address space. Used for the first
/// thread; later switches go through [`leave_kernel`].
pub fn start(tcb: *mut TcbObject) {
    take_entry_timestamp();
    switch_to(tcb);
}

/// Keeps the running thread's TPIDR_EL0, which EL0 may write, in its TCB (its TLS base).
pub fn save_user_tls() {
    let current = state().current;
    if !current.is_null() {
        let t = tcb_ref(current as u64);
        t.tcb.tls_base = TPIDR_EL0.get();
        // A PC written while it was blocked has been returned to: its next block is its own.
        t.tcb.pc_written = 0;
    }
}

fn switch_to(tcb: *mut TcbObject) {
    let st = state();
    let previous = st.current;
    st.current = tcb;
    let object = tcb_ref(tcb as u64);
    // A thread runs in its VSpace only while the VSpace's ASID still names it (its pool may have
    // been deleted and the ASID given to another VSpace); otherwise in an empty address space,
    // where every access faults, so no stale ASID can ever reach another space's mappings.
    match object.slots[tcb::slot::VSPACE_ROOT].cap() {
        Cap::VSpace { ptr, asid: Some(asid) } if vspace_root(asid) == Some(mmu::virt_to_phys(ptr)) => {
            mmu::switch_user_vspace(mmu::virt_to_phys(ptr), u64::from(asid))
        }
        _ => mmu::switch_to_empty_user_vspace(),
    }
    TPIDR_EL0.set(object.tcb.tls_base);
    if previous != tcb {
        // Lazy FP: only the thread whose registers are in the FP unit may use it untrapped.
        fp::set_user_access(st.fp_owner == tcb);
    }
}

/// The running thread used FP/SIMD while another thread's registers were in the FP unit (the
/// access trapped): move them to their owner's TCB, load the running thread's, and let it run
/// the instruction again.
pub fn take_fp_unit() {
    let st = state();
    let current = st.current;
    if !current.is_null() && tcb_ref(current as u64).tcb.flags & tcb::FLAG_FPU_DISABLED != 0 {
        // TCB SetFlags took the FP unit from this thread: its FP use is a user exception.
        let esr = aarch64_cpu::registers::ESR_EL1.get();
        crate::ipc::raise_fault(current as u64, [crate::ipc::fault::USER_EXCEPTION, esr, 0, 0]);
        return;
    }
    if current.is_null() || st.fp_owner == current {
        fp::set_user_access(true);
        return;
    }
    if !st.fp_owner.is_null() {
        fp::save(&mut tcb_ref(st.fp_owner as u64).tcb.fp);
    }
    fp::restore(&tcb_ref(current as u64).tcb.fp);
    st.fp_owner = current;
    fp::set_user_access(true);
}

/// A TCB is being destroyed: if it is the running thread, no thread is running now (the
/// scheduler must never look at its memory again, which may soon be anything).
pub fn forget_destroyed(tcb: *mut TcbObject) {
    forget(tcb);
    let st = state();
    if st.current == tcb {
        st.current = core::ptr::null_mut();
    }
}

/// Forgets `tcb` wherever the scheduler remembers it (it is being suspended or destroyed).
pub fn forget(tcb: *mut TcbObject) {
    dequeue(tcb);
    give_up_fp_unit(tcb);
}

/// If `tcb`'s registers are in the FP unit, they go back to its TCB (a resumed thread finds them
/// there), and a running `tcb`'s next FP use traps.
pub fn give_up_fp_unit(tcb: *mut TcbObject) {
    let st = state();
    if st.fp_owner == tcb {
        fp::save(&mut tcb_ref(tcb as u64).tcb.fp);
        st.fp_owner = core::ptr::null_mut();
        if st.current == tcb {
            fp::set_user_access(false);
        }
    }
}

/// Chooses the thread to run: the one thread this entry woke if it may go first (see
/// [`Woken`]); else the current one unless a higher-priority thread is ready or it gave up its
/// slice, in which case the highest-priority ready thread (FIFO within a priority).
fn choose() -> Option<*mut TcbObject> {
    let st = state();
    let current = st.current;
    let rotate = core::mem::take(&mut st.rotate);
    let woken = core::mem::replace(&mut st.woken, Woken::None);
    let current_ok = !current.is_null() && schedulable(tcb_ref(current as u64));
    let best = highest_ready();
    if let Woken::One(thread) = woken {
        let prio = tcb_ref(thread as u64).tcb.priority as usize;
        let outranks_current = !current_ok || prio > tcb_ref(current as u64).tcb.priority as usize;
        if best == Some(prio.min(PRIORITIES - 1)) && outranks_current {
            if current_ok {
                enqueue(current, false);
            }
            dequeue(thread);
            return Some(thread);
        }
    }
    if current_ok {
        let prio = tcb_ref(current as u64).tcb.priority as usize;
        match best {
            Some(b) if b > prio || (b == prio && rotate) => enqueue(current, false),
            _ => return Some(current),
        }
    }
    let best = highest_ready()?;
    let next = state().ready.heads[best] as *mut TcbObject;
    dequeue(next);
    Some(next)
}

/// The register area of the thread to run next, switching to it; `None` when nothing can run.
/// The timer is set for the next event: the end of the thread's budget or the next refill due.
/// All of it happens at the entry's time: the chosen thread is charged from then (seL4
/// `schedule`, `switchSchedContext`, `setNextInterrupt`).
pub fn next_to_run() -> Option<*mut UserContext> {
    let now = kernel_time();
    release_due(now);
    let next = choose();
    let st = state();
    let next_sc = next.map_or(0, |thread| tcb_ref(thread as u64).tcb.sched_context);
    if next_sc != st.current_sc {
        // The CPU passes to another scheduling context: the old one's use is committed, and a
        // sporadic new one's refills due by now start now (seL4 `switchSchedContext`).
        budget::commit(st.current_sc, core::mem::take(&mut st.consumed));
        if next_sc != 0 {
            budget::unblock(next_sc, now);
        }
        st.current_sc = next_sc;
    }
    let budget_end = if next.is_some() { budget::deadline(next_sc, now, st.consumed) } else { u64::MAX };
    let release = state().release_head;
    let next_release = if release != 0 { budget::next_refill(tcb_ref(release).tcb.sched_context) } else { u64::MAX };
    let st = state();
    (st.budget_end, st.next_release) = (budget_end, next_release);
    timer::set_deadline(budget_end.min(next_release));
    let next = next?;
    switch_to(next);
    Some(&mut tcb_ref(next as u64).tcb.context as *mut UserContext)
}

/// Time since `since` is nobody's: the time the dispatched thread is charged from and the end
/// of its budget move on by it. Test kernels' invariant checker uses this, so that checking
/// costs no thread any budget and every thread gets its whole slice.
#[cfg(feature = "invariants")]
pub fn discount_since(since: u64) {
    let st = state();
    let lost = timer::now().saturating_sub(since);
    st.kernel_time = st.kernel_time.saturating_add(lost);
    // Only the dispatched thread's budget end moves: refill times are absolute.
    st.budget_end = st.budget_end.saturating_add(lost);
    timer::set_deadline(st.budget_end.min(st.next_release));
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

/// Saving and loading user FP/SIMD registers, and trapping EL0's use of them. The kernel is
/// built without FP, so only this assembly touches them. They are switched lazily: a thread
/// that is not the FP unit's owner traps on its first FP instruction ([`super::take_fp_unit`]).
mod fp {
    use aarch64_cpu::asm::barrier;
    use aarch64_cpu::registers::{CPACR_EL1, ReadWriteable};
    use hmk_kernel::object::tcb::FpState;

    /// Lets EL0 use FP/SIMD (`true`) or makes its use trap to the kernel (EL1 is never trapped:
    /// only the save and restore below run FP instructions there).
    pub fn set_user_access(allowed: bool) {
        if allowed {
            CPACR_EL1.modify(CPACR_EL1::FPEN::TrapNothing);
        } else {
            CPACR_EL1.modify(CPACR_EL1::FPEN::TrapEl0);
        }
        barrier::isb(barrier::SY);
    }

    core::arch::global_asm!(
        ".section .text.fp, \"ax\"",
        ".arch_extension fp",
        ".arch_extension simd",
        ".global hmk_fp_save",
        "hmk_fp_save:",
        "    stp q0, q1, [x0, #0]",
        "    stp q2, q3, [x0, #32]",
        "    stp q4, q5, [x0, #64]",
        "    stp q6, q7, [x0, #96]",
        "    stp q8, q9, [x0, #128]",
        "    stp q10, q11, [x0, #160]",
        "    stp q12, q13, [x0, #192]",
        "    stp q14, q15, [x0, #224]",
        "    stp q16, q17, [x0, #256]",
        "    stp q18, q19, [x0, #288]",
        "    stp q20, q21, [x0, #320]",
        "    stp q22, q23, [x0, #352]",
        "    stp q24, q25, [x0, #384]",
        "    stp q26, q27, [x0, #416]",
        "    stp q28, q29, [x0, #448]",
        "    stp q30, q31, [x0, #480]",
        "    mrs x1, fpsr",
        "    mrs x2, fpcr",
        "    add x0, x0, #512",
        "    stp x1, x2, [x0]",
        "    ret",
        ".global hmk_fp_restore",
        "hmk_fp_restore:",
        "    ldp q0, q1, [x0, #0]",
        "    ldp q2, q3, [x0, #32]",
        "    ldp q4, q5, [x0, #64]",
        "    ldp q6, q7, [x0, #96]",
        "    ldp q8, q9, [x0, #128]",
        "    ldp q10, q11, [x0, #160]",
        "    ldp q12, q13, [x0, #192]",
        "    ldp q14, q15, [x0, #224]",
        "    ldp q16, q17, [x0, #256]",
        "    ldp q18, q19, [x0, #288]",
        "    ldp q20, q21, [x0, #320]",
        "    ldp q22, q23, [x0, #352]",
        "    ldp q24, q25, [x0, #384]",
        "    ldp q26, q27, [x0, #416]",
        "    ldp q28, q29, [x0, #448]",
        "    ldp q30, q31, [x0, #480]",
        "    add x0, x0, #512",
        "    ldp x1, x2, [x0]",
        "    msr fpsr, x1",
        "    msr fpcr, x2",
        "    ret",
    );

    unsafe extern "C" {
        fn hmk_fp_save(state: *mut FpState);
        fn hmk_fp_restore(state: *const FpState);
    }

    const _: () = assert!(core::mem::size_of::<FpState>() == 528);

    pub fn save(state: &mut FpState) {
        // SAFETY: the assembly writes exactly the 528 bytes of `state`, and touches only FP
        // registers and x1, x2 (caller-saved).
        unsafe { hmk_fp_save(state) }
    }

    pub fn restore(state: &FpState) {
        // SAFETY: the assembly reads exactly the 528 bytes of `state`.
        unsafe { hmk_fp_restore(state) }
    }
}

/// The VSpace root (physical) registered for `asid`.
pub fn vspace_root(asid: u16) -> Option<u64> {
    let pool = state().asid_pools[usize::from(asid >> 9) % ASID_POOL_COUNT];
    if pool == 0 {
        return None;
    }
    // SAFETY: a registered pool is a live 512-entry ASID pool object.
    let vspace = unsafe { *(pool as *const u64).add(usize::from(asid & 511)) };
    (vspace != 0).then(|| mmu::virt_to_phys(vspace))
}

/// Forgets the VSpace registered for `asid`.
pub fn clear_asid(asid: u16) {
    let pool = state().asid_pools[usize::from(asid >> 9) % ASID_POOL_COUNT];
    if pool != 0 {
        // SAFETY: a registered pool is a live 512-entry ASID pool object.
        unsafe { (pool as *mut u64).add(usize::from(asid & 511)).write(0) };
    }
}
