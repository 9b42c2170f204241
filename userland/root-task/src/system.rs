//! Building the system the build tool planned (`system/<board>.toml`, `hm_parent::plan`) and
//! supervising it: every bus as a bus module, a bridge module joining each child bus to its
//! parent, every module as a program of its own, loaded from its own ELF image (embedded by the
//! build tool, [`programs::image`]), with its memberships, devices, interrupts and budget; then
//! the root task waits on its modules' fault endpoint and restarts a failed module as its
//! restart policy says.

use crate::programs;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use hm_bus::{ClassSet, Rights};
use hm_parent::bus::{Bus, Crossing};
use hm_parent::control::{self, CONTROL_BADGE, Refusal, STATUS_WORDS, State, Status};
use hm_parent::info::{
    BusName, MAX_DEVICE_FRAMES, MAX_DIRECTORY_BUSES, MAX_DIRECTORY_MEMBERS, MAX_DMA_PAGES, MAX_IRQS,
    MAX_REGISTER_BLOCKS, MAX_SEATS, MAX_SHARED_REGIONS, MODULE_BUS_CAPS, MODULE_CNODE_BITS, MODULE_CONTROL,
    MODULE_DEVICES, MODULE_DMA, MODULE_INBOXES, MODULE_INFO, MODULE_IRQS, MODULE_NOTIFICATION, MODULE_SHARED,
    MODULE_STATUS, MemberName, ModuleInfo, RegisterBlock, SHARED_STRIDE, STATUS_BUSY_SINCE, Seat, SharedRegion,
    irq_badge, padded,
};
use hm_parent::plan::{MemoryPlan, ModulePlan, RestartPlan, SystemPlan};
use hm_parent::{Allocator, DEPTH, Process, ROOT, Result, SetupError, Step};
use hmk_rt::{counter as now, counter_frequency as frequency};
use hmk_sys::bootinfo::slot;
use hmk_sys::invocation::{CNode, CPtr, IrqControl, IrqHandler, SchedContext, SchedControl, Tcb, UserContext};
use hmk_sys::ipc_buffer::ipc_buffer;
use hmk_sys::message::{CapRights, MessageInfo};
use hmk_sys::object::{ObjectType, vm_attributes};
use hmk_sys::syscall;

/// The badges of buses' and bridges' fault handler capabilities (with the bus's id below).
const BUS_FAULT_BADGE: u64 = 1 << 41;
const BRIDGE_FAULT_BADGE: u64 = 1 << 42;
/// How many times buses and bridges are restarted in all before the supervisor gives up on them.
const MAX_BUS_RESTARTS: u32 = 16;
/// The badge of the watchdog thread's capability to the fault endpoint (the module's index
/// below): a watched module was found hung.
const WATCHDOG_BADGE: u64 = 1 << 43;
/// The label the supervisor gives a hang, beside seL4's fault labels.
const HUNG: u64 = 0x100;
/// Where the root task maps watched modules' status pages (module `i` at `+ i * 4096`), and
/// the watchdog thread's stack.
const STATUS_PAGES: u64 = 0x63_0000_0000;
const WATCHDOG_STACK: u64 = 0x64_0000_0000;
const WATCHDOG_STACK_PAGES: u64 = 4;
/// The watchdog thread: just below the root task, 1 ms of CPU every 50 ms.
const WATCHDOG_PRIORITY: u64 = 254;
const WATCHDOG_BUDGET_US: u64 = 1000;
const WATCHDOG_PERIOD_US: u64 = 50_000;
/// Most modules the watchdog watches.
const MAX_WATCHED: usize = 32;

/// Bus modules and bridges run above the modules they serve.
const BUS_PRIORITY: u64 = 210;
const BRIDGE_PRIORITY: u64 = 205;
/// Where the root task maps the info page of module `i` to write it.
const INFO_PAGES: u64 = 0x60_0000_0000;
/// Where the root task maps each new frame of a module's image while it copies it in.
const LOAD_SCRATCH: u64 = 0x61_0000_0000;

/// What the watchdog thread watches, written before it starts: per entry the module's index
/// plus 1 (0: unused), its status page in the root task's space, its limit in microseconds of
/// CPU time, and its scheduling context.
static WATCHED: [[AtomicU64; 4]; MAX_WATCHED] = [const { [const { AtomicU64::new(0) }; 4] }; MAX_WATCHED];
/// The watchdog's capability to the fault endpoint (badged per report: see `watchdog_main`).
static WATCHDOG_FAULTS: [AtomicU64; MAX_WATCHED] = [const { AtomicU64::new(0) }; MAX_WATCHED];
/// The CPU time each watched module's scheduling context has consumed since boot (µs): the
/// watchdog takes it from the context (SchedContext Consumed), so the control service's LIST
/// reads it here rather than from the context.
static WATCHED_CONSUMED_US: [AtomicU64; MAX_WATCHED] = [const { AtomicU64::new(0) }; MAX_WATCHED];

