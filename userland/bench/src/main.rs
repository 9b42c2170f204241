//! hmk's benchmarks, run as the root task under `qemu -icount shift=0` by `cargo xtask bench`.
//!
//! Each figure is the number of instructions retired (PMU event 0x08, counting EL0 and EL1)
//! per operation, averaged over many repetitions after a warm-up. QEMU's icount makes it the
//! same on every run. Output: one `BENCH name instructions` line per figure, then `BENCH done`.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, Ordering};
use hmk_rt::BootInfo;
use hmk_sys::bootinfo::slot;
use hmk_sys::invocation::{
    CNode, Frame, IrqControl, IrqHandler, PageTable, SchedContext, SchedControl, Tcb, Untyped, UserContext,
};
use hmk_sys::message::MessageInfo;
use hmk_sys::object::ObjectType;
use hmk_sys::syscall::{self, Registers};

hmk_rt::entry!(main);

const ROUNDS: u64 = 2000;
/// Where the benchmark is linked (linker/user.ld).
const IMAGE_BASE: u64 = 0x40_0000;
const WARM_UP: u64 = 100;

use hmk_rt::pmu::{instructions, start_instruction_count as pmu_start};

static EP: AtomicU64 = AtomicU64::new(0);
static REPLY: AtomicU64 = AtomicU64::new(0);
static NTFN: AtomicU64 = AtomicU64::new(0);
static IRQ: AtomicU64 = AtomicU64::new(0);
/// A user address nothing maps (the VM fault benchmark reads it).
const UNMAPPED: u64 = 0x30_0000_0000;
/// Where the map/unmap benchmark maps its frame.
const MAP_AT: u64 = 0x31_0000_0000;
/// The virtual timer's interrupt (a PPI, the same on every board).
const VIRTUAL_TIMER_INTID: u64 = 27;
/// Bus modules and bridges run below the benchmark thread, so a bridge forwards only while the
/// benchmark waits.
const BUS_PRIORITY: u64 = 100;
/// Where the benchmark maps the inboxes of the bus members it plays.
const BUS_INBOXES: u64 = 0x40_0000_0000;
/// Objects per retype in the retype-and-revoke benchmark.
const RETYPE_BATCH: u64 = 64;

/// Answers calls forever with the same message.
extern "C" fn echo_server(_: u64) -> ! {
    let (ep, reply) = (EP.load(Ordering::Relaxed), REPLY.load(Ordering::Relaxed));
    let mut request = syscall::recv(ep, reply);
    loop {
        request = syscall::reply_recv(ep, request, reply);
    }
}

/// Receives forever (for one-way sends).
extern "C" fn sink(_: u64) -> ! {
    let ep = EP.load(Ordering::Relaxed);
    loop {
        syscall::recv(ep, 0);
    }
}

/// Waits on the notification forever.
extern "C" fn waiter(_: u64) -> ! {
    let ntfn = NTFN.load(Ordering::Relaxed);
    loop {
        syscall::wait(ntfn);
    }
}

/// Reads an unmapped address forever: each read is a VM fault its handler answers by resuming
/// it, so it faults again.
extern "C" fn faulter(_: u64) -> ! {
    loop {
        // SAFETY: deliberately faults; the handler resumes it without mapping anything.
        unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    }
}

/// The interrupt handler of the IRQ benchmark: each virtual-timer interrupt wakes it; it
/// stops the timer (the line is level-triggered), acknowledges the line and waits again.
extern "C" fn timer_handler(_: u64) -> ! {
    let (ntfn, handler) = (NTFN.load(Ordering::Relaxed), IRQ.load(Ordering::Relaxed));
    loop {
        syscall::wait(ntfn);
        virtual_timer(false);
        let _ = IrqHandler(handler).ack();
    }
}

/// Starts the EL1 virtual timer with a compare value in the past (its interrupt is asserted at
/// once), or stops it.
fn virtual_timer(fire: bool) {
    // SAFETY: the kernel lets EL0 program the virtual timer (CNTKCTL_EL1.EL0VTEN); only the
    // timer's own registers change.
    unsafe {
        if fire {
            core::arch::asm!("msr cntv_cval_el0, xzr", "msr cntv_ctl_el0, {}", "isb", in(reg) 1u64, options(nostack));
        } else {
            core::arch::asm!("msr cntv_ctl_el0, xzr", "isb", options(nostack));
        }
    }
}

#[repr(C, align(16))]
struct Stack([u8; 16 * 1024]);
static mut STACKS: [Stack; 6] = [const { Stack([0; 16 * 1024]) }; 6];

struct Allocator {
    bootinfo: &'static BootInfo,
    untyped: u64,
    next_slot: u64,
}

