//! The runtime every hmk user program links: `_start` (a stack, then Rust), the IPC buffer
//! pointer, a heap on `buddy_system_allocator`, `log` (on the kernel's debug console, or on a
//! sink the program sets, [`set_log_sink`]: a module's goes to the console service), and a
//! panic handler that prints the panic and stops the thread.
//!
//! Two kinds of program start here, told apart by x1 at `_start`:
//!
//! - the root task: x0 = the address of its BootInfo frame (read-only), x1 = 0 (the kernel
//!   zeroes it); its IPC buffer is the one BootInfo names. It names its entry with [`entry!`],
//!   which gets `&'static BootInfo`;
//! - a module (a separate ELF its parent loaded into the module's own VSpace): x0 = the address
//!   of its info page (`hm_parent::info::ModuleInfo`, read-only), x1 = the address of its IPC
//!   buffer (read-write, never 0). It names its entry with [`module_entry!`], which gets x0 as
//!   a `u64`.
//!
//! Both have their own writable data: the stack, the heap and the IPC-buffer pointer are
//! statics of the program's image. A restarted module runs `_start` again over the same image:
//! the stack starts over, the heap is made anew over the same arena (whatever the previous run
//! allocated is forgotten) and the logger, already set, stays.
//!
//! A module that panics or whose entry returns tells its parent so, by a fault the parent
//! receives as its fault handler ([`hmk_sys::syscall::report_end`]); the root task suspends
//! itself instead.
#![no_std]

extern crate alloc;

use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering};
pub use hmk_sys::bootinfo::BootInfo;
use hmk_sys::bootinfo::slot;
use hmk_sys::invocation::Tcb;
use hmk_sys::ipc_buffer::{IpcBuffer, set_ipc_buffer};
use hmk_sys::syscall;

/// Bytes of the initial thread's stack.
const STACK_SIZE: usize = 64 * 1024;
/// Bytes of the heap.
const HEAP_SIZE: usize = 1024 * 1024;

core::arch::global_asm!(
    ".section .text.start, \"ax\"",
    ".global _start",
    "_start:",
    "    adrp x9, {stack}",
    "    add  x9, x9, :lo12:{stack}",
    "    add  x9, x9, #{size}",
    "    mov  sp, x9",
    // x0 and x1 are as the program was started with: hmk_rt_start's two arguments.
    "    bl   hmk_rt_start",
    "1:  b    1b",
    stack = sym STACK,
    size = const STACK_SIZE,
);

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

/// In a section of its own, above an unmapped guard page (linker/user.ld).
#[unsafe(no_mangle)]
#[unsafe(link_section = ".hmk_stack")]
static mut STACK: Stack = Stack([0; STACK_SIZE]);

unsafe extern "C" {
    /// The first byte of the unmapped page below the stack (linker/user.ld).
    static __stack_guard: u8;
}

/// The unmapped guard page below the initial thread's stack: `[start, end)`. A stack overflow
/// faults there.
pub fn stack_guard() -> (u64, u64) {
    // Only the symbol's address is taken; nothing is read from it.
    let start = core::ptr::addr_of!(__stack_guard) as u64;
    (start, start + 4096)
}

#[repr(C, align(4096))]
struct HeapArena([u8; HEAP_SIZE]);

static mut HEAP_ARENA: HeapArena = HeapArena([0; HEAP_SIZE]);

#[global_allocator]
static HEAP: buddy_system_allocator::LockedHeap<32> = buddy_system_allocator::LockedHeap::empty();

/// Writes to the kernel's debug console.
pub struct DebugConsole;

impl Write for DebugConsole {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        text.bytes().for_each(syscall::debug_put_char);
        Ok(())
    }
}

struct Logger;

/// Most bytes of a log line a sink gets (the rest is cut).
pub const LOG_LINE_BYTES: usize = 480;

