//! CNode invocations: decoding their arguments with seL4's checks and error codes, in seL4's
//! order, then performing them with [`super::ops`].

use super::cap::{Cap, Rights};
use super::lookup::lookup_slot_for_cnode_op;
use super::ops::{self, DeleteContext, Preempted};
use super::slot::{self, Slot};
use crate::error::{LookupFailure, SyscallError};

/// seL4's CNode invocation labels, as the ABI states them.
pub mod label {
    pub use hmk_sys::object::label::{
        CNODE_CANCEL_BADGED_SENDS as CANCEL_BADGED_SENDS, CNODE_COPY as COPY, CNODE_DELETE as DELETE,
        CNODE_MINT as MINT, CNODE_MOVE as MOVE, CNODE_MUTATE as MUTATE, CNODE_REVOKE as REVOKE, CNODE_ROTATE as ROTATE,
    };
}

/// What CNode invocations need from the rest of the kernel, beyond deletion.
pub trait CNodeContext: DeleteContext {
    /// Cancels every pending send on the endpoint `cap` names with `cap`'s badge.
    fn cancel_badged_sends(&mut self, cap: &Cap);
}

/// How an invocation ended when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// Stopped at a preemption point: restart the system call.
    Preempted,
}

impl From<Result<(), Preempted>> for Outcome {
    fn from(result: Result<(), Preempted>) -> Self {
        match result {
            Ok(()) => Outcome::Done,
            Err(Preempted) => Outcome::Preempted,
        }
    }
}

fn arg(args: &[u64], index: usize) -> u64 {
    args.get(index).copied().unwrap_or(0)
}

fn missing(source: bool, depth: u64) -> SyscallError {
    SyscallError::FailedLookup { source, failure: LookupFailure::MissingCapability { bits_left: depth } }
}

/// Decodes and performs the CNode invocation `label` on the CNode capability `cnode` with
/// message words `args` and extra capabilities `extra`.
///
/// # Safety
/// Every CNode reachable from `cnode` and from the extra capabilities is live, as is every
/// slot linked from those.
pub unsafe fn invoke_cnode(
    label: u64,
    cnode: Cap,
    args: &[u64],
    extra: &[Cap],
    ctx: &mut dyn CNodeContext,
) -> Result<Outcome, SyscallError> {
    if !(label::REVOKE..=label::ROTATE).contains(&label) {
        return Err(SyscallError::IllegalOperation);
    }
    if args.len() < 2 {
        return Err(SyscallError::TruncatedMessage);
    }
    // SAFETY: forwarded contract.
    let dest = unsafe { lookup_slot_for_cnode_op(cnode, arg(args, 0), arg(args, 1), false)? };
    match label {
        label::COPY | label::MINT | label::MOVE | label::MUTATE => {
            if args.len() < 4 || extra.is_empty() {
                return Err(SyscallError::TruncatedMessage);
            }
            // SAFETY: forwarded contract.
            unsafe { copy_like(label, dest, args, extra[0]) }
        }
        // SAFETY: forwarded contract.
        label::REVOKE => Ok(unsafe { ops::revoke(dest, ctx) }.into()),
        // SAFETY: forwarded contract.
        label::DELETE => Ok(unsafe { ops::delete_slot(dest, true, ctx) }.into()),
        label::CANCEL_BADGED_SENDS => {
            // SAFETY: forwarded contract.
            let cap = unsafe { (*dest).cap() };
            let all_rights = matches!(
                cap,
                Cap::Endpoint { can_send: true, can_receive: true, can_grant: true, can_grant_reply: true, .. }
            );
            if !all_rights {
                return Err(SyscallError::IllegalOperation);
            }
            ctx.cancel_badged_sends(&cap);
            Ok(Outcome::Done)
        }
        _ => {
            // SAFETY: forwarded contract.
            unsafe { rotate(dest, args, extra) }?;
            Ok(Outcome::Done)
        }
    }
}

