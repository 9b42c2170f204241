//! Budgets: the scheduler's view of a scheduling context's refills (the arithmetic is
//! `hmk_kernel::sched::refill`). A context with budget 0 has not been configured and is not
//! limited (the root task's, until user level configures it).
//!
//! Time is charged the MCS way: while a context runs, the time it uses piles up in the
//! scheduler's `consumed` count and the refills are left alone. It is counted from kernel entry
//! to kernel entry, so a context is charged the kernel's time in the entry that dispatched it
//! (seL4 charges from `ksCurTime`). At each kernel entry the
//! scheduler asks whether the head refill still covers what was consumed with [`sufficient`];
//! only when it does not is the budget *exhausted* ([`exhaust`]: the used refills move one
//! period on). When the CPU passes to another context, what was consumed is *committed*
//! ([`commit`]: the used part of the head refill is scheduled one period after it). So a thread
//! that enters the kernel often loses nothing by it: each entry costs only a comparison.

use hmk_kernel::object::sched_context::SchedContext;
use hmk_kernel::sched::refill::{Refill, RefillQueue};

/// Bytes of the scheduling context's fixed part; refills follow it.
pub const CORE_BYTES: u64 = 80;

fn core(sc: u64) -> &'static mut SchedContext {
    // SAFETY: callers pass bound scheduling contexts, which are live objects (finalising a
    // context unbinds it from its thread, its reply and the scheduler first).
    unsafe { &mut *(sc as *mut SchedContext) }
}

/// The smallest refill worth running on (seL4's `MIN_BUDGET`), in counter ticks.
pub fn min_budget() -> u64 {
    crate::tcb_invoke::ticks_from_us(crate::tcb_invoke::MIN_BUDGET_US, crate::arch::aarch64::timer::frequency())
}

/// Runs `f` on the refill queue of scheduling context `sc` and stores its bookkeeping back.
fn with_queue<R>(sc: u64, f: impl FnOnce(&mut RefillQueue) -> R) -> R {
    let c = core(sc);
    let max = c.refill_max.max(1) as usize;
    let (head, count) = c.refill_head_count();
    // SAFETY: `max` refills were fitted into the object when it was configured
    // (ConfigureFlags checks the object's size), right after the fixed part.
    let slots = unsafe { core::slice::from_raw_parts_mut((sc + CORE_BYTES) as *mut Refill, max) };
    let mut queue = RefillQueue::attach(slots, head, count, max, c.period, min_budget());
    let result = f(&mut queue);
    let (head, count) = (queue.head, queue.count);
    core(sc).set_refill_head_count(head, count);
    result
}

fn configured(sc: u64) -> bool {
    sc != 0 && core(sc).budget != 0 && core(sc).refill_head_count().1 != 0
}

/// seL4's round-robin contexts (budget = period) are never throttled: the budget is a time
/// slice; when it is used up the thread goes behind its equals with a fresh one.
fn is_round_robin(sc: u64) -> bool {
    core(sc).budget >= core(sc).period
}

/// Whether the context has budget at `now`: its head refill is due and worth running on.
pub fn ready(sc: u64, now: u64) -> bool {
    !configured(sc) || with_queue(sc, |q| q.ready(now) && q.sufficient(0))
}

/// Whether the head refill covers `consumed` ticks with a minimum budget to spare (seL4
/// `refill_sufficient`).
pub fn sufficient(sc: u64, consumed: u64) -> bool {
    !configured(sc) || with_queue(sc, |q| q.sufficient(consumed))
}

/// A thread with this context woke at `now`: merge the refills already due (seL4
/// `refill_unblock_check`).
pub fn unblock(sc: u64, now: u64) {
    if configured(sc) && !is_round_robin(sc) {
        with_queue(sc, |q| q.unblock_check(now));
    }
}

/// When the context next has budget.
pub fn next_refill(sc: u64) -> u64 {
    if configured(sc) { with_queue(sc, |q| q.head().time) } else { 0 }
}

/// When the running context's budget ends if it runs on from `now`, having consumed
/// `consumed` ticks of its head refill already.
pub fn deadline(sc: u64, now: u64, consumed: u64) -> u64 {
    if configured(sc) { with_queue(sc, |q| now.saturating_add(q.capacity(consumed))) } else { u64::MAX }
}

/// The context stops running after consuming `consumed` ticks of its head refill, which
/// covered them (seL4 `commitTime`): the used part returns one period after the head's time.
pub fn commit(sc: u64, consumed: u64) {
    if !configured(sc) || consumed == 0 {
        return;
    }
    if is_round_robin(sc) {
        with_queue(sc, |q| q.round_robin_consume(consumed));
    } else {
        with_queue(sc, |q| {
            if consumed >= q.head().amount {
                q.budget_check(consumed);
            } else {
                q.split_check(consumed);
            }
        });
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// Budget remains: the thread may go on.
    Available,
    /// The budget is used up until the next refill.
    Exhausted,
}

/// The head refill no longer covers `consumed` (seL4 `chargeBudget`): charge it all. A
/// round-robin context starts a fresh slice and its thread goes behind its equals; a sporadic
/// one schedules the used refills a period on, and is exhausted unless a later refill is due
/// at `now` already.
pub fn exhaust(sc: u64, consumed: u64, now: u64) -> Charge {
    if !configured(sc) {
        return Charge::Available;
    }
    if is_round_robin(sc) {
        let budget = core(sc).budget;
        with_queue(sc, |q| q.round_robin_refresh(now, budget));
        crate::thread::rotate_current();
        return Charge::Available;
    }
    with_queue(sc, |q| {
        // What is left of the head is too little to run on: it is charged as used too.
        let usage = consumed.max(q.head().amount);
        q.budget_check(usage);
        if q.ready(now) && q.sufficient(0) { Charge::Available } else { Charge::Exhausted }
    })
}

/// Whether `sc` is a configured sporadic context (budget below its period): one whose Yield
/// gives up the rest of its refill.
pub fn is_sporadic(sc: u64) -> bool {
    configured(sc) && !is_round_robin(sc)
}

/// Counts `used` ticks in the context's statistics (what SchedContext Consumed reports).
pub fn count_usage(sc: u64, used: u64) {
    if sc != 0 {
        let c = core(sc);
        c.consumed = c.consumed.saturating_add(used);
    }
}

pub fn badge(sc: u64) -> u64 {
    core(sc).badge
}

/// What the context has consumed since it was last asked, in microseconds at `frequency` Hz;
/// the count starts again (seL4 `schedContext_updateConsumed`, for SchedContext Consumed,
/// YieldTo and a timeout fault's delivery).
pub fn take_consumed_us(sc: u64, frequency: u64) -> u64 {
    let ticks = core::mem::take(&mut core(sc).consumed);
    ((u128::from(ticks) * 1_000_000) / u128::from(frequency.max(1))) as u64
}
