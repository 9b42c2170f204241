//! hmk's loader: the first code to run, started by QEMU (`-kernel`, raw image) or by the
//! Raspberry Pi 4 firmware (`kernel8.img`).
//!
//! It owns the machine from reset to the kernel's first instruction: park secondary cores,
//! leave EL2 for EL1 with EL2 configured (`entry.s`), find the console and RAM in the device
//! tree, copy the embedded kernel ELF to its physical addresses, place a copy of the DTB after
//! it (with the loader's own image reserved), build translation tables, turn on the MMU and
//! caches and enter the kernel with seL4's handoff registers (see docs/architecture.md).
#![no_std]
#![no_main]

mod mmu;

use core::fmt::Write;
use elf::ElfBytes;
use elf::abi::PT_LOAD;
use elf::endian::LittleEndian;
use hmk_platform::board;
use hmk_platform::dtb_edit;
use hmk_platform::pl011::Pl011Registers;
use hmk_platform::region::{Region, align_up_saturating};

core::arch::global_asm!(include_str!("entry.s"));

/// The kernel ELF, built for this board by `cargo xtask`.
static KERNEL_ELF: &[u8] = include_bytes!(env!("HMK_KERNEL_ELF"));

unsafe extern "C" {
    static __loader_start: u8;
    static __loader_end: u8;
    /// Jumps to `entry` with x0..x5 set to the handoff values; never returns.
    fn enter_kernel(x0: u64, x1: u64, x2: u64, x3: u64, x4: u64, x5: u64, entry: u64) -> !;
}

/// The console before the kernel's: the PL011 found in the device tree, MMU off.
struct Console(Option<&'static Pl011Registers>);

impl Write for Console {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        if let Some(uart) = self.0 {
            uart.write_str(text);
        }
        Ok(())
    }
}

static mut CONSOLE: Console = Console(None);

macro_rules! say {
    ($($arg:tt)*) => {{
        // SAFETY: the loader runs on one core with interrupts masked; nothing else touches CONSOLE.
        let console = unsafe { &mut *core::ptr::addr_of_mut!(CONSOLE) };
        let _ = writeln!(console, $($arg)*);
    }};
}

