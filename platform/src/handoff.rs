//! seL4's elfloader handoff on AArch64: where the kernel, the device tree and the root task go,
//! what the two translation regimes map and how, when the kernel's first instruction runs.
//!
//! These are the facts of seL4_tools' `elfloader-tool` (AArch64, EL1, one core), read from its
//! sources (`src/common.c` `load_images`/`load_elf`, `src/arch-arm/64/mmu.c`,
//! `src/arch-arm/armv/armv8-a/64/mmu.S`, `src/arch-arm/sys_boot.c`); the code is hmk's own.
//! hmk's loader builds exactly this state (docs/abi.md, "Boot handoff") and the kernel relies
//! on nothing more, so a kernel booted by seL4's elfloader starts the same way.
//!
//! - The kernel ELF goes at its lowest `p_paddr`; each segment at that address plus its
//!   `p_vaddr` offset from the lowest `p_vaddr`, so every segment keeps `p_vaddr - p_paddr`
//!   constant. The whole span up to the page after the highest `p_vaddr + p_memsz` is zeroed.
//! - The device tree is copied unchanged to the page after the kernel's physical end; `x5` is
//!   its header's `totalsize`.
//! - The root task goes at the page after the device tree's end, laid out by virtual address;
//!   the page after it holds its program headers (`phnum` u32, `phentsize` u32, the headers),
//!   outside `[x0, x1)`.
//! - TTBR1 maps, with 2 MiB blocks, the kernel's first virtual address (rounded down to 2 MiB)
//!   up to the end of its 1 GiB region, onto the kernel's physical start. TTBR0 identity-maps
//!   the loader's own image with 2 MiB blocks. Blocks are Normal write-back (MAIR index 4),
//!   access flag set, EL1 read-write, executable, global, non-shareable (one core).
//! - TCR_EL1: 48-bit addresses in both halves, 4 KiB granules, write-back write-allocate table
//!   walks, non-shareable walks (one core), 16-bit ASIDs, IPS from `ID_AA64MMFR0_EL1.PARange`.
//! - Registers: x0 user image physical start, x1 its end, x2 physical minus virtual, x3 its
//!   entry, x4 the device tree's physical address, x5 its size; SP is the loader's stack
//!   (identity-mapped), VBAR_EL1 the loader's vectors.

use crate::pte::{self, MemAttr};
use crate::region::{Region, align_down, align_up_saturating};
use crate::window::Table;

pub const PAGE: u64 = 1 << 12;
pub const TWO_MIB: u64 = 1 << 21;
pub const ONE_GIB: u64 = 1 << 30;

/// A block descriptor's attributes as the elfloader writes them: valid block, MAIR index 4
/// (Normal write-back), access flag. Nothing else: non-shareable, EL1 read-write, executable at
/// every level, global.
pub const BLOCK_ATTRIBUTES: u64 =
    pte::VALID | ((MemAttr::NormalWriteBack as u64) << pte::ATTR_INDEX_SHIFT) | pte::ACCESS_FLAG;

/// Why the elfloader's layout cannot hold an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandoffError {
    /// The range crosses a 1 GiB boundary: the elfloader maps one 1 GiB region only.
    CrossesGigabyte,
    /// A start address is not aligned as the 2 MiB block mapping needs.
    Misaligned,
    /// An identity-mapped image above 512 GiB (the elfloader uses level-0 entry 0 only).
    TooHigh,
}

/// A run of 2 MiB blocks inside one 1 GiB region: virtual `va` onward maps onto physical `pa`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockMap {
    /// First block's virtual address (2 MiB aligned).
    pub va: u64,
    /// First block's physical address (2 MiB aligned).
    pub pa: u64,
    /// Number of 2 MiB blocks.
    pub blocks: u64,
}

impl BlockMap {
    /// The virtual range covered.
    pub fn virtual_range(&self) -> Region {
        Region::with_size(self.va, self.blocks * TWO_MIB)
    }

    /// The physical address `va` maps to, if it is covered.
    pub fn translate(&self, va: u64) -> Option<u64> {
        self.virtual_range().contains(va).then(|| self.pa + (va - self.va))
    }
}

/// TTBR1's mapping for a kernel whose image spans `virt` (lowest `p_vaddr` up to the page after
/// the highest end) and starts at physical `phys_start`: from the 2 MiB block holding the
/// image's start to the end of its 1 GiB region.
pub fn kernel_map(virt: Region, phys_start: u64) -> Result<BlockMap, HandoffError> {
    if virt.start / ONE_GIB != virt.end / ONE_GIB {
        return Err(HandoffError::CrossesGigabyte);
    }
    if !phys_start.is_multiple_of(TWO_MIB) || virt.start % TWO_MIB != phys_start % TWO_MIB {
        return Err(HandoffError::Misaligned);
    }
    let va = align_down(virt.start, TWO_MIB);
    let blocks = 512 - pte::level_index(va, 2) as u64;
    Ok(BlockMap { va, pa: phys_start, blocks })
}

