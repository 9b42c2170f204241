//! hmk's stateful, multi-threaded kernel fuzzer, run as the root task by
//! `cargo xtask fuzz --seed S --calls N --threads T` (docs/fuzzing.md).
//!
//! The root task is the supervisor. It gives each of T fuzzing threads ([`worker`]) a sandbox
//! of its own: a 2 MiB untyped arena, from which come the thread's CNode (its whole CSpace),
//! TCB, scheduling context and four untypeds to fuzz with; the address space is the root
//! task's, with a stack and an IPC buffer page per thread. The fuzzing threads' fault handler
//! is the supervisor's endpoint, badged per thread: a thread that faults (or makes no progress
//! for [`STUCK_SECONDS`]) is restarted on a fresh sandbox (the arena revoked and rebuilt),
//! continuing its share of the calls with a new seed. Progress is printed every 10%, and the
//! last line is `fuzz: seed S, N calls, T threads, R restarts: 0 panics, 0 invariant
//! violations`; a kernel panic ends the machine before that, which the build tool reports.
#![no_std]
#![no_main]
// Indexes name threads, slots and objects here; loops over them read best as ranges.
#![allow(clippy::needless_range_loop)]

extern crate alloc;

mod helper;
mod layout;
mod model;
mod sys;
mod worker;

use core::sync::atomic::Ordering;
use hmk_rt::BootInfo;
use hmk_sys::bootinfo::slot;
use hmk_sys::invocation::{CNode, CPtr, SchedContext, SchedControl, Tcb, Untyped, UserContext};
use hmk_sys::ipc_buffer::IpcBuffer;
use hmk_sys::message::CapRights;
use hmk_sys::object::ObjectType;
use hmk_sys::syscall;
use layout::*;
use sys::say;
use worker::{HISTORY, PROGRESS, SEEDS, SHARE, WORKERS};

hmk_rt::entry!(main);

/// Most fuzzing threads.
pub const MAX_THREADS: usize = 8;
/// Print every operation (HMK_FUZZ_TRACE=1): slow, for reproducing a finding.
pub const TRACE: bool = match option_env!("HMK_FUZZ_TRACE") {
    Some(v) => v.len() == 1 && v.as_bytes()[0] == b'1',
    None => false,
};
/// A fuzzing thread that makes no call for this long is restarted.
const STUCK_SECONDS: u64 = 10;
const ROOT: CNode = CNode(slot::INIT_THREAD_CNODE);
const ROOT_DEPTH: u64 = 64;
/// Each sandbox's arena: 2 MiB.
const ARENA_BITS: u64 = 21;
/// Where the program is linked (linker/user.ld): image frame n maps 0x400000 + n * 4 KiB.
const IMAGE_BASE: u64 = 0x40_0000;
const STACK_SIZE: usize = 64 * 1024;

fn parse(value: Option<&str>, default: u64) -> u64 {
    value.and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[repr(C, align(4096))]
struct Buffers([[u8; 4096]; MAX_THREADS]);

static mut BUFFERS: Buffers = Buffers([[0; 4096]; MAX_THREADS]);

/// Fuzzing thread `index`'s IPC buffer.
pub fn worker_buffer(index: usize) -> *mut IpcBuffer {
    // Only the address is taken; each thread uses its own page.
    (core::ptr::addr_of_mut!(BUFFERS) as *mut u8).wrapping_add(index * 4096) as *mut IpcBuffer
}

#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; MAX_THREADS + 2]);

/// One stack per fuzzing thread, then the supervisor's and the watchdog's.
static mut STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_THREADS + 2]);

fn stack_top(index: usize) -> u64 {
    // Only the address is taken; each thread uses its own stack.
    core::ptr::addr_of_mut!(STACKS) as u64 + ((index + 1) * STACK_SIZE) as u64
}

/// The root-CNode slots of one sandbox.
#[derive(Clone, Copy)]
struct Sandbox {
    arena: CPtr,
    cnode: CPtr,
    tcb: CPtr,
    sc: CPtr,
    /// The supervisor endpoint minted with this thread's badge.
    endpoint: CPtr,
}

struct Supervisor {
    bootinfo: &'static BootInfo,
    seed: u64,
    sandboxes: [Sandbox; MAX_THREADS],
    incarnations: [u64; MAX_THREADS],
}

fn mix(mut x: u64) -> u64 {
    sys::Rng(x).word() ^ {
        x = x.rotate_left(17);
        x
    }
}

