//! VSpace invocations: ASIDControl MakePool, ASIDPool Assign, PageTable Map/Unmap, Frame Map,
//! Unmap, GetAddress and cache maintenance, VSpace cache maintenance, with seL4's checks and
//! error codes; and the unmapping that deleting a frame, table or VSpace capability does.

use crate::arch::aarch64::mmu;
use crate::thread;
use hmk_kernel::cspace::cap::{Cap, FrameSize, Mapping};
use hmk_kernel::cspace::invoke::Outcome;
use hmk_kernel::cspace::lookup::lookup_slot_for_cnode_op;
use hmk_kernel::cspace::ops;
use hmk_kernel::cspace::slot::Slot;
use hmk_kernel::error::{LookupFailure, SyscallError};
use hmk_kernel::vspace::{USER_TOP, VSpaceError, Walker};
use hmk_platform::pte::{self, LeafAttrs, MemAttr};
use hmk_sys::object::CacheOp;

/// seL4's invocation labels for these objects.
mod label {
    pub use hmk_sys::object::label::{
        ARM_ASID_CONTROL_MAKE_POOL as ASID_CONTROL_MAKE_POOL, ARM_ASID_POOL_ASSIGN as ASID_POOL_ASSIGN,
        ARM_PAGE_GET_ADDRESS as PAGE_GET_ADDRESS, ARM_PAGE_MAP as PAGE_MAP, ARM_PAGE_TABLE_MAP as PAGE_TABLE_MAP,
        ARM_PAGE_TABLE_UNMAP as PAGE_TABLE_UNMAP, ARM_PAGE_UNMAP as PAGE_UNMAP,
    };
}

/// seL4_ARM_VMAttributes: cacheable (bit 0), execute never (bit 2).
const ATTR_CACHEABLE: u64 = 1;
const ATTR_EXECUTE_NEVER: u64 = 4;

fn walker() -> Walker {
    Walker { window_offset: mmu::phys_to_virt(0) }
}

fn arg(args: &[u64], index: usize) -> u64 {
    args.get(index).copied().unwrap_or(0)
}

/// The VSpace root (physical) and ASID a VSpace capability names, if it has an ASID that
/// still names it (its pool may have been deleted).
fn vspace_of(cap: &Cap) -> Result<(u64, u16), SyscallError> {
    let Cap::VSpace { ptr, asid: Some(asid) } = *cap else {
        return Err(SyscallError::InvalidCapability { argument: 1 });
    };
    let root = mmu::virt_to_phys(ptr);
    if thread::vspace_root(asid) != Some(root) {
        return Err(SyscallError::FailedLookup { source: false, failure: LookupFailure::InvalidRoot });
    }
    Ok((root, asid))
}

/// The table level a frame of `size` is a leaf at.
fn leaf_level(size: FrameSize) -> usize {
    match size {
        FrameSize::Small => 3,
        FrameSize::Large => 2,
        FrameSize::Huge => 1,
    }
}

fn missing_table(level: usize) -> SyscallError {
    // seL4 reports a missing paging structure as a failed lookup with the bits still to resolve.
    let bits_left = (12 + 9 * (4 - level)) as u64;
    SyscallError::FailedLookup { source: false, failure: LookupFailure::MissingCapability { bits_left } }
}

