//! The `mailbox` module: the driver of the BCM2711's ARM-to-VideoCore mailbox, through which
//! the firmware answers property requests (the Raspberry Pi firmware's mailbox property
//! interface, channel 8). At start it asks for the board revision, the serial number, the ARM's
//! memory and the SoC temperature, in one request built in its DMA page, and says what the
//! firmware answered on its first bus (class 17, scope global). Then it serves the board
//! service: to each request (class 30) it asks the firmware again and publishes the facts
//! (class 31, scope global). QEMU `raspi4b` models the interface (its temperature is fixed).
#![no_std]
#![no_main]

extern crate alloc;

use hm_module::services::board::Facts;
use hm_module::services::classes;
use hm_module::{Context, Message, Module, Scope};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, WriteOnly};

/// The property channel: the firmware reads a request buffer and writes its answers there.
const PROPERTY_CHANNEL: u32 = 8;
/// Where the VideoCore sees ARM memory, uncached (the first GiB only).
const VC_UNCACHED_ALIAS: u64 = 0xc000_0000;
/// Status bits: mailbox 0 (VideoCore to ARM) empty, mailbox 1 (ARM to VideoCore) full.
const EMPTY: u32 = 1 << 30;
const FULL: u32 = 1 << 31;
/// A buffer's and a tag's response code: the firmware answered.
const RESPONSE: u32 = 1 << 31;

register_structs! {
    /// The mailbox registers (the `brcm,bcm2835-mbox` node's `reg`: 0x40 bytes at 0x7e00b880).
    Mailbox {
        /// Mailbox 0, read by the ARM: channel in bits 3:0, data above.
        (0x00 => read: ReadOnly<u32>),
        (0x04 => _reserved0),
        (0x18 => read_status: ReadOnly<u32>),
        (0x1c => _reserved1),
        /// Mailbox 1, written by the ARM.
        (0x20 => write: WriteOnly<u32>),
        (0x24 => _reserved2),
        (0x38 => write_status: ReadOnly<u32>),
        (0x3c => _reserved3),
        (0x40 => @END),
    }
}

/// The property tags asked for: `(tag, value words)`.
const BOARD_REVISION: (u32, usize) = (0x0001_0002, 1);
const BOARD_SERIAL: (u32, usize) = (0x0001_0004, 2);
const ARM_MEMORY: (u32, usize) = (0x0001_0005, 2);
const TEMPERATURE: (u32, usize) = (0x0003_0006, 2);
const TAGS: [(u32, usize); 4] = [BOARD_REVISION, BOARD_SERIAL, ARM_MEMORY, TEMPERATURE];

/// A property request in uncached memory, word by word (Device memory takes aligned word
/// accesses only).
struct Buffer(*mut u32);

impl Buffer {
    fn set(&self, index: usize, value: u32) {
        // SAFETY: `index` stays inside the first DMA page (the request is under 40 words), which
        // is mapped read-write for the module's life and used by nothing else.
        unsafe { self.0.add(index).write_volatile(value) }
    }

    fn get(&self, index: usize) -> u32 {
        // SAFETY: as in `set`.
        unsafe { self.0.add(index).read_volatile() }
    }
}

/// Writes the request for [`TAGS`]; returns each tag's first value word's index.
fn build_request(buffer: &Buffer) -> [usize; 4] {
    let mut at = 2;
    let mut values = [0; 4];
    for (k, &(tag, words)) in TAGS.iter().enumerate() {
        buffer.set(at, tag);
        buffer.set(at + 1, (words * 4) as u32);
        buffer.set(at + 2, 0);
        for word in 0..words {
            buffer.set(at + 3 + word, 0);
        }
        values[k] = at + 3;
        at += 3 + words;
    }
    buffer.set(at, 0);
    buffer.set(0, ((at + 1) * 4) as u32);
    buffer.set(1, 0);
    values
}

/// Sends the request at VideoCore address `bus_address` and waits for the firmware's answer.
fn call(mailbox: &Mailbox, bus_address: u32) -> bool {
    while mailbox.write_status.get() & FULL != 0 {}
    mailbox.write.set(bus_address | PROPERTY_CHANNEL);
    loop {
        while mailbox.read_status.get() & EMPTY != 0 {}
        if mailbox.read.get() == bus_address | PROPERTY_CHANNEL {
            return true;
        }
    }
}

/// The driver: its registers and its DMA page's two addresses, once it has them.
struct MailboxDriver {
    device: Option<(&'static Mailbox, Buffer, u32)>,
}

impl MailboxDriver {
    /// Asks the firmware for the board's facts.
    fn facts(&self) -> Result<Facts, u32> {
        let Some((mailbox, buffer, bus_address)) = &self.device else { return Err(0) };
        let values = build_request(buffer);
        call(mailbox, *bus_address);
        let answered = |k: usize| buffer.get(1) == RESPONSE && buffer.get(values[k] - 1) & RESPONSE != 0;
        let word = |k: usize, w: usize| buffer.get(values[k] + w);
        if !(answered(0) && answered(1) && answered(2)) {
            return Err(buffer.get(1));
        }
        Ok(Facts {
            revision: word(0, 0),
            serial: u64::from(word(1, 1)) << 32 | u64::from(word(1, 0)),
            memory_base: word(2, 0),
            memory_size: word(2, 1),
            millidegrees: answered(3).then(|| word(3, 1)),
        })
    }
}

impl Module for MailboxDriver {
    fn init(&mut self, cx: &mut Context) {
        let (Some(_), Some((vaddr, paddr, _))) = (cx.registers().first(), cx.dma()) else {
            log::warn!("needs its register block and a DMA page");
            return;
        };
        // SAFETY: the block is the mailbox's, as the system description claims it, and only
        // this reference to it is made.
        let Some(mailbox) = (unsafe { cx.registers_as::<Mailbox>(0) }) else { return };
        let Ok(bus_address) = u32::try_from(paddr | VC_UNCACHED_ALIAS) else {
            log::warn!("DMA page at {paddr:#x} is beyond the VideoCore's reach");
            return;
        };
        self.device = Some((mailbox, Buffer(vaddr as *mut u32), bus_address));
        let line = match self.facts() {
            Ok(facts) => alloc::format!("mailbox: {facts}"),
            Err(code) => alloc::format!("mailbox: the firmware did not answer (code {code:#x})"),
        };
        let _ = cx.publish(classes::STATUS, Scope::Global, line.as_bytes());
    }

    fn message(&mut self, cx: &mut Context, seat: usize, message: &Message) {
        if message.header.class != classes::BOARD_REQUEST {
            return;
        }
        // Asked afresh each time: the temperature changes.
        if let Ok(facts) = self.facts() {
            let _ = cx.publish_on(seat, classes::BOARD_REPLY, Scope::Global, &facts.to_bytes());
        }
    }
}

hm_module::module!(MailboxDriver { device: None });
