//! Object-lifetime cases, generated from a table.
//!
//! Each row of [`table!`] is a *reference kind*: a few objects, one of which (B) refers to
//! another (A) inside the kernel: a thread queued on an endpoint, a reply object naming its
//! caller, a scheduling context lent to a passive server, a TCB's fault endpoint, VSpace,
//! CSpace root or IPC buffer, and so on. Every object of the kind lives in a 4 KiB untyped of
//! its own. A row lists which object to delete and how to exercise what is left; the driver
//! ([`drive`]) then, for each listed object A:
//!
//! 1. builds the objects ([`Kind::setup`]) and the reference between them;
//! 2. deletes A by revoking its untyped (every capability to A goes, copies in TCB slots too);
//! 3. retypes that untyped into a frame covering A's old bytes, maps it and fills it with a
//!    pattern;
//! 4. exercises the objects that referred to A (the row's function), which also checks that
//!    they still work with fresh objects;
//! 5. checks the pattern (the kernel wrote nothing into memory that is now a user frame), then
//!    deletes every other object of the kind and checks the pattern again.
//!
//! Rows that delete the other object of a pair run the same sequence with the roles swapped.
//! A new object type gets its cases by adding a [`Kind`] and a row.

use crate::cases::Case;
use crate::check::{Outcome, ensure, ok};
use crate::env::{DEPTH, Env, ROOT};
use crate::irq::{self, QUIET_US, VTIMER_IRQ, poll_for, vtimer_at, vtimer_in, vtimer_off};
use crate::threads::{log_contents, record, reset_records, yield_until};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use hmk_sys::bootinfo::slot;
use hmk_sys::error::Error;
use hmk_sys::invocation::{
    AsidPool, CNode, CPtr, Frame, IrqControl, IrqHandler, PageTable, SchedContext, SchedControl, Tcb,
    USER_CONTEXT_WORDS, Untyped, UserContext,
};
use hmk_sys::message::{CapRights, MessageInfo, cnode_cap_data};
use hmk_sys::object::{ObjectType, vm_attributes};
use hmk_sys::syscall::{self, Registers};

type Made<T> = Result<T, String>;
/// What a row does after A is gone.
type After = fn(&mut Lab, &Scene) -> Outcome;

const ROOT_TCB: Tcb = Tcb(slot::INIT_THREAD_TCB);
const OWN: CPtr = slot::INIT_THREAD_VSPACE;
const PAGE: u64 = 4096;
/// Each object's own untyped: 4 KiB, room for any object the table deletes.
const OBJECT_UNTYPED_BITS: u64 = 12;
/// Where the frame over A's old memory is mapped in the suite's VSpace. These areas, each in a
/// 1 GiB region of its own, are far from the image and from the other modules' areas.
const COVER_AT: u64 = 0x30_0000_0000;
/// The page-table row's mapping.
const TABLE_AT: u64 = 0x30_4000_0000;
/// The IPC-buffer row's buffer.
const BUFFER_AT: u64 = 0x30_8000_0000;
/// Where the suite is linked (linker/user.ld): image frame n maps 0x400000 + n * 4 KiB.
const IMAGE_BASE: u64 = 0x40_0000;
/// Yields a case waits for a worker at most.
const ROUNDS: usize = 300;
/// How long a case waits, on the clock, for what must happen. A loaded host stalls QEMU and
/// delays its timers: on raspi4b, runs where the kernel's 100 Hz heartbeat lost 40% of its ticks,
/// budgets overrun by 100 ms, and a virtual timer armed for 1 ms not there after 500 ms were seen.
const MUST_US: u64 = 2_000_000;
/// The timeout rows' spinner: a 1 ms budget every 2 ms. When QEMU's timer interrupt comes late,
/// the spinner overruns its budget, and (seL4's rule) a run of `t` moves its next refill
/// `t * period / budget` past the run's start, so `t * (period / budget - 1)` past its end: the
/// period is kept short so that this stays small (at most the overrun again).
const SPIN_BUDGET_US: u64 = 1_000;
const SPIN_PERIOD_US: u64 = 2_000;

/// Word `i` of the pattern. Bit 0 is clear, so read as translation tables every entry is
/// invalid; the top half marks the word as the pattern's.
fn pattern(i: usize) -> u64 {
    0x5a5a_0000_0000_0000 | ((i as u64) << 4)
}

fn is_pattern(word: u64) -> bool {
    word & 0xffff_0000_0000_000f == 0x5a5a_0000_0000_0000
}

// ---------------------------------------------------------------------------------------------
// The table.

/// A reference kind: how many objects of their own untyped it builds, and how.
pub struct Kind {
    objects: usize,
    setup: fn(&mut Lab) -> Made<Scene>,
}

/// Builds [`CASES`]: per kind, rows `"name": deleted object index => exercise`.
/// Each row gives two cases: `lifetime_<name>`, and `lifetime_<name>_preempted`, which
/// repeats it with the virtual timer's interrupt arriving at points spread over A's deletion
/// (the kernel's preemption points in delete and revoke).
macro_rules! table {
    ($($kind:ident { $($name:literal : $doomed:literal => $after:ident),+ $(,)? })+) => {
        pub const CASES: &[(&str, Case)] = &[
            $($((concat!("lifetime_", $name), |e| drive(e, &$kind, $doomed, $after)),)+)+
            $($((concat!("lifetime_", $name, "_preempted"), |e| sweep(e, &$kind, $doomed, $after)),)+)+
        ];
    };
}

table! {
    // Object 0: an endpoint; 1: a thread blocked sending on it.
    BLOCKED_SENDER {
        "endpoint_in_blocked_sender": 0 => thread_after_its_object,
        "blocked_sender_in_endpoint": 1 => endpoint_after_its_thread,
    }
    // 0: an endpoint; 1: a thread blocked receiving on it.
    BLOCKED_RECEIVER {
        "endpoint_in_blocked_receiver": 0 => thread_after_its_object,
        "blocked_receiver_in_endpoint": 1 => endpoint_after_its_thread,
    }
    // 0: an endpoint; 1: a thread blocked in Call on it (nobody received yet).
    BLOCKED_CALLER {
        "endpoint_in_blocked_caller": 0 => thread_after_its_object,
        "blocked_caller_in_endpoint": 1 => endpoint_after_its_thread,
    }
    // 0: a notification; 1: a thread blocked waiting on it.
    WAITER {
        "notification_in_waiter": 0 => thread_after_its_object,
        "waiter_in_notification": 1 => notification_after_its_waiter,
    }
    // 0: a reply object; 1: a thread blocked in Recv(E, reply).
    REPLY_RECEIVER {
        "reply_in_blocked_receiver": 0 => receiver_after_its_reply,
        "blocked_receiver_in_reply": 1 => reply_after_its_receiver,
    }
    // 0: a reply object; 1: a thread that did NBRecv(E, reply) with no sender.
    REPLY_NB_RECEIVER {
        "reply_in_nb_receiver": 0 => thread_after_its_object,
        "nb_receiver_in_reply": 1 => reply_after_its_receiver,
    }
    // 0: a reply object; 1: a caller waiting for the reply through it.
    REPLY_CALLER {
        "reply_in_caller": 0 => caller_after_its_reply,
        "caller_in_reply": 1 => reply_after_its_caller,
    }
    // 0: the client's scheduling context; 1: the passive server running on it; 2: the
    // client; 3: the reply object the server received the call with.
    DONATION {
        "donated_sc_in_passive_server": 0 => donation_after_the_sc,
        "passive_server_in_donated_sc": 1 => donation_after_the_server,
        "client_in_passive_server": 2 => donation_after_the_client,
        "reply_in_donation": 3 => donation_after_the_reply,
    }
    // 0: a scheduling context; 1: the running thread bound to it.
    BOUND_SC {
        "sc_in_thread": 0 => thread_after_its_sc,
        "thread_in_sc": 1 => sc_after_its_thread,
    }
    // 0: a scheduling context bound to a notification; 1: the notification (a passive thread
    // waits on it).
    NOTIFICATION_SC {
        "sc_in_notification": 0 => notification_after_its_sc,
        "notification_in_sc": 1 => sc_after_its_notification,
    }
    // 0: a notification; 1: the thread bound to it, blocked in Recv on an endpoint.
    BOUND_NOTIFICATION {
        "notification_in_bound_thread": 0 => thread_after_its_notification,
        "bound_thread_in_notification": 1 => notification_after_its_thread,
    }
    // 0: the notification the virtual timer's IRQ handler signals.
    IRQ_NOTIFICATION {
        "notification_in_irq_handler": 0 => handler_after_its_notification,
    }
    // 0: a thread's fault endpoint; 1: the thread, not yet faulted.
    FAULT_HANDLER {
        "fault_endpoint_in_thread": 0 => thread_after_its_fault_endpoint,
    }
    // 0: a thread's fault endpoint; 1: the thread, blocked sending its fault there.
    FAULTED {
        "fault_endpoint_in_faulted_thread": 0 => thread_after_its_fault_endpoint,
        "faulted_thread_in_fault_endpoint": 1 => endpoint_after_its_thread,
    }
    // 0: a thread's timeout endpoint (the thread spins on a small budget).
    TIMEOUT_HANDLER {
        "timeout_endpoint_in_thread": 0 => thread_after_its_timeout_endpoint,
    }
    // 0: a thread's timeout endpoint; 1: the thread, out of budget and blocked sending its
    // timeout fault there.
    TIMED_OUT {
        "timeout_endpoint_in_timed_out_thread": 0 => thread_after_its_timeout_endpoint,
        "timed_out_thread_in_timeout_endpoint": 1 => endpoint_after_its_thread,
    }
    // 0: a thread's IPC buffer frame; the thread is blocked in a long Call.
    IPC_BUFFER {
        "ipc_buffer_in_thread": 0 => thread_after_its_ipc_buffer,
    }
    // 0: the VSpace a counting thread runs in (a mirror of the suite's image).
    OWN_VSPACE {
        "vspace_in_thread": 0 => thread_after_its_vspace,
        "thread_in_vspace": 1 => vspace_after_its_thread,
    }
    // 0: the last-level page table a thread's stores go through.
    OWN_PAGE_TABLE {
        "page_table_in_thread": 0 => thread_after_its_page_table,
    }
    // 0: the CSpace root of a thread that sends through a capability in it.
    OWN_CNODE {
        "cnode_in_thread": 0 => thread_after_its_cnode,
        "thread_in_cnode": 1 => cnode_after_its_thread,
    }
}

