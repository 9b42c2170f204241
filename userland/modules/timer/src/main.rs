//! The `timer` module: the timer service (docs/bus-protocol.md, "The timer service"), one
//! driver of the EL1 virtual timer (its one interrupt, PPI 27, which EL0 may program) shared by
//! every client on the bus. Clients ask for one-shot and periodic timers by tag (class 27); the
//! driver keeps them in a [`Table`], programs the timer for the earliest deadline, and at each
//! interrupt publishes each due timer's expiry (class 28, scope global) for its client. At each
//! start it announces itself (class 29), and clients ask again for their timers.
//!
//! It is also the restart demonstration: asked to fail (the `FAIL` test hook), it faults at its
//! next interrupt, before acknowledging it, with its data spoiled. Restarted, it checks that it
//! starts from its program's own data and bss, and when its interrupt comes again (so its parent
//! acknowledged the line it left masked) it says so on its bus (`timer back after <n>
//! restart(s): fresh data, interrupt again`, class 17, scope global).
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};
use hm_module::services::classes;
use hm_module::services::timer::{FAIL, Fired, Ready, Request, Table, Timer};
use hm_module::{Context, Message, Module, Scope};

/// In .data: the image's value until a run changes it.
static MARK: AtomicU64 = AtomicU64::new(0x5eed);
/// In .bss: how many runs this copy of the data has seen.
static RUNS: AtomicU64 = AtomicU64::new(0);

/// The counter's value and ticks per microsecond.
fn counter() -> (u64, u64) {
    (hmk_rt::counter(), (hmk_rt::counter_frequency() / 1_000_000).max(1))
}

/// Programs the virtual timer to raise its interrupt at counter value `deadline`, or turns it
/// off (`None`), which drops its line.
fn program(deadline: Option<u64>) {
    match deadline {
        // SAFETY: EL0 may program the virtual timer (CNTKCTL_EL1.EL0VTEN); ENABLE=1, IMASK=0.
        // Only this module uses it.
        Some(at) => unsafe {
            core::arch::asm!("msr cntv_cval_el0, {}", "mov {t}, #1", "msr cntv_ctl_el0, {t}", "isb", in(reg) at,
                t = out(reg) _, options(nomem, nostack))
        },
        // SAFETY: as above; ENABLE=0.
        None => unsafe { core::arch::asm!("msr cntv_ctl_el0, xzr", "isb", options(nomem, nostack)) },
    }
}

struct TimerService {
    table: Table,
    /// Whether this run started from the image's data and bss.
    fresh: bool,
    /// Whether the next interrupt is to fail (the test hook).
    fail_next: bool,
    /// Whether this run has taken an interrupt yet.
    interrupted: bool,
}

impl TimerService {
    fn fire(cx: &Context, timer: &Timer) {
        let fired = Fired { tag: timer.tag, bus: timer.bus, member: timer.member, count: timer.count };
        let _ = cx.publish(classes::TIMER_FIRED, Scope::Global, &fired.to_bytes());
    }
}

impl Module for TimerService {
    fn init(&mut self, cx: &mut Context) {
        self.fresh = MARK.load(Ordering::Relaxed) == 0x5eed && RUNS.fetch_add(1, Ordering::Relaxed) == 0;
        if cx.irqs().is_empty() {
            log::warn!("no interrupt given");
            return;
        }
        program(None);
        let restarts = u32::try_from(cx.restarts()).unwrap_or(u32::MAX);
        let _ = cx.publish(classes::TIMER_READY, Scope::Global, &Ready { restarts }.to_bytes());
    }

    fn message(&mut self, cx: &mut Context, _seat: usize, message: &Message) {
        if message.header.class != classes::TIMER_REQUEST || cx.irqs().is_empty() {
            return;
        }
        let Some(request) = Request::from_bytes(message.bytes()) else { return };
        if request.op == FAIL {
            self.fail_next = true;
            return;
        }
        let (now, ticks_per_us) = counter();
        let origin = (message.header.origin_bus, message.header.origin_member);
        if let Err(why) = self.table.apply(origin, &request, now, ticks_per_us) {
            log::warn!("request {request:?} from bus {} member {} refused: {why:?}", origin.0, origin.1);
        }
        program(self.table.next_deadline());
    }

    fn interrupt(&mut self, cx: &mut Context, irq: usize) {
        if self.fail_next {
            MARK.store(0, Ordering::Relaxed);
            // SAFETY: deliberately not safe: the test hook fails here, between the interrupt
            // and its ack, so that the parent restarts the driver with the line masked.
            unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
        }
        let (now, _) = counter();
        self.table.expire(now, |timer| Self::fire(cx, timer));
        // The next deadline (or none) before the ack: the line drops once the timer's
        // condition no longer holds.
        program(self.table.next_deadline());
        let _ = cx.ack(irq);
        if !self.interrupted && cx.restarts() > 0 {
            let restarts = cx.restarts();
            let plural = if restarts == 1 { "" } else { "s" };
            let data = if self.fresh { "fresh data" } else { "stale data" };
            let line = alloc::format!("timer back after {restarts} restart{plural}: {data}, interrupt again");
            let _ = cx.publish(classes::STATUS, Scope::Global, line.as_bytes());
        }
        self.interrupted = true;
    }
}

hm_module::module!(TimerService { table: Table::new(), fresh: false, fail_next: false, interrupted: false });
