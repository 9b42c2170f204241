//! Cases for threads and scheduling: TCB invocations, priorities, round robin, scheduling
//! contexts. Worker threads share the suite's address space and CSpace, run on stacks of their
//! own, report through atomics and suspend themselves when done.

use crate::check::{ensure, expect_error, ok};
use crate::env::{DEPTH, Env, ROOT};
use alloc::string::String;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use hmk_sys::bootinfo::slot;
use hmk_sys::error::Error;
use hmk_sys::invocation::{CPtr, SchedContext, SchedControl, Tcb, USER_CONTEXT_WORDS, UserContext, invoke};
use hmk_sys::object::{ObjectType, label};
use hmk_sys::syscall::yield_now;

type Result = crate::check::Outcome;

const ROOT_TCB: Tcb = Tcb(slot::INIT_THREAD_TCB);
const STACK_SIZE: usize = 16 * 1024;
const MAX_WORKERS: usize = 4;

#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; MAX_WORKERS]);

static mut STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX_WORKERS]);

/// The top of worker stack `index` (for cases that restart a worker by hand).
pub fn stack_top_of(index: usize) -> u64 {
    stack_top(index)
}

fn stack_top(index: usize) -> u64 {
    // Only the address is taken; each worker uses its own stack.
    let base = core::ptr::addr_of_mut!(STACKS) as u64;
    base + ((index + 1) * STACK_SIZE) as u64
}

/// What workers record: an order log and per-worker counters.
static LOG: [AtomicU64; 32] = [const { AtomicU64::new(0) }; 32];
pub static LOG_LEN: AtomicUsize = AtomicUsize::new(0);
static COUNTERS: [AtomicU64; MAX_WORKERS] = [const { AtomicU64::new(0) }; MAX_WORKERS];
/// The TCB capability each worker suspends itself with.
static SELF_TCB: [AtomicU64; MAX_WORKERS] = [const { AtomicU64::new(0) }; MAX_WORKERS];

pub fn reset_records() {
    LOG_LEN.store(0, Ordering::SeqCst);
    LOG.iter().for_each(|l| l.store(0, Ordering::SeqCst));
    COUNTERS.iter().for_each(|c| c.store(0, Ordering::SeqCst));
}

pub fn record(id: u64) {
    let at = LOG_LEN.fetch_add(1, Ordering::SeqCst);
    if at < LOG.len() {
        LOG[at].store(id, Ordering::SeqCst);
    }
}

pub fn log_contents() -> alloc::vec::Vec<u64> {
    let len = LOG_LEN.load(Ordering::SeqCst).min(LOG.len());
    LOG[..len].iter().map(|l| l.load(Ordering::SeqCst)).collect()
}

pub fn stop_self(index: u64) -> ! {
    let _ = Tcb(SELF_TCB[index as usize].load(Ordering::SeqCst)).suspend();
    loop {
        yield_now();
    }
}

/// Records its index once and stops.
extern "C" fn record_once(index: u64) -> ! {
    record(index);
    stop_self(index)
}

/// Records its index three times, yielding in between, then stops.
extern "C" fn record_thrice(index: u64) -> ! {
    for _ in 0..3 {
        record(index);
        yield_now();
    }
    stop_self(index)
}

/// Counts forever, yielding each time.
extern "C" fn count_forever(index: u64) -> ! {
    loop {
        COUNTERS[index as usize].fetch_add(1, Ordering::SeqCst);
        yield_now();
    }
}

/// Counts forever without yielding: only the timer takes the CPU away.
extern "C" fn spin_forever(index: u64) -> ! {
    loop {
        COUNTERS[index as usize].fetch_add(1, Ordering::Relaxed);
    }
}

/// A worker thread: its TCB and scheduling context.
pub struct Worker {
    pub tcb: CPtr,
    pub sc: CPtr,
}

/// Creates a thread in the suite's CSpace and VSpace with a 5 ms / 5 ms scheduling context at
/// `priority`, starting at `entry(index)` on stack `index`; resumed when `start`.
pub fn spawn(
    env: &mut Env,
    index: usize,
    entry: extern "C" fn(u64) -> !,
    priority: u64,
    start: bool,
) -> core::result::Result<Worker, String> {
    spawn_from(env, None, None, index, entry, priority, start)
}

