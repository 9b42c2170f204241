//! The `panicker` module: shows that a module's panic reaches its parent as a failure. Its first
//! run panics; the runtime's panic handler prints the panic and reports the module's end to its
//! parent (`hmk_sys::syscall::report_end`), whose policy restarts it. Restarted, it says so on
//! its first bus (`panicker back after a panic, restart <n>`, class 17, scope global).
#![no_std]
#![no_main]

extern crate alloc;

use hm_module::services::classes;
use hm_module::{Context, Module, Scope};

struct Panicker;

impl Module for Panicker {
    fn init(&mut self, cx: &mut Context) {
        if cx.restarts() == 0 {
            panic!("on purpose, on its first run");
        }
        let line = alloc::format!("panicker back after a panic, restart {}", cx.restarts());
        let _ = cx.publish(classes::STATUS, Scope::Global, line.as_bytes());
    }
}

hm_module::module!(Panicker);
