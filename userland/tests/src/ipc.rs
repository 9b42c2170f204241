//! Cases for IPC: endpoints (send, receive, call and reply through reply objects, the
//! non-blocking variants, FIFO order, badges), notifications (signal, wait, poll, ORing, bound
//! notifications) and what deleting an endpoint or a reply does to the threads waiting on it.

use crate::check::{ensure, expect_error, ok};
use crate::env::{DEPTH, Env, ROOT};
use crate::threads::{LOG_LEN, log_contents, record, reset_records, spawn, stop_self, yield_until};
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use hmk_sys::error::Error;
use hmk_sys::invocation::{CPtr, Tcb};
use hmk_sys::message::{CapRights, MessageInfo};
use hmk_sys::object::ObjectType;
use hmk_sys::syscall::{self, Registers};

type Result = crate::check::Outcome;

/// Capabilities the workers use, by role.
static ENDPOINT: AtomicU64 = AtomicU64::new(0);
static REPLY: AtomicU64 = AtomicU64::new(0);
static NOTIFICATION: AtomicU64 = AtomicU64::new(0);
/// Per-worker endpoint capabilities (badged differently).
static CLIENT_CAPS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

fn message(words: &[u64]) -> Registers {
    let mut mrs = [0; 4];
    mrs[..words.len()].copy_from_slice(words);
    Registers { cap_or_badge: 0, info: MessageInfo::new(0, 0, 0, words.len() as u64), mrs }
}

fn mint(env: &mut Env, src: CPtr, rights: CapRights, badge: u64) -> core::result::Result<CPtr, String> {
    let dest = env.slot();
    ok(ROOT.mint(dest, DEPTH, ROOT, src, DEPTH, rights, badge), "mint")?;
    Ok(dest)
}

/// Serves forever: replies to each call with MR0 + 1 and MR1..3 unchanged, recording badges.
extern "C" fn adding_server(_: u64) -> ! {
    let (ep, reply) = (ENDPOINT.load(Ordering::SeqCst), REPLY.load(Ordering::SeqCst));
    let mut request = syscall::recv(ep, reply);
    loop {
        record(request.cap_or_badge);
        let mut answer = request;
        answer.mrs[0] += 1;
        answer.info = MessageInfo::new(0, 0, 0, request.info.length());
        request = syscall::reply_recv(ep, answer, reply);
    }
}

fn start_server(env: &mut Env) -> core::result::Result<CPtr, String> {
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    REPLY.store(reply, Ordering::SeqCst);
    spawn(env, 0, adding_server, 255, true)?;
    // Let the server reach its Recv.
    yield_until(5, || false);
    Ok(ep)
}

pub fn call_and_reply_recv_round_trip(env: &mut Env) -> Result {
    reset_records();
    let ep = start_server(env)?;
    let badged = mint(env, ep, CapRights::ALL, 7)?;
    for round in 0..5u64 {
        let answer = syscall::call(Registers { cap_or_badge: badged, ..message(&[40 + round, 1, 2, 3]) });
        ensure!(answer.info.label() == 0, "reply label {}", answer.info.label());
        ensure!(answer.mrs == [41 + round, 1, 2, 3], "round {round}: reply {:?}", answer.mrs);
        ensure!(answer.info.length() == 4, "reply length {}", answer.info.length());
    }
    ensure!(log_contents() == [7; 5], "the server saw badges {:?}", log_contents());
    Ok(())
}

pub fn badges_identify_clients(env: &mut Env) -> Result {
    reset_records();
    let ep = start_server(env)?;
    for badge in [1u64, 2, 0xffff_ffff_ffff] {
        let cap = mint(env, ep, CapRights::ALL, badge)?;
        syscall::call(Registers { cap_or_badge: cap, ..message(&[0]) });
    }
    let unbadged = syscall::call(Registers { cap_or_badge: ep, ..message(&[9]) });
    ensure!(unbadged.mrs[0] == 10, "reply {:?}", unbadged.mrs);
    ensure!(log_contents() == [1, 2, 0xffff_ffff_ffff, 0], "badges {:?}", log_contents());
    Ok(())
}

/// Receives once and records MR0 and the badge, then stops.
extern "C" fn receive_once(index: u64) -> ! {
    let got = syscall::recv(ENDPOINT.load(Ordering::SeqCst), 0);
    record(got.mrs[0]);
    record(got.cap_or_badge);
    stop_self(index)
}

pub fn blocked_sender_meets_later_receiver(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    let badged = mint(env, ep, CapRights::ALL, 33)?;
    spawn(env, 0, receive_once, 200, false)?;
    ok(Tcb(crate::threads_self_tcb(0)).resume(), "resume the receiver later")?;
    // The suite sends first and blocks; the lower-priority receiver then runs and takes it.
    let _ =
        Tcb(hmk_sys::bootinfo::slot::INIT_THREAD_TCB).set_priority(Tcb(hmk_sys::bootinfo::slot::INIT_THREAD_TCB), 200);
    syscall::send(Registers { cap_or_badge: badged, ..message(&[99]) });
    let _ =
        Tcb(hmk_sys::bootinfo::slot::INIT_THREAD_TCB).set_priority(Tcb(hmk_sys::bootinfo::slot::INIT_THREAD_TCB), 255);
    // The receiver may have been rotated out before recording (its slice ended): below it, the
    // suite lets it finish.
    ensure!(
        crate::threads::run_lower(|| LOG_LEN.load(Ordering::SeqCst) == 2),
        "the message did not arrive: {:?}",
        log_contents()
    );
    ensure!(log_contents() == [99, 33], "got {:?}", log_contents());
    Ok(())
}

