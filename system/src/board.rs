//! The boards a system description can target, and the device-tree facts the checker needs.
//!
//! This module owns reading a board's device tree into owned [`DeviceNode`]s: every node with a
//! `compatible` or a CPU-reachable `reg`, its `reg` entries translated through every ancestor's
//! `ranges` into CPU physical addresses (as `hmk_platform::board` does for the kernel), and its
//! interrupts as GIC INTIDs. It adds what the tree does not say: the RAM window the board can
//! have, the number of interrupt lines its GIC implements, and which frames and interrupts the
//! kernel keeps for itself (the GIC and the kernel timer).

use hmk_platform::board::{read_cells, read_u32};
use hmk_platform::region::Region;

/// One of the boards hmk runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoardName {
    /// QEMU `virt` (checked against its GICv2, 128 MiB tree).
    Virt,
    /// Raspberry Pi 4 Model B (checked against Debian's `bcm2711-rpi-4-b.dtb`).
    Rpi4,
}

impl BoardName {
    pub const ALL: [BoardName; 2] = [BoardName::Virt, BoardName::Rpi4];

    pub fn parse(name: &str) -> Option<BoardName> {
        match name {
            "virt" => Some(BoardName::Virt),
            "rpi4" => Some(BoardName::Rpi4),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BoardName::Virt => "virt",
            BoardName::Rpi4 => "rpi4",
        }
    }

    /// The device tree the checker resolves devices against (a fixture in `tests/fixtures/`).
    pub fn fixture_name(self) -> &'static str {
        match self {
            BoardName::Virt => "virt-gicv2-128m.dtb",
            BoardName::Rpi4 => "bcm2711-rpi-4-b.dtb",
        }
    }

    fn fixture(self) -> &'static [u8] {
        match self {
            BoardName::Virt => include_bytes!("../../tests/fixtures/virt-gicv2-128m.dtb"),
            BoardName::Rpi4 => include_bytes!("../../tests/fixtures/bcm2711-rpi-4-b.dtb"),
        }
    }

    /// Interrupt lines the board's GIC distributor implements (INTIDs `0..lines`): QEMU virt's
    /// GIC has 256 SPIs, the BCM2711's GIC-400 192; both add the 32 SGIs and PPIs.
    pub fn gic_lines(self) -> u32 {
        match self {
            BoardName::Virt => 32 + 256,
            BoardName::Rpi4 => 32 + 192,
        }
    }

    /// Every address RAM can occupy on the board, whatever the amount fitted: QEMU virt puts up
    /// to 255 GiB at 1 GiB; the Pi 4 has RAM below its peripherals (at 0xfc00_0000) and, on
    /// the larger models, from 4 GiB up to 8 GiB. The firmware fills in the Pi 4's memory node,
    /// so its tree alone does not say.
    fn ram_window(self) -> &'static [Region] {
        const VIRT: [Region; 1] = [Region::new(0x4000_0000, 0x40_0000_0000)];
        const RPI4: [Region; 2] = [Region::new(0, 0xfc00_0000), Region::new(0x1_0000_0000, 0x2_0000_0000)];
        match self {
            BoardName::Virt => &VIRT,
            BoardName::Rpi4 => &RPI4,
        }
    }
}

impl core::fmt::Display for BoardName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device-tree node a module may claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceNode {
    /// Full path, e.g. `/soc/serial@7e201000`.
    pub path: String,
    /// `compatible` strings, most specific first.
    pub compatible: Vec<String>,
    /// `reg` entries as CPU physical regions (entries that do not reach the CPU are left out).
    pub regions: Vec<Region>,
    /// GIC INTIDs of `interrupts` / `interrupts-extended` entries that go to the GIC.
    pub interrupts: Vec<u32>,
    /// Those of them that `interrupt-names` names: `(name, INTID)`.
    pub named_interrupts: Vec<(String, u32)>,
    /// `status` is absent, `"okay"` or `"ok"`.
    pub enabled: bool,
}

impl DeviceNode {
    /// The node's own name with its unit address, e.g. `serial@7e201000`.
    pub fn node_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The node name without its unit address, e.g. `serial`.
    pub fn base_name(&self) -> &str {
        self.node_name().split('@').next().unwrap_or_default()
    }

    pub fn is_compatible(&self, with: &str) -> bool {
        self.compatible.iter().any(|c| c == with)
    }
}

/// Why a board's device tree could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardError(pub String);

