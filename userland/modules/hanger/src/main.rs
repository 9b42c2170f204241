//! The `hanger` module: shows that a module hung inside its budget is noticed. Its first run
//! spins forever in `init`, within its budget, faulting nothing; its parent's watchdog sees it
//! use more CPU time than its description's `watchdog_ms` in one handler and fails it, and its
//! policy restarts it. Restarted, it says so on its first bus (`hanger back after a hang, restart
//! <n>`, class 17, scope global).
#![no_std]
#![no_main]

extern crate alloc;

use hm_module::services::classes;
use hm_module::{Context, Module, Scope};

struct Hanger;

impl Module for Hanger {
    fn init(&mut self, cx: &mut Context) {
        if cx.restarts() == 0 {
            loop {
                core::hint::spin_loop();
            }
        }
        let line = alloc::format!("hanger back after a hang, restart {}", cx.restarts());
        let _ = cx.publish(classes::STATUS, Scope::Global, line.as_bytes());
    }
}

hm_module::module!(Hanger);