impl Supervisor {
    /// Builds sandbox `index` from its (empty) arena and starts its thread.
    fn start(&mut self, index: usize) -> Result<(), hmk_sys::error::Error> {
        let s = self.sandboxes[index];
        let arena = Untyped(s.arena);
        arena.retype(ObjectType::CNode, SANDBOX_BITS, ROOT, 0, 0, s.cnode, 1)?;
        arena.retype(ObjectType::Tcb, 0, ROOT, 0, 0, s.tcb, 1)?;
        arena.retype(ObjectType::SchedContext, 8, ROOT, 0, 0, s.sc, 1)?;
        arena.retype(ObjectType::Untyped, UNTYPED_BITS, ROOT, s.cnode, ROOT_DEPTH, FIRST_UNTYPED, UNTYPEDS)?;
        let doorbells = crate::helper::PER_WORKER as u64;
        arena.retype(ObjectType::Notification, 0, ROOT, s.cnode, ROOT_DEPTH, DOORBELLS, doorbells)?;
        let sandbox = CNode(s.cnode);
        let depth = SANDBOX_BITS;
        sandbox.copy(OWN_TCB, depth, ROOT, s.tcb, ROOT_DEPTH, CapRights::ALL)?;
        sandbox.mint(OWN_CNODE, depth, ROOT, s.cnode, ROOT_DEPTH, CapRights::ALL, CSPACE_DATA)?;
        sandbox.copy(SCHED_CONTROL, depth, ROOT, self.bootinfo.sched_control.start, ROOT_DEPTH, CapRights::ALL)?;
        sandbox.copy(SUPERVISOR, depth, ROOT, s.endpoint, ROOT_DEPTH, CapRights::ALL)?;
        sandbox.copy(VSPACE, depth, ROOT, slot::INIT_THREAD_VSPACE, ROOT_DEPTH, CapRights::ALL)?;
        let buffer = worker_buffer(index) as u64;
        let frame = self.bootinfo.user_image_frames.start + (buffer - IMAGE_BASE) / 4096;
        let tcb = Tcb(s.tcb);
        tcb.configure(s.cnode, CSPACE_DATA, slot::INIT_THREAD_VSPACE, 0, buffer, frame)?;
        let control = SchedControl(self.bootinfo.sched_control.start);
        control.configure_flags(SchedContext(s.sc), 10_000, 10_000, 0, 0, 0)?;
        tcb.set_sched_params(Tcb(slot::INIT_THREAD_TCB), PRIORITY, PRIORITY, s.sc, s.endpoint)?;
        SEEDS[index].store(mix(self.seed ^ (index as u64) << 48 ^ self.incarnations[index]), Ordering::SeqCst);
        let mut regs = UserContext::default();
        regs.0[UserContext::PC] = worker::main as *const () as usize as u64;
        regs.0[UserContext::SP] = stack_top(index);
        regs.0[UserContext::X0] = index as u64;
        tcb.write_registers(true, 4, &regs)
    }

    /// Throws sandbox `index` away (everything made in it dies with the arena's revoke) and
    /// starts its thread again on a fresh one.
    fn restart(&mut self, index: usize, why: &str, detail: [u64; 4], report: bool) {
        let s = self.sandboxes[index];
        if report {
            say!(
                "fuzz: thread {index} {why} ({:#x} {:#x} {:#x} {:#x}) after {} calls; restarting. Its last \
                 operations:",
                detail[0],
                detail[1],
                detail[2],
                detail[3],
                PROGRESS[index].load(Ordering::SeqCst)
            );
            // SAFETY: the thread has stopped (it faulted or makes no progress); the supervisor
            // only reads its record.
            let w = unsafe { &*WORKERS.0[index].get() };
            let first = w.history_len.saturating_sub(HISTORY as u64);
            for n in first..w.history_len {
                let r = w.history[(n % HISTORY as u64) as usize];
                if r.result == worker::PENDING {
                    say!("fuzz:   t{index} #{} {:?} {} {} -> did not return", r.step, r.op, r.a, r.b);
                } else {
                    say!("fuzz:   t{index} #{} {:?} {} {} -> {}", r.step, r.op, r.a, r.b, r.result);
                }
            }
        }
        let _ = Tcb(s.tcb).suspend();
        sys::release_console(index as u64 + 1);
        let revoked = ROOT.revoke(s.arena, ROOT_DEPTH);
        self.incarnations[index] += 1;
        if let Err(e) = revoked.and_then(|()| self.start(index)) {
            say!("fuzz: thread {index} could not be restarted: {e:?}");
        }
    }
}