/// Decodes and performs an ASID pool, page table or frame invocation on the capability in
/// `slot`, with the extra capabilities `extra` (and their slots).
///
/// # Safety
/// `slot` and `extra_slots` are live slots; every object named is live.
pub unsafe fn invoke(
    label: u64,
    slot: *mut Slot,
    args: &[u64],
    extra: &[Cap],
    extra_slots: &[*mut Slot],
    reply: &mut [u64; 120],
    reply_length: &mut usize,
) -> Result<Outcome, SyscallError> {
    // SAFETY: the caller's contract.
    let cap = unsafe { (*slot).cap() };
    match (cap, label) {
        (Cap::AsidPool { ptr, asid_base }, label::ASID_POOL_ASSIGN) => {
            let (Some(&vspace), Some(&vspace_slot)) = (extra.first(), extra_slots.first()) else {
                return Err(SyscallError::TruncatedMessage);
            };
            let Cap::VSpace { ptr: root, asid: None } = vspace else {
                return Err(SyscallError::InvalidCapability { argument: 1 });
            };
            let entries = ptr as *mut u64;
            // Entry 0 of pool 0 would be ASID 0, which is never valid.
            let first = if asid_base == 0 { 1 } else { 0 };
            // SAFETY: an ASID pool object is 512 words.
            let free = (first..512).find(|&i| unsafe { *entries.add(i) } == 0).ok_or(SyscallError::DeleteFirst)?;
            // SAFETY: as above; `vspace_slot` is live.
            unsafe {
                *entries.add(free) = root;
                (*vspace_slot).set_cap(Cap::VSpace { ptr: root, asid: Some((asid_base + free as u64) as u16) });
            }
            thread::set_asid_pool((asid_base >> 9) as usize, ptr);
            Ok(Outcome::Done)
        }
        (Cap::PageTable { ptr, mapped, .. }, label::PAGE_TABLE_MAP) => {
            if args.len() < 2 || extra.is_empty() {
                return Err(SyscallError::TruncatedMessage);
            }
            if mapped.is_some() {
                return Err(SyscallError::InvalidCapability { argument: 0 });
            }
            let vaddr = arg(args, 0);
            if vaddr >= USER_TOP {
                return Err(SyscallError::InvalidArgument { argument: 0 });
            }
            let (root, asid) = vspace_of(&extra[0])?;
            // The table goes at the first level of the walk that has no table yet.
            let w = walker();
            let mut level = 1;
            while level <= 3 {
                // SAFETY: the VSpace root and its tables are live objects.
                let entry = unsafe { w.entry(root, vaddr, level - 1) }.map_err(|e| match e {
                    VSpaceError::MissingTable { level } => missing_table(level),
                    _ => SyscallError::InvalidArgument { argument: 0 },
                })?;
                // SAFETY: as above.
                if !pte::is_table(unsafe { *entry }, level - 1) {
                    break;
                }
                level += 1;
            }
            if level > 3 {
                return Err(SyscallError::DeleteFirst);
            }
            // SAFETY: as above; the table object is fresh from retype (zeroed) and unmapped.
            unsafe { w.install_table(root, vaddr, level, mmu::virt_to_phys(ptr)) }
                .map_err(|_| SyscallError::DeleteFirst)?;
            let covered = pte::level_size(level - 1);
            // SAFETY: the caller's contract.
            unsafe {
                (*slot).set_cap(Cap::PageTable {
                    ptr,
                    level: level as u32,
                    mapped: Some(Mapping { asid, vaddr: vaddr & !(covered - 1) }),
                })
            };
            Ok(Outcome::Done)
        }
        (Cap::PageTable { ptr, mapped, level }, label::PAGE_TABLE_UNMAP) => {
            // seL4: only the last capability to a table may unmap it (a copy would otherwise
            // keep a mapped table alive in the hands of a capability that thinks it is not).
            // SAFETY: the caller's contract.
            if !unsafe { hmk_kernel::cspace::slot::is_final(slot) } {
                return Err(SyscallError::RevokeFirst);
            }
            if let Some(mapping) = mapped {
                unmap_table(ptr, level, mapping);
                // seL4 clears an unmapped table: mapped again elsewhere, it must not bring back
                // the leaves it held, which their frame capabilities still record at the old
                // address (and would not unmap when deleted).
                // SAFETY: a page table object is 4 KiB of RAM in the kernel window; it is no
                // longer linked into any VSpace and its ASID's TLB entries are gone.
                unsafe { core::ptr::write_bytes(ptr as *mut u8, 0, 4096) };
                // SAFETY: the caller's contract.
                unsafe { (*slot).set_cap(Cap::PageTable { ptr, level: 0, mapped: None }) };
            }
            Ok(Outcome::Done)
        }
        (Cap::Frame { ptr, size, can_read, can_write, is_device, mapped }, label::PAGE_MAP) => {
            if args.len() < 3 || extra.is_empty() {
                return Err(SyscallError::TruncatedMessage);
            }
            let (vaddr, rights, attributes) = (arg(args, 0), arg(args, 1), arg(args, 2));
            let (root, asid) = vspace_of(&extra[0])?;
            let bytes = 1u64 << size.bits();
            if vaddr % bytes != 0 {
                return Err(SyscallError::AlignmentError);
            }
            if vaddr.checked_add(bytes).is_none_or(|end| end > USER_TOP) {
                return Err(SyscallError::InvalidArgument { argument: 0 });
            }
            // A mapped frame maps again only where it is (seL4: another address space is the
            // VSpace argument's fault, another address the address's).
            match mapped {
                Some(m) if m.asid != asid => return Err(SyscallError::InvalidCapability { argument: 1 }),
                Some(m) if m.vaddr != vaddr => return Err(SyscallError::InvalidArgument { argument: 0 }),
                _ => {}
            }
            // Rights: at most the capability's; write needs read (seL4's VM rights).
            let read = can_read && rights & 2 != 0;
            let write = read && can_write && rights & 1 != 0;
            let attrs = LeafAttrs {
                mem: if is_device || attributes & ATTR_CACHEABLE == 0 {
                    MemAttr::DeviceNGnRE
                } else {
                    MemAttr::NormalWriteBack
                },
                // Without read right seL4 maps the frame kernel-only: no user access at all.
                access: if write {
                    pte::Access::UserReadWrite
                } else if read {
                    pte::Access::UserReadOnly
                } else {
                    pte::Access::KernelReadOnly
                },
                privileged_execute_never: true,
                user_execute_never: is_device || attributes & ATTR_EXECUTE_NEVER != 0 || !read,
                not_global: true,
            };
            let level = leaf_level(size);
            let w = walker();
            // SAFETY: the VSpace root and its tables are live objects.
            let entry = unsafe { w.entry(root, vaddr, level) }.map_err(|e| match e {
                VSpaceError::MissingTable { level } => missing_table(level),
                _ => SyscallError::InvalidArgument { argument: 0 },
            })?;
            let frame_pa = mmu::virt_to_phys(ptr);
            // SAFETY: `entry` points into a live table.
            let existing = unsafe { *entry };
            if level < 3 && pte::is_table(existing, level) {
                // seL4's walk goes on down the tables there and stops a level too deep for the
                // frame: a failed lookup with the bits left where it stopped.
                let mut deepest = level + 1;
                while deepest < 3 {
                    // SAFETY: the VSpace root and its tables are live objects.
                    let Ok(next) = (unsafe { w.entry(root, vaddr, deepest) }) else { break };
                    // SAFETY: `next` points into a live table.
                    if !pte::is_table(unsafe { *next }, deepest) {
                        break;
                    }
                    deepest += 1;
                }
                return Err(missing_table(deepest + 1));
            }
            // Another frame's mapping there is replaced, as seL4 does on AArch64; that frame's
            // capability still records it, and its unmap then finds another frame and leaves the
            // entry alone.
            let replaced = existing & pte::VALID != 0;
            let descriptor =
                if level == 3 { pte::page_descriptor(frame_pa, attrs) } else { pte::block_descriptor(frame_pa, attrs) };
            // SAFETY: `entry` points into a live table.
            unsafe { entry.write_volatile(descriptor) };
            if replaced {
                mmu::invalidate_page(asid, vaddr);
            }
            // SAFETY: the caller's contract.
            unsafe {
                (*slot).set_cap(Cap::Frame {
                    ptr,
                    size,
                    can_read,
                    can_write,
                    is_device,
                    mapped: Some(Mapping { asid, vaddr }),
                })
            };
            Ok(Outcome::Done)
        }
        (Cap::Frame { ptr, size, can_read, can_write, is_device, mapped }, label::PAGE_UNMAP) => {
            if let Some(mapping) = mapped {
                unmap_frame(ptr, size, mapping);
                // SAFETY: the caller's contract.
                unsafe { (*slot).set_cap(Cap::Frame { ptr, size, can_read, can_write, is_device, mapped: None }) };
            }
            Ok(Outcome::Done)
        }
        (Cap::Frame { ptr, .. }, label::PAGE_GET_ADDRESS) => {
            reply[0] = mmu::virt_to_phys(ptr);
            *reply_length = 1;
            Ok(Outcome::Done)
        }
        (Cap::Frame { ptr, size, is_device, mapped, .. }, _) if CacheOp::from_label(label).is_some() => {
            let op = CacheOp::from_label(label).unwrap_or(CacheOp::CleanData);
            if args.len() < 2 {
                return Err(SyscallError::TruncatedMessage);
            }
            if mapped.is_none() {
                return Err(SyscallError::IllegalOperation);
            }
            let (start, end) = (arg(args, 0), arg(args, 1));
            if end <= start || end > 1u64 << size.bits() {
                return Err(SyscallError::InvalidArgument { argument: 1 });
            }
            // Device memory is never cached: there is nothing to maintain.
            if !is_device {
                cache::maintain(op, ptr + start, ptr + end);
            }
            Ok(Outcome::Done)
        }
        (Cap::VSpace { ptr, asid }, _) if CacheOp::from_label(label).is_some() => {
            let op = CacheOp::from_label(label).unwrap_or(CacheOp::CleanData);
            if args.len() < 2 {
                return Err(SyscallError::TruncatedMessage);
            }
            let (start, end) = (arg(args, 0), arg(args, 1));
            if end <= start {
                return Err(SyscallError::InvalidArgument { argument: 1 });
            }
            if end > USER_TOP {
                return Err(SyscallError::IllegalOperation);
            }
            let (root, _) = vspace_of(&Cap::VSpace { ptr, asid })
                .map_err(|_| SyscallError::FailedLookup { source: false, failure: LookupFailure::InvalidRoot })?;
            // SAFETY: the VSpace root and its tables are live objects.
            let Some((entry, level)) = (unsafe { walker().leaf(root, start) }) else {
                // Nothing mapped there: nothing to maintain.
                return Ok(Outcome::Done);
            };
            let page = pte::level_size(level);
            if start & !(page - 1) != (end - 1) & !(page - 1) {
                return Err(SyscallError::InvalidArgument { argument: 1 });
            }
            // SAFETY: `entry` points into a live table.
            let descriptor = unsafe { *entry };
            let attr_index = (descriptor >> pte::ATTR_INDEX_SHIFT) & 7;
            if attr_index >= MemAttr::NormalNonCacheable as u64 {
                let base = mmu::phys_to_virt(pte::output_address(descriptor));
                cache::maintain(op, base + (start & (page - 1)), base + ((end - 1) & (page - 1)) + 1);
            }
            Ok(Outcome::Done)
        }
        (Cap::AsidControl, label::ASID_CONTROL_MAKE_POOL) => {
            if args.len() < 2 || extra.len() < 2 {
                return Err(SyscallError::TruncatedMessage);
            }
            let pool_index = (1..thread::ASID_POOL_COUNT).find(|&i| thread::asid_pool(i) == 0);
            let Some(pool_index) = pool_index else { return Err(SyscallError::DeleteFirst) };
            let Cap::Untyped { ptr, size_bits: 12, is_device: false, .. } = extra[0] else {
                return Err(SyscallError::InvalidCapability { argument: 1 });
            };
            // SAFETY: `extra_slots[0]` is live.
            if unsafe { hmk_kernel::cspace::slot::has_children(extra_slots[0]) } {
                return Err(SyscallError::RevokeFirst);
            }
            // SAFETY: every CNode reachable from `extra[1]` is live.
            let dest = unsafe { lookup_slot_for_cnode_op(extra[1], arg(args, 0), arg(args, 1), false)? };
            // SAFETY: `dest` is a live slot.
            if !unsafe { (*dest).is_empty() } {
                return Err(SyscallError::DeleteFirst);
            }
            // SAFETY: the untyped has no children, so its 4 KiB hold no object; it lies in RAM
            // in the kernel window. `extra_slots[0]` is live and `dest` empty.
            unsafe {
                core::ptr::write_bytes(ptr as *mut u8, 0, 4096);
                (*extra_slots[0]).set_cap(Cap::Untyped { ptr, size_bits: 12, free_index: 4096, is_device: false });
                ops::insert_new(extra_slots[0], dest, Cap::AsidPool { ptr, asid_base: (pool_index as u64) << 9 });
            }
            thread::set_asid_pool(pool_index, ptr);
            Ok(Outcome::Done)
        }
        _ => Err(SyscallError::IllegalOperation),
    }
}

