//! User address spaces: walking and filling 4-level AArch64 translation tables that live in
//! kernel objects (VSpace roots and PageTables retyped from untyped).
//!
//! Tables are named by physical address; the walker turns one into a pointer by adding the
//! kernel window offset (on the host, in tests, the offset is 0 and "physical" addresses are
//! host addresses).

use hmk_platform::pte::{self, LeafAttrs};

/// Where a user virtual address can be mapped: below 2^48 with TTBR0.
pub const USER_TOP: u64 = 1 << 47;

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VSpaceError {
    /// No table at `level` covers the address (seL4: FailedLookup on the missing level).
    MissingTable { level: usize },
    /// Something is already mapped there (seL4: DeleteFirst).
    AlreadyMapped,
    /// Address not aligned to the mapping size, or outside the user range.
    BadAddress,
}

/// Walks translation tables through the kernel window.
#[derive(Clone, Copy)]
pub struct Walker {
    /// Added to a table's physical address to reach it.
    pub window_offset: u64,
}

impl Walker {
    fn entries(&self, table_pa: u64) -> *mut u64 {
        table_pa.wrapping_add(self.window_offset) as *mut u64
    }

    /// The entry for `vaddr` in the table at `level` (0 = root), if the tables down to that level
    /// exist.
    ///
    /// # Safety
    /// `root_pa` and every table it links to must be live translation tables of 512 entries.
    pub unsafe fn entry(&self, root_pa: u64, vaddr: u64, level: usize) -> Result<*mut u64, VSpaceError> {
        let mut table = root_pa;
        for walk_level in 0..level {
            // SAFETY: `table` is a live table (the caller's contract) and the index is below 512.
            let entry = unsafe { *self.entries(table).add(pte::level_index(vaddr, walk_level)) };
            if !pte::is_table(entry, walk_level) {
                return Err(VSpaceError::MissingTable { level: walk_level + 1 });
            }
            table = pte::output_address(entry);
        }
        // SAFETY: as above.
        Ok(unsafe { self.entries(table).add(pte::level_index(vaddr, level)) })
    }

    /// Installs the table at `table_pa` as the level-`level` table covering `vaddr`
    /// (`level` 1..=3).
    ///
    /// # Safety
    /// As for [`Walker::entry`]; `table_pa` must be a zeroed table not linked anywhere else.
    pub unsafe fn install_table(
        &self,
        root_pa: u64,
        vaddr: u64,
        level: usize,
        table_pa: u64,
    ) -> Result<(), VSpaceError> {
        if !(1..=3).contains(&level) || vaddr >= USER_TOP {
            return Err(VSpaceError::BadAddress);
        }
        // SAFETY: forwarded contract.
        let slot = unsafe { self.entry(root_pa, vaddr, level - 1)? };
        // SAFETY: `slot` points into a live table.
        unsafe {
            if *slot & pte::VALID != 0 {
                return Err(VSpaceError::AlreadyMapped);
            }
            *slot = pte::table_descriptor(table_pa);
        }
        Ok(())
    }

    /// Maps a page or block of the size `level` gives (3: 4 KiB, 2: 2 MiB, 1: 1 GiB) at `vaddr`.
    ///
    /// # Safety
    /// As for [`Walker::entry`].
    pub unsafe fn map_leaf(
        &self,
        root_pa: u64,
        vaddr: u64,
        level: usize,
        frame_pa: u64,
        attrs: LeafAttrs,
    ) -> Result<(), VSpaceError> {
        if !(1..=3).contains(&level) || vaddr >= USER_TOP || !(vaddr | frame_pa).is_multiple_of(pte::level_size(level))
        {
            return Err(VSpaceError::BadAddress);
        }
        // SAFETY: forwarded contract.
        let slot = unsafe { self.entry(root_pa, vaddr, level)? };
        // SAFETY: `slot` points into a live table.
        unsafe {
            if *slot & pte::VALID != 0 {
                return Err(VSpaceError::AlreadyMapped);
            }
            *slot =
                if level == 3 { pte::page_descriptor(frame_pa, attrs) } else { pte::block_descriptor(frame_pa, attrs) };
        }
        Ok(())
    }