/// Copy, Mint, Move and Mutate (seL4 checks them in this order: destination empty, source
/// found and not empty, then the per-invocation arguments).
unsafe fn copy_like(label: u64, dest: *mut Slot, args: &[u64], source_root: Cap) -> Result<Outcome, SyscallError> {
    let (source_index, source_depth) = (arg(args, 2), arg(args, 3));
    // SAFETY: the caller's contract covers every slot touched here.
    unsafe {
        if !(*dest).is_empty() {
            return Err(SyscallError::DeleteFirst);
        }
        let source = lookup_slot_for_cnode_op(source_root, source_index, source_depth, true)?;
        let source_cap = (*source).cap();
        if source_cap.is_null() {
            return Err(missing(true, source_depth));
        }
        let (new_cap, is_move) = match label {
            label::COPY => {
                if args.len() < 5 {
                    return Err(SyscallError::TruncatedMessage);
                }
                let masked = ops::mask_rights(source_cap, Rights::from_word(arg(args, 4)));
                (ops::derive(source, masked)?, false)
            }
            label::MINT => {
                if args.len() < 6 {
                    return Err(SyscallError::TruncatedMessage);
                }
                let masked = ops::mask_rights(source_cap, Rights::from_word(arg(args, 4)));
                let badged = ops::update_cap_data(false, arg(args, 5), masked).unwrap_or(Cap::Null);
                (ops::derive(source, badged)?, false)
            }
            label::MOVE => (source_cap, true),
            _ => {
                if args.len() < 5 {
                    return Err(SyscallError::TruncatedMessage);
                }
                (ops::update_cap_data(true, arg(args, 4), source_cap).unwrap_or(Cap::Null), true)
            }
        };
        if new_cap.is_null() {
            return Err(SyscallError::IllegalOperation);
        }
        if is_move {
            if source != dest {
                slot::move_slot(source, dest, new_cap);
            }
        } else {
            ops::insert_derived(new_cap, source, dest);
        }
    }
    Ok(Outcome::Done)
}

/// Rotate: the pivot's capability moves to the destination and the source's to the pivot
/// (a swap when the destination is the source).
unsafe fn rotate(dest: *mut Slot, args: &[u64], extra: &[Cap]) -> Result<(), SyscallError> {
    if args.len() < 8 || extra.len() < 2 {
        return Err(SyscallError::TruncatedMessage);
    }
    let (pivot_data, pivot_index, pivot_depth) = (arg(args, 2), arg(args, 3), arg(args, 4));
    let (source_data, source_index, source_depth) = (arg(args, 5), arg(args, 6), arg(args, 7));
    // SAFETY: the caller's contract covers every slot touched here.
    unsafe {
        let source = lookup_slot_for_cnode_op(extra[1], source_index, source_depth, true)?;
        let pivot = lookup_slot_for_cnode_op(extra[0], pivot_index, pivot_depth, true)?;
        if pivot == source || pivot == dest {
            return Err(SyscallError::IllegalOperation);
        }
        if source != dest && !(*dest).is_empty() {
            return Err(SyscallError::DeleteFirst);
        }
        let (source_cap, pivot_cap) = ((*source).cap(), (*pivot).cap());
        if source_cap.is_null() {
            return Err(missing(true, source_depth));
        }
        if pivot_cap.is_null() {
            return Err(missing(false, pivot_depth));
        }
        let new_source = ops::update_cap_data(true, source_data, source_cap).ok_or(SyscallError::IllegalOperation)?;
        let new_pivot = ops::update_cap_data(true, pivot_data, pivot_cap).ok_or(SyscallError::IllegalOperation)?;
        if source == dest {
            slot::swap_slots(source, new_source, pivot, new_pivot);
        } else {
            slot::move_slot(pivot, dest, new_pivot);
            slot::move_slot(source, pivot, new_source);
        }
    }
    Ok(())
}
