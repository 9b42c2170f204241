//! AArch64 VMSAv8-64 stage-1 translation-table descriptors, 4 KiB granule, 48-bit addresses.
//!
//! Memory attributes index the MAIR layout seL4's boot contract fixes ([`MAIR_VALUE`]).

/// MAIR_EL1 attribute indices, as seL4's AArch64 boot contract sets them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum MemAttr {
    DeviceNGnRnE = 0,
    DeviceNGnRE = 1,
    DeviceGRE = 2,
    NormalNonCacheable = 3,
    NormalWriteBack = 4,
}

/// MAIR_EL1 (idx0 is 0x00, so it adds no bits): idx0 0x00 Device-nGnRnE, idx1 0x04 Device-nGnRE, idx2 0x0c Device-GRE,
/// idx3 0x44 Normal non-cacheable, idx4 0xff Normal write-back, idx5 0xaa (write-through).
pub const MAIR_VALUE: u64 = (0x04 << 8) | (0x0c << 16) | (0x44 << 24) | (0xff << 32) | (0xaa << 40);

/// Access permissions (AP[2:1]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read-write at EL1, no access at EL0.
    KernelReadWrite,
    /// Read-write at EL1 and EL0.
    UserReadWrite,
    /// Read-only at EL1, no access at EL0.
    KernelReadOnly,
    /// Read-only at EL1 and EL0.
    UserReadOnly,
}

impl Access {
    const fn bits(self) -> u64 {
        match self {
            Access::KernelReadWrite => 0b00,
            Access::UserReadWrite => 0b01,
            Access::KernelReadOnly => 0b10,
            Access::UserReadOnly => 0b11,
        }
    }
}

/// Everything a leaf (block or page) descriptor says about its memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafAttrs {
    pub mem: MemAttr,
    pub access: Access,
    /// Execution forbidden at EL1.
    pub privileged_execute_never: bool,
    /// Execution forbidden at EL0.
    pub user_execute_never: bool,
    /// Not global: the entry belongs to the ASID it was walked under.
    pub not_global: bool,
}

impl LeafAttrs {
    /// Kernel RAM: normal write-back, EL1 read-write and executable, never executable at EL0.
    pub const KERNEL_RAM: LeafAttrs = LeafAttrs {
        mem: MemAttr::NormalWriteBack,
        access: Access::KernelReadWrite,
        privileged_execute_never: false,
        user_execute_never: true,
        not_global: false,
    };

    /// Kernel device registers: Device-nGnRE, EL1 read-write, never executable.
    pub const KERNEL_DEVICE: LeafAttrs = LeafAttrs {
        mem: MemAttr::DeviceNGnRE,
        access: Access::KernelReadWrite,
        privileged_execute_never: true,
        user_execute_never: true,
        not_global: false,
    };
}

pub const VALID: u64 = 1 << 0;
/// Bit 1: set for table descriptors (levels 0-2) and pages (level 3); clear for blocks.
pub const TABLE_OR_PAGE: u64 = 1 << 1;
pub const ATTR_INDEX_SHIFT: u64 = 2;
pub const AP_SHIFT: u64 = 6;
pub const SH_INNER_SHAREABLE: u64 = 0b11 << 8;
pub const SH_OUTER_SHAREABLE: u64 = 0b10 << 8;
pub const ACCESS_FLAG: u64 = 1 << 10;
pub const NOT_GLOBAL: u64 = 1 << 11;
pub const PXN: u64 = 1 << 53;
pub const UXN: u64 = 1 << 54;
/// Output address bits [47:12].
pub const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Bytes mapped by one entry at each level (0..=3) with a 4 KiB granule.
pub const fn level_size(level: usize) -> u64 {
    1 << (12 + 9 * (3 - level))
}

/// Index into the table at `level` for virtual address `va`.
pub const fn level_index(va: u64, level: usize) -> usize {
    ((va >> (12 + 9 * (3 - level))) & 0x1ff) as usize
}

/// A descriptor pointing at the next-level table at physical address `table_pa`.
pub const fn table_descriptor(table_pa: u64) -> u64 {
    (table_pa & ADDRESS_MASK) | TABLE_OR_PAGE | VALID
}

