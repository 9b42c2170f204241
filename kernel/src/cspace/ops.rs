//! The capability operations: deriving, badging and masking capabilities, the CNode
//! invocations' effects (copy, mint, move, mutate, rotate), and deletion and revocation.
//!
//! Deletion follows seL4's design for bounded, preemptible work. Deleting the last capability
//! to a CNode or a TCB turns it into a *zombie* that keeps the object's place in the
//! derivation tree (so its untyped cannot be reset) while the object's slots are emptied from
//! the last one down, one per step. A final CNode or TCB capability met inside a dying object
//! becomes a zombie that is parked in its own object's first slot (a "cyclic" zombie, finished
//! when its untyped is revoked), so the work never nests more than two levels. Between steps
//! the caller's preemption check may stop the operation; every slot and link is consistent then,
//! and running the same operation again continues where it stopped.

use super::cap::{Cap, Rights, ZombieKind};
use super::slot::{self, Slot};
use crate::error::SyscallError;
use crate::object::tcb::slot::COUNT as TCB_SLOT_COUNT;

/// A delete or revoke stopped at a preemption point; re-run it to continue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preempted;

/// What deletion needs from the rest of the kernel.
pub trait DeleteContext {
    /// Side effects of deleting `cap` (`is_final`: no other capability names its object):
    /// endpoints and notifications release their waiters, a final TCB suspends its thread,
    /// frames are unmapped, and so on. Not called for zombies or for a CNode's own capability.
    fn finalise(&mut self, cap: &Cap, is_final: bool);
    /// Called at each preemption point: `true` stops the operation.
    fn should_preempt(&mut self) -> bool;
}

/// seL4 `maskCapRights`: the capability with at most `rights`.
pub fn mask_rights(cap: Cap, rights: Rights) -> Cap {
    match cap {
        Cap::Endpoint { ptr, badge, can_send, can_receive, can_grant, can_grant_reply } => Cap::Endpoint {
            ptr,
            badge,
            can_send: can_send && rights.write,
            can_receive: can_receive && rights.read,
            can_grant: can_grant && rights.grant,
            can_grant_reply: can_grant_reply && rights.grant_reply,
        },
        Cap::Notification { ptr, badge, can_send, can_receive } => Cap::Notification {
            ptr,
            badge,
            can_send: can_send && rights.write,
            can_receive: can_receive && rights.read,
        },
        Cap::Reply { ptr, can_grant } => Cap::Reply { ptr, can_grant: can_grant && rights.grant },
        Cap::Frame { ptr, size, can_read, can_write, is_device, mapped } => {
            // seL4's VM rights: read-write, read-only or kernel-only; write without read is not
            // a mapping right, so it falls to kernel-only.
            let read = can_read && rights.read;
            Cap::Frame { ptr, size, can_read: read, can_write: read && can_write && rights.write, is_device, mapped }
        }
        other => other,
    }
}

/// seL4 `updateCapData`: a badge for an unbadged endpoint or notification (refused with
/// `preserve`, or when already badged), a guard for a CNode (refused when it does not fit).
/// `None` means the result would be invalid.
pub fn update_cap_data(preserve: bool, data: u64, cap: Cap) -> Option<Cap> {
    match cap {
        Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } if preserve || badge != 0 => {
            if preserve {
                Some(cap)
            } else {
                None
            }
        }
        Cap::Endpoint { ptr, can_send, can_receive, can_grant, can_grant_reply, .. } => {
            Some(Cap::Endpoint { ptr, badge: data, can_send, can_receive, can_grant, can_grant_reply })
        }
        Cap::Notification { ptr, can_send, can_receive, .. } => {
            Some(Cap::Notification { ptr, badge: data, can_send, can_receive })
        }
        Cap::CNode { ptr, radix, .. } => {
            let guard_size = (data & 63) as u32;
            if guard_size + radix > 64 {
                return None;
            }
            let guard = (data >> 6) & if guard_size >= 64 { u64::MAX } else { (1u64 << guard_size) - 1 };
            Some(Cap::CNode { ptr, radix, guard, guard_size })
        }
        other => Some(other),
    }
}

