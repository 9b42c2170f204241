//! Device memory a parent hands to its drivers. The kernel gives device memory as untyped
//! capabilities, each a naturally aligned power-of-two region; a driver needs 4 KiB frames at
//! exact physical addresses. [`DeviceMemory`] keeps the device untyped nobody has claimed yet
//! (the kernel's originals, and every remainder a claim split off) and carves a claimed page out
//! of whichever one covers it: the region is split in halves, the half without the page kept
//! for later claims, down to 4 KiB. So claims may come in any order, several devices may share
//! one untyped, a device may span many pages, and a page claimed once can never be claimed
//! again. The splitting itself is an untyped retype ([`Splitter`]), so this logic runs, and is
//! tested, on the host.

use crate::{Result, SetupError};
use hmk_sys::invocation::CPtr;
use hmk_sys::object::PAGE_BITS;

/// An unclaimed device untyped: its capability and the region it covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub untyped: CPtr,
    pub paddr: u64,
    pub size_bits: u8,
}

impl Region {
    fn covers(&self, paddr: u64) -> bool {
        paddr >= self.paddr && paddr - self.paddr < 1u64 << self.size_bits
    }
}

/// Splits untyped capabilities: the kernel's retype, or a model of it in tests.
pub trait Splitter {
    /// Retypes `untyped` (of `half_bits + 1` bits, never split before) into its two halves;
    /// returns their capabilities, lower half first.
    fn split(&mut self, untyped: CPtr, half_bits: u8) -> Result<(CPtr, CPtr)>;
}

/// How many unclaimed regions a parent can keep: the kernel's device untyped (a few dozen) and
/// the remainders of every claim (one per halving, at most 52 per claim).
pub const MAX_REGIONS: usize = 256;

/// The unclaimed device untyped of a parent.
pub struct DeviceMemory {
    free: [Region; MAX_REGIONS],
    count: usize,
}

impl Default for DeviceMemory {
    fn default() -> Self {
        DeviceMemory::new()
    }
}

impl DeviceMemory {
    pub const fn new() -> DeviceMemory {
        DeviceMemory { free: [Region { untyped: 0, paddr: 0, size_bits: 0 }; MAX_REGIONS], count: 0 }
    }

    /// Adds an unclaimed region (from BootInfo, or handed down by a parent). Regions must not
    /// overlap.
    pub fn add(&mut self, region: Region) -> Result<()> {
        if self.count == MAX_REGIONS {
            return Err(SetupError { step: "too many device regions to keep", error: None });
        }
        self.free[self.count] = region;
        self.count += 1;
        Ok(())
    }

    /// The regions nobody has claimed yet.
    pub fn unclaimed(&self) -> &[Region] {
        &self.free[..self.count]
    }

    /// Takes the 4 KiB page holding `paddr` out of the unclaimed regions: returns a 4 KiB
    /// untyped covering exactly that page, to retype into a frame. Fails, changing nothing, when
    /// no unclaimed region covers it (it is not device memory, or was claimed before) or when
    /// there is no room to keep the remainders.
    pub fn take_page(&mut self, paddr: u64, splitter: &mut impl Splitter) -> Result<CPtr> {
        let page = paddr & !((1u64 << PAGE_BITS) - 1);
        let index = self
            .unclaimed()
            .iter()
            .position(|r| r.covers(page))
            .ok_or(SetupError { step: "no unclaimed device memory at that address", error: None })?;
        let mut region = self.free[index];
        let halvings = usize::from(region.size_bits).saturating_sub(PAGE_BITS as usize);
        // The region leaves the list and each halving adds one remainder.
        if self.count - 1 + halvings > MAX_REGIONS {
            return Err(SetupError { step: "too many device regions to keep", error: None });
        }
        self.count -= 1;
        self.free[index] = self.free[self.count];
        while u64::from(region.size_bits) > PAGE_BITS {
            let half_bits = region.size_bits - 1;
            let (lower, upper) = match splitter.split(region.untyped, half_bits) {
                Ok(halves) => halves,
                Err(e) => {
                    // A failed retype made nothing: the region stays claimable as it is.
                    self.free[self.count] = region;
                    self.count += 1;
                    return Err(e);
                }
            };
            let middle = region.paddr + (1u64 << half_bits);
            let lower = Region { untyped: lower, paddr: region.paddr, size_bits: half_bits };
            let upper = Region { untyped: upper, paddr: middle, size_bits: half_bits };
            let (keep, spare) = if page >= middle { (upper, lower) } else { (lower, upper) };
            self.free[self.count] = spare;
            self.count += 1;
            region = keep;
        }
        Ok(region.untyped)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    /// A model of the kernel's untyped: which capabilities exist, what each covers, and whether
    /// it has been split (a split untyped cannot be split again).
    #[derive(Default)]
    struct Kernel {
        caps: BTreeMap<CPtr, (u64, u8, bool)>,
        next: CPtr,
        fail_after: Option<usize>,
        splits: usize,
    }

    impl Kernel {
        fn untyped(&mut self, paddr: u64, size_bits: u8) -> Region {
            self.next += 1;
            self.caps.insert(self.next, (paddr, size_bits, false));
            Region { untyped: self.next, paddr, size_bits }
        }
    }

    impl Splitter for Kernel {
        fn split(&mut self, untyped: CPtr, half_bits: u8) -> Result<(CPtr, CPtr)> {
            if self.fail_after.is_some_and(|n| self.splits >= n) {
                return Err(SetupError { step: "out of slots", error: None });
            }
            self.splits += 1;
            let (paddr, bits, split) = *self.caps.get(&untyped).expect("a live untyped");
            assert!(!split, "an untyped split twice");
            assert_eq!(bits, half_bits + 1);
            self.caps.insert(untyped, (paddr, bits, true));
            let lower = self.untyped(paddr, half_bits).untyped;
            let upper = self.untyped(paddr + (1 << half_bits), half_bits).untyped;
            Ok((lower, upper))
        }
    }

    fn memory(kernel: &mut Kernel, regions: &[(u64, u8)]) -> DeviceMemory {
        let mut memory = DeviceMemory::new();
        for &(paddr, bits) in regions {
            memory.add(kernel.untyped(paddr, bits)).unwrap();
        }
        memory
    }

    /// The unclaimed regions are disjoint, unsplit, and cover exactly what was not claimed.
    fn check(memory: &DeviceMemory, kernel: &Kernel, total: u64, claimed: usize) {
        let mut spans: Vec<(u64, u64)> = memory
            .unclaimed()
            .iter()
            .map(|r| {
                assert_eq!(kernel.caps[&r.untyped], (r.paddr, r.size_bits, false));
                (r.paddr, r.paddr + (1 << r.size_bits))
            })
            .collect();
        spans.sort();
        assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "overlapping regions {spans:x?}");
        let free: u64 = spans.iter().map(|(start, end)| end - start).sum();
        assert_eq!(free + claimed as u64 * 4096, total);
    }