/// Removes the mapping of the frame at kernel address `ptr` recorded in its capability, if the
/// address space still maps that frame there.
pub fn unmap_frame(ptr: u64, size: FrameSize, mapping: Mapping) {
    let Some(root) = thread::vspace_root(mapping.asid) else { return };
    // SAFETY: a registered VSpace root and its tables are live objects.
    if unsafe { walker().unmap_leaf(root, mapping.vaddr, leaf_level(size), mmu::virt_to_phys(ptr)) } {
        mmu::invalidate_page(mapping.asid, mapping.vaddr);
    }
}

/// An ASID pool dies: its ASIDs name nothing any more.
pub fn release_pool(ptr: u64, asid_base: u64) {
    let index = (asid_base >> 9) as usize;
    if thread::asid_pool(index) == ptr {
        thread::set_asid_pool(index, 0);
        mmu::invalidate_all();
    }
}

/// Cache maintenance by kernel-window address, line by line.
mod cache {
    use aarch64_cpu::asm::barrier;
    use hmk_sys::object::CacheOp;

    /// Smallest data and instruction cache lines (CTR_EL0.DminLine, IminLine).
    fn line_sizes() -> (u64, u64) {
        let ctr: u64;
        // SAFETY: reading CTR_EL0 has no side effects.
        unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
        (4 << ((ctr >> 16) & 0xf), 4 << (ctr & 0xf))
    }

