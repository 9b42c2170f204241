//! Edits of flattened device trees the boot path needs.
//!
//! [`copy_with_reservation`] writes a copy with one more `/memreserve/` entry: the loader uses
//! it to tell the kernel which memory it still occupies (the loader image and what it embeds)
//! without any channel beyond seL4's boot handoff, since the kernel already treats every
//! device-tree reservation as memory it must not hand out as untyped.
//!
//! [`remove_nops`] compacts away `FDT_NOP` tokens, which firmware leaves where it deleted
//! nodes or properties (QEMU's raspi4b does, for the devices it does not emulate) and which the
//! `fdt` crate's node walker does not accept between properties.

use crate::region::Region;

const MAGIC: u32 = 0xd00d_feed;
const HEADER_SIZE: usize = 40;

/// Why a device tree could not be copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbEditError {
    BadHeader,
    DestinationTooSmall,
}

fn be32(bytes: &[u8], offset: usize) -> Option<u32> {
    bytes.get(offset..offset + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn put32(bytes: &mut [u8], offset: usize, value: u32) {
    bytes[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
}

const TOKEN_BEGIN_NODE: u32 = 1;
const TOKEN_END_NODE: u32 = 2;
const TOKEN_PROP: u32 = 3;
const TOKEN_NOP: u32 = 4;
const TOKEN_END: u32 = 9;

/// Removes every `FDT_NOP` token from the structure block of the device tree in `dtb`, in
/// place, and moves the strings block down behind it. Returns the new total size.
pub fn remove_nops(dtb: &mut [u8]) -> Result<usize, DtbEditError> {
    let total = total_size(dtb).ok_or(DtbEditError::BadHeader)?;
    let field = |dtb: &[u8], index: usize| be32(dtb, 4 * index).map(|v| v as usize).ok_or(DtbEditError::BadHeader);
    let (off_struct, off_strings) = (field(dtb, 2)?, field(dtb, 3)?);
    let (size_strings, size_struct) = (field(dtb, 8)?, field(dtb, 9)?);
    let struct_end = off_struct.checked_add(size_struct).ok_or(DtbEditError::BadHeader)?;
    let strings_end = off_strings.checked_add(size_strings).ok_or(DtbEditError::BadHeader)?;
    if total > dtb.len() || struct_end > total || strings_end > total || off_strings < struct_end {
        return Err(DtbEditError::BadHeader);
    }
    let (mut read, mut write) = (off_struct, off_struct);
    loop {
        let token = be32(dtb, read).filter(|_| read + 4 <= struct_end).ok_or(DtbEditError::BadHeader)?;
        let length = match token {
            TOKEN_BEGIN_NODE => {
                let name_len = dtb[read + 4..struct_end].iter().position(|&b| b == 0).ok_or(DtbEditError::BadHeader)?;
                4 + (name_len + 1).next_multiple_of(4)
            }
            TOKEN_PROP => 12 + (be32(dtb, read + 4).ok_or(DtbEditError::BadHeader)? as usize).next_multiple_of(4),
            TOKEN_END_NODE | TOKEN_NOP | TOKEN_END => 4,
            _ => return Err(DtbEditError::BadHeader),
        };
        if read + length > struct_end {
            return Err(DtbEditError::BadHeader);
        }
        if token != TOKEN_NOP {
            dtb.copy_within(read..read + length, write);
            write += length;
        }
        read += length;
        if token == TOKEN_END {
            break;
        }
    }
    let new_size_struct = write - off_struct;
    dtb.copy_within(off_strings..strings_end, write);
    let new_total = write + size_strings;
    put32(dtb, 4, new_total as u32);
    put32(dtb, 12, write as u32);
    put32(dtb, 36, new_size_struct as u32);
    Ok(new_total)
}

/// The `totalsize` header field of the device tree at the start of `bytes`, if the magic is right.
pub fn total_size(bytes: &[u8]) -> Option<usize> {
    (be32(bytes, 0)? == MAGIC).then_some(())?;
    be32(bytes, 4).map(|s| s as usize)
}

/// An upper bound on the size of the copy [`copy_with_reservation`] writes for `src`.
pub fn max_size_with_reservation(src: &[u8]) -> Option<usize> {
    total_size(src).map(|s| s + 16 + 8)
}

/// Copies the device tree in `src` to `dst`, adding `reserve` to its memory reservation block.
/// Returns the size written. Layout of the copy: header, reservations, structure, strings.
pub fn copy_with_reservation(src: &[u8], dst: &mut [u8], reserve: Region) -> Result<usize, DtbEditError> {
    let total = total_size(src).ok_or(DtbEditError::BadHeader)?;
    let field = |index: usize| be32(src, 4 * index).map(|v| v as usize).ok_or(DtbEditError::BadHeader);
    let (off_struct, off_strings, off_rsvmap) = (field(2)?, field(3)?, field(4)?);
    let (size_strings, size_struct) = (field(8)?, field(9)?);
    if total > src.len()
        || off_struct + size_struct > total
        || off_strings + size_strings > total
        || off_rsvmap >= total
    {
        return Err(DtbEditError::BadHeader);
    }
    // Count the existing reservation entries (16 bytes each, ended by an all-zero entry).
    let mut entries = 0;
    loop {
        let at = off_rsvmap + entries * 16;
        let entry = src.get(at..at + 16).ok_or(DtbEditError::BadHeader)?;
        if entry.iter().all(|&b| b == 0) {
            break;
        }
        entries += 1;
    }

    let new_rsvmap = HEADER_SIZE.next_multiple_of(8);
    let new_struct = new_rsvmap + (entries + 2) * 16;
    let new_strings = new_struct + size_struct;
    let new_total = new_strings + size_strings;
    if dst.len() < new_total {
        return Err(DtbEditError::DestinationTooSmall);
    }
    dst[..HEADER_SIZE].copy_from_slice(&src[..HEADER_SIZE]);
    dst[HEADER_SIZE..new_rsvmap].fill(0);
    dst[new_rsvmap..new_rsvmap + entries * 16].copy_from_slice(&src[off_rsvmap..off_rsvmap + entries * 16]);
    let added = new_rsvmap + entries * 16;
    dst[added..added + 8].copy_from_slice(&reserve.start.to_be_bytes());
    dst[added + 8..added + 16].copy_from_slice(&reserve.size().to_be_bytes());
    dst[added + 16..added + 32].fill(0);
    dst[new_struct..new_strings].copy_from_slice(&src[off_struct..off_struct + size_struct]);
    dst[new_strings..new_total].copy_from_slice(&src[off_strings..off_strings + size_strings]);
    put32(dst, 4, new_total as u32);
    put32(dst, 8, new_struct as u32);
    put32(dst, 12, new_strings as u32);
    put32(dst, 16, new_rsvmap as u32);
    Ok(new_total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn nops_are_removed_and_the_tree_still_parses() {
        let mut dtb = fixture("raspi4b-qemu-patched.dtb");
        let before = dtb.len();
        let size = remove_nops(&mut dtb).unwrap();
        assert!(size < before, "QEMU's patched Pi 4 tree has NOPs to remove");
        let fdt = fdt::Fdt::new(&dtb[..size]).unwrap();
        assert!(fdt.find_node("/soc/serial@7e201000").is_some());
        // A second pass finds nothing left to remove.
        assert_eq!(remove_nops(&mut dtb).unwrap(), size);
    }

    #[test]
    fn a_tree_without_nops_is_unchanged() {
        let original = fixture("virt-gicv2-128m.dtb");
        let mut dtb = original.clone();
        assert_eq!(remove_nops(&mut dtb).unwrap(), original.len());
        assert_eq!(dtb, original);
    }

    #[test]
    fn reservation_copy_adds_an_entry() {
        let original = fixture("bcm2711-rpi-4-b.dtb");
        let mut copy = vec![0u8; max_size_with_reservation(&original).unwrap()];
        let size = copy_with_reservation(&original, &mut copy, Region::new(0x8_0000, 0x20_0000)).unwrap();
        let fdt = fdt::Fdt::new(&copy[..size]).unwrap();
        let reservations: Vec<(u64, u64)> =
            fdt.memory_reservations().map(|r| (r.address() as u64, r.size() as u64)).collect();
        assert_eq!(reservations, vec![(0, 0x1000), (0x8_0000, 0x18_0000)]);
        assert!(fdt.find_node("/soc/serial@7e201000").is_some());
    }

    #[test]
    fn corrupt_trees_are_refused() {
        assert_eq!(remove_nops(&mut [0u8; 64]), Err(DtbEditError::BadHeader));
        let mut truncated = fixture("virt-gicv2-128m.dtb");
        truncated.truncate(200);
        assert_eq!(remove_nops(&mut truncated), Err(DtbEditError::BadHeader));
        let mut dst = [0u8; 16];
        let original = fixture("virt-gicv2-128m.dtb");
        assert_eq!(
            copy_with_reservation(&original, &mut dst, Region::new(0, 1)),
            Err(DtbEditError::DestinationTooSmall)
        );
    }
}
