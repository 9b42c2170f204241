//! The programs of the root task's modules, and the echo client.
//!
//! Planned modules run programs of their own: each is an ELF image the build tool builds
//! (`userland/modules/*`) and embeds here ([`MODULES`], from `HMK_MODULES`), which the root task
//! loads into the module's own address space. The echo client is not a planned module: it runs
//! a function of this binary ([`echo_main`]) in an address space sharing this image read-only,
//! so it uses only its stack: no heap, no writable statics.

use core::fmt::Write;
use hmk_sys::syscall;

// The embedded module images (`MODULES`; empty when the build tool did not provide them).
include!(concat!(env!("OUT_DIR"), "/modules.rs"));

/// The ELF image of program `name`.
pub fn image(name: &str) -> Option<&'static [u8]> {
    MODULES.iter().find(|(program, _)| *program == name).map(|&(_, image)| image)
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
    // Waiting on the null capability is a capability fault; without a fault handler the client
    // stops there for good.
    loop {
        syscall::wait(0);
    }
}

/// The echo client's capability to the UART driver, in its CSpace.
pub const ECHO_DRIVER: u64 = 1;