/// The watchdog thread: forever, once a period, every watched module that has used more CPU
/// time than its limit in one event handler is reported to the supervisor (once per handler
/// run, told apart by the busy word's value), as a message on the fault endpoint badged with
/// its index. CPU time, not time passed: a module kept from running by higher priorities is
/// not hung.
extern "C" fn watchdog_main(_: u64) -> ! {
    let mut reported = [0u64; MAX_WATCHED];
    // Per entry: the handler run being timed (its busy word) and the CPU time it has used.
    let mut timing = [(0u64, 0u64); MAX_WATCHED];
    loop {
        for (k, entry) in WATCHED.iter().enumerate() {
            let index = entry[0].load(Ordering::SeqCst);
            if index == 0 {
                continue;
            }
            // SAFETY: entry 1 is the address of the module's status page, mapped read-write in
            // this address space for the root task's life; its first word is accessed only
            // atomically.
            let busy =
                unsafe { AtomicU64::from_ptr(entry[1].load(Ordering::SeqCst) as *mut u64) }.load(Ordering::SeqCst);
            let limit = entry[2].load(Ordering::SeqCst);
            let used = SchedContext(entry[3].load(Ordering::SeqCst)).consumed().unwrap_or(0);
            WATCHED_CONSUMED_US[k].fetch_add(used, Ordering::SeqCst);
            if timing[k].0 != busy {
                // Another handler run (or none): its time starts now.
                timing[k] = (busy, 0);
            } else if busy != 0 {
                timing[k].1 += used;
            }
            if busy != 0 && busy != reported[k] && timing[k].1 > limit {
                reported[k] = busy;
                let report = syscall::Registers {
                    cap_or_badge: WATCHDOG_FAULTS[k].load(Ordering::SeqCst),
                    info: MessageInfo::new(HUNG, 0, 0, 0),
                    mrs: [0; 4],
                };
                syscall::send(report);
            }
        }
        // The rest of this period's budget is given up: the next round comes with the refill.
        syscall::yield_now();
    }
}

/// A module the root task supervises.
struct Supervised {
    plan: &'static ModulePlan,
    /// Its index in the plan (its faults' badge is `index + 1`).
    index: usize,
    process: Process,
    image: &'static [u8],
    /// The root task's copies of its IRQ handlers, acknowledged when it restarts.
    irq_handlers: [CPtr; MAX_IRQS],
    /// The root task's writable view of the module's info page.
    info: *mut ModuleInfo,
    /// Restarts in the current window, and when the window began (counter ticks).
    restarts: u32,
    window_start: u64,
    state: State,
    /// Restarts since boot, CPU time its scheduling context consumed (µs), RAM pages it got.
    total_restarts: u64,
    consumed_us: u64,
    pages: u64,
}

/// A shared memory region, made once: its frames' slots (the root task never maps them; each
/// module maps copies) and its first frame's physical address.
struct Region {
    plan: &'static MemoryPlan,
    frames: core::ops::Range<CPtr>,
    paddr: u64,
}

/// A built system: its modules, the allocator that built them, and the endpoint their faults
/// come to.
pub struct System {
    plan: &'static SystemPlan,
    modules: Vec<Supervised>,
    /// The bus modules, by id - 1, and each child bus's bridge with that bus's id.
    buses: Vec<Bus>,
    bridges: Vec<Bridge>,
    /// Restarts of buses and bridges since boot (they have no policy: at most
    /// [`MAX_BUS_RESTARTS`] in all).
    bus_restarts: u32,
    alloc: Allocator,
    faults: CPtr,
    fault_reply: CPtr,
}

fn refused(step: &'static str) -> SetupError {
    SetupError { step, error: None }
}