/// A log line being formatted for a sink.
struct LineBuffer {
    bytes: [u8; LOG_LINE_BYTES],
    length: usize,
}

impl LineBuffer {
    fn text(&self) -> &str {
        // Cut at a character boundary: `write_str` may stop inside one.
        match core::str::from_utf8(&self.bytes[..self.length]) {
            Ok(text) => text,
            Err(e) => core::str::from_utf8(&self.bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        let taken = text.len().min(LOG_LINE_BYTES - self.length);
        self.bytes[self.length..self.length + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.length += taken;
        Ok(())
    }
}

/// Where log lines go before the kernel's debug console: a function that takes one line
/// (without its newline) and says whether it took it. 0: none.
static LOG_SINK: AtomicUsize = AtomicUsize::new(0);

/// Sends this program's log lines to `sink` first; a line it does not take (returns false)
/// goes to the kernel's debug console. The program must be single-threaded while it logs (the
/// sink runs on the logging thread, as the log call's part).
pub fn set_log_sink(sink: fn(&str) -> bool) {
    LOG_SINK.store(sink as usize, Ordering::SeqCst);
}

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let sink = LOG_SINK.load(Ordering::SeqCst);
        if sink != 0 {
            // SAFETY: LOG_SINK only ever holds 0 or a `fn(&str) -> bool` stored by
            // `set_log_sink`.
            let sink: fn(&str) -> bool = unsafe { core::mem::transmute::<usize, fn(&str) -> bool>(sink) };
            // Formatted on the stack (no heap: threads sharing one may log at once).
            let mut line = LineBuffer { bytes: [0; LOG_LINE_BYTES], length: 0 };
            let _ = match record.level() {
                log::Level::Info => write!(line, "{}", record.args()),
                level => write!(line, "{level}: {}", record.args()),
            };
            if sink(line.text()) {
                return;
            }
        }
        let _ = match record.level() {
            log::Level::Info => writeln!(DebugConsole, "{}", record.args()),
            level => writeln!(DebugConsole, "{level}: {}", record.args()),
        };
    }
    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Whether this program is a module (its parent passed its IPC buffer in x1), not the root
/// task.
static IS_MODULE: AtomicUsize = AtomicUsize::new(0);

/// Stops this thread for good. The root task suspends itself through its own TCB capability;
/// a module has none (slot 1 of its CSpace is its notification), so it tells its parent, which
/// holds its TCB and restarts it or not as its policy says ([`syscall::report_end`]).
pub fn stop_thread() -> ! {
    end(syscall::end::RETURNED)
}

fn end(reason: u64) -> ! {
    if IS_MODULE.load(Ordering::SeqCst) != 0 {
        syscall::report_end(reason);
    }
    let _ = Tcb(slot::INIT_THREAD_TCB).suspend();
    loop {
        syscall::yield_now();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(DebugConsole, "user panic: {info}");
    end(syscall::end::PANICKED)
}

unsafe extern "Rust" {
    /// The program's entry, defined by [`entry!`] or [`module_entry!`]: gets x0 of `_start`.
    fn hmk_main(argument: u64);
}

/// `_start`'s Rust half: x0 is `argument`, x1 `ipc_buffer` (see the crate's documentation).
#[unsafe(no_mangle)]
extern "C" fn hmk_rt_start(argument: u64, ipc_buffer: u64) -> ! {
    let ipc_buffer = if ipc_buffer != 0 {
        // A module: its parent passes its IPC buffer in x1.
        IS_MODULE.store(1, Ordering::SeqCst);
        ipc_buffer
    } else {
        // SAFETY: the root task: the kernel passes the BootInfo frame in x0, mapped read-only
        // for the thread's life.
        let bootinfo = unsafe { &*(argument as *const BootInfo) };
        bootinfo.ipc_buffer
    };
    // SAFETY: x1 (a module's parent) or BootInfo (the kernel) names this thread's IPC buffer,
    // mapped writable for its life.
    unsafe { set_ipc_buffer(ipc_buffer as *mut IpcBuffer) };
    init_heap();
    // A restarted module finds the logger set already: the error is expected and harmless.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    // SAFETY: `hmk_main` is defined by the program through `entry!` or `module_entry!` with
    // this signature.
    unsafe { hmk_main(argument) };
    stop_thread()
}

/// Makes the heap anew over the whole arena. On a module's restart the previous run is gone
/// (this program has one thread, and it is here), so what it allocated is free again, and the
/// heap lock it may have held when it failed is released.
fn init_heap() {
    // SAFETY: the only thread of this program is here, before any allocation of this run: no
    // one else holds the lock (a holder from a failed previous run is gone for good).
    unsafe { HEAP.force_unlock() };
    let mut heap = HEAP.lock();
    *heap = buddy_system_allocator::Heap::empty();
    // SAFETY: the arena is used only by the allocator; the empty heap above holds none of it,
    // and nothing allocated from it by a previous run is used any more.
    unsafe { heap.init(core::ptr::addr_of_mut!(HEAP_ARENA) as usize, HEAP_SIZE) };
}

/// Declares the root task's entry: `hmk_rt::entry!(main);` with `fn main(&'static BootInfo)`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn hmk_main(argument: u64) {
            // SAFETY: the root task's x0 is the BootInfo frame, mapped read-only for its life.
            let bootinfo: &'static $crate::BootInfo = unsafe { &*(argument as *const $crate::BootInfo) };
            $main(bootinfo)
        }
    };
}