pub fn non_blocking_send_and_receive(env: &mut Env) -> Result {
    let ep = env.make(ObjectType::Endpoint, 0)?;
    // Nobody receives: the message is dropped, the sender goes on.
    syscall::nb_send(Registers { cap_or_badge: ep, ..message(&[5]) });
    let got = syscall::nb_recv(ep, 0);
    ensure!(got.info.length() == 0 && got.cap_or_badge == 0, "a dropped message arrived: {got:?}");
    Ok(())
}

/// Sends its badge's message once (blocking) and records that the send returned.
extern "C" fn send_once(index: u64) -> ! {
    let cap = CLIENT_CAPS[index as usize].load(Ordering::SeqCst);
    syscall::send(Registers { cap_or_badge: cap, ..message(&[100 + index]) });
    record(1000 + index);
    stop_self(index)
}

pub fn senders_queue_in_fifo_order(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    for (index, cap) in CLIENT_CAPS.iter().enumerate().take(3) {
        cap.store(mint(env, ep, CapRights::ALL, 10 + index as u64)?, Ordering::SeqCst);
        spawn(env, index, send_once, 255, true)?;
        // Each sender runs and blocks before the next one starts.
        yield_until(3, || false);
    }
    let mut badges = alloc::vec::Vec::new();
    for _ in 0..3 {
        let got = syscall::recv(ep, 0);
        badges.push((got.cap_or_badge, got.mrs[0]));
    }
    ensure!(badges == [(10, 100), (11, 101), (12, 102)], "received {badges:?}");
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 3), "senders did not all return");
    Ok(())
}

pub fn cancel_badged_sends_requeues(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    for (index, badge) in [(0usize, 3u64), (1, 5)] {
        CLIENT_CAPS[index].store(mint(env, ep, CapRights::ALL, badge)?, Ordering::SeqCst);
        spawn(env, index, send_once, 255, true)?;
        yield_until(3, || false);
    }
    // Cancelling badge 3's sends makes that sender restart: it queues again, behind badge 5.
    let badge3 = CLIENT_CAPS[0].load(Ordering::SeqCst);
    ok(ROOT.cancel_badged_sends(badge3, DEPTH), "cancel badge 3")?;
    yield_until(3, || false);
    let first = syscall::recv(ep, 0).cap_or_badge;
    let second = syscall::recv(ep, 0).cap_or_badge;
    ensure!((first, second) == (5, 3), "want badge 5 then 3, got {first} then {second}");
    Ok(())
}

pub fn notification_bits_are_ored(env: &mut Env) -> Result {
    let ntfn = env.make(ObjectType::Notification, 0)?;
    let one = mint(env, ntfn, CapRights::ALL, 0b001)?;
    let four = mint(env, ntfn, CapRights::ALL, 0b100)?;
    ensure!(syscall::poll(ntfn) == 0, "a fresh notification had bits");
    syscall::signal(one);
    syscall::signal(four);
    syscall::signal(one);
    ensure!(syscall::poll(ntfn) == 0b101, "bits not ORed");
    ensure!(syscall::poll(ntfn) == 0, "poll did not clear the word");
    Ok(())
}

/// Waits once on the notification and records the badge bits.
extern "C" fn wait_once(index: u64) -> ! {
    let bits = syscall::wait(NOTIFICATION.load(Ordering::SeqCst));
    record(bits);
    stop_self(index)
}

pub fn signal_wakes_a_waiter(env: &mut Env) -> Result {
    reset_records();
    let ntfn = env.make(ObjectType::Notification, 0)?;
    NOTIFICATION.store(ntfn, Ordering::SeqCst);
    spawn(env, 0, wait_once, 255, true)?;
    yield_until(3, || false);
    ensure!(LOG_LEN.load(Ordering::SeqCst) == 0, "the waiter did not block");
    let two = mint(env, ntfn, CapRights::ALL, 2)?;
    syscall::signal(two);
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the waiter did not wake");
    ensure!(log_contents() == [2], "woke with {:?}", log_contents());
    Ok(())
}

/// Binds the notification, then receives on the endpoint; records the badge it woke with.
extern "C" fn bound_receiver(index: u64) -> ! {
    let got = syscall::recv(ENDPOINT.load(Ordering::SeqCst), 0);
    record(got.cap_or_badge);
    stop_self(index)
}

