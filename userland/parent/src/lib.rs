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
pub mod info;
pub mod plan;

use core::ops::Range;
use hmk_rt::BootInfo;
use hmk_sys::Error;
use hmk_sys::bootinfo::slot;
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

/// Hands out free slots of the root CNode and objects retyped from one RAM untyped.
pub struct Allocator {
    bootinfo: &'static BootInfo,
    untyped: Untyped,
    next_slot: CPtr,
    end_slot: CPtr,
}

impl Allocator {
    /// Objects come from the largest RAM untyped, slots from BootInfo's empty region (for the
    /// root task).
    pub fn new(bootinfo: &'static BootInfo) -> Result<Allocator> {
        let (untyped, _) =
            bootinfo.largest_ram_untyped().ok_or(SetupError { step: "finding RAM untyped", error: None })?;
        Ok(Allocator::with(bootinfo, Untyped(untyped), bootinfo.empty.start..bootinfo.empty.end))
    }

    /// Objects from `untyped`, slots from the root-CNode range `slots`.
    pub fn with(bootinfo: &'static BootInfo, untyped: Untyped, slots: Range<CPtr>) -> Allocator {
        Allocator { bootinfo, untyped, next_slot: slots.start, end_slot: slots.end }
    }

    /// A free slot of the root CNode.
    pub fn slot(&mut self) -> Result<CPtr> {
        if self.next_slot >= self.end_slot {
            return Err(SetupError { step: "out of root CNode slots", error: None });
        }
        self.next_slot += 1;
        Ok(self.next_slot - 1)
    }

    /// A new object of `object_type` (`size_bits` for variable-sized ones) in a fresh slot.
    pub fn make(&mut self, object_type: ObjectType, size_bits: u64) -> Result<CPtr> {
        let dest = self.slot()?;
        self.untyped.retype(object_type, size_bits, ROOT, 0, 0, dest, 1).step("retyping RAM")?;
        Ok(dest)
    }

    /// `count` new objects placed straight into slots `index..index + count` of `cnode` (a
    /// CNode capability in the root CNode).
    pub fn make_in(&mut self, object_type: ObjectType, cnode: CPtr, index: u64, count: u64) -> Result<()> {
        self.untyped.retype(object_type, 0, CNode(cnode), 0, 0, index, count).step("retyping RAM into a CNode")
    }

    /// The 4 KiB device frame at physical address `paddr`: the device untyped covering it is
    /// split in halves, keeping the half that holds `paddr`, down to 4 KiB, then retyped into
    /// a frame. The other halves stay unused in the root CNode.
    pub fn device_frame(&mut self, paddr: u64) -> Result<CPtr> {
        let bootinfo = self.bootinfo;
        let (index, desc) = bootinfo
            .untyped_list()
            .iter()
            .enumerate()
            .find(|(_, u)| u.is_device != 0 && paddr >= u.paddr && paddr - u.paddr < 1 << u.size_bits)
            .ok_or(SetupError { step: "finding the device untyped", error: None })?;
        let (mut untyped, mut base, mut bits) = (bootinfo.untyped.start + index as u64, desc.paddr, desc.size_bits);
        while u64::from(bits) > PAGE_BITS {
            bits -= 1;
            let halves = self.slot()?;
            self.slot()?;
            Untyped(untyped)
                .retype(ObjectType::Untyped, u64::from(bits), ROOT, 0, 0, halves, 2)
                .step("splitting a device untyped")?;
            let upper = paddr - base >= 1 << bits;
            untyped = halves + u64::from(upper);
            base += u64::from(upper) << bits;
        }
        let frame = self.slot()?;
        Untyped(untyped).retype(ObjectType::SmallPage, 0, ROOT, 0, 0, frame, 1).step("retyping the device frame")?;
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
        Ok(Process { tcb, vspace, cnode, cnode_bits, fault_handler: 0, budget_us: 10_000, period_us: 10_000, entry: 0 })
    }