fn main(bootinfo: &'static BootInfo) {
    let seed = parse(option_env!("HMK_FUZZ_SEED"), 1);
    let calls = parse(option_env!("HMK_FUZZ_CALLS"), 20_000);
    let threads = parse(option_env!("HMK_FUZZ_THREADS"), 4).clamp(1, MAX_THREADS as u64) as usize;
    say!("fuzz: seed {seed}, {calls} calls, {threads} threads: starting");

    let (pool, _) = bootinfo.largest_ram_untyped().expect("no RAM untyped");
    let pool = Untyped(pool);
    let mut next = bootinfo.empty.start;
    let mut take = || {
        next += 1;
        next - 1
    };
    let endpoint = take();
    let reply = take();
    pool.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, endpoint, 1).expect("the supervisor's endpoint");
    pool.retype(ObjectType::Reply, 0, ROOT, 0, 0, reply, 1).expect("the supervisor's reply");
    let empty = Sandbox { arena: 0, cnode: 0, tcb: 0, sc: 0, endpoint: 0 };
    let mut supervisor = Supervisor { bootinfo, seed, sandboxes: [empty; MAX_THREADS], incarnations: [0; MAX_THREADS] };
    for index in 0..threads {
        let s = Sandbox { arena: take(), cnode: take(), tcb: take(), sc: take(), endpoint: take() };
        pool.retype(ObjectType::Untyped, ARENA_BITS, ROOT, 0, 0, s.arena, 1).expect("an arena");
        ROOT.mint(s.endpoint, ROOT_DEPTH, ROOT, endpoint, ROOT_DEPTH, CapRights::ALL, index as u64 + 1)
            .expect("a badged supervisor endpoint");
        supervisor.sandboxes[index] = s;
        let share = calls / threads as u64 + u64::from((index as u64) < calls % threads as u64);
        SHARE[index].store(share, Ordering::SeqCst);
    }
    for index in 0..threads {
        if let Err(e) = supervisor.start(index) {
            say!("fuzz: thread {index} could not be started: {e:?}");
        }
    }
    // The supervisor is a thread of its own at the top priority that waits on its endpoint
    // for faults, finished threads and the watchdog's ticks (twice a second, from a thread with
    // a small budget that watches the clock). It takes over the root task's IPC buffer, and the
    // root task stops.
    let control = SchedControl(bootinfo.sched_control.start);
    let (tcb, sc, dog, dog_sc, tick) = (take(), take(), take(), take(), take());
    let run =
        alloc::boxed::Box::leak(alloc::boxed::Box::new(Run { supervisor, threads, calls, seed, endpoint, reply }));
    let thread = |tcb: CPtr, sc: CPtr, budget: u64, period: u64, buffer: u64, entry: u64, argument: u64, stack: u64| {
        pool.retype(ObjectType::Tcb, 0, ROOT, 0, 0, tcb, 1)?;
        pool.retype(ObjectType::SchedContext, 8, ROOT, 0, 0, sc, 1)?;
        control.configure_flags(SchedContext(sc), budget, period, 0, 0, 0)?;
        let frame = if buffer == 0 { 0 } else { slot::INIT_THREAD_IPC_BUFFER };
        Tcb(tcb).configure(slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0, buffer, frame)?;
        Tcb(tcb).set_sched_params(Tcb(slot::INIT_THREAD_TCB), 255, 255, sc, 0)?;
        let mut regs = UserContext::default();
        regs.0[UserContext::PC] = entry;
        regs.0[UserContext::SP] = stack;
        regs.0[UserContext::X0] = argument;
        Tcb(tcb).write_registers(true, 4, &regs)
    };
    let started = ROOT
        .mint(tick, ROOT_DEPTH, ROOT, endpoint, ROOT_DEPTH, CapRights::ALL, TICK_BADGE)
        .and_then(|()| {
            let entry = supervise as *const () as usize as u64;
            let argument = run as *mut Run as u64;
            thread(tcb, sc, 10_000, 10_000, bootinfo.ipc_buffer, entry, argument, stack_top(MAX_THREADS))
        })
        .and_then(|()| {
            let entry = watchdog as *const () as usize as u64;
            thread(dog, dog_sc, 1_000, 100_000, 0, entry, tick, stack_top(MAX_THREADS + 1))
        });
    if let Err(e) = started {
        say!("fuzz: the supervisor thread could not be started: {e:?}");
        syscall::debug_halt();
    }
    hmk_rt::stop_thread();
}