pub fn bound_notification_wakes_recv(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let ntfn = env.make(ObjectType::Notification, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    let worker = spawn(env, 0, bound_receiver, 255, false)?;
    ok(Tcb(worker.tcb).bind_notification(ntfn), "bind")?;
    crate::threads::resume(worker.tcb)?;
    yield_until(3, || false);
    let eight = mint(env, ntfn, CapRights::ALL, 8)?;
    syscall::signal(eight);
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the bound receiver did not wake");
    ensure!(log_contents() == [8], "woke with {:?}", log_contents());
    // Binding errors.
    expect_error(Tcb(worker.tcb).bind_notification(ntfn), Error::IllegalOperation)?;
    ok(Tcb(worker.tcb).unbind_notification(), "unbind")?;
    expect_error(Tcb(worker.tcb).unbind_notification(), Error::IllegalOperation)?;
    // seL4: a capability that is not a notification is an illegal operation here.
    expect_error(Tcb(worker.tcb).bind_notification(ep), Error::IllegalOperation)
}

/// Receives forever on the endpoint slot, recording MR0 each time.
extern "C" fn receive_forever(_: u64) -> ! {
    loop {
        let got = syscall::recv(ENDPOINT.load(Ordering::SeqCst), 0);
        record(got.mrs[0]);
    }
}

pub fn deleting_an_endpoint_releases_its_waiter(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    spawn(env, 0, receive_forever, 200, true)?;
    let suite = Tcb(hmk_sys::bootinfo::slot::INIT_THREAD_TCB);
    // Let the lower-priority receiver block on the endpoint.
    let _ = suite.set_priority(suite, 100);
    let _ = suite.set_priority(suite, 255);
    // Deleting the endpoint releases the receiver to restart its Recv. Before it runs again,
    // a new endpoint takes the same slot: the restarted Recv waits there and gets our message.
    ok(ROOT.delete(ep, DEPTH), "delete the endpoint")?;
    ok(ROOT.delete(ep, DEPTH), "delete an empty slot")?;
    ok(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, ep, 1), "a new endpoint in the same slot")?;
    let _ = suite.set_priority(suite, 100);
    let _ = suite.set_priority(suite, 255);
    syscall::send(Registers { cap_or_badge: ep, ..message(&[77]) });
    // The receiver (priority 200) records once the suite steps aside.
    ensure!(
        crate::threads::run_lower(|| LOG_LEN.load(Ordering::SeqCst) == 1),
        "the released thread did not receive again"
    );
    ensure!(log_contents() == [77], "received {:?}", log_contents());
    Ok(())
}

/// Receives one call, records it, and stops without replying (keeping the call open).
extern "C" fn take_call_and_stop(index: u64) -> ! {
    let got = syscall::recv(ENDPOINT.load(Ordering::SeqCst), REPLY.load(Ordering::SeqCst));
    record(got.mrs[0]);
    stop_self(index)
}

/// Calls the endpoint and records what came back.
extern "C" fn call_once(index: u64) -> ! {
    let answer = syscall::call(Registers { cap_or_badge: ENDPOINT.load(Ordering::SeqCst), ..message(&[5]) });
    record(500 + answer.mrs[0]);
    stop_self(index)
}

pub fn deleting_a_reply_aborts_the_call(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    REPLY.store(reply, Ordering::SeqCst);
    spawn(env, 0, take_call_and_stop, 255, true)?;
    yield_until(3, || false);
    spawn(env, 1, call_once, 255, true)?;
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the call did not arrive");
    ok(ROOT.delete(reply, DEPTH), "delete the reply object")?;
    yield_until(20, || false);
    ensure!(log_contents() == [5], "the aborted caller returned: {:?}", log_contents());
    Ok(())
}

pub fn reply_objects_serve_many_calls(env: &mut Env) -> Result {
    reset_records();
    let ep = start_server(env)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    for index in 1..4usize {
        spawn(env, index, call_once, 255, true)?;
    }
    ensure!(
        yield_until(100, || log_contents().iter().filter(|&&v| v == 506).count() == 3),
        "not every client got its reply: {:?}",
        log_contents()
    );
    Ok(())
}

pub fn call_without_grant_gets_no_reply(env: &mut Env) -> Result {
    reset_records();
    let ep = start_server(env)?;
    let no_grant = mint(env, ep, CapRights::READ_WRITE, 0)?;
    ENDPOINT.store(no_grant, Ordering::SeqCst);
    spawn(env, 1, call_once, 255, true)?;
    yield_until(20, || false);
    ensure!(log_contents() == [0], "the server should see the call and the caller get no reply: {:?}", log_contents());
    Ok(())
}

/// IPC buffers for workers: pages of the suite's own image, whose frame capabilities the
/// BootInfo lists.
#[repr(C, align(4096))]
struct WorkerBuffers([[u64; 512]; 2]);

static mut WORKER_BUFFERS: WorkerBuffers = WorkerBuffers([[0; 512]; 2]);
/// Where the suite is linked (linker/user.ld): image frame n maps address 0x400000 + n * 4 KiB.
const IMAGE_BASE: u64 = 0x40_0000;

