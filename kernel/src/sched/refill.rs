//! Sporadic-server budget replenishment ("refills") for MCS scheduling contexts.
//!
//! A scheduling context with budget B and period P owns a small circular queue of refills
//! `(time, amount)`: `amount` ticks of execution become usable at `time`. The amounts always sum
//! to B and the times never decrease along the queue. Running consumes the head refill; what
//! was used comes back one period after the head's time, so in any window of length P the
//! context never runs for more than B (the sporadic-server property). The operations follow
//! seL4's MCS kernel: `new`, `update` (reconfigure), `budget_check` (head exhausted, maybe
//! overrun), `split_check` (part of the head used), `unblock_check` (thread wakes: move the head
//! to now and merge what is already due).
//!
//! Time is in counter ticks. `min_budget` (seL4's `MIN_BUDGET`) is the smallest refill worth
//! scheduling; smaller remnants are merged.

/// One replenishment: `amount` ticks usable from `time`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Refill {
    pub time: u64,
    pub amount: u64,
}

/// A refill queue over the refill array of a scheduling context, with its bookkeeping.
#[derive(Debug)]
pub struct RefillQueue<'a> {
    slots: &'a mut [Refill],
    /// Index of the head refill.
    pub head: usize,
    /// Number of refills in the queue (at least 1 once initialised).
    pub count: usize,
    /// Queue capacity in use (`<= slots.len()`).
    pub max: usize,
    pub period: u64,
    pub min_budget: u64,
}

impl<'a> RefillQueue<'a> {
    /// A queue over `slots`, holding one refill of the whole `budget` usable at `now`.
    /// `max_refills` is clamped to `1..=slots.len()`.
    pub fn new(
        slots: &'a mut [Refill],
        max_refills: usize,
        budget: u64,
        period: u64,
        now: u64,
        min_budget: u64,
    ) -> Self {
        let max = max_refills.clamp(1, slots.len().max(1));
        let queue = RefillQueue { slots, head: 0, count: 1, max, period, min_budget };
        queue.slots[0] = Refill { time: now, amount: budget };
        queue
    }

    /// Reattaches a queue to its stored bookkeeping.
    pub fn attach(
        slots: &'a mut [Refill],
        head: usize,
        count: usize,
        max: usize,
        period: u64,
        min_budget: u64,
    ) -> Self {
        RefillQueue { slots, head, count, max, period, min_budget }
    }

    fn next(&self, index: usize) -> usize {
        if index + 1 == self.max { 0 } else { index + 1 }
    }

    fn tail_index(&self) -> usize {
        (self.head + self.count - 1) % self.max
    }

    pub fn head(&self) -> Refill {
        self.slots[self.head]
    }

    fn head_mut(&mut self) -> &mut Refill {
        &mut self.slots[self.head]
    }

    fn is_single(&self) -> bool {
        self.count == 1
    }

    fn pop_head(&mut self) -> Refill {
        debug_assert!(!self.is_single());
        let refill = self.slots[self.head];
        self.head = self.next(self.head);
        self.count -= 1;
        refill
    }

    fn push_tail(&mut self, refill: Refill) {
        debug_assert!(self.count < self.max);
        self.count += 1;
        let tail = self.tail_index();
        self.slots[tail] = refill;
    }

