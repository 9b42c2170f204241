//! What an HM parent needs to build its children out of its own untyped memory: an allocator
//! of objects and slots, device frames, and a [`Process`] for each child: its own VSpace
//! (sharing the parent's code, read-only), its own CSpace, its own IPC buffer and stack, and a
//! thread to run it. [`bus`] builds buses, their memberships and bridges the same way.
//!
//! The parent's image frames are mapped into the new VSpace at the same addresses, so the
//! child's entry is any function of the parent's binary. The mirror is read-only: the child can
//! run that code and read its constants, but every byte it writes is on its own stack, in its
//! own IPC buffer or in frames its parent gave it. The IPC buffer is a fresh frame mapped at the
//! parent's IPC-buffer address, so the runtime's IPC-buffer pointer (a static of the shared
//! image) is right in both address spaces. A mirrored child can read all of its parent's image,
//! data and heap included: use it for trusted helpers only. [`Process::from_elf`] loads a child
//! from an ELF image of its own into fresh frames, which shares nothing.
#![no_std]

pub mod bus;
pub mod child;
pub mod control;
pub mod device;
pub mod info;
pub mod plan;

use core::ops::Range;
use device::{DeviceMemory, Region, Splitter};
use hmk_sys::Error;
use hmk_sys::bootinfo::{BootInfo, slot};
use hmk_sys::invocation::{
    AsidPool, CNode, CPtr, Frame, PageTable, SchedContext, SchedControl, Tcb, Untyped, UserContext,
};
use hmk_sys::message::{CapRights, cnode_cap_data};
use hmk_sys::object::{ObjectType, PAGE_BITS, vm_attributes};

/// Where user programs are linked (linker/user.ld).
pub const IMAGE_BASE: u64 = 0x40_0000;
/// Depth of a root-CNode slot address.
pub const DEPTH: u64 = 64;
/// The root task's CNode.
pub const ROOT: CNode = CNode(slot::INIT_THREAD_CNODE);
const PAGE: u64 = 1 << PAGE_BITS;

/// A setup step that failed, and the kernel's error when it was an invocation.
#[derive(Clone, Copy, Debug)]
pub struct SetupError {
    pub step: &'static str,
    pub error: Option<Error>,
}

pub type Result<T> = core::result::Result<T, SetupError>;

/// Names the step of a failed invocation.
pub trait Step<T> {
    fn step(self, step: &'static str) -> Result<T>;
}

impl<T> Step<T> for hmk_sys::Result<T> {
    fn step(self, step: &'static str) -> Result<T> {
        self.map_err(|error| SetupError { step, error: Some(error) })
    }
}

/// Hands out free slots of the root CNode, objects retyped from one RAM untyped, and device
/// frames carved from the device untyped it was given ([`device`]).
pub struct Allocator {
    bootinfo: &'static BootInfo,
    untyped: Untyped,
    next_slot: CPtr,
    end_slot: CPtr,
    devices: DeviceMemory,
}

/// Splits a device untyped into two fresh slots of the root CNode.
struct SlotSplitter<'a> {
    next_slot: &'a mut CPtr,
    end_slot: CPtr,
}

impl Splitter for SlotSplitter<'_> {
    fn split(&mut self, untyped: CPtr, half_bits: u8) -> Result<(CPtr, CPtr)> {
        if *self.next_slot + 2 > self.end_slot {
            return Err(SetupError { step: "out of root CNode slots", error: None });
        }
        let halves = *self.next_slot;
        Untyped(untyped)
            .retype(ObjectType::Untyped, u64::from(half_bits), ROOT, 0, 0, halves, 2)
            .step("splitting a device untyped")?;
        *self.next_slot += 2;
        Ok((halves, halves + 1))
    }
}

