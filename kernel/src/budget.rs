//! Budgets: the scheduler's view of a scheduling context's refills (the arithmetic is
//! `hmk_kernel::sched::refill`). A context with budget 0 has not been configured and is not
//! limited (the root task's, until user level configures it).

use hmk_kernel::object::sched_context::SchedContext;
use hmk_kernel::sched::refill::{Refill, RefillQueue};

/// Bytes of the scheduling context's fixed part; refills follow it.
const CORE_BYTES: u64 = 80;

fn core(sc: u64) -> &'static mut SchedContext {
    // SAFETY: callers pass bound scheduling contexts, which are live objects.
    unsafe { &mut *(sc as *mut SchedContext) }
}

/// Runs `f` on the refill queue of scheduling context `sc` and stores its bookkeeping back.
fn with_queue<R>(sc: u64, f: impl FnOnce(&mut RefillQueue) -> R) -> R {
    let c = core(sc);
    let max = c.refill_max.max(1) as usize;
    // SAFETY: `max` refills were fitted into the object when it was configured
    // (ConfigureFlags checks the object's size), right after the fixed part.
    let slots = unsafe { core::slice::from_raw_parts_mut((sc + CORE_BYTES) as *mut Refill, max) };
    let min_budget =
        crate::tcb_invoke::ticks_from_us(crate::tcb_invoke::MIN_BUDGET_US, crate::arch::aarch64::timer::frequency());
    let mut queue =
        RefillQueue::attach(slots, c.refill_head as usize, c.refill_count as usize, max, c.period, min_budget);
    let result = f(&mut queue);
    let (head, count) = (queue.head as u64, queue.count as u64);
    let c = core(sc);
    c.refill_head = head;
    c.refill_count = count;
    result
}

fn configured(sc: u64) -> bool {
    sc != 0 && core(sc).budget != 0 && core(sc).refill_count != 0
}

/// Whether the context has budget at `now`.
pub fn ready(sc: u64, now: u64) -> bool {
    !configured(sc) || with_queue(sc, |q| q.ready(now) && q.head().amount > 0)
}

/// A thread with this context woke at `now`: merge the refills already due (seL4
/// `refill_unblock_check`).
pub fn unblock(sc: u64, now: u64) {
    if configured(sc) {
        with_queue(sc, |q| q.unblock_check(now));
    }
}

/// When the context next has budget.
pub fn next_refill(sc: u64) -> u64 {
    if configured(sc) { with_queue(sc, |q| q.head().time) } else { 0 }
}

/// When the running thread's budget ends if it runs on from `now`.
pub fn deadline(sc: u64, now: u64) -> u64 {
    if configured(sc) { with_queue(sc, |q| now.saturating_add(q.head().amount)) } else { u64::MAX }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// Budget remains.
    Available,
    /// The budget is used up until the next refill.
    Exhausted,
}

/// Charges `used` ticks ending at `now`.
pub fn charge(sc: u64, used: u64, now: u64) -> Charge {
    core(sc).consumed += used;
    if !configured(sc) {
        return Charge::Available;
    }
    let round_robin = core(sc).budget >= core(sc).period;
    let budget = core(sc).budget;
    if round_robin {
        // seL4's round-robin contexts (budget = period) are never throttled: the budget is a
        // time slice; when it is used up the thread goes behind its equals with a fresh one.
        if with_queue(sc, |q| q.round_robin_charge(used, now, budget)) {
            crate::thread::rotate_current();
        }
        return Charge::Available;
    }
    with_queue(sc, |q| {
        if used >= q.head().amount {
            q.budget_check(used);
        } else {
            q.split_check(used);
        }
        if q.ready(now) && q.head().amount > 0 { Charge::Available } else { Charge::Exhausted }
    })
}

/// Whether running out of budget is a fault-worthy event (budget below the period).
pub fn is_sporadic_limited(sc: u64) -> bool {
    configured(sc) && core(sc).budget < core(sc).period
}

pub fn badge(sc: u64) -> u64 {
    core(sc).badge
}

pub fn consumed(sc: u64) -> u64 {
    core(sc).consumed
}