    /// Performs `op` on every cache line of `[start, end)`; partial lines at the ends of an
    /// invalidation are cleaned too, so bytes outside the range are never lost.
    pub fn maintain(op: CacheOp, start: u64, end: u64) {
        let (data_line, instruction_line) = line_sizes();
        let mut line = start & !(data_line - 1);
        while line < end {
            let partial = line < start || line + data_line > end;
            // SAFETY: `line` lies in RAM mapped by the kernel window (the caller's range); cache
            // maintenance by VA changes no memory contents the program can observe, except
            // that an invalidation drops unwritten data, which the range's owner asked for.
            unsafe {
                match op {
                    CacheOp::CleanData => core::arch::asm!("dc cvac, {}", in(reg) line, options(nostack)),
                    CacheOp::InvalidateData if !partial => {
                        core::arch::asm!("dc ivac, {}", in(reg) line, options(nostack))
                    }
                    CacheOp::InvalidateData | CacheOp::CleanInvalidateData => {
                        core::arch::asm!("dc civac, {}", in(reg) line, options(nostack))
                    }
                    CacheOp::UnifyInstruction => core::arch::asm!("dc cvau, {}", in(reg) line, options(nostack)),
                }
            }
            line += data_line;
        }
        barrier::dsb(barrier::ISH);
        if op == CacheOp::UnifyInstruction {
            let mut line = start & !(instruction_line - 1);
            while line < end {
                // SAFETY: as above; invalidating instruction-cache lines has no data effects.
                unsafe { core::arch::asm!("ic ivau, {}", in(reg) line, options(nostack)) };
                line += instruction_line;
            }
            barrier::dsb(barrier::ISH);
            barrier::isb(barrier::SY);
        }
    }
}

/// Unlinks the page table at kernel address `ptr` from the level-`level` slot of `mapping`.
pub fn unmap_table(ptr: u64, level: u32, mapping: Mapping) {
    let Some(root) = thread::vspace_root(mapping.asid) else { return };
    // SAFETY: the VSpace root and its tables are live objects.
    if let Ok(entry) = unsafe { walker().entry(root, mapping.vaddr, level as usize - 1) } {
        // SAFETY: `entry` points into a live table; only a link to this table is cleared.
        unsafe {
            if pte::is_table(*entry, level as usize - 1) && pte::output_address(*entry) == mmu::virt_to_phys(ptr) {
                entry.write_volatile(0);
            }
        }
        mmu::invalidate_asid(mapping.asid);
    }
}

/// A VSpace root dies: its ASID no longer names it.
pub fn release_asid(ptr: u64, asid: u16) {
    if thread::vspace_root(asid) == Some(mmu::virt_to_phys(ptr)) {
        thread::clear_asid(asid);
        mmu::invalidate_asid(asid);
    }
}