/// [`spawn`] with the TCB and the scheduling context retyped from untyped of their own (when
/// given), so a case can delete them and reuse their memory.
pub fn spawn_from(
    env: &mut Env,
    tcb_untyped: Option<CPtr>,
    sc_untyped: Option<CPtr>,
    index: usize,
    entry: extern "C" fn(u64) -> !,
    priority: u64,
    start: bool,
) -> core::result::Result<Worker, String> {
    let from = |env: &mut Env, untyped: Option<CPtr>, kind: ObjectType, bits: u64| match untyped {
        None => env.make(kind, bits),
        Some(untyped) => {
            let dest = env.slot();
            hmk_sys::invocation::Untyped(untyped)
                .retype(kind, bits, ROOT, 0, 0, dest, 1)
                .map_err(|e| alloc::format!("retype {kind:?}: {e:?}"))?;
            Ok(dest)
        }
    };
    let tcb = from(env, tcb_untyped, ObjectType::Tcb, 0)?;
    let sc = from(env, sc_untyped, ObjectType::SchedContext, 8)?;
    let no_fault_handler = env.slot();
    ok(
        Tcb(tcb).configure(slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0, 0, slot::INIT_THREAD_IPC_BUFFER),
        "configure",
    )?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(sc), 5000, 5000, 0, 0, 0), "configure the scheduling context")?;
    ok(Tcb(tcb).set_sched_params(ROOT_TCB, priority, priority, sc, no_fault_handler), "set sched params")?;
    SELF_TCB[index].store(tcb, Ordering::SeqCst);
    let mut regs = UserContext::default();
    regs.0[UserContext::PC] = entry as usize as u64;
    regs.0[UserContext::SP] = stack_top(index);
    regs.0[UserContext::X0] = index as u64;
    ok(Tcb(tcb).write_registers(start, 4, &regs), "write registers")?;
    Ok(Worker { tcb, sc })
}

/// Yields until `done` or `rounds` yields have passed.
pub fn yield_until(rounds: usize, done: impl Fn() -> bool) -> bool {
    for _ in 0..rounds {
        if done() {
            return true;
        }
        yield_now();
    }
    done()
}

/// Lets lower-priority threads run: the suite drops to priority 1 until they are done.
pub fn run_lower(done: impl Fn() -> bool) -> bool {
    let _ = ROOT_TCB.set_priority(ROOT_TCB, 1);
    let finished = yield_until(10_000, done);
    let _ = ROOT_TCB.set_priority(ROOT_TCB, 255);
    finished
}

pub fn thread_runs_and_stops(env: &mut Env) -> Result {
    reset_records();
    spawn(env, 0, record_once, 255, true)?;
    ensure!(yield_until(100, || LOG_LEN.load(Ordering::SeqCst) == 1), "the thread never ran");
    ensure!(log_contents() == [0], "log {:?}", log_contents());
    Ok(())
}

pub fn higher_priority_runs_first(env: &mut Env) -> Result {
    reset_records();
    spawn(env, 0, record_once, 200, true)?;
    spawn(env, 1, record_once, 220, true)?;
    spawn(env, 2, record_once, 210, true)?;
    ensure!(LOG_LEN.load(Ordering::SeqCst) == 0, "lower-priority threads ran before the suite let them");
    ensure!(run_lower(|| LOG_LEN.load(Ordering::SeqCst) == 3), "threads did not all run: {:?}", log_contents());
    ensure!(log_contents() == [1, 2, 0], "want priority order [1, 2, 0], got {:?}", log_contents());
    Ok(())
}

pub fn equal_priority_round_robin(env: &mut Env) -> Result {
    reset_records();
    let control = SchedControl(env.bootinfo.sched_control.start);
    for index in 0..3 {
        let worker = spawn(env, index, record_thrice, 100, false)?;
        // Slices long enough that only the yields rotate the threads.
        ok(control.configure_flags(SchedContext(worker.sc), 500_000, 500_000, 0, 0, 0), "long slices")?;
    }
    for tcb in &SELF_TCB[..3] {
        ok(Tcb(tcb.load(Ordering::SeqCst)).resume(), "resume")?;
    }
    ensure!(run_lower(|| LOG_LEN.load(Ordering::SeqCst) == 9), "threads did not finish: {:?}", log_contents());
    ensure!(log_contents() == [0, 1, 2, 0, 1, 2, 0, 1, 2], "want FIFO round robin, got {:?}", log_contents());
    Ok(())
}

pub fn suspend_and_resume(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, count_forever, 255, true)?;
    ensure!(yield_until(100, || COUNTERS[0].load(Ordering::SeqCst) > 3), "the counter did not start");
    ok(Tcb(worker.tcb).suspend(), "suspend")?;
    let frozen = COUNTERS[0].load(Ordering::SeqCst);
    yield_until(20, || false);
    ensure!(COUNTERS[0].load(Ordering::SeqCst) == frozen, "a suspended thread kept counting");
    ok(Tcb(worker.tcb).resume(), "resume")?;
    ensure!(yield_until(100, || COUNTERS[0].load(Ordering::SeqCst) > frozen + 3), "the resumed thread did not count");
    ok(Tcb(worker.tcb).suspend(), "suspend again")
}

