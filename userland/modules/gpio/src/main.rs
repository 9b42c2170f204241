//! The `gpio` module: the driver of the BCM2711's GPIO block (the Raspberry Pi 4's pins). At
//! start it makes pin 42, the Pi 4 Model B's green activity LED, an output and checks the block
//! by read-back: the function select it wrote, and the pin's level after a set and after a
//! clear. It says what it found on its first bus (class 17, scope global), then blinks the LED
//! three times (on a real board; QEMU `raspi4b` only models the registers).
#![no_std]
#![no_main]

extern crate alloc;

use hm_module::{Context, Module, Scope};
use hmk_sys::syscall;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

/// The class the demonstration programs talk on.
const STATUS: u8 = 17;
/// The Pi 4 Model B's activity LED (active high).
const LED_PIN: usize = 42;

register_structs! {
    /// The BCM2711 GPIO registers this driver uses (BCM2711 ARM Peripherals, chapter 5).
    Gpio {
        /// GPFSEL0..5: three bits per pin, ten pins per register; 0b001 is output.
        (0x00 => function_select: [ReadWrite<u32>; 6]),
        (0x18 => _reserved0),
        /// GPSET0..1: a 1 drives that pin high.
        (0x1c => set: [WriteOnly<u32>; 2]),
        (0x24 => _reserved1),
        /// GPCLR0..1: a 1 drives that pin low.
        (0x28 => clear: [WriteOnly<u32>; 2]),
        (0x30 => _reserved2),
        /// GPLEV0..1: each pin's level.
        (0x34 => level: [ReadOnly<u32>; 2]),
        (0x3c => _reserved3),
        (0xb4 => @END),
    }
}

impl Gpio {
    fn make_output(&self, pin: usize) -> u32 {
        let (register, shift) = (pin / 10, pin % 10 * 3);
        let value = self.function_select[register].get() & !(0b111 << shift) | 0b001 << shift;
        self.function_select[register].set(value);
        self.function_select[register].get() >> shift & 0b111
    }

    fn drive(&self, pin: usize, high: bool) {
        let bank = if high { &self.set } else { &self.clear };
        bank[pin / 32].set(1 << (pin % 32));
    }

    fn level(&self, pin: usize) -> bool {
        self.level[pin / 32].get() & 1 << (pin % 32) != 0
    }
}

/// The virtual counter and its frequency.
fn counter() -> (u64, u64) {
    (hmk_rt::counter(), hmk_rt::counter_frequency())
}

/// Lets `ms` milliseconds pass, giving the processor away meanwhile.
fn pause(ms: u64) {
    let (start, hz) = counter();
    while counter().0 - start < hz / 1000 * ms {
        syscall::yield_now();
    }
}

struct GpioDriver;

impl Module for GpioDriver {
    fn init(&mut self, cx: &mut Context) {
        let Some(block) = cx.registers().first() else {
            log::warn!("no register block given");
            return;
        };
        // SAFETY: the block is the BCM2711 GPIO's, as the system description claims it, and
        // only this reference to it is made.
        let Some(gpio) = (unsafe { cx.registers_as::<Gpio>(0) }) else { return };
        let function = gpio.make_output(LED_PIN);
        gpio.drive(LED_PIN, true);
        let after_set = gpio.level(LED_PIN);
        gpio.drive(LED_PIN, false);
        let after_clear = gpio.level(LED_PIN);
        let line = alloc::format!(
            "gpio: pin {LED_PIN} function {function:#05b}, set reads {}, clear reads {} (BCM2711 GPIO at {:#x})",
            u8::from(after_set),
            u8::from(after_clear),
            block.paddr
        );
        let _ = cx.publish(STATUS, Scope::Global, line.as_bytes());
        for _ in 0..3 {
            gpio.drive(LED_PIN, true);
            pause(150);
            gpio.drive(LED_PIN, false);
            pause(150);
        }
    }
}

hm_module::module!(GpioDriver);