    /// The leaf (page or block) that maps `vaddr`: its entry and level (1..=3), or `None` when
    /// nothing maps it.
    ///
    /// # Safety
    /// As for [`Walker::entry`].
    pub unsafe fn leaf(&self, root_pa: u64, vaddr: u64) -> Option<(*mut u64, usize)> {
        let mut table = root_pa;
        for level in 0..=3 {
            // SAFETY: `table` is a live table (the caller's contract) and the index is below 512.
            let slot = unsafe { self.entries(table).add(pte::level_index(vaddr, level)) };
            // SAFETY: as above.
            let entry = unsafe { *slot };
            if entry & pte::VALID == 0 || (level == 0 && !pte::is_table(entry, 0)) {
                return None;
            }
            if level == 3 || !pte::is_table(entry, level) {
                return Some((slot, level));
            }
            table = pte::output_address(entry);
        }
        None
    }

    /// Removes the level-`level` leaf at `vaddr` if it maps `frame_pa`; returns whether it did.
    ///
    /// # Safety
    /// As for [`Walker::entry`].
    pub unsafe fn unmap_leaf(&self, root_pa: u64, vaddr: u64, level: usize, frame_pa: u64) -> bool {
        // SAFETY: forwarded contract.
        let Ok(slot) = (unsafe { self.entry(root_pa, vaddr, level) }) else { return false };
        // SAFETY: `slot` points into a live table.
        let entry = unsafe { *slot };
        let is_leaf = entry & pte::VALID != 0 && (level == 3 || !pte::is_table(entry, level));
        if !is_leaf || pte::output_address(entry) != frame_pa {
            return false;
        }
        // SAFETY: as above.
        unsafe { slot.write_volatile(0) };
        true
    }

    /// Maps a 4 KiB page, first installing every missing table with one from `new_table`
    /// (which must return zeroed tables). Returns how many tables were installed.
    ///
    /// # Safety
    /// As for [`Walker::entry`]; tables from `new_table` must be zeroed and unused.
    pub unsafe fn map_page_with_tables(
        &self,
        root_pa: u64,
        vaddr: u64,
        frame_pa: u64,
        attrs: LeafAttrs,
        new_table: &mut dyn FnMut(usize) -> Option<u64>,
    ) -> Result<usize, VSpaceError> {
        let mut installed = 0;
        loop {
            // SAFETY: forwarded contract.
            match unsafe { self.map_leaf(root_pa, vaddr, 3, frame_pa, attrs) } {
                Err(VSpaceError::MissingTable { level }) => {
                    let table = new_table(level).ok_or(VSpaceError::MissingTable { level })?;
                    // SAFETY: forwarded contract; `table` is fresh.
                    unsafe { self.install_table(root_pa, vaddr, level, table)? };
                    installed += 1;
                }
                other => return other.map(|()| installed),
            }
        }
    }
}

