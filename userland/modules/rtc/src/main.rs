//! The `rtc` module: the driver of an Arm PL031 real-time clock (QEMU virt has one at
//! 0x0901_0000, in the same device untyped as the UART). It checks the block's peripheral ID,
//! reads the seconds counter (QEMU starts it at the host's time of day, in UTC) and publishes
//! `rtc: YYYY-MM-DD hh:mm:ss UTC` on its first bus (class 17, scope global), then serves the
//! time service: to each request (class 22) it publishes the seconds since 1970 (class 23, 8
//! bytes little endian, scope global).
#![no_std]
#![no_main]

extern crate alloc;

use hm_module::services::{classes, utc_text};
use hm_module::{Context, Message, Module, Scope};
use tock_registers::interfaces::Readable;
use tock_registers::register_structs;
use tock_registers::registers::ReadOnly;

/// The class the demonstration programs talk on.
const STATUS: u8 = 17;

register_structs! {
    /// The PL031's registers (Arm PrimeCell RTC PL031 TRM): the ones this driver reads.
    Pl031 {
        /// RTCDR: seconds counted since the counter was loaded.
        (0x000 => data: ReadOnly<u32>),
        (0x004 => _reserved),
        /// RTCPeriphID0..3: 0x31, 0x10, 0x04 (revision in bits 7:4), 0x00.
        (0xfe0 => periph_id: [ReadOnly<u32>; 4]),
        (0xff0 => cell_id: [ReadOnly<u32>; 4]),
        (0x1000 => @END),
    }
}

/// The driver: the PL031's registers, once checked.
struct Rtc {
    clock: Option<&'static Pl031>,
}

impl Module for Rtc {
    fn init(&mut self, cx: &mut Context) {
        let Some(block) = cx.registers().first() else {
            log::warn!("no register block given");
            return;
        };
        // SAFETY: the block is a PL031's, as the system description claims it, and only this
        // reference to it is made.
        let Some(rtc) = (unsafe { cx.registers_as::<Pl031>(0) }) else { return };
        let id: [u32; 4] = core::array::from_fn(|i| rtc.periph_id[i].get() & 0xff);
        let line = if id[0] == 0x31 && id[1] == 0x10 && id[2] & 0x0f == 0x04 {
            self.clock = Some(rtc);
            let seconds = i64::from(rtc.data.get());
            alloc::format!("rtc: {} UTC (PL031 at {:#x})", utc_text(seconds), block.paddr)
        } else {
            alloc::format!("rtc: no PL031 at {:#x} (peripheral ID {id:x?})", block.paddr)
        };
        let _ = cx.publish(STATUS, Scope::Global, line.as_bytes());
    }

    fn message(&mut self, cx: &mut Context, seat: usize, message: &Message) {
        if let (Some(clock), classes::TIME_REQUEST) = (self.clock, message.header.class) {
            let seconds = u64::from(clock.data.get());
            let _ = cx.publish_on(seat, classes::TIME_REPLY, Scope::Global, &seconds.to_le_bytes());
        }
    }
}

hm_module::module!(Rtc { clock: None });
