//! Untyped memory: the arithmetic of retyping (seL4's rules), separate from the object
//! creation the kernel does with it.
//!
//! An untyped capability records its block (base, size) and a watermark, `free_index`: bytes
//! below it may be in use, bytes above it are free and zero. A retype with no children of the
//! untyped left starts again from 0 (the block is *reset*: cleared up to the old watermark, in
//! chunks, preemptibly); with children it continues at the watermark. Each object is placed at
//! the watermark rounded up to the object's size.

use super::{ObjectRules, ObjectType, object_type};
use crate::cspace::cap::{Cap, FrameSize};
use crate::cspace::invoke::Outcome;
use crate::cspace::lookup::lookup_slot_for_cnode_op;
use crate::cspace::ops;
use crate::cspace::slot::{self, Slot};
use crate::error::{LookupFailure, SyscallError};

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
/// with [`ObjectRules::check_user_size`]). The destination checks (node, offset, window, empty
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

/// Bytes cleared between preemption points when an untyped is reset.
pub const RESET_CHUNK_BYTES: u64 = 1 << 16;

/// What retyping needs from the rest of the kernel.
pub trait RetypeContext {
    /// Fills `len` bytes at kernel address `va` with zeros.
    fn zero(&mut self, va: u64, len: u64);
    /// Called between reset chunks: `true` stops the operation (it is restarted later).
    fn should_preempt(&mut self) -> bool;
}

/// The capability to a new object of `object_type` at kernel address `ptr`.
pub fn new_object_cap(object_type: ObjectType, ptr: u64, user_size_bits: u32, is_device: bool) -> Cap {
    let frame = |size| Cap::Frame { ptr, size, can_read: true, can_write: true, is_device, mapped: None };
    match object_type {
        ObjectType::Untyped => Cap::Untyped { ptr, size_bits: user_size_bits, free_index: 0, is_device },
        ObjectType::Tcb => Cap::Thread { ptr },
        ObjectType::Endpoint => {
            Cap::Endpoint { ptr, badge: 0, can_send: true, can_receive: true, can_grant: true, can_grant_reply: true }
        }
        ObjectType::Notification => Cap::Notification { ptr, badge: 0, can_send: true, can_receive: true },
        ObjectType::CNode => Cap::CNode { ptr, radix: user_size_bits, guard: 0, guard_size: 0 },
        ObjectType::SchedContext => Cap::SchedContext { ptr, size_bits: user_size_bits },
        ObjectType::Reply => Cap::Reply { ptr, can_grant: true },
        ObjectType::HugePage => frame(FrameSize::Huge),
        ObjectType::LargePage => frame(FrameSize::Large),
        ObjectType::SmallPage => frame(FrameSize::Small),
        ObjectType::VSpace => Cap::VSpace { ptr, asid: None },
        ObjectType::PageTable => Cap::PageTable { ptr, level: 0, mapped: None },
    }
}

fn arg(args: &[u64], index: usize) -> u64 {
    args.get(index).copied().unwrap_or(0)
}