/// TTBR0's identity mapping of the loader's image `image`: the 2 MiB blocks from the one
/// holding its start to the one holding its end address.
pub fn identity_map(image: Region) -> Result<BlockMap, HandoffError> {
    if image.start / ONE_GIB != image.end / ONE_GIB {
        return Err(HandoffError::CrossesGigabyte);
    }
    if image.end >= 1 << 39 {
        return Err(HandoffError::TooHigh);
    }
    let va = align_down(image.start, TWO_MIB);
    let blocks = (pte::level_index(image.end, 2) - pte::level_index(va, 2)) as u64 + 1;
    Ok(BlockMap { va, pa: va, blocks })
}

/// Writes `map` into three tables (levels 0, 1 and 2, in that order) the hardware finds at
/// physical `tables_pa` onward; returns the root's physical address, for TTBR0 or TTBR1.
pub fn write_tables(map: &BlockMap, tables: &mut [Table; 3], tables_pa: u64) -> u64 {
    tables.iter_mut().for_each(|t| *t = Table::EMPTY);
    let [level0, level1, level2] = tables;
    level0.0[pte::level_index(map.va, 0)] = pte::table_descriptor(tables_pa + PAGE);
    level1.0[pte::level_index(map.va, 1)] = pte::table_descriptor(tables_pa + 2 * PAGE);
    let first = pte::level_index(map.va, 2);
    for block in 0..map.blocks {
        level2.0[first + block as usize] = (map.pa + block * TWO_MIB) | BLOCK_ATTRIBUTES;
    }
    tables_pa
}

/// TCR_EL1 as the elfloader sets it on one core, for `ID_AA64MMFR0_EL1.PARange` `pa_range`.
pub const fn tcr(pa_range: u64) -> u64 {
    let t0sz = 16;
    let t1sz = 16 << 16;
    let walks_write_back = (1 << 8) | (1 << 10) | (1 << 24) | (1 << 26);
    let tg1_4k = 2 << 30;
    let asid16 = 1 << 36;
    t0sz | t1sz | walks_write_back | tg1_4k | asid16 | ((pa_range & 7) << 32)
}

/// Where the kernel ELF goes: `phys` from the lowest `p_paddr` to the highest
/// `p_paddr + p_memsz`, `virt` from the lowest `p_vaddr` to the page after the highest
/// `p_vaddr + p_memsz`, and the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfPlacement {
    pub phys: Region,
    pub virt: Region,
    pub entry: u64,
}

/// One `PT_LOAD` program header's addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    pub vaddr: u64,
    pub paddr: u64,
    pub memsz: u64,
}

impl ElfPlacement {
    /// The placement of an ELF with these loadable segments; `None` without any, or when an
    /// end overflows.
    pub fn new(segments: impl Iterator<Item = LoadSegment>, entry: u64) -> Option<ElfPlacement> {
        let mut phys = Region::new(u64::MAX, 0);
        let mut virt = Region::new(u64::MAX, 0);
        for segment in segments {
            phys = Region::new(phys.start.min(segment.paddr), phys.end.max(segment.paddr.checked_add(segment.memsz)?));
            virt = Region::new(virt.start.min(segment.vaddr), virt.end.max(segment.vaddr.checked_add(segment.memsz)?));
        }
        if phys.start > phys.end {
            return None;
        }
        virt.end = align_up_saturating(virt.end, PAGE);
        Some(ElfPlacement { phys, virt, entry })
    }

    /// Where a segment at virtual `vaddr` is copied: the physical start plus its offset from
    /// the lowest virtual address (not its own `p_paddr`).
    pub fn destination(&self, vaddr: u64) -> u64 {
        self.phys.start + (vaddr - self.virt.start)
    }

    /// The physical range the loader zeroes and fills: as long as the virtual span.
    pub fn loaded(&self) -> Region {
        Region::with_size(self.phys.start, self.virt.size())
    }
}

/// The device tree's physical address: the page after the kernel's physical end.
pub const fn dtb_address(kernel_phys_end: u64) -> u64 {
    align_up_saturating(kernel_phys_end, PAGE)
}

