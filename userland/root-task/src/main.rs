//! hmk's root task: the first user program. It reports what the kernel handed over (untyped
//! memory, free slots, its own frames), starts the PL011 UART driver in its own address space
//! and CSpace ([`pl011`]), then echoes what is typed through that driver.
#![no_std]
#![no_main]

extern crate alloc;

mod pl011;

use alloc::string::String;
use hmk_rt::BootInfo;
use hmk_sys::bootinfo::{EXTRA_FDT, ExtraHeader};

hmk_rt::entry!(main);

fn size(bytes: u64) -> (u64, &'static str) {
    match bytes {
        b if b >= 1 << 30 => (b >> 30, "GiB"),
        b if b >= 1 << 20 => (b >> 20, "MiB"),
        b => (b >> 10, "KiB"),
    }
}

/// The device tree the kernel passed in BootInfo's extra region (chunk [`EXTRA_FDT`]).
fn device_tree(bootinfo: &'static BootInfo) -> Option<&'static [u8]> {
    // The extra region follows the BootInfo frame (seL4's layout).
    let start = bootinfo as *const BootInfo as usize + 4096;
    let mut offset = 0;
    while offset + size_of::<ExtraHeader>() <= bootinfo.extra_len as usize {
        // SAFETY: the kernel maps `extra_len` bytes of chunks after the BootInfo frame, read-only
        // for the thread's life; each chunk starts with an 8-byte aligned header.
        let header = unsafe { &*((start + offset) as *const ExtraHeader) };
        let len = header.len as usize;
        if len < size_of::<ExtraHeader>() || offset + len > bootinfo.extra_len as usize {
            return None;
        }
        if header.id == EXTRA_FDT {
            let body = start + offset + size_of::<ExtraHeader>();
            // SAFETY: as above; the chunk's bytes after its header are the DTB.
            return Some(unsafe { core::slice::from_raw_parts(body as *const u8, len - size_of::<ExtraHeader>()) });
        }
        offset += len;
    }
    None
}

/// Finds the console UART in the device tree, starts its driver and echoes typed lines
/// forever; returns only if something is missing.
fn echo(bootinfo: &'static BootInfo) {
    let Some(uart) = device_tree(bootinfo).and_then(|dtb| hmk_platform::board::probe(dtb).ok()?.uart) else {
        log::warn!("uart: no PL011 in the device tree");
        return;
    };
    let Some(intid) = uart.intid else {
        log::warn!("uart: the PL011 at {:#x} has no interrupt", uart.base);
        return;
    };
    let started =
        hm_parent::Allocator::new(bootinfo).and_then(|mut alloc| pl011::spawn(&mut alloc, uart.base, intid.into()));
    let driver = match started {
        Ok(driver) => driver,
        Err(e) => {
            log::warn!("uart: starting the driver failed: {} ({:?})", e.step, e.error);
            return;
        }
    };
    let ready = alloc::format!("uart: driver ready on INTID {intid} at {:#x}, type to echo\r\n", uart.base);
    driver.write(ready.as_bytes());
    let mut line = String::new();
    while let Some(byte) = driver.read() {
        match byte {
            b'\r' => {
                driver.write(b"\r\n");
                log::info!("echo: {line}");
                line.clear();
            }
            // Backspace and delete: erase the last character.
            0x08 | 0x7f => {
                if line.pop().is_some() {
                    driver.write(b"\x08 \x08");
                }
            }
            _ => {
                driver.write(&[byte]);
                line.push(char::from(byte));
            }
        }
    }
    log::warn!("uart: reading from the driver failed");
}

fn main(bootinfo: &'static BootInfo) {
    log::info!("root task: hello from EL0");
    let untyped = bootinfo.untyped_list();
    let ram: u64 = untyped.iter().filter(|u| u.is_device == 0).map(|u| 1u64 << u.size_bits).sum();
    let devices = untyped.iter().filter(|u| u.is_device != 0).count();
    let (amount, unit) = size(ram);
    log::info!(
        "root task: {} untyped capabilities in slots [{}, {}): {} {} of RAM, {} device regions",
        untyped.len(),
        bootinfo.untyped.start,
        bootinfo.untyped.end,
        amount,
        unit,
        devices
    );
    if let Some(largest) = untyped.iter().filter(|u| u.is_device == 0).max_by_key(|u| u.size_bits) {
        log::info!("root task: largest RAM untyped: 2^{} bytes at {:#x}", largest.size_bits, largest.paddr);
    }
    log::info!(
        "root task: empty slots [{}, {}) of a 2^{}-slot CNode; {} image frames, {} page tables, IPC buffer at {:#x}",
        bootinfo.empty.start,
        bootinfo.empty.end,
        bootinfo.init_thread_cnode_size_bits,
        bootinfo.user_image_frames.len(),
        bootinfo.user_image_paging.len(),
        bootinfo.ipc_buffer
    );
    echo(bootinfo);
}
