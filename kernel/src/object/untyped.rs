//! Untyped memory: the arithmetic of retyping (seL4's rules), separate from the object
//! creation the kernel does with it.
//!
//! An untyped capability records its block (base, size) and a watermark, `free_index`: bytes
//! below it may be in use, bytes above it are free and zero. A retype with no children of the
//! untyped left starts again from 0 (the block is *reset*: cleared up to the old watermark, in
//! chunks, preemptibly); with children it continues at the watermark. Each object is placed at
//! the watermark rounded up to the object's size.

use super::ObjectType;
use crate::error::SyscallError;

/// At most this many objects per retype (seL4's default `CONFIG_RETYPE_FAN_OUT_LIMIT`).
pub const RETYPE_FAN_OUT_LIMIT: u64 = 256;

/// The untyped being retyped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UntypedState {
    /// Physical base of the block.
    pub base: u64,
    pub size_bits: u32,
    /// Watermark: bytes from `base` that may be in use.
    pub free_index: u64,
    pub is_device: bool,
    /// Whether any capability derived from this one still exists.
    pub has_children: bool,
}

/// What a retype will do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetypePlan {
    /// The block must be reset (cleared up to the old watermark) before objects are made.
    pub reset: bool,
    /// Physical address of the first object; the others follow at `object_bits` strides.
    pub first_object: u64,
    pub object_bits: u32,
    pub count: u64,
    /// The watermark after the retype.
    pub new_free_index: u64,
}

/// Plans retyping `untyped` into `count` objects of `object_type` (user size already checked
/// with [`ObjectType::check_user_size`]). The destination checks (node, offset, window, empty
/// slots) come first in seL4's order and are the caller's.
pub fn plan_retype(
    untyped: UntypedState,
    object_type: ObjectType,
    user_size_bits: u32,
    count: u64,
) -> Result<RetypePlan, SyscallError> {
    let free_index = if untyped.has_children { untyped.free_index } else { 0 };
    let object_bits = object_type.size_bits(user_size_bits);
    let block_size = 1u64 << untyped.size_bits;
    let free_bytes = block_size.saturating_sub(free_index);
    if object_bits >= 64 || (free_bytes >> object_bits) < count {
        return Err(SyscallError::NotEnoughMemory { available: free_bytes });
    }
    if untyped.is_device && !object_type.is_frame() && object_type != ObjectType::Untyped {
        return Err(SyscallError::InvalidArgument { argument: 1 });
    }
    let object_size = 1u64 << object_bits;
    let first_object = (untyped.base + free_index).next_multiple_of(object_size);
    let end = first_object + count * object_size;
    // seL4 argues that anything that fits also fits aligned; keep the check explicit.
    if end > untyped.base + block_size {
        return Err(SyscallError::NotEnoughMemory { available: free_bytes });
    }
    Ok(RetypePlan {
        reset: !untyped.has_children,
        first_object,
        object_bits,
        count,
        new_free_index: end - untyped.base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn untyped(size_bits: u32, free_index: u64, has_children: bool) -> UntypedState {
        UntypedState { base: 0x4000_0000, size_bits, free_index, is_device: false, has_children }
    }

    #[test]
    fn objects_are_aligned_after_the_watermark() {
        let plan = plan_retype(untyped(16, 0x10, true), ObjectType::Tcb, 0, 2).unwrap();
        assert_eq!(plan.first_object, 0x4000_0800);
        assert_eq!(plan.new_free_index, 0x1800);
        assert!(!plan.reset);
        let plan = plan_retype(untyped(16, 0x10, true), ObjectType::Endpoint, 0, 3).unwrap();
        assert_eq!(plan.first_object, 0x4000_0010);
        assert_eq!(plan.new_free_index, 0x40);
    }

    #[test]
    fn no_children_means_reset_from_zero() {
        let plan = plan_retype(untyped(16, 0x8000, false), ObjectType::CNode, 4, 1).unwrap();
        assert!(plan.reset);
        assert_eq!(plan.first_object, 0x4000_0000);
        assert_eq!(plan.object_bits, 9);
        assert_eq!(plan.new_free_index, 0x200);
    }

    #[test]
    fn not_enough_memory_reports_free_bytes() {
        let full = untyped(12, 0x1000, true);
        assert_eq!(plan_retype(full, ObjectType::Endpoint, 0, 1), Err(SyscallError::NotEnoughMemory { available: 0 }));
        let half = untyped(12, 0x800, true);
        assert_eq!(plan_retype(half, ObjectType::Tcb, 0, 2), Err(SyscallError::NotEnoughMemory { available: 0x800 }));
        assert!(plan_retype(half, ObjectType::Tcb, 0, 1).is_ok());
        // A 4 KiB page does not fit in the upper half of a 4 KiB untyped.
        assert_eq!(
            plan_retype(half, ObjectType::SmallPage, 0, 1),
            Err(SyscallError::NotEnoughMemory { available: 0x800 })
        );
        assert!(plan_retype(untyped(12, 0, false), ObjectType::Untyped, 63, 1).is_err());
    }

    #[test]
    fn device_untyped_makes_only_frames_and_untyped() {
        let device = UntypedState { is_device: true, ..untyped(21, 0, false) };
        assert_eq!(plan_retype(device, ObjectType::Tcb, 0, 1), Err(SyscallError::InvalidArgument { argument: 1 }));
        assert!(plan_retype(device, ObjectType::SmallPage, 0, 4).is_ok());
        assert!(plan_retype(device, ObjectType::LargePage, 0, 1).is_ok());
        assert!(plan_retype(device, ObjectType::Untyped, 12, 8).is_ok());
    }

    #[test]
    fn user_size_checks() {
        assert_eq!(ObjectType::CNode.check_user_size(0), Err(SyscallError::InvalidArgument { argument: 1 }));
        assert_eq!(ObjectType::Untyped.check_user_size(3), Err(SyscallError::InvalidArgument { argument: 1 }));
        assert_eq!(ObjectType::SchedContext.check_user_size(6), Err(SyscallError::InvalidArgument { argument: 1 }));
        assert_eq!(ObjectType::Untyped.check_user_size(48), Err(SyscallError::RangeError { min: 0, max: 61 }));
        assert_eq!(ObjectType::Tcb.check_user_size(0), Ok(0));
        assert_eq!(ObjectType::CNode.size_bits(13), 18);
        assert_eq!(ObjectType::from_word(12), None);
        assert_eq!(ObjectType::from_word(11), Some(ObjectType::PageTable));
    }
}
