//! Regression cases for the kernel-integrity findings (issue 9), numbered as the issue numbers
//! them: each is a sequence of ordinary invocations that broke isolation or MCS accounting
//! before its fix. Cases that reuse a deleted object's memory retype it into a frame, fill it
//! with a pattern and check the kernel wrote nothing into it afterwards.

use crate::check::{ensure, expect_error, ok};
use crate::env::{DEPTH, Env, ROOT};
use crate::threads::{
    LOG_LEN, counter, elapsed_us, log_contents, record, reset_records, spawn, spawn_from, yield_until,
};
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use hmk_sys::bootinfo::slot;
use hmk_sys::error::Error;
use hmk_sys::invocation::{CPtr, SchedContext, SchedControl, Tcb, Untyped, UserContext, error_detail};
use hmk_sys::message::{CapRights, MessageInfo};
use hmk_sys::object::{ObjectType, vm_attributes};
use hmk_sys::syscall::{self, Registers};

type Result = crate::check::Outcome;
type Made<T> = core::result::Result<T, String>;

pub const CASES: &[(&str, crate::cases::Case)] = &[
    ("integrity_1_untyped_copy_never_overlaps", untyped_copy_never_overlaps),
    ("integrity_1_copy_after_revoke_gives_cleared_memory", copy_after_revoke_gives_cleared_memory),
    ("integrity_2_reply_forgets_a_deleted_receiver", reply_forgets_a_deleted_receiver),
    ("integrity_3_reply_forgets_a_deleted_donated_context", reply_forgets_a_deleted_donated_context),
    ("integrity_4_budget_at_a_receive_is_not_a_timeout", budget_at_a_receive_is_not_a_timeout),
    ("integrity_4_timeout_at_a_system_call_restarts_it", timeout_at_a_system_call_restarts_it),
    ("integrity_5_syscall_heavy_thread_keeps_its_share", syscall_heavy_thread_keeps_its_share),
    ("integrity_6_set_priority_keeps_a_throttled_thread_throttled", set_priority_keeps_throttled),
    ("integrity_7_passive_server_keeps_a_dead_clients_context", passive_server_keeps_dead_clients_context),
    ("integrity_7_deleted_passive_server_gives_the_context_back", deleted_server_gives_context_back),
    ("integrity_8_user_numbers_are_checked_not_wrapped", user_numbers_are_checked),
];

const ROOT_TCB: Tcb = Tcb(slot::INIT_THREAD_TCB);
/// Where these cases map the frames they check.
const PROBE: u64 = 0x30_0000_0000;
const PATTERN: u64 = 0xa5a5_5a5a_a5a5_5a5a;
const PAGE_WORDS: usize = 512;

/// Capabilities the workers use.
static ENDPOINT: AtomicU64 = AtomicU64::new(0);
static REPLY: AtomicU64 = AtomicU64::new(0);
static NOTIFICATION: AtomicU64 = AtomicU64::new(0);

fn message(words: &[u64]) -> Registers {
    let mut mrs = [0; 4];
    mrs[..words.len()].copy_from_slice(words);
    Registers { cap_or_badge: 0, info: MessageInfo::new(0, 0, 0, words.len() as u64), mrs }
}

fn retype_into(untyped: CPtr, env: &mut Env, kind: ObjectType, bits: u64) -> Made<CPtr> {
    let dest = env.slot();
    ok(Untyped(untyped).retype(kind, bits, ROOT, 0, 0, dest, 1), "retype")?;
    Ok(dest)
}

fn words_at(vaddr: u64) -> *mut u64 {
    vaddr as *mut u64
}

