//! The Arm Generic Interrupt Controller, versions 2 (QEMU virt, the Pi 4's GIC-400) and 3
//! (QEMU virt `gic-version=3`): distributor and CPU interface (v2) or redistributor and system
//! registers (v3). The kernel owns the GIC; user drivers will reach their interrupts through
//! IRQHandler capabilities.

use crate::arch::aarch64::mmu::device;
use core::sync::atomic::{AtomicU32, Ordering};
use hmk_platform::board::Gic;
use hmk_platform::mmio::Mmio;
use spin::Once;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// Distributor (GICD), common to v2 and v3, up to the interrupt configuration registers.
    pub DistributorRegisters {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => iidr: ReadOnly<u32>),
        (0x00c => _reserved0),
        (0x080 => igroupr: [ReadWrite<u32>; 32]),
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        (0x180 => icenabler: [ReadWrite<u32>; 32]),
        (0x200 => ispendr: [ReadWrite<u32>; 32]),
        (0x280 => icpendr: [ReadWrite<u32>; 32]),
        (0x300 => isactiver: [ReadWrite<u32>; 32]),
        (0x380 => icactiver: [ReadWrite<u32>; 32]),
        (0x400 => ipriorityr: [ReadWrite<u8>; 1024]),
        (0x800 => itargetsr: [ReadWrite<u8>; 1024]),
        (0xc00 => icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => @END),
    },

    /// GICv2 CPU interface (GICC).
    pub CpuInterfaceRegisters {
        (0x00 => ctlr: ReadWrite<u32>),
        (0x04 => pmr: ReadWrite<u32>),
        (0x08 => bpr: ReadWrite<u32>),
        (0x0c => iar: ReadOnly<u32>),
        (0x10 => eoir: WriteOnly<u32>),
        (0x14 => @END),
    },

    /// GICv3 redistributor control frame (RD_base).
    pub RedistributorRegisters {
        (0x00 => ctlr: ReadWrite<u32>),
        (0x04 => iidr: ReadOnly<u32>),
        (0x08 => typer: ReadOnly<u64>),
        (0x10 => statusr: ReadWrite<u32>),
        (0x14 => waker: ReadWrite<u32>),
        (0x18 => @END),
    },

    /// GICv3 redistributor SGI/PPI frame (SGI_base, RD_base + 64 KiB).
    pub RedistributorSgiRegisters {
        (0x000 => _reserved0),
        (0x080 => igroupr0: ReadWrite<u32>),
        (0x084 => _reserved1),
        (0x100 => isenabler0: ReadWrite<u32>),
        (0x104 => _reserved2),
        (0x180 => icenabler0: ReadWrite<u32>),
        (0x184 => _reserved3),
        (0x400 => ipriorityr: [ReadWrite<u8>; 32]),
        (0x420 => @END),
    }
}

/// GICR_WAKER bits.
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// GICR_TYPER.Last: this is the last redistributor frame.
const TYPER_LAST: u64 = 1 << 4;
/// GICD_CTLR.RWP (v3): a register write is still in progress.
const CTLR_RWP: u32 = 1 << 31;
/// INTIDs 1020..=1023 are special (spurious); no interrupt is pending.
const FIRST_SPECIAL_INTID: u32 = 1020;
/// Priority given to every interrupt the kernel enables (lower is more urgent).
const DEFAULT_PRIORITY: u8 = 0xa0;

enum Driver {
    V2 { distributor: Mmio<DistributorRegisters>, cpu: Mmio<CpuInterfaceRegisters> },
    V3 { distributor: Mmio<DistributorRegisters>, sgi: Mmio<RedistributorSgiRegisters> },
}

static DRIVER: Once<Driver> = Once::new();
/// Interrupt lines the distributor implements (INTIDs `0..LINES`, at most 1020).
static LINES: AtomicU32 = AtomicU32::new(0);

/// What `init` found, for the boot report.
pub struct GicInfo {
    pub interrupt_lines: u32,
    pub implementer_revision: u32,
}