impl Allocator {
    fn make(&mut self, object: ObjectType, bits: u64) -> u64 {
        let slot = self.next_slot;
        self.next_slot += 1;
        hmk_sys::invocation::Untyped(self.untyped)
            .retype(object, bits, hmk_sys::invocation::CNode(slot::INIT_THREAD_CNODE), 0, 0, slot, 1)
            .expect("retype");
        slot
    }

    /// A second address space with the same mappings as the benchmark's own image (the same
    /// frames, so code and data are shared): page tables for the image's range, then a copy of
    /// each image frame capability mapped at the same address.
    fn mirror_address_space(&mut self) -> u64 {
        use hmk_sys::invocation::{AsidPool, CNode, Frame, PageTable};
        use hmk_sys::object::vm_attributes;
        let vspace = self.make(ObjectType::VSpace, 0);
        AsidPool(slot::INIT_THREAD_ASID_POOL).assign(vspace).expect("assign an ASID");
        let frames = self.bootinfo.user_image_frames;
        let (start, end) = (IMAGE_BASE, IMAGE_BASE + frames.len() * 4096);
        let mut region = start & !((1 << 21) - 1);
        while region < end {
            loop {
                let table = self.make(ObjectType::PageTable, 0);
                if PageTable(table).map(vspace, region, vm_attributes::DEFAULT).is_err() {
                    break;
                }
            }
            region += 1 << 21;
        }
        let root = CNode(slot::INIT_THREAD_CNODE);
        for (i, frame) in (frames.start..frames.end).enumerate() {
            let copy = self.next_slot;
            self.next_slot += 1;
            root.copy(copy, 64, root, frame, 64, hmk_sys::message::CapRights::ALL).expect("copy a frame");
            Frame(copy)
                .map(vspace, start + i as u64 * 4096, hmk_sys::message::CapRights::ALL, vm_attributes::DEFAULT)
                .expect("map");
        }
        vspace
    }

    /// A thread at `priority` running `entry` on stack `index`, in the benchmark's own address
    /// space.
    fn thread(&mut self, index: usize, entry: extern "C" fn(u64) -> !, priority: u64) -> u64 {
        self.thread_in(index, entry, priority, slot::INIT_THREAD_VSPACE)
    }

    /// A thread as [`Allocator::thread`], in address space `vspace`.
    fn thread_in(&mut self, index: usize, entry: extern "C" fn(u64) -> !, priority: u64, vspace: u64) -> u64 {
        let tcb = self.make(ObjectType::Tcb, 0);
        let sc = self.make(ObjectType::SchedContext, 8);
        let none = self.next_slot;
        self.next_slot += 1;
        Tcb(tcb).configure(slot::INIT_THREAD_CNODE, 0, vspace, 0, 0, slot::INIT_THREAD_IPC_BUFFER).expect("configure");
        SchedControl(self.bootinfo.sched_control.start)
            .configure_flags(SchedContext(sc), 10_000, 10_000, 0, 0, 0)
            .expect("configure the scheduling context");
        Tcb(tcb).set_sched_params(Tcb(slot::INIT_THREAD_TCB), priority, priority, sc, none).expect("sched params");
        let stack = core::ptr::addr_of_mut!(STACKS) as u64 + ((index + 1) * 16 * 1024) as u64;
        let mut regs = UserContext::default();
        regs.0[UserContext::PC] = entry as usize as u64;
        regs.0[UserContext::SP] = stack;
        Tcb(tcb).write_registers(true, 3, &regs).expect("start");
        tcb
    }
}

