//! System calls: `svc #0` with the syscall number in x7, the capability or destination in x0,
//! the message info in x1 and message registers 0..3 in x2..x5 (seL4 AArch64 MCS).

use crate::message::MessageInfo;

/// MCS syscall numbers.
pub mod number {
    pub const CALL: i64 = -1;
    pub const REPLY_RECV: i64 = -2;
    pub const NB_SEND_RECV: i64 = -3;
    pub const NB_SEND_WAIT: i64 = -4;
    pub const SEND: i64 = -5;
    pub const NB_SEND: i64 = -6;
    pub const RECV: i64 = -7;
    pub const NB_RECV: i64 = -8;
    pub const WAIT: i64 = -9;
    pub const NB_WAIT: i64 = -10;
    pub const YIELD: i64 = -11;
    pub const DEBUG_PUT_CHAR: i64 = -12;
    pub const DEBUG_DUMP_SCHEDULER: i64 = -13;
    pub const DEBUG_HALT: i64 = -14;
    pub const DEBUG_CAP_IDENTIFY: i64 = -15;
    pub const DEBUG_SNAPSHOT: i64 = -16;
    pub const DEBUG_NAME_THREAD: i64 = -17;
    /// Not a kernel system call: a module's runtime makes it to tell its parent that the module
    /// ended ([`super::report_end`]). The kernel knows no such number, so the thread takes an
    /// unknown-syscall fault, which its fault handler, the parent, receives with this number
    /// in the message's syscall word and the reason ([`super::end`]) in its x0 word.
    pub const MODULE_END: i64 = -0x4d0;
}

/// Why a module ended: the x0 word of its [`number::MODULE_END`] fault.
pub mod end {
    /// Its `main` returned.
    pub const RETURNED: u64 = 1;
    /// It panicked.
    pub const PANICKED: u64 = 2;
}

/// Tells the module's parent that the module ended for `reason` ([`end`]): an unknown-syscall
/// fault with number [`number::MODULE_END`]. The thread waits there until its parent restarts
/// it (or forever); if a handler ever resumes it, it reports again.
pub fn report_end(reason: u64) -> ! {
    loop {
        raw(number::MODULE_END, Registers { cap_or_badge: reason, ..Registers::default() });
    }
}

/// The registers a send-type syscall passes and gets back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    /// x0: capability in, badge out.
    pub cap_or_badge: u64,
    pub info: MessageInfo,
    pub mrs: [u64; 4],
}

#[cfg(target_arch = "aarch64")]
fn raw(number: i64, regs: Registers) -> Registers {
    raw_with(number, regs, 0, 0)
}

#[cfg(not(target_arch = "aarch64"))]
fn raw(number: i64, regs: Registers) -> Registers {
    raw_with(number, regs, 0, 0)
}

/// A syscall that also passes x6 (MCS reply capability) and x8 (NBSendRecv destination).
#[cfg(target_arch = "aarch64")]
fn raw_with(number: i64, mut regs: Registers, x6: u64, x8: u64) -> Registers {
    // SAFETY: `svc #0` enters the kernel, which reads and writes only x0..x5 (as declared) and
    // preserves every other register and the stack.
    unsafe {
        core::arch::asm!(
            "svc #0",
            inout("x0") regs.cap_or_badge,
            inout("x1") regs.info.0,
            inout("x2") regs.mrs[0],
            inout("x3") regs.mrs[1],
            inout("x4") regs.mrs[2],
            inout("x5") regs.mrs[3],
            in("x6") x6,
            in("x7") number,
            in("x8") x8,
            options(nostack),
        );
    }
    regs
}

#[cfg(not(target_arch = "aarch64"))]
fn raw_with(_number: i64, _regs: Registers, _x6: u64, _x8: u64) -> Registers {
    unreachable!("hmk system calls exist only on AArch64 targets")
}

