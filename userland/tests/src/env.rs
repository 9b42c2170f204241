//! The test environment: where a case's untyped memory and free slots come from, and the
//! cleanup between cases.

use hmk_rt::BootInfo;
use hmk_sys::bootinfo::slot;
use hmk_sys::invocation::{CNode, CPtr, Untyped};
use hmk_sys::object::ObjectType;

/// Depth of a root-CNode slot address.
pub const DEPTH: u64 = 64;
/// The root CNode.
pub const ROOT: CNode = CNode(slot::INIT_THREAD_CNODE);
/// Slots each case may use (enough for three child programs, each mirroring the suite's image).
pub const WINDOW: u64 = 1536;
/// Size of each case's untyped (4 MiB: room for a 2 MiB page).
pub const CASE_UNTYPED_BITS: u64 = 22;

/// What a case gets.
pub struct Env {
    pub bootinfo: &'static BootInfo,
    /// An untyped of its own (2^CASE_UNTYPED_BITS bytes).
    pub untyped: Untyped,
    /// First free slot of the window (the untyped sits just before it).
    first: CPtr,
    next: CPtr,
}

impl Env {
    /// A fresh free slot.
    pub fn slot(&mut self) -> CPtr {
        assert!(self.next < self.first + WINDOW, "the case used more than its slot window");
        self.next += 1;
        self.next - 1
    }

    /// `count` consecutive free slots; returns the first.
    pub fn slots(&mut self, count: u64) -> CPtr {
        let first = self.next;
        for _ in 0..count {
            self.slot();
        }
        first
    }

    /// The next free slot: a point [`Env::rewind`] can return to.
    pub fn mark(&self) -> CPtr {
        self.next
    }

    /// Deletes what the slots from `mark` on hold and makes them free again.
    pub fn rewind(&mut self, mark: CPtr) {
        for cptr in mark..self.next {
            let _ = ROOT.delete(cptr, DEPTH);
        }
        self.next = mark;
    }

    /// An allocator for building child programs (`hm-parent`): the case's untyped and the next
    /// `count` slots.
    pub fn allocator(&mut self, count: u64) -> hm_parent::Allocator {
        let first = self.slots(count);
        hm_parent::Allocator::with(self.bootinfo, self.untyped, first..first + count)
    }

    /// Retypes one object into a fresh slot.
    pub fn make(&mut self, object_type: ObjectType, size_bits: u64) -> Result<CPtr, alloc::string::String> {
        let dest = self.slot();
        self.untyped
            .retype(object_type, size_bits, ROOT, 0, 0, dest, 1)
            .map_err(|e| alloc::format!("retype {object_type:?}: {e:?}"))?;
        Ok(dest)
    }
}

/// The state the harness keeps between cases.
pub struct Setup {
    bootinfo: &'static BootInfo,
    pool: Untyped,
    base: CPtr,
}

impl Setup {
    pub fn new(bootinfo: &'static BootInfo) -> Setup {
        let (pool, _) = bootinfo
            .largest_ram_untyped()
            .filter(|(_, u)| u64::from(u.size_bits) > CASE_UNTYPED_BITS)
            .expect("no RAM untyped larger than a case's");
        Setup { bootinfo, pool: Untyped(pool), base: bootinfo.empty.start }
    }

    /// A fresh environment: a new untyped from the pool (the pool resets when it has no
    /// children, so memory is reused case after case).
    pub fn prepare(&mut self) -> Env {
        self.pool
            .retype(ObjectType::Untyped, CASE_UNTYPED_BITS, ROOT, 0, 0, self.base, 1)
            .expect("carving a case's untyped");
        Env { bootinfo: self.bootinfo, untyped: Untyped(self.base), first: self.base + 1, next: self.base + 1 }
    }

    /// Deletes everything a case left in its window, then its untyped.
    pub fn clean(&mut self, env: Env) {
        let _ = ROOT.revoke(self.base, DEPTH);
        for cptr in env.first..env.next {
            let _ = ROOT.delete(cptr, DEPTH);
        }
        let _ = ROOT.delete(self.base, DEPTH);
        let _ = self.pool;
    }
}
