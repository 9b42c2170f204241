//! Writes a copy of a flattened device tree with one more `/memreserve/` entry.
//!
//! The loader uses this to tell the kernel which memory it still occupies (the loader image
//! and what it embeds) without any channel beyond seL4's boot handoff: the kernel already
//! treats every device-tree reservation as memory it must not hand out as untyped.

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