/// Retypes `untyped` (emptied) into one 4 KiB frame, maps it at `vaddr` and fills it with the
/// pattern.
fn pattern_frame(env: &mut Env, untyped: CPtr, vaddr: u64) -> Made<CPtr> {
    let frame = retype_into(untyped, env, ObjectType::SmallPage, 0)?;
    crate::vm::map(env, slot::INIT_THREAD_VSPACE, frame, vaddr, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    for i in 0..PAGE_WORDS {
        // SAFETY: the frame is mapped read-write at `vaddr` and used by nothing else.
        unsafe { words_at(vaddr).add(i).write_volatile(PATTERN) };
    }
    Ok(frame)
}

/// The frame at `vaddr` still holds the pattern: the kernel wrote nothing into it.
fn pattern_intact(vaddr: u64) -> Result {
    for i in 0..PAGE_WORDS {
        // SAFETY: as in `pattern_frame`.
        let word = unsafe { words_at(vaddr).add(i).read_volatile() };
        ensure!(word == PATTERN, "the kernel wrote {word:#x} at byte {:#x} of a user frame", i * 8);
    }
    Ok(())
}

/// 1. A copy of a childless untyped and the original never hand out the same memory: the
///    original is full while the copy exists.
fn untyped_copy_never_overlaps(env: &mut Env) -> Result {
    let original = env.make(ObjectType::Untyped, 12)?;
    let copy = env.slot();
    ok(ROOT.copy(copy, DEPTH, ROOT, original, DEPTH, CapRights::ALL), "copy the untyped")?;
    let dest = env.slot();
    expect_error(Untyped(original).retype(ObjectType::Notification, 0, ROOT, 0, 0, dest, 1), Error::NotEnoughMemory)?;
    let frame = retype_into(copy, env, ObjectType::SmallPage, 0)?;
    crate::vm::map(env, slot::INIT_THREAD_VSPACE, frame, PROBE, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    // A copy of an untyped with children is refused (seL4: revoke first).
    let second = env.slot();
    expect_error(ROOT.copy(second, DEPTH, ROOT, copy, DEPTH, CapRights::ALL), Error::RevokeFirst)?;
    // Once the copy is gone the original makes objects again, from a cleared block.
    ok(ROOT.revoke(original, DEPTH), "revoke the original")?;
    let notification = retype_into(original, env, ObjectType::Notification, 0)?;
    ensure!(syscall::poll(notification) == 0, "a fresh notification has a pending word");
    Ok(())
}

/// 1 (and issue 10's item 2). Revoke, then copy: objects made from the copy lie in memory the
/// kernel cleared.
fn copy_after_revoke_gives_cleared_memory(env: &mut Env) -> Result {
    let original = env.make(ObjectType::Untyped, 12)?;
    let vaddr = PROBE + 0x1000;
    pattern_frame(env, original, vaddr)?;
    ok(ROOT.revoke(original, DEPTH), "revoke the frame")?;
    let copy = env.slot();
    ok(ROOT.copy(copy, DEPTH, ROOT, original, DEPTH, CapRights::ALL), "copy the untyped")?;
    let frame = retype_into(copy, env, ObjectType::SmallPage, 0)?;
    crate::vm::map(env, slot::INIT_THREAD_VSPACE, frame, vaddr, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    for i in 0..PAGE_WORDS {
        // SAFETY: mapped read-write just above.
        let word = unsafe { words_at(vaddr).add(i).read_volatile() };
        ensure!(word == 0, "a new frame holds {word:#x} at word {i}: memory not cleared");
    }
    Ok(())
}

/// Receives without blocking once (nobody sends), records, stops.
extern "C" fn nb_recv_once(index: u64) -> ! {
    syscall::nb_recv(ENDPOINT.load(Ordering::SeqCst), REPLY.load(Ordering::SeqCst));
    record(index);
    crate::threads::stop_self(index)
}

/// 2. NBRecv(E, R) with no sender leaves no link from R to the thread: delete the thread,
///    reuse its memory, and another NBRecv(E, R) writes nothing into it.
fn reply_forgets_a_deleted_receiver(env: &mut Env) -> Result {
    reset_records();
    ENDPOINT.store(env.make(ObjectType::Endpoint, 0)?, Ordering::SeqCst);
    REPLY.store(env.make(ObjectType::Reply, 0)?, Ordering::SeqCst);
    let memory = env.make(ObjectType::Untyped, 12)?;
    spawn_from(env, Some(memory), None, 0, nb_recv_once, 255, true)?;
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the receiver did not run");
    ok(ROOT.revoke(memory, DEPTH), "delete the receiver")?;
    pattern_frame(env, memory, PROBE)?;
    syscall::nb_recv(ENDPOINT.load(Ordering::SeqCst), REPLY.load(Ordering::SeqCst));
    pattern_intact(PROBE)
}

/// Takes one call, records, then waits on the notification holding the call; records again.
extern "C" fn holding_server(index: u64) -> ! {
    syscall::recv(ENDPOINT.load(Ordering::SeqCst), REPLY.load(Ordering::SeqCst));
    record(100 + index);
    syscall::wait(NOTIFICATION.load(Ordering::SeqCst));
    record(200 + index);
    crate::threads::stop_self(index)
}

/// Calls the endpoint once, records the answer plus 500, stops.
extern "C" fn call_once(index: u64) -> ! {
    let answer = syscall::call(Registers { cap_or_badge: ENDPOINT.load(Ordering::SeqCst), ..message(&[7]) });
    record(500 + answer.mrs[0]);
    crate::threads::stop_self(index)
}

/// A passive server (index 0) holding a call from a client (index 1) on the client's
/// scheduling context. The client's TCB and context come from the untyped given.
fn passive_server_holding_a_call(
    env: &mut Env,
    client_tcb_memory: Option<CPtr>,
    client_sc_memory: Option<CPtr>,
) -> Made<(crate::threads::Worker, crate::threads::Worker)> {
    reset_records();
    ENDPOINT.store(env.make(ObjectType::Endpoint, 0)?, Ordering::SeqCst);
    REPLY.store(env.make(ObjectType::Reply, 0)?, Ordering::SeqCst);
    NOTIFICATION.store(env.make(ObjectType::Notification, 0)?, Ordering::SeqCst);
    let server = spawn(env, 0, holding_server, 255, true)?;
    yield_until(5, || false);
    ok(SchedContext(server.sc).unbind(), "make the server passive")?;
    let client = spawn_from(env, client_tcb_memory, client_sc_memory, 1, call_once, 255, true)?;
    ensure!(
        yield_until(20, || log_contents() == [100]),
        "the passive server did not take the call: {:?}",
        log_contents()
    );
    Ok((server, client))
}

/// 3. A passive server holds a client's donated scheduling context; the context is deleted and
///    its memory reused; a reply through the reply object touches none of it.
fn reply_forgets_a_deleted_donated_context(env: &mut Env) -> Result {
    let memory = env.make(ObjectType::Untyped, 12)?;
    passive_server_holding_a_call(env, None, Some(memory))?;
    ok(ROOT.revoke(memory, DEPTH), "delete the donated scheduling context")?;
    pattern_frame(env, memory, PROBE)?;
    syscall::send(Registers { cap_or_badge: REPLY.load(Ordering::SeqCst), ..message(&[1]) });
    yield_until(10, || false);
    pattern_intact(PROBE)?;
    // The client was answered but has no scheduling context left: it cannot run.
    ensure!(log_contents() == [100], "a thread ran without a scheduling context: {:?}", log_contents());
    Ok(())
}

/// Receives on the endpoint forever, recording each message's first word.
extern "C" fn receive_forever(_: u64) -> ! {
    loop {
        let got = syscall::recv(ENDPOINT.load(Ordering::SeqCst), 0);
        record(got.mrs[0]);
    }
}

/// 4. A budget-limited thread with a timeout handler that blocks in Recv is in one queue only:
///    entering the kernel for the receive is not a timeout, and the receive happens once.
fn budget_at_a_receive_is_not_a_timeout(env: &mut Env) -> Result {
    reset_records();
    ENDPOINT.store(env.make(ObjectType::Endpoint, 0)?, Ordering::SeqCst);
    let timeout_ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    let worker = spawn(env, 0, receive_forever, 255, false)?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(worker.sc), 20_000, 100_000, 0, 0, 0), "a sporadic budget")?;
    ok(Tcb(worker.tcb).set_timeout_endpoint(timeout_ep), "the timeout endpoint")?;
    ok(Tcb(worker.tcb).resume(), "start")?;
    yield_until(5, || false);
    let fault = syscall::nb_recv(timeout_ep, reply);
    ensure!(fault.info.label() == 0 && fault.info.length() == 0, "a timeout fault for a receive: {fault:?}");
    syscall::nb_send(Registers { cap_or_badge: ENDPOINT.load(Ordering::SeqCst), ..message(&[9]) });
    ensure!(yield_until(10, || log_contents() == [9]), "the receiver got {:?}", log_contents());
    ok(Tcb(worker.tcb).suspend(), "stop")
}

/// The last number the sender of [`timeout_at_a_system_call_restarts_it`] sent, and the first
/// number the receiver got out of sequence (0: none).
static SENT: AtomicU64 = AtomicU64::new(0);
static OUT_OF_SEQUENCE: AtomicU64 = AtomicU64::new(0);
static RECEIVED: AtomicU64 = AtomicU64::new(0);

/// Sends 1, 2, 3, ... to the endpoint without blocking, forever, spinning about 30 µs before
/// each send: its own time then outruns its budget's share even where kernel entries are slow
/// (a test kernel's invariant checker takes a millisecond per entry, charged to nobody).
extern "C" fn send_numbers(_: u64) -> ! {
    let endpoint = ENDPOINT.load(Ordering::SeqCst);
    loop {
        let (start, _) = counter();
        while elapsed_us(start) < 30 {}
        let n = SENT.load(Ordering::SeqCst) + 1;
        SENT.store(n, Ordering::SeqCst);
        syscall::nb_send(Registers { cap_or_badge: endpoint, ..message(&[n]) });
    }
}

/// Receives numbers on the endpoint forever, noting the first that is not the last one plus 1.
extern "C" fn receive_in_sequence(_: u64) -> ! {
    let endpoint = ENDPOINT.load(Ordering::SeqCst);
    loop {
        let got = syscall::recv(endpoint, 0).mrs[0];
        if got != RECEIVED.load(Ordering::SeqCst) + 1 {
            let _ = OUT_OF_SEQUENCE.compare_exchange(0, got, Ordering::SeqCst, Ordering::SeqCst);
        }
        RECEIVED.store(got, Ordering::SeqCst);
    }
}

/// `svc #0`.
const SVC_0: u32 = 0xd400_0001;

/// 4. A thread whose budget runs out as it enters the kernel for a system call gets a timeout
///    fault instead of the call: its PC is left on the `svc`, and once the handler replies the
///    call is made, once. A sender sends 1, 2, 3, ... without blocking to a receiver that is
///    always waiting; a call made twice (performed, then restarted) or skipped breaks the
///    sequence. The kernel raises the fault at an entry when less than the minimum budget
///    (20 µs) is left, so about two timeouts in three come at the `svc`, the rest at the timer.
fn timeout_at_a_system_call_restarts_it(env: &mut Env) -> Result {
    SENT.store(0, Ordering::SeqCst);
    RECEIVED.store(0, Ordering::SeqCst);
    OUT_OF_SEQUENCE.store(0, Ordering::SeqCst);
    ENDPOINT.store(env.make(ObjectType::Endpoint, 0)?, Ordering::SeqCst);
    let timeout_ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    let receiver = spawn(env, 1, receive_in_sequence, 252, true)?;
    let sender = spawn(env, 0, send_numbers, 250, false)?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(sender.sc), 500, 200_000, 0, 0, 0), "0.5 ms every 200 ms")?;
    ok(Tcb(sender.tcb).set_timeout_endpoint(timeout_ep), "the timeout endpoint")?;
    ok(Tcb(sender.tcb).resume(), "start")?;
    let (mut faults, mut at_svc) = (0u64, 0u64);
    // Until three timeouts came at the `svc` and more than ten numbers went through: on a slow
    // host a budget holds only a few sends, so the number of rounds is not fixed.
    while faults < 100 && (at_svc < 3 || RECEIVED.load(Ordering::SeqCst) <= 10) {
        // The suite blocks here; the sender and receiver run until the sender's budget ends.
        let fault = syscall::recv(timeout_ep, reply);
        ensure!(fault.info.label() == 5, "label {}, want Timeout (5)", fault.info.label());
        faults += 1;
        let pc = ok(Tcb(sender.tcb).read_registers(false, 1), "read the sender's PC")?.0[UserContext::PC];
        // SAFETY: the sender runs in the suite's own image, so its PC is a mapped code address.
        if unsafe { (pc as *const u32).read_volatile() } == SVC_0 {
            at_svc += 1;
        }
        ensure!(
            OUT_OF_SEQUENCE.load(Ordering::SeqCst) == 0,
            "after {faults} timeouts the receiver got {} after {}",
            OUT_OF_SEQUENCE.load(Ordering::SeqCst),
            RECEIVED.load(Ordering::SeqCst)
        );
        syscall::send(Registers { cap_or_badge: reply, info: MessageInfo::new(0, 0, 0, 0), mrs: [0; 4] });
    }
    ok(Tcb(sender.tcb).suspend(), "stop the sender")?;
    ok(Tcb(receiver.tcb).suspend(), "stop the receiver")?;
    ensure!(at_svc > 0, "none of {faults} timeouts came at a system call");
    let (sent, received) = (SENT.load(Ordering::SeqCst), RECEIVED.load(Ordering::SeqCst));
    ensure!(
        OUT_OF_SEQUENCE.load(Ordering::SeqCst) == 0,
        "the receiver got {} out of sequence",
        OUT_OF_SEQUENCE.load(Ordering::SeqCst)
    );
    // The sender is stopped either just before its send or after it.
    ensure!(received == sent || received + 1 == sent, "sent {sent}, received {received}");
    ensure!(received > 10, "only {received} numbers went through");
    Ok(())
}

