//! hmk: a capability microkernel for AArch64 with seL4's MCS semantics and user ABI.
//!
//! The crate root wires the parts together: `arch` (everything AArch64-specific), `boot`
//! (bring-up and the boot report), `console` (the `log` sink) and the panic path.
#![no_std]
#![no_main]

mod arch;
mod boot;
mod console;

use arch::aarch64::stop::stop;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::emergency_write(format_args!("\nhmk: KERNEL PANIC: {info}\nhmk: halted\n"));
    stop(1)
}