/// seL4 `deriveCap`: the capability a copy of `slot`'s capability `cap` becomes.
///
/// # Safety
/// `slot` and its links are live.
pub unsafe fn derive(slot: *mut Slot, cap: Cap) -> Result<Cap, SyscallError> {
    match cap {
        Cap::Zombie { .. } | Cap::IrqControl => Ok(Cap::Null),
        // SAFETY: forwarded contract.
        Cap::Untyped { .. } if unsafe { slot::has_children(slot) } => Err(SyscallError::RevokeFirst),
        Cap::PageTable { mapped: None, .. } | Cap::VSpace { asid: None, .. } => Err(SyscallError::IllegalOperation),
        Cap::Frame { ptr, size, can_read, can_write, is_device, .. } => {
            Ok(Cap::Frame { ptr, size, can_read, can_write, is_device, mapped: None })
        }
        other => Ok(other),
    }
}

/// seL4 `isCapRevocable`: whether the copy `derived` of `source` starts a subtree of its own.
pub fn is_revocable(derived: &Cap, source: &Cap) -> bool {
    match derived {
        Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } => *badge != source.badge(),
        Cap::IrqHandler { .. } => matches!(source, Cap::IrqControl),
        Cap::Untyped { .. } => true,
        _ => false,
    }
}

/// Inserts `cap`, derived from `source`'s capability, into the empty slot `dest` as its child
/// or sibling (seL4 `cteInsert`).
///
/// # Safety
/// `source` and its links are live; `dest` is empty and unlinked.
pub unsafe fn insert_derived(cap: Cap, source: *mut Slot, dest: *mut Slot) {
    // SAFETY: forwarded contract.
    unsafe {
        let source_cap = (*source).cap();
        let revocable = is_revocable(&cap, &source_cap);
        slot::insert_after(source, dest, cap, revocable, revocable);
        // seL4's rule for copying an untyped (which has no children, or `derive` refuses): the
        // original is marked full, so only the copy can make objects in the block until the
        // copy is gone. Two objects never share memory.
        if let (
            Cap::Untyped { ptr, size_bits, is_device, .. },
            Cap::Untyped { ptr: copy_ptr, size_bits: copy_bits, .. },
        ) = (source_cap, cap)
            && (ptr, size_bits) == (copy_ptr, copy_bits)
        {
            (*source).set_cap(Cap::Untyped { ptr, size_bits, free_index: 1u64 << size_bits, is_device });
        }
    }
}

/// Inserts a capability to a freshly created object as a child of the untyped in `parent`
/// (seL4 `insertNewCap`).
///
/// # Safety
/// As for [`insert_derived`].
pub unsafe fn insert_new(parent: *mut Slot, dest: *mut Slot, cap: Cap) {
    // SAFETY: forwarded contract.
    unsafe { slot::insert_after(parent, dest, cap, true, true) }
}

/// Empty slots of a zombie's object: CNode slots, or the TCB's own capability slots.
fn zombie_slots(ptr: u64) -> *mut Slot {
    ptr as *mut Slot
}

fn zombie_for(cap: &Cap) -> Option<Cap> {
    match *cap {
        Cap::CNode { ptr, radix, .. } => {
            Some(Cap::Zombie { ptr, kind: ZombieKind::CNode { radix }, remaining: 1u64 << radix })
        }
        Cap::Thread { ptr } => Some(Cap::Zombie { ptr, kind: ZombieKind::Tcb, remaining: TCB_SLOT_COUNT as u64 }),
        _ => None,
    }
}

/// Whether a zombie in `slot` needs no more work: nothing left, or only itself left in its own
/// object's first slot.
fn zombie_done(cap: &Cap, slot: *mut Slot) -> bool {
    match *cap {
        Cap::Zombie { remaining: 0, .. } => true,
        Cap::Zombie { ptr, remaining: 1, .. } => zombie_slots(ptr) == slot,
        _ => false,
    }
}

/// Whether `slot` holds a zombie parked in its own object's first slot.
fn is_cyclic_zombie(cap: &Cap, slot: *mut Slot) -> bool {
    matches!(*cap, Cap::Zombie { ptr, .. } if zombie_slots(ptr) == slot)
}