/// Initialises the distributor and this CPU's interface; every interrupt starts disabled.
pub fn init(gic: Gic) -> GicInfo {
    let driver = DRIVER.call_once(|| match gic {
        // SAFETY: the device tree names these register frames and `mmu` maps them as device
        // memory in the kernel window for the kernel's whole life.
        Gic::V2 { distributor, cpu_interface } => unsafe {
            Driver::V2 { distributor: device(distributor), cpu: device(cpu_interface) }
        },
        Gic::V3 { distributor, redistributors } => {
            let rd_base = this_cpu_redistributor(redistributors.start, redistributors.size());
            // SAFETY: as above; `this_cpu_redistributor` stays inside the mapped frames.
            wake(&*unsafe { device::<RedistributorRegisters>(rd_base) });
            // SAFETY: the SGI/PPI frame follows RD_base at +64 KiB within the mapped frames.
            let sgi = unsafe { device(rd_base + 0x10000) };
            // SAFETY: as above.
            Driver::V3 { distributor: unsafe { device(distributor) }, sgi }
        }
    });
    let (Driver::V2 { distributor, .. } | Driver::V3 { distributor, .. }) = driver;
    let interrupt_lines = ((distributor.typer.get() & 0x1f) + 1) * 32;
    let registers = (interrupt_lines / 32) as usize;
    // GICv2: group 0, which a GIC without security extensions signals as IRQ and acknowledges
    // through GICC_IAR (group 1 would read as spurious there). With security extensions the
    // firmware has put everything in group 1 and these writes are ignored from non-secure state.
    // GICv3: non-secure group 1, acknowledged through ICC_IAR1_EL1.
    let group = if matches!(driver, Driver::V2 { .. }) { 0 } else { u32::MAX };
    distributor.ctlr.set(0);
    for index in 1..registers.min(32) {
        distributor.icenabler[index].set(u32::MAX);
        distributor.icpendr[index].set(u32::MAX);
        distributor.igroupr[index].set(group);
    }
    match driver {
        Driver::V2 { distributor, cpu } => {
            distributor.icenabler[0].set(u32::MAX);
            distributor.igroupr[0].set(group);
            // Enable both groups; both are signalled as IRQ.
            distributor.ctlr.set(0b11);
            cpu.pmr.set(0xff);
            cpu.bpr.set(0);
            cpu.ctlr.set(0b11);
        }
        Driver::V3 { distributor, sgi } => {
            sgi.icenabler0.set(u32::MAX);
            sgi.igroupr0.set(u32::MAX);
            // Affinity routing and non-secure group 1.
            distributor.ctlr.set((1 << 4) | (1 << 1));
            while distributor.ctlr.get() & CTLR_RWP != 0 {
                core::hint::spin_loop();
            }
            cpu_interface_v3_enable();
        }
    }
    LINES.store(interrupt_lines.min(FIRST_SPECIAL_INTID), Ordering::Relaxed);
    GicInfo { interrupt_lines, implementer_revision: distributor.iidr.get() }
}

/// Finds the redistributor frame whose affinity is this CPU's.
fn this_cpu_redistributor(start: u64, size: u64) -> u64 {
    let mpidr = aarch64_cpu::registers::MPIDR_EL1.get();
    let affinity = (mpidr & 0xff_ffff) | ((mpidr >> 32 & 0xff) << 24);
    let mut frame = start;
    while frame + 0x20000 <= start + size {
        // SAFETY: `frame` lies inside the mapped redistributor region.
        let rd = unsafe { device::<RedistributorRegisters>(frame) };
        let typer = rd.typer.get();
        if typer >> 32 == affinity || typer & TYPER_LAST != 0 {
            return frame;
        }
        frame += 0x20000;
    }
    start
}

fn wake(rd: &RedistributorRegisters) {
    rd.waker.set(rd.waker.get() & !WAKER_PROCESSOR_SLEEP);
    while rd.waker.get() & WAKER_CHILDREN_ASLEEP != 0 {
        core::hint::spin_loop();
    }
}