const BLOCKED_SENDER: Kind = Kind { objects: 2, setup: blocked_sender };
const BLOCKED_RECEIVER: Kind = Kind { objects: 2, setup: blocked_receiver };
const BLOCKED_CALLER: Kind = Kind { objects: 2, setup: blocked_caller };
const WAITER: Kind = Kind { objects: 2, setup: waiting_thread };
const REPLY_RECEIVER: Kind = Kind { objects: 2, setup: receiver_with_reply };
const REPLY_NB_RECEIVER: Kind = Kind { objects: 2, setup: reply_nb_receiver };
const REPLY_CALLER: Kind = Kind { objects: 2, setup: reply_caller };
const DONATION: Kind = Kind { objects: 4, setup: donation };
const BOUND_SC: Kind = Kind { objects: 2, setup: bound_sc };
/// A scheduling context bound to a notification (SchedContext Bind, issue 10 item 6).
const NOTIFICATION_SC: Kind = Kind { objects: 2, setup: notification_sc };
const BOUND_NOTIFICATION: Kind = Kind { objects: 2, setup: bound_notification };
const IRQ_NOTIFICATION: Kind = Kind { objects: 1, setup: irq_notification };
const FAULT_HANDLER: Kind = Kind { objects: 2, setup: |lab| fault_handler(lab, false) };
const FAULTED: Kind = Kind { objects: 2, setup: |lab| fault_handler(lab, true) };
const TIMEOUT_HANDLER: Kind = Kind { objects: 1, setup: |lab| timeout_handler(lab, false) };
const TIMED_OUT: Kind = Kind { objects: 2, setup: |lab| timeout_handler(lab, true) };
const IPC_BUFFER: Kind = Kind { objects: 1, setup: ipc_buffer };
const OWN_VSPACE: Kind = Kind { objects: 2, setup: own_vspace };
const OWN_PAGE_TABLE: Kind = Kind { objects: 1, setup: own_page_table };
const OWN_CNODE: Kind = Kind { objects: 2, setup: own_cnode };

// ---------------------------------------------------------------------------------------------
// The driver.

fn drive(env: &mut Env, kind: &Kind, doomed: usize, after: After) -> Outcome {
    reset_records();
    vtimer_off();
    let mut lab = Lab::new(env, kind.objects)?;
    let outcome = run(&mut lab, kind, doomed, after, None);
    vtimer_off();
    lab.stop_threads();
    outcome.map(|_| ())
}

/// Rounds of [`sweep`]: one to time the deletion, the others interrupted at spread points.
const SWEEP_ROUNDS: u64 = 8;
/// The virtual timer's handler while a sweep runs (the IRQ row binds its notification to it).
static SWEEP_IRQ: AtomicU64 = AtomicU64::new(0);

/// Runs the row [`SWEEP_ROUNDS`] times. The first round times A's deletion; each later one
/// arms the virtual timer to fire a little further into it, so the interrupt becomes pending
/// at a different preemption point and the deletion restarts from there. Between rounds,
/// everything the round made goes.
fn sweep(env: &mut Env, kind: &Kind, doomed: usize, after: After) -> Outcome {
    vtimer_off();
    let irq = env.slot();
    ok(IrqControl(slot::IRQ_CONTROL).get(VTIMER_IRQ, ROOT, irq, DEPTH), "IRQControl Get")?;
    SWEEP_IRQ.store(irq, Ordering::SeqCst);
    let outcome = sweep_rounds(env, kind, doomed, after, irq);
    SWEEP_IRQ.store(0, Ordering::SeqCst);
    vtimer_off();
    outcome
}

fn sweep_rounds(env: &mut Env, kind: &Kind, doomed: usize, after: After, irq: CPtr) -> Outcome {
    let mark = env.mark();
    let mut span = 0;
    for round in 0..SWEEP_ROUNDS {
        reset_records();
        let delay = (round > 0).then(|| span * (round - 1) / (SWEEP_ROUNDS - 2));
        let mut lab = Lab::new(env, kind.objects)?;
        let outcome = run(&mut lab, kind, doomed, after, delay);
        vtimer_off();
        lab.stop_threads();
        drop(lab);
        let _ = IrqHandler(irq).ack();
        match outcome {
            Ok(ticks) if round == 0 => span = ticks,
            Ok(_) => {}
            Err(why) => {
                return Err(match delay {
                    None => format!("(not preempted) {why}"),
                    Some(d) => format!("interrupt {d} of {span} ticks into the deletion: {why}"),
                });
            }
        }
        ok(ROOT.revoke(env.untyped.0, DEPTH), "revoke the round's objects")?;
        env.rewind(mark);
    }
    Ok(())
}

/// One run of a row; `arm`: fire the virtual timer this many ticks after the deletion starts.
/// Returns how long the deletion took, in ticks.
fn run(lab: &mut Lab, kind: &Kind, doomed: usize, after: After, arm: Option<u64>) -> Made<u64> {
    let scene = (kind.setup)(lab)?;
    let untyped = lab.untyped[doomed];
    let start = irq::now();
    if let Some(delay) = arm {
        vtimer_at(start + delay);
    }
    let revoked = ROOT.revoke(untyped, DEPTH);
    let ticks = irq::now() - start;
    vtimer_off();
    ok(revoked, "revoke A's untyped (delete A)")?;
    lab.cover(untyped)?;
    // A failed pattern check names the step after which the kernel wrote; a failure of some
    // other kind comes with the pattern's state.
    if let Err(why) = after(lab, &scene) {
        return Err(match lab.intact("while B was exercised") {
            Err(written) if !why.contains("frame over") => format!("{written} (then: {why})"),
            _ => why,
        });
    }
    lab.intact("while B was exercised")?;
    lab.stop_threads();
    for (index, &other) in lab.untyped.iter().enumerate() {
        if index != doomed {
            ok(ROOT.revoke(other, DEPTH), "revoke B's untyped (delete B)")?;
        }
    }
    lab.intact("when B was deleted")?;
    Ok(ticks)
}

/// A thread the lab made.
#[derive(Clone, Copy, Default)]
struct Thread {
    tcb: CPtr,
    sc: CPtr,
    stack: usize,
    /// The badge its faults arrive with on [`Lab::faults`].
    badge: u64,
}

/// What a kind built: the roles its functions use (unused ones stay 0).
#[derive(Default)]
struct Scene {
    ep: CPtr,
    reply: CPtr,
    ntfn: CPtr,
    sc: CPtr,
    irq: CPtr,
    /// A VSpace or CNode.
    space: CPtr,
    /// The thread that refers to A, or that A refers to.
    a: Thread,
    /// A second thread (the passive server's client, say).
    b: Thread,
}

/// Where an object comes from: one of the kind's own untyped, or the rest of the case's.
#[derive(Clone, Copy)]
enum From {
    Object(usize),
    Rest,
}

/// A case's workshop: the objects' untyped, the threads made, shared helpers.
struct Lab<'a> {
    env: &'a mut Env,
    untyped: Vec<CPtr>,
    threads: Vec<Thread>,
    /// Where every thread's faults go (badged per thread), and the reply to take them with.
    faults: CPtr,
    fault_reply: CPtr,
    /// The frame over A's old memory, once made.
    cover: Option<CPtr>,
}

