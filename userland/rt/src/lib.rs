//! The runtime every hmk user program links: `_start` (a stack, then Rust), the IPC buffer
//! pointer, a heap on `buddy_system_allocator`, `log` on the kernel's debug console, and a
//! panic handler that prints the panic and stops the thread.
//!
//! A program names its entry with [`entry!`]; the entry gets the BootInfo frame.
#![no_std]

extern crate alloc;

use core::fmt::Write;
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
    "    bl   hmk_rt_start",
    "1:  b    1b",
    stack = sym STACK,
    size = const STACK_SIZE,
);

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

#[unsafe(no_mangle)]
static mut STACK: Stack = Stack([0; STACK_SIZE]);

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

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        let _ = match record.level() {
            log::Level::Info => writeln!(DebugConsole, "{}", record.args()),
            level => writeln!(DebugConsole, "{level}: {}", record.args()),
        };
    }
    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Stops this thread for good: suspend it through its own TCB capability.
pub fn stop_thread() -> ! {
    let _ = Tcb(slot::INIT_THREAD_TCB).suspend();
    loop {
        syscall::yield_now();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(DebugConsole, "user panic: {info}");
    stop_thread()
}

unsafe extern "Rust" {
    /// The program's entry, defined by [`entry!`].
    fn hmk_main(bootinfo: &'static BootInfo);
}

#[unsafe(no_mangle)]
extern "C" fn hmk_rt_start(bootinfo: *const BootInfo) -> ! {
    // SAFETY: the kernel passes the BootInfo frame, mapped read-only for the thread's life.
    let bootinfo = unsafe { &*bootinfo };
    // SAFETY: BootInfo names this thread's IPC buffer, mapped writable for its life.
    unsafe { set_ipc_buffer(bootinfo.ipc_buffer as *mut IpcBuffer) };
    // SAFETY: the arena is used only by the allocator, initialised once here.
    unsafe { HEAP.lock().init(core::ptr::addr_of_mut!(HEAP_ARENA) as usize, HEAP_SIZE) };
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
    // SAFETY: `hmk_main` is defined by the program through `entry!` with this signature.
    unsafe { hmk_main(bootinfo) };
    stop_thread()
}

/// Declares the program's entry: `hmk_rt::entry!(main);` with `fn main(&'static BootInfo)`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn hmk_main(bootinfo: &'static $crate::BootInfo) {
            $main(bootinfo)
        }
    };
}
