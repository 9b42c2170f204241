//! CSpace addressing: resolving a capability pointer through guarded CNodes.
//!
//! Each CNode level consumes `guard_size` bits that must equal its guard, then `radix` bits
//! that index a slot. Resolution continues into the slot's capability while it is a CNode and
//! bits remain. Every level consumes at least one bit (radix >= 1), so resolution of at most 64
//! bits ends after at most 64 levels, even through a CNode that contains itself.

use super::cap::Cap;
use super::slot::Slot;
use crate::error::{LookupFailure, SyscallError};

/// Bits in a capability pointer.
pub const WORD_BITS: u32 = 64;

fn low_bits(value: u64, count: u32) -> u64 {
    if count >= 64 { value } else { value & ((1u64 << count) - 1) }
}

/// Resolves `depth` bits of `cptr` starting at the CNode capability `root`. Returns the slot
/// reached and how many bits were left unresolved (non-zero when a non-CNode capability was
/// reached first).
///
/// # Safety
/// Every CNode capability reachable from `root` names a live CNode object.
pub unsafe fn resolve(root: Cap, cptr: u64, depth: u32) -> Result<(*mut Slot, u32), LookupFailure> {
    let Cap::CNode { .. } = root else { return Err(LookupFailure::InvalidRoot) };
    let mut node = root;
    let mut bits = depth.min(WORD_BITS);
    loop {
        let Cap::CNode { ptr, radix, guard, guard_size } = node else { unreachable!("checked before each level") };
        let level = radix + guard_size;
        // seL4 checks the guard first, then the depth; the fault reports the CNode's guard.
        let guard_found = if guard_size == 0 {
            0
        } else {
            low_bits(cptr.checked_shr(bits.wrapping_sub(guard_size)).unwrap_or(0), guard_size)
        };
        if guard_size > bits || guard_found != guard {
            return Err(LookupFailure::GuardMismatch {
                bits_left: u64::from(bits),
                guard_found: guard,
                guard_size: u64::from(guard_size),
            });
        }
        if level == 0 || level > bits {
            return Err(LookupFailure::DepthMismatch { bits_found: u64::from(level), bits_left: u64::from(bits) });
        }
        let index = low_bits(cptr.checked_shr(bits - level).unwrap_or(0), radix);
        let slot = (ptr as *mut Slot).wrapping_add(index as usize);
        bits -= level;
        if bits == 0 {
            return Ok((slot, 0));
        }
        // SAFETY: `slot` lies inside the live CNode named by `node` (index < 2^radix).
        let next = unsafe { (*slot).cap() };
        match next {
            Cap::CNode { .. } => node = next,
            _ => return Ok((slot, bits)),
        }
    }
}

/// The slot a CNode operation names by `(root, index, depth)`: exactly `depth` bits must be
/// consumed (seL4 `lookupSlotForCNodeOp`). `source` says which side failed, for the error.
///
/// # Safety
/// As for [`resolve`].
pub unsafe fn lookup_slot_for_cnode_op(
    root: Cap,
    index: u64,
    depth: u64,
    source: bool,
) -> Result<*mut Slot, SyscallError> {
    if !matches!(root, Cap::CNode { .. }) {
        return Err(SyscallError::FailedLookup { source, failure: LookupFailure::InvalidRoot });
    }
    if depth < 1 || depth > u64::from(WORD_BITS) {
        return Err(SyscallError::RangeError { min: 1, max: u64::from(WORD_BITS) });
    }
    // SAFETY: forwarded contract.
    match unsafe { resolve(root, index, depth as u32) } {
        Err(failure) => Err(SyscallError::FailedLookup { source, failure }),
        Ok((_, left)) if left != 0 => Err(SyscallError::FailedLookup {
            source,
            failure: LookupFailure::DepthMismatch { bits_found: 0, bits_left: u64::from(left) },
        }),
        Ok((slot, _)) => Ok(slot),
    }
}

/// The slot a thread names when it invokes `cptr` in its CSpace `root` (all 64 bits, stopping
/// at the first non-CNode capability).
///
/// # Safety
/// As for [`resolve`].
pub unsafe fn lookup_cap_slot(root: Cap, cptr: u64) -> Result<*mut Slot, LookupFailure> {
    // SAFETY: forwarded contract.
    unsafe { resolve(root, cptr, WORD_BITS) }.map(|(slot, _)| slot)
}