/// Decodes and performs UntypedRetype on the untyped in `untyped_slot` (seL4's checks, in
/// seL4's order): `args` are type, size bits, node index, node depth, node offset, count;
/// `extra[0]` is the CNode the destination is looked up from.
///
/// # Safety
/// `untyped_slot` holds an untyped capability whose memory is reachable at its `ptr`; every
/// CNode reachable from `extra[0]` is live.
pub unsafe fn invoke_retype(
    untyped_slot: *mut Slot,
    args: &[u64],
    extra: &[Cap],
    ctx: &mut dyn RetypeContext,
) -> Result<Outcome, SyscallError> {
    if args.len() < 6 || extra.is_empty() {
        return Err(SyscallError::TruncatedMessage);
    }
    let object_type = object_type(arg(args, 0)).ok_or(SyscallError::InvalidArgument { argument: 0 })?;
    let user_size_bits = object_type.check_user_size(arg(args, 1))?;
    let (node_index, node_depth, node_offset, count) = (arg(args, 2), arg(args, 3), arg(args, 4), arg(args, 5));
    // SAFETY: the caller's contract covers the slots and CNodes touched here.
    unsafe {
        let node = if node_depth == 0 {
            extra[0]
        } else {
            (*lookup_slot_for_cnode_op(extra[0], node_index, node_depth, false)?).cap()
        };
        let Cap::CNode { ptr: node_ptr, radix, .. } = node else {
            return Err(SyscallError::FailedLookup {
                source: false,
                failure: LookupFailure::MissingCapability { bits_left: node_depth },
            });
        };
        let node_size = 1u64 << radix;
        if node_offset > node_size - 1 {
            return Err(SyscallError::RangeError { min: 0, max: node_size - 1 });
        }
        if !(1..=RETYPE_FAN_OUT_LIMIT).contains(&count) {
            return Err(SyscallError::RangeError { min: 1, max: RETYPE_FAN_OUT_LIMIT });
        }
        if count > node_size - node_offset {
            return Err(SyscallError::RangeError { min: 1, max: node_size - node_offset });
        }
        let first_dest = (node_ptr as *mut Slot).add(node_offset as usize);
        for i in 0..count as usize {
            if !(*first_dest.add(i)).is_empty() {
                return Err(SyscallError::DeleteFirst);
            }
        }
        let Cap::Untyped { ptr, size_bits, free_index, is_device } = (*untyped_slot).cap() else {
            return Err(SyscallError::IllegalOperation);
        };
        let state = UntypedState {
            base: ptr,
            size_bits,
            free_index,
            is_device,
            has_children: slot::has_children(untyped_slot),
        };
        let plan = plan_retype(state, object_type, user_size_bits, count)?;
        if plan.reset {
            // Clear from the old watermark down, a chunk at a time, lowering the watermark as
            // it goes so a restart after preemption continues where this stopped.
            let mut top = free_index.min(1u64 << size_bits);
            while top > 0 {
                let chunk_start = top.saturating_sub(RESET_CHUNK_BYTES) & !(RESET_CHUNK_BYTES - 1);
                if !is_device {
                    ctx.zero(ptr + chunk_start, top - chunk_start);
                }
                top = chunk_start;
                (*untyped_slot).set_cap(Cap::Untyped { ptr, size_bits, free_index: top, is_device });
                if top > 0 && ctx.should_preempt() {
                    return Ok(Outcome::Preempted);
                }
            }
        }
        (*untyped_slot).set_cap(Cap::Untyped { ptr, size_bits, free_index: plan.new_free_index, is_device });
        let object_size = 1u64 << plan.object_bits;
        for i in 0..count {
            let cap = new_object_cap(object_type, plan.first_object + i * object_size, user_size_bits, is_device);
            ops::insert_new(untyped_slot, first_dest.add(i as usize), cap);
        }
    }
    Ok(Outcome::Done)
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
        // seL4's limit is the largest untyped (47 bits), for the object the size makes.
        assert_eq!(ObjectType::Untyped.check_user_size(48), Err(SyscallError::RangeError { min: 0, max: 47 }));
        assert_eq!(ObjectType::Untyped.check_user_size(61), Err(SyscallError::RangeError { min: 0, max: 47 }));
        assert_eq!(ObjectType::Untyped.check_user_size(64), Err(SyscallError::RangeError { min: 0, max: 47 }));
        assert_eq!(ObjectType::Untyped.check_user_size(47), Ok(47));
        assert_eq!(ObjectType::CNode.check_user_size(43), Err(SyscallError::RangeError { min: 0, max: 47 }));
        assert_eq!(ObjectType::CNode.check_user_size(42), Ok(42));
        assert_eq!(ObjectType::Tcb.check_user_size(50), Ok(50), "a fixed-size object ignores the size");
        assert_eq!(ObjectType::Tcb.check_user_size(0), Ok(0));
        assert_eq!(ObjectType::CNode.size_bits(13), 18);
        assert_eq!(object_type(12), None);
        assert_eq!(object_type(11), Some(ObjectType::PageTable));
    }

    /// Host memory aligned like a retyped block, and a CNode for the destination.
    fn aligned(bytes: usize) -> u64 {
        let layout = std::alloc::Layout::from_size_align(bytes, bytes).unwrap();
        // SAFETY: a fresh allocation, leaked for the test's lifetime.
        let ptr = unsafe { std::alloc::alloc(layout) };
        // Dirty memory: a reset must clear it.
        // SAFETY: `ptr` is valid for `bytes` bytes.
        unsafe { core::ptr::write_bytes(ptr, 0xa5, bytes) };
        ptr as u64
    }

    struct Ctx {
        preempt: bool,
    }

    impl RetypeContext for Ctx {
        fn zero(&mut self, va: u64, len: u64) {
            // SAFETY: tests only pass their own allocations.
            unsafe { core::ptr::write_bytes(va as *mut u8, 0, len as usize) };
        }
        fn should_preempt(&mut self) -> bool {
            self.preempt
        }
    }

    struct Setup {
        cnode: Cap,
        slots: *mut Slot,
        block: u64,
    }

    fn setup(block_bits: u32) -> Setup {
        let cnode_ptr = aligned(32 << 6);
        // SAFETY: 64 fresh slots; zero bytes make empty slots.
        unsafe { core::ptr::write_bytes(cnode_ptr as *mut u8, 0, 32 << 6) };
        let slots = cnode_ptr as *mut Slot;
        let block = aligned(1 << block_bits);
        let untyped = Cap::Untyped { ptr: block, size_bits: block_bits, free_index: 1 << block_bits, is_device: false };
        // SAFETY: slot 0 of the fresh CNode.
        slot::insert_root(unsafe { &mut *slots }, untyped, true);
        Setup { cnode: Cap::CNode { ptr: cnode_ptr, radix: 6, guard: 0, guard_size: 0 }, slots, block }
    }

    #[test]
    fn retype_resets_creates_children_and_moves_the_watermark() {
        let s = setup(17);
        let mut ctx = Ctx { preempt: false };
        // 3 endpoints into slots 10..13 of the CNode (depth 0: the extra cap is the node).
        // SAFETY: the setup's live host memory.
        let result = unsafe { invoke_retype(s.slots, &[2, 0, 0, 0, 10, 3], &[s.cnode], &mut ctx) };
        assert_eq!(result, Ok(Outcome::Done));
        // SAFETY: as above.
        unsafe {
            for i in 0..3u64 {
                let cap = (*s.slots.add(10 + i as usize)).cap();
                assert_eq!(cap.object_region(), Some((s.block + i * 16, 16)));
            }
            assert!(slot::has_children(s.slots));
            assert!(matches!((*s.slots).cap(), Cap::Untyped { free_index: 48, .. }));
            assert_eq!(*(s.block as *const u64), 0, "reset cleared the dirty block");
            // A TCB goes after the watermark, aligned to 2 KiB.
            invoke_retype(s.slots, &[1, 0, 0, 0, 13, 1], &[s.cnode], &mut ctx).unwrap();
            assert_eq!((*s.slots.add(13)).cap(), Cap::Thread { ptr: s.block + 2048 });
        }
    }

    #[test]
    fn retype_errors_follow_sel4() {
        let s = setup(12);
        let mut ctx = Ctx { preempt: false };
        let call = |args: &[u64], extra: &[Cap], ctx: &mut Ctx| {
            // SAFETY: the setup's live host memory.
            unsafe { invoke_retype(s.slots, args, extra, ctx) }
        };
        assert_eq!(call(&[2, 0, 0, 0, 10], &[s.cnode], &mut ctx), Err(SyscallError::TruncatedMessage));
        assert_eq!(call(&[2, 0, 0, 0, 10, 1], &[], &mut ctx), Err(SyscallError::TruncatedMessage));
        assert_eq!(
            call(&[12, 0, 0, 0, 10, 1], &[s.cnode], &mut ctx),
            Err(SyscallError::InvalidArgument { argument: 0 })
        );
        assert_eq!(
            call(&[4, 0, 0, 0, 10, 1], &[s.cnode], &mut ctx),
            Err(SyscallError::InvalidArgument { argument: 1 })
        );
        assert_eq!(call(&[2, 0, 0, 0, 64, 1], &[s.cnode], &mut ctx), Err(SyscallError::RangeError { min: 0, max: 63 }));
        assert_eq!(
            call(&[2, 0, 0, 0, 10, 0], &[s.cnode], &mut ctx),
            Err(SyscallError::RangeError { min: 1, max: 256 })
        );
        assert_eq!(call(&[2, 0, 0, 0, 60, 5], &[s.cnode], &mut ctx), Err(SyscallError::RangeError { min: 1, max: 4 }));
        assert_eq!(call(&[2, 0, 0, 0, 0, 1], &[s.cnode], &mut ctx), Err(SyscallError::DeleteFirst));
        assert_eq!(
            call(&[2, 0, 0, 0, 10, 1], &[Cap::Null], &mut ctx),
            Err(SyscallError::FailedLookup {
                source: false,
                failure: LookupFailure::MissingCapability { bits_left: 0 }
            })
        );
        assert_eq!(
            call(&[1, 0, 0, 0, 10, 3], &[s.cnode], &mut ctx),
            Err(SyscallError::NotEnoughMemory { available: 4096 })
        );
        assert_eq!(call(&[9, 0, 0, 0, 10, 1], &[s.cnode], &mut ctx), Ok(Outcome::Done));
        assert_eq!(
            call(&[2, 0, 0, 0, 11, 1], &[s.cnode], &mut ctx),
            Err(SyscallError::NotEnoughMemory { available: 0 })
        );
    }

    #[test]
    fn preempted_reset_keeps_a_consistent_watermark() {
        let s = setup(18);
        let mut ctx = Ctx { preempt: true };
        // SAFETY: the setup's live host memory.
        unsafe {
            assert_eq!(invoke_retype(s.slots, &[2, 0, 0, 0, 10, 1], &[s.cnode], &mut ctx), Ok(Outcome::Preempted));
            let Cap::Untyped { free_index, .. } = (*s.slots).cap() else { panic!() };
            assert_eq!(free_index, (1 << 18) - RESET_CHUNK_BYTES, "one chunk cleared");
            assert!((*s.slots.add(10)).is_empty());
            ctx.preempt = false;
            assert_eq!(invoke_retype(s.slots, &[2, 0, 0, 0, 10, 1], &[s.cnode], &mut ctx), Ok(Outcome::Done));
            assert_eq!(*((s.block + (1 << 18) - 8) as *const u64), 0);
        }
    }
}
