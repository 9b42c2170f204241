//! CNode slots and the capability derivation tree.
//!
//! A slot is 32 bytes, as in seL4: the capability's two words and two derivation links. The
//! derivation tree is kept seL4's way, as one doubly linked list of slots in depth-first order:
//! the descendants of a slot are the run of slots after it that it is the *MDB parent* of
//! ([`is_parent_of`]). Two flags per slot shape that relation: `revocable` (this capability may
//! have children) and `first_badged` (the first badged copy of an endpoint or notification,
//! which starts a new subtree). Links are slot addresses; every function that follows them is
//! `unsafe` and relies on one invariant: **every link in a live slot points at a live slot**.

use super::cap::Cap;

const REVOCABLE: u64 = 1 << 0;
const FIRST_BADGED: u64 = 1 << 1;
const FLAGS: u64 = REVOCABLE | FIRST_BADGED;

/// One capability slot.
#[repr(C, align(32))]
#[derive(Debug, Default)]
pub struct Slot {
    cap: [u64; 2],
    prev: u64,
    /// Next slot's address, with the two flags in its (always zero) low bits.
    next_and_flags: u64,
}

const _: () = assert!(core::mem::size_of::<Slot>() == 32);

impl Slot {
    pub const EMPTY: Slot = Slot { cap: [0, 0], prev: 0, next_and_flags: 0 };

    pub fn cap(&self) -> Cap {
        Cap::decode(self.cap)
    }

    pub fn raw_cap(&self) -> [u64; 2] {
        self.cap
    }

    /// Replaces the capability, keeping the slot's place in the tree.
    pub fn set_cap(&mut self, cap: Cap) {
        self.cap = cap.encode();
    }

    pub fn is_empty(&self) -> bool {
        self.cap().is_null()
    }

    pub fn prev(&self) -> *mut Slot {
        self.prev as *mut Slot
    }

    pub fn next(&self) -> *mut Slot {
        (self.next_and_flags & !FLAGS) as *mut Slot
    }

    pub fn revocable(&self) -> bool {
        self.next_and_flags & REVOCABLE != 0
    }

    pub fn first_badged(&self) -> bool {
        self.next_and_flags & FIRST_BADGED != 0
    }

    fn set_prev(&mut self, prev: *mut Slot) {
        self.prev = prev as u64;
    }

    fn set_next(&mut self, next: *mut Slot) {
        self.next_and_flags = (next as u64) | (self.next_and_flags & FLAGS);
    }

    fn set_flags(&mut self, revocable: bool, first_badged: bool) {
        self.next_and_flags = (self.next_and_flags & !FLAGS)
            | if revocable { REVOCABLE } else { 0 }
            | if first_badged { FIRST_BADGED } else { 0 };
    }

    pub fn set_first_badged(&mut self, value: bool) {
        let revocable = self.revocable();
        self.set_flags(revocable, value);
    }
}

/// seL4's `isMDBParentOf`: whether `child`, found after `parent` in the list, is derived from it.
pub fn is_parent_of(parent: &Slot, child: &Slot) -> bool {
    if !parent.revocable() {
        return false;
    }
    let (p, c) = (parent.cap(), child.cap());
    if !p.same_region_as(&c) {
        return false;
    }
    match p {
        Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } if badge != 0 => {
            c.badge() == badge && !child.first_badged()
        }
        _ => true,
    }
}

/// Whether `slot` has at least one descendant.
///
/// # Safety
/// `slot` and its links are live (the module invariant).
pub unsafe fn has_children(slot: *mut Slot) -> bool {
    // SAFETY: the caller's contract.
    unsafe {
        let next = (*slot).next();
        !next.is_null() && is_parent_of(&*slot, &*next)
    }
}

/// Whether deleting the capability in `slot` removes the last capability to its object:
/// neither list neighbour names the same object (seL4 `isFinalCapability`).
///
/// # Safety
/// As for [`has_children`].
pub unsafe fn is_final(slot: *mut Slot) -> bool {
    // SAFETY: the caller's contract.
    unsafe {
        let cap = (*slot).cap();
        let prev = (*slot).prev();
        let next = (*slot).next();
        let same = |other: *mut Slot| !other.is_null() && cap.same_object_as(&(*other).cap());
        !same(prev) && !same(next)
    }
}

/// Puts `cap` into the empty slot `new`, right after `after` in the list.
///
/// # Safety
/// `new` is empty and unlinked; `after` and its links are live.
pub unsafe fn insert_after(after: *mut Slot, new: *mut Slot, cap: Cap, revocable: bool, first_badged: bool) {
    // SAFETY: the caller's contract: every pointer touched is a live slot.
    unsafe {
        let next = (*after).next();
        (*new).set_cap(cap);
        (*new).set_prev(after);
        (*new).next_and_flags = 0;
        (*new).set_next(next);
        (*new).set_flags(revocable, first_badged);
        (*after).set_next(new);
        if !next.is_null() {
            (*next).set_prev(new);
        }
    }
}

/// Puts `cap` into the empty, unlinked slot `new` with no place in any tree (a fresh root:
/// initial capabilities at boot).
pub fn insert_root(new: &mut Slot, cap: Cap, revocable: bool) {
    new.set_cap(cap);
    new.prev = 0;
    new.next_and_flags = 0;
    new.set_flags(revocable, revocable);
}

/// Empties `slot` and unlinks it, passing its first-badged mark to its successor (seL4
/// `emptySlot` without the finalisation, which the caller has done).
///
/// # Safety
/// `slot` and its links are live.
pub unsafe fn unlink_and_clear(slot: *mut Slot) {
    // SAFETY: the caller's contract.
    unsafe {
        let prev = (*slot).prev();
        let next = (*slot).next();
        if !prev.is_null() {
            (*prev).set_next(next);
        }
        if !next.is_null() {
            (*next).set_prev(prev);
            let badged = (*next).first_badged() || (*slot).first_badged();
            (*next).set_first_badged(badged);
        }
        *slot = Slot::EMPTY;
    }
}

/// Moves the capability and tree position of `from` into the empty slot `to`, storing `cap`
/// (seL4 `cteMove`: the capability may have been changed on the way).
///
/// # Safety
/// `from` and its links are live; `to` is empty and unlinked; `from != to`.
pub unsafe fn move_slot(from: *mut Slot, to: *mut Slot, cap: Cap) {
    // SAFETY: the caller's contract.
    unsafe {
        let prev = (*from).prev();
        let next = (*from).next();
        (*to).set_cap(cap);
        (*to).prev = (*from).prev;
        (*to).next_and_flags = (*from).next_and_flags;
        if !prev.is_null() {
            (*prev).set_next(to);
        }
        if !next.is_null() {
            (*next).set_prev(to);
        }
        *from = Slot::EMPTY;
    }
}

/// Exchanges two slots' capabilities (replaced by `cap_a` going to `b` and `cap_b` to `a`) and
/// tree positions (seL4 `cteSwap`).
///
/// # Safety
/// Both slots and their links are live and `a != b`.
pub unsafe fn swap_slots(a: *mut Slot, cap_a: Cap, b: *mut Slot, cap_b: Cap) {
    // SAFETY: the caller's contract. Neighbours are re-pointed one side at a time through a
    // temporary empty slot, which handles adjacent slots correctly.
    unsafe {
        let mut temp = Slot::EMPTY;
        let temp_ptr: *mut Slot = &mut temp;
        move_slot(a, temp_ptr, cap_a);
        move_slot(b, a, cap_b);
        let carried = (*temp_ptr).cap();
        move_slot(temp_ptr, b, carried);
    }
}