impl<'a> Lab<'a> {
    fn new(env: &'a mut Env, objects: usize) -> Made<Lab<'a>> {
        let mut untyped = Vec::new();
        for _ in 0..objects {
            untyped.push(env.make(ObjectType::Untyped, OBJECT_UNTYPED_BITS)?);
        }
        let faults = env.make(ObjectType::Endpoint, 0)?;
        let fault_reply = env.make(ObjectType::Reply, 0)?;
        let fresh = env.make(ObjectType::Endpoint, 0)?;
        let park = env.make(ObjectType::Notification, 0)?;
        PARK.store(park, Ordering::SeqCst);
        FRESH.store(fresh, Ordering::SeqCst);
        Ok(Lab { env, untyped, threads: Vec::new(), faults, fault_reply, cover: None })
    }

    fn slot(&mut self) -> CPtr {
        self.env.slot()
    }

    fn make(&mut self, from: From, object_type: ObjectType, size_bits: u64) -> Made<CPtr> {
        match from {
            From::Rest => self.env.make(object_type, size_bits),
            From::Object(index) => {
                let dest = self.slot();
                ok(
                    Untyped(self.untyped[index]).retype(object_type, size_bits, ROOT, 0, 0, dest, 1),
                    &format!("retype {object_type:?} from object untyped {index}"),
                )?;
                Ok(dest)
            }
        }
    }

    fn mint(&mut self, src: CPtr, badge: u64) -> Made<CPtr> {
        let dest = self.slot();
        ok(ROOT.mint(dest, DEPTH, ROOT, src, DEPTH, CapRights::ALL, badge), "mint")?;
        Ok(dest)
    }

    /// A scheduling context with a 5 ms budget every 5 ms.
    fn sched_context(&mut self, from: From) -> Made<CPtr> {
        let sc = self.make(from, ObjectType::SchedContext, 8)?;
        let control = SchedControl(self.env.bootinfo.sched_control.start);
        ok(control.configure_flags(SchedContext(sc), 5000, 5000, 0, 0, 0), "configure a scheduling context")?;
        Ok(sc)
    }

    /// A thread in the suite's CSpace and VSpace at `priority`, running `entry(arg)` on a stack
    /// of its own, its faults going to [`Lab::faults`]; with a scheduling context from `sc`.
    fn thread(
        &mut self,
        tcb_from: From,
        sc: Option<From>,
        entry: extern "C" fn(u64) -> !,
        arg: u64,
        start: bool,
    ) -> Made<Thread> {
        let stack = self.threads.len();
        ensure!(stack < STACK_COUNT, "more than {STACK_COUNT} threads in one case");
        let tcb = self.make(tcb_from, ObjectType::Tcb, 0)?;
        let sc = match sc {
            Some(from) => self.sched_context(from)?,
            None => self.slot(),
        };
        let badge = 0xf0 + stack as u64;
        let handler = self.mint(self.faults, badge)?;
        ok(
            Tcb(tcb).configure(slot::INIT_THREAD_CNODE, 0, OWN, 0, 0, slot::INIT_THREAD_IPC_BUFFER),
            "configure a thread",
        )?;
        ok(Tcb(tcb).set_sched_params(ROOT_TCB, 255, 255, sc, handler), "set a thread's scheduling parameters")?;
        let mut regs = UserContext::default();
        regs.0[UserContext::PC] = entry as usize as u64;
        regs.0[UserContext::SP] = stack_top(stack);
        regs.0[UserContext::X0] = arg;
        ok(Tcb(tcb).write_registers(start, 4, &regs), "start a thread")?;
        let thread = Thread { tcb, sc, stack, badge };
        self.threads.push(thread);
        if start {
            settle();
        }
        Ok(thread)
    }

    /// Suspends every thread the lab made (those deleted already just refuse).
    fn stop_threads(&mut self) {
        for thread in &self.threads {
            let _ = Tcb(thread.tcb).suspend();
        }
    }

    /// Retypes `untyped` (A's, now empty) into a frame over A's old bytes, maps it at
    /// [`COVER_AT`] and fills it with the pattern.
    fn cover(&mut self, untyped: CPtr) -> Outcome {
        let frame = self.slot();
        ok(Untyped(untyped).retype(ObjectType::SmallPage, 0, ROOT, 0, 0, frame, 1), "retype A's memory into a frame")?;
        self.map(OWN, frame, COVER_AT, CapRights::READ_WRITE)?;
        let words = COVER_AT as *mut u64;
        for i in 0..512 {
            // SAFETY: the frame is mapped read-write at COVER_AT, 4 KiB long, used by nothing else.
            unsafe { words.add(i).write_volatile(pattern(i)) };
        }
        self.cover = Some(frame);
        Ok(())
    }

    /// The frame over A's memory still holds the pattern.
    fn intact(&self, when: &str) -> Outcome {
        if self.cover.is_none() {
            return Ok(());
        }
        let words = COVER_AT as *const u64;
        let mut wrong = Vec::new();
        for i in 0..512 {
            // SAFETY: as in `cover`: the frame stays mapped until the case ends.
            let word = unsafe { words.add(i).read_volatile() };
            if word != pattern(i) {
                wrong.push(format!("byte {:#x} = {word:#x}", i * 8));
            }
        }
        ensure!(
            wrong.is_empty(),
            "the kernel wrote into the frame over the deleted object's memory {when}: {} word(s) changed, {}",
            wrong.len(),
            wrong.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
        );
        Ok(())
    }

    /// Maps `frame` at `vaddr` in `vspace`, adding page tables from the rest where missing.
    fn map(&mut self, vspace: CPtr, frame: CPtr, vaddr: u64, rights: CapRights) -> Outcome {
        for _ in 0..4 {
            match Frame(frame).map(vspace, vaddr, rights, vm_attributes::DEFAULT) {
                Ok(()) => return Ok(()),
                Err(Error::FailedLookup) => {
                    let table = self.make(From::Rest, ObjectType::PageTable, 0)?;
                    ok(PageTable(table).map(vspace, vaddr, vm_attributes::DEFAULT), "map a page table")?;
                }
                Err(e) => return Err(format!("map a frame at {vaddr:#x}: {e:?}")),
            }
        }
        Err(format!("page tables did not complete the walk for {vaddr:#x}"))
    }

    /// The next fault message of `thread` (which must carry `label`).
    fn fault(&self, thread: &Thread, label: u64) -> Made<Registers> {
        for _ in 0..ROUNDS {
            let message = syscall::nb_recv(self.faults, self.fault_reply);
            if message.cap_or_badge == thread.badge {
                let got = message.info.label();
                ensure!(got == label, "fault label {got}, want {label}; message {:?}", message.mrs);
                return Ok(message);
            }
            syscall::yield_now();
        }
        Err(format!("no fault with label {label} arrived; log {:x?}", log_contents()))
    }
}

/// Lets the workers run until they block.
fn settle() {
    yield_until(5, || false);
}

fn waited(value: u64) -> bool {
    yield_until(ROUNDS, || log_contents().contains(&value))
}

/// Microseconds on the virtual counter.
fn now_us() -> u64 {
    let (count, frequency): (u64, u64);
    // SAFETY: EL0 may read CNTVCT_EL0 (CNTKCTL_EL1.EL0VCTEN) and CNTFRQ_EL0; no side effects.
    unsafe {
        core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) count, options(nomem, nostack));
        core::arch::asm!("mrs {}, cntfrq_el0", out(reg) frequency, options(nomem, nostack));
    }
    count / (frequency / 1_000_000).max(1)
}

/// Yields until `done` or `us` microseconds have passed (for threads waiting for a refill).
fn wait_until(us: u64, done: impl Fn() -> bool) -> bool {
    let end = now_us() + us;
    while now_us() < end {
        if done() {
            return true;
        }
        syscall::yield_now();
    }
    done()
}

fn message(words: &[u64]) -> Registers {
    let mut mrs = [0; 4];
    mrs[..words.len()].copy_from_slice(words);
    Registers { cap_or_badge: 0, info: MessageInfo::new(0, 0, 0, words.len() as u64), mrs }
}

fn to(cap: CPtr, words: &[u64]) -> Registers {
    Registers { cap_or_badge: cap, ..message(words) }
}

/// Waits (polling) for a message with MR0 `tag` on `ep`.
fn expect_on(ep: CPtr, tag: u64, what: &str) -> Outcome {
    for _ in 0..ROUNDS {
        let got = syscall::nb_recv(ep, 0);
        if got.info.length() >= 1 && got.mrs[0] == tag {
            return Ok(());
        }
        syscall::yield_now();
    }
    Err(format!("{what}: no message {tag:#x} arrived; log {:x?}", log_contents()))
}

// ---------------------------------------------------------------------------------------------
// Workers. They take their objects from these statics and end parked on PARK.

static EP: AtomicU64 = AtomicU64::new(0);
static REPLY: AtomicU64 = AtomicU64::new(0);
static NTFN: AtomicU64 = AtomicU64::new(0);
static GATE: AtomicU64 = AtomicU64::new(0);
static PARK: AtomicU64 = AtomicU64::new(0);
static FRESH: AtomicU64 = AtomicU64::new(0);
static COUNT: AtomicU64 = AtomicU64::new(0);

fn get(cell: &AtomicU64) -> CPtr {
    cell.load(Ordering::SeqCst)
}

/// Log marks: a value a worker records, ORed with a word of its message.
const RECEIVED: u64 = 0x1000_0000;
const ANSWERED: u64 = 0x2000_0000;
const SERVED: u64 = 0x3000_0000;
const GATED: u64 = 0x4000_0000;
const SENT: u64 = 0x5000_0000;
const WOKE: u64 = 0x6000_0000;

const STACK_COUNT: usize = 8;
const STACK_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; STACK_COUNT]);

static mut STACKS: Stacks = Stacks([[0; STACK_SIZE]; STACK_COUNT]);

fn stack_top(index: usize) -> u64 {
    // Only the address is taken; each thread of a case runs on its own stack.
    core::ptr::addr_of_mut!(STACKS) as u64 + ((index + 1) * STACK_SIZE) as u64
}

fn park() -> ! {
    loop {
        syscall::wait(get(&PARK));
    }
}

extern "C" fn sender(tag: u64) -> ! {
    syscall::send(to(get(&EP), &[tag]));
    record(SENT | tag);
    park()
}

extern "C" fn receiver(_: u64) -> ! {
    let got = syscall::recv(get(&EP), 0);
    record(RECEIVED | got.mrs[0]);
    park()
}

