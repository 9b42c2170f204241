//! What a fuzzing thread believes its sandbox holds: the objects it made (kind, the untyped
//! they came from), which slots hold capabilities to them and how those capabilities derive
//! from each other (for revoke), and the references between objects the kernel keeps (a thread
//! blocked on an endpoint, a reply naming a thread, a bound scheduling context, ...). The
//! model steers the fuzzer towards objects that others still refer to; it is a belief, not a
//! check: when the kernel disagrees, the calls just fail and the model carries on.

/// No object, slot or helper.
pub const NONE: u8 = 0xff;
/// Slots of the sandbox CNode (radix 8).
pub const SLOTS: usize = 256;
/// Slots 0..FIRST_FREE hold the thread's own capabilities; the fuzzer never touches them.
pub const FIRST_FREE: usize = 16;
pub const MAX_OBJECTS: usize = 200;
pub const MAX_EDGES: usize = 96;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Untyped,
    Tcb,
    Endpoint,
    Notification,
    CNode,
    SchedContext,
    Reply,
    Frame,
}

/// A reference the kernel keeps from one object to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ref {
    /// TCB blocked (sending, receiving or calling) on an endpoint or notification.
    BlockedOn,
    /// Reply object naming a thread (the caller it answers, or the receiver waiting with it).
    ReplyNames,
    /// Scheduling context bound to a thread.
    ScBound,
    /// Scheduling context lent to a passive server by a call.
    ScDonated,
    /// Scheduling context bound to a notification.
    ScNotification,
    /// Notification bound to a TCB.
    NtfnBound,
    /// TCB's fault handler endpoint.
    FaultHandler,
    /// TCB's timeout handler endpoint.
    TimeoutHandler,
    /// TCB's IPC buffer frame.
    IpcBuffer,
}

#[derive(Clone, Copy, Debug)]
pub struct Object {
    pub live: bool,
    pub kind: Kind,
    /// The helper thread running on it (TCBs only).
    pub helper: u8,
}

#[derive(Clone, Copy, Debug)]
pub struct Slot {
    pub object: u8,
    /// The slot this capability was derived from (copy, mint, retype), NONE for originals.
    pub parent: u8,
    /// Its rights (seL4_CapRights bits: write 1, read 2, grant 4, grant-reply 8): receiving
    /// needs read, and a receive on a capability without it is a capability fault.
    pub rights: u8,
}

/// The read right.
pub const READ: u8 = 2;
const ALL_RIGHTS: u8 = 0xf;

#[derive(Clone, Copy, Debug)]
pub struct Edge {
    pub from: u8,
    pub to: u8,
    pub kind: Ref,
}

pub struct Model {
    pub objects: [Object; MAX_OBJECTS],
    pub slots: [Slot; SLOTS],
    pub edges: [Edge; MAX_EDGES],
    pub edge_count: usize,
}

const EMPTY_SLOT: Slot = Slot { object: NONE, parent: NONE, rights: 0 };
const DEAD: Object = Object { live: false, kind: Kind::Untyped, helper: NONE };

impl Model {
    pub const fn new() -> Model {
        Model {
            objects: [DEAD; MAX_OBJECTS],
            slots: [EMPTY_SLOT; SLOTS],
            edges: [Edge { from: NONE, to: NONE, kind: Ref::BlockedOn }; MAX_EDGES],
            edge_count: 0,
        }
    }

    pub fn reset(&mut self) {
        self.objects = [DEAD; MAX_OBJECTS];
        self.slots = [EMPTY_SLOT; SLOTS];
        self.edge_count = 0;
    }

    /// Records a new object in `slot` (derived from `parent_slot`, or an original).
    pub fn add(&mut self, kind: Kind, slot: usize, parent_slot: u8) -> Option<u8> {
        let index = self.objects.iter().position(|o| !o.live)?;
        self.objects[index] = Object { live: true, kind, helper: NONE };
        self.slots[slot] = Slot { object: index as u8, parent: parent_slot, rights: ALL_RIGHTS };
        Some(index as u8)
    }

    pub fn object_at(&self, slot: usize) -> Option<u8> {
        let object = self.slots.get(slot)?.object;
        (object != NONE).then_some(object)
    }

    pub fn kind_at(&self, slot: usize) -> Option<Kind> {
        self.object_at(slot).map(|o| self.objects[o as usize].kind)
    }

    pub fn free_slot(&self, start: u64) -> Option<usize> {
        let count = SLOTS - FIRST_FREE;
        (0..count).map(|i| FIRST_FREE + (start as usize + i) % count).find(|&s| self.slots[s].object == NONE)
    }