impl core::fmt::Display for BoardError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the checker knows about a board.
#[derive(Clone, Debug)]
pub struct Board {
    pub name: BoardName,
    /// Root `model` of the tree.
    pub model: String,
    /// Device nodes in tree order (depth first).
    pub devices: Vec<DeviceNode>,
    /// `/aliases` entries: alias to node path.
    pub aliases: Vec<(String, String)>,
    /// `/__symbols__` entries (source labels, when the tree was built with `-@`): label to path.
    pub labels: Vec<(String, String)>,
    /// RAM: the tree's memory nodes and the board's RAM window.
    pub ram: Vec<Region>,
    /// Interrupt lines the GIC implements (INTIDs `0..gic_lines`).
    pub gic_lines: u32,
    /// The INTID of the kernel's tick (the non-secure physical timer, PPI 14).
    pub kernel_timer_intid: u32,
    /// Frames the kernel keeps: every `reg` entry of the GIC node.
    pub kernel_regions: Vec<Region>,
}

impl Board {
    /// The board as its fixture device tree describes it.
    pub fn load(name: BoardName) -> Result<Board, BoardError> {
        Board::from_dtb(name, name.fixture())
    }

    /// The board `name` as the device tree `dtb` describes it.
    pub fn from_dtb(name: BoardName, dtb: &[u8]) -> Result<Board, BoardError> {
        let probed = hmk_platform::board::probe(dtb)
            .map_err(|e| BoardError(format!("{}: not a usable device tree ({e:?})", name.fixture_name())))?;
        let fdt = fdt::Fdt::new(dtb).map_err(|e| BoardError(format!("{}: {e:?}", name.fixture_name())))?;
        let root = fdt.find_node("/").ok_or_else(|| BoardError(format!("{}: no root node", name.fixture_name())))?;

        let mut walker = Walker::default();
        walker.collect_controllers(root);
        let top = Context {
            address_cells: read_u32(root, "#address-cells").map_or(2, |v| v as usize),
            size_cells: read_u32(root, "#size-cells").map_or(1, |v| v as usize),
            ranges: Vec::new(),
            interrupt_parent: read_u32(root, "interrupt-parent"),
        };
        walker.visit_children(root, "", &top);

        let mut ram: Vec<Region> = probed.memory.as_slice().iter().copied().filter(|r| !r.is_empty()).collect();
        ram.extend(name.ram_window().iter().copied());

        let gic = walker.devices.iter().find(|d| Some(d.path.as_str()) == walker.gic_path.as_deref());
        let kernel_regions = gic.map(|g| g.regions.clone()).unwrap_or_default();
        let kernel_timer_intid = probed.timer.map_or(30, |t| t.nonsecure_physical);

        Ok(Board {
            name,
            model: probed.model.to_string(),
            devices: walker.devices,
            aliases: string_properties(fdt.find_node("/aliases")),
            labels: string_properties(fdt.find_node("/__symbols__")),
            ram,
            gic_lines: name.gic_lines(),
            kernel_timer_intid,
            kernel_regions,
        })
    }

    /// The device at `path`.
    pub fn device_at(&self, path: &str) -> Option<&DeviceNode> {
        self.devices.iter().find(|d| d.path == path)
    }

    /// The device node whose `reg` (rounded out to 4 KiB pages) covers all of `region`.
    pub fn device_covering(&self, region: Region) -> Option<(&DeviceNode, Region)> {
        self.devices.iter().find_map(|d| {
            d.regions
                .iter()
                .find(|r| {
                    let pages = r.align_outward(PAGE_SIZE);
                    pages.start <= region.start && region.end <= pages.end
                })
                .map(|r| (d, *r))
        })
    }

    /// RAM that `region` overlaps, if any.
    pub fn ram_overlapping(&self, region: Region) -> Option<Region> {
        self.ram.iter().copied().find(|r| r.overlaps(&region))
    }
}

/// Devices are mapped in 4 KiB frames.
pub const PAGE_SIZE: u64 = 4096;

/// The string properties of `node` as `(name, value)` pairs.
fn string_properties(node: Option<fdt::node::FdtNode>) -> Vec<(String, String)> {
    let Some(node) = node else { return Vec::new() };
    node.properties()
        .filter_map(|p| Some((p.name.to_string(), p.as_str()?.to_string())))
        .filter(|(name, _)| name != "phandle" && name != "name")
        .collect()
}

