//! Building the root task: its address space (the user image the loader placed, an IPC buffer,
//! the BootInfo frame and the extra BootInfo pages holding the DTB), all carved from free RAM
//! with the boot allocator before the rest becomes untyped, as seL4 does.

use crate::arch::aarch64::mmu;
use hmk_kernel::boot_alloc::BootAllocator;
use hmk_kernel::context::UserContext;
use hmk_kernel::vspace::{Walker, user_page_attrs};
use hmk_platform::board::MAX_FREE_REGIONS;
use hmk_platform::region::Region;

pub const PAGE_BITS: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_BITS;

/// The root task's ASID (seL4 gives the initial thread ASID 1... the first of the initial pool).
pub const ROOT_ASID: u64 = 1;

/// The loader's description of the user image (seL4 handoff x0..x3).
#[derive(Clone, Copy, Debug)]
pub struct UserImage {
    pub physical: Region,
    /// Physical minus virtual.
    pub pv_offset: u64,
    pub entry: u64,
}

impl UserImage {
    pub fn virtual_range(&self) -> Region {
        Region::new(self.physical.start.wrapping_sub(self.pv_offset), self.physical.end.wrapping_sub(self.pv_offset))
    }
}

/// Where things ended up, for the BootInfo and the boot report.
#[derive(Clone, Copy, Debug)]
pub struct RootTask {
    pub vspace_root: u64,
    pub ipc_buffer: VirtualFrame,
    pub bootinfo: VirtualFrame,
    pub extra_bootinfo: Region,
    pub page_tables: usize,
    pub context: UserContext,
}

/// A frame and the user address it is mapped at.
#[derive(Clone, Copy, Debug)]
pub struct VirtualFrame {
    pub physical: u64,
    pub vaddr: u64,
}

/// Why the root task could not be built.
#[derive(Clone, Copy, Debug)]
pub enum RootTaskError {
    OutOfMemory,
    Mapping,
}

fn zero_frame(pa: u64, size_bits: u32) {
    // SAFETY: `pa` came from the boot allocator, so it is RAM no one else uses, and the kernel
    // window maps all RAM.
    unsafe { core::ptr::write_bytes(mmu::phys_to_virt(pa) as *mut u8, 0, 1 << size_bits) };
}

/// Builds the root task's address space and its first register state.
pub fn build(
    image: UserImage,
    dtb: &[u8],
    alloc: &mut BootAllocator<MAX_FREE_REGIONS>,
) -> Result<RootTask, RootTaskError> {
    let mut allocate = |bits: u32| -> Result<u64, RootTaskError> {
        let pa = alloc.alloc(bits).ok_or(RootTaskError::OutOfMemory)?;
        zero_frame(pa, bits);
        Ok(pa)
    };
    let vspace_root = allocate(PAGE_BITS)?;
    let ipc_buffer = allocate(PAGE_BITS)?;
    let bootinfo = allocate(PAGE_BITS)?;
    // Extra BootInfo: one chunk, the DTB, behind a 16-byte header {id 6 (FDT), length}.
    let extra_bytes = 16 + dtb.len() as u64;
    let extra_pages = extra_bytes.div_ceil(PAGE_SIZE);
    let extra_bits = PAGE_BITS + (64 - (extra_pages - 1).leading_zeros()).min(40);
    let extra = allocate(extra_bits)?;
    let extra_va = mmu::phys_to_virt(extra) as *mut u64;
    // SAFETY: `extra` is a fresh, zeroed block of 2^extra_bits >= extra_bytes bytes.
    unsafe {
        extra_va.write(6);
        extra_va.add(1).write(extra_bytes);
        core::ptr::copy_nonoverlapping(dtb.as_ptr(), extra_va.add(2) as *mut u8, dtb.len());
    }

    let walker = Walker { window_offset: mmu::phys_to_virt(0) };
    let mut page_tables = 0;
    let mut map = |vaddr: u64, pa: u64, writable: bool, allocate: &mut dyn FnMut(u32) -> Result<u64, RootTaskError>| {
        let mut new_table = |_level: usize| allocate(PAGE_BITS).ok();
        // SAFETY: the root table and every table installed are fresh zeroed pages from the boot
        // allocator, reachable through the kernel window.
        let made = unsafe {
            walker.map_page_with_tables(vspace_root, vaddr, pa, user_page_attrs(writable, false), &mut new_table)
        };
        made.map(|n| page_tables += n).map_err(|_| RootTaskError::Mapping)
    };
    let virtual_image = image.virtual_range();
    for offset in (0..image.physical.size()).step_by(PAGE_SIZE as usize) {
        map(virtual_image.start + offset, image.physical.start + offset, true, &mut allocate)?;
    }
    let ipc_vaddr = virtual_image.end;
    let bootinfo_vaddr = ipc_vaddr + PAGE_SIZE;
    let extra_vaddr = bootinfo_vaddr + PAGE_SIZE;
    map(ipc_vaddr, ipc_buffer, true, &mut allocate)?;
    map(bootinfo_vaddr, bootinfo, false, &mut allocate)?;
    for page in 0..extra_pages {
        map(extra_vaddr + page * PAGE_SIZE, extra + page * PAGE_SIZE, false, &mut allocate)?;
    }

    Ok(RootTask {
        vspace_root,
        ipc_buffer: VirtualFrame { physical: ipc_buffer, vaddr: ipc_vaddr },
        bootinfo: VirtualFrame { physical: bootinfo, vaddr: bootinfo_vaddr },
        extra_bootinfo: Region::with_size(extra_vaddr, extra_pages * PAGE_SIZE),
        page_tables,
        context: UserContext::new(image.entry, 0, bootinfo_vaddr),
    })
}
