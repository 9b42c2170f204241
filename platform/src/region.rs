//! Physical address ranges: half-open `[start, end)` regions and fixed-capacity sets of them.
//!
//! The kernel derives its untyped memory from these: RAM from the device tree, minus every range
//! that is in use (loader, kernel, DTB, user image, firmware reservations), cut into naturally
//! aligned power-of-two blocks. No allocation: sets have a fixed capacity and report overflow.

/// A half-open physical range `[start, end)`. Empty when `start >= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    pub start: u64,
    pub end: u64,
}

impl Region {
    pub const fn new(start: u64, end: u64) -> Self {
        Self { start, end }
    }

    /// The region of `size` bytes at `start`, saturating at the top of the address space.
    pub const fn with_size(start: u64, size: u64) -> Self {
        Self { start, end: start.saturating_add(size) }
    }

    pub const fn size(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    pub const fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    pub const fn overlaps(&self, other: &Region) -> bool {
        self.start < other.end && other.start < self.end && !self.is_empty() && !other.is_empty()
    }

    /// The smallest region with `align`-aligned bounds that covers `self`.
    /// `align` must be a power of two.
    pub const fn align_outward(&self, align: u64) -> Region {
        Region { start: align_down(self.start, align), end: align_up_saturating(self.end, align) }
    }

    /// The largest region with `align`-aligned bounds inside `self` (possibly empty).
    pub const fn align_inward(&self, align: u64) -> Region {
        Region { start: align_up_saturating(self.start, align), end: align_down(self.end, align) }
    }
}

/// Rounds `value` down to a multiple of `align` (a power of two).
pub const fn align_down(value: u64, align: u64) -> u64 {
    value & !(align - 1)
}

/// Rounds `value` up to a multiple of `align` (a power of two), saturating at the highest
/// aligned value representable.
pub const fn align_up_saturating(value: u64, align: u64) -> u64 {
    match value.checked_add(align - 1) {
        Some(v) => v & !(align - 1),
        None => align_down(u64::MAX, align),
    }
}

/// Error from a [`RegionSet`] that would need more entries than it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapacityExceeded;

/// A sorted set of disjoint, non-empty, non-adjacent regions with room for `N` of them.
#[derive(Clone, Copy, Debug)]
pub struct RegionSet<const N: usize> {
    regions: [Region; N],
    len: usize,
}

impl<const N: usize> Default for RegionSet<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RegionSet<N> {
    pub const fn new() -> Self {
        Self { regions: [Region::new(0, 0); N], len: 0 }
    }

