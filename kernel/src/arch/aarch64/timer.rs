//! The EL1 physical generic timer (CNTP), the kernel's tick.
//!
//! For now the timer fires periodically every [`TICK_HZ`]th of a second, reloaded by compare
//! value so ticks do not drift. The first ticks and then one a second are logged.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTP_CTL_EL0, CNTP_CVAL_EL0, CNTPCT_EL0, Readable, Writeable};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub const TICK_HZ: u64 = 100;

static INTID: AtomicU32 = AtomicU32::new(u32::MAX);
static PERIOD: AtomicU64 = AtomicU64::new(0);
static TICKS: AtomicU64 = AtomicU64::new(0);

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
    CNTP_CVAL_EL0.set(CNTPCT_EL0.get() + period);
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::SET + CNTP_CTL_EL0::IMASK::CLEAR);
}

/// Handles one timer interrupt: sets the next compare value and counts the tick.
pub fn tick() {
    let period = PERIOD.load(Ordering::Relaxed);
    let mut next = CNTP_CVAL_EL0.get() + period;
    let now = CNTPCT_EL0.get();
    if next <= now {
        // Ticks were missed (the host stalled the guest): skip ahead rather than storm.
        next = now + period;
    }
    CNTP_CVAL_EL0.set(next);
    let count = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
    crate::thread::end_of_slice(period);
    if count <= 5 || count.is_multiple_of(TICK_HZ) {
        log::info!("timer: tick {count} (counter {now})");
    }
    #[cfg(feature = "boot-test")]
    if count == crate::boot::BOOT_TEST_TICKS {
        log::info!("hmk: boot test complete after {count} timer ticks, stopping");
        super::stop::stop(0);
    }
}
