//! hmk's root task: the first user program. It reports what the kernel handed over (untyped
//! memory, free slots, its own frames), builds the system the build tool planned ([`system`]:
//! buses, bridges, and modules running [`programs`], the console driver and the shell among
//! them), and then supervises the modules and serves the shell's control requests.
#![no_std]
#![no_main]

extern crate alloc;

mod programs;
mod system;

use hm_parent::Allocator;
use hmk_rt::BootInfo;

hmk_rt::entry!(main);

// The system the build tool planned from `system/<board>.toml` (`PLAN`; empty without one).
include!(concat!(env!("OUT_DIR"), "/system_plan.rs"));

fn size(bytes: u64) -> (u64, &'static str) {
    match bytes {
        b if b >= 1 << 30 => (b >> 30, "GiB"),
        b if b >= 1 << 20 => (b >> 20, "MiB"),
        b => (b >> 10, "KiB"),
    }
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
    let alloc = match Allocator::new(bootinfo) {
        Ok(alloc) => alloc,
        Err(e) => {
            log::warn!("root task: no memory to build with: {}", e.step);
            return;
        }
    };
    let system = match system::build(&PLAN, alloc) {
        Ok(system) => Some(system),
        Err(e) => {
            log::warn!("system: building {} failed: {} ({:?})", PLAN.name, e.step, e.error);
            None
        }
    };
    match system {
        Some(system) => system::supervise(system),
        None => hmk_rt::stop_thread(),
    }
}
