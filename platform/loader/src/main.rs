//! hmk's loader: the first code to run, started by QEMU (`-kernel`, raw image) or by the
//! Raspberry Pi 4 firmware (`kernel8.img`).
//!
//! It owns the machine from reset to the kernel's first instruction: park secondary cores,
//! leave EL2 for EL1 with EL2 configured (`entry.s`), find the console and RAM in the device
//! tree, and then do what seL4's elfloader does, in the same places and the same state
//! ([`hmk_platform::handoff`], docs/abi.md "Boot handoff"): the kernel ELF at its physical
//! address, the device tree copied unchanged after it, the root task after that with its
//! program headers in the next page, translation tables that map only the kernel's 1 GiB
//! region (TTBR1) and the loader (TTBR0), the MMU and caches on, and the jump with seL4's six
//! handoff registers. Everything else the kernel could find is made useless first
//! (`enter_kernel`), so a kernel that relied on more than the elfloader gives fails here too.
#![no_std]
#![no_main]

mod mmu;

use core::fmt::Write;
use elf::ElfBytes;
use elf::abi::PT_LOAD;
use elf::endian::LittleEndian;
use hmk_platform::board;
use hmk_platform::dtb_edit;
use hmk_platform::handoff::{self, ElfPlacement, LoadSegment};
use hmk_platform::pl011::Pl011Registers;
use hmk_platform::region::Region;

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

fn loads<'a>(file: &'a ElfBytes<'a, LittleEndian>) -> impl Iterator<Item = elf::segment::ProgramHeader> + 'a {
    file.segments().into_iter().flatten().filter(|ph| ph.p_type == PT_LOAD)
}

/// The bytes of a segment in its file.
fn file_bytes<'a>(bytes: &'a [u8], ph: &elf::segment::ProgramHeader) -> &'a [u8] {
    let range =
        usize::try_from(ph.p_offset).ok().and_then(|start| Some(start..start.checked_add(ph.p_filesz as usize)?));
    range.and_then(|r| bytes.get(r)).unwrap_or_else(|| fail("an ELF segment lies outside its file"))
}

/// Zeroes `target` and copies each loadable segment of `file` to `target.start` plus its
/// virtual offset from `virt_start` (how the elfloader lays out both the kernel and the root
/// task).
fn load_by_virtual_offset(file: &ElfBytes<LittleEndian>, bytes: &[u8], virt_start: u64, target: Region) {
    // SAFETY: `target` is RAM that the caller checked overlaps nothing in use; the MMU is off,
    // so physical addresses are the addresses we write through.
    let memory = unsafe { core::slice::from_raw_parts_mut(target.start as *mut u8, target.size() as usize) };
    memory.fill(0);
    for ph in loads(file) {
        let source = file_bytes(bytes, &ph);
        let offset = (ph.p_vaddr - virt_start) as usize;
        let Some(destination) = memory.get_mut(offset..offset + source.len()) else {
            fail("an ELF segment lies outside its image");
        };
        destination.copy_from_slice(source);
    }
}

