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
/// The root task's ELF, or nothing (then the kernel boots without a user image).
static ROOT_ELF: &[u8] = include_bytes!(env!("HMK_ROOT_ELF_PATH"));

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

/// Where an ELF's loadable segments go: the page-aligned span of their addresses (physical
/// `p_paddr` for the kernel, virtual `p_vaddr` for the root task) and the entry point.
struct ElfPlan {
    span: Region,
    entry: u64,
}

/// Which program-header address places a segment.
#[derive(Clone, Copy)]
enum Placement {
    Physical,
    Virtual,
}

fn segment_address(ph: &elf::segment::ProgramHeader, placement: Placement) -> u64 {
    match placement {
        Placement::Physical => ph.p_paddr,
        Placement::Virtual => ph.p_vaddr,
    }
}

fn plan_elf(file: &ElfBytes<LittleEndian>, placement: Placement) -> Option<ElfPlan> {
    let mut span = Region::new(u64::MAX, 0);
    for ph in file.segments()?.iter().filter(|ph| ph.p_type == PT_LOAD) {
        let address = segment_address(&ph, placement);
        span.start = span.start.min(address);
        span.end = span.end.max(address.checked_add(ph.p_memsz)?);
    }
    (!span.is_empty()).then(|| ElfPlan { span: span.align_outward(4096), entry: file.ehdr.e_entry })
}

/// Copies every loadable segment of `file` (whose bytes are `bytes`) into the physical range
/// `target` (the plan's span, shifted) and zero-fills the rest.
fn load_elf(file: &ElfBytes<LittleEndian>, bytes: &[u8], plan: &ElfPlan, placement: Placement, target: Region) {
    // SAFETY: `target` is RAM that the caller checked overlaps nothing in use; the MMU is off,
    // so physical addresses are the addresses we write through.
    let memory = unsafe { core::slice::from_raw_parts_mut(target.start as *mut u8, target.size() as usize) };
    memory.fill(0);
    for ph in file.segments().into_iter().flatten().filter(|ph| ph.p_type == PT_LOAD) {
        let offset = (segment_address(&ph, placement) - plan.span.start) as usize;
        let Some(source) = bytes.get(ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize) else {
            fail("an ELF segment lies outside its file");
        };
        memory[offset..offset + source.len()].copy_from_slice(source);
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
    // SAFETY: the header's totalsize bounds the device tree the firmware placed in RAM, which
    // the firmware hands over to us to use and change.
    let dtb = unsafe { core::slice::from_raw_parts_mut(dtb_address as *mut u8, dtb_size) };
    let Ok(dtb_size) = dtb_edit::remove_nops(dtb) else {
        loop {
            aarch64_cpu::asm::wfe();
        }
    };
    let dtb = &dtb[..dtb_size];
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
    let plan =
        plan_elf(&kernel, Placement::Physical).unwrap_or_else(|| fail("the kernel ELF has no loadable segments"));
    let dtb_region = Region::with_size(dtb_address, dtb_size as u64);
    let new_dtb_size = dtb_edit::max_size_with_reservation(dtb).unwrap_or(dtb_size + 24) as u64;
    let new_dtb = Region::with_size(align_up_saturating(plan.span.end, 4096), new_dtb_size);

    // The root task follows the DTB copy, as in seL4's layout: kernel, DTB, user image.
    let root = (!ROOT_ELF.is_empty()).then(|| {
        let file = ElfBytes::<LittleEndian>::minimal_parse(ROOT_ELF)
            .unwrap_or_else(|_| fail("the embedded root task is not an ELF file"));
        let root_plan =
            plan_elf(&file, Placement::Virtual).unwrap_or_else(|| fail("the root task has no loadable segments"));
        let physical = Region::with_size(align_up_saturating(new_dtb.end, 4096), root_plan.span.size());
        (file, root_plan, physical)
    });

    let in_ram = |r: &Region| board.memory.as_slice().iter().any(|m| m.start <= r.start && r.end <= m.end);
    let root_region = root.as_ref().map_or(Region::default(), |(_, _, physical)| *physical);
    for placed in [plan.span, new_dtb, root_region].into_iter().filter(|r| !r.is_empty()) {
        if !in_ram(&placed) || placed.overlaps(&loader) || placed.overlaps(&dtb_region) {
            fail("the kernel, DTB copy or root task would overlap the loader or the DTB, or leave RAM");
        }
        if board.reserved.as_slice().iter().any(|r| r.overlaps(&placed)) {
            fail("the kernel, DTB copy or root task would overlap reserved memory");
        }
    }
    load_elf(&kernel, KERNEL_ELF, &plan, Placement::Physical, plan.span);
    // SAFETY: `new_dtb` is RAM checked above to overlap neither the loader, the original DTB,
    // reserved memory nor the kernel (it starts after the kernel's end).
    let dtb_copy = unsafe { core::slice::from_raw_parts_mut(new_dtb.start as *mut u8, new_dtb_size as usize) };
    let dtb_copy_size =
        dtb_edit::copy_with_reservation(dtb, dtb_copy, loader).unwrap_or_else(|_| fail("the DTB could not be copied"));
    say!(
        "hmk-loader: kernel at [{:#x}, {:#x}), entry {:#x}, DTB copy at {:#x}",
        plan.span.start,
        plan.span.end,
        plan.entry,
        new_dtb.start
    );
    // seL4's handoff: x0/x1 user image physical start/end, x2 physical minus virtual, x3 entry.
    let mut user = [0u64; 4];
    if let Some((file, root_plan, physical)) = &root {
        load_elf(file, ROOT_ELF, root_plan, Placement::Virtual, *physical);
        user = [physical.start, physical.end, physical.start.wrapping_sub(root_plan.span.start), root_plan.entry];
        say!(
            "hmk-loader: root task at [{:#x}, {:#x}) for virtual {:#x}, entry {:#x}",
            physical.start,
            physical.end,
            root_plan.span.start,
            root_plan.entry
        );
    }

    let devices = board.kernel_device_regions();
    let tables = mmu::build(&board, &devices)
        .unwrap_or_else(|| fail("translation tables do not fit in the loader's table arena"));
    say!("hmk-loader: entering the kernel at EL1 with the MMU on");
    if let Some(uart) = board.uart {
        // SAFETY: as above; the UART is still reachable with the MMU off.
        unsafe { (*(uart.base as *const Pl011Registers)).flush() };
    }
    mmu::enable(tables);
    // SAFETY: the kernel is loaded at its physical addresses and mapped at PPTR_BASE + physical
    // in TTBR1; the loader's own code stays identity-mapped in TTBR0 until the jump.
    unsafe { enter_kernel(user[0], user[1], user[2], user[3], new_dtb.start, dtb_copy_size as u64, plan.entry) }
}
