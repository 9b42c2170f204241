//! Scheduling contexts: the layout of the object (an 80-byte core, then 16-byte refills).

use crate::sched::refill::Refill;

/// The fixed part of a scheduling context object.
#[repr(C)]
#[derive(Debug)]
pub struct SchedContext {
    /// Budget and period in counter ticks (0 until configured).
    pub budget: u64,
    pub period: u64,
    /// Time consumed since last reported by SchedContext Consumed, YieldTo or a timeout fault
    /// (ticks).
    pub consumed: u64,
    /// The bound TCB (kernel address, 0 for none).
    pub tcb: u64,
    /// The bound notification, and the badge timeout faults carry.
    pub notification: u64,
    pub badge: u64,
    /// The reply object through which this context is lent to a passive server (MCS donation;
    /// 0 when it is not lent). The reply's `donated` names this context back.
    pub reply: u64,
    /// Refill queue bookkeeping (see `sched::refill`): head index in the low 32 bits, refill
    /// count in the high 32; then the queue's capacity in use.
    pub refill_head_and_count: u64,
    pub refill_max: u64,
    /// Flags given to ConfigureFlags (bit 0: sporadic).
    pub flags: u64,
}

/// seL4's core scheduling context is ten words; refills follow.
const _: () = assert!(core::mem::size_of::<SchedContext>() == 80);

/// The fewest refills a configured context has (seL4's `MIN_REFILLS`): the one being used and
/// the one that returns what was used.
pub const MIN_REFILLS: usize = 2;

impl SchedContext {
    /// Index of the head refill and the number of refills queued.
    pub fn refill_head_count(&self) -> (usize, usize) {
        ((self.refill_head_and_count & 0xffff_ffff) as usize, (self.refill_head_and_count >> 32) as usize)
    }

    pub fn set_refill_head_count(&mut self, head: usize, count: usize) {
        self.refill_head_and_count = (head as u64 & 0xffff_ffff) | ((count as u64) << 32);
    }
}

/// How many refills fit in a scheduling context of `size_bits`.
pub fn refill_capacity(size_bits: u32) -> usize {
    ((1usize << size_bits) - core::mem::size_of::<SchedContext>()) / core::mem::size_of::<Refill>()
}

#[cfg(test)]
mod tests {
    #[test]
    fn capacity_matches_sel4_sizing() {
        assert_eq!(super::refill_capacity(7), 3);
        assert_eq!(super::refill_capacity(8), 11);
        assert_eq!(super::refill_capacity(10), 59);
    }
}