/// Spins for about 2 ms of its own time between polls of the notification, forever, counting
/// the polls.
extern "C" fn poll_often(index: u64) -> ! {
    let notification = NOTIFICATION.load(Ordering::SeqCst);
    loop {
        let (start, _) = counter();
        while elapsed_us(start) < 2_000 {}
        syscall::poll(notification);
        crate::threads::bump(index);
    }
}

/// Runs the suite below priority 250 for `us` microseconds (while `during` is called between
/// checks of the clock), then back at 255; returns the time that passed.
fn run_below(us: u64, mut during: impl FnMut(u64)) -> Made<u64> {
    let (start, _) = counter();
    ok(ROOT_TCB.set_priority(ROOT_TCB, 240), "lower the suite")?;
    loop {
        let elapsed = elapsed_us(start);
        if elapsed >= us {
            break;
        }
        during(elapsed);
    }
    ok(ROOT_TCB.set_priority(ROOT_TCB, 255), "raise the suite")?;
    Ok(elapsed_us(start))
}

/// 5. A thread that enters the kernel often gets its budget's share: entries cost no budget
///    (two refills, no extra ones, as every module hm-parent starts has). It enters every 2 ms,
///    20 times per budget: in a test kernel each entry runs the invariant checker, whose time
///    is no thread's but still passes on the clock, so much more often would leave no time in
///    a period to use the budget. Before the fix every entry cost a whole budget.
fn syscall_heavy_thread_keeps_its_share(env: &mut Env) -> Result {
    reset_records();
    NOTIFICATION.store(env.make(ObjectType::Notification, 0)?, Ordering::SeqCst);
    let worker = spawn(env, 0, poll_often, 250, false)?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(worker.sc), 40_000, 80_000, 0, 0, 0), "40 ms every 80 ms")?;
    ok(SchedContext(worker.sc).consumed(), "reset the consumed count")?;
    ok(Tcb(worker.tcb).resume(), "start")?;
    let elapsed = run_below(1_000_000, |_| {})?;
    ok(Tcb(worker.tcb).suspend(), "stop")?;
    let consumed = ok(SchedContext(worker.sc).consumed(), "consumed")?;
    let calls = crate::threads::counter_of(0);
    // Its share is budget / period = 50%; within 5% of that.
    let share_permille = consumed * 1000 / elapsed.max(1);
    ensure!(
        (475..=525).contains(&share_permille),
        "{calls} polls used {consumed} µs of {elapsed} µs ({share_permille}‰), want 500‰ ± 25"
    );
    ensure!(calls > 50, "only {calls} system calls");
    Ok(())
}