fn worker_buffer(index: usize) -> *mut u64 {
    // Only the address is taken; each worker writes its own buffer.
    (core::ptr::addr_of_mut!(WORKER_BUFFERS) as *mut u64).wrapping_add(index * 512)
}

/// Gives worker `tcb` the IPC buffer page `index`.
fn give_buffer(env: &Env, tcb: CPtr, index: usize) -> Result {
    let address = worker_buffer(index) as u64;
    let frame = env.bootinfo.user_image_frames.start + (address - IMAGE_BASE) / 4096;
    ok(Tcb(tcb).set_ipc_buffer(address, frame), "set the worker's IPC buffer")
}

static SEND_CAP: AtomicU64 = AtomicU64::new(0);

/// Sends one message carrying one capability (SEND_CAP) through ENDPOINT, using its own buffer.
extern "C" fn send_with_cap(index: u64) -> ! {
    let buffer = worker_buffer(index as usize);
    // SAFETY: the worker's own IPC buffer page; word 122 is caps_or_badges[0].
    unsafe { buffer.add(122).write_volatile(SEND_CAP.load(Ordering::SeqCst)) };
    let info = MessageInfo::new(0, 0, 1, 1);
    syscall::send(Registers { cap_or_badge: ENDPOINT.load(Ordering::SeqCst), info, mrs: [11, 0, 0, 0] });
    record(1);
    stop_self(index)
}

/// Points the suite's receive slot at `slot` of the root CNode.
fn receive_into(slot: CPtr) {
    let buffer = hmk_sys::ipc_buffer::ipc_buffer();
    buffer.receive_cnode = hmk_sys::bootinfo::slot::INIT_THREAD_CNODE;
    buffer.receive_index = slot;
    buffer.receive_depth = DEPTH;
}

fn cap_transfer(
    env: &mut Env,
    rights: CapRights,
    send_same_endpoint: bool,
) -> core::result::Result<(Registers, CPtr), String> {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let through = mint(env, ep, rights, 0)?;
    ENDPOINT.store(through, Ordering::SeqCst);
    let payload =
        if send_same_endpoint { mint(env, ep, CapRights::ALL, 0x55)? } else { env.make(ObjectType::Notification, 0)? };
    SEND_CAP.store(payload, Ordering::SeqCst);
    let worker = spawn(env, 0, send_with_cap, 255, false)?;
    give_buffer(env, worker.tcb, 0)?;
    crate::threads::resume(worker.tcb)?;
    let landing = env.slot();
    receive_into(landing);
    let got = syscall::recv(ep, 0);
    receive_into(0);
    Ok((got, landing))
}

pub fn granted_capability_arrives(env: &mut Env) -> Result {
    let (got, landing) = cap_transfer(env, CapRights::ALL, false)?;
    ensure!(got.info.extra_caps() == 1 && got.info.caps_unwrapped() == 0, "info {:?}", got.info);
    ensure!(got.mrs[0] == 11, "message {:?}", got.mrs);
    let kind = syscall::debug_cap_identify(landing);
    ensure!(kind == hmk_sys::object::cap_type::NOTIFICATION, "the receive slot holds type {kind}");
    Ok(())
}

pub fn no_grant_no_capability(env: &mut Env) -> Result {
    let (got, landing) = cap_transfer(env, CapRights::READ_WRITE, false)?;
    ensure!(got.info.extra_caps() == 0, "a capability travelled without grant: {:?}", got.info);
    ensure!(syscall::debug_cap_identify(landing) == 0, "the receive slot is not empty");
    Ok(())
}

pub fn own_endpoint_capability_is_unwrapped(env: &mut Env) -> Result {
    let (got, landing) = cap_transfer(env, CapRights::ALL, true)?;
    ensure!(got.info.extra_caps() == 1 && got.info.caps_unwrapped() == 1, "info {:?}", got.info);
    let badge = hmk_sys::ipc_buffer::ipc_buffer().caps_or_badges[0];
    ensure!(badge == 0x55, "unwrapped badge {badge:#x}");
    ensure!(syscall::debug_cap_identify(landing) == 0, "an unwrapped capability used the receive slot");
    Ok(())
}

pub fn passive_server_runs_on_callers_time(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    REPLY.store(reply, Ordering::SeqCst);
    let server = spawn(env, 0, adding_server, 255, true)?;
    yield_until(5, || false);
    // Take the server's own scheduling context away while it waits: it becomes passive.
    ok(hmk_sys::invocation::SchedContext(server.sc).unbind(), "make the server passive")?;
    let answer = syscall::call(Registers { cap_or_badge: ep, ..message(&[41]) });
    ensure!(answer.mrs[0] == 42, "the passive server answered {:?}", answer.mrs);
    // Clients of different priorities, each lending the server its own scheduling context.
    ENDPOINT.store(ep, Ordering::SeqCst);
    spawn(env, 1, call_once, 200, true)?;
    spawn(env, 2, call_once, 210, true)?;
    ensure!(
        crate::threads::run_lower(|| log_contents().iter().filter(|&&v| v == 506).count() == 2),
        "not every client got its answer: {:?}",
        log_contents()
    );
    // The caller's scheduling context came back each time: the suite still runs, and so do
    // the clients (they recorded after their calls returned).
    let served = log_contents().iter().filter(|&&v| v == 0).count();
    ensure!(served == 3, "the server recorded {served} calls, want 3: {:?}", log_contents());
    // A plain send reaches the server, but with no scheduling context to borrow it cannot run.
    syscall::nb_send(Registers { cap_or_badge: ep, ..message(&[1]) });
    yield_until(10, || false);
    let after = log_contents().iter().filter(|&&v| v == 0).count();
    ensure!(after == 3, "a passive server ran without a scheduling context");
    Ok(())
}

