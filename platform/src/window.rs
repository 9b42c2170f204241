//! Builds 4-level translation tables (4 KiB granule) in a caller-supplied arena of tables.
//!
//! Used by the loader (identity map and the kernel window, MMU off so virtual = physical) and
//! by the kernel (its own window of all RAM and its devices, tables in its BSS). The arena knows
//! the constant difference between the addresses it is reached at and the physical addresses the
//! hardware walker uses, so it needs no unsafe code: tables are found again by index.

use crate::pte::{self, LeafAttrs};
use crate::region::Region;

/// One translation table: 512 descriptors, 4 KiB aligned.
#[derive(Clone, Copy)]
#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

impl Table {
    pub const EMPTY: Table = Table([0; 512]);
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// Every table in the arena is in use.
    OutOfTables,
    /// Address or size not a multiple of 4 KiB.
    Misaligned,
    /// Part of the range is already mapped differently.
    Overlap { va: u64 },
}

/// A root table and the tables below it, carved from one slice.
pub struct TableArena<'a> {
    tables: &'a mut [Table],
    used: usize,
    /// Physical address of `tables[0]`.
    base_pa: u64,
}

impl<'a> TableArena<'a> {
    /// `base_pa` is the physical address at which the hardware sees `tables[0]`.
    /// Table 0 becomes the root (level 0) table. All tables are cleared.
    pub fn new(tables: &'a mut [Table], base_pa: u64) -> Self {
        tables.iter_mut().for_each(|t| *t = Table::EMPTY);
        Self { tables, used: 1, base_pa }
    }

    /// Physical address of the root table, for TTBR0/TTBR1.
    pub fn root_pa(&self) -> u64 {
        self.base_pa
    }

    /// Number of tables in use, root included.
    pub fn tables_used(&self) -> usize {
        self.used
    }

    fn table_pa(&self, index: usize) -> u64 {
        self.base_pa + (index as u64) * 4096
    }

    fn table_index(&self, pa: u64) -> usize {
        ((pa - self.base_pa) / 4096) as usize
    }

    fn allocate(&mut self) -> Result<usize, MapError> {
        if self.used == self.tables.len() {
            return Err(MapError::OutOfTables);
        }
        self.used += 1;
        Ok(self.used - 1)
    }

    /// Maps `[va, va + size)` onto `[pa, pa + size)` with the largest blocks alignment allows.
    /// Mapping a range again with the same output and attributes is allowed.
    pub fn map(&mut self, va: u64, pa: u64, size: u64, attrs: LeafAttrs) -> Result<(), MapError> {
        if (va | pa | size) & 0xfff != 0 {
            return Err(MapError::Misaligned);
        }
        let mut offset = 0;
        while offset < size {
            let (v, p, remaining) = (va + offset, pa + offset, size - offset);
            let level = (1..=3)
                .find(|&level| {
                    let block = pte::level_size(level);
                    (v | p) % block == 0 && remaining >= block
                })
                .unwrap_or(3);
            self.map_one(v, p, level, attrs)?;
            offset += pte::level_size(level);
        }
        Ok(())
    }

    fn map_one(&mut self, va: u64, pa: u64, leaf_level: usize, attrs: LeafAttrs) -> Result<(), MapError> {
        let mut table = 0;
        for level in 0..leaf_level {
            let index = pte::level_index(va, level);
            let entry = self.tables[table].0[index];
            table = if entry == 0 {
                let next = self.allocate()?;
                self.tables[table].0[index] = pte::table_descriptor(self.table_pa(next));
                next
            } else if pte::is_table(entry, level) {
                self.table_index(pte::output_address(entry))
            } else {
                return Err(MapError::Overlap { va });
            };
        }
        let leaf = if leaf_level == 3 { pte::page_descriptor(pa, attrs) } else { pte::block_descriptor(pa, attrs) };
        let slot = &mut self.tables[table].0[pte::level_index(va, leaf_level)];
        if *slot != 0 && *slot != leaf {
            return Err(MapError::Overlap { va });
        }
        *slot = leaf;
        Ok(())
    }

