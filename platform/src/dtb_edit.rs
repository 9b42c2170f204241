//! Edits of flattened device trees the boot path needs.
//!
//! [`remove_nops`] compacts away `FDT_NOP` tokens, which firmware leaves where it deleted
//! nodes or properties (QEMU's raspi4b does, for the devices it does not emulate) and which the
//! `fdt` crate's node walker does not accept between properties. The loader hands the kernel
//! an unchanged copy of the firmware's tree, as seL4's elfloader does, and edits only the
//! original it probes; the kernel removes NOPs from its copy itself.

const MAGIC: u32 = 0xd00d_feed;

/// Why a device tree could not be edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbEditError {
    BadHeader,
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
    fn corrupt_trees_are_refused() {
        assert_eq!(remove_nops(&mut [0u8; 64]), Err(DtbEditError::BadHeader));
        let mut truncated = fixture("virt-gicv2-128m.dtb");
        truncated.truncate(200);
        assert_eq!(remove_nops(&mut truncated), Err(DtbEditError::BadHeader));
    }
}