pub fn read_and_write_registers(env: &mut Env) -> Result {
    let worker = spawn(env, 0, record_once, 10, false)?;
    let mut regs = UserContext::default();
    for (i, word) in regs.0.iter_mut().enumerate() {
        *word = 0x1000 + i as u64;
    }
    regs.0[UserContext::SPSR] = 0x2000_0000;
    ok(Tcb(worker.tcb).write_registers(false, USER_CONTEXT_WORDS as u64, &regs), "write all registers")?;
    let read = ok(Tcb(worker.tcb).read_registers(false, USER_CONTEXT_WORDS as u64), "read all registers")?;
    // tpidrro_el0 (the last) is not writable and reads 0.
    for i in 0..USER_CONTEXT_WORDS - 1 {
        ensure!(read.0[i] == regs.0[i], "register {i}: wrote {:#x}, read {:#x}", regs.0[i], read.0[i]);
    }
    let few = ok(Tcb(worker.tcb).read_registers(false, 3), "read three")?;
    ensure!(few.0[0] == regs.0[0] && few.0[3] == 0, "partial read {:?}", &few.0[..4]);
    Ok(())
}

pub fn register_access_errors(env: &mut Env) -> Result {
    let worker = spawn(env, 0, record_once, 10, false)?;
    expect_error(ROOT_TCB.read_registers(false, 4), Error::IllegalOperation)?;
    expect_error(ROOT_TCB.write_registers(false, 1, &UserContext::default()), Error::IllegalOperation)?;
    expect_error(Tcb(worker.tcb).read_registers(false, 0), Error::RangeError)?;
    expect_error(Tcb(worker.tcb).read_registers(false, 37), Error::RangeError)?;
    expect_error(invoke(worker.tcb, label::TCB_WRITE_REGISTERS, &[0, 5, 1, 2], &[]), Error::TruncatedMessage)?;
    expect_error(invoke(worker.tcb, label::TCB_READ_REGISTERS, &[0], &[]), Error::TruncatedMessage)
}

pub fn copy_registers_between_threads(env: &mut Env) -> Result {
    let a = spawn(env, 0, record_once, 10, false)?;
    let b = spawn(env, 1, record_once, 10, false)?;
    let mut regs = UserContext::default();
    regs.0[UserContext::PC] = 0x40_1234;
    regs.0[UserContext::X0 + 2] = 77;
    regs.0[20] = 99;
    ok(Tcb(a.tcb).write_registers(false, USER_CONTEXT_WORDS as u64, &regs), "write")?;
    ok(Tcb(b.tcb).copy_registers(Tcb(a.tcb), false, false, true, false), "copy the frame registers")?;
    let read = ok(Tcb(b.tcb).read_registers(false, USER_CONTEXT_WORDS as u64), "read")?;
    ensure!(read.0[UserContext::PC] == 0x40_1234 && read.0[UserContext::X0 + 2] == 77, "frame registers not copied");
    ensure!(read.0[20] != 99, "integer registers copied without being asked");
    expect_error(invoke(b.tcb, label::TCB_COPY_REGISTERS, &[4], &[b.sc]), Error::InvalidCapability)
}

pub fn priorities_bounded_by_mcp(env: &mut Env) -> Result {
    let worker = spawn(env, 0, record_once, 10, false)?;
    // The worker's MCP is 10: it cannot grant anything above that.
    expect_error(Tcb(worker.tcb).set_priority(Tcb(worker.tcb), 11), Error::RangeError)?;
    ok(Tcb(worker.tcb).set_priority(Tcb(worker.tcb), 10), "priority up to its MCP")?;
    ok(Tcb(worker.tcb).set_mc_priority(ROOT_TCB, 50), "raise its MCP with the suite's authority")?;
    ok(Tcb(worker.tcb).set_priority(Tcb(worker.tcb), 50), "priority 50")?;
    expect_error(Tcb(worker.tcb).set_mc_priority(Tcb(worker.tcb), 51), Error::RangeError)?;
    expect_error(Tcb(worker.tcb).set_priority(Tcb(worker.sc), 1), Error::InvalidCapability)?;
    expect_error(invoke(worker.tcb, label::TCB_SET_PRIORITY, &[1], &[]), Error::TruncatedMessage)
}