fn cpu_interface_v3_enable() {
    // SAFETY: writes to this CPU's GICv3 system registers (ICC_SRE_EL1, ICC_PMR_EL1,
    // ICC_BPR1_EL1, ICC_IGRPEN1_EL1); the loader enabled EL1 access through ICC_SRE_EL2.
    unsafe {
        core::arch::asm!(
            "mrs {t}, S3_0_C12_C12_5",
            "orr {t}, {t}, #1",
            "msr S3_0_C12_C12_5, {t}",
            "isb",
            "mov {t}, #0xff",
            "msr S3_0_C4_C6_0, {t}",
            "msr S3_0_C12_C12_3, xzr",
            "mov {t}, #1",
            "msr S3_0_C12_C12_7, {t}",
            "isb",
            t = out(reg) _,
            options(nostack),
        );
    }
}

/// Enables interrupt `intid` at the default priority, routed to the boot CPU.
pub fn enable(intid: u32) {
    let Some(driver) = DRIVER.get() else { return };
    let (index, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
    match driver {
        Driver::V3 { sgi, .. } if intid < 32 => {
            sgi.ipriorityr[intid as usize].set(DEFAULT_PRIORITY);
            sgi.isenabler0.set(bit);
        }
        Driver::V2 { distributor, .. } | Driver::V3 { distributor, .. } => {
            if let Some(priority) = distributor.ipriorityr.get(intid as usize) {
                priority.set(DEFAULT_PRIORITY);
                if intid >= 32 && matches!(driver, Driver::V2 { .. }) {
                    distributor.itargetsr[intid as usize].set(1);
                }
                distributor.isenabler[index].set(bit);
            }
        }
    }
}

/// Interrupt lines (INTIDs `0..line_count()`) the distributor implements.
pub fn line_count() -> u32 {
    LINES.load(Ordering::Relaxed)
}

/// Masks interrupt `intid`: it stays pending at the GIC but is not signalled.
pub fn disable(intid: u32) {
    let Some(driver) = DRIVER.get() else { return };
    let (index, bit) = ((intid / 32) as usize, 1u32 << (intid % 32));
    match driver {
        Driver::V3 { sgi, .. } if intid < 32 => sgi.icenabler0.set(bit),
        Driver::V2 { distributor, .. } | Driver::V3 { distributor, .. } => {
            if let Some(register) = distributor.icenabler.get(index) {
                register.set(bit);
            }
        }
    }
}

/// Sets interrupt `intid` to edge-triggered (`edge`) or level-sensitive. SGIs are always
/// edge-triggered and PPIs fixed on these GICs, so only SPIs (INTID 32 and up) change.
pub fn set_trigger(intid: u32, edge: bool) {
    let Some(driver) = DRIVER.get() else { return };
    if intid < 32 {
        return;
    }
    let (Driver::V2 { distributor, .. } | Driver::V3 { distributor, .. }) = driver;
    if let Some(register) = distributor.icfgr.get((intid / 16) as usize) {
        let shift = (intid % 16) * 2 + 1;
        let value = register.get() & !(1 << shift);
        register.set(value | (u32::from(edge) << shift));
    }
}

/// Acknowledges the highest-priority pending interrupt: its INTID, or `None` if none.
pub fn acknowledge() -> Option<u32> {
    let intid = match DRIVER.get()? {
        Driver::V2 { cpu, .. } => cpu.iar.get() & 0x3ff,
        Driver::V3 { .. } => {
            let iar: u64;
            // SAFETY: reading ICC_IAR1_EL1 acknowledges the interrupt; no memory is touched.
            unsafe { core::arch::asm!("mrs {}, S3_0_C12_C12_0", out(reg) iar, options(nomem, nostack)) };
            (iar & 0xff_ffff) as u32
        }
    };
    (intid < FIRST_SPECIAL_INTID).then_some(intid)
}

/// Signals the end of handling `intid` (priority drop and deactivation).
pub fn end_of_interrupt(intid: u32) {
    match DRIVER.get() {
        Some(Driver::V2 { cpu, .. }) => cpu.eoir.set(intid),
        Some(Driver::V3 { .. }) => {
            // SAFETY: writing ICC_EOIR1_EL1 ends the interrupt; no memory is touched.
            unsafe { core::arch::asm!("msr S3_0_C12_C12_1, {}", in(reg) u64::from(intid), options(nomem, nostack)) };
        }
        None => {}
    }
}