const fn leaf_bits(pa: u64, attrs: LeafAttrs) -> u64 {
    let mut bits = (pa & ADDRESS_MASK)
        | ((attrs.mem as u64) << ATTR_INDEX_SHIFT)
        | (attrs.access.bits() << AP_SHIFT)
        | ACCESS_FLAG
        | VALID;
    // Device memory is outer shareable by definition; normal memory is shared inner.
    bits |= match attrs.mem {
        MemAttr::NormalWriteBack | MemAttr::NormalNonCacheable => SH_INNER_SHAREABLE,
        _ => SH_OUTER_SHAREABLE,
    };
    if attrs.privileged_execute_never {
        bits |= PXN;
    }
    if attrs.user_execute_never {
        bits |= UXN;
    }
    if attrs.not_global {
        bits |= NOT_GLOBAL;
    }
    bits
}

/// A block descriptor (level 1: 1 GiB, level 2: 2 MiB) for physical address `pa`.
pub const fn block_descriptor(pa: u64, attrs: LeafAttrs) -> u64 {
    leaf_bits(pa, attrs)
}

/// A level-3 page descriptor (4 KiB) for physical address `pa`.
pub const fn page_descriptor(pa: u64, attrs: LeafAttrs) -> u64 {
    leaf_bits(pa, attrs) | TABLE_OR_PAGE
}

/// The output address of a valid descriptor.
pub const fn output_address(descriptor: u64) -> u64 {
    descriptor & ADDRESS_MASK
}

/// Whether `descriptor` at `level` points at a further table.
pub const fn is_table(descriptor: u64, level: usize) -> bool {
    level < 3 && descriptor & (VALID | TABLE_OR_PAGE) == (VALID | TABLE_OR_PAGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mair_matches_sel4_layout() {
        assert_eq!(MAIR_VALUE, 0x0000_aaff_440c_0400);
    }

    #[test]
    fn level_geometry() {
        assert_eq!(level_size(0), 1 << 39);
        assert_eq!(level_size(1), 1 << 30);
        assert_eq!(level_size(2), 1 << 21);
        assert_eq!(level_size(3), 1 << 12);
        let va = 0xffff_ff80_4100_3000;
        assert_eq!(level_index(va, 0), 511);
        assert_eq!(level_index(va, 1), 1);
        assert_eq!(level_index(va, 2), 8);
        assert_eq!(level_index(va, 3), 3);
    }

    #[test]
    fn table_descriptor_encoding() {
        assert_eq!(table_descriptor(0x4008_3000), 0x4008_3003);
        assert!(is_table(table_descriptor(0x1000), 0));
        assert!(!is_table(table_descriptor(0x1000), 3));
        assert_eq!(output_address(table_descriptor(0x4008_3fff)), 0x4008_3000);
    }

    #[test]
    fn kernel_ram_block_encoding() {
        // 2 MiB block at 0x4020_0000: AttrIndx 4, AP 00, SH inner, AF, UXN, valid block.
        let d = block_descriptor(0x4020_0000, LeafAttrs::KERNEL_RAM);
        assert_eq!(d, UXN | 0x4020_0000 | ACCESS_FLAG | SH_INNER_SHAREABLE | (4 << 2) | 1);
        assert_eq!(d, 0x0040_0000_4020_0711);
        assert!(!is_table(d, 2));
    }

    #[test]
    fn device_block_and_user_page_encoding() {
        let d = block_descriptor(0x0900_0000, LeafAttrs::KERNEL_DEVICE);
        assert_eq!(d, 0x0060_0000_0900_0605);
        let user_ro_page = page_descriptor(
            0x1234_5000,
            LeafAttrs {
                mem: MemAttr::NormalWriteBack,
                access: Access::UserReadOnly,
                privileged_execute_never: true,
                user_execute_never: false,
                not_global: true,
            },
        );
        assert_eq!(
            user_ro_page,
            PXN | NOT_GLOBAL | ACCESS_FLAG | SH_INNER_SHAREABLE | (0b11 << 6) | (4 << 2) | 0x1234_5000 | 0b11
        );
        assert!(!is_table(user_ro_page, 3));
    }
}