/// 6. Re-setting a throttled thread's priority, or suspending and resuming it, does not let it
///    out of the release queue before its refill.
fn set_priority_keeps_throttled(env: &mut Env) -> Result {
    reset_records();
    let worker = spawn(env, 0, crate::threads::spin_forever_entry(), 250, false)?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(worker.sc), 1_000, 50_000, 0, 0, 0), "1 ms every 50 ms")?;
    ok(SchedContext(worker.sc).consumed(), "reset the consumed count")?;
    ok(Tcb(worker.tcb).resume(), "start")?;
    let mut last = 0u64;
    let mut failure = None;
    let mut round = 0u64;
    let elapsed = run_below(300_000, |now| {
        if now >= last + 2_000 {
            last = now;
            round += 1;
            let result = if round.is_multiple_of(2) {
                Tcb(worker.tcb).set_priority(ROOT_TCB, 250)
            } else {
                Tcb(worker.tcb).suspend().and_then(|()| Tcb(worker.tcb).resume())
            };
            if let Err(e) = result {
                failure = Some(e);
            }
        }
    })?;
    ok(Tcb(worker.tcb).suspend(), "stop")?;
    if let Some(e) = failure {
        return Err(alloc::format!("set priority / suspend / resume: {e:?}"));
    }
    let consumed = ok(SchedContext(worker.sc).consumed(), "consumed")?;
    // Its share is 2%; QEMU's late timer interrupts add a little per period (raspi4b, whose
    // emulated timer is the latest, showed up to 10% with a test kernel). 24% before the fix.
    ensure!(consumed * 100 <= elapsed * 12, "a throttled thread used {consumed} µs of {elapsed} µs");
    ensure!(round > 20, "only {round} rounds of priority changes");
    Ok(())
}