/// Builds every bus, bridge and module of `plan`; each module starts at once. A module whose
/// setup fails is reported (its name, the step, the kernel's error) and left out; the rest
/// start. Whatever the failed setup had made stays allocated.
pub fn build(plan: &'static SystemPlan, mut alloc: Allocator) -> Result<System> {
    let (faults, fault_reply) = fault_endpoint(&mut alloc)?;
    let (buses, bridges) = build_buses(plan, &mut alloc, faults)?;
    let mut regions = Vec::new();
    for memory in plan.memories {
        regions.push(shared_region(&mut alloc, memory, plan.dma_limit)?);
    }
    let mut modules = Vec::new();
    let directory = directory(plan);
    for (index, module) in plan.modules.iter().enumerate() {
        let Some(image) = programs::image(module.program) else {
            log::warn!("system: module {}: no program {:?}; not started", module.name, module.program);
            continue;
        };
        let context = (&buses[..], &regions[..], &directory);
        match start_module(&mut alloc, context, (module, index, plan.dma_limit), image, faults) {
            Ok(supervised) => {
                log::info!("system: module {} ({}) started", module.name, module.program);
                modules.push(supervised);
            }
            Err(e) => {
                let cause = cause(e.error);
                log::warn!("system: module {}: setup failed: {}{cause}; not started", module.name, e.step);
            }
        }
    }
    if let Err(e) = start_watchdog(&mut alloc, &modules, faults) {
        log::warn!("system: the watchdog did not start: {} ({:?})", e.step, e.error);
    }
    Ok(System { plan, modules, buses, bridges, bus_restarts: 0, alloc, faults, fault_reply })
}

/// The directory every module's info page carries: the plan's buses and every module's
/// memberships (a module of no bus is listed once with bus 0), so that modules can name a
/// message's origin and the shell can name modules.
fn directory(plan: &SystemPlan) -> ModuleInfo {
    let mut info = ModuleInfo::EMPTY;
    for bus in plan.buses.iter().take(MAX_DIRECTORY_BUSES) {
        let parent = bus.parent.unwrap_or(0);
        info.buses[info.bus_count as usize] = BusName { name: padded(bus.name), id: bus.id, parent };
        info.bus_count += 1;
    }
    for (index, module) in plan.modules.iter().enumerate() {
        let none: &[(u16, u16)] = &[(0, 0)];
        let memberships = if module.memberships.is_empty() { none } else { module.memberships };
        for &(bus, member) in memberships {
            if info.member_count as usize == MAX_DIRECTORY_MEMBERS {
                log::warn!("system: the directory holds {MAX_DIRECTORY_MEMBERS} memberships; {} left out", module.name);
                return info;
            }
            let name = padded(module.name);
            info.members[info.member_count as usize] =
                MemberName { name, module: index as u16, bus, member, reserved: 0 };
            info.member_count += 1;
        }
    }
    info
}

/// The kernel error of a failed step, as text.
fn cause(error: Option<hmk_sys::Error>) -> alloc::string::String {
    error.map_or(alloc::string::String::new(), |e| alloc::format!(" ({e:?})"))
}

fn fault_endpoint(alloc: &mut Allocator) -> Result<(CPtr, CPtr)> {
    Ok((alloc.make(ObjectType::Endpoint, 0)?, alloc.make(ObjectType::Reply, 0)?))
}

/// A child bus's bridge module, with that bus's id.
type Bridge = (u16, Process);

/// Starts the watchdog thread (in the root task's own address space and CSpace) for the modules
/// whose description sets `watchdog_ms`, if any.
fn start_watchdog(alloc: &mut Allocator, modules: &[Supervised], faults: CPtr) -> Result<()> {
    let watched: Vec<&Supervised> = modules.iter().filter(|m| m.plan.watchdog_ms > 0).take(MAX_WATCHED).collect();
    if watched.is_empty() {
        return Ok(());
    }
    for (k, module) in watched.iter().enumerate() {
        let report = fault_handler(alloc, faults, WATCHDOG_BADGE | module.index as u64)?;
        WATCHDOG_FAULTS[k].store(report, Ordering::SeqCst);
        WATCHED[k][1].store(STATUS_PAGES + module.index as u64 * 4096 + STATUS_BUSY_SINCE as u64, Ordering::SeqCst);
        WATCHED[k][2].store(module.plan.watchdog_ms * 1000, Ordering::SeqCst);
        WATCHED[k][3].store(module.process.sc, Ordering::SeqCst);
        WATCHED[k][0].store(module.index as u64 + 1, Ordering::SeqCst);
    }
    alloc.map_new_pages(slot::INIT_THREAD_VSPACE, WATCHDOG_STACK, WATCHDOG_STACK_PAGES)?;
    let tcb = alloc.make(ObjectType::Tcb, 0)?;
    let sc = alloc.make(ObjectType::SchedContext, 8)?;
    Tcb(tcb)
        .configure(slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0, 0, slot::INIT_THREAD_IPC_BUFFER)
        .step("configuring the watchdog")?;
    SchedControl(alloc.bootinfo().sched_control.start)
        .configure_flags(SchedContext(sc), WATCHDOG_BUDGET_US, WATCHDOG_PERIOD_US, 0, 0, 0)
        .step("the watchdog's scheduling context")?;
    let me = Tcb(slot::INIT_THREAD_TCB);
    Tcb(tcb).set_sched_params(me, WATCHDOG_PRIORITY, WATCHDOG_PRIORITY, sc, 0).step("the watchdog's priority")?;
    let mut regs = UserContext::default();
    regs.0[UserContext::PC] = watchdog_main as *const () as u64;
    regs.0[UserContext::SP] = WATCHDOG_STACK + WATCHDOG_STACK_PAGES * 4096;
    Tcb(tcb).write_registers(true, 4, &regs).step("starting the watchdog")?;
    log::info!("system: the watchdog watches {} module{}", watched.len(), if watched.len() == 1 { "" } else { "s" });
    Ok(())
}