/// Declares a module's entry: `hmk_rt::module_entry!(main);` with `fn main(info: u64)`, `info`
/// being the address of its info page (`hm_parent::info::ModuleInfo`, mapped read-only).
#[macro_export]
macro_rules! module_entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn hmk_main(info: u64) {
            $main(info)
        }
    };
}

/// The virtual counter's value (the kernel lets EL0 read CNTVCT_EL0).
pub fn counter() -> u64 {
    let ticks: u64;
    // SAFETY: reading CNTVCT_EL0 has no side effects; the kernel lets EL0 read it.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack)) };
    ticks
}

/// The virtual counter's frequency in Hz (never 0).
pub fn counter_frequency() -> u64 {
    let hz: u64;
    // SAFETY: reading CNTFRQ_EL0 has no side effects; EL0 may read it with the counter.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
    hz.max(1)
}

/// The PMU's instruction counter, for benchmarks on a kernel built with its `bench` feature,
/// which opens the PMU to EL0 (PMUSERENR_EL0); elsewhere these instructions are undefined at
/// EL0 and fault.
pub mod pmu {
    /// Starts PMU event counter 0 counting instructions retired (event 0x08, at EL0 and EL1),
    /// from 0.
    pub fn start_instruction_count() {
        // SAFETY: on a bench kernel EL0 may configure the PMU; these writes only select the
        // event of counter 0, enable it and the cycle counter, and reset both.
        unsafe {
            core::arch::asm!(
                "msr pmevtyper0_el0, {event}",
                "msr pmcntenset_el0, {enable}",
                "mrs {tmp}, pmcr_el0",
                "orr {tmp}, {tmp}, {bits}",
                "msr pmcr_el0, {tmp}",
                "isb",
                event = in(reg) 0x08_u64,
                enable = in(reg) (1_u64 << 31) | 1,
                // PMCR_EL0: E (enable), P (reset event counters), C (reset cycle counter), LC.
                bits = in(reg) 0x47_u64,
                tmp = out(reg) _,
                options(nostack),
            );
        }
    }

    /// Instructions retired since [`start_instruction_count`] (every thread's, and the
    /// kernel's).
    pub fn instructions() -> u64 {
        let value: u64;
        // SAFETY: reading counter 0 has no side effects.
        unsafe { core::arch::asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) value, options(nostack)) };
        value
    }
}
