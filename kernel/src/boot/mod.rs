//! Boot: from the loader's handoff to a running kernel.
//!
//! Owns the order of bring-up: device tree, the kernel window, console, vectors, the boot
//! report (board, CPU, memory map, interrupt controller, the free memory that becomes untyped),
//! the GIC and the timer, then idle.

mod root_task;

use crate::arch::aarch64::{exception, gic, mmu, stop, timer};
use crate::{console, thread};
use aarch64_cpu::registers::{CurrentEL, MIDR_EL1, Readable};
use hmk_kernel::boot_alloc::BootAllocator;
use hmk_platform::board::{self, BoardConfig, Gic, PsciConduit};
use hmk_platform::dtb_edit;
use hmk_platform::handoff;
use hmk_platform::pl011::Pl011Registers;
use hmk_platform::region::{Region, RegionSet, align_down, power_of_two_blocks};

/// Timer ticks after which a `boot-test` kernel stops the machine.
#[cfg(feature = "boot-test")]
pub const BOOT_TEST_TICKS: u64 = 5;

/// Smallest and largest untyped block the kernel hands out (seL4: 4 KiB pages up to 2^47).
const UNTYPED_MIN_BITS: u32 = 12;
const UNTYPED_MAX_BITS: u32 = 47;

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// The kernel image's physical range.
fn kernel_image() -> Region {
    let start = core::ptr::addr_of!(__kernel_start) as u64;
    let end = core::ptr::addr_of!(__kernel_end) as u64;
    Region::new(mmu::virt_to_phys(start), mmu::virt_to_phys(end))
}

/// What the loader handed over, in seL4's register order.
#[derive(Clone, Copy, Debug)]
struct Handoff {
    user_image: Region,
    user_pv_offset: u64,
    user_entry: u64,
    dtb: Region,
}