/// A capability to the root task's fault endpoint badged `badge`, for a child's faults.
fn fault_handler(alloc: &mut Allocator, faults: CPtr, badge: u64) -> Result<CPtr> {
    let handler = alloc.slot()?;
    ROOT.mint(handler, DEPTH, ROOT, faults, DEPTH, CapRights::ALL, badge).step("a fault handler capability")?;
    Ok(handler)
}

/// Every bus of `plan` as a bus module, and a bridge for each child bus (the bridge's entry
/// has the child bus's id), each with a fault handler capability to the root task.
fn build_buses(plan: &'static SystemPlan, alloc: &mut Allocator, faults: CPtr) -> Result<(Vec<Bus>, Vec<Bridge>)> {
    log::info!("system: {}: {} buses, {} modules", plan.name, plan.buses.len(), plan.modules.len());
    let mut buses: Vec<Bus> = Vec::new();
    if programs::image("bus-server").is_none() || programs::image("bridge").is_none() {
        log::warn!("system: no bus or bridge program embedded; they run as mirrors of the root task");
    }
    for bus in plan.buses {
        let handler = fault_handler(alloc, faults, BUS_FAULT_BADGE | u64::from(bus.id))?;
        let image = programs::image("bus-server");
        buses.push(hm_parent::bus::start_bus_supervised(alloc, bus.id, BUS_PRIORITY, image, handler)?);
    }
    let mut bridges = Vec::new();
    for bus in plan.buses {
        let Some(parent) = bus.parent else { continue };
        let child = &buses[usize::from(bus.id) - 1];
        let parent = buses.get(usize::from(parent) - 1).ok_or(refused("a bus's parent"))?;
        let up = Crossing { id: bus.up_link, filter: ClassSet::from_words(bus.up) };
        let down = Crossing { id: bus.down_link, filter: ClassSet::from_words(bus.down) };
        let handler = fault_handler(alloc, faults, BRIDGE_FAULT_BADGE | u64::from(bus.id))?;
        let image = programs::image("bridge");
        let bridge =
            hm_parent::bus::bridge_supervised(alloc, (child, parent), (up, down), BRIDGE_PRIORITY, image, handler)?;
        bridges.push((bus.id, bridge));
    }
    Ok((buses, bridges))
}

