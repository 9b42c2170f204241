//! The device-tree probe: what the kernel needs to know about the machine it woke up on.
//!
//! [`probe`] reads a flattened device tree (with the `fdt` crate) and returns a
//! [`BoardConfig`]: RAM, reserved ranges, the PL011 console, the interrupt controller, the
//! generic timer's interrupts, the CPUs and PSCI. Addresses of devices behind buses (the Pi 4's
//! `/soc`) are translated through every ancestor's `ranges` into CPU physical addresses.

use crate::region::{CapacityExceeded, Region, RegionSet};
use fdt::node::FdtNode;

/// Maximum RAM banks, reserved ranges and translation windows per bus the probe keeps.
pub const MAX_MEMORY_REGIONS: usize = 8;
pub const MAX_RESERVED_REGIONS: usize = 16;
pub const MAX_FREE_REGIONS: usize = 32;
const MAX_RANGES: usize = 8;
const MAX_DEPTH: usize = 8;

/// The interrupt controller's kind and register frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gic {
    /// GICv2 (also the Pi 4's GIC-400): distributor and CPU interface.
    V2 { distributor: u64, cpu_interface: u64 },
    /// GICv3: distributor and the redistributor region (two 64 KiB frames per CPU).
    V3 { distributor: u64, redistributors: Region },
}

impl Gic {
    pub fn version(&self) -> u32 {
        match self {
            Gic::V2 { .. } => 2,
            Gic::V3 { .. } => 3,
        }
    }
}

/// How PSCI calls are made, when the firmware offers PSCI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    Hvc,
    Smc,
}

/// A PL011 UART.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uart {
    pub base: u64,
    /// GIC interrupt ID (SPI n is INTID 32 + n).
    pub intid: Option<u32>,
}

/// Generic-timer interrupt IDs (PPI n is INTID 16 + n).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerIrqs {
    pub secure_physical: u32,
    pub nonsecure_physical: u32,
    pub virtual_timer: u32,
    pub hypervisor: u32,
}

/// Everything the probe found.
#[derive(Clone, Debug)]
pub struct BoardConfig<'a> {
    /// Root `model`, or the first root `compatible` string when there is no model.
    pub model: &'a str,
    pub memory: RegionSet<MAX_MEMORY_REGIONS>,
    /// `/memreserve/` entries and `/reserved-memory` children.
    pub reserved: RegionSet<MAX_RESERVED_REGIONS>,
    pub uart: Option<Uart>,
    pub gic: Option<Gic>,
    pub timer: Option<TimerIrqs>,
    pub cpu_count: u32,
    /// `enable-method` of the first CPU (`psci`, `spin-table`).
    pub cpu_enable_method: Option<&'a str>,
    pub psci: Option<PsciConduit>,
}

/// Why a device tree could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// Not a flattened device tree (bad magic or truncated).
    NotADeviceTree,
    /// More RAM banks or reserved ranges than the probe has room for.
    TooManyRegions,
}

/// Reads a big-endian value of `cells` 32-bit cells from the front of `bytes` (at most two
/// cells), advancing `bytes` past them.
pub fn read_cells(bytes: &mut &[u8], cells: usize) -> Option<u64> {
    if cells > 2 || bytes.len() < cells * 4 {
        return None;
    }
    let (value, rest) = bytes.split_at(cells * 4);
    *bytes = rest;
    Some(
        value
            .chunks_exact(4)
            .fold(0u64, |acc, c| (acc << 32) | u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))),
    )
}

/// The one-cell property `name` of `node`.
pub fn read_u32(node: FdtNode, name: &str) -> Option<u32> {
    let mut value = node.property(name)?.value;
    read_cells(&mut value, 1).map(|v| v as u32)
}

#[derive(Clone, Copy)]
struct CellSizes {
    address: usize,
    size: usize,
}

fn cell_sizes(node: FdtNode) -> CellSizes {
    // Devicetree defaults: 2 address cells, 1 size cell.
    CellSizes {
        address: read_u32(node, "#address-cells").map_or(2, |v| v as usize),
        size: read_u32(node, "#size-cells").map_or(1, |v| v as usize),
    }
}

/// One bus's address translation: how its children's addresses map to its parent's.
#[derive(Clone, Copy)]
struct Ranges {
    /// No `ranges` property: child addresses cannot be reached from the CPU.
    opaque: bool,
    /// `(child base, parent base, size)`; an empty `ranges` is the identity.
    windows: [(u64, u64, u64); MAX_RANGES],
    len: usize,
}

impl Ranges {
    const IDENTITY: Ranges = Ranges { opaque: false, windows: [(0, 0, 0); MAX_RANGES], len: 0 };

