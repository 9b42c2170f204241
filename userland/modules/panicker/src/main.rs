//! The `panicker` module: shows that a module's panic and its stack overflow reach its parent
//! as failures, each restarted by its policy from fresh data. Its first run panics: the
//! runtime's panic handler prints the panic and reports the module's end to its parent
//! (`hmk_sys::syscall::report_end`). Its second run says where its stack's guard page is
//! (`panicker: guard page at [A, B)`) and overflows its stack, which faults on that page (the
//! parent's log names the address) instead of running into its BSS. Its third says it is back
//! (`panicker back after a panic and a stack overflow, restart 2`). All on its first bus,
//! class 17, scope global.
#![no_std]
#![no_main]

extern crate alloc;

use hm_module::services::classes;
use hm_module::{Context, Module, Scope};

/// Recurses with a kilobyte of stack per call until the stack runs out (`limit` is never
/// reached: the stack is 64 KiB).
#[inline(never)]
fn dive(depth: u64, limit: u64) -> u64 {
    let mut frame = [0u8; 1024];
    frame[(depth % 1024) as usize] = depth as u8;
    let frame = core::hint::black_box(frame);
    if depth == limit {
        return 0;
    }
    dive(depth + 1, limit).wrapping_add(u64::from(frame[0]))
}

struct Panicker;

impl Module for Panicker {
    fn init(&mut self, cx: &mut Context) {
        let line = match cx.restarts() {
            0 => panic!("on purpose, on its first run"),
            1 => {
                let (start, end) = hmk_rt::stack_guard();
                let line = alloc::format!("panicker: guard page at [{start:#x}, {end:#x})");
                let _ = cx.publish(classes::STATUS, Scope::Global, line.as_bytes());
                let _ = dive(0, core::hint::black_box(1 << 20));
                return;
            }
            n => alloc::format!("panicker back after a panic and a stack overflow, restart {n}"),
        };
        let _ = cx.publish(classes::STATUS, Scope::Global, line.as_bytes());
    }
}

hm_module::module!(Panicker);
