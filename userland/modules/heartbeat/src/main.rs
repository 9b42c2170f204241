//! The `heartbeat` module: publishes three beats (`beat 1` to `beat 3`, class 17, scope
//! global) on its first bus, then waits for good.
#![no_std]
#![no_main]

extern crate alloc;

use hm_bus::Scope;
use hm_parent::child;
use hm_parent::info::ModuleInfo;
use hmk_sys::syscall;

/// The class the demonstration programs talk on.
const STATUS: u8 = 17;

hmk_rt::module_entry!(main);

fn main(info: u64) {
    // SAFETY: the module's x0 is its info page, mapped read-only for its life.
    let info = unsafe { ModuleInfo::at(info) };
    // SAFETY: `info` is this module's own info page, and this is its only call this run.
    let mut members = unsafe { child::members(info) };
    if let Some(bus) = members[0].as_ref() {
        for beat in 1..=3 {
            let line = alloc::format!("beat {beat}");
            let _ = bus.publish(STATUS, Scope::Global, line.as_bytes());
            syscall::yield_now();
        }
    }
    child::idle(&mut members)
}
