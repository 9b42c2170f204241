//! The `heartbeat` module: publishes three beats (`beat 1` to `beat 3`, class 17, scope
//! global) on its first bus, then waits for good.
#![no_std]
#![no_main]

extern crate alloc;

use hm_module::{Context, Module, Scope};
use hmk_sys::syscall;

/// The class the demonstration programs talk on.
const STATUS: u8 = 17;

struct Heartbeat;

impl Module for Heartbeat {
    fn init(&mut self, cx: &mut Context) {
        for beat in 1..=3 {
            let _ = cx.publish(STATUS, Scope::Global, alloc::format!("beat {beat}").as_bytes());
            syscall::yield_now();
        }
    }
}

hm_module::module!(Heartbeat);