/// VM fault to pager and back, frame map and unmap, retype and revoke per object.
fn memory_benchmarks(alloc: &mut Allocator) {
    use hmk_sys::message::CapRights;
    use hmk_sys::object::vm_attributes;
    // A worker in the benchmark's address space faults; its handler is this thread.
    let fault_ep = alloc.make(ObjectType::Endpoint, 0);
    let fault_reply = alloc.make(ObjectType::Reply, 0);
    let worker = alloc.thread(4, faulter, 255);
    Tcb(worker)
        .set_space(fault_ep, slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0)
        .expect("set the fault handler");
    let mut fault = syscall::recv(fault_ep, fault_reply);
    assert_eq!(fault.info.label(), 6, "the worker's first fault is a VM fault");
    let resume = Registers { cap_or_badge: fault_ep, info: MessageInfo::new(0, 0, 0, 0), mrs: [0; 4] };
    // One round: the reply resumes the worker, which faults again; the fault wakes this thread.
    measure("vm_fault_to_pager_round_trip", || {
        fault = syscall::reply_recv(fault_ep, resume, fault_reply);
    });
    Tcb(worker).suspend().expect("stop the faulting worker");

    let frame = alloc.make(ObjectType::SmallPage, 0);
    loop {
        let table = alloc.make(ObjectType::PageTable, 0);
        if PageTable(table).map(slot::INIT_THREAD_VSPACE, MAP_AT, vm_attributes::DEFAULT).is_err() {
            break;
        }
    }
    measure("frame_map_and_unmap_4k", || {
        Frame(frame).map(slot::INIT_THREAD_VSPACE, MAP_AT, CapRights::READ_WRITE, vm_attributes::DEFAULT).expect("map");
        Frame(frame).unmap().expect("unmap");
    });

    // Retype RETYPE_BATCH objects into consecutive slots, then revoke them all.
    let pool = alloc.make(ObjectType::Untyped, 20);
    let first = alloc.next_slot;
    alloc.next_slot += RETYPE_BATCH;
    let root = CNode(slot::INIT_THREAD_CNODE);
    for (name, object, bits) in [
        ("retype_and_revoke_per_endpoint", ObjectType::Endpoint, 0),
        ("retype_and_revoke_per_4k_frame", ObjectType::SmallPage, 0),
    ] {
        let start = instructions();
        for _ in 0..ROUNDS / RETYPE_BATCH {
            Untyped(pool).retype(object, bits, root, 0, 0, first, RETYPE_BATCH).expect("retype");
            root.revoke(pool, 64).expect("revoke");
        }
        let total = instructions() - start;
        log::info!("BENCH {name} {}", total / (ROUNDS / RETYPE_BATCH * RETYPE_BATCH));
    }
}

/// Interrupt to user-level handler and back: the virtual timer is started already expired;
/// its interrupt preempts this thread, wakes the handler (higher priority), which stops the
/// timer, acknowledges and waits; then this thread goes on.
fn irq_benchmark(alloc: &mut Allocator) {
    let ntfn = alloc.make(ObjectType::Notification, 0);
    let handler = alloc.next_slot;
    alloc.next_slot += 1;
    IrqControl(slot::IRQ_CONTROL)
        .get(VIRTUAL_TIMER_INTID, CNode(slot::INIT_THREAD_CNODE), handler, 64)
        .expect("the virtual timer's IRQ handler");
    IrqHandler(handler).set_notification(ntfn).expect("bind the notification");
    NTFN.store(ntfn, Ordering::Relaxed);
    IRQ.store(handler, Ordering::Relaxed);
    let me = Tcb(slot::INIT_THREAD_TCB);
    me.set_priority(me, 254).expect("make room for the handler");
    alloc.thread(5, timer_handler, 255);
    measure("irq_to_user_handler_and_back", || virtual_timer(true));
    virtual_timer(false);
}

/// Bus modules, members and bridges (hm-parent::bus) for the bus benchmarks.
fn bus_benchmarks(alloc: &mut Allocator) {
    use hm_bus::module::Member;
    use hm_bus::{ClassSet, Role, Scope};
    const SLOTS: u64 = 5000;
    let untyped = alloc.make(ObjectType::Untyped, 24);
    let first = alloc.next_slot;
    alloc.next_slot += SLOTS;
    let mut parent = hm_parent::Allocator::with(alloc.bootinfo, Untyped(untyped), first..first + SLOTS);
    let parent = &mut parent;
    let ntfn = alloc.make(ObjectType::Notification, 0);
    let mut inbox_at = BUS_INBOXES;
    let mut member = |parent: &mut hm_parent::Allocator, bus: &hm_parent::bus::Bus, id: u16| {
        let me = (slot::INIT_THREAD_VSPACE, inbox_at);
        inbox_at += 4096;
        let cap = hm_parent::bus::join(parent, bus, id, Role::Member, ClassSet::EMPTY, me, ntfn).expect("join");
        // SAFETY: `join` mapped a fresh inbox frame at `me.1` in this address space; only this
        // member reads it.
        let member = unsafe { Member::new(cap, me.1 as *mut u8) };
        member.subscribe(ClassSet::ALL).expect("subscribe");
        member
    };

    // One bus, a publisher and N subscribers; a round is a publish and every subscriber taking it.
    let bus = hm_parent::bus::start_bus(parent, 1, BUS_PRIORITY, None).expect("a bus");
    let publisher = member(parent, &bus, 1);
    let mut subscribers = alloc::vec::Vec::new();
    for count in [1usize, 8, 32] {
        while subscribers.len() < count {
            let id = subscribers.len() as u16 + 2;
            subscribers.push(member(parent, &bus, id));
        }
        let name = alloc::format!("bus_publish_to_{count}_subscribers_and_take");
        measure(&name, || {
            publisher.publish(7, Scope::Local, &[1, 2, 3, 4, 5, 6, 7, 8]).expect("publish");
            for subscriber in subscribers.iter_mut() {
                subscriber.take();
            }
        });
    }

    // A chain of buses, the publisher on the deepest, a subscriber on the top; a round is a
    // publish with scope up and waiting until it arrives at the top (the bridges forward it).
    let mut chain = alloc::vec![hm_parent::bus::start_bus(parent, 10, BUS_PRIORITY, None).expect("the top bus")];
    let mut top = member(parent, &chain[0], 1);
    for levels in 1..=3u16 {
        let below = hm_parent::bus::start_bus(parent, 10 + levels, BUS_PRIORITY, None).expect("a bus below");
        let above = chain.last().expect("a bus above");
        let up = hm_parent::bus::Crossing { id: 63, filter: ClassSet::ALL };
        let down = hm_parent::bus::Crossing { id: 62, filter: ClassSet::ALL };
        hm_parent::bus::bridge(parent, (&below, above), up, down, BUS_PRIORITY, None).expect("a bridge");
        chain.push(below);
        let deepest = member(parent, chain.last().expect("the deepest bus"), 1);
        let name = alloc::format!("bus_up_{levels}_levels_publish_to_arrival");
        measure(&name, || {
            deepest.publish(7, Scope::Up, &[9; 8]).expect("publish");
            while top.take().is_none() {
                syscall::wait(ntfn);
            }
        });
        // The next level's messages would land in this member's inbox too: it leaves the bus.
        chain.last().expect("the deepest bus").owner.remove(1).expect("leave the bus");
    }
}

