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

/// Takes one byte of `line`'s DebugPutChar output (a thread's own line buffer, of `len` bytes
/// so far); whole lines (or a full buffer) go out at once, `\n` as `\r\n`, so neither kernel
/// log lines nor other threads' lines split them.
#[cfg(feature = "debug-syscalls")]
pub fn put_byte(byte: u8, line: &mut [u8], len: &mut u64) {
    let Some(uart) = UART.get() else { return };
    let at = (*len as usize).min(line.len() - 1);
    line[at] = byte;
    *len = at as u64 + 1;
    if byte == b'\n' || at + 1 == line.len() {
        let _guard = LOCK.lock();
        for &b in &line[..=at] {
            if b == b'\n' {
                uart.write_byte(b'\r');
            }
            uart.write_byte(b);
        }
        *len = 0;
    }
}

/// Writes straight to the UART, ignoring the lock: only for the panic path.
pub fn emergency_write(args: core::fmt::Arguments) {
    if let Some(uart) = UART.get() {
        let _ = Writer(*uart).write_fmt(args);
        uart.flush();
    }
}