/// The root task's physical start: the page after the device tree's end.
pub const fn user_image_address(dtb_address: u64, dtb_size: u64) -> u64 {
    align_up_saturating(dtb_address + dtb_size, PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PPTR_BASE;

    #[test]
    fn kernel_window_runs_to_the_end_of_its_gigabyte() {
        let virt = Region::new(PPTR_BASE + 0x4100_0000, PPTR_BASE + 0x4103_1000);
        let map = kernel_map(virt, 0x4100_0000).unwrap();
        assert_eq!(map, BlockMap { va: PPTR_BASE + 0x4100_0000, pa: 0x4100_0000, blocks: 504 });
        assert_eq!(map.virtual_range().end, PPTR_BASE + 0x8000_0000);
        assert_eq!(map.translate(PPTR_BASE + 0x4103_2000), Some(0x4103_2000));
        assert_eq!(map.translate(PPTR_BASE + 0x8000_0000), None);
        assert_eq!(map.translate(PPTR_BASE + 0x40ff_f000), None);
        // The Pi 4: kernel at 16 MiB, the whole first GiB after it.
        let pi = kernel_map(Region::new(PPTR_BASE + 0x100_0000, PPTR_BASE + 0x103_0000), 0x100_0000).unwrap();
        assert_eq!((pi.va, pi.blocks), (PPTR_BASE + 0x100_0000, 504));
    }

    #[test]
    fn kernel_window_refusals() {
        let across = Region::new(PPTR_BASE + 0x7ff0_0000, PPTR_BASE + 0x8010_0000);
        assert_eq!(kernel_map(across, 0x7fe0_0000), Err(HandoffError::CrossesGigabyte));
        // Ending exactly at the boundary is refused too, as the elfloader compares the end.
        let to_boundary = Region::new(PPTR_BASE + 0x7ff0_0000, PPTR_BASE + 0x8000_0000);
        assert_eq!(kernel_map(to_boundary, 0x7fe0_0000), Err(HandoffError::CrossesGigabyte));
        let odd = Region::new(PPTR_BASE + 0x4100_1000, PPTR_BASE + 0x4110_0000);
        assert_eq!(kernel_map(odd, 0x4100_1000), Err(HandoffError::Misaligned));
    }

    #[test]
    fn loader_identity_map_covers_its_blocks() {
        let map = identity_map(Region::new(0x4008_0000, 0x401f_2000)).unwrap();
        assert_eq!(map, BlockMap { va: 0x4000_0000, pa: 0x4000_0000, blocks: 1 });
        let two = identity_map(Region::new(0x4008_0000, 0x4030_0000)).unwrap();
        assert_eq!(two.blocks, 2);
        // An end on a block boundary maps that block too (the elfloader's inclusive loop).
        assert_eq!(identity_map(Region::new(0x8_0000, 0x20_0000)).unwrap().blocks, 2);
        assert_eq!(identity_map(Region::new(0x3ff0_0000, 0x4001_0000)), Err(HandoffError::CrossesGigabyte));
        assert_eq!(identity_map(Region::new(1 << 39, (1 << 39) + 0x1000)), Err(HandoffError::TooHigh));
    }

    #[test]
    fn tables_hold_one_run_of_blocks() {
        let mut tables = [Table::EMPTY; 3];
        let map = BlockMap { va: PPTR_BASE + 0x4100_0000, pa: 0x4100_0000, blocks: 504 };
        let root = write_tables(&map, &mut tables, 0x4010_0000);
        assert_eq!(root, 0x4010_0000);
        assert_eq!(tables[0].0[511], 0x4010_1003);
        assert_eq!(tables[0].0.iter().filter(|&&d| d != 0).count(), 1);
        assert_eq!(tables[1].0[1], 0x4010_2003);
        assert_eq!(tables[1].0.iter().filter(|&&d| d != 0).count(), 1);
        assert_eq!(tables[2].0[7], 0);
        assert_eq!(tables[2].0[8], 0x4100_0000 | 0x411);
        assert_eq!(tables[2].0[511], (0x4100_0000 + 503 * TWO_MIB) | 0x411);
    }

    #[test]
    fn tcr_is_the_elfloaders() {
        assert_eq!(tcr(2), 0x0000_0012_8510_0510);
        assert_eq!(tcr(5), 0x0000_0015_8510_0510);
        assert_eq!(tcr(0xf), 0x0000_0017_8510_0510);
    }

    #[test]
    fn placement_follows_virtual_offsets() {
        let segments = [
            LoadSegment { vaddr: PPTR_BASE + 0x4100_0000, paddr: 0x4100_0000, memsz: 0x1_2345 },
            LoadSegment { vaddr: PPTR_BASE + 0x4101_3000, paddr: 0x4101_3000, memsz: 0x1d_0000 },
        ];
        let placement = ElfPlacement::new(segments.into_iter(), PPTR_BASE + 0x4100_0000).unwrap();
        assert_eq!(placement.phys, Region::new(0x4100_0000, 0x411e_3000));
        assert_eq!(placement.virt, Region::new(PPTR_BASE + 0x4100_0000, PPTR_BASE + 0x411e_3000));
        assert_eq!(placement.destination(PPTR_BASE + 0x4101_3000), 0x4101_3000);
        assert_eq!(placement.loaded(), Region::new(0x4100_0000, 0x411e_3000));
        assert_eq!(dtb_address(placement.phys.end), 0x411e_3000);
        assert_eq!(dtb_address(0x411e_2001), 0x411e_3000);
        assert_eq!(user_image_address(0x411e_3000, 0x1d9e), 0x411e_5000);
        assert_eq!(ElfPlacement::new(core::iter::empty(), 0), None);
    }
}
