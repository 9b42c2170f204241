//! The boot allocator: carves the root task's kernel objects out of free RAM before the rest
//! becomes untyped memory. It only ever takes naturally aligned power-of-two blocks (every
//! seL4 object is size-aligned) and removes them from the free set, so what remains is exactly
//! what the root task receives as untyped.

use hmk_platform::region::{Region, RegionSet, align_up_saturating};

/// Free physical memory during boot.
pub struct BootAllocator<const N: usize> {
    free: RegionSet<N>,
}

impl<const N: usize> BootAllocator<N> {
    pub fn new(free: RegionSet<N>) -> Self {
        Self { free }
    }

    /// Takes a block of `2^size_bits` bytes aligned to its size, from the highest free region
    /// that has room (leaving low memory, which some devices prefer, for untyped). `None` when no
    /// region has such a block or the set cannot split.
    pub fn alloc(&mut self, size_bits: u32) -> Option<u64> {
        let size = 1u64.checked_shl(size_bits)?;
        let block = self.free.as_slice().iter().rev().find_map(|region| {
            let start = align_up_saturating(region.end.checked_sub(size)?, size);
            let start = if start + size > region.end { start.checked_sub(size)? } else { start };
            (start >= region.start).then_some(Region::with_size(start, size))
        })?;
        self.free.subtract(block).ok()?;
        Some(block.start)
    }

    /// What is left: the untyped memory.
    pub fn remaining(&self) -> &RegionSet<N> {
        &self.free
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocator(regions: &[(u64, u64)]) -> BootAllocator<8> {
        let mut set = RegionSet::new();
        for &(a, b) in regions {
            set.insert(Region::new(a, b)).unwrap();
        }
        BootAllocator::new(set)
    }

    #[test]
    fn blocks_are_aligned_disjoint_and_removed() {
        let mut a = allocator(&[(0x4000_1000, 0x4010_0000)]);
        let cnode = a.alloc(18).unwrap();
        assert_eq!(cnode % (1 << 18), 0);
        assert_eq!(cnode, 0x400c_0000, "highest aligned block that fits");
        let tcb = a.alloc(11).unwrap();
        assert_eq!(tcb % (1 << 11), 0);
        assert!(tcb + (1 << 11) <= cnode || tcb >= cnode + (1 << 18));
        let total = 0x4010_0000 - 0x4000_1000;
        assert_eq!(a.remaining().total_size(), total - (1 << 18) - (1 << 11));
        assert!(a.remaining().as_slice().iter().all(|r| !r.contains(cnode) && !r.contains(tcb)));
    }

    #[test]
    fn falls_back_to_lower_regions_and_reports_exhaustion() {
        let mut a = allocator(&[(0x1000, 0x3000), (0x10_0000, 0x10_1000)]);
        assert_eq!(a.alloc(12), Some(0x10_0000));
        assert_eq!(a.alloc(13), None, "no 8 KiB-aligned 8 KiB block remains");
        assert_eq!(a.alloc(12), Some(0x2000));
        assert_eq!(a.alloc(12), Some(0x1000));
        assert_eq!(a.alloc(12), None);
        assert_eq!(a.alloc(64), None);
    }
}