fn start_module(
    alloc: &mut Allocator,
    (buses, regions, directory): (&[Bus], &[Region], &ModuleInfo),
    (module, index, dma_limit): (&'static ModulePlan, usize, u64),
    image: &'static [u8],
    faults: CPtr,
) -> Result<Supervised> {
    if module.memberships.len() > MAX_SEATS || module.devices.len() > MAX_DEVICE_FRAMES || module.irqs.len() > MAX_IRQS
    {
        return Err(refused("a module with more memberships, devices or interrupts than its info page holds"));
    }
    let mut process = Process::from_elf(alloc, image, MODULE_CNODE_BITS, LOAD_SCRATCH)?;
    process.budget_us = module.budget_us;
    process.period_us = module.period_us;
    let cnode = CNode(process.cnode);
    let notification = alloc.make(ObjectType::Notification, 0)?;
    cnode
        .mint(MODULE_NOTIFICATION, MODULE_CNODE_BITS, ROOT, notification, DEPTH, CapRights::READ, 0)
        .step("the module's notification")?;

    // Its info page: written by the root task through its own mapping, read-only for the module.
    let page = alloc.make(ObjectType::SmallPage, 0)?;
    let module_copy = alloc.slot()?;
    ROOT.copy(module_copy, DEPTH, ROOT, page, DEPTH, CapRights::READ).step("copying the info page")?;
    let no_exec = vm_attributes::DEFAULT | vm_attributes::EXECUTE_NEVER;
    let own = INFO_PAGES + index as u64 * 4096;
    alloc.map(slot::INIT_THREAD_VSPACE, page, own, CapRights::READ_WRITE, no_exec)?;
    alloc.map(process.vspace, module_copy, MODULE_INFO, CapRights::READ, no_exec)?;
    let mut info = *directory;
    info.name = padded(module.name);
    info.subscribe = module.subscribe;
    let mut pages = process.pages + 1 + module.memberships.len() as u64;

    for (k, &(bus_id, member)) in module.memberships.iter().enumerate() {
        let bus = buses.get(usize::from(bus_id).wrapping_sub(1)).ok_or(refused("a module's bus"))?;
        let inbox = MODULE_INBOXES + k as u64 * 4096;
        // It may subscribe to what its description subscribes it to, and publish what it
        // lists (everything when it lists nothing).
        let rights =
            Rights { subscribe: ClassSet::from_words(module.subscribe), publish: ClassSet::from_words(module.publish) };
        let cap = hm_parent::bus::join_member(alloc, bus, member, rights, (process.vspace, inbox), notification)?;
        let seat = MODULE_BUS_CAPS + k as u64;
        cnode.move_(seat, MODULE_CNODE_BITS, ROOT, cap, DEPTH).step("the module's bus capability")?;
        info.seats[k] = Seat { bus: u64::from(bus_id), member: u64::from(member), endpoint: seat, inbox };
    }
    info.seat_count = module.memberships.len() as u64;
    for (k, &(address, _)) in module.devices.iter().enumerate() {
        let frame = alloc.device_frame(address)?;
        let at = MODULE_DEVICES + k as u64 * 4096;
        alloc.map(process.vspace, frame, at, CapRights::READ_WRITE, 0)?;
        info.devices[k] = at;
    }
    info.device_count = module.devices.len() as u64;
    if module.registers.len() > MAX_REGISTER_BLOCKS {
        return Err(refused("a module with more register blocks than its info page holds"));
    }
    for (k, &(paddr, size)) in module.registers.iter().enumerate() {
        info.registers[k] = RegisterBlock { vaddr: register_address(module, paddr, size)?, paddr, size };
    }
    info.register_count = module.registers.len() as u64;
    if module.memory.len() > MAX_SHARED_REGIONS {
        return Err(refused("a module with more shared memory regions than its info page holds"));
    }
    for (k, &index) in module.memory.iter().enumerate() {
        let region = regions.get(usize::from(index)).ok_or(refused("a module's memory region"))?;
        let at = MODULE_SHARED + k as u64 * SHARED_STRIDE;
        let attributes = if region.plan.dma { 0 } else { vm_attributes::DEFAULT } | vm_attributes::EXECUTE_NEVER;
        for (page, frame) in region.frames.clone().enumerate() {
            // A frame capability maps once: each module maps a copy.
            let copy = alloc.slot()?;
            ROOT.copy(copy, DEPTH, ROOT, frame, DEPTH, CapRights::READ_WRITE).step("copying a shared frame")?;
            alloc.map(process.vspace, copy, at + page as u64 * 4096, CapRights::READ_WRITE, attributes)?;
        }
        let mut name = [0; 24];
        let text = region.plan.name.as_bytes();
        name[..text.len().min(23)].copy_from_slice(&text[..text.len().min(23)]);
        let bytes = u64::from(region.plan.pages) * 4096;
        info.shared[k] = SharedRegion { name, vaddr: at, paddr: region.paddr, bytes };
        pages += u64::from(region.plan.pages);
    }
    info.shared_count = module.memory.len() as u64;
    if module.dma_pages > 0 {
        let (dma, paddr) = dma_pages(alloc, process.vspace, module.dma_pages, dma_limit)?;
        (info.dma_pages, info.dma_vaddr, info.dma_paddr) = (dma, MODULE_DMA, paddr);
        pages += dma;
    }
    let mut irq_handlers = [0; MAX_IRQS];
    for (k, &intid) in module.irqs.iter().enumerate() {
        let handler = alloc.slot()?;
        IrqControl(slot::IRQ_CONTROL).get(u64::from(intid), ROOT, handler, DEPTH).step("the module's IRQ handler")?;
        let badged = alloc.slot()?;
        let send_only = CapRights { write: true, ..CapRights::NONE };
        ROOT.mint(badged, DEPTH, ROOT, notification, DEPTH, send_only, irq_badge(k)).step("the IRQ's notification")?;
        IrqHandler(handler).set_notification(badged).step("binding the IRQ")?;
        let at = MODULE_IRQS + k as u64;
        cnode.copy(at, MODULE_CNODE_BITS, ROOT, handler, DEPTH, CapRights::ALL).step("the module's IRQ handler")?;
        irq_handlers[k] = handler;
        info.irqs[k] = (u64::from(intid), at);
    }
    info.irq_count = module.irqs.len() as u64;
    if module.watchdog_ms > 0 {
        // Its status page: the module writes it, the watchdog thread reads it.
        let page = alloc.make(ObjectType::SmallPage, 0)?;
        let module_copy = alloc.slot()?;
        ROOT.copy(module_copy, DEPTH, ROOT, page, DEPTH, CapRights::READ_WRITE).step("copying the status page")?;
        let own = STATUS_PAGES + index as u64 * 4096;
        alloc.map(slot::INIT_THREAD_VSPACE, page, own, CapRights::READ_WRITE, no_exec)?;
        alloc.map(process.vspace, module_copy, MODULE_STATUS, CapRights::READ_WRITE, no_exec)?;
        info.status = MODULE_STATUS;
        pages += 1;
    }
    if module.control {
        // A Call-only capability to the endpoint the root task serves faults and control on.
        let call_only = CapRights { write: true, grant_reply: true, ..CapRights::NONE };
        let badge = CONTROL_BADGE | index as u64;
        cnode
            .mint(MODULE_CONTROL, MODULE_CNODE_BITS, ROOT, faults, DEPTH, call_only, badge)
            .step("the module's control capability")?;
        info.control = MODULE_CONTROL;
    }
    let info_page = own as *mut ModuleInfo;
    // SAFETY: `own` maps the fresh info frame read-write in this address space; only the root
    // task writes it.
    unsafe { info_page.write(info) };

    // Its faults come to the root task, badged with its index.
    let handler = alloc.slot()?;
    ROOT.mint(handler, DEPTH, ROOT, faults, DEPTH, CapRights::ALL, index as u64 + 1).step("the fault handler")?;
    process.set_fault_handler(handler)?;
    process.start_image(alloc, MODULE_INFO, u64::from(module.priority))?;
    Ok(Supervised {
        plan: module,
        index,
        process,
        image,
        irq_handlers,
        info: info_page,
        restarts: 0,
        window_start: now(),
        state: State::Running,
        total_restarts: 0,
        consumed_us: 0,
        pages,
    })
}

/// A shared memory region: fresh RAM from one untyped of its size (so physically contiguous),
/// below the DMA limit if it is a DMA region.
fn shared_region(alloc: &mut Allocator, memory: &'static MemoryPlan, dma_limit: u64) -> Result<Region> {
    if memory.pages == 0 || u64::from(memory.pages) * 4096 > SHARED_STRIDE {
        return Err(refused("a shared memory region larger than its window"));
    }
    let (frames, paddr) = alloc.contiguous_frames(memory.pages, if memory.dma { dma_limit } else { 0 })?;
    Ok(Region { plan: memory, frames, paddr })
}

/// `count` pages of fresh RAM for a module's device to reach: carved from one untyped of their
/// size, so physically contiguous; mapped uncached (Device-nGnRE, never executable) from
/// [`MODULE_DMA`] in `vspace`, all below physical address `limit` (0: anywhere). Returns how
/// many and the first one's physical address.
fn dma_pages(alloc: &mut Allocator, vspace: CPtr, count: u32, limit: u64) -> Result<(u64, u64)> {
    if count as usize > MAX_DMA_PAGES {
        return Err(refused("a module with more DMA pages than its info page holds"));
    }
    let (frames, first) = alloc.contiguous_frames(count, limit)?;
    for (k, frame) in frames.enumerate() {
        let at = MODULE_DMA + k as u64 * 4096;
        alloc.map(vspace, frame, at, CapRights::READ_WRITE, vm_attributes::EXECUTE_NEVER)?;
    }
    Ok((u64::from(count), first))
}

/// Where a register block is in the module's address space: its frames are mapped in the
/// order of `module.devices` from [`MODULE_DEVICES`]; the block must lie in consecutive ones.
fn register_address(module: &ModulePlan, paddr: u64, size: u64) -> Result<u64> {
    let first = paddr & !0xfff;
    let last = (paddr + size.max(1) - 1) & !0xfff;
    let index = module.devices.iter().position(|&(frame, _)| frame == first);
    let contiguous = index.is_some_and(|i| {
        (first..=last).step_by(4096).enumerate().all(|(k, page)| module.devices.get(i + k).is_some_and(|d| d.0 == page))
    });
    match index {
        Some(i) if contiguous => Ok(MODULE_DEVICES + i as u64 * 4096 + (paddr & 0xfff)),
        _ => Err(refused("a register block whose frames are not mapped one after another")),
    }
}

/// A fault message, described.
struct Fault {
    label: u64,
    address: u64,
    /// For an unknown-syscall fault: the number, and the x0 word (a module's end reason).
    syscall: (i64, u64),
}

impl Fault {
    /// Whether the module ended itself (its entry returned) rather than failing: what only an
    /// `always` policy restarts.
    fn is_exit(&self) -> bool {
        self.label == 2 && self.syscall == (syscall::number::MODULE_END, syscall::end::RETURNED)
    }
}

impl core::fmt::Display for Fault {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self.label {
            1 => write!(f, "capability fault on {:#x}", self.address),
            2 if self.syscall.0 == syscall::number::MODULE_END => match self.syscall.1 {
                syscall::end::RETURNED => f.write_str("its entry returned"),
                syscall::end::PANICKED => f.write_str("it panicked"),
                other => write!(f, "it ended (reason {other})"),
            },
            2 => write!(f, "unknown syscall {}", self.syscall.0),
            HUNG => f.write_str("hung: in one event handler for more CPU time than its watchdog allows"),
            3 => f.write_str("user exception"),
            6 => write!(f, "VM fault at {:#x}", self.address),
            other => write!(f, "fault {other}"),
        }
    }
}