pub fn sched_params_checks(env: &mut Env) -> Result {
    let worker = spawn(env, 0, record_once, 10, false)?;
    let free = env.slot();
    let other_sc = env.make(ObjectType::SchedContext, 8)?;
    // Already bound to a scheduling context.
    expect_error(Tcb(worker.tcb).set_sched_params(ROOT_TCB, 10, 10, other_sc, free), Error::IllegalOperation)?;
    // Not a scheduling context.
    expect_error(Tcb(worker.tcb).set_sched_params(ROOT_TCB, 10, 10, worker.tcb, free), Error::InvalidCapability)?;
    // The fault handler must be an endpoint that can send and grant.
    let ntfn = env.make(ObjectType::Notification, 0)?;
    expect_error(Tcb(worker.tcb).set_sched_params(ROOT_TCB, 10, 10, free, ntfn), Error::InvalidCapability)?;
    // The suite cannot take its own scheduling context away.
    expect_error(ROOT_TCB.set_sched_params(ROOT_TCB, 255, 255, free, free), Error::IllegalOperation)?;
    expect_error(Tcb(worker.tcb).set_sched_params(ROOT_TCB, 256, 10, free, free), Error::RangeError)
}

pub fn configure_checks(env: &mut Env) -> Result {
    let tcb = env.make(ObjectType::Tcb, 0)?;
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let vspace = env.make(ObjectType::VSpace, 0)?;
    let ipc = slot::INIT_THREAD_IPC_BUFFER;
    expect_error(Tcb(tcb).configure(ep, 0, slot::INIT_THREAD_VSPACE, 0, 0, ipc), Error::IllegalOperation)?;
    expect_error(Tcb(tcb).configure(slot::INIT_THREAD_CNODE, 0, vspace, 0, 0, ipc), Error::IllegalOperation)?;
    expect_error(
        Tcb(tcb).configure(slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0, 0x1234, ipc),
        Error::AlignmentError,
    )?;
    expect_error(
        Tcb(tcb).configure(slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0, 0x2000, ep),
        Error::IllegalOperation,
    )?;
    ok(Tcb(tcb).configure(slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0, 0, ipc), "a valid configure")?;
    let free = env.slot();
    ok(Tcb(tcb).set_space(free, slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0), "set space")?;
    // An endpoint with every right is a valid fault handler; a read-only copy is not.
    ok(Tcb(tcb).set_space(ep, slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0), "fault handler")?;
    let weak = env.slot();
    ok(ROOT.copy(weak, DEPTH, ROOT, ep, DEPTH, hmk_sys::message::CapRights::READ), "read-only copy")?;
    expect_error(
        Tcb(tcb).set_space(weak, slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0),
        Error::InvalidCapability,
    )?;
    ok(Tcb(tcb).set_ipc_buffer(0, ipc), "no IPC buffer")?;
    expect_error(Tcb(tcb).set_ipc_buffer(0x1100, ipc), Error::AlignmentError)?;
    expect_error(invoke(tcb, label::TCB_CONFIGURE, &[0, 0, 0], &[slot::INIT_THREAD_CNODE]), Error::TruncatedMessage)
}

pub fn sched_control_checks(env: &mut Env) -> Result {
    let sc = SchedContext(env.make(ObjectType::SchedContext, 8)?);
    let control = SchedControl(env.bootinfo.sched_control.start);
    expect_error(control.configure_flags(sc, 2000, 1000, 0, 0, 0), Error::RangeError)?;
    expect_error(control.configure_flags(sc, 0, 1000, 0, 0, 0), Error::RangeError)?;
    // seL4: at least two refills, so a 256-byte context (11 refills) takes 9 extra ones.
    expect_error(control.configure_flags(sc, 1000, 1000, 10, 0, 0), Error::RangeError)?;
    ok(control.configure_flags(sc, 1000, 1000, 9, 0, 0), "nine extra refills fit in 256 bytes")?;
    expect_error(
        control.configure_flags(SchedContext(slot::INIT_THREAD_TCB), 1000, 1000, 0, 0, 0),
        Error::InvalidCapability,
    )?;
    expect_error(
        invoke(control.0, label::SCHED_CONTROL_CONFIGURE_FLAGS, &[1000, 1000], &[sc.0]),
        Error::TruncatedMessage,
    )
}

