//! The programs the root task's modules run, by the name the system description gives
//! (`program = ...`): each is an entry `extern "C" fn(info) -> !` that gets the address of its
//! [`ModuleInfo`] page in x0. They run in address spaces of their own that share the root
//! task's image read-only, so they use only their stacks: no heap, no writable statics.
//!
//! - `logger`: subscribes on each of its buses and logs every message it takes;
//! - `heartbeat`: publishes three beats (class 17, scope global), then waits;
//! - `crasher`: fails on its first run (it reads address 0); restarted, it says so on its bus.

use core::fmt::Write;
use hm_bus::module::Member;
use hm_bus::{ClassSet, Scope};
use hm_parent::info::{MAX_SEATS, MODULE_NOTIFICATION, ModuleInfo};
use hmk_sys::syscall;

/// The class the demonstration programs talk on.
const STATUS: u8 = 17;

/// The entry of program `name`.
pub fn entry(name: &str) -> Option<extern "C" fn(u64) -> !> {
    match name {
        "logger" => Some(logger_main),
        "heartbeat" => Some(heartbeat_main),
        "crasher" => Some(crasher_main),
        _ => None,
    }
}

/// The module's info page and a member for each of its buses, subscribed as the page says.
fn start(info: u64) -> (&'static ModuleInfo, [Option<Member>; MAX_SEATS]) {
    // SAFETY: the root task starts every module with x0 = its info page, mapped for its life.
    let info = unsafe { ModuleInfo::at(info) };
    let members = core::array::from_fn(|k| {
        let seat = info.seats().get(k)?;
        // SAFETY: the root task maps this membership's inbox at `seat.inbox` in this address
        // space before starting the module; only this module reads it.
        let member = unsafe { Member::new(seat.endpoint, seat.inbox as *mut u8) };
        let _ = member.subscribe(ClassSet::from_words(info.subscribe));
        Some(member)
    });
    (info, members)
}

/// A line of text on the stack.
struct Line {
    bytes: [u8; 96],
    length: usize,
}

impl Line {
    fn new() -> Line {
        Line { bytes: [0; 96], length: 0 }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

impl Write for Line {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        let room = self.bytes.len() - self.length;
        let taken = text.len().min(room);
        self.bytes[self.length..self.length + taken].copy_from_slice(&text.as_bytes()[..taken]);
        self.length += taken;
        if taken < text.len() { Err(core::fmt::Error) } else { Ok(()) }
    }
}

/// Waits for the module's notification forever, dropping what arrives.
fn idle(members: &mut [Option<Member>]) -> ! {
    loop {
        syscall::wait(MODULE_NOTIFICATION);
        for member in members.iter_mut().flatten() {
            while member.take().is_some() {}
        }
    }
}

extern "C" fn logger_main(info: u64) -> ! {
    let (info, mut members) = start(info);
    loop {
        for member in members.iter_mut().flatten() {
            while let Some(message) = member.take() {
                let h = message.header;
                let text = core::str::from_utf8(message.bytes()).unwrap_or("(not text)");
                log::info!(
                    "{}: class {} from bus {} member {}: {text}",
                    info.name(),
                    h.class,
                    h.origin_bus,
                    h.origin_member
                );
            }
        }
        syscall::wait(MODULE_NOTIFICATION);
    }
}

extern "C" fn heartbeat_main(info: u64) -> ! {
    let (_, mut members) = start(info);
    if let Some(bus) = members[0].as_ref() {
        for beat in 1..=3 {
            let mut line = Line::new();
            let _ = write!(line, "beat {beat}");
            let _ = bus.publish(STATUS, Scope::Global, line.as_bytes());
            syscall::yield_now();
        }
    }
    idle(&mut members)
}

extern "C" fn crasher_main(info: u64) -> ! {
    let (info, mut members) = start(info);
    if info.restarts == 0 {
        // SAFETY: deliberately not safe: the first run fails here, so that its parent restarts it.
        unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
    }
    if let Some(bus) = members[0].as_ref() {
        let mut line = Line::new();
        let plural = if info.restarts == 1 { "" } else { "s" };
        let _ = write!(line, "crasher back after {} restart{plural}", info.restarts);
        let _ = bus.publish(STATUS, Scope::Global, line.as_bytes());
    }
    idle(&mut members)
}

/// The echo client (not a planned module: the root task starts it with the UART driver's
/// client capability in slot 1): reads typed bytes through the driver and writes them back; on
/// Enter it logs the line.
pub extern "C" fn echo_main(_: u64) -> ! {
    let driver = crate::pl011::Client(ECHO_DRIVER);
    let mut line = Line::new();
    while let Some(byte) = driver.read() {
        match byte {
            b'\r' => {
                driver.write(b"\r\n");
                log::info!("echo: {}", core::str::from_utf8(line.as_bytes()).unwrap_or("(not text)"));
                line = Line::new();
            }
            // Backspace and delete: erase the last character.
            0x08 | 0x7f => {
                if line.length > 0 {
                    line.length -= 1;
                    driver.write(b"\x08 \x08");
                }
            }
            _ => {
                driver.write(&[byte]);
                let _ = line.write_char(char::from(byte));
            }
        }
    }
    log::warn!("echo: reading from the driver failed");
    idle(&mut [])
}

/// The echo client's capability to the UART driver, in its CSpace.
pub const ECHO_DRIVER: u64 = 1;
