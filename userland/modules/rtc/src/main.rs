//! The `rtc` module: the driver of an Arm PL031 real-time clock (QEMU virt has one at
//! 0x0901_0000, in the same device untyped as the UART). It checks the block's peripheral ID,
//! reads the seconds counter (QEMU starts it at the host's time of day, in UTC) and publishes
//! `rtc: YYYY-MM-DD hh:mm:ss UTC` on its first bus (class 17, scope global), then waits.
#![no_std]
#![no_main]

extern crate alloc;

use hm_module::{Context, Module, Scope};
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

/// The civil date of `days` since 1970-01-01 (proleptic Gregorian): year, month, day.
fn civil_date(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01, so that each 400-year era starts with a March and a leap day
    // closes each 4-year cycle.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Rtc;

impl Module for Rtc {
    fn init(&mut self, cx: &mut Context) {
        let Some(block) = cx.registers().first() else {
            log::warn!("rtc: no register block given");
            return;
        };
        // SAFETY: the block is a PL031's, as the system description claims it, and only this
        // reference to it is made.
        let Some(rtc) = (unsafe { cx.registers_as::<Pl031>(0) }) else { return };
        let id: [u32; 4] = core::array::from_fn(|i| rtc.periph_id[i].get() & 0xff);
        let line = if id[0] == 0x31 && id[1] == 0x10 && id[2] & 0x0f == 0x04 {
            let seconds = i64::from(rtc.data.get());
            let (year, month, day) = civil_date(seconds.div_euclid(86_400));
            let time = seconds.rem_euclid(86_400);
            alloc::format!(
                "rtc: {year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC (PL031 at {:#x})",
                time / 3600,
                time / 60 % 60,
                time % 60,
                block.paddr
            )
        } else {
            alloc::format!("rtc: no PL031 at {:#x} (peripheral ID {id:x?})", block.paddr)
        };
        let _ = cx.publish(STATUS, Scope::Global, line.as_bytes());
    }
}

hm_module::module!(Rtc);