fn fail(what: &str) -> ! {
    say!("hmk-loader: cannot boot: {what}");
    loop {
        aarch64_cpu::asm::wfe();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    say!("hmk-loader: panic: {info}");
    loop {
        aarch64_cpu::asm::wfe();
    }
}

fn loader_image() -> Region {
    Region::new(core::ptr::addr_of!(__loader_start) as u64, core::ptr::addr_of!(__loader_end) as u64)
}

/// Where the kernel ELF's loadable segments go and where to enter it.
struct KernelPlan {
    image: Region,
    entry: u64,
}

fn plan_kernel(kernel: &ElfBytes<LittleEndian>) -> Option<KernelPlan> {
    let mut image = Region::new(u64::MAX, 0);
    for ph in kernel.segments()?.iter().filter(|ph| ph.p_type == PT_LOAD) {
        image.start = image.start.min(ph.p_paddr);
        image.end = image.end.max(ph.p_paddr.checked_add(ph.p_memsz)?);
    }
    (!image.is_empty()).then(|| KernelPlan { image: image.align_outward(4096), entry: kernel.ehdr.e_entry })
}

/// Copies every loadable segment to its physical address and zero-fills the rest of `image`.
fn load_kernel(kernel: &ElfBytes<LittleEndian>, image: Region) {
    // SAFETY: `image` is RAM that the caller checked overlaps nothing in use; MMU is off, so
    // physical addresses are the addresses we write through.
    let target = unsafe { core::slice::from_raw_parts_mut(image.start as *mut u8, image.size() as usize) };
    target.fill(0);
    for ph in kernel.segments().into_iter().flatten().filter(|ph| ph.p_type == PT_LOAD) {
        let offset = (ph.p_paddr - image.start) as usize;
        let source = &KERNEL_ELF[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize];
        target[offset..offset + source.len()].copy_from_slice(source);
    }
}

#[unsafe(no_mangle)]
extern "C" fn loader_main(dtb_address: u64) -> ! {
    // SAFETY: the firmware passed the DTB's address; its header is read to learn its size.
    let dtb_header = unsafe { core::slice::from_raw_parts(dtb_address as *const u8, 8) };
    let Some(dtb_size) = dtb_edit::total_size(dtb_header).filter(|_| dtb_address != 0) else {
        // No console is known without a device tree; there is nothing to say it on.
        loop {
            aarch64_cpu::asm::wfe();
        }
    };
    // SAFETY: the header's totalsize bounds the device tree the firmware placed in RAM.
    let dtb = unsafe { core::slice::from_raw_parts(dtb_address as *const u8, dtb_size) };
    let board = board::probe(dtb).unwrap_or_else(|_| fail("the device tree cannot be read"));
    if let Some(uart) = board.uart {
        // SAFETY: the device tree names this PL011's register frame; the MMU is off, so the
        // physical address is used directly (device memory by default).
        let registers = unsafe { &*(uart.base as *const Pl011Registers) };
        // SAFETY: single core, interrupts masked; the only writer of CONSOLE.
        unsafe { *core::ptr::addr_of_mut!(CONSOLE) = Console(Some(registers)) };
    }
    let loader = loader_image();
    say!(
        "hmk-loader: {} ({} CPUs), loader at [{:#x}, {:#x}), DTB at {:#x} ({} bytes)",
        board.model,
        board.cpu_count,
        loader.start,
        loader.end,
        dtb_address,
        dtb_size
    );
    if board.memory.is_empty() {
        fail("the device tree describes no RAM");
    }

    let kernel = ElfBytes::<LittleEndian>::minimal_parse(KERNEL_ELF)
        .unwrap_or_else(|_| fail("the embedded kernel is not an ELF file"));
    let plan = plan_kernel(&kernel).unwrap_or_else(|| fail("the kernel ELF has no loadable segments"));
    let dtb_region = Region::with_size(dtb_address, dtb_size as u64);
    let new_dtb_size = dtb_edit::max_size_with_reservation(dtb).unwrap_or(dtb_size + 24) as u64;
    let new_dtb = Region::with_size(align_up_saturating(plan.image.end, 4096), new_dtb_size);
    let in_ram = |r: &Region| board.memory.as_slice().iter().any(|m| m.start <= r.start && r.end <= m.end);
    for placed in [plan.image, new_dtb] {
        if !in_ram(&placed) || placed.overlaps(&loader) || placed.overlaps(&dtb_region) {
            fail("the kernel or the DTB copy would overlap the loader, the DTB or leave RAM");
        }
        if board.reserved.as_slice().iter().any(|r| r.overlaps(&placed)) {
            fail("the kernel or the DTB copy would overlap reserved memory");
        }
    }
    load_kernel(&kernel, plan.image);
    // SAFETY: `new_dtb` is RAM checked above to overlap neither the loader, the original DTB,
    // reserved memory nor the kernel (it starts after the kernel's end).
    let dtb_copy = unsafe { core::slice::from_raw_parts_mut(new_dtb.start as *mut u8, new_dtb_size as usize) };
    let dtb_copy_size =
        dtb_edit::copy_with_reservation(dtb, dtb_copy, loader).unwrap_or_else(|_| fail("the DTB could not be copied"));
    say!(
        "hmk-loader: kernel at [{:#x}, {:#x}), entry {:#x}, DTB copy at {:#x}",
        plan.image.start,
        plan.image.end,
        plan.entry,
        new_dtb.start
    );

    let devices = board.kernel_device_regions();
    let tables = mmu::build(&board, &devices)
        .unwrap_or_else(|| fail("translation tables do not fit in the loader's table arena"));
    say!("hmk-loader: entering the kernel at EL1 with the MMU on");
    if let Some(uart) = board.uart {
        // SAFETY: as above; the UART is still reachable with the MMU off.
        unsafe { (*(uart.base as *const Pl011Registers)).flush() };
    }
    mmu::enable(tables);
    // No user image yet: x0..x3 are zero; x4/x5 describe the DTB copy.
    // SAFETY: the kernel is loaded at its physical addresses and mapped at PPTR_BASE + physical
    // in TTBR1; the loader's own code stays identity-mapped in TTBR0 until the jump.
    unsafe { enter_kernel(0, 0, 0, 0, new_dtb.start, dtb_copy_size as u64, plan.entry) }
}