    pub fn as_slice(&self) -> &[Region] {
        &self.regions[..self.len]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sum of the sizes of all regions.
    pub fn total_size(&self) -> u64 {
        self.as_slice().iter().map(Region::size).sum()
    }

    /// Adds `region`, merging it with any region it overlaps or touches.
    pub fn insert(&mut self, region: Region) -> Result<(), CapacityExceeded> {
        if region.is_empty() {
            return Ok(());
        }
        let mut merged = region;
        // Find the run of existing regions that overlap or touch `merged`.
        let first = self.as_slice().iter().position(|r| r.end >= merged.start).unwrap_or(self.len);
        let mut last = first;
        while last < self.len && self.regions[last].start <= merged.end {
            merged.start = merged.start.min(self.regions[last].start);
            merged.end = merged.end.max(self.regions[last].end);
            last += 1;
        }
        let removed = last - first;
        if removed == 0 {
            if self.len == N {
                return Err(CapacityExceeded);
            }
            self.regions.copy_within(first..self.len, first + 1);
            self.len += 1;
        } else {
            self.regions.copy_within(last..self.len, first + 1);
            self.len -= removed - 1;
        }
        self.regions[first] = merged;
        Ok(())
    }

    /// Removes every address in `hole` from the set, splitting a region when the hole is inside it.
    pub fn subtract(&mut self, hole: Region) -> Result<(), CapacityExceeded> {
        if hole.is_empty() {
            return Ok(());
        }
        let mut index = 0;
        while index < self.len {
            let region = self.regions[index];
            if !region.overlaps(&hole) {
                index += 1;
                continue;
            }
            let below = Region::new(region.start, hole.start.max(region.start).min(region.end));
            let above = Region::new(hole.end.min(region.end).max(region.start), region.end);
            match (below.is_empty(), above.is_empty()) {
                (true, true) => {
                    self.regions.copy_within(index + 1..self.len, index);
                    self.len -= 1;
                }
                (false, true) => {
                    self.regions[index] = below;
                    index += 1;
                }
                (true, false) => {
                    self.regions[index] = above;
                    index += 1;
                }
                (false, false) => {
                    if self.len == N {
                        return Err(CapacityExceeded);
                    }
                    self.regions.copy_within(index + 1..self.len, index + 2);
                    self.len += 1;
                    self.regions[index] = below;
                    self.regions[index + 1] = above;
                    index += 2;
                }
            }
        }
        Ok(())
    }

    /// Shrinks every region to `align`-aligned bounds, dropping those that vanish.
    pub fn align_inward(&mut self, align: u64) {
        let mut kept = 0;
        for index in 0..self.len {
            let aligned = self.regions[index].align_inward(align);
            if !aligned.is_empty() {
                self.regions[kept] = aligned;
                kept += 1;
            }
        }
        self.len = kept;
    }
}

/// Cuts `region` into the fewest naturally aligned power-of-two blocks, largest first where
/// alignment allows, each between `2^min_bits` and `2^max_bits` bytes. Bytes at the edges that
/// cannot form a block of `2^min_bits` are left out. Yields `(base, size_bits)`.
pub fn power_of_two_blocks(region: Region, min_bits: u32, max_bits: u32) -> PowerOfTwoBlocks {
    let inner = region.align_inward(1 << min_bits);
    PowerOfTwoBlocks { next: inner.start, end: inner.end, min_bits, max_bits }
}

/// Iterator returned by [`power_of_two_blocks`].
#[derive(Clone, Debug)]
pub struct PowerOfTwoBlocks {
    next: u64,
    end: u64,
    min_bits: u32,
    max_bits: u32,
}

impl Iterator for PowerOfTwoBlocks {
    type Item = (u64, u32);