pub fn invoking_without_send_right_is_an_error(env: &mut Env) -> Result {
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let receive_only = mint(env, ep, CapRights::READ, 0)?;
    let answer = syscall::call(Registers { cap_or_badge: receive_only, ..message(&[1]) });
    ensure!(answer.info.label() == Error::InvalidCapability as u64, "label {}", answer.info.label());
    let ntfn = env.make(ObjectType::Notification, 0)?;
    let wait_only = mint(env, ntfn, CapRights::READ, 0)?;
    let answer = syscall::call(Registers { cap_or_badge: wait_only, ..message(&[]) });
    ensure!(answer.info.label() == Error::InvalidCapability as u64, "notification label {}", answer.info.label());
    syscall::signal(wait_only);
    ensure!(syscall::poll(ntfn) == 0, "a wait-only capability signalled");
    Ok(())
}

pub fn long_messages_travel_between_ipc_buffers(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    REPLY.store(reply, Ordering::SeqCst);
    let server = spawn(env, 0, adding_server, 255, false)?;
    give_buffer(env, server.tcb, 0)?;
    crate::threads::resume(server.tcb)?;
    yield_until(5, || false);
    let buffer = hmk_sys::ipc_buffer::ipc_buffer();
    for i in 4..100 {
        buffer.msg[i] = 1000 + i as u64;
    }
    let answer =
        syscall::call(Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 100), mrs: [10, 11, 12, 13] });
    ensure!(answer.info.length() == 100, "reply length {}", answer.info.length());
    ensure!(answer.mrs == [11, 11, 12, 13], "registers {:?}", answer.mrs);
    // The words went through the server's own IPC buffer and came back.
    let server_buffer = worker_buffer(0);
    for i in 4..100 {
        // SAFETY: the server's IPC buffer page; message word i is at word 1 + i.
        let there = unsafe { server_buffer.add(1 + i).read_volatile() };
        ensure!(there == 1000 + i as u64, "word {i} in the server's buffer: {there}");
        ensure!(buffer.msg[i] == 1000 + i as u64, "word {i} of the reply: {}", buffer.msg[i]);
    }
    Ok(())
}

/// Receives once without an IPC buffer and records the length that arrived.
extern "C" fn record_length(index: u64) -> ! {
    let got = syscall::recv(ENDPOINT.load(Ordering::SeqCst), 0);
    record(got.info.length());
    stop_self(index)
}

pub fn without_a_buffer_only_registers_arrive(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    spawn(env, 0, record_length, 255, true)?;
    yield_until(3, || false);
    syscall::send(Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 10), mrs: [1, 2, 3, 4] });
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "nothing arrived");
    ensure!(log_contents() == [4], "length {:?}, want 4", log_contents());
    Ok(())
}

pub fn waiters_wake_in_fifo_order(env: &mut Env) -> Result {
    reset_records();
    let ntfn = env.make(ObjectType::Notification, 0)?;
    NOTIFICATION.store(ntfn, Ordering::SeqCst);
    for index in 0..3 {
        spawn(env, index, wait_once_recording_index, 255, true)?;
        yield_until(2, || false);
    }
    for _ in 0..3 {
        syscall::signal(ntfn);
        yield_until(3, || false);
    }
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 3), "not all waiters woke");
    ensure!(log_contents() == [0, 1, 2], "woke in order {:?}", log_contents());
    Ok(())
}

/// Waits once and records its own index.
extern "C" fn wait_once_recording_index(index: u64) -> ! {
    syscall::wait(NOTIFICATION.load(Ordering::SeqCst));
    record(index);
    stop_self(index)
}