    #[test]
    fn several_devices_in_one_untyped_in_any_order() {
        let mut kernel = Kernel::default();
        let mut memory = memory(&mut kernel, &[(0x0900_0000, 24)]);
        for (claimed, paddr) in [0x0901_0040u64, 0x0900_0000, 0x09ff_f000, 0x0901_1000].into_iter().enumerate() {
            let page = memory.take_page(paddr, &mut kernel).unwrap();
            assert_eq!(kernel.caps[&page], (paddr & !0xfff, 12, false));
            check(&memory, &kernel, 1 << 24, claimed + 1);
        }
        // The UART's page again: claimed already.
        assert!(memory.take_page(0x0900_0000, &mut kernel).is_err());
        // Not device memory at all.
        assert!(memory.take_page(0x4000_0000, &mut kernel).is_err());
    }

    #[test]
    fn a_failed_split_keeps_the_region() {
        let mut kernel = Kernel { fail_after: Some(3), ..Kernel::default() };
        let mut memory = memory(&mut kernel, &[(0x0800_0000, 20)]);
        assert!(memory.take_page(0x0808_0000, &mut kernel).is_err());
        check(&memory, &kernel, 1 << 20, 0);
        kernel.fail_after = None;
        let page = memory.take_page(0x0808_0000, &mut kernel).unwrap();
        assert_eq!(kernel.caps[&page].0, 0x0808_0000);
        check(&memory, &kernel, 1 << 20, 1);
    }

    #[test]
    fn a_full_table_refuses_before_splitting() {
        let mut kernel = Kernel::default();
        let regions: Vec<(u64, u8)> = (0..MAX_REGIONS as u64).map(|i| (i << 24, 24)).collect();
        let mut memory = memory(&mut kernel, &regions);
        assert!(memory.take_page(0x10_0000, &mut kernel).is_err());
        assert_eq!(kernel.splits, 0);
        check(&memory, &kernel, MAX_REGIONS as u64 * (1 << 24), 0);
    }

    /// Disjoint aligned regions: region `i` of 2^bits[i] bytes starts at `i * 2^28`.
    fn layout() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(12u8..=20, 1..6)
    }

    proptest! {
        #[test]
        fn claims_in_random_order_never_fail(bits in layout(), picks in prop::collection::vec(any::<u32>(), 1..60), seed in any::<u64>()) {
            let mut kernel = Kernel::default();
            let regions: Vec<(u64, u8)> = bits.iter().enumerate().map(|(i, &b)| ((i as u64) << 28, b)).collect();
            let total: u64 = regions.iter().map(|&(_, b)| 1u64 << b).sum();
            let mut memory = memory(&mut kernel, &regions);
            // Distinct pages of the regions, in the order the picks give.
            let mut pages: Vec<u64> = Vec::new();
            for (k, pick) in picks.iter().enumerate() {
                let (base, b) = regions[*pick as usize % regions.len()];
                let offset = (u64::from(*pick) ^ seed.rotate_left(k as u32)) % (1 << b);
                let page = (base + offset) & !0xfff;
                if !pages.contains(&page) {
                    pages.push(page);
                }
            }
            for (claimed, &page) in pages.iter().enumerate() {
                let cap = memory.take_page(page + (seed % 4096), &mut kernel).unwrap();
                prop_assert_eq!(kernel.caps[&cap], (page, 12, false));
                check(&memory, &kernel, total, claimed + 1);
            }
            for &page in &pages {
                prop_assert!(memory.take_page(page, &mut kernel).is_err());
            }
        }
    }
}