    /// The refills from head to tail.
    pub fn iter(&self) -> impl Iterator<Item = Refill> + '_ {
        (0..self.count).map(move |i| self.slots[(self.head + i) % self.max])
    }

    /// Sum of all amounts: the budget.
    pub fn total(&self) -> u64 {
        self.iter().map(|r| r.amount).sum()
    }

    /// Whether the head refill is usable at `now`.
    pub fn ready(&self, now: u64) -> bool {
        self.head().time <= now
    }

    /// What is left of the head refill after `usage`.
    pub fn capacity(&self, usage: u64) -> u64 {
        self.head().amount.saturating_sub(usage)
    }

    /// Whether the head refill covers `usage` with at least `min_budget` to spare.
    pub fn sufficient(&self, usage: u64) -> bool {
        self.capacity(usage) >= self.min_budget
    }

    /// The head is exhausted by `usage` (`usage >= head amount`): schedule the used refills one
    /// period later; delay the head by any overrun. Returns the usage not accounted for.
    pub fn budget_check(&mut self, mut usage: u64) -> u64 {
        // An empty refill can only come from a degenerate reconfiguration; never loop on it.
        if self.head().amount == 0 {
            let period = self.period.max(1);
            self.head_mut().time += period;
            return usage;
        }
        while self.head().amount <= usage {
            usage -= self.head().amount;
            if self.is_single() {
                let period = self.period;
                self.head_mut().time += period;
            } else {
                let mut used = self.pop_head();
                used.time += self.period;
                self.schedule_used(used);
            }
        }
        if usage > 0 && self.period > 0 {
            self.head_mut().time += usage;
            if !self.is_single() {
                let second = self.slots[self.next(self.head)];
                if self.head().time + self.head().amount >= second.time {
                    let first = self.pop_head();
                    let head = self.head_mut();
                    head.amount += first.amount;
                    head.time = first.time;
                }
            }
        }
        usage
    }

    /// Part of the head (`0 < usage <= head amount`) was used: the used part returns one
    /// period after the head's time. The rest stays at the head while it is worth running on;
    /// a smaller rest joins the next refill, which moves that much earlier (so it ends where it
    /// did: nothing runs sooner than the sporadic rule allows, and nothing is lost).
    pub fn split_check(&mut self, usage: u64) {
        let head = self.head();
        let usage = usage.min(head.amount);
        let mut used = Refill { time: head.time + self.period, amount: usage };
        let remnant = head.amount - usage;
        if remnant >= self.min_budget {
            let new_head = self.head_mut();
            new_head.amount = remnant;
            new_head.time += usage;
        } else if self.is_single() {
            used.amount += remnant;
            self.count = 0;
        } else {
            self.pop_head();
            let next = self.head_mut();
            next.time = next.time.saturating_sub(remnant).max(head.time + usage);
            next.amount += remnant;
        }
        self.schedule_used(used);
    }

    /// Queues a used refill at the tail. When the queue is full, or the tail's run would reach
    /// into it, the two merge into one refill that ends where the used one would have.
    fn schedule_used(&mut self, used: Refill) {
        if self.count == 0 {
            self.count = 1;
            self.slots[self.head] = used;
            return;
        }
        let tail_index = self.tail_index();
        let tail = self.slots[tail_index];
        if self.count == self.max || tail.time + tail.amount >= used.time {
            self.slots[tail_index] = Refill {
                time: tail.time.max(used.time.saturating_sub(tail.amount)),
                amount: tail.amount + used.amount,
            };
        } else {
            self.push_tail(used);
        }
    }

    /// A thread wakes at `now`: if its head is due, move it to `now` and merge every refill that
    /// is due before the head would run out; a head below `min_budget` merges with the next.
    pub fn unblock_check(&mut self, now: u64) {
        if !self.ready(now) {
            return;
        }
        self.head_mut().time = now;
        while !self.is_single() {
            let amount = self.head().amount;
            if self.slots[self.next(self.head)].time <= now + amount {
                self.pop_head();
                let head = self.head_mut();
                head.amount += amount;
                head.time = now;
            } else {
                break;
            }
        }
        if !self.sufficient(0) && !self.is_single() {
            let small = self.pop_head();
            self.head_mut().amount += small.amount;
        }
    }

    /// A round-robin context (budget = period) stops running after `used` ticks of its slice:
    /// seL4 does not throttle these, the head is simply what is left of the slice. The queue
    /// is kept to a single refill.
    pub fn round_robin_consume(&mut self, used: u64) {
        self.count = 1;
        let head = self.head_mut();
        head.amount = head.amount.saturating_sub(used);
    }

    /// A round-robin context used up its slice: a fresh one of `budget` starts at `now`.
    pub fn round_robin_refresh(&mut self, now: u64, budget: u64) {
        self.count = 1;
        *self.head_mut() = Refill { time: now, amount: budget };
    }

    /// Reconfigures to a new budget, period and refill count, keeping the used/unused history.
    pub fn update(&mut self, new_period: u64, new_budget: u64, new_max: usize, now: u64) {
        let new_max = new_max.clamp(1, self.slots.len().max(1));
        // Merge from the head until the refills fit the new maximum.
        while self.count > new_max {
            let first = self.pop_head();
            self.head_mut().amount += first.amount;
        }
        // Rotate the ring so the queue starts at index 0; then any capacity >= count holds it.
        self.slots[..self.max].rotate_left(self.head);
        self.head = 0;
        self.max = new_max;
        // Shift every refill but the head by the change of period.
        for i in 1..self.count {
            self.slots[i].time = self.slots[i].time.wrapping_add(new_period.wrapping_sub(self.period));
        }
        self.period = new_period;
        let total = self.total();
        if new_budget > total {
            let tail = self.tail_index();
            self.slots[tail].amount += new_budget - total;
        } else {
            let mut remove = total - new_budget;
            while remove >= self.head().amount && !self.is_single() {
                remove -= self.pop_head().amount;
            }
            self.head_mut().amount -= remove.min(self.head().amount);
            if self.head().amount < self.min_budget && !self.is_single() {
                let small = self.pop_head();
                self.head_mut().amount += small.amount;
            }
        }
        self.unblock_check(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 10;

    fn ordered(q: &RefillQueue) -> bool {
        let times: Vec<u64> = q.iter().map(|r| r.time).collect();
        times.windows(2).all(|w| w[0] <= w[1])
    }

    #[test]
    fn new_queue_holds_the_whole_budget_now() {
        let mut slots = [Refill::default(); 4];
        let q = RefillQueue::new(&mut slots, 4, 300, 1000, 50, MIN);
        assert_eq!(q.iter().collect::<Vec<_>>(), vec![Refill { time: 50, amount: 300 }]);
        assert!(q.ready(50));
        assert!(!q.ready(49));
    }

    #[test]
    fn split_moves_used_time_one_period_later() {
        let mut slots = [Refill::default(); 4];
        let mut q = RefillQueue::new(&mut slots, 4, 300, 1000, 0, MIN);
        q.split_check(100);
        assert_eq!(
            q.iter().collect::<Vec<_>>(),
            vec![Refill { time: 100, amount: 200 }, Refill { time: 1000, amount: 100 }]
        );
        assert_eq!(q.total(), 300);
    }

    #[test]
    fn split_merges_small_remnants_and_full_queues() {
        let mut slots = [Refill::default(); 2];
        let mut q = RefillQueue::new(&mut slots, 2, 300, 1000, 0, MIN);
        q.split_check(295); // remnant 5 < MIN: merged into the scheduled refill
        assert_eq!(q.iter().collect::<Vec<_>>(), vec![Refill { time: 1000, amount: 300 }]);
        let mut slots = [Refill::default(); 2];
        let mut q = RefillQueue::new(&mut slots, 2, 300, 1000, 0, MIN);
        q.split_check(100);
        q.split_check(100); // queue full: the used part merges into the tail
        assert_eq!(q.count, 2);
        assert_eq!(q.total(), 300);
        assert!(ordered(&q));
        // The rest of the head stays usable now: a thread that is switched away from often
        // loses no budget to it.
        assert_eq!(q.head(), Refill { time: 200, amount: 100 });
        assert_eq!(q.iter().nth(1), Some(Refill { time: 1000, amount: 200 }));
    }

    #[test]
    fn budget_check_handles_overrun() {
        let mut slots = [Refill::default(); 4];
        let mut q = RefillQueue::new(&mut slots, 4, 300, 1000, 0, MIN);
        let left = q.budget_check(350);
        assert_eq!(left, 50);
        assert_eq!(q.iter().collect::<Vec<_>>(), vec![Refill { time: 1050, amount: 300 }]);
    }

    #[test]
    fn unblock_merges_due_refills() {
        let mut slots = [Refill::default(); 4];
        let mut q = RefillQueue::new(&mut slots, 4, 300, 1000, 0, MIN);
        q.split_check(100);
        q.split_check(100);
        // Refills: (200,100) (1000,100) (1100,100)... wake late at 5000: all due, one refill.
        q.unblock_check(5000);
        assert_eq!(q.iter().collect::<Vec<_>>(), vec![Refill { time: 5000, amount: 300 }]);
    }

    #[test]
    fn update_changes_budget_period_and_count() {
        let mut slots = [Refill::default(); 8];
        let mut q = RefillQueue::new(&mut slots, 8, 300, 1000, 0, MIN);
        q.split_check(100);
        q.split_check(50);
        q.update(2000, 500, 2, 100);
        assert_eq!(q.total(), 500);
        assert!(q.count <= 2);
        assert!(ordered(&q));
        q.update(2000, 120, 2, 100);
        assert_eq!(q.total(), 120);
        assert!(ordered(&q));
    }

    #[test]
    fn an_empty_refill_does_not_hang_the_budget_check() {
        let mut slots = [Refill::default(); 2];
        let mut q = RefillQueue::new(&mut slots, 1, 0, 100, 0, MIN);
        assert_eq!(q.budget_check(0), 0);
        assert_eq!(q.head().time, 100);
    }

    #[test]
    fn round_robin_slices_restart_when_used_up() {
        let mut slots = [Refill::default(); 2];
        let mut q = RefillQueue::new(&mut slots, 2, 500, 500, 0, MIN);
        q.round_robin_consume(200);
        assert_eq!(q.head(), Refill { time: 0, amount: 300 });
        assert!(q.sufficient(250) && !q.sufficient(295));
        q.round_robin_consume(400);
        assert_eq!(q.head(), Refill { time: 0, amount: 0 }, "an overrun leaves nothing, never wraps");
        q.round_robin_refresh(500, 500);
        assert_eq!(q.head(), Refill { time: 500, amount: 500 });
        assert_eq!(q.count, 1);
        assert!(q.ready(500));
    }

    /// A small deterministic generator for the model test.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % bound
        }
    }

    /// Simulates a thread that runs whenever its head refill is ready, for random stretches,
    /// and checks seL4's invariants plus the sporadic-server bound against a model: in every
    /// window of one period the thread runs at most its budget.
    #[test]
    fn random_runs_keep_invariants_and_respect_the_budget_bound() {
        for seed in 1..200u64 {
            let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let budget = 50 + rng.next(500);
            let period = budget + rng.next(2000);
            let max = 1 + rng.next(6) as usize;
            let mut slots = [Refill::default(); 8];
            let mut q = RefillQueue::new(&mut slots, max, budget, period, 0, MIN);
            let mut now = 0u64;
            let mut runs: Vec<(u64, u64)> = Vec::new(); // model: (start, length) of each run
            for _ in 0..300 {
                // The scheduler runs the thread only once its (merged) head refill is due.
                loop {
                    now = now.max(q.head().time);
                    q.unblock_check(now);
                    if q.ready(now) {
                        break;
                    }
                }
                let want = 1 + rng.next(2 * budget);
                let available = q.head().amount;
                let used = want.min(available);
                runs.push((now, used));
                now += used;
                if used >= available {
                    q.budget_check(used);
                } else {
                    q.split_check(used);
                }
                assert_eq!(q.total(), budget, "seed {seed}: refills must sum to the budget");
                assert!(ordered(&q), "seed {seed}: refill times must not decrease");
                assert!(q.count >= 1 && q.count <= max);
                now += rng.next(period / 2);
            }
            // Model check: execution in any window [t, t + period) is at most the budget.
            for &(start, _) in &runs {
                let window_end = start + period;
                let ran: u64 = runs
                    .iter()
                    .map(|&(s, len)| {
                        let end = s + len;
                        end.min(window_end).saturating_sub(s.max(start))
                    })
                    .sum();
                assert!(ran <= budget, "seed {seed}: ran {ran} > budget {budget} in a window from {start}");
            }
        }
    }
}