fn cells_u32(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// One bus's address translation from its children's addresses to its parent's.
#[derive(Clone, Debug)]
enum Ranges {
    /// No `ranges` property: child addresses do not reach the CPU.
    Opaque,
    /// An empty `ranges`.
    Identity,
    /// `(child base, parent base, size)` windows.
    Windows(Vec<(u64, u64, u64)>),
}

impl Ranges {
    fn translate(&self, address: u64) -> Option<u64> {
        match self {
            Ranges::Opaque => None,
            Ranges::Identity => Some(address),
            Ranges::Windows(windows) => windows
                .iter()
                .find(|(child, _, size)| address >= *child && address - child < *size)
                .map(|(child, parent, _)| address - child + parent),
        }
    }
}

/// What a node inherits from its ancestors.
#[derive(Clone, Debug)]
struct Context {
    /// `#address-cells` and `#size-cells` of the node's parent.
    address_cells: usize,
    size_cells: usize,
    /// Translations from the parent up to the root, innermost first.
    ranges: Vec<Ranges>,
    /// The nearest `interrupt-parent` phandle above the node.
    interrupt_parent: Option<u32>,
}

/// An interrupt controller: its `#interrupt-cells` and whether it is the GIC.
#[derive(Clone, Copy, Debug)]
struct Controller {
    phandle: u32,
    interrupt_cells: usize,
    is_gic: bool,
}

const GIC_COMPATIBLES: [&str; 5] =
    ["arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a9-gic", "arm,gic-v2", "arm,gic-v3"];

#[derive(Default)]
struct Walker {
    controllers: Vec<Controller>,
    gic_path: Option<String>,
    devices: Vec<DeviceNode>,
}

impl Walker {
    /// Finds every interrupt controller (a node with a phandle and `#interrupt-cells`).
    fn collect_controllers(&mut self, node: fdt::node::FdtNode) {
        for child in node.children() {
            if let (Some(phandle), Some(cells)) = (read_u32(child, "phandle"), read_u32(child, "#interrupt-cells")) {
                let is_gic = child.compatible().is_some_and(|c| c.all().any(|s| GIC_COMPATIBLES.contains(&s)));
                self.controllers.push(Controller { phandle, interrupt_cells: cells as usize, is_gic });
            }
            self.collect_controllers(child);
        }
    }

    fn controller(&self, phandle: u32) -> Option<Controller> {
        self.controllers.iter().copied().find(|c| c.phandle == phandle)
    }

    fn visit_children(&mut self, node: fdt::node::FdtNode, path: &str, context: &Context) {
        for child in node.children() {
            let child_path = format!("{path}/{}", child.name);
            self.visit(child, &child_path, context);
            let mut inner = context.clone();
            inner.address_cells = read_u32(child, "#address-cells").map_or(2, |v| v as usize);
            inner.size_cells = read_u32(child, "#size-cells").map_or(1, |v| v as usize);
            inner.ranges.insert(0, parse_ranges(child, inner.address_cells, context.address_cells, inner.size_cells));
            if let Some(parent) = read_u32(child, "interrupt-parent") {
                inner.interrupt_parent = Some(parent);
            }
            self.visit_children(child, &child_path, &inner);
        }
    }

    fn visit(&mut self, node: fdt::node::FdtNode, path: &str, context: &Context) {
        let device_type = node.property("device_type").and_then(|p| p.as_str());
        if matches!(device_type, Some("memory") | Some("cpu")) || path.starts_with("/reserved-memory/") {
            return;
        }
        let compatible: Vec<String> =
            node.compatible().map(|c| c.all().map(str::to_string).collect()).unwrap_or_default();
        let regions = self.regions(node, context);
        if compatible.is_empty() && regions.is_empty() {
            return;
        }
        let is_gic = compatible.iter().any(|c| GIC_COMPATIBLES.contains(&c.as_str()))
            && node.property("interrupt-controller").is_some();
        if is_gic && self.gic_path.is_none() {
            self.gic_path = Some(path.to_string());
        }
        let enabled = node.property("status").and_then(|p| p.as_str()).is_none_or(|s| s == "okay" || s == "ok");
        let interrupt_parent = read_u32(node, "interrupt-parent").or(context.interrupt_parent);
        let entries = self.interrupts(node, interrupt_parent);
        let names: Vec<&str> = node
            .property("interrupt-names")
            .map(|p| p.value.split(|&b| b == 0).filter_map(|n| std::str::from_utf8(n).ok()).collect())
            .unwrap_or_default();
        let interrupts = entries.iter().map(|&(_, intid)| intid).collect();
        let named_interrupts =
            entries.iter().filter_map(|&(k, intid)| Some((names.get(k)?.to_string(), intid))).collect();
        let device = DeviceNode { path: path.to_string(), compatible, regions, interrupts, named_interrupts, enabled };
        self.devices.push(device);
    }

    fn regions(&self, node: fdt::node::FdtNode, context: &Context) -> Vec<Region> {
        let Some(reg) = node.property("reg") else { return Vec::new() };
        if context.size_cells == 0 {
            return Vec::new();
        }
        let mut bytes = reg.value;
        let mut regions = Vec::new();
        while !bytes.is_empty() {
            let (Some(address), Some(size)) =
                (read_cells(&mut bytes, context.address_cells), read_cells(&mut bytes, context.size_cells))
            else {
                break;
            };
            let cpu = context.ranges.iter().try_fold(address, |a, r| r.translate(a));
            if let Some(cpu) = cpu
                && size > 0
            {
                regions.push(Region::with_size(cpu, size));
            }
        }
        regions
    }

    /// GIC INTIDs of the node's `interrupts` (through its interrupt parent) and
    /// `interrupts-extended` entries, each with its entry's index (what `interrupt-names`
    /// counts); entries for other controllers are skipped.
    fn interrupts(&self, node: fdt::node::FdtNode, interrupt_parent: Option<u32>) -> Vec<(usize, u32)> {
        let mut intids = Vec::new();
        if let Some(prop) = node.property("interrupts")
            && let Some(parent) = interrupt_parent.and_then(|p| self.controller(p))
            && parent.is_gic
        {
            let cells = cells_u32(prop.value);
            let entries = cells.chunks_exact(parent.interrupt_cells.max(1)).enumerate();
            intids.extend(entries.filter_map(|(k, specifier)| Some((k, gic_intid(specifier)?))));
        }
        if let Some(prop) = node.property("interrupts-extended") {
            let cells = cells_u32(prop.value);
            let mut at = 0;
            let mut entry = 0;
            while let Some(controller) = cells.get(at).and_then(|p| self.controller(*p)) {
                let specifier = cells.get(at + 1..at + 1 + controller.interrupt_cells).unwrap_or_default();
                if controller.is_gic
                    && let Some(intid) = gic_intid(specifier)
                {
                    intids.push((entry, intid));
                }
                at += 1 + controller.interrupt_cells;
                entry += 1;
            }
        }
        intids
    }
}

/// A GIC interrupt specifier `<type number flags>` as an INTID: SPI n is 32 + n, PPI n 16 + n.
fn gic_intid(specifier: &[u32]) -> Option<u32> {
    match specifier {
        [0, number, ..] => Some(32 + number),
        [1, number, ..] => Some(16 + number),
        _ => None,
    }
}

fn parse_ranges(node: fdt::node::FdtNode, own_address: usize, parent_address: usize, own_size: usize) -> Ranges {
    let Some(prop) = node.property("ranges") else { return Ranges::Opaque };
    if prop.value.is_empty() {
        return Ranges::Identity;
    }
    let mut bytes = prop.value;
    let mut windows = Vec::new();
    while !bytes.is_empty() {
        let (Some(child), Some(parent), Some(size)) = (
            read_cells(&mut bytes, own_address),
            read_cells(&mut bytes, parent_address),
            read_cells(&mut bytes, own_size),
        ) else {
            break;
        };
        windows.push((child, parent, size));
    }
    Ranges::Windows(windows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virt_uart_gic_and_timer() {
        let board = Board::load(BoardName::Virt).expect("virt fixture");
        let uart = board.devices.iter().find(|d| d.is_compatible("arm,pl011")).expect("a PL011");
        assert_eq!(uart.path, "/pl011@9000000");
        assert_eq!(uart.regions, vec![Region::with_size(0x0900_0000, 0x1000)]);
        assert_eq!(uart.interrupts, vec![33]);
        assert_eq!(board.kernel_timer_intid, 30);
        assert_eq!(board.kernel_regions.first(), Some(&Region::with_size(0x0800_0000, 0x1_0000)));
        assert!(board.devices.iter().all(|d| d.path != "/memory@40000000"));
    }

    #[test]
    fn rpi4_uart_through_soc_ranges() {
        let board = Board::load(BoardName::Rpi4).expect("rpi4 fixture");
        let uart = board.devices.iter().find(|d| d.is_compatible("arm,pl011")).expect("a PL011");
        assert_eq!(uart.path, "/soc/serial@7e201000");
        assert_eq!(uart.regions, vec![Region::with_size(0xfe20_1000, 0x200)]);
        assert_eq!(uart.interrupts, vec![153]);
        assert!(uart.enabled);
        assert!(board.aliases.iter().any(|(alias, path)| alias == "serial0" && path == "/soc/serial@7e201000"));
        assert_eq!(board.kernel_regions.first(), Some(&Region::with_size(0xff84_1000, 0x1000)));
    }
}
