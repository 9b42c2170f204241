//! Invocations with an explicit IPC buffer. `hmk_sys::invocation` uses the program's one IPC
//! buffer pointer (the root task's); the fuzzing threads share the address space but each has
//! its own buffer, so they marshal through this instead.

use core::sync::atomic::{AtomicU64, Ordering};
use hmk_sys::error::Error;
use hmk_sys::invocation::marshal;
use hmk_sys::ipc_buffer::IpcBuffer;
use hmk_sys::message::MAX_MESSAGE_LENGTH;
use hmk_sys::syscall;

/// A thread's IPC buffer (a page of the program's image).
#[derive(Clone, Copy)]
pub struct Buffer(pub *mut IpcBuffer);

impl Buffer {
    /// Invokes `cap` with `label`, message `args` and capability arguments `caps`; returns the
    /// reply's first four message registers, or the error its label names.
    pub fn invoke(self, cap: u64, label: u64, args: &[u64], caps: &[u64]) -> Result<[u64; 4], Error> {
        let m = marshal(cap, label, args, caps);
        // SAFETY: `self.0` is this thread's own IPC buffer page (see `Buffer`), mapped
        // writable; no other thread writes it.
        let buffer = unsafe { &mut *self.0 };
        for i in 4..args.len().min(MAX_MESSAGE_LENGTH) {
            buffer.msg[i] = m.buffer_words[i];
        }
        buffer.caps_or_badges = m.caps;
        let reply = syscall::call(m.regs);
        match reply.info.label() {
            0 => Ok(reply.mrs),
            other => Err(Error::from_label(other).unwrap_or(Error::IllegalOperation)),
        }
    }
}

/// Who holds the console (0: nobody, else a fuzzing thread's index + 1).
static PRINT_LOCK: AtomicU64 = AtomicU64::new(0);

/// A line of at most 160 bytes, formatted on the stack (the heap is the root task's).
pub struct Line {
    bytes: [u8; 160],
    length: usize,
}

impl Line {
    pub const fn new() -> Line {
        Line { bytes: [0; 160], length: 0 }
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        for &byte in text.as_bytes() {
            if self.length < self.bytes.len() {
                self.bytes[self.length] = byte;
                self.length += 1;
            }
        }
        Ok(())
    }
}

/// Prints a whole line on the debug console. Fuzzing threads (`owner` = index + 1) take
/// turns, a holder preempted mid-line being waited for by yielding (they share a priority).
/// The supervisor (`owner` 0) never waits: at the top priority, yielding would never let a
/// holder run, so its lines may cut into a thread's.
pub fn print_line(line: &Line, owner: u64) {
    if owner != 0 {
        while PRINT_LOCK.compare_exchange(0, owner, Ordering::Acquire, Ordering::Relaxed).is_err() {
            syscall::yield_now();
        }
    }
    line.bytes[..line.length].iter().copied().for_each(syscall::debug_put_char);
    syscall::debug_put_char(b'\n');
    if owner != 0 {
        PRINT_LOCK.store(0, Ordering::Release);
    }
}

/// Frees the console if fuzzing thread `owner` (index + 1) died holding it.
pub fn release_console(owner: u64) {
    let _ = PRINT_LOCK.compare_exchange(owner, 0, Ordering::AcqRel, Ordering::Relaxed);
}

/// `println!` for the supervisor (`say!(...)`) and for fuzzing thread `i` (`say!(@i + 1; ...)`).
macro_rules! say {
    (@$owner:expr; $($arg:tt)*) => {{
        let mut line = $crate::sys::Line::new();
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!($($arg)*));
        $crate::sys::print_line(&line, $owner);
    }};
    ($($arg:tt)*) => {{
        let mut line = $crate::sys::Line::new();
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!($($arg)*));
        $crate::sys::print_line(&line, 0);
    }};
}
pub(crate) use say;

/// The virtual counter (EL0 may read it), and its frequency.
pub fn now() -> u64 {
    let ticks: u64;
    // SAFETY: reading CNTVCT_EL0 has no side effects; the kernel lets EL0 read it.
    unsafe { core::arch::asm!("mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack)) };
    ticks
}

pub fn frequency() -> u64 {
    let hz: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects and is allowed at EL0.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
    hz
}

/// A deterministic PRNG (splitmix64).
#[derive(Clone, Copy)]
pub struct Rng(pub u64);

impl Rng {
    pub fn word(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.word() % n.max(1)
    }

    /// True with probability `percent`%.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
