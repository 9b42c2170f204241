//! Host tests of capability spaces: lookup, the CNode invocations and their errors, deletion
//! with zombies, and a randomized comparison of the derivation tree against a simple model.

use super::cap::{Cap, Rights};
use super::invoke::{CNodeContext, Outcome, invoke_cnode, label};
use super::lookup::{lookup_slot_for_cnode_op, resolve};
use super::ops::{self, DeleteContext, Preempted};
use super::slot::{self, Slot};
use crate::error::{LookupFailure, SyscallError};
use std::collections::{BTreeMap, BTreeSet};

/// A CNode in host memory, aligned to its size like a retyped one.
struct Node(&'static mut [Slot]);

impl Node {
    fn new(radix: u32) -> Node {
        let count = 1usize << radix;
        let layout = std::alloc::Layout::from_size_align(count * 32, count * 32).unwrap();
        // SAFETY: a fresh zeroed allocation of `count` slots (all-zero is an empty slot); it is
        // leaked, so it lives for the whole test run.
        let slots = unsafe { std::slice::from_raw_parts_mut(std::alloc::alloc_zeroed(layout) as *mut Slot, count) };
        Node(slots)
    }
    fn cap(&self, radix: u32, guard: u64, guard_size: u32) -> Cap {
        Cap::CNode { ptr: self.0.as_ptr() as u64, radix, guard, guard_size }
    }
    fn slot(&mut self, index: usize) -> *mut Slot {
        &mut self.0[index]
    }
}

#[derive(Default)]
struct Recorder {
    finalised: Vec<(Cap, bool)>,
    cancelled: Vec<Cap>,
    /// Preempt after this many preemption points (None: never).
    preempt_every: Option<usize>,
    points: usize,
}

impl DeleteContext for Recorder {
    fn finalise(&mut self, cap: &Cap, is_final: bool) {
        self.finalised.push((*cap, is_final));
    }
    fn should_preempt(&mut self) -> bool {
        self.points += 1;
        self.preempt_every.is_some_and(|n| self.points.is_multiple_of(n))
    }
}

impl CNodeContext for Recorder {
    fn cancel_badged_sends(&mut self, cap: &Cap) {
        self.cancelled.push(*cap);
    }
}

fn endpoint(ptr: u64) -> Cap {
    Cap::Endpoint { ptr, badge: 0, can_send: true, can_receive: true, can_grant: true, can_grant_reply: true }
}

/// Fake endpoint objects: 16-byte aligned addresses inside an untyped at 0x10_0000.
const UNTYPED: Cap = Cap::Untyped { ptr: 0x10_0000, size_bits: 16, free_index: 0, is_device: false };

fn ep_addr(n: u64) -> u64 {
    0x10_0000 + n * 16
}

#[test]
fn lookup_through_guards_and_levels() {
    let mut top = Node::new(4);
    let mut second = Node::new(3);
    let second_cap = second.cap(3, 0b101, 3);
    let target = second.slot(6);
    slot::insert_root(unsafe { &mut *top.slot(2) }, second_cap, false);
    let root = top.cap(4, 0, 0);
    // 4 bits index 2, then guard 101, then 3 bits index 6: 0b0010_101_110.
    let cptr = 0b0010_101_110;
    // SAFETY: both CNodes are live host vectors.
    unsafe {
        assert_eq!(resolve(root, cptr, 10), Ok((target, 0)));
        assert_eq!(lookup_slot_for_cnode_op(root, cptr, 10, false), Ok(target));
        // Stopping after the first level names the slot holding the second CNode.
        assert_eq!(lookup_slot_for_cnode_op(root, 0b0010, 4, false), Ok(top.slot(2)));
        assert_eq!(
            resolve(root, 0b0010_111_110, 10),
            Err(LookupFailure::GuardMismatch { bits_left: 6, guard_found: 0b101, guard_size: 3 })
        );
        // Depth 8 uses the low 8 bits: index 2, then the guard, then only one bit for radix 3.
        assert_eq!(resolve(root, cptr >> 2, 8), Err(LookupFailure::DepthMismatch { bits_found: 6, bits_left: 4 }));
        assert_eq!(resolve(Cap::Null, 0, 64), Err(LookupFailure::InvalidRoot));
        assert_eq!(lookup_slot_for_cnode_op(root, 0, 0, true), Err(SyscallError::RangeError { min: 1, max: 64 }));
        assert_eq!(lookup_slot_for_cnode_op(root, 0, 65, true), Err(SyscallError::RangeError { min: 1, max: 64 }));
        // Depth 12 runs past the second CNode into an empty slot: bits are left over.
        assert_eq!(
            lookup_slot_for_cnode_op(root, cptr << 2, 12, true),
            Err(SyscallError::FailedLookup {
                source: true,
                failure: LookupFailure::DepthMismatch { bits_found: 0, bits_left: 2 }
            })
        );
    }
}

#[test]
fn a_cnode_holding_itself_resolves_without_looping() {
    let mut node = Node::new(1);
    let cap = node.cap(1, 0, 0);
    slot::insert_root(unsafe { &mut *node.slot(0) }, cap, false);
    // 64 bits of zeros go round the same CNode 64 times and end in slot 0.
    // SAFETY: live host CNode.
    assert_eq!(unsafe { resolve(cap, 0, 64) }, Ok((node.slot(0), 0)));
}

/// A root CNode with an untyped in slot 0 and `originals` endpoints retyped from it in slots
/// 1..; returns the node and its capability (radix 6, no guard).
fn setup(originals: u64) -> (Node, Cap) {
    let mut node = Node::new(6);
    let cap = node.cap(6, 0, 0);
    slot::insert_root(unsafe { &mut *node.slot(0) }, UNTYPED, true);
    for n in 0..originals {
        // SAFETY: live host slots.
        unsafe { ops::insert_new(node.slot(0), node.slot(1 + n as usize), endpoint(ep_addr(n))) };
    }
    (node, cap)
}

fn call(cnode: Cap, ctx: &mut Recorder, op: u64, args: &[u64], extra: &[Cap]) -> Result<Outcome, SyscallError> {
    // SAFETY: tests only name live host CNodes.
    unsafe { invoke_cnode(op, cnode, args, extra, ctx) }
}

#[test]
fn copy_mint_move_mutate_and_their_errors() {
    let (mut node, root) = setup(1);
    let mut ctx = Recorder::default();
    let all = Rights::ALL.to_word();
    // Copy slot 1 to 10 with read only.
    assert_eq!(call(root, &mut ctx, label::COPY, &[10, 6, 1, 6, 0b10], &[root]), Ok(Outcome::Done));
    let copied = unsafe { (*node.slot(10)).cap() };
    assert!(matches!(copied, Cap::Endpoint { can_receive: true, can_send: false, can_grant: false, .. }));
    // Destination occupied.
    assert_eq!(call(root, &mut ctx, label::COPY, &[10, 6, 1, 6, all], &[root]), Err(SyscallError::DeleteFirst));
    // Empty source.
    assert_eq!(
        call(root, &mut ctx, label::COPY, &[11, 6, 40, 6, all], &[root]),
        Err(SyscallError::FailedLookup { source: true, failure: LookupFailure::MissingCapability { bits_left: 6 } })
    );
    // Truncated messages and a missing extra capability.
    assert_eq!(call(root, &mut ctx, label::COPY, &[11, 6, 1, 6], &[root]), Err(SyscallError::TruncatedMessage));
    assert_eq!(call(root, &mut ctx, label::COPY, &[11, 6, 1, 6, all], &[]), Err(SyscallError::TruncatedMessage));
    assert_eq!(call(root, &mut ctx, label::MINT, &[11, 6, 1, 6, all], &[root]), Err(SyscallError::TruncatedMessage));
    assert_eq!(call(root, &mut ctx, label::DELETE, &[11], &[]), Err(SyscallError::TruncatedMessage));
    // Invalid label and an invalid source root.
    assert_eq!(call(root, &mut ctx, 17, &[11, 6], &[]), Err(SyscallError::IllegalOperation));
    assert_eq!(
        call(root, &mut ctx, label::COPY, &[11, 6, 1, 6, all], &[Cap::Null]),
        Err(SyscallError::FailedLookup { source: true, failure: LookupFailure::InvalidRoot })
    );
    // Mint with a badge, then minting the badged capability again is refused.
    assert_eq!(call(root, &mut ctx, label::MINT, &[11, 6, 1, 6, all, 42], &[root]), Ok(Outcome::Done));
    assert_eq!(unsafe { (*node.slot(11)).cap() }.badge(), 42);
    assert_eq!(
        call(root, &mut ctx, label::MINT, &[12, 6, 11, 6, all, 7], &[root]),
        Err(SyscallError::IllegalOperation)
    );
    // Copying the untyped while it has children is refused.
    assert_eq!(call(root, &mut ctx, label::COPY, &[12, 6, 0, 6, all], &[root]), Err(SyscallError::RevokeFirst));
    // Move keeps the tree position; Mutate of an endpoint keeps its badge.
    assert_eq!(call(root, &mut ctx, label::MOVE, &[20, 6, 11, 6], &[root]), Ok(Outcome::Done));
    assert!(unsafe { (*node.slot(11)).is_empty() });
    assert_eq!(call(root, &mut ctx, label::MUTATE, &[21, 6, 20, 6, 99], &[root]), Ok(Outcome::Done));
    assert_eq!(unsafe { (*node.slot(21)).cap() }.badge(), 42);
    // Mutate a CNode capability's guard; a guard that does not fit is refused.
    let guard_data = (0b11 << 6) | 2;
    assert_eq!(call(root, &mut ctx, label::COPY, &[30, 6, 1, 6, all], &[root]), Ok(Outcome::Done));
    unsafe { (*node.slot(31)).set_cap(Cap::Null) };
    let mut inner = Node::new(2);
    slot::insert_root(unsafe { &mut *node.slot(31) }, inner.cap(2, 0, 0), false);
    assert_eq!(call(root, &mut ctx, label::MUTATE, &[32, 6, 31, 6, guard_data], &[root]), Ok(Outcome::Done));
    assert_eq!(unsafe { (*node.slot(32)).cap() }, inner.cap(2, 0b11, 2));
    assert_eq!(call(root, &mut ctx, label::MUTATE, &[33, 6, 32, 6, 63], &[root]), Err(SyscallError::IllegalOperation));
    let _ = inner.slot(0);
    // Delete and revoke through the invocation.
    assert_eq!(call(root, &mut ctx, label::DELETE, &[10, 6], &[]), Ok(Outcome::Done));
    assert_eq!(ctx.finalised.last(), Some(&(copied, false)), "not the last capability to the endpoint");
    assert_eq!(call(root, &mut ctx, label::REVOKE, &[0, 6], &[]), Ok(Outcome::Done));
    for index in [1, 21, 30] {
        assert!(unsafe { (*node.slot(index)).is_empty() }, "slot {index} revoked");
    }
    // The last capability to the endpoint (the badged one in slot 21) is finalised as final.
    assert!(ctx.finalised.iter().any(|(cap, last)| cap.badge() == 42 && *last));
}

#[test]
fn cancel_badged_sends_needs_all_rights() {
    let (_node, root) = setup(1);
    let mut ctx = Recorder::default();
    assert_eq!(call(root, &mut ctx, label::CANCEL_BADGED_SENDS, &[1, 6], &[]), Ok(Outcome::Done));
    assert_eq!(ctx.cancelled.len(), 1);
    assert_eq!(call(root, &mut ctx, label::COPY, &[2, 6, 1, 6, 0b11], &[root]), Ok(Outcome::Done));
    assert_eq!(call(root, &mut ctx, label::CANCEL_BADGED_SENDS, &[2, 6], &[]), Err(SyscallError::IllegalOperation));
}

#[test]
fn rotate_moves_pivot_to_destination_and_source_to_pivot() {
    let (mut node, root) = setup(2);
    let mut ctx = Recorder::default();
    let (a, b) = unsafe { ((*node.slot(1)).cap(), (*node.slot(2)).cap()) };
    // dest 5 empty, pivot 2, source 1.
    assert_eq!(call(root, &mut ctx, label::ROTATE, &[5, 6, 0, 2, 6, 0, 1, 6], &[root, root]), Ok(Outcome::Done));
    unsafe {
        assert_eq!((*node.slot(5)).cap(), b);
        assert_eq!((*node.slot(2)).cap(), a);
        assert!((*node.slot(1)).is_empty());
    }
    // Swap: dest == source.
    assert_eq!(call(root, &mut ctx, label::ROTATE, &[5, 6, 0, 2, 6, 0, 5, 6], &[root, root]), Ok(Outcome::Done));
    unsafe {
        assert_eq!((*node.slot(5)).cap(), a);
        assert_eq!((*node.slot(2)).cap(), b);
    }
    // Pivot equal to the destination is refused.
    assert_eq!(
        call(root, &mut ctx, label::ROTATE, &[5, 6, 0, 5, 6, 0, 2, 6], &[root, root]),
        Err(SyscallError::IllegalOperation)
    );
    assert_eq!(
        call(root, &mut ctx, label::ROTATE, &[5, 6, 0, 5, 6, 0, 2], &[root, root]),
        Err(SyscallError::TruncatedMessage)
    );
    check_list(&node);
}

#[test]
fn deleting_a_cnode_deletes_its_contents_and_survives_cycles() {
    let mut outer_holder = Node::new(2);
    let mut inner = Node::new(3);
    let mut nested = Node::new(2);
    let inner_cap = inner.cap(3, 0, 0);
    let nested_cap = nested.cap(2, 0, 0);
    unsafe {
        slot::insert_root(&mut *outer_holder.slot(0), inner_cap, true);
        // `inner` holds: an endpoint, a capability to itself, and the only capability to `nested`.
        slot::insert_root(&mut *inner.slot(1), endpoint(ep_addr(1)), true);
        ops::insert_derived(inner_cap, outer_holder.slot(0), inner.slot(2));
        slot::insert_root(&mut *inner.slot(5), nested_cap, true);
        slot::insert_root(&mut *nested.slot(3), endpoint(ep_addr(2)), true);
    }
    let mut ctx = Recorder::default();
    // The outer capability is not final (inner holds a copy): deleting it only removes it.
    unsafe { ops::delete_slot(outer_holder.slot(0), true, &mut ctx) }.unwrap();
    assert!(ctx.finalised.is_empty());
    // Deleting the self-capability, now final, empties `inner`, parks `nested` as a zombie.
    unsafe { ops::delete_slot(inner.slot(2), true, &mut ctx) }.unwrap();
    assert!(ctx.finalised.contains(&(endpoint(ep_addr(1)), true)));
    unsafe {
        assert!(inner.0.iter().all(|s| s.is_empty()), "inner CNode emptied");
        assert!(matches!((*nested.slot(0)).cap(), Cap::Zombie { .. }), "nested parked in its own first slot");
        // Revoking-style deletion of the cyclic zombie finishes `nested`.
        ops::delete_slot(nested.slot(0), true, &mut ctx).unwrap();
        assert!(nested.0.iter().all(|s| s.is_empty()));
    }
    assert!(ctx.finalised.contains(&(endpoint(ep_addr(2)), true)));
}

#[test]
fn preempted_revoke_finishes_when_rerun() {
    let (mut node, root) = setup(8);
    let mut ctx = Recorder { preempt_every: Some(3), ..Recorder::default() };
    let mut runs = 0;
    loop {
        runs += 1;
        match call(root, &mut ctx, label::REVOKE, &[0, 6], &[]) {
            Ok(Outcome::Done) => break,
            Ok(Outcome::Preempted) => check_list(&node),
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(runs > 1, "the budget forced restarts");
    assert!((1..=8).all(|i| unsafe { (*node.slot(i)).is_empty() }));
    assert_eq!(ctx.finalised.iter().filter(|(_, last)| *last).count(), 8, "each endpoint finalised once");
    assert!(unsafe { !slot::has_children(node.slot(0)) });
}

/// Every forward link has the matching backward link and no slot is linked from outside the
/// node set (tests keep all linked slots in `node`).
fn check_list(node: &Node) {
    for s in node.0.iter() {
        let here = s as *const Slot as *mut Slot;
        if !s.next().is_null() {
            assert_eq!(unsafe { (*s.next()).prev() }, here, "next.prev points back");
        }
        if !s.prev().is_null() {
            assert_eq!(unsafe { (*s.prev()).next() }, here, "prev.next points back");
        }
        if s.is_empty() {
            assert!(s.next().is_null() && s.prev().is_null(), "empty slots are unlinked");
        }
    }
}

/// The model: per occupied slot, its object, badge and parent slot (by index).
#[derive(Clone, Debug, Default)]
struct Model {
    caps: BTreeMap<usize, (u64, u64, Option<usize>, bool)>,
}

impl Model {
    fn descendants(&self, of: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let mut frontier = vec![of];
        while let Some(p) = frontier.pop() {
            for (&s, &(_, _, parent, _)) in &self.caps {
                if parent == Some(p) && out.insert(s) {
                    frontier.push(s);
                }
            }
        }
        out
    }
    fn remove(&mut self, slot_index: usize) {
        let parent = self.caps.get(&slot_index).and_then(|c| c.2);
        self.caps.remove(&slot_index);
        for cap in self.caps.values_mut() {
            if cap.2 == Some(slot_index) {
                cap.2 = parent;
            }
        }
    }
}

/// The derivation tree as the slots say it: descendants of each occupied slot.
fn real_descendants(node: &mut Node, of: usize) -> BTreeSet<usize> {
    let base = node.0.as_ptr() as u64;
    let mut out = BTreeSet::new();
    let start = node.slot(of);
    let mut next = unsafe { (*start).next() };
    while !next.is_null() && unsafe { slot::is_parent_of(&*start, &*next) } {
        out.insert(((next as u64 - base) / 32) as usize);
        next = unsafe { (*next).next() };
    }
    out
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn random_operations_match_the_model() {
    for seed in 1..150u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let originals = 3;
        let (mut node, root) = setup(originals);
        let mut model = Model::default();
        model.caps.insert(0, (0, 0, None, true));
        for n in 0..originals as usize {
            model.caps.insert(1 + n, (ep_addr(n as u64), 0, Some(0), true));
        }
        let mut ctx = Recorder { preempt_every: if seed % 3 == 0 { Some(2) } else { None }, ..Recorder::default() };
        let all = Rights::ALL.to_word();
        for _step in 0..60 {
            let src = rng.below(16) as usize;
            let dest = 1 + rng.below(15) as usize;
            let op = rng.below(7);
            let before = model.clone();
            let result = match op {
                0 => call(root, &mut ctx, label::COPY, &[dest as u64, 6, src as u64, 6, all], &[root]),
                1 => {
                    let badge = rng.below(3);
                    call(root, &mut ctx, label::MINT, &[dest as u64, 6, src as u64, 6, all, badge], &[root])
                }
                2 => call(root, &mut ctx, label::MOVE, &[dest as u64, 6, src as u64, 6], &[root]),
                3 => call(root, &mut ctx, label::MUTATE, &[dest as u64, 6, src as u64, 6, 0], &[root]),
                4 | 5 => loop {
                    match call(root, &mut ctx, label::DELETE, &[dest as u64, 6], &[]) {
                        Ok(Outcome::Preempted) => check_list(&node),
                        other => break other,
                    }
                },
                _ => loop {
                    match call(root, &mut ctx, label::REVOKE, &[src as u64, 6], &[]) {
                        Ok(Outcome::Preempted) => check_list(&node),
                        other => break other,
                    }
                },
            };
            // Update the model with the rules of the derivation tree.
            let occupied = |m: &Model, s: usize| m.caps.get(&s).copied();
            match (op, result) {
                (0 | 1, Ok(_)) => {
                    let (object, badge, parent, revocable) = occupied(&before, src).unwrap();
                    let new_badge = if op == 1 && badge == 0 { rng_badge(&node, dest) } else { badge };
                    let derived_revocable = new_badge != badge || object == 0;
                    let new_parent = if revocable { Some(src) } else { parent };
                    model.caps.insert(dest, (object, new_badge, new_parent, derived_revocable));
                }
                (2 | 3, Ok(_)) => {
                    let moved = model.caps.remove(&src).unwrap();
                    model.caps.insert(dest, moved);
                    for cap in model.caps.values_mut() {
                        if cap.2 == Some(src) {
                            cap.2 = Some(dest);
                        }
                    }
                }
                (4 | 5, Ok(_)) => model.remove(dest),
                (6, Ok(_)) => {
                    for d in before.descendants(src) {
                        model.caps.remove(&d);
                    }
                }
                (_, Err(_)) => {}
                (_, Ok(_)) => unreachable!(),
            }
            check_list(&node);
            for s in 0..16usize {
                let real = unsafe { !(*node.slot(s)).is_empty() };
                assert_eq!(real, model.caps.contains_key(&s), "seed {seed}: occupancy of slot {s} after op {op}");
                if real {
                    assert_eq!(
                        real_descendants(&mut node, s),
                        model.descendants(s),
                        "seed {seed}: descendants of slot {s} after op {op}"
                    );
                }
            }
        }
        let finals: Vec<u64> = ctx
            .finalised
            .iter()
            .filter(|(cap, last)| *last && matches!(cap, Cap::Endpoint { .. }))
            .filter_map(|(c, _)| c.object_region().map(|r| r.0))
            .collect();
        let unique: BTreeSet<u64> = finals.iter().copied().collect();
        assert_eq!(finals.len(), unique.len(), "seed {seed}: an object was finalised twice");
    }
}

/// Badges in the random test are read back from the slot the mint wrote.
fn rng_badge(node: &Node, dest: usize) -> u64 {
    node.0[dest].cap().badge()
}

#[test]
fn preemption_reports_consistently() {
    struct Always;
    impl DeleteContext for Always {
        fn finalise(&mut self, _: &Cap, _: bool) {}
        fn should_preempt(&mut self) -> bool {
            true
        }
    }
    let (mut node, _root) = setup(2);
    // SAFETY: live host slots.
    assert_eq!(unsafe { ops::revoke(node.slot(0), &mut Always) }, Err(Preempted));
    check_list(&node);
}