    fn parse(node: FdtNode, own: CellSizes, parent: CellSizes) -> Ranges {
        let Some(prop) = node.property("ranges") else {
            return Ranges { opaque: true, ..Ranges::IDENTITY };
        };
        let mut ranges = Ranges::IDENTITY;
        let mut bytes = prop.value;
        while ranges.len < MAX_RANGES && !bytes.is_empty() {
            let (Some(child), Some(parent_base), Some(size)) = (
                read_cells(&mut bytes, own.address),
                read_cells(&mut bytes, parent.address),
                read_cells(&mut bytes, own.size),
            ) else {
                break;
            };
            ranges.windows[ranges.len] = (child, parent_base, size);
            ranges.len += 1;
        }
        ranges
    }

    fn translate(&self, address: u64) -> Option<u64> {
        if self.opaque {
            return None;
        }
        if self.len == 0 {
            return Some(address);
        }
        self.windows[..self.len]
            .iter()
            .find(|(child, _, size)| address >= *child && address - child < *size)
            .map(|(child, parent, _)| address - child + parent)
    }
}

/// A node met during the walk, with what is needed to read its `reg` as CPU addresses.
#[derive(Clone, Copy)]
struct Visit<'b, 'a> {
    node: FdtNode<'b, 'a>,
    /// Cell sizes of the node's parent (they shape this node's `reg`).
    parent_cells: CellSizes,
    /// Translations from this node's parent up to the root, innermost first.
    path: &'b [Ranges],
}

impl Visit<'_, '_> {
    /// The `index`th `reg` entry as a CPU physical region.
    fn reg(&self, index: usize) -> Option<Region> {
        let mut bytes = self.node.property("reg")?.value;
        for i in 0..=index {
            let address = read_cells(&mut bytes, self.parent_cells.address)?;
            let size = read_cells(&mut bytes, self.parent_cells.size)?;
            if i == index {
                let cpu = self.path.iter().try_fold(address, |a, r| r.translate(a))?;
                return Some(Region::with_size(cpu, size));
            }
        }
        None
    }

    fn is_enabled(&self) -> bool {
        self.node.property("status").and_then(|p| p.as_str()).is_none_or(|s| s == "okay" || s == "ok")
    }

    fn is_compatible(&self, any_of: &[&str]) -> bool {
        self.node.compatible().is_some_and(|c| c.all().any(|s| any_of.contains(&s)))
    }

    /// The `index`th interrupt of a three-cell GIC `interrupts` property as an INTID.
    fn gic_interrupt(&self, index: usize) -> Option<u32> {
        let value = self.node.property("interrupts")?.value;
        let cell = |i: usize| value.get(i * 4..i * 4 + 4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
        let (kind, number) = (cell(index * 3)?, cell(index * 3 + 1)?);
        match kind {
            0 => Some(32 + number),
            1 => Some(16 + number),
            _ => None,
        }
    }
}

/// Visits every node under `node` depth-first, with its translation path.
fn walk<'b, 'a>(
    node: FdtNode<'b, 'a>,
    stack: &mut [Ranges; MAX_DEPTH],
    depth: usize,
    visit: &mut dyn FnMut(Visit<'_, 'a>),
) {
    let own = cell_sizes(node);
    for child in node.children() {
        visit(Visit { node: child, parent_cells: own, path: &stack[MAX_DEPTH - depth..] });
        if depth + 1 < MAX_DEPTH && child.children().next().is_some() {
            stack[MAX_DEPTH - depth - 1] = Ranges::parse(child, cell_sizes(child), own);
            walk(child, stack, depth + 1, visit);
        }
    }
}

impl BoardConfig<'_> {
    /// Register frames the kernel needs before any user-level driver exists: the console UART
    /// and the GIC (distributor and CPU interface, or the redistributors of every CPU).
    /// Unused entries are empty.
    pub fn kernel_device_regions(&self) -> [Region; 3] {
        let mut devices = [Region::default(); 3];
        if let Some(uart) = self.uart {
            devices[0] = Region::with_size(uart.base, 0x1000);
        }
        match self.gic {
            Some(Gic::V2 { distributor, cpu_interface }) => {
                devices[1] = Region::with_size(distributor, 0x1000);
                devices[2] = Region::with_size(cpu_interface, 0x2000);
            }
            Some(Gic::V3 { distributor, redistributors }) => {
                devices[1] = Region::with_size(distributor, 0x10000);
                let frames = 0x20000 * u64::from(self.cpu_count.max(1));
                devices[2] = Region::with_size(redistributors.start, frames.min(redistributors.size()));
            }
            None => {}
        }
        devices
    }

