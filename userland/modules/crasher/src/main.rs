//! The `crasher` module: fails on its first run (it reads address 0); restarted, it says so on
//! its first bus (`crasher back after <n> restart(s)`, class 17, scope global), then waits.
#![no_std]
#![no_main]

extern crate alloc;

use hm_bus::Scope;
use hm_parent::child;

/// The class the demonstration programs talk on.
const STATUS: u8 = 17;

hmk_rt::module_entry!(main);

fn main(info: u64) {
    // SAFETY: x0 is the module's info page, and this is the run's only call.
    let (info, mut members) = unsafe { child::start(info) };
    if info.restarts == 0 {
        // SAFETY: deliberately not safe: the first run fails here, so that its parent restarts it.
        unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
    }
    if let Some(bus) = members[0].as_ref() {
        let plural = if info.restarts == 1 { "" } else { "s" };
        let line = alloc::format!("crasher back after {} restart{plural}", info.restarts);
        let _ = bus.publish(STATUS, Scope::Global, line.as_bytes());
    }
    child::idle(&mut members)
}