/// Attributes of a normal user page: write-back cached, EL0 read-write (or read-only),
/// executable at EL0 unless `execute_never`, never executable at EL1, tagged with the ASID.
pub fn user_page_attrs(writable: bool, execute_never: bool) -> LeafAttrs {
    LeafAttrs {
        mem: pte::MemAttr::NormalWriteBack,
        access: if writable { pte::Access::UserReadWrite } else { pte::Access::UserReadOnly },
        privileged_execute_never: true,
        user_execute_never: execute_never,
        not_global: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmk_platform::window::Table;

    struct Tables(Vec<Box<Table>>);

    impl Tables {
        fn new_table(&mut self) -> u64 {
            self.0.push(Box::new(Table::EMPTY));
            self.0.last().map(|t| &**t as *const Table as u64).unwrap()
        }
    }

    #[test]
    fn maps_pages_creating_tables_once() {
        let mut tables = Tables(Vec::new());
        let root = tables.new_table();
        let walker = Walker { window_offset: 0 };
        let attrs = user_page_attrs(true, false);
        let mut fresh = |_level: usize| Some(tables.new_table());
        // SAFETY: every table is a live boxed Table.
        let made = unsafe { walker.map_page_with_tables(root, 0x40_0000, 0x4123_4000, attrs, &mut fresh) };
        assert_eq!(made, Ok(3));
        // SAFETY: as above.
        let made = unsafe { walker.map_page_with_tables(root, 0x40_1000, 0x4123_5000, attrs, &mut fresh) };
        assert_eq!(made, Ok(0), "same level-3 table");
        // SAFETY: as above.
        let again = unsafe { walker.map_page_with_tables(root, 0x40_1000, 0x4123_6000, attrs, &mut fresh) };
        assert_eq!(again, Err(VSpaceError::AlreadyMapped));
        // SAFETY: as above.
        let leaf = unsafe { *walker.entry(root, 0x40_1000, 3).unwrap() };
        assert_eq!(pte::output_address(leaf), 0x4123_5000);
        assert_eq!(leaf & pte::NOT_GLOBAL, pte::NOT_GLOBAL);
        assert_eq!(leaf & pte::PXN, pte::PXN);
        assert_eq!(leaf & pte::UXN, 0);
    }

    #[test]
    fn refuses_bad_addresses_and_reports_missing_levels() {
        let mut tables = Tables(Vec::new());
        let root = tables.new_table();
        let walker = Walker { window_offset: 0 };
        let attrs = user_page_attrs(false, true);
        // SAFETY: `root` is a live boxed Table.
        unsafe {
            assert_eq!(walker.map_leaf(root, 0x1000, 3, 0x2000, attrs), Err(VSpaceError::MissingTable { level: 1 }));
            assert_eq!(walker.map_leaf(root, 0x1001, 3, 0x2000, attrs), Err(VSpaceError::BadAddress));
            assert_eq!(walker.map_leaf(root, USER_TOP, 3, 0x2000, attrs), Err(VSpaceError::BadAddress));
            assert_eq!(walker.map_leaf(root, 0x1000, 0, 0x2000, attrs), Err(VSpaceError::BadAddress));
            let l1 = tables.new_table();
            walker.install_table(root, 0, 1, l1).unwrap();
            assert_eq!(walker.install_table(root, 0, 1, l1), Err(VSpaceError::AlreadyMapped));
            // A 1 GiB block straight into the level-1 table.
            walker.map_leaf(root, 1 << 30, 1, 1 << 30, attrs).unwrap();
            assert_eq!(walker.map_leaf(root, 0x1000, 3, 0x2000, attrs), Err(VSpaceError::MissingTable { level: 2 }));
        }
    }

    #[test]
    fn finds_and_unmaps_leaves_of_every_size() {
        let mut tables = Tables(Vec::new());
        let root = tables.new_table();
        let walker = Walker { window_offset: 0 };
        let attrs = user_page_attrs(true, true);
        let (l1, l2, l3) = (tables.new_table(), tables.new_table(), tables.new_table());
        // SAFETY: every table is a live boxed Table.
        unsafe {
            assert_eq!(walker.leaf(root, 0x1000), None);
            walker.install_table(root, 0, 1, l1).unwrap();
            walker.install_table(root, 0, 2, l2).unwrap();
            walker.install_table(root, 0, 3, l3).unwrap();
            walker.map_leaf(root, 0x5000, 3, 0x8000_5000, attrs).unwrap();
            walker.map_leaf(root, 0x20_0000, 2, 0x8020_0000, attrs).unwrap();
            walker.map_leaf(root, 1 << 30, 1, 0xc000_0000, attrs).unwrap();
            let (_, level) = walker.leaf(root, 0x5123).unwrap();
            assert_eq!(level, 3);
            let (entry, level) = walker.leaf(root, 0x20_1234).unwrap();
            assert_eq!((level, pte::output_address(*entry)), (2, 0x8020_0000));
            assert_eq!(walker.leaf(root, (1 << 30) + 0x1234_5678).map(|(_, l)| l), Some(1));
            assert_eq!(walker.leaf(root, 0x6000), None, "empty level-3 entry");
            // Unmapping needs the right level and the right frame.
            assert!(!walker.unmap_leaf(root, 0x20_0000, 2, 0x8040_0000));
            assert!(!walker.unmap_leaf(root, 0, 2, 0), "a table is not a leaf");
            assert!(walker.unmap_leaf(root, 0x20_0000, 2, 0x8020_0000));
            assert_eq!(walker.leaf(root, 0x20_1234), None);
            assert!(walker.unmap_leaf(root, 0x5000, 3, 0x8000_5000));
            assert!(walker.unmap_leaf(root, 1 << 30, 1, 0xc000_0000));
            assert_eq!(walker.leaf(root, 1 << 30), None);
        }
    }
}
