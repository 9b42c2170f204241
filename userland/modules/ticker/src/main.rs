//! The `ticker` module: a client of the timer service (docs/bus-protocol.md, "The timer
//! service") that shows a driver's restart costs its clients nothing. It asks for a periodic
//! timer (every 5 ms); after three ticks its first run asks the driver to fail (the service's
//! test hook), once. When the restarted driver announces itself it asks for its timer again, and after three
//! more ticks it says so on its first bus (`ticker: 3 ticks, the timer restarted (1), 3 ticks
//! more`, class 17, scope global). Each of its timers' expiries is told apart from other
//! clients' by its own origin (its bus and member id) in the message.
#![no_std]
#![no_main]

extern crate alloc;

use hm_module::services::classes;
use hm_module::services::timer::{EVERY, FAIL, Fired, Ready, Request};
use hm_module::{Context, Message, Module, Scope};

/// The periodic timer's tag and interval.
const TAG: u16 = 1;
const EVERY_US: u64 = 5_000;
/// Ticks before the failure, and after the restart.
const TICKS: u32 = 3;

struct Ticker {
    /// Ticks seen before the driver's failure, and after its restart.
    before: u32,
    after: u32,
    /// The restarted driver's restart count, once it announced itself.
    restarted: Option<u32>,
    reported: bool,
}

impl Ticker {
    fn ask(cx: &Context, op: u8) {
        let request = Request { op, tag: TAG, us: EVERY_US };
        let _ = cx.publish(classes::TIMER_REQUEST, Scope::Global, &request.to_bytes());
    }

    /// Whether a timer expiry is this module's: for its origin on its first bus.
    fn mine(cx: &Context, fired: &Fired) -> bool {
        cx.seat_origin(0) == Some((fired.bus, fired.member)) && fired.tag == TAG
    }
}

impl Module for Ticker {
    fn init(&mut self, cx: &mut Context) {
        Self::ask(cx, EVERY);
    }

    fn message(&mut self, cx: &mut Context, _seat: usize, message: &Message) {
        match message.header.class {
            classes::TIMER_READY => {
                let Some(ready) = Ready::from_bytes(message.bytes()) else { return };
                // A (re)started driver has no timers: ask again.
                if ready.restarts > 0 && self.before >= TICKS {
                    self.restarted = Some(ready.restarts);
                }
                Self::ask(cx, EVERY);
            }
            classes::TIMER_FIRED => {
                let Some(fired) = Fired::from_bytes(message.bytes()) else { return };
                if !Self::mine(cx, &fired) {
                    return;
                }
                if self.restarted.is_none() {
                    self.before += 1;
                    // Only the first run fails the driver (a start by the shell does not).
                    if self.before == TICKS && cx.restarts() == 0 {
                        Self::ask(cx, FAIL);
                    }
                    return;
                }
                self.after += 1;
                if self.after == TICKS && !self.reported {
                    self.reported = true;
                    let restarts = self.restarted.unwrap_or(0);
                    let line =
                        alloc::format!("ticker: {TICKS} ticks, the timer restarted ({restarts}), {TICKS} ticks more");
                    let _ = cx.publish(classes::STATUS, Scope::Global, line.as_bytes());
                }
            }
            _ => {}
        }
    }
}

hm_module::module!(Ticker { before: 0, after: 0, restarted: None, reported: false });