pub fn unbound_threads_do_not_run(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, count_forever, 255, true)?;
    ensure!(yield_until(100, || COUNTERS[0].load(Ordering::SeqCst) > 3), "the counter did not start");
    ok(SchedContext(worker.sc).unbind(), "unbind")?;
    let frozen = COUNTERS[0].load(Ordering::SeqCst);
    yield_until(20, || false);
    ensure!(COUNTERS[0].load(Ordering::SeqCst) == frozen, "a thread without a scheduling context ran");
    ok(SchedContext(worker.sc).bind(worker.tcb), "bind again")?;
    expect_error(SchedContext(worker.sc).bind(worker.tcb), Error::IllegalOperation)?;
    ensure!(yield_until(100, || COUNTERS[0].load(Ordering::SeqCst) > frozen + 3), "the rebound thread did not run");
    ok(SchedContext(worker.sc).unbind_object(worker.tcb), "unbind the thread")?;
    expect_error(SchedContext(worker.sc).unbind_object(worker.tcb), Error::IllegalOperation)?;
    expect_error(SchedContext(slot::INIT_THREAD_SC).unbind(), Error::IllegalOperation)
}

pub fn timer_preempts_a_spinning_thread(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, spin_forever, 255, true)?;
    // The spinner never yields; the suite only runs again because the timer ends its slice.
    ensure!(yield_until(3, || COUNTERS[0].load(Ordering::SeqCst) > 0), "the spinner did not run");
    let consumed = ok(SchedContext(worker.sc).consumed(), "consumed")?;
    ensure!(consumed > 0, "a spinning thread consumed no time");
    ok(Tcb(worker.tcb).suspend(), "stop the spinner")
}

pub fn deleting_a_tcb_stops_its_thread(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, count_forever, 255, true)?;
    ensure!(yield_until(100, || COUNTERS[0].load(Ordering::SeqCst) > 3), "the counter did not start");
    ok(ROOT.delete(worker.tcb, DEPTH), "delete the only TCB capability")?;
    let frozen = COUNTERS[0].load(Ordering::SeqCst);
    yield_until(20, || false);
    ensure!(COUNTERS[0].load(Ordering::SeqCst) == frozen, "a deleted thread kept running");
    Ok(())
}

pub fn tls_base_is_a_register(env: &mut Env) -> Result {
    let worker = spawn(env, 0, record_once, 10, false)?;
    ok(Tcb(worker.tcb).set_tls_base(0xdead_b000), "set TLS base")?;
    let read = ok(Tcb(worker.tcb).read_registers(false, USER_CONTEXT_WORDS as u64), "read")?;
    ensure!(read.0[UserContext::TPIDR_EL0] == 0xdead_b000, "TLS base {:#x}", read.0[UserContext::TPIDR_EL0]);
    expect_error(invoke(worker.tcb, label::TCB_SET_TLS_BASE, &[], &[]), Error::TruncatedMessage)
}

pub fn yield_alone_returns(_: &mut Env) -> Result {
    for _ in 0..10 {
        yield_now();
    }
    Ok(())
}

pub fn tcb_unknown_label(env: &mut Env) -> Result {
    let tcb = env.make(ObjectType::Tcb, 0)?;
    // Label 30 is the domain capability's (DomainSetSet); a TCB does not take it.
    expect_error(invoke(tcb, label::DOMAIN_SET_SET, &[0], &[]), Error::IllegalOperation)?;
    expect_error(invoke(tcb, label::CNODE_COPY, &[0; 5], &[]), Error::IllegalOperation)
}

/// Resumes a worker, as a case step.
pub fn resume(tcb: CPtr) -> Result {
    ok(Tcb(tcb).resume(), "resume")
}

/// The TCB capability worker `index` suspends itself with.
pub fn self_tcb(index: usize) -> CPtr {
    SELF_TCB[index].load(Ordering::SeqCst)
}

/// The virtual counter and its frequency (EL0 may read both).
pub fn counter() -> (u64, u64) {
    let (now, frequency): (u64, u64);
    // SAFETY: the kernel lets EL0 read CNTVCT_EL0 (CNTKCTL_EL1.EL0VCTEN); CNTFRQ_EL0 is always
    // readable. Neither has side effects.
    unsafe {
        core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) now, options(nomem, nostack));
        core::arch::asm!("mrs {}, cntfrq_el0", out(reg) frequency, options(nomem, nostack));
    }
    (now, frequency)
}

pub fn elapsed_us(since: u64) -> u64 {
    let (now, frequency) = counter();
    (now - since) * 1_000_000 / frequency.max(1)
}

const SPIN_BUDGET_US: u64 = 2_000;
const SPIN_PERIOD_US: u64 = 20_000;