/// The badge of the watchdog's ticks on the supervisor's endpoint.
const TICK_BADGE: u64 = 0xff;

/// The watchdog: sends the supervisor a tick twice a second (x0 is its badged endpoint). Its
/// budget is small: it spins on the clock for 1 ms in every 100 ms.
extern "C" fn watchdog(endpoint: u64) -> ! {
    let half_second = sys::frequency() / 2;
    let mut last = sys::now();
    loop {
        if sys::now() - last >= half_second {
            last = sys::now();
            syscall::send(syscall::Registers { cap_or_badge: endpoint, ..Default::default() });
        }
    }
}

/// What the supervisor thread gets.
struct Run {
    supervisor: Supervisor,
    threads: usize,
    calls: u64,
    seed: u64,
    endpoint: CPtr,
    reply: CPtr,
}

/// The supervisor thread: x0 is its `Run`.
extern "C" fn supervise(run: u64) -> ! {
    // SAFETY: the root task leaked this `Run` for the supervisor and stopped; nothing else
    // touches it.
    let run = unsafe { &mut *(run as *mut Run) };
    let Run { supervisor, threads, calls, seed, endpoint, reply } = run;
    let (threads, calls, seed, endpoint, reply) = (*threads, *calls, *seed, *endpoint, *reply);
    let hz = sys::frequency().max(1);
    let started = sys::now();
    let mut last = [0u64; MAX_THREADS];
    let mut last_change = [started; MAX_THREADS];
    let mut done = [false; MAX_THREADS];
    let (mut fault_restarts, mut stuck_restarts) = (0u64, 0u64);
    let mut next_mark = 1;
    loop {
        let got = syscall::recv(endpoint, reply);
        let badge = got.cap_or_badge;
        if badge != 0 && (badge as usize) <= threads {
            let index = badge as usize - 1;
            let label = got.info.label();
            if label == DONE_LABEL && PROGRESS[index].load(Ordering::SeqCst) >= SHARE[index].load(Ordering::SeqCst) {
                done[index] = true;
            } else if !done[index] {
                fault_restarts += 1;
                let why = match label {
                    1 => "took a capability fault (pc, address, in receive, lookup failure)",
                    6 => "took a VM fault (pc, address, instruction, syndrome)",
                    _ => "faulted (message words)",
                };
                supervisor.restart(index, why, got.mrs, fault_restarts <= 3);
                last_change[index] = sys::now();
            }
        }
        let total: u64 = (0..threads).map(|i| PROGRESS[i].load(Ordering::SeqCst)).sum();
        if next_mark <= 9 && total * 10 >= calls * next_mark {
            while next_mark < 9 && total * 10 >= calls * (next_mark + 1) {
                next_mark += 1;
            }
            let seconds = (sys::now() - started) / hz;
            say!(
                "fuzz: progress {}0% ({total}/{calls} calls, {} restarts, {seconds} s)",
                next_mark,
                fault_restarts + stuck_restarts
            );
            next_mark += 1;
        }
        let now = sys::now();
        for index in 0..threads {
            let progress = PROGRESS[index].load(Ordering::SeqCst);
            if done[index] || progress != last[index] {
                last[index] = progress;
                last_change[index] = now;
            } else if now - last_change[index] > STUCK_SECONDS * hz {
                stuck_restarts += 1;
                supervisor.restart(
                    index,
                    "made no progress for seconds",
                    [STUCK_SECONDS, 0, 0, 0],
                    stuck_restarts <= 20,
                );
                last_change[index] = sys::now();
            }
        }
        if done[..threads].iter().all(|&d| d) {
            break;
        }
    }
    let seconds = (sys::now() - started) / hz;
    say!(
        "fuzz: {} invocations succeeded, {} helper threads started, {fault_restarts} restarts after faults, \
         {stuck_restarts} after hangs, {seconds} s",
        worker::SUCCEEDED.load(Ordering::Relaxed),
        worker::HELPERS_STARTED.load(Ordering::Relaxed),
    );
    say!(
        "fuzz: seed {seed}, {calls} calls, {threads} threads, {} restarts: 0 panics, 0 invariant violations",
        fault_restarts + stuck_restarts
    );
    syscall::debug_halt();
    hmk_rt::stop_thread()
}