extern "C" fn reply_receiver(_: u64) -> ! {
    let got = syscall::recv(get(&EP), get(&REPLY));
    record(RECEIVED | got.mrs[0]);
    park()
}

extern "C" fn nb_reply_receiver(tag: u64) -> ! {
    syscall::nb_recv(get(&EP), get(&REPLY));
    record(RECEIVED | tag);
    park()
}

extern "C" fn caller(tag: u64) -> ! {
    let answer = syscall::call(to(get(&EP), &[tag]));
    record(ANSWERED | answer.mrs[0]);
    park()
}

extern "C" fn waiter(_: u64) -> ! {
    let bits = syscall::wait(get(&NTFN));
    record(WOKE | bits);
    park()
}

/// Receives on EP (a bound notification's signal wakes it too) and records the badge.
extern "C" fn bound_receiver(_: u64) -> ! {
    loop {
        let got = syscall::recv(get(&EP), 0);
        record(WOKE | got.cap_or_badge);
    }
}

/// Serves calls on EP with REPLY: records each, waits for GATE, answers MR0 + 1.
extern "C" fn gated_server(_: u64) -> ! {
    let mut request = syscall::recv(get(&EP), get(&REPLY));
    loop {
        record(SERVED | request.mrs[0]);
        syscall::wait(get(&GATE));
        record(GATED | request.mrs[0]);
        request = syscall::reply_recv(get(&EP), message(&[request.mrs[0] + 1]), get(&REPLY));
    }
}

/// Sends its tag to FRESH: the proof that a thread still runs.
extern "C" fn announce(tag: u64) -> ! {
    syscall::send(to(get(&FRESH), &[tag]));
    park()
}

/// Counts forever, yielding each time.
extern "C" fn counter(_: u64) -> ! {
    loop {
        COUNT.fetch_add(1, Ordering::SeqCst);
        syscall::yield_now();
    }
}