pub fn budget_stops_a_spinner_starving_lower_priorities(env: &mut Env) -> Result {
    reset_records();
    let spinner = spawn(env, 0, spin_forever, 250, false)?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(spinner.sc), SPIN_BUDGET_US, SPIN_PERIOD_US, 0, 0, 0), "sporadic budget")?;
    ok(Tcb(spinner.tcb).resume(), "start the spinner")?;
    let (start, _) = counter();
    // Below the spinner's priority, the suite only runs while the spinner is out of budget.
    ok(ROOT_TCB.set_priority(ROOT_TCB, 240), "lower the suite")?;
    let mut rounds = 0u64;
    while elapsed_us(start) < 200_000 {
        rounds += 1;
    }
    ok(ROOT_TCB.set_priority(ROOT_TCB, 255), "raise the suite")?;
    ok(Tcb(spinner.tcb).suspend(), "stop the spinner")?;
    let elapsed = elapsed_us(start);
    let consumed = ok(SchedContext(spinner.sc).consumed(), "consumed")?;
    ensure!(rounds > 0 && COUNTERS[0].load(Ordering::Relaxed) > 0, "someone starved");
    // One budget per period is 10% of the time. QEMU without -icount delivers the timer
    // interrupt late, so each run overruns by that latency (seL4's rule: the overrun delays the
    // next refill); allow up to 25%. A spinner without a budget would take nearly all of it.
    ensure!(consumed * 4 <= elapsed, "consumed {consumed} µs in {elapsed} µs: far more than its budget share");
    ensure!(consumed >= SPIN_BUDGET_US, "consumed only {consumed} µs in {elapsed} µs");
    Ok(())
}

pub fn timeout_fault_on_budget_exhaustion(env: &mut Env) -> Result {
    let spinner = spawn(env, 0, spin_forever, 250, false)?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(spinner.sc), 1_000, 50_000, 0, 0x77, 0), "sporadic budget with a badge")?;
    let timeout_ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    ok(Tcb(spinner.tcb).set_timeout_endpoint(timeout_ep), "set the timeout endpoint")?;
    ok(Tcb(spinner.tcb).resume(), "start the spinner")?;
    // The suite waits for the timeout fault (the spinner runs meanwhile, until its budget ends).
    let fault = hmk_sys::syscall::recv(timeout_ep, reply);
    ensure!(fault.info.label() == 5, "label {}, want Timeout (5)", fault.info.label());
    ensure!(fault.mrs[0] == 0x77, "timeout badge {:#x}", fault.mrs[0]);
    ensure!(fault.mrs[1] > 0, "no consumed time reported");
    ok(Tcb(spinner.tcb).suspend(), "stop the spinner")
}

pub fn yield_to_runs_the_bound_thread(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, record_once, 255, true)?;
    ensure!(LOG_LEN.load(Ordering::SeqCst) == 0, "the worker ran before the suite yielded to it");
    ok(SchedContext(worker.sc).yield_to(), "yield to the worker")?;
    ensure!(log_contents() == [0], "after YieldTo the worker had not run: {:?}", log_contents());
    expect_error(SchedContext(slot::INIT_THREAD_SC).yield_to(), Error::IllegalOperation)?;
    let unbound = env.make(ObjectType::SchedContext, 8)?;
    expect_error(SchedContext(unbound).yield_to(), Error::IllegalOperation)
}

pub fn deleting_a_sched_context_stops_its_thread(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, count_forever, 255, true)?;
    ensure!(yield_until(100, || COUNTERS[0].load(Ordering::SeqCst) > 3), "the counter did not start");
    ok(ROOT.delete(worker.sc, DEPTH), "delete the scheduling context")?;
    let frozen = COUNTERS[0].load(Ordering::SeqCst);
    yield_until(20, || false);
    ensure!(COUNTERS[0].load(Ordering::SeqCst) == frozen, "a thread without a scheduling context ran");
    Ok(())
}

pub fn priority_change_reorders_ready_threads(env: &mut Env) -> Result {
    reset_records();
    let mut workers = alloc::vec::Vec::new();
    for index in 0..3 {
        workers.push(spawn(env, index, record_once, 100, true)?);
    }
    ok(Tcb(workers[2].tcb).set_priority(ROOT_TCB, 150), "raise the last one")?;
    ensure!(run_lower(|| LOG_LEN.load(Ordering::SeqCst) == 3), "threads did not run: {:?}", log_contents());
    ensure!(log_contents() == [2, 0, 1], "want the raised thread first, got {:?}", log_contents());
    Ok(())
}

pub fn read_registers_can_suspend(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, count_forever, 255, true)?;
    ensure!(yield_until(100, || COUNTERS[0].load(Ordering::SeqCst) > 3), "the counter did not start");
    let regs = ok(Tcb(worker.tcb).read_registers(true, 3), "read and suspend")?;
    ensure!(regs.0[UserContext::PC] != 0, "no PC read");
    let frozen = COUNTERS[0].load(Ordering::SeqCst);
    yield_until(20, || false);
    ensure!(COUNTERS[0].load(Ordering::SeqCst) == frozen, "the thread kept running after a suspending read");
    Ok(())
}