/// The page after the root task: its program-header count and entry size (u32 each), then the
/// program headers, as the elfloader leaves them.
fn write_program_headers(file: &ElfBytes<LittleEndian>, bytes: &[u8], page: u64) {
    let (count, size) = (u32::from(file.ehdr.e_phnum), u32::from(file.ehdr.e_phentsize));
    let table = (file.ehdr.e_phoff as usize).checked_add(count as usize * size as usize);
    let Some(headers) = table.and_then(|end| bytes.get(file.ehdr.e_phoff as usize..end)) else {
        fail("the root task's program headers lie outside its file");
    };
    if 8 + headers.len() > handoff::PAGE as usize {
        fail("the root task's program headers do not fit in a page");
    }
    // SAFETY: `page` is the 4 KiB after the root task, checked free RAM like the image.
    let memory = unsafe { core::slice::from_raw_parts_mut(page as *mut u8, handoff::PAGE as usize) };
    memory.fill(0);
    memory[..4].copy_from_slice(&count.to_le_bytes());
    memory[4..8].copy_from_slice(&size.to_le_bytes());
    memory[8..8 + headers.len()].copy_from_slice(headers);
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
    let dtb_region = Region::with_size(dtb_address, dtb_size as u64);
    let loader = loader_image();

    // The kernel's place comes from its ELF alone, the device tree's copy from that: the
    // elfloader copies the tree before anything else, unchanged.
    let kernel = ElfBytes::<LittleEndian>::minimal_parse(KERNEL_ELF).unwrap_or_else(|_| fail("no kernel ELF"));
    let segments = loads(&kernel).map(|ph| LoadSegment { vaddr: ph.p_vaddr, paddr: ph.p_paddr, memsz: ph.p_memsz });
    let Some(placement) = ElfPlacement::new(segments, kernel.ehdr.e_entry) else {
        fail("the kernel ELF has no loadable segments");
    };
    let dtb_copy = Region::with_size(handoff::dtb_address(placement.phys.end), dtb_size as u64);
    if dtb_copy.overlaps(&loader) || dtb_copy.overlaps(&dtb_region) {
        loop {
            aarch64_cpu::asm::wfe();
        }
    }
    // SAFETY: the firmware's device tree is `dtb_size` bytes at `dtb_address`; the copy's place
    // overlaps neither it nor the loader. MMU off: physical addresses are used directly.
    unsafe { core::ptr::copy_nonoverlapping(dtb_address as *const u8, dtb_copy.start as *mut u8, dtb_size) };

    // SAFETY: the header's totalsize bounds the device tree the firmware placed in RAM, which
    // the firmware hands over to us to use and change (the kernel gets the copy).
    let dtb = unsafe { core::slice::from_raw_parts_mut(dtb_address as *mut u8, dtb_size) };
    let Ok(probed_size) = dtb_edit::remove_nops(dtb) else {
        loop {
            aarch64_cpu::asm::wfe();
        }
    };
    let dtb = &dtb[..probed_size];
    let board = board::probe(dtb).unwrap_or_else(|_| fail("the device tree cannot be read"));
    if let Some(uart) = board.uart {
        // SAFETY: the device tree names this PL011's register frame; the MMU is off, so the
        // physical address is used directly (device memory by default).
        let registers = unsafe { &*(uart.base as *const Pl011Registers) };
        // SAFETY: single core, interrupts masked; the only writer of CONSOLE.
        unsafe { *core::ptr::addr_of_mut!(CONSOLE) = Console(Some(registers)) };
    }
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

    // The root task follows the device tree's copy, laid out by virtual address, its program
    // headers in the page after it.
    let root = (!ROOT_ELF.is_empty()).then(|| {
        let file = ElfBytes::<LittleEndian>::minimal_parse(ROOT_ELF)
            .unwrap_or_else(|_| fail("the embedded root task is not an ELF file"));
        let segments = loads(&file).map(|ph| LoadSegment { vaddr: ph.p_vaddr, paddr: ph.p_vaddr, memsz: ph.p_memsz });
        let Some(layout) = ElfPlacement::new(segments, file.ehdr.e_entry) else {
            fail("the root task has no loadable segments");
        };
        if !layout.virt.start.is_multiple_of(handoff::PAGE) {
            fail("the root task's first segment is not page aligned");
        }
        let physical =
            Region::with_size(handoff::user_image_address(dtb_copy.start, dtb_copy.size()), layout.virt.size());
        (file, layout, physical)
    });

    let kernel_loaded = placement.loaded();
    if kernel_loaded.overlaps(&dtb_copy) {
        // The elfloader would write the kernel over the tree: its segments' p_vaddr - p_paddr differ.
        fail("the kernel's segments are not linked at one physical offset");
    }
    let in_ram = |r: &Region| board.memory.as_slice().iter().any(|m| m.start <= r.start && r.end <= m.end);
    let root_region = root
        .as_ref()
        .map_or(Region::default(), |(_, _, physical)| Region::new(physical.start, physical.end + handoff::PAGE));
    for placed in [kernel_loaded, dtb_copy, root_region].into_iter().filter(|r| !r.is_empty()) {
        if !in_ram(&placed) || placed.overlaps(&loader) || placed.overlaps(&dtb_region) {
            fail("the kernel, DTB copy or root task would overlap the loader or the DTB, or leave RAM");
        }
        if board.reserved.as_slice().iter().any(|r| r.overlaps(&placed)) {
            fail("the kernel, DTB copy or root task would overlap reserved memory");
        }
    }
    let kernel_map = handoff::kernel_map(placement.virt, placement.phys.start)
        .unwrap_or_else(|_| fail("the kernel crosses a 1 GiB boundary or is not 2 MiB aligned"));
    let loader_map = handoff::identity_map(loader).unwrap_or_else(|_| fail("the loader crosses a 1 GiB boundary"));
    load_by_virtual_offset(&kernel, KERNEL_ELF, placement.virt.start, kernel_loaded);
    say!(
        "hmk-loader: kernel at [{:#x}, {:#x}), entry {:#x}, DTB copy at {:#x}",
        kernel_loaded.start,
        kernel_loaded.end,
        placement.entry,
        dtb_copy.start
    );
    // seL4's handoff: x0/x1 user image physical start/end, x2 physical minus virtual, x3 entry.
    let mut user = [0u64; 4];
    if let Some((file, layout, physical)) = &root {
        load_by_virtual_offset(file, ROOT_ELF, layout.virt.start, *physical);
        write_program_headers(file, ROOT_ELF, physical.end);
        user = [physical.start, physical.end, physical.start.wrapping_sub(layout.virt.start), layout.entry];
        say!(
            "hmk-loader: root task at [{:#x}, {:#x}) for virtual {:#x}, entry {:#x}",
            physical.start,
            physical.end,
            layout.virt.start,
            layout.entry
        );
    }

    let tables = mmu::build(&kernel_map, &loader_map);
    let (mapped, identity) = (kernel_map.virtual_range(), loader_map.virtual_range());
    say!(
        "hmk-loader: handoff x0 {:#x} x1 {:#x} x2 {:#x} x3 {:#x} x4 {:#x} x5 {:#x}; TTBR1 [{:#x}, {:#x}) -> {:#x}; \
         TTBR0 [{:#x}, {:#x}) identity",
        user[0],
        user[1],
        user[2],
        user[3],
        dtb_copy.start,
        dtb_copy.size(),
        mapped.start,
        mapped.end,
        kernel_map.pa,
        identity.start,
        identity.end
    );
    say!("hmk-loader: entering the kernel at EL1 with the MMU on");
    if let Some(uart) = board.uart {
        // SAFETY: as above; the UART is still reachable with the MMU off.
        unsafe { (*(uart.base as *const Pl011Registers)).flush() };
    }
    mmu::enable(tables);
    // SAFETY: the kernel is loaded at its physical addresses and mapped at its link addresses
    // in TTBR1; the loader's own code and stack stay identity-mapped in TTBR0 until the jump.
    unsafe { enter_kernel(user[0], user[1], user[2], user[3], dtb_copy.start, dtb_copy.size(), placement.entry) }
}