/// Receive on an endpoint (or notification) `src`, with reply object `reply` for a call; the
/// result's `cap_or_badge` is the sender's badge.
pub fn recv(src: u64, reply: u64) -> Registers {
    raw_with(number::RECV, Registers { cap_or_badge: src, ..Registers::default() }, reply, 0)
}

/// Non-blocking receive: returns at once, with length 0 and badge 0 when nobody was sending.
pub fn nb_recv(src: u64, reply: u64) -> Registers {
    raw_with(number::NB_RECV, Registers { cap_or_badge: src, ..Registers::default() }, reply, 0)
}

/// Reply through `reply` with `regs`' message, then receive on `src` with the same reply object.
pub fn reply_recv(src: u64, regs: Registers, reply: u64) -> Registers {
    raw_with(number::REPLY_RECV, Registers { cap_or_badge: src, ..regs }, reply, 0)
}

/// Non-blocking send of `regs` to `dest`, then receive on `src`.
pub fn nb_send_recv(dest: u64, regs: Registers, src: u64, reply: u64) -> Registers {
    raw_with(number::NB_SEND_RECV, Registers { cap_or_badge: src, ..regs }, reply, dest)
}

/// Non-blocking send of `regs` to `dest`, then wait on `src`.
pub fn nb_send_wait(dest: u64, regs: Registers, src: u64) -> Registers {
    raw_with(number::NB_SEND_WAIT, Registers { cap_or_badge: src, ..regs }, dest, 0)
}

/// Wait on a notification; returns the badge bits it collected.
pub fn wait(src: u64) -> u64 {
    raw(number::WAIT, Registers { cap_or_badge: src, ..Registers::default() }).cap_or_badge
}

/// Poll a notification: its badge bits, or 0, without blocking.
pub fn poll(src: u64) -> u64 {
    raw(number::NB_WAIT, Registers { cap_or_badge: src, ..Registers::default() }).cap_or_badge
}

/// Signal a notification (a Send of an empty message).
pub fn signal(dest: u64) {
    send(Registers { cap_or_badge: dest, ..Registers::default() });
}

/// Call: send `regs` to the capability and wait for the reply.
pub fn call(regs: Registers) -> Registers {
    raw(number::CALL, regs)
}

/// Send (blocking).
pub fn send(regs: Registers) {
    raw(number::SEND, regs);
}

/// Non-blocking send.
pub fn nb_send(regs: Registers) {
    raw(number::NB_SEND, regs);
}

/// Gives up the rest of this time slice.
pub fn yield_now() {
    raw(number::YIELD, Registers::default());
}

/// Writes one byte to the kernel's debug console.
pub fn debug_put_char(byte: u8) {
    raw(number::DEBUG_PUT_CHAR, Registers { cap_or_badge: u64::from(byte), ..Registers::default() });
}

/// Stops the machine (debug builds).
pub fn debug_halt() {
    raw(number::DEBUG_HALT, Registers::default());
}

/// The capability type number of the capability `cptr` names (0 for none).
pub fn debug_cap_identify(cptr: u64) -> u64 {
    raw(number::DEBUG_CAP_IDENTIFY, Registers { cap_or_badge: cptr, ..Registers::default() }).cap_or_badge
}

/// Names the thread `tcb` for debug output; the name travels in the IPC buffer.
pub fn debug_name_thread(tcb: u64, name: &str) {
    let buffer = crate::ipc_buffer::ipc_buffer();
    let bytes = name.as_bytes();
    let length = bytes.len().min(31);
    let mut packed = [0u8; 32];
    packed[..length].copy_from_slice(&bytes[..length]);
    for (i, chunk) in packed.chunks_exact(8).enumerate() {
        buffer.msg[i] = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
    }
    raw(number::DEBUG_NAME_THREAD, Registers { cap_or_badge: tcb, ..Registers::default() });
}

/// Prints the kernel's scheduler state.
pub fn debug_dump_scheduler() {
    raw(number::DEBUG_DUMP_SCHEDULER, Registers::default());
}