pub fn pending_bound_signal_comes_before_messages(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let ntfn = env.make(ObjectType::Notification, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    let worker = spawn(env, 0, bound_receiver, 255, false)?;
    ok(Tcb(worker.tcb).bind_notification(ntfn), "bind")?;
    let badged = mint(env, ntfn, CapRights::ALL, 0x40)?;
    // Signalled before the thread receives: the signal is pending, and its Recv returns it.
    syscall::signal(badged);
    crate::threads::resume(worker.tcb)?;
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the pending signal was not delivered");
    ensure!(log_contents() == [0x40], "got {:?}", log_contents());
    ensure!(syscall::poll(ntfn) == 0, "the signal stayed pending");
    Ok(())
}

pub fn suspended_receiver_restarts_its_receive(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    let worker = spawn(env, 0, receive_once, 255, true)?;
    yield_until(3, || false);
    ok(Tcb(worker.tcb).suspend(), "suspend the waiting receiver")?;
    // It left the endpoint's queue: a non-blocking send finds nobody.
    syscall::nb_send(Registers { cap_or_badge: ep, ..message(&[1]) });
    ensure!(LOG_LEN.load(Ordering::SeqCst) == 0, "a suspended thread received");
    // Resumed, it receives again (its Recv restarts) and gets the next message.
    ok(Tcb(worker.tcb).resume(), "resume")?;
    yield_until(3, || false);
    syscall::send(Registers { cap_or_badge: ep, ..message(&[2]) });
    ensure!(
        yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 2),
        "the resumed receiver got nothing: {:?}",
        log_contents()
    );
    ensure!(log_contents() == [2, 0], "got {:?}", log_contents());
    Ok(())
}

pub fn reply_without_caller_is_harmless(env: &mut Env) -> Result {
    let reply = env.make(ObjectType::Reply, 0)?;
    syscall::send(Registers { cap_or_badge: reply, ..message(&[1]) });
    let answer = syscall::call(Registers { cap_or_badge: reply, ..message(&[1]) });
    ensure!(answer.info.label() == 0, "label {}", answer.info.label());
    Ok(())
}

pub fn recv_on_a_send_only_capability_faults(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let write_only = env.slot();
    let rights = CapRights { write: true, ..CapRights::NONE };
    ok(ROOT.copy(write_only, DEPTH, ROOT, ep, DEPTH, rights), "a send-only copy")?;
    ENDPOINT.store(write_only, Ordering::SeqCst);
    let handler = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    let worker = spawn(env, 0, receive_once, 255, false)?;
    ok(
        Tcb(worker.tcb).set_space(
            handler,
            hmk_sys::bootinfo::slot::INIT_THREAD_CNODE,
            0,
            hmk_sys::bootinfo::slot::INIT_THREAD_VSPACE,
            0,
        ),
        "fault handler",
    )?;
    ok(Tcb(worker.tcb).resume(), "resume")?;
    let fault = syscall::recv(handler, reply);
    ensure!(fault.info.label() == 1, "label {}, want CapFault", fault.info.label());
    ensure!(
        fault.mrs[1] == write_only && fault.mrs[2] == 1,
        "fault {:?}: want the address and the receive phase",
        fault.mrs
    );
    ok(Tcb(worker.tcb).suspend(), "stop")
}

static SECOND: AtomicU64 = AtomicU64::new(0);

/// NBSendRecv: sends MR0 = 5 to SECOND without blocking, then receives on ENDPOINT.
extern "C" fn nb_send_then_receive(index: u64) -> ! {
    let got = syscall::nb_send_recv(SECOND.load(Ordering::SeqCst), message(&[5]), ENDPOINT.load(Ordering::SeqCst), 0);
    record(got.mrs[0]);
    stop_self(index)
}

pub fn nb_send_recv_sends_then_receives(env: &mut Env) -> Result {
    reset_records();
    let first = env.make(ObjectType::Endpoint, 0)?;
    let second = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(first, Ordering::SeqCst);
    SECOND.store(second, Ordering::SeqCst);
    spawn(env, 0, receive_forever_on_second, 255, true)?;
    yield_until(3, || false);
    spawn(env, 1, nb_send_then_receive, 255, true)?;
    yield_until(5, || false);
    ensure!(log_contents() == [5], "the non-blocking send half did not arrive: {:?}", log_contents());
    syscall::send(Registers { cap_or_badge: first, ..message(&[6]) });
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 2), "the receive half got nothing");
    ensure!(log_contents() == [5, 6], "got {:?}", log_contents());
    Ok(())
}

/// Receives forever on SECOND, recording MR0.
extern "C" fn receive_forever_on_second(_: u64) -> ! {
    loop {
        let got = syscall::recv(SECOND.load(Ordering::SeqCst), 0);
        record(got.mrs[0]);
    }
}

/// NBSendWait: signals the notification without blocking, then waits on ENDPOINT's notification.
extern "C" fn signal_then_wait(index: u64) -> ! {
    let bits = syscall::nb_send_wait(NOTIFICATION.load(Ordering::SeqCst), message(&[]), SECOND.load(Ordering::SeqCst));
    record(bits.cap_or_badge);
    stop_self(index)
}

pub fn nb_send_wait_signals_then_waits(env: &mut Env) -> Result {
    reset_records();
    let to_signal = env.make(ObjectType::Notification, 0)?;
    let to_wait = env.make(ObjectType::Notification, 0)?;
    NOTIFICATION.store(mint(env, to_signal, CapRights::ALL, 0x10)?, Ordering::SeqCst);
    SECOND.store(to_wait, Ordering::SeqCst);
    spawn(env, 0, signal_then_wait, 255, true)?;
    yield_until(3, || false);
    ensure!(syscall::poll(to_signal) == 0x10, "the send half did not signal");
    ensure!(LOG_LEN.load(Ordering::SeqCst) == 0, "the wait half did not block");
    syscall::signal(mint(env, to_wait, CapRights::ALL, 0x20)?);
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the wait half did not wake");
    ensure!(log_contents() == [0x20], "woke with {:?}", log_contents());
    Ok(())
}