/// Counts forever without yielding.
extern "C" fn spinner(_: u64) -> ! {
    loop {
        COUNT.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads an unmapped address (a VM fault), then records.
extern "C" fn faulter(tag: u64) -> ! {
    // SAFETY: deliberately not safe: the read faults and the kernel reports it.
    let value = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
    record(SENT | tag | value);
    park()
}

/// Stores a growing count at TABLE_AT forever.
extern "C" fn storer(_: u64) -> ! {
    loop {
        let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
        // SAFETY: the case maps TABLE_AT (or resolves the fault) before the store goes on.
        unsafe { (TABLE_AT as *mut u64).write_volatile(n) };
        syscall::yield_now();
    }
}

/// Calls EP with a 10-word message (words 4..9 come from its IPC buffer), forever.
extern "C" fn long_caller(tag: u64) -> ! {
    loop {
        let request = Registers { cap_or_badge: get(&EP), info: MessageInfo::new(0, 0, 0, 10), mrs: [tag, 0, 0, 0] };
        let answer = syscall::call(request);
        record(ANSWERED | answer.info.length());
    }
}

/// Sends its tag through capability 1 of its own CSpace, forever.
extern "C" fn own_cspace_sender(tag: u64) -> ! {
    loop {
        syscall::send(to(1, &[tag]));
    }
}

// ---------------------------------------------------------------------------------------------
// Exercising what is left.

/// Every TCB invocation that touches the thread's queues and state.
fn poke_thread(tcb: CPtr) -> Outcome {
    // A priority change moves a blocked thread within the queue it waits in.
    ok(Tcb(tcb).set_priority(ROOT_TCB, 200), "set priority")?;
    ok(Tcb(tcb).set_priority(ROOT_TCB, 255), "set priority back")?;
    ok(Tcb(tcb).read_registers(false, USER_CONTEXT_WORDS as u64), "read registers")?;
    ok(Tcb(tcb).suspend(), "suspend")?;
    ok(Tcb(tcb).resume(), "resume")?;
    settle();
    Ok(())
}

/// The thread still runs: restarted at [`announce`], it sends to the fresh endpoint.
fn thread_still_works(thread: &Thread, tag: u64) -> Outcome {
    ok(Tcb(thread.tcb).suspend(), "suspend before the restart")?;
    let mut regs = UserContext::default();
    regs.0[UserContext::PC] = announce as *const () as u64;
    regs.0[UserContext::SP] = stack_top(thread.stack);
    regs.0[UserContext::X0] = tag;
    ok(Tcb(thread.tcb).write_registers(true, 4, &regs), "restart the thread")?;
    expect_on(get(&FRESH), tag, "the restarted thread")
}

/// Every non-blocking endpoint operation from the suite; a dead thread must not be found.
fn poke_endpoint(ep: CPtr) -> Outcome {
    let got = syscall::nb_recv(ep, 0);
    ensure!(got.info.length() == 0 && got.info.label() == 0, "NBRecv found a message from a deleted thread: {got:?}");
    syscall::nb_send(to(ep, &[0x11]));
    ok(ROOT.cancel_badged_sends(ep, DEPTH), "cancel badged sends")?;
    let got = syscall::nb_recv(ep, 0);
    ensure!(got.info.length() == 0, "NBRecv found a message after an NBSend to nobody: {got:?}");
    Ok(())
}

/// The endpoint still carries messages both ways between new threads and the suite.
fn endpoint_still_works(lab: &mut Lab, ep: CPtr) -> Outcome {
    EP.store(ep, Ordering::SeqCst);
    lab.thread(From::Rest, Some(From::Rest), receiver, 0, true)?;
    syscall::nb_send(to(ep, &[0x77]));
    ensure!(waited(RECEIVED | 0x77), "a new receiver got nothing: {:x?}", log_contents());
    lab.thread(From::Rest, Some(From::Rest), sender, 0x88, true)?;
    expect_on(ep, 0x88, "a new sender")
}

/// A reply object still serves a call between new threads, answered by the suite.
fn reply_still_works(lab: &mut Lab, ep: CPtr, reply: CPtr, tag: u64) -> Outcome {
    EP.store(ep, Ordering::SeqCst);
    REPLY.store(reply, Ordering::SeqCst);
    lab.thread(From::Rest, Some(From::Rest), reply_receiver, 0, true)?;
    lab.intact("after Recv(E, R) from a new thread")?;
    lab.thread(From::Rest, Some(From::Rest), caller, tag, true)?;
    ensure!(waited(RECEIVED | tag), "a new server did not get the call: {:x?}", log_contents());
    lab.intact("after a call reached the new receiver through R")?;
    syscall::send(to(reply, &[tag + 1]));
    ensure!(waited(ANSWERED | (tag + 1)), "the reply did not reach the new caller: {:x?}", log_contents());
    lab.intact("after a reply through R to the new caller")
}

// ---------------------------------------------------------------------------------------------
// Queues: a thread blocked on an endpoint or a notification.

fn blocked_sender(lab: &mut Lab) -> Made<Scene> {
    let ep = lab.make(From::Object(0), ObjectType::Endpoint, 0)?;
    EP.store(ep, Ordering::SeqCst);
    let a = lab.thread(From::Object(1), Some(From::Rest), sender, 0x51, true)?;
    Ok(Scene { ep, a, ..Scene::default() })
}

fn blocked_receiver(lab: &mut Lab) -> Made<Scene> {
    let ep = lab.make(From::Object(0), ObjectType::Endpoint, 0)?;
    EP.store(ep, Ordering::SeqCst);
    let a = lab.thread(From::Object(1), Some(From::Rest), receiver, 0, true)?;
    Ok(Scene { ep, a, ..Scene::default() })
}

fn blocked_caller(lab: &mut Lab) -> Made<Scene> {
    let ep = lab.make(From::Object(0), ObjectType::Endpoint, 0)?;
    EP.store(ep, Ordering::SeqCst);
    let a = lab.thread(From::Object(1), Some(From::Rest), caller, 0x53, true)?;
    Ok(Scene { ep, a, ..Scene::default() })
}

fn waiting_thread(lab: &mut Lab) -> Made<Scene> {
    let ntfn = lab.make(From::Object(0), ObjectType::Notification, 0)?;
    NTFN.store(ntfn, Ordering::SeqCst);
    let a = lab.thread(From::Object(1), Some(From::Rest), waiter, 0, true)?;
    Ok(Scene { ntfn, a, ..Scene::default() })
}

/// A: the object thread `a` waited on. The thread is released: poked, it restarts its call on
/// a now empty slot and takes a capability fault; restarted elsewhere, it runs.
fn thread_after_its_object(lab: &mut Lab, scene: &Scene) -> Outcome {
    poke_thread(scene.a.tcb)?;
    let _ = lab.fault(&scene.a, 1);
    lab.intact("after the released thread ran")?;
    thread_still_works(&scene.a, 0x600d)
}

/// A: the thread blocked on `scene.ep`. The endpoint no longer holds it.
fn endpoint_after_its_thread(lab: &mut Lab, scene: &Scene) -> Outcome {
    poke_endpoint(scene.ep)?;
    endpoint_still_works(lab, scene.ep)
}

fn notification_after_its_waiter(lab: &mut Lab, scene: &Scene) -> Outcome {
    let ntfn = scene.ntfn;
    syscall::signal(lab.mint(ntfn, 0b1)?);
    let bits = syscall::poll(ntfn);
    ensure!(bits == 1, "a signal with no waiter left is pending as {bits:#x}, want 1");
    NTFN.store(ntfn, Ordering::SeqCst);
    lab.thread(From::Rest, Some(From::Rest), waiter, 0, true)?;
    syscall::signal(lab.mint(ntfn, 0b10)?);
    ensure!(waited(WOKE | 0b10), "a new waiter did not wake: {:x?}", log_contents());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reply objects.

fn receiver_with_reply(lab: &mut Lab) -> Made<Scene> {
    let ep = lab.make(From::Rest, ObjectType::Endpoint, 0)?;
    let reply = lab.make(From::Object(0), ObjectType::Reply, 0)?;
    EP.store(ep, Ordering::SeqCst);
    REPLY.store(reply, Ordering::SeqCst);
    let a = lab.thread(From::Object(1), Some(From::Rest), reply_receiver, 0, true)?;
    Ok(Scene { ep, reply, a, ..Scene::default() })
}

fn reply_nb_receiver(lab: &mut Lab) -> Made<Scene> {
    let ep = lab.make(From::Rest, ObjectType::Endpoint, 0)?;
    let reply = lab.make(From::Object(0), ObjectType::Reply, 0)?;
    EP.store(ep, Ordering::SeqCst);
    REPLY.store(reply, Ordering::SeqCst);
    let a = lab.thread(From::Object(1), Some(From::Rest), nb_reply_receiver, 0x52, true)?;
    ensure!(waited(RECEIVED | 0x52), "the NBRecv did not return");
    Ok(Scene { ep, reply, a, ..Scene::default() })
}

/// A: the reply object of a thread blocked in Recv(E, R). A call arrives; the thread is poked
/// and restarted.
fn receiver_after_its_reply(lab: &mut Lab, scene: &Scene) -> Outcome {
    EP.store(scene.ep, Ordering::SeqCst);
    lab.thread(From::Rest, Some(From::Rest), caller, 0x61, true)?;
    settle();
    lab.intact("after a call reached the receiver")?;
    poke_thread(scene.a.tcb)?;
    thread_still_works(&scene.a, 0x600d)
}

/// A: the thread R named as its receiver. Replying through R, NBRecv(E, R) and Recv(E, R) from
/// other threads must not touch it.
fn reply_after_its_receiver(lab: &mut Lab, scene: &Scene) -> Outcome {
    syscall::send(to(scene.reply, &[0x62]));
    lab.intact("after a reply through R")?;
    EP.store(scene.ep, Ordering::SeqCst);
    REPLY.store(scene.reply, Ordering::SeqCst);
    lab.thread(From::Rest, Some(From::Rest), nb_reply_receiver, 0x63, true)?;
    ensure!(waited(RECEIVED | 0x63), "NBRecv(E, R) from another thread did not return");
    lab.intact("after NBRecv(E, R) from another thread")?;
    reply_still_works(lab, scene.ep, scene.reply, 0x64)
}

fn reply_caller(lab: &mut Lab) -> Made<Scene> {
    let ep = lab.make(From::Rest, ObjectType::Endpoint, 0)?;
    let reply = lab.make(From::Object(0), ObjectType::Reply, 0)?;
    EP.store(ep, Ordering::SeqCst);
    REPLY.store(reply, Ordering::SeqCst);
    let b = lab.thread(From::Rest, Some(From::Rest), reply_receiver, 0, true)?;
    let a = lab.thread(From::Object(1), Some(From::Rest), caller, 0x71, true)?;
    ensure!(waited(RECEIVED | 0x71), "the server did not get the call: {:x?}", log_contents());
    Ok(Scene { ep, reply, a, b, ..Scene::default() })
}

/// A: the reply object a caller waits on. The call is over: the caller gets no answer, and
/// restarted it runs.
fn caller_after_its_reply(lab: &mut Lab, scene: &Scene) -> Outcome {
    settle();
    ensure!(
        !log_contents().iter().any(|&v| v & 0xf000_0000 == ANSWERED),
        "the caller returned from a call whose reply object was deleted: {:x?}",
        log_contents()
    );
    poke_thread(scene.a.tcb)?;
    lab.intact("after the caller was poked")?;
    thread_still_works(&scene.a, 0x600d)
}

/// A: the caller R names. Replying through R must not reach it.
fn reply_after_its_caller(lab: &mut Lab, scene: &Scene) -> Outcome {
    syscall::send(to(scene.reply, &[0x72]));
    lab.intact("after a reply to the deleted caller")?;
    let _ = Tcb(scene.b.tcb).suspend();
    reply_still_works(lab, scene.ep, scene.reply, 0x74)
}

// ---------------------------------------------------------------------------------------------
// A scheduling context lent to a passive server.

/// The server (object 1) waits in Recv(E, R) (R: object 3) without a scheduling context; the
/// client (object 2) calls with its own (object 0); the server runs on it, records the call
/// and blocks on GATE still holding it.
fn donation(lab: &mut Lab) -> Made<Scene> {
    let ep = lab.make(From::Rest, ObjectType::Endpoint, 0)?;
    let reply = lab.make(From::Object(3), ObjectType::Reply, 0)?;
    let gate = lab.make(From::Rest, ObjectType::Notification, 0)?;
    EP.store(ep, Ordering::SeqCst);
    REPLY.store(reply, Ordering::SeqCst);
    GATE.store(gate, Ordering::SeqCst);
    let server = lab.thread(From::Object(1), Some(From::Rest), gated_server, 0, true)?;
    ok(SchedContext(server.sc).unbind(), "make the server passive")?;
    let client = lab.thread(From::Object(2), Some(From::Object(0)), caller, 0x81, true)?;
    ensure!(waited(SERVED | 0x81), "the passive server did not run on the client's time: {:x?}", log_contents());
    Ok(Scene { ep, reply, ntfn: gate, sc: client.sc, a: server, b: client, ..Scene::default() })
}

/// The passive server serves a new client (it must be back in Recv, without a context).
fn donation_still_works(lab: &mut Lab, tag: u64) -> Outcome {
    lab.thread(From::Rest, Some(From::Rest), caller, tag, true)?;
    ensure!(waited(SERVED | tag), "the passive server did not take a new call: {:x?}", log_contents());
    syscall::signal(get(&GATE));
    ensure!(waited(ANSWERED | (tag + 1)), "the new client got no answer: {:x?}", log_contents());
    Ok(())
}

/// Lends the server a context until it is back in Recv, then takes it away again.
fn return_server_to_recv(lab: &mut Lab, server: &Thread, tag: u64) -> Outcome {
    let sc = lab.sched_context(From::Rest)?;
    ok(SchedContext(sc).bind(server.tcb), "lend the server a new context")?;
    syscall::signal(get(&GATE));
    ensure!(waited(GATED | tag), "the server did not run with a new context: {:x?}", log_contents());
    settle();
    ok(SchedContext(sc).unbind(), "make the server passive again")
}

/// A: the client's context, held by the server. Replying through R returns nothing to anyone;
/// the client and the server run again with new contexts.
fn donation_after_the_sc(lab: &mut Lab, scene: &Scene) -> Outcome {
    syscall::send(to(scene.reply, &[0x82]));
    lab.intact("after the reply that would return the deleted context")?;
    return_server_to_recv(lab, &scene.a, 0x81)?;
    let sc = lab.sched_context(From::Rest)?;
    ok(SchedContext(sc).bind(scene.b.tcb), "give the client a new context")?;
    ensure!(waited(ANSWERED | 0x82), "the client did not get its answer: {:x?}", log_contents());
    donation_still_works(lab, 0x90)
}

/// A: the server running on the client's context. The context and the reply still work.
fn donation_after_the_server(lab: &mut Lab, scene: &Scene) -> Outcome {
    let sc = SchedContext(scene.sc);
    ok(sc.consumed(), "consumed")?;
    syscall::send(to(scene.reply, &[0x82]));
    lab.intact("after the reply to the client")?;
    if !waited(ANSWERED | 0x82) {
        // The context did not come back with the reply: bind it by hand.
        let _ = sc.unbind();
        ok(sc.bind(scene.b.tcb), "bind the client's context back")?;
        ensure!(waited(ANSWERED | 0x82), "the client did not get its answer: {:x?}", log_contents());
    }
    ok(sc.consumed(), "consumed")?;
    thread_still_works(&scene.b, 0x600d)
}

/// A: the client, mid-call. The server keeps the context it was lent and finishes.
fn donation_after_the_client(lab: &mut Lab, scene: &Scene) -> Outcome {
    syscall::signal(get(&GATE));
    let kept = waited(GATED | 0x81);
    lab.intact("after the server went on")?;
    ensure!(kept, "the server could not run after its client was deleted: it lost the context it was lent");
    // Let the server get back to its Recv before its context is taken (on a slow board it may
    // still be on the way when its record appears).
    settle();
    syscall::send(to(scene.reply, &[0x83]));
    lab.intact("after a reply to the deleted client")?;
    let sc = SchedContext(scene.sc);
    ok(sc.consumed(), "consumed")?;
    ok(sc.unbind(), "take the context from the server")?;
    donation_still_works(lab, 0x90)
}

/// A: the reply object, mid-call. The client and server run again.
fn donation_after_the_reply(lab: &mut Lab, scene: &Scene) -> Outcome {
    syscall::signal(get(&GATE));
    settle();
    lab.intact("after the server went on")?;
    poke_thread(scene.b.tcb)?;
    let sc = SchedContext(scene.sc);
    let _ = sc.unbind();
    ok(sc.bind(scene.b.tcb), "bind the client's context to it")?;
    thread_still_works(&scene.b, 0x600d)?;
    let fresh = lab.make(From::Rest, ObjectType::Reply, 0)?;
    REPLY.store(fresh, Ordering::SeqCst);
    let server_sc = lab.sched_context(From::Rest)?;
    let _ = SchedContext(server_sc).bind(scene.a.tcb);
    thread_still_works(&scene.a, 0x600e)
}

// ---------------------------------------------------------------------------------------------
// A scheduling context bound to a thread.

fn bound_sc(lab: &mut Lab) -> Made<Scene> {
    COUNT.store(0, Ordering::SeqCst);
    let a = lab.thread(From::Object(1), Some(From::Object(0)), counter, 0, true)?;
    ensure!(yield_until(ROUNDS, || COUNT.load(Ordering::SeqCst) > 3), "the thread did not run");
    Ok(Scene { sc: a.sc, a, ..Scene::default() })
}

/// Whether COUNT grows within 50 ms (several periods of every budget the cases set).
fn counting() -> bool {
    counting_within(50_000)
}

/// Whether COUNT grows within [`MUST_US`].
fn runs() -> bool {
    counting_within(MUST_US)
}

fn counting_within(us: u64) -> bool {
    let before = COUNT.load(Ordering::SeqCst);
    wait_until(us, || COUNT.load(Ordering::SeqCst) > before + 3)
}

/// A: the context. The thread stops, and runs again with a new one.
fn thread_after_its_sc(lab: &mut Lab, scene: &Scene) -> Outcome {
    ensure!(!counting(), "the thread ran on a deleted scheduling context");
    poke_thread(scene.a.tcb)?;
    ensure!(!counting(), "the thread ran without a scheduling context after a resume");
    let sc = lab.sched_context(From::Rest)?;
    let free = lab.slot();
    ok(Tcb(scene.a.tcb).set_sched_params(ROOT_TCB, 255, 255, sc, free), "a new context")?;
    ensure!(runs(), "the thread did not run with a new context");
    thread_still_works(&scene.a, 0x600d)
}

/// A: the thread. The context is unbound and binds to a new thread.
fn sc_after_its_thread(lab: &mut Lab, scene: &Scene) -> Outcome {
    let sc = SchedContext(scene.sc);
    ok(sc.consumed(), "consumed")?;
    ok(sc.unbind(), "unbind")?;
    ensure!(sc.yield_to().is_err(), "YieldTo on a context whose thread was deleted succeeded");
    let control = SchedControl(lab.env.bootinfo.sched_control.start);
    ok(control.configure_flags(sc, 4000, 5000, 0, 0, 0), "reconfigure")?;
    let thread = lab.thread(From::Rest, None, counter, 0, false)?;
    ok(sc.bind(thread.tcb), "bind to a new thread")?;
    ok(Tcb(thread.tcb).resume(), "resume the new thread")?;
    ensure!(runs(), "a new thread did not run on the context");
    ok(sc.unbind_object(thread.tcb), "unbind the new thread")
}

// ---------------------------------------------------------------------------------------------
// A scheduling context bound to a notification.

/// The context (object 0) is bound to the notification (object 1); a thread waits on the
/// notification without a context of its own (signals lend it the notification's).
fn notification_sc(lab: &mut Lab) -> Made<Scene> {
    let sc = lab.sched_context(From::Object(0))?;
    let ntfn = lab.make(From::Object(1), ObjectType::Notification, 0)?;
    ok(SchedContext(sc).bind(ntfn), "bind the context to the notification")?;
    NTFN.store(ntfn, Ordering::SeqCst);
    let a = lab.thread(From::Rest, Some(From::Rest), waiter, 0, true)?;
    ok(SchedContext(a.sc).unbind(), "make the waiter passive")?;
    Ok(Scene { ntfn, sc, a, ..Scene::default() })
}

/// A: the notification's context. Signals lend nothing; the notification takes a new one.
fn notification_after_its_sc(lab: &mut Lab, scene: &Scene) -> Outcome {
    syscall::signal(lab.mint(scene.ntfn, 0x1)?);
    settle();
    lab.intact("after a signal to the passive waiter")?;
    let own = lab.sched_context(From::Rest)?;
    ok(SchedContext(own).bind(scene.a.tcb), "give the waiter a context")?;
    ensure!(waited(WOKE | 0x1), "the waiter did not wake with a context: {:x?}", log_contents());
    let fresh = lab.sched_context(From::Rest)?;
    ok(SchedContext(fresh).bind(scene.ntfn), "bind a new context to the notification (still bound?)")?;
    ok(SchedContext(fresh).unbind(), "unbind it")
}

/// A: the notification. The context is unbound and serves a thread.
fn sc_after_its_notification(lab: &mut Lab, scene: &Scene) -> Outcome {
    let sc = SchedContext(scene.sc);
    ok(sc.consumed(), "consumed")?;
    ok(sc.unbind(), "unbind")?;
    lab.intact("after Unbind")?;
    let ntfn = lab.make(From::Rest, ObjectType::Notification, 0)?;
    ok(sc.bind(ntfn), "bind to a new notification (still bound to the deleted one?)")?;
    ok(sc.unbind_object(ntfn), "unbind the new notification")?;
    COUNT.store(0, Ordering::SeqCst);
    let thread = lab.thread(From::Rest, None, counter, 0, false)?;
    ok(sc.bind(thread.tcb), "bind to a new thread")?;
    ok(Tcb(thread.tcb).resume(), "resume the new thread")?;
    ensure!(runs(), "a new thread did not run on the context");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A notification bound to a thread.

fn bound_notification(lab: &mut Lab) -> Made<Scene> {
    let ntfn = lab.make(From::Object(0), ObjectType::Notification, 0)?;
    let ep = lab.make(From::Rest, ObjectType::Endpoint, 0)?;
    EP.store(ep, Ordering::SeqCst);
    let a = lab.thread(From::Object(1), Some(From::Rest), bound_receiver, 0, false)?;
    ok(Tcb(a.tcb).bind_notification(ntfn), "bind the notification")?;
    ok(Tcb(a.tcb).resume(), "start the bound thread")?;
    settle();
    syscall::signal(lab.mint(ntfn, 0x4)?);
    ensure!(waited(WOKE | 0x4), "the bound signal did not wake Recv");
    Ok(Scene { ep, ntfn, a, ..Scene::default() })
}

/// A: the notification. The thread has none bound; a new one binds and wakes it.
fn thread_after_its_notification(lab: &mut Lab, scene: &Scene) -> Outcome {
    ensure!(
        Tcb(scene.a.tcb).unbind_notification().is_err(),
        "UnbindNotification succeeded: the thread was still bound to the deleted notification"
    );
    lab.intact("after UnbindNotification")?;
    poke_thread(scene.a.tcb)?;
    let fresh = lab.make(From::Rest, ObjectType::Notification, 0)?;
    ok(Tcb(scene.a.tcb).bind_notification(fresh), "bind a new notification")?;
    syscall::signal(lab.mint(fresh, 0x8)?);
    ensure!(waited(WOKE | 0x8), "a new bound notification did not wake the thread: {:x?}", log_contents());
    syscall::nb_send(to(scene.ep, &[1]));
    ensure!(waited(WOKE), "a message did not wake the thread");
    thread_still_works(&scene.a, 0x600d)
}

/// A: the bound thread. Signals stay pending; a new thread binds.
fn notification_after_its_thread(lab: &mut Lab, scene: &Scene) -> Outcome {
    let ntfn = scene.ntfn;
    syscall::signal(lab.mint(ntfn, 0x10)?);
    lab.intact("after a signal")?;
    let bits = syscall::poll(ntfn);
    ensure!(bits == 0x10, "a signal with no bound thread left is pending as {bits:#x}, want 0x10");
    let thread = lab.thread(From::Rest, Some(From::Rest), bound_receiver, 0, false)?;
    ok(
        Tcb(thread.tcb).bind_notification(ntfn),
        "bind the notification to a new thread (still bound to the deleted one?)",
    )?;
    ok(Tcb(thread.tcb).resume(), "start the new thread")?;
    settle();
    syscall::signal(lab.mint(ntfn, 0x20)?);
    ensure!(waited(WOKE | 0x20), "the new bound thread did not wake: {:x?}", log_contents());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// An IRQ handler's notification.

const IRQ_BADGE: u64 = 0x4;

fn irq_notification(lab: &mut Lab) -> Made<Scene> {
    let irq = match get(&SWEEP_IRQ) {
        0 => {
            let irq = lab.slot();
            ok(IrqControl(slot::IRQ_CONTROL).get(VTIMER_IRQ, ROOT, irq, DEPTH), "IRQControl Get")?;
            irq
        }
        sweeping => sweeping,
    };
    let ntfn = lab.make(From::Object(0), ObjectType::Notification, 0)?;
    ok(IrqHandler(irq).set_notification(lab.mint(ntfn, IRQ_BADGE)?), "SetNotification")?;
    vtimer_in(1_000);
    let bits = poll_for(ntfn, MUST_US);
    vtimer_off();
    ensure!(bits == IRQ_BADGE, "the interrupt did not arrive before the deletion: {bits:#x}");
    ok(IrqHandler(irq).ack(), "Ack")?;
    Ok(Scene { ntfn, irq, ..Scene::default() })
}

/// A: the handler's notification. Interrupts and Acks reach nothing; a new notification works.
fn handler_after_its_notification(lab: &mut Lab, scene: &Scene) -> Outcome {
    let irq = IrqHandler(scene.irq);
    let fresh = lab.make(From::Rest, ObjectType::Notification, 0)?;
    vtimer_in(1_000);
    ensure!(poll_for(fresh, QUIET_US) == 0, "an unrelated notification was signalled");
    lab.intact("after an interrupt")?;
    ok(irq.ack(), "Ack")?;
    ensure!(poll_for(fresh, QUIET_US) == 0, "an unrelated notification was signalled after the Ack");
    lab.intact("after an interrupt following the Ack")?;
    vtimer_off();
    ok(irq.clear(), "Clear")?;
    ok(irq.ack(), "Ack")?;
    ok(irq.set_notification(lab.mint(fresh, 0x8)?), "a new notification")?;
    vtimer_in(1_000);
    let bits = poll_for(fresh, MUST_US);
    vtimer_off();
    ensure!(bits == 0x8, "the new notification got {bits:#x}, want 0x8");
    ok(irq.ack(), "Ack")
}

// ---------------------------------------------------------------------------------------------
// Fault and timeout endpoints.

fn fault_handler(lab: &mut Lab, faulted: bool) -> Made<Scene> {
    let ep = lab.make(From::Object(0), ObjectType::Endpoint, 0)?;
    let a = lab.thread(From::Object(1), Some(From::Rest), faulter, 0x91, false)?;
    ok(Tcb(a.tcb).set_space(ep, slot::INIT_THREAD_CNODE, 0, OWN, 0), "set the fault endpoint")?;
    if faulted {
        ok(Tcb(a.tcb).resume(), "start the thread")?;
        settle();
    }
    Ok(Scene { ep, a, ..Scene::default() })
}

/// A: the fault endpoint. Faults go nowhere (the thread stops); with a new one they arrive.
fn thread_after_its_fault_endpoint(lab: &mut Lab, scene: &Scene) -> Outcome {
    let tcb = Tcb(scene.a.tcb);
    ok(tcb.resume(), "resume")?;
    settle();
    lab.intact("after the thread faulted")?;
    poke_thread(scene.a.tcb)?;
    lab.intact("after the thread faulted again")?;
    ensure!(log_contents().is_empty(), "the faulting thread went on: {:x?}", log_contents());
    let handler = lab.mint(lab.faults, scene.a.badge)?;
    ok(tcb.set_space(handler, slot::INIT_THREAD_CNODE, 0, OWN, 0), "a new fault endpoint")?;
    ok(tcb.suspend(), "suspend")?;
    ok(tcb.resume(), "resume")?;
    lab.fault(&scene.a, 6)?;
    thread_still_works(&scene.a, 0x600d)
}

/// A spinner on a small budget whose timeout endpoint is object 0; `timed_out`: it is started
/// and (object 1) blocks sending its first timeout fault, which nobody receives.
///
/// The spinner and the suite share priority 255 and the spinner never yields, so the suite has
/// the CPU again only once the spinner's budget has run out: whenever the suite sees that the
/// spinner ran, its budget was used up, and with a timeout endpoint it then sent its fault.
fn timeout_handler(lab: &mut Lab, timed_out: bool) -> Made<Scene> {
    let ep = lab.make(From::Object(0), ObjectType::Endpoint, 0)?;
    COUNT.store(0, Ordering::SeqCst);
    let home = if timed_out { From::Object(1) } else { From::Rest };
    let a = lab.thread(home, Some(From::Rest), spinner, 0, false)?;
    let control = SchedControl(lab.env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(a.sc), SPIN_BUDGET_US, SPIN_PERIOD_US, 0, 0x77, 0), "a small budget")?;
    if !timed_out {
        ok(Tcb(a.tcb).set_timeout_endpoint(ep), "set the timeout endpoint")?;
        return Ok(Scene { ep, a, ..Scene::default() });
    }
    // It first runs without the endpoint. With it, its first overrun blocks it for good, and on
    // a loaded host that may be a budget QEMU was stalled through (the counter runs on while no
    // instruction does): it would block before counting once. Without it, refills follow.
    ok(Tcb(a.tcb).resume(), "start the spinner")?;
    ensure!(wait_until(MUST_US, || COUNT.load(Ordering::Relaxed) > 0), "the spinner did not run");
    ok(Tcb(a.tcb).set_timeout_endpoint(ep), "set the timeout endpoint")?;
    // Once its context is charged again, it has overrun with the endpoint set (see above).
    let sc = SchedContext(a.sc);
    ok(sc.consumed(), "consumed (read, so it restarts from 0)")?;
    ensure!(
        wait_until(MUST_US, || sc.consumed().is_ok_and(|us| us > 0)),
        "the spinner was not scheduled again after its timeout endpoint was set"
    );
    ensure!(!counting(), "the spinner kept running after its timeout fault");
    Ok(Scene { ep, a, ..Scene::default() })
}

/// A: the timeout endpoint. Budget overruns go nowhere (the thread just waits for its next
/// refill); with a new endpoint the timeout fault arrives.
fn thread_after_its_timeout_endpoint(lab: &mut Lab, scene: &Scene) -> Outcome {
    let tcb = Tcb(scene.a.tcb);
    let before = COUNT.load(Ordering::Relaxed);
    ok(tcb.resume(), "start the spinner")?;
    // Seen to have run, the spinner has used up its budget (see `timeout_handler`).
    ensure!(wait_until(MUST_US, || COUNT.load(Ordering::Relaxed) > before), "the spinner never ran");
    lab.intact("after the budget ran out")?;
    let first = COUNT.load(Ordering::Relaxed);
    ensure!(
        wait_until(MUST_US, || COUNT.load(Ordering::Relaxed) > first),
        "the spinner stopped after its budget ran out with its timeout endpoint deleted"
    );
    lab.intact("after the budget ran out again")?;
    let fresh = lab.make(From::Rest, ObjectType::Endpoint, 0)?;
    let reply = lab.make(From::Rest, ObjectType::Reply, 0)?;
    ok(tcb.set_timeout_endpoint(fresh), "a new timeout endpoint")?;
    let end = now_us() + MUST_US;
    while now_us() < end {
        let got = syscall::nb_recv(fresh, reply);
        if got.info.label() == 5 {
            ensure!(got.mrs[0] == 0x77, "timeout badge {:#x}", got.mrs[0]);
            return ok(tcb.suspend(), "stop the spinner");
        }
        syscall::yield_now();
    }
    Err(String::from("no timeout fault on the new timeout endpoint"))
}

// ---------------------------------------------------------------------------------------------
// The IPC buffer.

fn ipc_buffer(lab: &mut Lab) -> Made<Scene> {
    let ep = lab.make(From::Rest, ObjectType::Endpoint, 0)?;
    let reply = lab.make(From::Rest, ObjectType::Reply, 0)?;
    let frame = lab.make(From::Object(0), ObjectType::SmallPage, 0)?;
    lab.map(OWN, frame, BUFFER_AT, CapRights::READ_WRITE)?;
    EP.store(ep, Ordering::SeqCst);
    let a = lab.thread(From::Rest, Some(From::Rest), long_caller, 0xa1, false)?;
    ok(Tcb(a.tcb).set_ipc_buffer(BUFFER_AT, frame), "set the IPC buffer")?;
    ok(Tcb(a.tcb).resume(), "start the caller")?;
    settle();
    // One round trip through the buffer, to see that it is used.
    let request = take_call(ep, reply)?;
    ensure!(request.info.length() == 10, "the long call arrived with length {}", request.info.length());
    answer_long(reply, 0xb0);
    let buffer = BUFFER_AT as *const u64;
    // SAFETY: the frame is mapped at BUFFER_AT; word 1 + i is MR i of the buffer.
    let mr4 = unsafe { buffer.add(5).read_volatile() };
    ensure!(mr4 == 0xb4, "the reply did not reach the IPC buffer: MR4 {mr4:#x}");
    ensure!(waited(ANSWERED | 10), "the caller did not return: {:x?}", log_contents());
    settle();
    Ok(Scene { ep, reply, a, ..Scene::default() })
}

fn take_call(ep: CPtr, reply: CPtr) -> Made<Registers> {
    for _ in 0..ROUNDS {
        let got = syscall::nb_recv(ep, reply);
        if got.info.length() > 0 {
            return Ok(got);
        }
        syscall::yield_now();
    }
    Err(String::from("no call arrived"))
}

/// Replies with 10 words: MR i = base + i.
fn answer_long(reply: CPtr, base: u64) {
    let buffer = hmk_sys::ipc_buffer::ipc_buffer();
    for i in 4..10 {
        buffer.msg[i] = base + i as u64;
    }
    let mrs = [base, base + 1, base + 2, base + 3];
    syscall::send(Registers { cap_or_badge: reply, info: MessageInfo::new(0, 0, 0, 10), mrs });
}

/// A: the IPC buffer frame. The kernel neither reads the caller's words 4..9 from it nor
/// writes the answer's into it.
fn thread_after_its_ipc_buffer(lab: &mut Lab, scene: &Scene) -> Outcome {
    let request = take_call(scene.ep, scene.reply)?;
    let words = hmk_sys::ipc_buffer::ipc_buffer().msg;
    let upto = (request.info.length() as usize).clamp(4, 10);
    ensure!(
        !words[4..upto].iter().any(|&w| is_pattern(w)),
        "the call carried words read from the deleted IPC buffer: {:x?}",
        &words[4..upto]
    );
    answer_long(scene.reply, 0xc0);
    lab.intact("after a long reply to the thread")?;
    ensure!(
        yield_until(ROUNDS, || log_contents().iter().filter(|&&v| v & 0xf000_0000 == ANSWERED).count() >= 2),
        "the caller did not return from its second call: {:x?}",
        log_contents()
    );
    settle();
    lab.intact("after the thread called again")?;
    thread_still_works(&scene.a, 0x600d)
}

// ---------------------------------------------------------------------------------------------
// Address and capability spaces.

/// A VSpace (object 0) with the suite's image mapped (copies of its frame capabilities); a
/// thread counts in it.
fn own_vspace(lab: &mut Lab) -> Made<Scene> {
    let vspace = lab.make(From::Object(0), ObjectType::VSpace, 0)?;
    ok(AsidPool(slot::INIT_THREAD_ASID_POOL).assign(vspace), "assign an ASID")?;
    let frames = lab.env.bootinfo.user_image_frames;
    ensure!(frames.len() < 600, "the image has {} frames: too many for a case's slots", frames.len());
    for (i, frame) in (frames.start..frames.end).enumerate() {
        let copy = lab.slot();
        ok(ROOT.copy(copy, DEPTH, ROOT, frame, DEPTH, CapRights::ALL), "copy an image frame")?;
        lab.map(vspace, copy, IMAGE_BASE + i as u64 * PAGE, CapRights::ALL)?;
    }
    COUNT.store(0, Ordering::SeqCst);
    let a = counter_in(lab, From::Object(1), vspace)?;
    Ok(Scene { a, space: vspace, ..Scene::default() })
}

/// A counting thread in `vspace`.
fn counter_in(lab: &mut Lab, home: From, vspace: CPtr) -> Made<Thread> {
    let a = lab.thread(home, Some(From::Rest), counter, 0, false)?;
    let handler = lab.mint(lab.faults, a.badge)?;
    ok(Tcb(a.tcb).set_space(handler, slot::INIT_THREAD_CNODE, 0, vspace, 0), "run the thread in the VSpace")?;
    ok(Tcb(a.tcb).resume(), "start the thread")?;
    ensure!(runs(), "the thread did not run in its VSpace");
    Ok(a)
}

/// A: the thread. The VSpace still maps, and a new thread runs in it.
fn vspace_after_its_thread(lab: &mut Lab, scene: &Scene) -> Outcome {
    let frame = lab.make(From::Rest, ObjectType::SmallPage, 0)?;
    lab.map(scene.space, frame, TABLE_AT, CapRights::READ_WRITE)?;
    ok(Frame(frame).unmap(), "unmap")?;
    lab.intact("after a map and an unmap in the VSpace")?;
    counter_in(lab, From::Rest, scene.space)?;
    Ok(())
}

/// A: the VSpace. The thread must not run on through stale translations; it faults, and in
/// the suite's VSpace it runs again.
fn thread_after_its_vspace(lab: &mut Lab, scene: &Scene) -> Outcome {
    ensure!(!counting(), "the thread kept running in its deleted VSpace");
    let _ = lab.fault(&scene.a, 6);
    poke_thread(scene.a.tcb)?;
    ensure!(!counting(), "the thread ran in its deleted VSpace after a resume");
    lab.intact("after the thread was resumed")?;
    let handler = lab.mint(lab.faults, scene.a.badge)?;
    ok(Tcb(scene.a.tcb).set_space(handler, slot::INIT_THREAD_CNODE, 0, OWN, 0), "the suite's VSpace")?;
    thread_still_works(&scene.a, 0x600d)
}

/// The last-level table (object 0) under TABLE_AT maps a frame a thread keeps storing to.
fn own_page_table(lab: &mut Lab) -> Made<Scene> {
    let frame = lab.make(From::Rest, ObjectType::SmallPage, 0)?;
    // Add tables from the rest until the frame maps; then swap the last one for object 0.
    let mut last = None;
    for _ in 0..4 {
        match Frame(frame).map(OWN, TABLE_AT, CapRights::READ_WRITE, vm_attributes::DEFAULT) {
            Ok(()) => break,
            Err(Error::FailedLookup) => {
                let table = lab.make(From::Rest, ObjectType::PageTable, 0)?;
                ok(PageTable(table).map(OWN, TABLE_AT, vm_attributes::DEFAULT), "map a page table")?;
                last = Some(table);
            }
            Err(e) => return Err(format!("map the frame: {e:?}")),
        }
    }
    let last = last.ok_or("TABLE_AT already had a last-level table")?;
    ok(Frame(frame).unmap(), "unmap the frame")?;
    ok(PageTable(last).unmap(), "unmap the rest's last-level table")?;
    let table = lab.make(From::Object(0), ObjectType::PageTable, 0)?;
    ok(PageTable(table).map(OWN, TABLE_AT, vm_attributes::DEFAULT), "map object 0 as the last-level table")?;
    ok(Frame(frame).map(OWN, TABLE_AT, CapRights::READ_WRITE, vm_attributes::DEFAULT), "map the frame")?;
    COUNT.store(0, Ordering::SeqCst);
    let a = lab.thread(From::Rest, Some(From::Rest), storer, 0, true)?;
    ensure!(runs(), "the storing thread did not run");
    Ok(Scene { a, ..Scene::default() })
}

/// A: the page table. The thread's next store faults (no stale translation); a new table and
/// frame at the same address let it go on.
fn thread_after_its_page_table(lab: &mut Lab, scene: &Scene) -> Outcome {
    let fault = lab.fault(&scene.a, 6)?;
    ensure!(fault.mrs[1] == TABLE_AT, "fault address {:#x}, want {TABLE_AT:#x}", fault.mrs[1]);
    ensure!(!counting(), "the thread kept storing through a deleted page table");
    lab.intact("after the thread's store faulted")?;
    let table = lab.make(From::Rest, ObjectType::PageTable, 0)?;
    ok(
        PageTable(table).map(OWN, TABLE_AT, vm_attributes::DEFAULT),
        "map a new table where the deleted one was (the entry above still names it?)",
    )?;
    let frame = lab.make(From::Rest, ObjectType::SmallPage, 0)?;
    ok(Frame(frame).map(OWN, TABLE_AT, CapRights::READ_WRITE, vm_attributes::DEFAULT), "map a new frame")?;
    syscall::send(Registers { cap_or_badge: lab.fault_reply, info: MessageInfo::new(0, 0, 0, 0), mrs: [0; 4] });
    ensure!(runs(), "the thread did not go on after the fault was resolved");
    // SAFETY: the new frame is mapped read-write at TABLE_AT.
    let stored = unsafe { (TABLE_AT as *const u64).read_volatile() };
    ensure!(stored != 0, "the thread's stores did not reach the new frame");
    thread_still_works(&scene.a, 0x600d)
}

/// A CNode (object 0, 16 slots, guard to 64 bits) holding an endpoint at slot 1 is the CSpace
/// root of a thread that sends through it.
fn own_cnode(lab: &mut Lab) -> Made<Scene> {
    let cnode = lab.make(From::Object(0), ObjectType::CNode, 4)?;
    let ep = lab.make(From::Rest, ObjectType::Endpoint, 0)?;
    ok(CNode(cnode).copy(1, 4, ROOT, ep, DEPTH, CapRights::ALL), "an endpoint in the CNode")?;
    let a = sender_in(lab, From::Object(1), cnode, ep, 0xc1)?;
    Ok(Scene { ep, a, space: cnode, ..Scene::default() })
}

/// A thread whose CSpace root is `cnode`, sending `tag` through its slot 1 (`ep`).
fn sender_in(lab: &mut Lab, home: From, cnode: CPtr, ep: CPtr, tag: u64) -> Made<Thread> {
    let a = lab.thread(home, Some(From::Rest), own_cspace_sender, tag, false)?;
    let handler = lab.mint(lab.faults, a.badge)?;
    ok(Tcb(a.tcb).set_space(handler, cnode, cnode_cap_data(0, 60), OWN, 0), "the CNode as CSpace root")?;
    ok(Tcb(a.tcb).resume(), "start the thread")?;
    expect_on(ep, tag, "the thread sending through its CSpace")?;
    settle();
    Ok(a)
}

/// A: the thread. The CNode still holds and takes capabilities, and serves a new thread.
fn cnode_after_its_thread(lab: &mut Lab, scene: &Scene) -> Outcome {
    let cnode = CNode(scene.space);
    ok(cnode.copy(2, 4, ROOT, scene.ep, DEPTH, CapRights::ALL), "copy into the CNode")?;
    ok(cnode.delete(2, 4), "delete from the CNode")?;
    ok(cnode.revoke(1, 4), "revoke in the CNode")?;
    lab.intact("after CNode operations")?;
    sender_in(lab, From::Rest, scene.space, scene.ep, 0xc2)?;
    Ok(())
}

/// A: the CSpace root. The thread's message already queued arrives; its next send is a
/// capability fault; with the suite's CSpace it runs again.
fn thread_after_its_cnode(lab: &mut Lab, scene: &Scene) -> Outcome {
    let _ = syscall::nb_recv(scene.ep, 0);
    lab.fault(&scene.a, 1)?;
    lab.intact("after the thread's capability fault")?;
    poke_thread(scene.a.tcb)?;
    let handler = lab.mint(lab.faults, scene.a.badge)?;
    ok(Tcb(scene.a.tcb).set_space(handler, slot::INIT_THREAD_CNODE, 0, OWN, 0), "the suite's CSpace")?;
    thread_still_works(&scene.a, 0x600d)
}
