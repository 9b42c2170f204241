//! hmk's on-target test suite. It runs as the root task, runs every case in [`cases`] on
//! objects it retypes itself, prints `PASS name` or `FAIL name: why` per case and a closing
//! `N passed, N failed`, then halts the machine.
//!
//! Each case gets a fresh [`Env`]: a 4 MiB untyped carved from the largest RAM untyped and a
//! window of free root-CNode slots. After the case the harness deletes everything in the
//! window and revokes the untyped, so cases cannot disturb each other.
#![no_std]
#![no_main]

extern crate alloc;

mod bus;
mod cases;
mod check;
mod conformance;
mod env;
mod faults;
mod fuzz;
mod handoff;
mod integrity;
mod ipc;
mod irq;
mod lifetime;
mod memory;
mod threads;
mod vm;

use hmk_rt::BootInfo;
use hmk_sys::syscall;

hmk_rt::entry!(main);

/// The TCB capability worker `index` uses.
pub fn threads_self_tcb(index: usize) -> u64 {
    threads::self_tcb(index)
}

/// Whether case `name` runs: every case, unless the suite was built with `HMK_CASES` set to a
/// comma-separated list of name fragments (for working on a few cases; `docs/debugging.md`).
fn selected(name: &str) -> bool {
    match option_env!("HMK_CASES") {
        Some(fragments) if !fragments.is_empty() => fragments.split(',').any(|f| name.contains(f)),
        _ => true,
    }
}

fn main(bootinfo: &'static BootInfo) {
    let mut setup = env::Setup::new(bootinfo);
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in [
        handoff::CASES,
        integrity::CASES,
        conformance::CASES,
        cases::ALL,
        vm::CASES,
        irq::CASES,
        fuzz::CASES,
        bus::CASES,
        lifetime::CASES,
    ]
    .into_iter()
    .flatten()
    .filter(|(name, _)| selected(name))
    {
        let mut env = setup.prepare();
        let outcome = case(&mut env);
        setup.clean(env);
        match outcome {
            Ok(()) => {
                passed += 1;
                log::info!("PASS {name}");
            }
            Err(why) => {
                failed += 1;
                log::info!("FAIL {name}: {why}");
            }
        }
    }
    log::info!("{passed} passed, {failed} failed");
    syscall::debug_halt();
}