impl Allocator {
    /// The BootInfo it allocates from (its SchedControl capabilities, say).
    pub fn bootinfo(&self) -> &'static BootInfo {
        self.bootinfo
    }

    /// Objects come from the largest RAM untyped, slots from BootInfo's empty region, device
    /// frames from every device untyped BootInfo lists (for the root task).
    pub fn new(bootinfo: &'static BootInfo) -> Result<Allocator> {
        let (untyped, _) =
            bootinfo.largest_ram_untyped().ok_or(SetupError { step: "finding RAM untyped", error: None })?;
        let mut alloc = Allocator::with(bootinfo, Untyped(untyped), bootinfo.empty.start..bootinfo.empty.end);
        for (index, desc) in bootinfo.untyped_list().iter().enumerate().filter(|(_, u)| u.is_device != 0) {
            let untyped = bootinfo.untyped.start + index as u64;
            alloc.devices.add(Region { untyped, paddr: desc.paddr, size_bits: desc.size_bits })?;
        }
        Ok(alloc)
    }

    /// Objects from `untyped`, slots from the root-CNode range `slots`; no device memory until
    /// [`Allocator::add_device_memory`] gives some.
    pub fn with(bootinfo: &'static BootInfo, untyped: Untyped, slots: Range<CPtr>) -> Allocator {
        Allocator { bootinfo, untyped, next_slot: slots.start, end_slot: slots.end, devices: DeviceMemory::new() }
    }

    /// Gives the allocator an unclaimed device untyped (a capability in the root CNode) to carve
    /// device frames from.
    pub fn add_device_memory(&mut self, region: Region) -> Result<()> {
        self.devices.add(region)
    }

    /// A free slot of the root CNode.
    pub fn slot(&mut self) -> Result<CPtr> {
        if self.next_slot >= self.end_slot {
            return Err(SetupError { step: "out of root CNode slots", error: None });
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// `count` consecutive free slots of the root CNode.
    pub fn slots(&mut self, count: u64) -> Result<Range<CPtr>> {
        if self.end_slot - self.next_slot < count {
            return Err(SetupError { step: "out of root CNode slots", error: None });
        }
        self.next_slot += count;
        Ok(self.next_slot - count..self.next_slot)
    }

    /// A new object of a fixed-size `object_type` in slot `dest` of the root CNode (one
    /// [`Allocator::slots`] gave).
    pub fn make_at(&mut self, object_type: ObjectType, dest: CPtr) -> Result<CPtr> {
        self.untyped.retype(object_type, 0, ROOT, 0, 0, dest, 1).step("retyping RAM")?;
        Ok(dest)
    }

    /// A new object of `object_type` (`size_bits` for variable-sized ones) in a fresh slot.
    pub fn make(&mut self, object_type: ObjectType, size_bits: u64) -> Result<CPtr> {
        let dest = self.slot()?;
        self.untyped.retype(object_type, size_bits, ROOT, 0, 0, dest, 1).step("retyping RAM")?;
        Ok(dest)
    }

    /// As [`Allocator::make`], from RAM wholly below physical address `limit` (0: anywhere), as
    /// memory for a device that reaches only so far: the allocator's own untyped if it lies
    /// below, else the first RAM untyped of BootInfo below `limit` with room.
    pub fn make_below(&mut self, object_type: ObjectType, size_bits: u64, limit: u64) -> Result<CPtr> {
        let below = |paddr: u64, bits: u8| limit == 0 || paddr.saturating_add(1 << bits) <= limit;
        let bootinfo = self.bootinfo;
        let dest = self.slot()?;
        let own = self.untyped.0;
        let ram = || {
            let list = bootinfo.untyped_list().iter().enumerate();
            list.filter(|(_, u)| u.is_device == 0).map(|(index, u)| (bootinfo.untyped.start + index as u64, u))
        };
        let own_below = ram().find(|(cap, _)| *cap == own).map_or(limit == 0, |(_, u)| below(u.paddr, u.size_bits));
        let others = ram()
            .filter(|(cap, u)| *cap != own && below(u.paddr, u.size_bits) && u64::from(u.size_bits) >= size_bits)
            .map(|(cap, _)| cap);
        for untyped in core::iter::once(own).filter(|_| own_below).chain(others) {
            match Untyped(untyped).retype(object_type, size_bits, ROOT, 0, 0, dest, 1) {
                Ok(()) => return Ok(dest),
                Err(Error::NotEnoughMemory) => continue,
                Err(error) => return Err(SetupError { step: "retyping RAM below a DMA limit", error: Some(error) }),
            }
        }
        Err(SetupError { step: "no RAM with room below the DMA limit", error: Some(Error::NotEnoughMemory) })
    }

    /// `count` fresh 4 KiB frames, physically contiguous (carved from one untyped of their
    /// size), wholly below physical address `limit` (0: anywhere), in consecutive slots;
    /// returns the slots and the first frame's physical address. Memory a device may reach.
    pub fn contiguous_frames(&mut self, count: u32, limit: u64) -> Result<(Range<CPtr>, u64)> {
        let bits = PAGE_BITS + u64::from(count.max(1).next_power_of_two().trailing_zeros());
        let untyped = self.make_below(ObjectType::Untyped, bits, limit)?;
        let frames = self.slots(u64::from(count))?;
        for frame in frames.clone() {
            Untyped(untyped).retype(ObjectType::SmallPage, 0, ROOT, 0, 0, frame, 1).step("retyping a frame")?;
        }
        let paddr = Frame(frames.start).get_address().step("the frames' physical address")?;
        Ok((frames, paddr))
    }

    /// `count` new objects placed straight into slots `index..index + count` of `cnode` (a
    /// CNode capability in the root CNode).
    pub fn make_in(&mut self, object_type: ObjectType, cnode: CPtr, index: u64, count: u64) -> Result<()> {
        self.untyped.retype(object_type, 0, CNode(cnode), 0, 0, index, count).step("retyping RAM into a CNode")
    }

    /// The 4 KiB device frame holding physical address `paddr`, carved out of the unclaimed
    /// device memory ([`device::DeviceMemory::take_page`]): each page can be claimed once.
    pub fn device_frame(&mut self, paddr: u64) -> Result<CPtr> {
        let frame = self.slot()?;
        let mut splitter = SlotSplitter { next_slot: &mut self.next_slot, end_slot: self.end_slot };
        let page = self.devices.take_page(paddr, &mut splitter)?;
        Untyped(page).retype(ObjectType::SmallPage, 0, ROOT, 0, 0, frame, 1).step("retyping the device frame")?;
        Ok(frame)
    }

    /// Maps `frame` at `vaddr` in `vspace`, making the page tables the walk lacks.
    pub fn map(&mut self, vspace: CPtr, frame: CPtr, vaddr: u64, rights: CapRights, attributes: u64) -> Result<()> {
        loop {
            match Frame(frame).map(vspace, vaddr, rights, attributes) {
                Err(Error::FailedLookup) => {
                    let table = self.make(ObjectType::PageTable, 0)?;
                    PageTable(table).map(vspace, vaddr, vm_attributes::DEFAULT).step("mapping a page table")?;
                }
                other => return other.step("mapping a frame"),
            }
        }
    }

    /// Maps `count` fresh, zeroed RAM pages, writable and not executable, from `vaddr` on.
    pub fn map_new_pages(&mut self, vspace: CPtr, vaddr: u64, count: u64) -> Result<()> {
        for page in 0..count {
            let frame = self.make(ObjectType::SmallPage, 0)?;
            let attributes = vm_attributes::DEFAULT | vm_attributes::EXECUTE_NEVER;
            self.map(vspace, frame, vaddr + page * PAGE, CapRights::READ_WRITE, attributes)?;
        }
        Ok(())
    }
}

/// A program being built: its thread, address space and CSpace (capabilities in the root CNode).
pub struct Process {
    pub tcb: CPtr,
    pub vspace: CPtr,
    /// A CNode of 2^`cnode_bits` slots; the program sees slot `i` at address `i`.
    pub cnode: CPtr,
    pub cnode_bits: u64,
    /// The fault handler capability (in the root CNode) the thread is given when it starts;
    /// 0 for none.
    pub fault_handler: CPtr,
    /// The budget and period of the scheduling context it is given when it starts.
    pub budget_us: u64,
    pub period_us: u64,
    /// The ELF entry of a program made by [`Process::from_elf`] (0 for a mirror of the parent).
    pub entry: u64,
    /// For a program made by [`Process::from_elf`]: the root-CNode slots of its writable
    /// frames, in the order of their pages, and a free slot to copy one of them into.
    pub writable: Range<CPtr>,
    pub reload_slot: CPtr,
    /// Its scheduling context, once started with [`Process::start_image`] or
    /// [`Process::start_with`] (0 before).
    pub sc: CPtr,
    /// Pages of RAM mapped into it by [`Process::from_elf`] (its image and IPC buffer).
    pub pages: u64,
}

impl Process {
    /// A new VSpace holding a read-only mirror of the root task's image and a fresh IPC buffer
    /// at the root task's IPC-buffer address, an empty CNode of 2^`cnode_bits` slots, and a
    /// TCB configured with both (not yet running).
    pub fn new(alloc: &mut Allocator, cnode_bits: u64) -> Result<Process> {
        let bootinfo = alloc.bootinfo;
        let vspace = alloc.make(ObjectType::VSpace, 0)?;
        AsidPool(slot::INIT_THREAD_ASID_POOL).assign(vspace).step("assigning an ASID")?;
        for (i, frame) in (bootinfo.user_image_frames.start..bootinfo.user_image_frames.end).enumerate() {
            // A frame capability maps once: each mapping gets its own copy.
            let copy = alloc.slot()?;
            ROOT.copy(copy, DEPTH, ROOT, frame, DEPTH, CapRights::READ).step("copying an image frame")?;
            alloc.map(vspace, copy, IMAGE_BASE + i as u64 * PAGE, CapRights::READ, vm_attributes::DEFAULT)?;
        }
        let ipc_buffer = alloc.make(ObjectType::SmallPage, 0)?;
        let attributes = vm_attributes::DEFAULT | vm_attributes::EXECUTE_NEVER;
        alloc.map(vspace, ipc_buffer, bootinfo.ipc_buffer, CapRights::READ_WRITE, attributes)?;
        let cnode = alloc.make(ObjectType::CNode, cnode_bits)?;
        let tcb = alloc.make(ObjectType::Tcb, 0)?;
        // The guard makes the CNode's slot addresses 64-bit ones, as for the root task.
        let guard = cnode_cap_data(0, 64 - cnode_bits);
        Tcb(tcb).configure(cnode, guard, vspace, 0, bootinfo.ipc_buffer, ipc_buffer).step("configuring the TCB")?;
        Ok(Process::empty(tcb, vspace, cnode, cnode_bits))
    }

    fn empty(tcb: CPtr, vspace: CPtr, cnode: CPtr, cnode_bits: u64) -> Process {
        Process {
            tcb,
            vspace,
            cnode,
            cnode_bits,
            fault_handler: 0,
            sc: 0,
            pages: 0,
            budget_us: 10_000,
            period_us: 10_000,
            entry: 0,
            writable: 0..0,
            reload_slot: 0,
        }
    }

    /// A new program loaded from the ELF `image`: a fresh VSpace holding each loadable segment
    /// in fresh frames (copied through the parent's own window at `scratch`, a free page-aligned
    /// address of the parent's VSpace; readable always, writable or executable as the segment's
    /// flags say; the rest of each page zero), an IPC buffer at [`info::MODULE_IPC_BUFFER`], an
    /// empty CNode of 2^`cnode_bits` slots and a TCB configured with them (not yet running).
    /// [`Process::start_image`] starts it at the ELF's entry. The frames of its writable
    /// segments sit in consecutive slots, so [`Process::reload_image`] can fill them afresh.
    pub fn from_elf(alloc: &mut Allocator, image: &[u8], cnode_bits: u64, scratch: u64) -> Result<Process> {
        let file = parse_elf(image)?;
        let (mut writable_pages, mut pages) = (0, 1);
        for_each_page(&file, image, |page| {
            writable_pages += u64::from(page.writable);
            pages += 1;
            Ok(())
        })?;
        let writable = alloc.slots(writable_pages)?;
        let reload_slot = alloc.slot()?;
        let vspace = alloc.make(ObjectType::VSpace, 0)?;
        AsidPool(slot::INIT_THREAD_ASID_POOL).assign(vspace).step("assigning an ASID")?;
        let mut next_writable = writable.start;
        for_each_page(&file, image, |page| {
            let frame = if page.writable {
                next_writable += 1;
                alloc.make_at(ObjectType::SmallPage, next_writable - 1)?
            } else {
                alloc.make(ObjectType::SmallPage, 0)?
            };
            if !page.bytes.is_empty() {
                alloc.map(slot::INIT_THREAD_VSPACE, frame, scratch, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
                fill_scratch(scratch, page.offset, page.bytes, false);
                Frame(frame).unmap().step("unmapping the scratch page")?;
            }
            let rights = if page.writable { CapRights::READ_WRITE } else { CapRights::READ };
            let mut attributes = vm_attributes::DEFAULT;
            if !page.executable {
                attributes |= vm_attributes::EXECUTE_NEVER;
            }
            alloc.map(vspace, frame, page.vaddr, rights, attributes)
        })?;
        let ipc_buffer = alloc.make(ObjectType::SmallPage, 0)?;
        let no_exec = vm_attributes::DEFAULT | vm_attributes::EXECUTE_NEVER;
        alloc.map(vspace, ipc_buffer, info::MODULE_IPC_BUFFER, CapRights::READ_WRITE, no_exec)?;
        let cnode = alloc.make(ObjectType::CNode, cnode_bits)?;
        let tcb = alloc.make(ObjectType::Tcb, 0)?;
        let guard = cnode_cap_data(0, 64 - cnode_bits);
        Tcb(tcb).configure(cnode, guard, vspace, 0, info::MODULE_IPC_BUFFER, ipc_buffer).step("configuring the TCB")?;
        let entry = file.ehdr.e_entry;
        let mut process = Process::empty(tcb, vspace, cnode, cnode_bits);
        process.entry = entry;
        process.writable = writable;
        process.reload_slot = reload_slot;
        process.pages = pages;
        Ok(process)
    }

    /// Fills the writable pages of a program made by [`Process::from_elf`] from `image` (the
    /// same ELF) again, through the parent's window at `scratch`: its data as the file has it,
    /// its bss and the rest zero, whatever the last run left there. The thread must be stopped.
    pub fn reload_image(&self, alloc: &mut Allocator, image: &[u8], scratch: u64) -> Result<()> {
        let file = parse_elf(image)?;
        let mut frame = self.writable.start;
        for_each_page(&file, image, |page| {
            if !page.writable {
                return Ok(());
            }
            if frame >= self.writable.end {
                return Err(SetupError { step: "the image is not the one the program was loaded from", error: None });
            }
            // The frame is mapped in the child: the parent's window needs a capability of its own.
            ROOT.copy(self.reload_slot, DEPTH, ROOT, frame, DEPTH, CapRights::READ_WRITE)
                .step("copying a data frame")?;
            let attributes = vm_attributes::DEFAULT | vm_attributes::EXECUTE_NEVER;
            let mapped =
                alloc.map(slot::INIT_THREAD_VSPACE, self.reload_slot, scratch, CapRights::READ_WRITE, attributes);
            let filled = mapped.and_then(|()| {
                fill_scratch(scratch, page.offset, page.bytes, true);
                Frame(self.reload_slot).unmap().step("unmapping the scratch page")
            });
            let deleted = ROOT.delete(self.reload_slot, DEPTH).step("deleting the data frame's copy");
            filled.and(deleted)?;
            frame += 1;
            Ok(())
        })
    }

    /// Starts a program made by [`Process::from_elf`] at its ELF entry, as the runtime's
    /// module entry expects: x0 = `argument` (its info page), x1 = its IPC buffer's address.
    pub fn start_image(&mut self, alloc: &mut Allocator, argument: u64, priority: u64) -> Result<()> {
        self.sc = self.launch(alloc, self.entry, argument, 0, priority)?;
        Ok(())
    }

    /// Restarts a program made by [`Process::from_elf`] at its ELF entry (as
    /// [`Process::restart`]; its memory is reused as it is: [`Process::reload_image`] first for
    /// a fresh start).
    pub fn restart_image(&self, argument: u64) -> Result<()> {
        Tcb(self.tcb).suspend().step("stopping the thread")?;
        Tcb(self.tcb).write_registers(true, 5, &self.registers(self.entry, argument, 0)).step("restarting the thread")
    }

    /// Makes `handler` (an endpoint capability in the root CNode, with send and grant-reply
    /// rights, usually badged to say which child it is) the thread's fault handler: a fault of
    /// the child becomes a message to its parent.
    pub fn set_fault_handler(&mut self, handler: CPtr) -> Result<()> {
        let guard = cnode_cap_data(0, 64 - self.cnode_bits);
        Tcb(self.tcb).set_space(handler, self.cnode, guard, self.vspace, 0).step("setting the fault handler")?;
        self.fault_handler = handler;
        Ok(())
    }

    /// Restarts the thread at `entry` (an `extern "C" fn(u64) -> !`) with `argument` in x0 and
    /// stack pointer `stack_top`: whatever it was doing, or waiting for (a fault reply), is
    /// abandoned. It keeps its address space, CSpace and scheduling context; its stack pages
    /// are reused as they are.
    pub fn restart(&self, entry: extern "C" fn(u64) -> !, argument: u64, stack_top: u64) -> Result<()> {
        Tcb(self.tcb).suspend().step("stopping the thread")?;
        let regs = self.registers(entry as usize as u64, argument, stack_top);
        Tcb(self.tcb).write_registers(true, 5, &regs).step("restarting the thread")
    }

    /// The registers a start gives: PC, SP, x0 = `argument`, and for a program loaded from an
    /// ELF x1 = its IPC buffer (the runtime's module entry contract).
    fn registers(&self, pc: u64, argument: u64, stack_top: u64) -> UserContext {
        let mut regs = UserContext::default();
        regs.0[UserContext::PC] = pc;
        regs.0[UserContext::SP] = stack_top;
        regs.0[UserContext::X0] = argument;
        if self.entry != 0 {
            regs.0[UserContext::X0 + 1] = info::MODULE_IPC_BUFFER;
        }
        regs
    }

    /// Gives the thread a scheduling context (`budget_us` every `period_us`) and `priority`, and starts it at
    /// `entry` with stack pointer `stack_top`.
    pub fn start(
        &self,
        alloc: &mut Allocator,
        entry: extern "C" fn() -> !,
        stack_top: u64,
        priority: u64,
    ) -> Result<()> {
        self.launch(alloc, entry as usize as u64, 0, stack_top, priority).map(drop)
    }

    /// As [`Process::start`], for an entry that gets `argument` in x0; keeps the scheduling
    /// context in [`Process::sc`].
    pub fn start_with(
        &mut self,
        alloc: &mut Allocator,
        entry: extern "C" fn(u64) -> !,
        argument: u64,
        stack_top: u64,
        priority: u64,
    ) -> Result<()> {
        self.sc = self.launch(alloc, entry as usize as u64, argument, stack_top, priority)?;
        Ok(())
    }

    /// Gives the thread a new scheduling context and starts it; returns the context.
    fn launch(&self, alloc: &mut Allocator, pc: u64, argument: u64, stack_top: u64, priority: u64) -> Result<CPtr> {
        let sc = alloc.make(ObjectType::SchedContext, 8)?;
        SchedControl(alloc.bootinfo.sched_control.start)
            .configure_flags(SchedContext(sc), self.budget_us, self.period_us, 0, 0, 0)
            .step("configuring the scheduling context")?;
        Tcb(self.tcb)
            .set_sched_params(Tcb(slot::INIT_THREAD_TCB), priority, priority, sc, self.fault_handler)
            .step("setting scheduling parameters")?;
        let regs = self.registers(pc, argument, stack_top);
        Tcb(self.tcb).write_registers(true, 5, &regs).step("starting the thread")?;
        Ok(sc)
    }
}

type ElfFile<'a> = elf::ElfBytes<'a, elf::endian::LittleEndian>;

fn parse_elf(image: &[u8]) -> Result<ElfFile<'_>> {
    ElfFile::minimal_parse(image).map_err(|_| SetupError { step: "parsing the ELF", error: None })
}

/// One page of a loadable segment: where it goes, what of the file it holds (`bytes` at
/// `offset` in the page; the rest is zero), and how it is mapped.
struct ImagePage<'a> {
    vaddr: u64,
    offset: usize,
    bytes: &'a [u8],
    writable: bool,
    executable: bool,
}