/// Waits for module faults and control requests forever: restarts each failed module as its
/// policy says, and answers the control requests of the modules granted `control`
/// ([`hm_parent::control`]).
pub fn supervise(mut system: System) -> ! {
    loop {
        let message = syscall::recv(system.faults, system.fault_reply);
        if message.cap_or_badge & CONTROL_BADGE != 0 {
            let (label, words) = control_request(&mut system, message.info.label(), message.mrs[0]);
            reply(system.fault_reply, label, &words);
            continue;
        }
        if message.cap_or_badge & (BUS_FAULT_BADGE | BRIDGE_FAULT_BADGE) != 0 {
            restart_bus_or_bridge(&mut system, message.cap_or_badge, message.info.label(), message.mrs[1]);
            continue;
        }
        // A hang the watchdog found comes badged with the module's index, a fault with index + 1.
        let index = if message.cap_or_badge & WATCHDOG_BADGE != 0 {
            (message.cap_or_badge & 0xffff) as usize
        } else {
            (message.cap_or_badge as usize).wrapping_sub(1)
        };
        let Some(module) = system.modules.iter_mut().find(|m| m.index == index) else {
            continue;
        };
        // An unknown-syscall fault's syscall word is MR12, in the IPC buffer.
        let syscall_word = ipc_buffer().msg[12] as i64;
        let fault =
            Fault { label: message.info.label(), address: message.mrs[1], syscall: (syscall_word, message.mrs[0]) };
        let name = module.plan.name;
        let (max, window_ms) = match module.plan.restart {
            RestartPlan::Never => {
                log::info!("supervisor: {name} failed ({fault}), not restarted (its policy is never)");
                module.state = State::Failed;
                continue;
            }
            RestartPlan::OnFault { .. } if fault.is_exit() => {
                log::info!("supervisor: {name} ended ({fault}), not restarted (its policy restarts after faults)");
                module.state = State::Failed;
                continue;
            }
            RestartPlan::Always { max, window_ms } | RestartPlan::OnFault { max, window_ms } => (max, window_ms),
        };
        let now = now();
        if (now - module.window_start) / (frequency() / 1000).max(1) > window_ms {
            module.window_start = now;
            module.restarts = 0;
        }
        if module.restarts >= max {
            log::info!("supervisor: {name} failed ({fault}), not restarted ({max} restarts in {window_ms} ms)");
            module.state = State::Failed;
            continue;
        }
        module.restarts += 1;
        let restarted = restart(module, &mut system.alloc);
        match restarted {
            Ok(()) => log::info!("supervisor: {name} failed ({fault}), restarted ({} of {max})", module.restarts),
            Err(e) => log::warn!("supervisor: restarting {name} failed: {} ({:?})", e.step, e.error),
        }
    }
}