/// Starts with ReplyRecv although nobody called: it just receives.
extern "C" fn reply_recv_first(index: u64) -> ! {
    let got = syscall::reply_recv(ENDPOINT.load(Ordering::SeqCst), message(&[]), REPLY.load(Ordering::SeqCst));
    record(got.mrs[0]);
    stop_self(index)
}

pub fn reply_recv_without_a_caller_just_receives(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    REPLY.store(env.make(ObjectType::Reply, 0)?, Ordering::SeqCst);
    spawn(env, 0, reply_recv_first, 255, true)?;
    yield_until(3, || false);
    syscall::send(Registers { cap_or_badge: ep, ..message(&[31]) });
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "nothing received");
    ensure!(log_contents() == [31], "got {:?}", log_contents());
    Ok(())
}

pub fn receivers_are_served_in_fifo_order(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    for index in 0..2 {
        spawn(env, index, receive_once, 255, true)?;
        yield_until(2, || false);
    }
    syscall::send(Registers { cap_or_badge: ep, ..message(&[100]) });
    syscall::send(Registers { cap_or_badge: ep, ..message(&[200]) });
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 4), "not both received: {:?}", log_contents());
    ensure!(log_contents() == [100, 0, 200, 0], "got {:?}", log_contents());
    Ok(())
}

pub fn unbadged_signal_wakes_with_zero(env: &mut Env) -> Result {
    reset_records();
    let ntfn = env.make(ObjectType::Notification, 0)?;
    NOTIFICATION.store(ntfn, Ordering::SeqCst);
    spawn(env, 0, wait_once, 255, true)?;
    yield_until(3, || false);
    syscall::signal(ntfn);
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the waiter did not wake");
    ensure!(log_contents() == [0], "woke with {:?}", log_contents());
    Ok(())
}

/// Waits forever on the notification, recording the bits each time.
extern "C" fn wait_forever(_: u64) -> ! {
    loop {
        let bits = syscall::wait(NOTIFICATION.load(Ordering::SeqCst));
        record(bits);
    }
}

pub fn deleting_a_notification_releases_its_waiter(env: &mut Env) -> Result {
    reset_records();
    let ntfn = env.make(ObjectType::Notification, 0)?;
    NOTIFICATION.store(ntfn, Ordering::SeqCst);
    spawn(env, 0, wait_forever, 200, true)?;
    let suite = Tcb(hmk_sys::bootinfo::slot::INIT_THREAD_TCB);
    let _ = suite.set_priority(suite, 100);
    let _ = suite.set_priority(suite, 255);
    ok(ROOT.delete(ntfn, DEPTH), "delete the notification")?;
    ok(env.untyped.retype(ObjectType::Notification, 0, ROOT, 0, 0, ntfn, 1), "a new one in the same slot")?;
    let _ = suite.set_priority(suite, 100);
    let _ = suite.set_priority(suite, 255);
    syscall::signal(mint(env, ntfn, CapRights::ALL, 3)?);
    ensure!(
        crate::threads::run_lower(|| LOG_LEN.load(Ordering::SeqCst) == 1),
        "the released waiter did not wait again"
    );
    ensure!(log_contents() == [3], "woke with {:?}", log_contents());
    Ok(())
}

