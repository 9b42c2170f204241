//! The kernel console: `log` records written to the PL011 UART the device tree names.
//!
//! Output is serialised by a spin lock; the panic path takes the UART without the lock so a
//! panic inside a log call still gets its message out.

use core::fmt::Write;
use hmk_platform::mmio::Mmio;
use hmk_platform::pl011::Pl011Registers;
use spin::{Mutex, Once};

static UART: Once<Mmio<Pl011Registers>> = Once::new();
static LOCK: Mutex<()> = Mutex::new(());

struct Writer(Mmio<Pl011Registers>);

impl Write for Writer {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.0.write_str(text);
        Ok(())
    }
}

struct KernelLog;

impl log::Log for KernelLog {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let Some(uart) = UART.get() else { return };
        let _guard = LOCK.lock();
        let mut writer = Writer(*uart);
        let _ = match record.level() {
            log::Level::Info => writeln!(writer, "{}", record.args()),
            level => writeln!(writer, "{level}: {}", record.args()),
        };
    }

    fn flush(&self) {}
}

static LOGGER: KernelLog = KernelLog;

/// Starts the console on `uart` and routes `log` to it.
pub fn init(uart: Mmio<Pl011Registers>) {
    UART.call_once(|| uart);
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Info);
}

/// User output collected until a line is complete, so kernel log lines never split it.
#[cfg(feature = "debug-syscalls")]
struct UserLine {
    bytes: [u8; 160],
    len: usize,
}

#[cfg(feature = "debug-syscalls")]
static USER_LINE: Mutex<UserLine> = Mutex::new(UserLine { bytes: [0; 160], len: 0 });

/// Takes one byte of a user thread's DebugPutChar output; whole lines (or a full buffer) go out
/// at once, `\n` as `\r\n`.
#[cfg(feature = "debug-syscalls")]
pub fn put_byte(byte: u8) {
    let Some(uart) = UART.get() else { return };
    let mut line = USER_LINE.lock();
    let len = line.len;
    line.bytes[len] = byte;
    line.len += 1;
    if byte == b'\n' || line.len == line.bytes.len() {
        let _guard = LOCK.lock();
        for &b in &line.bytes[..line.len] {
            if b == b'\n' {
                uart.write_byte(b'\r');
            }
            uart.write_byte(b);
        }
        line.len = 0;
    }
}

/// Writes straight to the UART, ignoring the lock: only for the panic path.
pub fn emergency_write(args: core::fmt::Arguments) {
    if let Some(uart) = UART.get() {
        let _ = Writer(*uart).write_fmt(args);
        uart.flush();
    }
}
