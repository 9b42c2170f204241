//! The EL1 physical generic timer (CNTP): one compare value, set to the next event.
//!
//! Events are the end of the running thread's budget, the next refill due in the release
//! queue (both from the scheduler, [`set_deadline`]), and a heartbeat every [`TICK_HZ`]th of a
//! second that is logged (the first five ticks, then one a minute). Time slices are budgets: a
//! round-robin scheduling context's budget is its slice.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTKCTL_EL1, CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTPCT_EL0, Readable, Writeable};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub const TICK_HZ: u64 = 100;

static INTID: AtomicU32 = AtomicU32::new(u32::MAX);
static PERIOD: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);
/// When the next heartbeat is due, and the scheduler's next deadline.
static NEXT_TICK: AtomicU64 = AtomicU64::new(u64::MAX);
static DEADLINE: AtomicU64 = AtomicU64::new(u64::MAX);

/// Interrupt ID of the timer (the non-secure physical timer PPI).
pub fn intid() -> u32 {
    INTID.load(Ordering::Relaxed)
}

/// The counter now.
pub fn now() -> u64 {
    CNTPCT_EL0.get()
}

/// Counter frequency in Hz.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// Starts the periodic tick on interrupt `intid`.
pub fn start(intid: u32) {
    let period = (frequency() / TICK_HZ).max(1);
    INTID.store(intid, Ordering::Relaxed);
    PERIOD.store(period, Ordering::Relaxed);
    // EL0 may read the virtual counter (CNTKCTL_EL1.EL0VCTEN), for user-level timekeeping,
    // and program the virtual timer (EL0VTEN, as seL4's exported virtual timer): the kernel
    // uses only the physical one, and the virtual timer's interrupt reaches a driver only
    // through an IRQHandler capability for its PPI.
    CNTKCTL_EL1.write(CNTKCTL_EL1::EL0VCTEN::SET + CNTKCTL_EL1::EL0VTEN::SET);
    NEXT_TICK.store(CNTPCT_EL0.get() + period, Ordering::Relaxed);
    program();
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
}

/// Sets the compare value to the earliest pending event.
fn program() {
    let next = NEXT_TICK.load(Ordering::Relaxed).min(DEADLINE.load(Ordering::Relaxed));
    CNTP_CVAL_EL0.set(next);
}

/// The scheduler's next event (budget end or refill), `u64::MAX` for none.
pub fn set_deadline(deadline: u64) {
    DEADLINE.store(deadline, Ordering::Relaxed);
    if PERIOD.load(Ordering::Relaxed) != 0 {
        program();
    }
}

/// Handles one timer interrupt: a heartbeat if one is due (the scheduler handles budgets and
/// refills on the way out of the kernel), then the next compare value.
pub fn tick() {
    let period = PERIOD.load(Ordering::Relaxed);
    let now = CNTPCT_EL0.get();
    let due = NEXT_TICK.load(Ordering::Relaxed);
    DEADLINE.store(u64::MAX, Ordering::Relaxed);
    if now < due {
        program();
        return;
    }
    // Ticks missed while the host stalled the guest are skipped rather than replayed.
    let next = if due + period <= now { now + period } else { due + period };
    NEXT_TICK.store(next, Ordering::Relaxed);
    program();
    let count = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
    // The first ticks show the timer works; after that one line a minute, so a console that
    // user-level drivers share stays readable.
    if count <= 5 || count.is_multiple_of(60 * TICK_HZ) {
        log::info!("timer: tick {count} (counter {now})");
    }
    #[cfg(feature = "boot-test")]
    if count == crate::boot::BOOT_TEST_TICKS {
        log::info!("hmk: boot test complete after {count} timer ticks, stopping");
        super::stop::stop(0);
    }
}
