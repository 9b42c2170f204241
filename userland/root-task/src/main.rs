//! hmk's root task: the first user program. It reports what the kernel handed over (untyped
//! memory, free slots, its own frames), starts the PL011 UART driver in its own address space
//! and CSpace ([`pl011`]), builds the system the build tool planned ([`system`]: buses,
//! bridges, modules running [`programs`]), starts the echo client that echoes what is typed
//! through the driver, and then supervises the modules.
#![no_std]
#![no_main]

extern crate alloc;

mod pl011;
mod programs;
mod system;

use hm_parent::{Allocator, DEPTH, Process, ROOT, Step};
use hmk_rt::BootInfo;
use hmk_sys::bootinfo::{EXTRA_FDT, ExtraHeader};
use hmk_sys::invocation::CNode;

hmk_rt::entry!(main);

// The system the build tool planned from `system/<board>.toml` (`PLAN`; empty without one).
include!(concat!(env!("OUT_DIR"), "/system_plan.rs"));

/// The echo client runs below the UART driver.
const ECHO_PRIORITY: u64 = 100;

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

/// Finds the console UART in the device tree and starts its driver; returns a client of it.
fn start_uart(bootinfo: &'static BootInfo, alloc: &mut Allocator) -> Option<(pl011::Client, u64, u32)> {
    let Some(uart) = device_tree(bootinfo).and_then(|dtb| hmk_platform::board::probe(dtb).ok()?.uart) else {
        log::warn!("uart: no PL011 in the device tree");
        return None;
    };
    let Some(intid) = uart.intid else {
        log::warn!("uart: the PL011 at {:#x} has no interrupt", uart.base);
        return None;
    };
    match pl011::spawn(alloc, uart.base, intid.into()) {
        Ok(driver) => Some((driver, uart.base, intid)),
        Err(e) => {
            log::warn!("uart: starting the driver failed: {} ({:?})", e.step, e.error);
            None
        }
    }
}

/// Starts the echo client, a program of its own holding a client capability to the driver.
fn start_echo(alloc: &mut Allocator, driver: pl011::Client) -> hm_parent::Result<()> {
    let echo = Process::new(alloc, 1)?;
    CNode(echo.cnode)
        .copy(programs::ECHO_DRIVER, 1, ROOT, driver.0, DEPTH, hm_parent::bus::call_only())
        .step("the echo client's driver capability")?;
    hm_parent::bus::run(alloc, &echo, programs::echo_main, 0, ECHO_PRIORITY)
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
    let mut alloc = match Allocator::new(bootinfo) {
        Ok(alloc) => alloc,
        Err(e) => {
            log::warn!("root task: no memory to build with: {}", e.step);
            return;
        }
    };
    let uart = start_uart(bootinfo, &mut alloc);
    // The echo client starts first: the system takes the allocator for its supervisor.
    let echo = uart.map(|(driver, base, intid)| (start_echo(&mut alloc, driver), driver, base, intid));
    let system = match system::build(&PLAN, alloc) {
        Ok(system) => Some(system),
        Err(e) => {
            log::warn!("system: building {} failed: {} ({:?})", PLAN.name, e.step, e.error);
            None
        }
    };
    match echo {
        Some((Ok(()), driver, base, intid)) => {
            let ready = alloc::format!("uart: driver ready on INTID {intid} at {base:#x}, type to echo\r\n");
            driver.write(ready.as_bytes());
        }
        Some((Err(e), ..)) => log::warn!("echo: starting the client failed: {} ({:?})", e.step, e.error),
        None => {}
    }
    match system {
        Some(system) => system::supervise(system),
        None => hmk_rt::stop_thread(),
    }
}