    /// A new program loaded from the ELF `image`: a fresh VSpace holding each loadable segment
    /// in fresh frames (copied through the parent's own window at `scratch`, a free page-aligned
    /// address of the parent's VSpace; readable always, writable or executable as the segment's
    /// flags say; the rest of each page zero), an IPC buffer at [`info::MODULE_IPC_BUFFER`], an
    /// empty CNode of 2^`cnode_bits` slots and a TCB configured with them (not yet running).
    /// [`Process::start_image`] starts it at the ELF's entry.
    pub fn from_elf(alloc: &mut Allocator, image: &[u8], cnode_bits: u64, scratch: u64) -> Result<Process> {
        use elf::abi::{PF_W, PF_X, PT_LOAD};
        let refused = |step| SetupError { step, error: None };
        let file =
            elf::ElfBytes::<elf::endian::LittleEndian>::minimal_parse(image).map_err(|_| refused("parsing the ELF"))?;
        let segments = file.segments().ok_or(refused("the ELF has no program headers"))?;
        let vspace = alloc.make(ObjectType::VSpace, 0)?;
        AsidPool(slot::INIT_THREAD_ASID_POOL).assign(vspace).step("assigning an ASID")?;
        for segment in segments.iter().filter(|s| s.p_type == PT_LOAD && s.p_memsz > 0) {
            let (start, file_end, end) =
                (segment.p_vaddr, segment.p_vaddr + segment.p_filesz, segment.p_vaddr + segment.p_memsz);
            let bytes = image
                .get(segment.p_offset as usize..(segment.p_offset + segment.p_filesz) as usize)
                .ok_or(refused("an ELF segment beyond the file"))?;
            let writable = segment.p_flags & PF_W != 0;
            let rights = if writable { CapRights::READ_WRITE } else { CapRights::READ };
            let mut attributes = vm_attributes::DEFAULT;
            if segment.p_flags & PF_X == 0 {
                attributes |= vm_attributes::EXECUTE_NEVER;
            }
            let mut page = start & !(PAGE - 1);
            while page < end {
                let frame = alloc.make(ObjectType::SmallPage, 0)?;
                // The part of this page the file provides: copy it in through the scratch page.
                let (from, to) = (page.max(start), (page + PAGE).min(file_end));
                if from < to {
                    alloc.map(
                        slot::INIT_THREAD_VSPACE,
                        frame,
                        scratch,
                        CapRights::READ_WRITE,
                        vm_attributes::DEFAULT,
                    )?;
                    let source = &bytes[(from - start) as usize..(to - start) as usize];
                    // SAFETY: `scratch` now maps the fresh 4 KiB frame read-write in this address
                    // space, and `from - page + source.len() <= 4096`.
                    unsafe {
                        let destination = (scratch + (from - page)) as *mut u8;
                        core::ptr::copy_nonoverlapping(source.as_ptr(), destination, source.len());
                    }
                    Frame(frame).unmap().step("unmapping the scratch page")?;
                }
                alloc.map(vspace, frame, page, rights, attributes)?;
                page += PAGE;
            }
        }
        let ipc_buffer = alloc.make(ObjectType::SmallPage, 0)?;
        let no_exec = vm_attributes::DEFAULT | vm_attributes::EXECUTE_NEVER;
        alloc.map(vspace, ipc_buffer, info::MODULE_IPC_BUFFER, CapRights::READ_WRITE, no_exec)?;
        let cnode = alloc.make(ObjectType::CNode, cnode_bits)?;
        let tcb = alloc.make(ObjectType::Tcb, 0)?;
        let guard = cnode_cap_data(0, 64 - cnode_bits);
        Tcb(tcb).configure(cnode, guard, vspace, 0, info::MODULE_IPC_BUFFER, ipc_buffer).step("configuring the TCB")?;
        let entry = file.ehdr.e_entry;
        Ok(Process { tcb, vspace, cnode, cnode_bits, fault_handler: 0, budget_us: 10_000, period_us: 10_000, entry })
    }

    /// Starts a program made by [`Process::from_elf`] at its ELF entry, as the runtime's
    /// module entry expects: x0 = `argument` (its info page), x1 = its IPC buffer's address.
    pub fn start_image(&self, alloc: &mut Allocator, argument: u64, priority: u64) -> Result<()> {
        self.launch(alloc, self.entry, argument, 0, priority)
    }

    /// Restarts a program made by [`Process::from_elf`] at its ELF entry (as
    /// [`Process::restart`]; its memory is reused as it is).
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
        self.launch(alloc, entry as usize as u64, 0, stack_top, priority)
    }

    /// As [`Process::start`], for an entry that gets `argument` in x0.
    pub fn start_with(
        &self,
        alloc: &mut Allocator,
        entry: extern "C" fn(u64) -> !,
        argument: u64,
        stack_top: u64,
        priority: u64,
    ) -> Result<()> {
        self.launch(alloc, entry as usize as u64, argument, stack_top, priority)
    }

    fn launch(&self, alloc: &mut Allocator, pc: u64, argument: u64, stack_top: u64, priority: u64) -> Result<()> {
        let sc = alloc.make(ObjectType::SchedContext, 8)?;
        SchedControl(alloc.bootinfo.sched_control.start)
            .configure_flags(SchedContext(sc), self.budget_us, self.period_us, 0, 0, 0)
            .step("configuring the scheduling context")?;
        Tcb(self.tcb)
            .set_sched_params(Tcb(slot::INIT_THREAD_TCB), priority, priority, sc, self.fault_handler)
            .step("setting scheduling parameters")?;
        let regs = self.registers(pc, argument, stack_top);
        Tcb(self.tcb).write_registers(true, 5, &regs).step("starting the thread")
    }
}
