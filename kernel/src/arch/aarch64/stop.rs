//! Stopping the machine: a clean stop after the boot test, and the final stop after a panic.
//!
//! In test builds (feature `qemu-exit`) the kernel ends QEMU through Arm semihosting
//! (`SYS_EXIT`, which QEMU honours when started with `-semihosting`), so a test run ends with an
//! exit status. Otherwise the core masks interrupts and waits forever.

use aarch64_cpu::registers::Writeable;

/// Stops this core for good. `code` 0 means success.
pub fn stop(code: u32) -> ! {
    aarch64_cpu::registers::DAIF.set(0x3c0);
    #[cfg(feature = "qemu-exit")]
    semihosting_exit(code);
    #[cfg(not(feature = "qemu-exit"))]
    let _ = code;
    loop {
        aarch64_cpu::asm::wfi();
    }
}

#[cfg(feature = "qemu-exit")]
fn semihosting_exit(code: u32) {
    /// ADP_Stopped_ApplicationExit: the reason code for a normal exit.
    const APPLICATION_EXIT: u64 = 0x20026;
    /// Semihosting operation SYS_EXIT.
    const SYS_EXIT: u64 = 0x18;
    let block = [APPLICATION_EXIT, u64::from(code)];
    // SAFETY: `hlt #0xf000` is the AArch64 semihosting call; QEMU reads the two-word block
    // through the current translation and ends. Without a debugger it would halt, never return
    // into broken state, and `stop` loops afterwards anyway.
    unsafe {
        core::arch::asm!("hlt #0xf000", in("x0") SYS_EXIT, in("x1") block.as_ptr(), options(nostack));
    }
}
