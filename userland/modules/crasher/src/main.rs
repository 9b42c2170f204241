//! The `crasher` module: the restart demonstration. Its first run arms the EL1 virtual timer
//! (its one interrupt, PPI 27), takes the interrupt, and fails (it reads address 0) before
//! acknowledging it, spoiling its data on the way. Restarted, it checks that it starts from its
//! program's own data and bss again, arms the timer, and gets its interrupt again (so its parent
//! acknowledged the line it left masked); then it says so on its first bus (`crasher back after
//! <n> restart(s): fresh data, interrupt again`, class 17, scope global) and waits.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};
use hm_module::{Context, Module, Scope};

/// The class the demonstration programs talk on.
const STATUS: u8 = 17;

/// In .data: the image's value until a run changes it.
static MARK: AtomicU64 = AtomicU64::new(0x5eed);
/// In .bss: how many runs this copy of the data has seen.
static RUNS: AtomicU64 = AtomicU64::new(0);

/// Arms the virtual timer to fire in about a millisecond.
fn arm_timer() {
    // SAFETY: EL0 may read the counter and program the virtual timer (CNTKCTL_EL1.EL0VCTEN,
    // EL0VTEN); ENABLE=1, IMASK=0. Only this module uses the virtual timer.
    unsafe {
        core::arch::asm!(
            "mrs {f}, cntfrq_el0",
            "lsr {f}, {f}, #10",
            "isb",
            "mrs {t}, cntvct_el0",
            "add {t}, {t}, {f}",
            "msr cntv_cval_el0, {t}",
            "mov {t}, #1",
            "msr cntv_ctl_el0, {t}",
            "isb",
            f = out(reg) _,
            t = out(reg) _,
            options(nomem, nostack),
        );
    }
}

fn disarm_timer() {
    // SAFETY: as in arm_timer; ENABLE=0 drops the timer's interrupt line.
    unsafe { core::arch::asm!("msr cntv_ctl_el0, xzr", "isb", options(nomem, nostack)) };
}

struct Crasher {
    /// Whether this run started from the image's data and bss.
    fresh: bool,
}

impl Module for Crasher {
    fn init(&mut self, cx: &mut Context) {
        self.fresh = MARK.load(Ordering::Relaxed) == 0x5eed && RUNS.fetch_add(1, Ordering::Relaxed) == 0;
        MARK.store(0, Ordering::Relaxed);
        if cx.irqs().is_empty() {
            log::warn!("no interrupt given");
            return;
        }
        arm_timer();
    }

    fn interrupt(&mut self, cx: &mut Context, _irq: usize) {
        if cx.restarts() == 0 {
            // SAFETY: deliberately not safe: the first run fails here, between its interrupt
            // and the ack, so that its parent restarts it.
            unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
        }
        disarm_timer();
        let _ = cx.ack(0);
        let restarts = cx.restarts();
        let plural = if restarts == 1 { "" } else { "s" };
        let data = if self.fresh { "fresh data" } else { "stale data" };
        let line = alloc::format!("crasher back after {restarts} restart{plural}: {data}, interrupt again");
        let _ = cx.publish(STATUS, Scope::Global, line.as_bytes());
    }
}

hm_module::module!(Crasher { fresh: false });
