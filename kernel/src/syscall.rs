//! System calls: decoding the syscall number in x7 and dispatching. For now the debug
//! syscalls; capability invocations follow.

use crate::arch::aarch64::stop;
use crate::{console, thread};
use hmk_kernel::context::UserContext;

/// seL4's MCS syscall numbers (x7) that the kernel handles so far.
pub mod number {
    pub const YIELD: i64 = -11;
    pub const DEBUG_PUT_CHAR: i64 = -12;
    pub const DEBUG_HALT: i64 = -14;
}

/// Handles `svc #0` from EL0 for the thread whose registers are `context`.
pub fn handle(context: &mut UserContext) {
    let syscall = context.x[7] as i64;
    match syscall {
        number::DEBUG_PUT_CHAR => console::put_byte(context.x[0] as u8),
        number::DEBUG_HALT => {
            log::info!("hmk: halted by the DebugHalt syscall");
            stop::stop(0);
        }
        number::YIELD => {}
        _ => {
            log::warn!("unknown syscall {syscall} at pc {:#x}; thread stopped", context.pc);
            thread::stop_current();
        }
    }
}