/// `_start` calls this on the boot core with seL4's handoff registers.
#[unsafe(no_mangle)]
extern "C" fn kernel_main(
    user_start: u64,
    user_end: u64,
    pv_offset: u64,
    user_entry: u64,
    dtb_pa: u64,
    dtb_size: u64,
) -> ! {
    #[cfg(feature = "bench")]
    bench::start_counting();
    let handoff = Handoff {
        user_image: Region::new(user_start, user_end),
        user_pv_offset: pv_offset,
        user_entry,
        dtb: Region::with_size(dtb_pa, dtb_size),
    };
    // The boot contract maps the kernel's 1 GiB region from its start: the DTB (which seL4's
    // elfloader puts right after the kernel) can be read before the kernel's own window only
    // if it lies there. Without a readable device tree there is no console to complain on.
    let kernel = kernel_image();
    let mapped = Region::new(kernel.start, align_down(kernel.start, handoff::ONE_GIB) + handoff::ONE_GIB);
    let in_mapped = dtb_pa >= mapped.start && dtb_pa.checked_add(dtb_size).is_some_and(|end| end <= mapped.end);
    if dtb_pa == 0 || dtb_size == 0 || !in_mapped {
        stop::stop(2);
    }
    // SAFETY: checked just above: the DTB lies in the part of the kernel's 1 GiB region the
    // boot contract maps, at the window offset.
    let dtb = unsafe { core::slice::from_raw_parts_mut(mmu::phys_to_virt(dtb_pa) as *mut u8, dtb_size as usize) };
    // Any loader may pass a tree with NOP tokens; the probe needs them gone.
    let Ok(dtb_size) = dtb_edit::remove_nops(dtb) else { stop::stop(2) };
    let dtb = &dtb[..dtb_size];
    let Ok(board) = board::probe(dtb) else { stop::stop(2) };
    let devices = board.kernel_device_regions();
    let Ok(tables) = mmu::build_window(board.memory.as_slice(), &devices) else { stop::stop(3) };
    if let Some(uart) = board.uart {
        // SAFETY: `build_window` mapped the UART's register frame as device memory.
        console::init(unsafe { mmu::device::<Pl011Registers>(uart.base) });
    }
    exception::install_vectors();
    report(&board, &handoff, tables);

    #[cfg(feature = "test-fault")]
    {
        log::info!("test-fault: reading an unmapped kernel address");
        // SAFETY: deliberately not safe: this read faults, to exercise the panic path.
        let value = unsafe { core::ptr::read_volatile(0xffff_ff7f_ffff_f000 as *const u64) };
        log::info!("test-fault: the read returned {value:#x}, which it must not");
    }

    let Some(gic_config) = board.gic else { panic!("the device tree names no interrupt controller") };
    let Some(timer_irqs) = board.timer else { panic!("the device tree names no generic timer") };
    let info = gic::init(gic_config);
    match gic_config {
        Gic::V2 { distributor, cpu_interface } => log::info!(
            "interrupts: GICv2, {} lines, GICD {distributor:#x}, GICC {cpu_interface:#x}, IIDR {:#x}",
            info.interrupt_lines,
            info.implementer_revision
        ),
        Gic::V3 { distributor, redistributors } => log::info!(
            "interrupts: GICv3, {} lines, GICD {distributor:#x}, GICR {:#x}, IIDR {:#x}",
            info.interrupt_lines,
            redistributors.start,
            info.implementer_revision
        ),
    }
    timer::start(timer_irqs.nonsecure_physical);
    gic::enable(timer_irqs.nonsecure_physical);
    log::info!(
        "timer: CNTFRQ {} Hz, {} Hz tick on INTID {}",
        timer::frequency(),
        timer::TICK_HZ,
        timer_irqs.nonsecure_physical
    );

    let Ok(free) = board.free_memory(&[kernel_image(), handoff.dtb, handoff.user_image]) else {
        panic!("free memory is too fragmented to track")
    };
    let mut allocator = BootAllocator::new(free);
    if handoff.user_image.is_empty() {
        report_untyped(allocator.remaining());
        log::info!("hmk: boot complete, no root task; idle");
        thread::idle();
    }
    let image = root_task::UserImage {
        physical: handoff.user_image,
        pv_offset: handoff.user_pv_offset,
        entry: handoff.user_entry,
    };
    let kernel_devices = [devices[1], devices[2]];
    let root = match root_task::build(image, dtb, &mut allocator, board.memory.as_slice(), &kernel_devices) {
        Ok(root) => root,
        Err(error) => panic!("cannot build the root task: {error:?}"),
    };
    report_untyped(allocator.remaining());
    log::info!(
        "root task: {} untyped capabilities, first free slot {}, IPC buffer {:#x}, BootInfo {:#x}",
        root.untyped_count,
        root.first_free_slot,
        root.ipc_buffer_vaddr,
        root.bootinfo_vaddr,
    );
    #[cfg(feature = "bench")]
    {
        // SAFETY: PMUSERENR_EL0 = 0xf: EL0 may use the PMU (benchmark kernels only).
        unsafe { core::arch::asm!("msr pmuserenr_el0, {}", in(reg) 0xf_u64, options(nomem, nostack)) };
        log::info!("bench: PMU open to EL0");
        // Everything from the kernel's entry to here: bring-up, the boot report, building the
        // root task and its untyped (under -icount, one count per instruction).
        log::info!("BENCH kernel_entry_to_root_task {}", bench::instructions());
    }
    #[cfg(feature = "invariants")]
    crate::invariants::note_root(root.tcb);
    thread::start(root.tcb);
    thread::leave_kernel()
}

/// Prints the memory that becomes untyped: each free region and its power-of-two blocks.
fn report_untyped<const N: usize>(free: &RegionSet<N>) {
    let mut blocks = 0;
    for region in free.as_slice() {
        let count = power_of_two_blocks(*region, UNTYPED_MIN_BITS, UNTYPED_MAX_BITS).count();
        blocks += count;
        log::info!("free: [{:#x}, {:#x}) {} as {count} untyped", region.start, region.end, Size(region.size()));
    }
    log::info!("untyped: {blocks} blocks, {} in all", Size(free.total_size()));
}

