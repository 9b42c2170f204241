//! Building the root task as seL4 does: its CSpace (a 2^13-slot root CNode with the initial
//! capabilities in seL4's fixed slots), its VSpace (the user image the loader placed, an IPC
//! buffer, the BootInfo frame and extra BootInfo pages holding the DTB), its TCB and scheduling
//! context, all carved from free RAM with the boot allocator; then every remaining free region
//! and every non-RAM physical range as untyped capabilities, described in the BootInfo frame.

use crate::arch::aarch64::mmu;
use crate::thread;
use hmk_kernel::boot_alloc::BootAllocator;
use hmk_kernel::boot_info::{
    BootInfo, EXTRA_FDT, MAX_BOOTINFO_UNTYPED, ROOT_CNODE_BITS, SlotRegion, UntypedDesc, initial_slot,
};
use hmk_kernel::context::UserContext;
use hmk_kernel::cspace::cap::{Cap, FrameSize, Mapping};
use hmk_kernel::cspace::{
    ops,
    slot::{self, Slot},
};
use hmk_kernel::object::sched_context::SchedContext;
use hmk_kernel::object::tcb::{self, TcbObject, ThreadState};
use hmk_kernel::object::{MAX_UNTYPED_BITS, SLOT_BITS, TCB_BITS};
use hmk_kernel::vspace::{Walker, user_page_attrs};
use hmk_platform::board::MAX_FREE_REGIONS;
use hmk_platform::pte;
use hmk_platform::region::{Region, RegionSet, power_of_two_blocks};

pub const PAGE_BITS: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_BITS;

/// The root task's ASID: the first usable one of the initial ASID pool (ASID 0 is invalid).
pub const ROOT_ASID: u16 = 1;
/// The root task's scheduling context size (bits).
const ROOT_SCHED_CONTEXT_BITS: u32 = 8;
/// Smallest untyped handed to the root task.
const UNTYPED_MIN_BITS: u32 = 12;
/// Device untyped cover non-RAM physical addresses below this.
const DEVICE_SPACE_END: u64 = 1 << 32;

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

/// What was built, for the boot report and the first switch to user mode.
#[derive(Clone, Copy, Debug)]
pub struct RootTask {
    pub tcb: *mut TcbObject,
    pub ipc_buffer_vaddr: u64,
    pub bootinfo_vaddr: u64,
    pub untyped_count: usize,
    pub first_free_slot: u64,
}

/// Why the root task could not be built.
#[derive(Clone, Copy, Debug)]
pub enum RootTaskError {
    OutOfMemory,
    Mapping,
    OutOfSlots,
}

fn zeroed(alloc: &mut BootAllocator<MAX_FREE_REGIONS>, bits: u32) -> Result<u64, RootTaskError> {
    let pa = alloc.alloc(bits).ok_or(RootTaskError::OutOfMemory)?;
    // SAFETY: `pa` came from the boot allocator, so it is RAM no one else uses, and the kernel
    // window maps all RAM.
    unsafe { core::ptr::write_bytes(mmu::phys_to_virt(pa) as *mut u8, 0, 1 << bits) };
    Ok(pa)
}

/// Fills root CNode slots in order.
struct SlotFiller {
    slots: *mut Slot,
    next: u64,
}

impl SlotFiller {
    fn slot(&self, index: u64) -> *mut Slot {
        self.slots.wrapping_add(index as usize)
    }

    /// Puts `cap` in fixed slot `index` as an original capability.
    fn put(&mut self, index: u64, cap: Cap) {
        // SAFETY: `index` < 2^13 and the root CNode is a fresh, zeroed, mapped object.
        slot::insert_root(unsafe { &mut *self.slot(index) }, cap, true);
    }

    /// Appends `cap` at the next free slot and returns its index.
    fn push(&mut self, cap: Cap) -> Result<u64, RootTaskError> {
        if self.next >= 1 << ROOT_CNODE_BITS {
            return Err(RootTaskError::OutOfSlots);
        }
        let index = self.next;
        self.put(index, cap);
        self.next += 1;
        Ok(index)
    }
}