    /// Objects that refer to `object` or that it refers to.
    pub fn neighbours(&self, object: u8, out: &mut [u8; 8]) -> usize {
        let mut count = 0;
        for e in &self.edges[..self.edge_count] {
            let other = if e.from == object {
                e.to
            } else if e.to == object {
                e.from
            } else {
                continue;
            };
            if count < out.len() && !out[..count].contains(&other) {
                out[count] = other;
                count += 1;
            }
        }
        count
    }

    /// Sets the reference `kind` from `from` to `to`, replacing `from`'s earlier one of that
    /// kind (every kind names one object).
    pub fn link(&mut self, from: u8, to: u8, kind: Ref) {
        self.unlink_from(from, kind);
        if from == NONE || to == NONE || self.edge_count == MAX_EDGES {
            return;
        }
        self.edges[self.edge_count] = Edge { from, to, kind };
        self.edge_count += 1;
    }

    pub fn unlink_from(&mut self, from: u8, kind: Ref) {
        self.retain_edges(|e| !(e.from == from && e.kind == kind));
    }

    pub fn unlink_to(&mut self, to: u8, kind: Ref) {
        self.retain_edges(|e| !(e.to == to && e.kind == kind));
    }

    /// The object `from` refers to with `kind`.
    pub fn target(&self, from: u8, kind: Ref) -> Option<u8> {
        self.edges[..self.edge_count].iter().find(|e| e.from == from && e.kind == kind).map(|e| e.to)
    }

    /// The object referring to `to` with `kind`.
    pub fn source(&self, to: u8, kind: Ref) -> Option<u8> {
        self.edges[..self.edge_count].iter().find(|e| e.to == to && e.kind == kind).map(|e| e.from)
    }

    fn retain_edges(&mut self, keep: impl Fn(&Edge) -> bool) {
        let mut kept = 0;
        for i in 0..self.edge_count {
            if keep(&self.edges[i]) {
                self.edges[kept] = self.edges[i];
                kept += 1;
            }
        }
        self.edge_count = kept;
    }

    /// A capability was copied or minted from `from` into `to` with at most `rights`.
    pub fn derive(&mut self, from: usize, to: usize, rights: u8) {
        let source = self.slots[from];
        self.slots[to] = Slot { object: source.object, parent: from as u8, rights: source.rights & rights };
    }

    /// A capability moved (Move, Mutate): its children follow it.
    pub fn moved(&mut self, from: usize, to: usize) {
        self.slots[to] = self.slots[from];
        self.slots[from] = EMPTY_SLOT;
        for slot in self.slots.iter_mut() {
            if slot.parent == from as u8 {
                slot.parent = to as u8;
            }
        }
    }

    /// The capability in `slot` was deleted: its children hang from its parent now. Returns
    /// the objects that died with it (up to 8; the rest die unreported).
    pub fn deleted(&mut self, slot: usize, dead: &mut [u8; 8]) -> usize {
        let parent = self.slots[slot].parent;
        let object = self.slots[slot].object;
        self.slots[slot] = EMPTY_SLOT;
        for s in self.slots.iter_mut() {
            if s.parent == slot as u8 {
                s.parent = parent;
            }
        }
        self.bury(&[object], dead)
    }

    /// Everything derived from `slot` was deleted (Revoke). Returns the objects that died.
    pub fn revoked(&mut self, slot: usize, dead: &mut [u8; 8]) -> usize {
        let mut gone = [NONE; SLOTS];
        let mut gone_count = 0;
        let mut changed = true;
        let mut doomed = [false; SLOTS];
        while changed {
            changed = false;
            for s in FIRST_FREE..SLOTS {
                let parent = self.slots[s].parent;
                if doomed[s] || self.slots[s].object == NONE || parent == NONE {
                    continue;
                }
                if parent as usize == slot || doomed[parent as usize] {
                    doomed[s] = true;
                    changed = true;
                }
            }
        }
        for s in FIRST_FREE..SLOTS {
            if doomed[s] {
                gone[gone_count] = self.slots[s].object;
                gone_count += 1;
                self.slots[s] = EMPTY_SLOT;
            }
        }
        self.bury(&gone[..gone_count], dead)
    }

    /// Objects among `candidates` that no slot names any more die; so do objects retyped
    /// from a dead untyped (their capabilities were children of its capability).
    fn bury(&mut self, candidates: &[u8], dead: &mut [u8; 8]) -> usize {
        let mut count = 0;
        for &object in candidates {
            if object == NONE || !self.objects[object as usize].live {
                continue;
            }
            if self.slots[FIRST_FREE..].iter().any(|s| s.object == object) {
                continue;
            }
            self.objects[object as usize].live = false;
            self.retain_edges(|e| e.from != object && e.to != object);
            if count < dead.len() {
                dead[count] = object;
                count += 1;
            }
        }
        count
    }
}