pub fn unbinding_stops_signals_waking_recv(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let ntfn = env.make(ObjectType::Notification, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    let worker = spawn(env, 0, bound_receiver, 255, false)?;
    ok(Tcb(worker.tcb).bind_notification(ntfn), "bind")?;
    ok(Tcb(worker.tcb).unbind_notification(), "unbind")?;
    crate::threads::resume(worker.tcb)?;
    yield_until(3, || false);
    syscall::signal(mint(env, ntfn, CapRights::ALL, 1)?);
    yield_until(10, || false);
    ensure!(LOG_LEN.load(Ordering::SeqCst) == 0, "an unbound notification woke the receiver");
    ensure!(syscall::poll(ntfn) == 1, "the signal was lost instead of staying pending");
    Ok(())
}

pub fn queued_call_is_answered_later(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    spawn(env, 1, call_once, 255, true)?;
    yield_until(3, || false);
    // The call waits in the endpoint; the suite takes it and answers.
    let request = syscall::recv(ep, reply);
    ensure!(request.mrs[0] == 5, "request {:?}", request.mrs);
    syscall::send(Registers { cap_or_badge: reply, ..message(&[9]) });
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the caller was not answered");
    ensure!(log_contents() == [509], "the caller got {:?}", log_contents());
    // A second reply through the same object has nobody to go to.
    syscall::send(Registers { cap_or_badge: reply, ..message(&[1]) });
    yield_until(5, || false);
    ensure!(LOG_LEN.load(Ordering::SeqCst) == 1, "a reply object answered twice");
    Ok(())
}

pub fn nb_recv_takes_a_queued_sender(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    CLIENT_CAPS[0].store(mint(env, ep, CapRights::ALL, u64::MAX)?, Ordering::SeqCst);
    spawn(env, 0, send_once, 255, true)?;
    yield_until(3, || false);
    let got = syscall::nb_recv(ep, 0);
    ensure!(got.cap_or_badge == u64::MAX && got.mrs[0] == 100, "got {got:?}");
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the sender was not released");
    Ok(())
}

pub fn suspended_sender_leaves_the_queue(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    CLIENT_CAPS[0].store(ep, Ordering::SeqCst);
    let worker = spawn(env, 0, send_once, 255, true)?;
    yield_until(3, || false);
    ok(Tcb(worker.tcb).suspend(), "suspend the blocked sender")?;
    let got = syscall::nb_recv(ep, 0);
    ensure!(got.info.length() == 0, "a suspended sender's message arrived: {got:?}");
    Ok(())
}

/// For other case modules: the endpoint workers use.
pub fn set_endpoint(ep: CPtr) {
    ENDPOINT.store(ep, Ordering::SeqCst);
}

/// For other case modules: a worker entry that receives once on the endpoint.
pub fn receive_once_entry() -> extern "C" fn(u64) -> ! {
    receive_once
}

pub fn signals_before_a_wait_are_ored(env: &mut Env) -> Result {
    reset_records();
    let ntfn = env.make(ObjectType::Notification, 0)?;
    NOTIFICATION.store(ntfn, Ordering::SeqCst);
    for bit in [1u64, 2, 8] {
        syscall::signal(mint(env, ntfn, CapRights::ALL, bit)?);
    }
    spawn(env, 0, wait_once, 255, true)?;
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the waiter did not return");
    ensure!(log_contents() == [0b1011], "waited with {:?}", log_contents());
    Ok(())
}

pub fn fault_handler_can_change(env: &mut Env) -> Result {
    reset_records();
    let first = env.make(ObjectType::Endpoint, 0)?;
    let second = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    let worker = spawn(env, 0, crate::faults::vm_fault_entry(), 255, false)?;
    let slot = hmk_sys::bootinfo::slot::INIT_THREAD_CNODE;
    let vspace = hmk_sys::bootinfo::slot::INIT_THREAD_VSPACE;
    ok(Tcb(worker.tcb).set_space(first, slot, 0, vspace, 0), "first handler")?;
    ok(Tcb(worker.tcb).set_space(second, slot, 0, vspace, 0), "second handler")?;
    ok(Tcb(worker.tcb).resume(), "start")?;
    // The fault goes to the handler set last.
    let fault = syscall::recv(second, reply);
    ensure!(fault.info.label() == 6, "label {}", fault.info.label());
    ensure!(syscall::nb_recv(first, 0).info.length() == 0, "the old handler got a message");
    ok(Tcb(worker.tcb).suspend(), "stop")
}

pub fn grant_reply_alone_allows_calls(env: &mut Env) -> Result {
    reset_records();
    let ep = start_server(env)?;
    let rights = CapRights { write: true, read: false, grant: false, grant_reply: true };
    let calling = mint(env, ep, rights, 0)?;
    let answer = syscall::call(Registers { cap_or_badge: calling, ..message(&[1]) });
    ensure!(answer.mrs[0] == 2, "no reply through a grant-reply capability: {:?}", answer.mrs);
    Ok(())
}

/// Polls SECOND (a capability without the receive right).
extern "C" fn poll_send_only(index: u64) -> ! {
    syscall::poll(SECOND.load(Ordering::SeqCst));
    record(1);
    stop_self(index)
}

pub fn polling_without_receive_right_faults(env: &mut Env) -> Result {
    reset_records();
    let ntfn = env.make(ObjectType::Notification, 0)?;
    let signal_only = env.slot();
    ok(
        ROOT.copy(signal_only, DEPTH, ROOT, ntfn, DEPTH, CapRights { write: true, ..CapRights::NONE }),
        "signal-only copy",
    )?;
    SECOND.store(signal_only, Ordering::SeqCst);
    let handler = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    let worker = spawn(env, 0, poll_send_only, 255, false)?;
    let (cnode, vspace) = (hmk_sys::bootinfo::slot::INIT_THREAD_CNODE, hmk_sys::bootinfo::slot::INIT_THREAD_VSPACE);
    ok(Tcb(worker.tcb).set_space(handler, cnode, 0, vspace, 0), "fault handler")?;
    ok(Tcb(worker.tcb).resume(), "start")?;
    let fault = syscall::recv(handler, reply);
    ensure!(
        fault.info.label() == 1 && fault.mrs[2] == 1,
        "want a capability fault in the receive phase, got {fault:?}"
    );
    ensure!(log_contents().is_empty(), "the poll returned");
    ok(Tcb(worker.tcb).suspend(), "stop")
}