    /// Walks the tables for `va`: the leaf descriptor and the physical address it maps `va` to.
    pub fn translate(&self, va: u64) -> Option<(u64, u64)> {
        let mut table = 0;
        for level in 0..=3 {
            let entry = self.tables[table].0[pte::level_index(va, level)];
            if entry & pte::VALID == 0 {
                return None;
            }
            if pte::is_table(entry, level) {
                table = self.table_index(pte::output_address(entry));
                continue;
            }
            let size = pte::level_size(level);
            return Some((entry, pte::output_address(entry) & !(size - 1) | (va & (size - 1))));
        }
        None
    }
}

/// Maps the kernel's window: every RAM region as kernel RAM and every device region as kernel
/// device memory, each at `window_base + physical address`. Regions are widened to whole pages.
pub fn map_window(
    arena: &mut TableArena,
    window_base: u64,
    ram: &[Region],
    devices: &[Region],
) -> Result<(), MapError> {
    for (regions, attrs) in [(ram, LeafAttrs::KERNEL_RAM), (devices, LeafAttrs::KERNEL_DEVICE)] {
        for region in regions {
            let r = region.align_outward(4096);
            if !r.is_empty() {
                arena.map(window_base + r.start, r.start, r.size(), attrs)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PPTR_BASE;

    fn arena(tables: &mut [Table]) -> TableArena<'_> {
        TableArena::new(tables, 0x4010_0000)
    }

    #[test]
    fn gib_aligned_ram_uses_one_gib_blocks() {
        let mut tables = vec![Table::EMPTY; 4];
        let mut a = arena(&mut tables);
        a.map(PPTR_BASE + 0x4000_0000, 0x4000_0000, 1 << 30, LeafAttrs::KERNEL_RAM).unwrap();
        assert_eq!(a.tables_used(), 2, "root plus one level-1 table");
        let (leaf, pa) = a.translate(PPTR_BASE + 0x4123_4567).unwrap();
        assert_eq!(pa, 0x4123_4567);
        assert_eq!(leaf, pte::block_descriptor(0x4000_0000, LeafAttrs::KERNEL_RAM));
        assert_eq!(a.translate(PPTR_BASE + 0x8000_0000), None);
    }

    #[test]
    fn small_ram_uses_two_mib_blocks_and_devices_use_pages() {
        let mut tables = vec![Table::EMPTY; 8];
        let mut a = arena(&mut tables);
        let ram = [Region::new(0x4000_0000, 0x4800_0000)];
        let devices = [Region::new(0x0800_0000, 0x0802_0000), Region::with_size(0x0900_0000, 0x1000)];
        map_window(&mut a, PPTR_BASE, &ram, &devices).unwrap();
        // root, L1, L2 for RAM, L2 + two L3 for devices.
        assert_eq!(a.tables_used(), 6);
        let (leaf, pa) = a.translate(PPTR_BASE + 0x47ff_fff8).unwrap();
        assert_eq!(pa, 0x47ff_fff8);
        assert_eq!(leaf & 0b11, 0b01, "2 MiB block");
        let (leaf, pa) = a.translate(PPTR_BASE + 0x0900_0018).unwrap();
        assert_eq!(pa, 0x0900_0018);
        assert_eq!(leaf, pte::page_descriptor(0x0900_0000, LeafAttrs::KERNEL_DEVICE));
        assert_eq!(a.translate(PPTR_BASE + 0x0900_1000), None);
        assert!(a.translate(PPTR_BASE + 0x0801_f000).is_some());
        assert_eq!(a.translate(PPTR_BASE + 0x0802_0000), None);
    }

    #[test]
    fn identity_and_errors() {
        let mut tables = vec![Table::EMPTY; 3];
        let mut a = arena(&mut tables);
        assert_eq!(a.map(0x1000, 0x1001, 0x1000, LeafAttrs::KERNEL_RAM), Err(MapError::Misaligned));
        a.map(0, 0, 1 << 30, LeafAttrs::KERNEL_DEVICE).unwrap();
        // Same mapping again is fine; a different one over it is an overlap.
        a.map(0, 0, 1 << 30, LeafAttrs::KERNEL_DEVICE).unwrap();
        assert_eq!(
            a.map(0x20_0000, 0x20_0000, 0x20_0000, LeafAttrs::KERNEL_RAM),
            Err(MapError::Overlap { va: 0x20_0000 })
        );
        // Needing more tables than the arena holds fails cleanly.
        assert_eq!(a.map(1 << 39, 0, 0x1000, LeafAttrs::KERNEL_RAM), Err(MapError::OutOfTables));
    }
}