pub fn copy_registers_integer_and_tls(env: &mut Env) -> Result {
    let a = spawn(env, 0, record_once, 10, false)?;
    let b = spawn(env, 1, record_once, 10, false)?;
    let mut regs = UserContext::default();
    regs.0[20] = 0x2020;
    regs.0[UserContext::TPIDR_EL0] = 0x7700;
    regs.0[UserContext::PC] = 0x40_4000;
    ok(Tcb(a.tcb).write_registers(false, USER_CONTEXT_WORDS as u64, &regs), "write")?;
    ok(Tcb(b.tcb).copy_registers(Tcb(a.tcb), false, false, false, true), "copy the integer registers")?;
    let read = ok(Tcb(b.tcb).read_registers(false, USER_CONTEXT_WORDS as u64), "read")?;
    ensure!(read.0[20] == 0x2020 && read.0[UserContext::TPIDR_EL0] == 0x7700, "integer registers or TLS not copied");
    ensure!(read.0[UserContext::PC] != 0x40_4000, "frame registers copied without being asked");
    Ok(())
}

pub fn configure_with_a_guard(env: &mut Env) -> Result {
    let tcb = env.make(ObjectType::Tcb, 0)?;
    let ipc = slot::INIT_THREAD_IPC_BUFFER;
    // The root CNode with an added guard of 0 (size 51) is still a CNode capability.
    let data = hmk_sys::message::cnode_cap_data(0, 51);
    ok(Tcb(tcb).configure(slot::INIT_THREAD_CNODE, data, slot::INIT_THREAD_VSPACE, 0, 0, ipc), "guarded CSpace")?;
    // A guard that does not fit with the radix leaves no CNode: refused.
    let too_big = hmk_sys::message::cnode_cap_data(0, 60);
    expect_error(
        Tcb(tcb).configure(slot::INIT_THREAD_CNODE, too_big, slot::INIT_THREAD_VSPACE, 0, 0, ipc),
        Error::IllegalOperation,
    )
}

pub fn ipc_buffer_must_be_a_normal_frame(env: &mut Env) -> Result {
    let tcb = env.make(ObjectType::Tcb, 0)?;
    let info = env.bootinfo;
    let (index, _) = info
        .untyped_list()
        .iter()
        .enumerate()
        .find(|(_, u)| u.is_device != 0 && u.size_bits >= 12)
        .ok_or("no device untyped")?;
    let device = hmk_sys::invocation::Untyped(info.untyped.start + index as u64);
    let frame = env.slot();
    ok(device.retype(ObjectType::SmallPage, 0, ROOT, 0, 0, frame, 1), "device frame")?;
    let outcome = expect_error(Tcb(tcb).set_ipc_buffer(0x1000, frame), Error::IllegalOperation);
    ok(ROOT.revoke(device.0, DEPTH), "revoke the device untyped")?;
    outcome
}

pub fn sched_context_binding_errors(env: &mut Env) -> Result {
    let sc = SchedContext(env.make(ObjectType::SchedContext, 8)?);
    let ep = env.make(ObjectType::Endpoint, 0)?;
    expect_error(sc.bind(ep), Error::InvalidCapability)?;
    expect_error(invoke(sc.0, label::SCHED_CONTEXT_BIND, &[], &[]), Error::TruncatedMessage)?;
    ok(sc.unbind(), "unbinding an unbound context is fine")?;
    expect_error(sc.unbind_object(slot::INIT_THREAD_TCB), Error::IllegalOperation)?;
    expect_error(invoke(sc.0, 39, &[], &[]), Error::IllegalOperation)
}

pub fn consumed_resets_when_read(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, spin_forever, 255, true)?;
    yield_until(3, || false);
    ok(Tcb(worker.tcb).suspend(), "stop")?;
    let first = ok(SchedContext(worker.sc).consumed(), "first read")?;
    let second = ok(SchedContext(worker.sc).consumed(), "second read")?;
    ensure!(first > 0 && second == 0, "consumed {first} then {second}: want a positive figure then 0");
    Ok(())
}