/// Restarts the bus or bridge whose fault came with `badge` (their state, memberships and
/// inboxes outlive them; a member whose request the bus held is answered "restarted").
fn restart_bus_or_bridge(system: &mut System, badge: u64, label: u64, address: u64) {
    let id = (badge & 0xffff) as u16;
    let what = if badge & BUS_FAULT_BADGE != 0 { "bus" } else { "bridge of bus" };
    let name = system.plan.buses.get(usize::from(id).wrapping_sub(1)).map_or("?", |b| b.name);
    let fault = Fault { label, address, syscall: (0, 0) };
    if system.bus_restarts >= MAX_BUS_RESTARTS {
        log::warn!("supervisor: {what} {name} failed ({fault}), not restarted ({MAX_BUS_RESTARTS} restarts of buses)");
        return;
    }
    system.bus_restarts += 1;
    let restarted = if badge & BUS_FAULT_BADGE != 0 {
        system.buses.iter().find(|b| b.id == id).map(hm_parent::bus::restart_bus)
    } else {
        system.bridges.iter().find(|(bus, _)| *bus == id).map(|(_, bridge)| hm_parent::bus::restart_bridge(bridge))
    };
    match restarted {
        Some(Ok(())) => log::info!("supervisor: {what} {name} failed ({fault}), restarted"),
        Some(Err(e)) => log::warn!("supervisor: restarting {what} {name} failed: {} ({:?})", e.step, e.error),
        None => log::warn!("supervisor: a fault from an unknown {what} ({id})"),
    }
}