/// Runs `operation` WARM_UP + ROUNDS times and reports instructions per round.
fn measure(name: &str, mut operation: impl FnMut()) {
    for _ in 0..WARM_UP {
        operation();
    }
    let start = instructions();
    for _ in 0..ROUNDS {
        operation();
    }
    let total = instructions() - start;
    log::info!("BENCH {name} {}", total / ROUNDS);
}

fn main(bootinfo: &'static BootInfo) {
    let (untyped, _) = bootinfo.largest_ram_untyped().expect("no RAM untyped");
    let mut alloc = Allocator { bootinfo, untyped, next_slot: bootinfo.empty.start };
    pmu_start();

    measure("empty_loop", || {});
    measure("yield", syscall::yield_now);

    let ep = alloc.make(ObjectType::Endpoint, 0);
    let reply = alloc.make(ObjectType::Reply, 0);
    EP.store(ep, Ordering::Relaxed);
    REPLY.store(reply, Ordering::Relaxed);
    alloc.thread(0, echo_server, 255);
    syscall::yield_now();
    let empty = Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 0), mrs: [0; 4] };
    measure("call_reply_recv_same_space_0_words", || {
        syscall::call(empty);
    });
    let four = Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 4), mrs: [1, 2, 3, 4] };
    measure("call_reply_recv_same_space_4_words", || {
        syscall::call(four);
    });

    // The same server in another address space: every call and reply switches ASID.
    let far = alloc.make(ObjectType::Endpoint, 0);
    let far_reply = alloc.make(ObjectType::Reply, 0);
    EP.store(far, Ordering::Relaxed);
    REPLY.store(far_reply, Ordering::Relaxed);
    let other_space = alloc.mirror_address_space();
    alloc.thread_in(3, echo_server, 255, other_space);
    syscall::yield_now();
    let empty_far = Registers { cap_or_badge: far, info: MessageInfo::new(0, 0, 0, 0), mrs: [0; 4] };
    measure("call_reply_recv_cross_space_0_words", || {
        syscall::call(empty_far);
    });
    let four_far = Registers { cap_or_badge: far, info: MessageInfo::new(0, 0, 0, 4), mrs: [1, 2, 3, 4] };
    measure("call_reply_recv_cross_space_4_words", || {
        syscall::call(four_far);
    });

    let one_way = alloc.make(ObjectType::Endpoint, 0);
    EP.store(one_way, Ordering::Relaxed);
    alloc.thread(1, sink, 255);
    syscall::yield_now();
    let message = Registers { cap_or_badge: one_way, info: MessageInfo::new(0, 0, 0, 1), mrs: [7, 0, 0, 0] };
    // The receiver has the same priority: each send wakes it and the sender yields to let it
    // wait again; the figure is send + yield + the receiver's next receive.
    measure("send_to_waiting_receiver_and_yield", || {
        syscall::send(message);
        syscall::yield_now();
    });

    let ntfn = alloc.make(ObjectType::Notification, 0);
    NTFN.store(ntfn, Ordering::Relaxed);
    alloc.thread(2, waiter, 255);
    syscall::yield_now();
    measure("signal_to_waiting_thread_and_yield", || {
        syscall::signal(ntfn);
        syscall::yield_now();
    });
    measure("poll_empty_notification", || {
        syscall::poll(ntfn);
    });

    memory_benchmarks(&mut alloc);
    irq_benchmark(&mut alloc);
    bus_benchmarks(&mut alloc);
    log::info!("BENCH done");
    syscall::debug_halt();
}