/// 7. A client dies mid-call: the passive server keeps the scheduling context it was lent and
///    runs on.
fn passive_server_keeps_dead_clients_context(env: &mut Env) -> Result {
    let (_, client) = passive_server_holding_a_call(env, None, None)?;
    ok(ROOT.delete(client.tcb, DEPTH), "delete the client")?;
    syscall::signal(NOTIFICATION.load(Ordering::SeqCst));
    ensure!(
        yield_until(20, || log_contents() == [100, 200]),
        "the server stopped with its client: {:?}",
        log_contents()
    );
    Ok(())
}

/// 7. The passive server dies mid-call instead: the client's context stays lent through the
///    reply object, and comes back to the client when the reply object goes.
fn deleted_server_gives_context_back(env: &mut Env) -> Result {
    let (server, client) = passive_server_holding_a_call(env, None, None)?;
    ok(ROOT.delete(server.tcb, DEPTH), "delete the server")?;
    ok(ROOT.delete(REPLY.load(Ordering::SeqCst), DEPTH), "delete the reply object")?;
    // The call was aborted: the client stopped, with its own context again.
    ok(Tcb(client.tcb).resume(), "resume the client")?;
    ensure!(
        yield_until(20, || log_contents().len() == 2),
        "the client did not run on its context: {:?}",
        log_contents()
    );
    Ok(())
}