/// Replies `label` and `words` through `reply`.
fn reply(reply: CPtr, label: u64, words: &[u64]) {
    let buffer = ipc_buffer();
    for (i, &word) in words.iter().enumerate().skip(4) {
        buffer.msg[i] = word;
    }
    let mrs = core::array::from_fn(|i| words.get(i).copied().unwrap_or(0));
    let info = MessageInfo::new(label, 0, 0, words.len() as u64);
    syscall::send(syscall::Registers { cap_or_badge: reply, info, mrs });
}

/// Answers one control request about module `index`: the reply's label and words.
fn control_request(system: &mut System, label: u64, index: u64) -> (u64, Vec<u64>) {
    let refuse = |refusal: Refusal| (refusal as u64, Vec::new());
    let Some(plan) = usize::try_from(index).ok().and_then(|i| system.plan.modules.get(i)) else {
        return refuse(Refusal::NoSuchModule);
    };
    let modules = system.plan.modules.len() as u64;
    let Some(module) = system.modules.iter_mut().find(|m| m.index as u64 == index) else {
        // Never started: its setup failed or its program is missing.
        if label != control::LIST {
            return refuse(Refusal::WrongState);
        }
        let status = Status {
            state: State::Absent,
            restarts: 0,
            priority: u64::from(plan.priority),
            budget_us: plan.budget_us,
            period_us: plan.period_us,
            consumed_us: 0,
            memory_bytes: 0,
            modules,
        };
        return (control::OK, status.to_words().to_vec());
    };
    let name = plan.name;
    match label {
        control::LIST => {
            let watched = WATCHED.iter().position(|entry| entry[0].load(Ordering::SeqCst) == module.index as u64 + 1);
            if let Some(k) = watched {
                module.consumed_us = WATCHED_CONSUMED_US[k].load(Ordering::SeqCst);
            } else if module.process.sc != 0
                && let Ok(us) = SchedContext(module.process.sc).consumed()
            {
                module.consumed_us += us;
            }
            let status = Status {
                state: module.state,
                restarts: module.total_restarts,
                priority: u64::from(plan.priority),
                budget_us: plan.budget_us,
                period_us: plan.period_us,
                consumed_us: module.consumed_us,
                memory_bytes: module.pages * 4096,
                modules,
            };
            let words: [u64; STATUS_WORDS] = status.to_words();
            (control::OK, words.to_vec())
        }
        control::STOP if module.state != State::Running => refuse(Refusal::WrongState),
        control::STOP => match Tcb(module.process.tcb).suspend() {
            Ok(()) => {
                module.state = State::Stopped;
                log::info!("supervisor: {name} stopped on request");
                (control::OK, Vec::new())
            }
            Err(_) => refuse(Refusal::Failed),
        },
        control::START if module.state == State::Running => refuse(Refusal::WrongState),
        control::START | control::RESTART => match restart(module, &mut system.alloc) {
            Ok(()) => {
                let what = if label == control::START { "started" } else { "restarted" };
                log::info!("supervisor: {name} {what} on request");
                (control::OK, Vec::new())
            }
            Err(e) => {
                log::warn!("supervisor: restarting {name} failed: {} ({:?})", e.step, e.error);
                module.state = State::Stopped;
                refuse(Refusal::Failed)
            }
        },
        _ => refuse(Refusal::UnknownRequest),
    }
}

/// Restarts a failed module from scratch: stopped, its data and bss loaded afresh from its
/// program's image, its interrupt lines acknowledged (it may have died between a delivery and
/// its ack, which would leave the line masked for good), its restart count raised, and started
/// at its entry.
fn restart(module: &mut Supervised, alloc: &mut Allocator) -> Result<()> {
    Tcb(module.process.tcb).suspend().step("stopping the thread")?;
    module.total_restarts += 1;
    module.process.reload_image(alloc, module.image, LOAD_SCRATCH)?;
    for &handler in &module.irq_handlers[..module.plan.irqs.len()] {
        IrqHandler(handler).ack().step("acknowledging the module's interrupt")?;
    }
    // SAFETY: the info page stays mapped read-write in this address space; the module only
    // reads it, and it is stopped while the count changes.
    unsafe { (*module.info).restarts += 1 };
    module.process.restart_image(MODULE_INFO)?;
    module.state = State::Running;
    Ok(())
}