/// A page table made while mapping the root task: where it is and what it covers.
#[derive(Clone, Copy)]
struct MadeTable {
    pa: u64,
    level: u32,
    vaddr: u64,
}

/// Builds the root task. `kernel_devices` are the physical ranges the kernel keeps (the GIC),
/// excluded from the device untyped.
pub fn build(
    image: UserImage,
    dtb: &[u8],
    alloc: &mut BootAllocator<MAX_FREE_REGIONS>,
    ram: &[Region],
    kernel_devices: &[Region],
) -> Result<RootTask, RootTaskError> {
    let cnode_pa = zeroed(alloc, ROOT_CNODE_BITS + SLOT_BITS)?;
    let vspace_pa = zeroed(alloc, PAGE_BITS)?;
    let tcb_pa = zeroed(alloc, TCB_BITS)?;
    let sc_pa = zeroed(alloc, ROOT_SCHED_CONTEXT_BITS)?;
    let asid_pool_pa = zeroed(alloc, PAGE_BITS)?;
    let ipc_pa = zeroed(alloc, PAGE_BITS)?;
    let bootinfo_pa = zeroed(alloc, PAGE_BITS)?;
    // Extra BootInfo: one chunk, the DTB, behind a 16-byte header {id, length}.
    let extra_bytes = 16 + dtb.len() as u64;
    let extra_pages = extra_bytes.div_ceil(PAGE_SIZE);
    let extra_bits = PAGE_BITS + (64 - (extra_pages - 1).leading_zeros());
    let extra_pa = zeroed(alloc, extra_bits)?;
    let extra_va = mmu::phys_to_virt(extra_pa) as *mut u64;
    // SAFETY: `extra_pa` is a fresh, zeroed block of at least `extra_bytes` bytes.
    unsafe {
        extra_va.write(EXTRA_FDT);
        extra_va.add(1).write(extra_bytes);
        core::ptr::copy_nonoverlapping(dtb.as_ptr(), extra_va.add(2) as *mut u8, dtb.len());
    }

    // The address space.
    let walker = Walker { window_offset: mmu::phys_to_virt(0) };
    let mut tables = [MadeTable { pa: 0, level: 0, vaddr: 0 }; 32];
    let mut table_count = 0;
    let mut map = |vaddr: u64, pa: u64, alloc: &mut BootAllocator<MAX_FREE_REGIONS>| -> Result<(), RootTaskError> {
        let mut new_table = |level: usize| {
            let pa = zeroed(alloc, PAGE_BITS).ok()?;
            let span = pte::level_size(level - 1);
            *tables.get_mut(table_count)? = MadeTable { pa, level: level as u32, vaddr: vaddr & !(span - 1) };
            table_count += 1;
            Some(pa)
        };
        // SAFETY: the root table and every table installed are fresh zeroed pages from the boot
        // allocator, reachable through the kernel window.
        unsafe { walker.map_page_with_tables(vspace_pa, vaddr, pa, user_page_attrs(true, false), &mut new_table) }
            .map(|_| ())
            .map_err(|_| RootTaskError::Mapping)
    };
    let virtual_image = image.virtual_range();
    let image_pages = image.physical.size() / PAGE_SIZE;
    for page in 0..image_pages {
        map(virtual_image.start + page * PAGE_SIZE, image.physical.start + page * PAGE_SIZE, alloc)?;
    }
    let ipc_vaddr = virtual_image.end;
    let bootinfo_vaddr = ipc_vaddr + PAGE_SIZE;
    let extra_vaddr = bootinfo_vaddr + PAGE_SIZE;
    map(ipc_vaddr, ipc_pa, alloc)?;
    map(bootinfo_vaddr, bootinfo_pa, alloc)?;
    for page in 0..extra_pages {
        map(extra_vaddr + page * PAGE_SIZE, extra_pa + page * PAGE_SIZE, alloc)?;
    }

    // The CSpace.
    let cnode_va = mmu::phys_to_virt(cnode_pa);
    let mut slots = SlotFiller { slots: cnode_va as *mut Slot, next: initial_slot::NUM_INITIAL_CAPS };
    let mapped = |vaddr| Some(Mapping { asid: ROOT_ASID, vaddr });
    let frame = |pa: u64, vaddr: u64| Cap::Frame {
        ptr: mmu::phys_to_virt(pa),
        size: FrameSize::Small,
        can_read: true,
        can_write: true,
        is_device: false,
        mapped: mapped(vaddr),
    };
    let cnode_cap = Cap::CNode { ptr: cnode_va, radix: ROOT_CNODE_BITS, guard: 0, guard_size: 64 - ROOT_CNODE_BITS };
    let vspace_cap = Cap::VSpace { ptr: mmu::phys_to_virt(vspace_pa), asid: Some(ROOT_ASID) };
    let ipc_cap = frame(ipc_pa, ipc_vaddr);
    slots.put(initial_slot::INIT_THREAD_TCB, Cap::Thread { ptr: mmu::phys_to_virt(tcb_pa) });
    slots.put(initial_slot::INIT_THREAD_CNODE, cnode_cap);
    slots.put(initial_slot::INIT_THREAD_VSPACE, vspace_cap);
    slots.put(initial_slot::IRQ_CONTROL, Cap::IrqControl);
    slots.put(initial_slot::ASID_CONTROL, Cap::AsidControl);
    slots
        .put(initial_slot::INIT_THREAD_ASID_POOL, Cap::AsidPool { ptr: mmu::phys_to_virt(asid_pool_pa), asid_base: 0 });
    slots.put(initial_slot::BOOT_INFO_FRAME, frame(bootinfo_pa, bootinfo_vaddr));
    slots.put(initial_slot::INIT_THREAD_IPC_BUFFER, ipc_cap);
    slots.put(initial_slot::DOMAIN, Cap::Domain);
    slots.put(
        initial_slot::INIT_THREAD_SC,
        Cap::SchedContext { ptr: mmu::phys_to_virt(sc_pa), size_bits: ROOT_SCHED_CONTEXT_BITS },
    );

    let paging_start = slots.next;
    for table in &tables[..table_count] {
        let cap = Cap::PageTable { ptr: mmu::phys_to_virt(table.pa), level: table.level, mapped: mapped(table.vaddr) };
        slots.push(cap)?;
    }
    let paging = SlotRegion { start: paging_start, end: slots.next };
    let frames_start = slots.next;
    for page in 0..image_pages {
        slots.push(frame(image.physical.start + page * PAGE_SIZE, virtual_image.start + page * PAGE_SIZE))?;
    }
    let image_frames = SlotRegion { start: frames_start, end: slots.next };
    let extra_start = slots.next;
    for page in 0..extra_pages {
        slots.push(frame(extra_pa + page * PAGE_SIZE, extra_vaddr + page * PAGE_SIZE))?;
    }
    let extra_frames = SlotRegion { start: extra_start, end: slots.next };
    let sched_start = slots.next;
    slots.push(Cap::SchedControl { core: 0 })?;
    let sched_control = SlotRegion { start: sched_start, end: slots.next };

    // Untyped: free RAM, then every non-RAM range below 4 GiB except the kernel's devices.
    // SAFETY: the BootInfo frame is a fresh zeroed page reachable through the window.
    let bootinfo = unsafe { &mut *(mmu::phys_to_virt(bootinfo_pa) as *mut BootInfo) };
    let untyped_start = slots.next;
    let mut count = 0;
    let mut device = RegionSet::<64>::new();
    device.insert(Region::new(0, DEVICE_SPACE_END)).ok();
    for hole in ram.iter().chain(kernel_devices) {
        let _ = device.subtract(hole.align_outward(PAGE_SIZE));
    }
    let regions =
        alloc.remaining().as_slice().iter().map(|r| (*r, false)).chain(device.as_slice().iter().map(|r| (*r, true)));
    for (region, is_device) in regions {
        for (base, bits) in power_of_two_blocks(region, UNTYPED_MIN_BITS, MAX_UNTYPED_BITS) {
            if count == MAX_BOOTINFO_UNTYPED {
                break;
            }
            // A full watermark: the first retype resets (clears) the block.
            let cap = Cap::Untyped { ptr: mmu::phys_to_virt(base), size_bits: bits, free_index: 1 << bits, is_device };
            slots.push(cap)?;
            bootinfo.untyped_list[count] =
                UntypedDesc { paddr: base, size_bits: bits as u8, is_device: u8::from(is_device), padding: [0; 6] };
            count += 1;
        }
    }
    let untyped = SlotRegion { start: untyped_start, end: slots.next };

    *bootinfo = BootInfo {
        extra_len: extra_bytes,
        node_id: 0,
        num_nodes: 1,
        num_io_pt_levels: 0,
        ipc_buffer: ipc_vaddr,
        empty: SlotRegion { start: slots.next, end: 1 << ROOT_CNODE_BITS },
        shared_frames: SlotRegion::default(),
        user_image_frames: image_frames,
        user_image_paging: paging,
        io_space_caps: SlotRegion::default(),
        extra_bi_pages: extra_frames,
        init_thread_cnode_size_bits: u64::from(ROOT_CNODE_BITS),
        init_thread_domain: 0,
        sched_control,
        untyped,
        untyped_list: bootinfo.untyped_list,
    };

    // The TCB: its CSpace and VSpace roots and IPC buffer are copies of the initial caps.
    let tcb_ptr = mmu::phys_to_virt(tcb_pa) as *mut TcbObject;
    // SAFETY: the TCB is a fresh zeroed object (all-zero is a valid empty TcbObject) reachable
    // through the window; the source slots are live root CNode slots.
    unsafe {
        let tcb_object = &mut *tcb_ptr;
        ops::insert_derived(
            cnode_cap,
            slots.slot(initial_slot::INIT_THREAD_CNODE),
            &mut tcb_object.slots[tcb::slot::CSPACE_ROOT],
        );
        ops::insert_derived(
            vspace_cap,
            slots.slot(initial_slot::INIT_THREAD_VSPACE),
            &mut tcb_object.slots[tcb::slot::VSPACE_ROOT],
        );
        ops::insert_derived(
            ipc_cap,
            slots.slot(initial_slot::INIT_THREAD_IPC_BUFFER),
            &mut tcb_object.slots[tcb::slot::IPC_BUFFER],
        );
        let tcb = &mut tcb_object.tcb;
        tcb.context = UserContext::new(image.entry, 0, bootinfo_vaddr);
        tcb.priority = 255;
        tcb.mcp = 255;
        tcb.ipc_buffer = ipc_vaddr;
        tcb.sched_context = mmu::phys_to_virt(sc_pa);
        (*(mmu::phys_to_virt(sc_pa) as *mut SchedContext)).tcb = tcb_ptr as u64;
        tcb.state = ThreadState::Running;
        tcb.name[..10].copy_from_slice(b"rootserver");
    }
    // The initial ASID pool holds the root VSpace at ROOT_ASID.
    // SAFETY: the pool is a fresh zeroed page of 512 entries.
    unsafe {
        (mmu::phys_to_virt(asid_pool_pa) as *mut u64).add(usize::from(ROOT_ASID)).write(mmu::phys_to_virt(vspace_pa))
    };
    thread::set_asid_pool(0, mmu::phys_to_virt(asid_pool_pa));

    Ok(RootTask {
        tcb: tcb_ptr,
        ipc_buffer_vaddr: ipc_vaddr,
        bootinfo_vaddr,
        untyped_count: count,
        first_free_slot: slots.next,
    })
}
