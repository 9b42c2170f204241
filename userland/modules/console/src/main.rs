//! The `console` module: the driver of the PL011 UART the kernel also prints its own lines on
//! (QEMU virt's UART0, the Pi 4's UART0). It owns the console for the modules:
//!
//! - every module's log line arrives as a bus message (class [`classes::LOG`], after parts of
//!   class [`classes::LOG_MORE`] for a long line) and is written whole, after the name of the
//!   module that sent it: the name comes from the directory, by the message's origin, which
//!   buses stamp, so a module cannot log under another's name;
//! - what is typed is echoed, edited (backspace) and, at Enter, published as one line (class
//!   [`classes::INPUT`], scope down) for the shell. A log line arriving while a line is being
//!   typed ends the typed part's line, and the typed part is written again after it.
//!
//! The receive interrupt stays masked from its delivery until the driver has drained the FIFO
//! and acknowledged it.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};
use hm_module::{Context, Message, Module, Scope, classes};
use hmk_platform::pl011::{IMSC, Pl011Registers};
use tock_registers::interfaces::Writeable;

/// ICR bits: the receive (RXIC) and receive-timeout (RTIC) interrupts.
const ICR_RX: u32 = (1 << 4) | (1 << 6);
/// Most bytes of a typed line, and of a log line joined from its parts.
const LINE_BYTES: usize = 512;
/// Origins whose long lines can be joined at once.
const PENDING: usize = 4;

/// The UART's registers' address, for the console's own log sink (0 until `init`).
static UART: AtomicU64 = AtomicU64::new(0);

fn uart() -> Option<&'static Pl011Registers> {
    let address = UART.load(Ordering::SeqCst);
    // SAFETY: UART holds 0 or the address of the PL011's registers, which the parent mapped
    // read-write for the module's life; the module is single-threaded.
    (address != 0).then(|| unsafe { &*(address as *const Pl011Registers) })
}

/// Writes `text` with every `\n` as `\r\n`.
fn write(uart: &Pl011Registers, text: &[u8]) {
    for &byte in text {
        if byte == b'\n' {
            uart.write_byte(b'\r');
        }
        uart.write_byte(byte);
    }
}

/// One console line: `name: text`.
fn write_line(uart: &Pl011Registers, name: &str, text: &[u8]) {
    write(uart, name.as_bytes());
    write(uart, b": ");
    write(uart, text);
    write(uart, b"\n");
}

/// The console's own log lines go straight to the UART.
fn own_log(line: &str) -> bool {
    match uart() {
        Some(uart) => {
            write_line(uart, "console", line.as_bytes());
            true
        }
        None => false,
    }
}

/// A line being gathered: typed bytes, or the parts of one origin's long log line.
struct Line {
    bytes: [u8; LINE_BYTES],
    length: usize,
}

impl Line {
    const EMPTY: Line = Line { bytes: [0; LINE_BYTES], length: 0 };

    fn push(&mut self, bytes: &[u8]) {
        let taken = bytes.len().min(LINE_BYTES - self.length);
        self.bytes[self.length..self.length + taken].copy_from_slice(&bytes[..taken]);
        self.length += taken;
    }

    fn text(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

struct Console {
    typed: Line,
    /// Long lines being joined: `(origin bus, origin member)` and the parts so far.
    pending: [((u16, u16), Line); PENDING],
    pending_used: [bool; PENDING],
}

impl Console {
    /// The pending line of `origin`, taken out of the table (or an empty one).
    fn take_pending(&mut self, origin: (u16, u16)) -> Line {
        for k in 0..PENDING {
            if self.pending_used[k] && self.pending[k].0 == origin {
                self.pending_used[k] = false;
                return core::mem::replace(&mut self.pending[k].1, Line::EMPTY);
            }
        }
        Line::EMPTY
    }

    /// Keeps `line` as `origin`'s pending line; with no room, it is written as it is.
    fn keep_pending(&mut self, origin: (u16, u16), line: Line, name: &str) {
        match self.pending_used.iter().position(|used| !used) {
            Some(k) => {
                self.pending[k] = (origin, line);
                self.pending_used[k] = true;
            }
            None => {
                if let Some(uart) = uart() {
                    write_line(uart, name, line.text());
                }
            }
        }
    }

    fn typed(&mut self, cx: &Context, uart: &Pl011Registers, byte: u8) {
        match byte {
            b'\r' | b'\n' => {
                write(uart, b"\n");
                let _ = cx.publish(classes::INPUT, Scope::Down, self.typed.text());
                self.typed = Line::EMPTY;
            }
            // Backspace and delete: erase the last character.
            0x08 | 0x7f if self.typed.length > 0 => {
                self.typed.length -= 1;
                write(uart, b"\x08 \x08");
            }
            // Printable ASCII; the rest is ignored.
            0x20..=0x7e if self.typed.length < hm_module::PAYLOAD_BYTES => {
                self.typed.push(&[byte]);
                write(uart, &[byte]);
            }
            _ => {}
        }
    }
}

impl Module for Console {
    fn init(&mut self, cx: &mut Context) {
        // SAFETY: the block is the console PL011's, as the system description claims it, and
        // this is the only reference made to it (the kernel's console writes only DR, which
        // the UART serialises).
        let Some(regs) = (unsafe { cx.registers_as::<Pl011Registers>(0) }) else {
            log::warn!("console: no PL011 register block given");
            return;
        };
        UART.store(regs as *const Pl011Registers as u64, Ordering::SeqCst);
        hmk_rt::set_log_sink(own_log);
        regs.icr.set(ICR_RX);
        regs.imsc.write(IMSC::RXIM::SET + IMSC::RTIM::SET);
        let block = cx.registers()[0];
        match cx.irqs().first() {
            Some(&(intid, _)) => {
                let _ = cx.ack(0);
                log::info!("ready on INTID {intid} at {:#x}; type help", block.paddr);
            }
            None => log::info!("ready at {:#x}, output only (no interrupt given)", block.paddr),
        }
    }

    fn interrupt(&mut self, cx: &mut Context, irq: usize) {
        let Some(uart) = uart() else { return };
        // Clear first, then drain: a byte arriving after the last FIFO check raises the
        // interrupt again, where clearing after the drain would lose it.
        uart.icr.set(ICR_RX);
        while let Some(byte) = uart.read_byte() {
            self.typed(cx, uart, byte);
        }
        let _ = cx.ack(irq);
    }

    fn message(&mut self, cx: &mut Context, _seat: usize, message: &Message) {
        let Some(uart) = uart() else { return };
        let h = message.header;
        let origin = (h.origin_bus, h.origin_member);
        let unknown;
        let name = match cx.member_name(h.origin_bus, h.origin_member) {
            Some(name) => name,
            None => {
                unknown = alloc::format!("bus {} member {}", h.origin_bus, h.origin_member);
                unknown.as_str()
            }
        };
        match h.class {
            classes::LOG_MORE => {
                let mut line = self.take_pending(origin);
                line.push(message.bytes());
                self.keep_pending(origin, line, name);
            }
            classes::LOG => {
                let mut line = self.take_pending(origin);
                line.push(message.bytes());
                // A line being typed is ended first and written again after the log line, so
                // that neither cuts into the other.
                if self.typed.length > 0 {
                    write(uart, b"\n");
                }
                write_line(uart, name, line.text());
                write(uart, self.typed.text());
            }
            _ => {}
        }
    }
}

hm_module::module!(Console {
    typed: Line::EMPTY,
    pending: [const { ((0, 0), Line::EMPTY) }; PENDING],
    pending_used: [false; PENDING],
});
