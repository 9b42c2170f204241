//! The Arm PL011 UART's registers, for the boot console (QEMU virt UART0, Pi 4 UART0).
//!
//! Both QEMU and the Pi firmware leave the UART enabled at 115200 8N1, so the console only
//! writes bytes; it never reprograms the baud rate.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! [u32,
    pub FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) [],
    ],
    pub IMSC [
        /// Receive interrupt mask.
        RXIM OFFSET(4) NUMBITS(1) [],
        /// Receive timeout interrupt mask.
        RTIM OFFSET(6) NUMBITS(1) [],
    ],
];

register_structs! {
    /// PL011 register block (the first 0x48 bytes of its 4 KiB frame).
    pub Pl011Registers {
        (0x00 => pub dr: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => pub fr: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x38 => pub imsc: ReadWrite<u32, IMSC::Register>),
        (0x3c => _reserved2),
        (0x44 => pub icr: WriteOnly<u32>),
        (0x48 => @END),
    }
}

impl Pl011Registers {
    /// Writes one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        while self.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.dr.set(u32::from(byte));
    }

    /// Writes `text`, turning `\n` into `\r\n` for terminals.
    pub fn write_str(&self, text: &str) {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
    }

    /// Waits until every queued byte has left the UART.
    pub fn flush(&self) {
        while self.fr.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }

    /// A received byte, if one is waiting.
    pub fn read_byte(&self) -> Option<u8> {
        if self.fr.is_set(FR::RXFE) { None } else { Some(self.dr.get() as u8) }
    }
}