pub fn resume_and_suspend_are_idempotent(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, count_forever, 255, true)?;
    ok(Tcb(worker.tcb).resume(), "resume a running thread")?;
    ok(Tcb(worker.tcb).resume(), "and again")?;
    ensure!(yield_until(100, || COUNTERS[0].load(Ordering::SeqCst) > 5), "the counter did not run");
    ok(Tcb(worker.tcb).suspend(), "suspend")?;
    ok(Tcb(worker.tcb).suspend(), "suspend again")?;
    let frozen = COUNTERS[0].load(Ordering::SeqCst);
    yield_until(10, || false);
    ensure!(COUNTERS[0].load(Ordering::SeqCst) == frozen, "a twice-suspended thread ran");
    Ok(())
}

pub fn timeout_endpoint_must_be_able_to_send(env: &mut Env) -> Result {
    let tcb = env.make(ObjectType::Tcb, 0)?;
    let ntfn = env.make(ObjectType::Notification, 0)?;
    expect_error(Tcb(tcb).set_timeout_endpoint(ntfn), Error::InvalidCapability)?;
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ok(Tcb(tcb).set_timeout_endpoint(ep), "an endpoint")?;
    let free = env.slot();
    ok(Tcb(tcb).set_timeout_endpoint(free), "no timeout endpoint")
}

pub fn null_sched_context_unbinds_a_thread(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, count_forever, 255, true)?;
    ensure!(yield_until(100, || COUNTERS[0].load(Ordering::SeqCst) > 3), "the counter did not start");
    let free = env.slot();
    ok(Tcb(worker.tcb).set_sched_params(ROOT_TCB, 255, 255, free, free), "no scheduling context")?;
    let frozen = COUNTERS[0].load(Ordering::SeqCst);
    yield_until(20, || false);
    ensure!(COUNTERS[0].load(Ordering::SeqCst) == frozen, "a thread without a scheduling context ran");
    Ok(())
}

/// Adds one to worker `index`'s counter.
/// What worker `index` counted.
pub fn counter_of(index: usize) -> u64 {
    COUNTERS[index].load(Ordering::SeqCst)
}

/// The worker entry that counts without ever entering the kernel.
pub fn spin_forever_entry() -> extern "C" fn(u64) -> ! {
    spin_forever
}

pub fn bump(index: u64) {
    COUNTERS[index as usize].fetch_add(1, Ordering::Relaxed);
}

pub fn write_registers_moves_the_pc(env: &mut Env) -> Result {
    reset_records();
    // Started at a counting loop but never run; redirected to record its index instead.
    let worker = spawn(env, 2, count_forever, 255, false)?;
    let mut regs = ok(Tcb(worker.tcb).read_registers(false, 4), "read")?;
    regs.0[UserContext::PC] = record_once as *const () as u64;
    ok(Tcb(worker.tcb).write_registers(true, 4, &regs), "write the PC and resume")?;
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the redirected thread did not run");
    ensure!(log_contents() == [2] && COUNTERS[2].load(Ordering::SeqCst) == 0, "ran the old PC: {:?}", log_contents());
    Ok(())
}

pub fn woken_lower_priority_receiver_waits_its_turn(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    crate::ipc::set_endpoint(ep);
    spawn(env, 0, crate::ipc::receive_once_entry(), 200, true)?;
    let _ = ROOT_TCB.set_priority(ROOT_TCB, 100);
    let _ = ROOT_TCB.set_priority(ROOT_TCB, 255);
    // The receiver is now waiting; the send wakes it, but the suite keeps the CPU.
    hmk_sys::syscall::send(hmk_sys::syscall::Registers {
        cap_or_badge: ep,
        info: hmk_sys::message::MessageInfo::new(0, 0, 0, 1),
        mrs: [8, 0, 0, 0],
    });
    ensure!(LOG_LEN.load(Ordering::SeqCst) == 0, "a lower-priority receiver ran before the sender gave way");
    ensure!(run_lower(|| LOG_LEN.load(Ordering::SeqCst) == 2), "the receiver never ran");
    ensure!(log_contents() == [8, 0], "received {:?}", log_contents());
    Ok(())
}

pub fn sched_params_bounded_by_the_authority(env: &mut Env) -> Result {
    let worker = spawn(env, 0, record_once, 10, false)?;
    let other = spawn(env, 1, record_once, 10, false)?;
    let free = env.slot();
    // `other` has MCP 10: as the authority it cannot grant MCP 20 or priority 11.
    expect_error(Tcb(worker.tcb).set_sched_params(Tcb(other.tcb), 20, 5, free, free), Error::RangeError)?;
    expect_error(Tcb(worker.tcb).set_sched_params(Tcb(other.tcb), 5, 11, free, free), Error::RangeError)?;
    expect_error(Tcb(worker.tcb).set_sched_params(Tcb(other.sc), 5, 5, free, free), Error::InvalidCapability)
}