/// Calls `visit` for every page of every loadable segment, in file order.
fn for_each_page<'a>(
    file: &ElfFile<'a>,
    image: &'a [u8],
    mut visit: impl FnMut(ImagePage<'a>) -> Result<()>,
) -> Result<()> {
    use elf::abi::{PF_W, PF_X, PT_LOAD};
    let refused = |step| SetupError { step, error: None };
    let segments = file.segments().ok_or(refused("the ELF has no program headers"))?;
    for segment in segments.iter().filter(|s| s.p_type == PT_LOAD && s.p_memsz > 0) {
        let start = segment.p_vaddr;
        let file_end = start.checked_add(segment.p_filesz).ok_or(refused("an ELF segment past the address space"))?;
        let end = start.checked_add(segment.p_memsz).ok_or(refused("an ELF segment past the address space"))?;
        let bytes = usize::try_from(segment.p_offset)
            .ok()
            .zip(usize::try_from(segment.p_offset.saturating_add(segment.p_filesz)).ok())
            .and_then(|(from, to)| image.get(from..to))
            .ok_or(refused("an ELF segment beyond the file"))?;
        let mut page = start & !(PAGE - 1);
        while page < end {
            let (from, to) = (page.max(start), (page + PAGE).min(file_end));
            let in_file = if from < to { &bytes[(from - start) as usize..(to - start) as usize] } else { &[] };
            visit(ImagePage {
                vaddr: page,
                offset: (from - page) as usize,
                bytes: in_file,
                writable: segment.p_flags & PF_W != 0,
                executable: segment.p_flags & PF_X != 0,
            })?;
            page += PAGE;
        }
    }
    Ok(())
}

/// Writes `bytes` at `offset` into the page mapped at `scratch`, zeroing the rest first when
/// `clear` (a fresh frame is zero already).
fn fill_scratch(scratch: u64, offset: usize, bytes: &[u8], clear: bool) {
    // SAFETY: the caller mapped a 4 KiB frame read-write at `scratch` in this address space, and
    // `offset + bytes.len() <= 4096` (an ImagePage's bytes lie inside its page).
    unsafe {
        if clear {
            core::ptr::write_bytes(scratch as *mut u8, 0, PAGE as usize);
        }
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), (scratch as *mut u8).add(offset), bytes.len());
    }
}
