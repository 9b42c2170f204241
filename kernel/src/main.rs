//! hmk: a capability microkernel for AArch64 with seL4's MCS semantics and user ABI.
//!
//! The crate root wires the parts together: `arch` (everything AArch64-specific), `boot`
//! (bring-up and the boot report), `console` (the `log` sink) and the panic path.
#![no_std]
#![no_main]

mod arch;
mod boot;
mod budget;
mod console;
#[cfg(feature = "invariants")]
mod invariants;
mod ipc;
mod irq;
mod objects;
mod syscall;
mod tcb_invoke;
mod thread;
mod vspace_invoke;

use arch::aarch64::stop::stop;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    console::emergency_write(format_args!("\nhmk: KERNEL PANIC at {file}:{line}: {}\nhmk: halted\n", info.message()));
    stop(1)
}