/// 8. Numbers from user level are checked, never wrapped.
fn user_numbers_are_checked(env: &mut Env) -> Result {
    let sc = SchedContext(env.make(ObjectType::SchedContext, 8)?);
    let control = SchedControl(env.bootinfo.sched_control.start);
    expect_error(control.configure_flags(sc, 1000, 2000, u64::MAX, 0, 0), Error::RangeError)?;
    ensure!(error_detail(0) == 0 && error_detail(1) == 9, "range {}..{}", error_detail(0), error_detail(1));
    expect_error(control.configure_flags(sc, 1000, 2000, u64::MAX - 1, 0, 0), Error::RangeError)?;
    for bits in 48..=63 {
        let dest = env.slot();
        expect_error(env.untyped.retype(ObjectType::Untyped, bits, ROOT, 0, 0, dest, 1), Error::RangeError)?;
        ensure!(
            error_detail(0) == 0 && error_detail(1) == 47,
            "size {bits}: range {}..{}",
            error_detail(0),
            error_detail(1)
        );
    }
    let dest = env.slot();
    expect_error(env.untyped.retype(ObjectType::CNode, 43, ROOT, 0, 0, dest, 1), Error::RangeError)?;
    ensure!(error_detail(1) == 47, "CNode of 2^43 slots: range max {}", error_detail(1));
    Ok(())
}
