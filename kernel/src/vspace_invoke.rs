//! VSpace invocations (the first ones): ASIDPool Assign, PageTable Map and Unmap, Frame Map,
//! Unmap and GetAddress, with seL4's checks and error codes.

use crate::arch::aarch64::mmu;
use crate::thread;
use hmk_kernel::cspace::cap::{Cap, FrameSize, Mapping};
use hmk_kernel::cspace::invoke::Outcome;
use hmk_kernel::cspace::slot::Slot;
use hmk_kernel::error::{LookupFailure, SyscallError};
use hmk_kernel::vspace::{USER_TOP, VSpaceError, Walker};
use hmk_platform::pte::{self, LeafAttrs, MemAttr};

/// seL4's invocation labels and VM attribute bits for these objects.
pub mod label {
    pub const PAGE_TABLE_MAP: u64 = 44;
    pub const PAGE_TABLE_UNMAP: u64 = 45;
    pub const PAGE_MAP: u64 = 46;
    pub const PAGE_UNMAP: u64 = 47;
    pub const PAGE_GET_ADDRESS: u64 = 52;
    pub const ASID_POOL_ASSIGN: u64 = 54;
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

/// The VSpace root (physical) and ASID a VSpace capability names, if it has an ASID.
fn vspace_of(cap: &Cap) -> Result<(u64, u16), SyscallError> {
    match *cap {
        Cap::VSpace { ptr, asid: Some(asid) } => Ok((mmu::virt_to_phys(ptr), asid)),
        Cap::VSpace { asid: None, .. } => Err(SyscallError::InvalidCapability { argument: 1 }),
        _ => Err(SyscallError::InvalidCapability { argument: 1 }),
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
            if let Some(mapping) = mapped {
                unmap_table(ptr, level, mapping);
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
            if mapped.is_some_and(|m| m.asid != asid || m.vaddr != vaddr) {
                return Err(SyscallError::InvalidCapability { argument: 0 });
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
                access: if write { pte::Access::UserReadWrite } else { pte::Access::UserReadOnly },
                privileged_execute_never: true,
                user_execute_never: is_device || attributes & ATTR_EXECUTE_NEVER != 0 || !read,
                not_global: true,
            };
            let level = match size {
                FrameSize::Small => 3,
                FrameSize::Large => 2,
                FrameSize::Huge => 1,
            };
            let w = walker();
            // SAFETY: the VSpace root and its tables are live objects.
            let entry = unsafe { w.entry(root, vaddr, level) }.map_err(|e| match e {
                VSpaceError::MissingTable { level } => missing_table(level),
                _ => SyscallError::InvalidArgument { argument: 0 },
            })?;
            let frame_pa = mmu::virt_to_phys(ptr);
            // SAFETY: `entry` points into a live table.
            let existing = unsafe { *entry };
            if existing & pte::VALID != 0 && (mapped.is_none() || pte::output_address(existing) != frame_pa) {
                return Err(SyscallError::DeleteFirst);
            }
            if level < 3 && pte::is_table(existing, level) {
                return Err(SyscallError::DeleteFirst);
            }
            let descriptor =
                if level == 3 { pte::page_descriptor(frame_pa, attrs) } else { pte::block_descriptor(frame_pa, attrs) };
            // SAFETY: `entry` points into a live table.
            unsafe { entry.write_volatile(descriptor) };
            if mapped.is_some() {
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
            if let Some(Mapping { asid, vaddr }) = mapped {
                thread::unmap_page(asid, vaddr);
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
        _ => Err(SyscallError::IllegalOperation),
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
