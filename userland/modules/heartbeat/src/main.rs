//! The `heartbeat` module: publishes three beats (`beat 1` to `beat 3`, class 17, scope
//! global) on its first bus, then waits for good.
#![no_std]
#![no_main]

extern crate alloc;

use hm_bus::Scope;
use hm_parent::child;
use hmk_sys::syscall;

/// The class the demonstration programs talk on.
const STATUS: u8 = 17;

hmk_rt::module_entry!(main);

fn main(info: u64) {
    // SAFETY: x0 is the module's info page, and this is the run's only call.
    let (_, mut members) = unsafe { child::start(info) };
    if let Some(bus) = members[0].as_ref() {
        for beat in 1..=3 {
            let line = alloc::format!("beat {beat}");
            let _ = bus.publish(STATUS, Scope::Global, line.as_bytes());
            syscall::yield_now();
        }
    }
    child::idle(&mut members)
}