    /// RAM that nothing uses: every memory bank minus the device tree's reservations and the
    /// `in_use` ranges (kernel image, DTB, user image), shrunk to whole pages.
    pub fn free_memory(&self, in_use: &[Region]) -> Result<RegionSet<MAX_FREE_REGIONS>, CapacityExceeded> {
        let mut free = RegionSet::new();
        for bank in self.memory.as_slice() {
            free.insert(*bank)?;
        }
        for hole in self.reserved.as_slice().iter().chain(in_use) {
            free.subtract(hole.align_outward(4096))?;
        }
        free.align_inward(4096);
        Ok(free)
    }
}

/// Reads the device tree in `dtb`. The tree must hold no `FDT_NOP` tokens (the `fdt` crate
/// rejects them): run [`crate::dtb_edit::remove_nops`] on trees from firmware first.
pub fn probe(dtb: &[u8]) -> Result<BoardConfig<'_>, ProbeError> {
    let fdt = fdt::Fdt::new(dtb).map_err(|_| ProbeError::NotADeviceTree)?;
    let root = fdt.find_node("/").ok_or(ProbeError::NotADeviceTree)?;
    let model = root
        .property("model")
        .and_then(|p| p.as_str())
        .or_else(|| root.compatible().map(|c| c.first()))
        .unwrap_or("unknown board");

    let mut config = BoardConfig {
        model,
        memory: RegionSet::new(),
        reserved: RegionSet::new(),
        uart: None,
        gic: None,
        timer: None,
        cpu_count: 0,
        cpu_enable_method: None,
        psci: None,
    };
    let mut overflow = false;
    for reservation in fdt.memory_reservations() {
        let r = Region::with_size(reservation.address() as u64, reservation.size() as u64);
        overflow |= config.reserved.insert(r).is_err();
    }

    // The console is `chosen/stdout-path` when that is a PL011, else the first enabled PL011.
    let stdout_reg = fdt
        .find_node("/chosen")
        .and_then(|c| c.property("stdout-path"))
        .and_then(|p| p.as_str())
        .and_then(|path| fdt.find_node(path.split(':').next().unwrap_or(path)))
        .and_then(|n| n.property("reg"))
        .map(|p| p.value.as_ptr());
    let mut first_pl011 = None;

    let mut stack = [Ranges::IDENTITY; MAX_DEPTH];
    walk(root, &mut stack, 0, &mut |v: Visit| {
        let device_type = v.node.property("device_type").and_then(|p| p.as_str());
        if device_type == Some("memory") {
            for i in 0.. {
                let Some(r) = v.reg(i) else { break };
                overflow |= config.memory.insert(r).is_err();
            }
        } else if device_type == Some("cpu") {
            config.cpu_count += 1;
            if config.cpu_enable_method.is_none() {
                config.cpu_enable_method = v.node.property("enable-method").and_then(|p| p.as_str());
            }
        }
        if v.is_compatible(&["arm,pl011"])
            && v.is_enabled()
            && let Some(r) = v.reg(0)
        {
            let uart = Uart { base: r.start, intid: v.gic_interrupt(0) };
            let is_stdout = stdout_reg.is_some() && v.node.property("reg").map(|p| p.value.as_ptr()) == stdout_reg;
            if is_stdout {
                config.uart = Some(uart);
            } else if first_pl011.is_none() {
                first_pl011 = Some(uart);
            }
        }
        if config.gic.is_none() && v.is_enabled() {
            if v.is_compatible(&["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a9-gic", "arm,gic-v2"]) {
                if let (Some(d), Some(c)) = (v.reg(0), v.reg(1)) {
                    config.gic = Some(Gic::V2 { distributor: d.start, cpu_interface: c.start });
                }
            } else if v.is_compatible(&["arm,gic-v3"])
                && let (Some(d), Some(r)) = (v.reg(0), v.reg(1))
            {
                config.gic = Some(Gic::V3 { distributor: d.start, redistributors: r });
            }
        }
        if v.is_compatible(&["arm,armv8-timer", "arm,armv7-timer"])
            && let (Some(s), Some(ns), Some(virt), Some(hyp)) =
                (v.gic_interrupt(0), v.gic_interrupt(1), v.gic_interrupt(2), v.gic_interrupt(3))
        {
            config.timer =
                Some(TimerIrqs { secure_physical: s, nonsecure_physical: ns, virtual_timer: virt, hypervisor: hyp });
        }
        if v.node.compatible().is_some_and(|c| c.all().any(|s| s.starts_with("arm,psci"))) {
            config.psci = match v.node.property("method").and_then(|p| p.as_str()) {
                Some("hvc") => Some(PsciConduit::Hvc),
                Some("smc") => Some(PsciConduit::Smc),
                _ => None,
            };
        }
    });

    // `/reserved-memory` children are firmware reservations, like `/memreserve/`.
    if let Some(reserved) = fdt.find_node("/reserved-memory") {
        let own = cell_sizes(reserved);
        let identity = [Ranges::IDENTITY];
        for child in reserved.children() {
            let v = Visit { node: child, parent_cells: own, path: &identity };
            if let Some(r) = v.reg(0) {
                overflow |= config.reserved.insert(r).is_err();
            }
        }
    }

    if config.uart.is_none() {
        config.uart = first_pl011;
    }
    if overflow {
        return Err(ProbeError::TooManyRegions);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn qemu_virt_gicv2_128m() {
        let dtb = fixture("virt-gicv2-128m.dtb");
        let board = probe(&dtb).unwrap();
        assert_eq!(board.model, "linux,dummy-virt");
        assert_eq!(board.memory.as_slice(), &[Region::new(0x4000_0000, 0x4800_0000)]);
        assert!(board.reserved.is_empty());
        assert_eq!(board.uart, Some(Uart { base: 0x0900_0000, intid: Some(33) }));
        assert_eq!(board.gic, Some(Gic::V2 { distributor: 0x0800_0000, cpu_interface: 0x0801_0000 }));
        assert_eq!(
            board.timer,
            Some(TimerIrqs { secure_physical: 29, nonsecure_physical: 30, virtual_timer: 27, hypervisor: 26 })
        );
        assert_eq!(board.cpu_count, 1);
        assert_eq!(board.psci, Some(PsciConduit::Hvc));
    }

    #[test]
    fn qemu_virt_gicv3_1g() {
        let dtb = fixture("virt-gicv3-1g.dtb");
        let board = probe(&dtb).unwrap();
        assert_eq!(board.memory.as_slice(), &[Region::new(0x4000_0000, 0x8000_0000)]);
        assert_eq!(
            board.gic,
            Some(Gic::V3 { distributor: 0x0800_0000, redistributors: Region::with_size(0x080a_0000, 0xf6_0000) })
        );
        assert_eq!(board.gic.map(|g| g.version()), Some(3));
    }

    #[test]
    fn qemu_virt_with_el2_uses_smc() {
        let dtb = fixture("virt-el2-gicv2-1g.dtb");
        let board = probe(&dtb).unwrap();
        assert_eq!(board.psci, Some(PsciConduit::Smc));
        assert_eq!(board.memory.total_size(), 1 << 30);
    }

    #[test]
    fn raspberry_pi_4_translates_soc_ranges() {
        let dtb = fixture("bcm2711-rpi-4-b.dtb");
        let board = probe(&dtb).unwrap();
        assert_eq!(board.model, "Raspberry Pi 4 Model B");
        // The firmware fills in RAM; Debian's DTB carries a zero-sized memory node.
        assert!(board.memory.is_empty());
        assert_eq!(board.reserved.as_slice(), &[Region::new(0, 0x1000)], "spin table page");
        // UART0 at bus 0x7e201000 is 0xfe201000 for the CPU; stdout-path names the mini UART.
        assert_eq!(board.uart, Some(Uart { base: 0xfe20_1000, intid: Some(32 + 121) }));
        assert_eq!(board.gic, Some(Gic::V2 { distributor: 0xff84_1000, cpu_interface: 0xff84_2000 }));
        assert_eq!(board.timer.map(|t| t.nonsecure_physical), Some(30));
        assert_eq!(board.cpu_count, 4);
        assert_eq!(board.cpu_enable_method, Some("spin-table"));
        assert_eq!(board.psci, None);
    }

    #[test]
    fn raspberry_pi_4_as_qemu_patches_it() {
        let mut dtb = fixture("raspi4b-qemu-patched.dtb");
        let size = crate::dtb_edit::remove_nops(&mut dtb).unwrap();
        let board = probe(&dtb[..size]).unwrap();
        assert_eq!(board.memory.as_slice(), &[Region::new(0, 0x3c00_0000)]);
        assert_eq!(board.uart.map(|u| u.base), Some(0xfe20_1000));
    }

    #[test]
    fn free_memory_subtracts_reservations_and_used_ranges() {
        let dtb = fixture("virt-gicv2-128m.dtb");
        let board = probe(&dtb).unwrap();
        let kernel = Region::new(0x4100_0000, 0x4103_1000);
        let dtb_copy = Region::new(0x4103_1000, 0x4103_2d9e);
        let free = board.free_memory(&[kernel, dtb_copy, Region::default()]).unwrap();
        assert_eq!(free.as_slice(), &[Region::new(0x4000_0000, 0x4100_0000), Region::new(0x4103_3000, 0x4800_0000)]);
        let devices = board.kernel_device_regions();
        assert_eq!(devices[0], Region::new(0x0900_0000, 0x0900_1000));
    }

    #[test]
    fn garbage_is_not_a_device_tree() {
        assert_eq!(probe(&[0u8; 64]).err(), Some(ProbeError::NotADeviceTree));
        assert_eq!(probe(&[]).err(), Some(ProbeError::NotADeviceTree));
    }
}