/// Prints a size in the largest unit that divides it evenly.
struct Size(u64);

impl core::fmt::Display for Size {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self.0 {
            s if s >= 1 << 30 && s % (1 << 30) == 0 => write!(f, "{} GiB", s >> 30),
            s if s >= 1 << 20 && s % (1 << 20) == 0 => write!(f, "{} MiB", s >> 20),
            s if s >= 1 << 10 && s % (1 << 10) == 0 => write!(f, "{} KiB", s >> 10),
            s => write!(f, "{s} bytes"),
        }
    }
}

fn cpu_name(midr: u64) -> &'static str {
    match ((midr >> 24) & 0xff, (midr >> 4) & 0xfff) {
        (0x41, 0xd03) => "Cortex-A53",
        (0x41, 0xd07) => "Cortex-A57",
        (0x41, 0xd08) => "Cortex-A72",
        (0x41, 0xd0c) => "Neoverse-N1",
        (0, _) => "QEMU 'max' CPU",
        _ => "unknown CPU",
    }
}

fn report(board: &BoardConfig, handoff: &Handoff, window_tables: usize) {
    log::info!("hmk {}: capability microkernel for AArch64", env!("CARGO_PKG_VERSION"));
    log::info!("board: {}", board.model);
    let midr = MIDR_EL1.get();
    let psci = match board.psci {
        Some(PsciConduit::Hvc) => "PSCI via HVC",
        Some(PsciConduit::Smc) => "PSCI via SMC",
        None => "no PSCI",
    };
    log::info!(
        "cpu: {} (MIDR {midr:#x}), {} CPUs in the device tree, enable-method {}, {psci}; kernel at EL{}",
        cpu_name(midr),
        board.cpu_count,
        board.cpu_enable_method.unwrap_or("none"),
        CurrentEL.read(CurrentEL::EL)
    );
    for bank in board.memory.as_slice() {
        log::info!("memory: [{:#x}, {:#x}) {}", bank.start, bank.end, Size(bank.size()));
    }
    for reserved in board.reserved.as_slice() {
        log::info!("reserved: [{:#x}, {:#x}) {}", reserved.start, reserved.end, Size(reserved.size()));
    }
    let kernel = kernel_image();
    log::info!(
        "kernel image: [{:#x}, {:#x}) {}, window of {window_tables} tables",
        kernel.start,
        kernel.end,
        Size(kernel.size())
    );
    log::info!("device tree: [{:#x}, {:#x})", handoff.dtb.start, handoff.dtb.end);
    if handoff.user_image.is_empty() {
        log::info!("user image: none");
    } else {
        log::info!(
            "user image: [{:#x}, {:#x}), pv offset {:#x}, entry {:#x}",
            handoff.user_image.start,
            handoff.user_image.end,
            handoff.user_pv_offset,
            handoff.user_entry
        );
    }
}

/// Counting the kernel's boot for `cargo xtask bench` (benchmark kernels only).
#[cfg(feature = "bench")]
mod bench {
    /// Starts PMU event counter 0 on instructions retired (EL0 and EL1), from zero.
    pub fn start_counting() {
        // SAFETY: configures and enables PMU counter 0 only; nothing else reads it until the
        // benchmark task resets it.
        unsafe {
            core::arch::asm!(
                "msr pmevtyper0_el0, {event}",
                "msr pmcntenset_el0, {enable}",
                "mrs {tmp}, pmcr_el0",
                "orr {tmp}, {tmp}, #0x3",
                "msr pmcr_el0, {tmp}",
                "isb",
                event = in(reg) 0x08_u64,
                enable = in(reg) 1_u64,
                tmp = out(reg) _,
                options(nostack),
            );
        }
    }

    /// Instructions retired since [`start_counting`].
    pub fn instructions() -> u64 {
        let count: u64;
        // SAFETY: reading PMU counter 0 has no side effects.
        unsafe { core::arch::asm!("isb", "mrs {}, pmevcntr0_el0", out(reg) count, options(nostack)) };
        count
    }
}