    fn next(&mut self) -> Option<(u64, u32)> {
        if self.next >= self.end {
            return None;
        }
        let remaining = self.end - self.next;
        let align_bits = if self.next == 0 { 63 } else { self.next.trailing_zeros() };
        let fit_bits = 63 - remaining.leading_zeros();
        let bits = align_bits.min(fit_bits).min(self.max_bits);
        if bits < self.min_bits {
            return None;
        }
        let base = self.next;
        self.next += 1 << bits;
        Some((base, bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set<const N: usize>(regions: &[(u64, u64)]) -> RegionSet<N> {
        let mut s = RegionSet::new();
        for &(a, b) in regions {
            s.insert(Region::new(a, b)).unwrap();
        }
        s
    }

    fn pairs<const N: usize>(s: &RegionSet<N>) -> Vec<(u64, u64)> {
        s.as_slice().iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn insert_sorts_and_merges_touching_and_overlapping() {
        let s = set::<8>(&[(0x3000, 0x4000), (0x1000, 0x2000), (0x2000, 0x2800), (0x6000, 0x7000)]);
        assert_eq!(pairs(&s), vec![(0x1000, 0x2800), (0x3000, 0x4000), (0x6000, 0x7000)]);
        let mut s = s;
        s.insert(Region::new(0x2000, 0x6800)).unwrap();
        assert_eq!(pairs(&s), vec![(0x1000, 0x7000)]);
    }

    #[test]
    fn insert_ignores_empty_and_reports_capacity() {
        let mut s = set::<2>(&[(0, 0x10), (0x20, 0x30)]);
        s.insert(Region::new(5, 5)).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.insert(Region::new(0x40, 0x50)), Err(CapacityExceeded));
        // Merging into an existing region needs no new slot.
        s.insert(Region::new(0x30, 0x38)).unwrap();
        assert_eq!(pairs(&s), vec![(0, 0x10), (0x20, 0x38)]);
    }

    #[test]
    fn subtract_splits_trims_and_removes() {
        let mut s = set::<8>(&[(0x4000_0000, 0x4800_0000)]);
        s.subtract(Region::new(0x4100_0000, 0x4102_0000)).unwrap(); // inside: split
        s.subtract(Region::new(0x3000_0000, 0x4000_1000)).unwrap(); // front trim
        s.subtract(Region::new(0x47ff_0000, 0x5000_0000)).unwrap(); // back trim
        assert_eq!(pairs(&s), vec![(0x4000_1000, 0x4100_0000), (0x4102_0000, 0x47ff_0000)]);
        s.subtract(Region::new(0x4000_0000, 0x4100_0000)).unwrap(); // whole region
        assert_eq!(pairs(&s), vec![(0x4102_0000, 0x47ff_0000)]);
        s.subtract(Region::new(0, 0x1000)).unwrap(); // disjoint: nothing
        assert_eq!(s.total_size(), 0x47ff_0000 - 0x4102_0000);
    }

    #[test]
    fn subtract_hole_spanning_several_regions() {
        let mut s = set::<8>(&[(0, 0x1000), (0x2000, 0x3000), (0x4000, 0x5000)]);
        s.subtract(Region::new(0x800, 0x4800)).unwrap();
        assert_eq!(pairs(&s), vec![(0, 0x800), (0x4800, 0x5000)]);
    }

    #[test]
    fn subtract_split_reports_capacity() {
        let mut s = set::<1>(&[(0, 0x3000)]);
        assert_eq!(s.subtract(Region::new(0x1000, 0x2000)), Err(CapacityExceeded));
    }

    #[test]
    fn alignment_helpers() {
        assert_eq!(align_down(0x1fff, 0x1000), 0x1000);
        assert_eq!(align_up_saturating(0x1001, 0x1000), 0x2000);
        assert_eq!(align_up_saturating(0x1000, 0x1000), 0x1000);
        assert_eq!(align_up_saturating(u64::MAX - 5, 0x1000), 0xffff_ffff_ffff_f000);
        let r = Region::new(0x1234, 0x5678);
        assert_eq!(r.align_outward(0x1000), Region::new(0x1000, 0x6000));
        assert_eq!(r.align_inward(0x1000), Region::new(0x2000, 0x5000));
        assert!(Region::new(0x1100, 0x1f00).align_inward(0x1000).is_empty());
        let mut s = set::<4>(&[(0x1100, 0x1f00), (0x2800, 0x5800)]);
        s.align_inward(0x1000);
        assert_eq!(pairs(&s), vec![(0x3000, 0x5000)]);
    }

    #[test]
    fn power_of_two_blocks_are_aligned_and_cover_the_inner_region() {
        let region = Region::new(0x4102_3000, 0x4800_0000);
        let blocks: Vec<_> = power_of_two_blocks(region, 12, 47).collect();
        let mut cursor = 0x4102_3000;
        for &(base, bits) in &blocks {
            assert_eq!(base, cursor, "blocks are contiguous");
            assert_eq!(base % (1 << bits), 0, "block {base:#x} is naturally aligned");
            cursor += 1 << bits;
        }
        assert_eq!(cursor, 0x4800_0000);
        assert_eq!(blocks.first(), Some(&(0x4102_3000, 12)));
        assert!(blocks.contains(&(0x4400_0000, 26)));
        // 4K 16K 32K 64K 256K 512K 1M 2M 4M 8M 32M 64M
        assert_eq!(
            blocks.iter().map(|b| b.1).collect::<Vec<_>>(),
            vec![12, 14, 15, 16, 18, 19, 20, 21, 22, 23, 25, 26]
        );
    }

    #[test]
    fn power_of_two_blocks_respect_bounds() {
        // Max size caps large aligned blocks.
        let blocks: Vec<_> = power_of_two_blocks(Region::new(0, 1 << 32), 12, 30).collect();
        assert_eq!(blocks.len(), 4);
        assert!(blocks.iter().all(|&(_, bits)| bits == 30));
        // Edges smaller than the minimum are dropped.
        let blocks: Vec<_> = power_of_two_blocks(Region::new(0x10, 0x3010), 12, 47).collect();
        assert_eq!(blocks, vec![(0x1000, 12), (0x2000, 12)]);
        assert_eq!(power_of_two_blocks(Region::new(0x10, 0x20), 12, 47).count(), 0);
    }
}