/// Runs finalisation on `slot` until its capability can be removed (seL4 `finaliseSlot`).
/// `exposed`: the slot is the one the user named (its zombie is reduced in place); otherwise a
/// zombie is parked in its own object instead. Returns whether the slot may now be emptied.
///
/// # Safety
/// `slot` and every slot reachable from it are live.
unsafe fn finalise_slot(slot: *mut Slot, exposed: bool, ctx: &mut dyn DeleteContext) -> Result<bool, Preempted> {
    loop {
        // SAFETY: forwarded contract.
        let cap = unsafe { (*slot).cap() };
        let remainder = match cap {
            Cap::Null => return Ok(true),
            Cap::Zombie { .. } => cap,
            _ => {
                // SAFETY: forwarded contract.
                let is_final = unsafe { slot::is_final(slot) };
                if !matches!(cap, Cap::CNode { .. }) {
                    ctx.finalise(&cap, is_final);
                }
                match zombie_for(&cap).filter(|_| is_final) {
                    Some(zombie) => zombie,
                    None => return Ok(true),
                }
            }
        };
        if zombie_done(&remainder, slot) {
            return Ok(true);
        }
        // SAFETY: forwarded contract.
        unsafe { (*slot).set_cap(remainder) };
        if !exposed && is_cyclic_zombie(&remainder, slot) {
            return Ok(false);
        }
        // SAFETY: forwarded contract.
        unsafe { reduce_zombie(slot, exposed, ctx)? };
        if ctx.should_preempt() {
            return Err(Preempted);
        }
    }
}

/// One step of a zombie's work (seL4 `reduceZombie`). Exposed: delete the object's last
/// remaining slot. Not exposed: park the zombie in its object's first slot, taking whatever
/// was there into `slot` to be deleted next.
///
/// # Safety
/// As for [`finalise_slot`]; `slot` holds a zombie.
unsafe fn reduce_zombie(slot: *mut Slot, exposed: bool, ctx: &mut dyn DeleteContext) -> Result<(), Preempted> {
    // SAFETY: forwarded contract.
    let Cap::Zombie { ptr, kind, remaining } = (unsafe { (*slot).cap() }) else { return Ok(()) };
    let first = zombie_slots(ptr);
    if exposed {
        let end = first.wrapping_add(remaining as usize - 1);
        if end != slot {
            // SAFETY: `end` lies inside the zombie's live object (remaining <= its slot count).
            unsafe { delete_slot(end, false, ctx)? };
        }
        // SAFETY: as above.
        let now = unsafe { (*slot).cap() };
        if now == (Cap::Zombie { ptr, kind, remaining }) {
            // SAFETY: as above.
            unsafe { (*slot).set_cap(Cap::Zombie { ptr, kind, remaining: remaining - 1 }) };
        }
        Ok(())
    } else {
        // SAFETY: `first` is the first slot of the zombie's live object; `slot != first` since
        // cyclic zombies return before this point.
        unsafe {
            let (zombie, parked) = ((*slot).cap(), (*first).cap());
            slot::swap_slots(slot, zombie, first, parked);
        }
        Ok(())
    }
}

/// Deletes the capability in `slot` (seL4 `cteDelete`), finalising its object when it was the
/// last capability to it. `exposed` is true for the slot the user named.
///
/// # Safety
/// `slot` and every slot reachable from it are live.
pub unsafe fn delete_slot(slot: *mut Slot, exposed: bool, ctx: &mut dyn DeleteContext) -> Result<(), Preempted> {
    // SAFETY: forwarded contract.
    let removable = unsafe { finalise_slot(slot, exposed, ctx)? };
    if exposed || removable {
        // SAFETY: forwarded contract (an empty slot has no links, so this only clears it).
        unsafe { slot::unlink_and_clear(slot) };
    }
    Ok(())
}

/// Deletes every capability derived from the one in `slot` (seL4 `cteRevoke`).
///
/// # Safety
/// As for [`delete_slot`].
pub unsafe fn revoke(slot: *mut Slot, ctx: &mut dyn DeleteContext) -> Result<(), Preempted> {
    loop {
        // SAFETY: forwarded contract.
        let next = unsafe { (*slot).next() };
        // SAFETY: forwarded contract.
        if next.is_null() || !unsafe { slot::is_parent_of(&*slot, &*next) } {
            return Ok(());
        }
        // SAFETY: forwarded contract.
        unsafe { delete_slot(next, true, ctx)? };
        if ctx.should_preempt() {
            return Err(Preempted);
        }
    }
}
