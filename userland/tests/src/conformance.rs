//! Cases for seL4 conformance (issue 10), numbered as the issue numbers the divergences: each
//! checks one semantic that seL4's manual and libsel4 define and that a program built against
//! libsel4 relies on. Workers that must control registers across a system call make it in
//! inline assembly.

use crate::check::{ensure, ok};
use crate::env::Env;
use crate::threads::{log_contents, record, reset_records, spawn, stop_self, yield_until};
use core::sync::atomic::{AtomicU64, Ordering};
use hmk_sys::invocation::{Tcb, UserContext};
use hmk_sys::message::MessageInfo;
use hmk_sys::object::ObjectType;
use hmk_sys::syscall::{self, Registers, number};

type Result = crate::check::Outcome;

pub const CASES: &[(&str, crate::cases::Case)] = &[
    ("sel4_1_tls_register_survives_system_calls", tls_register_survives_system_calls),
    ("sel4_3_ipc_writes_only_the_message_length", ipc_writes_only_the_message_length),
    ("sel4_4_signal_and_empty_receive_leave_x1", signal_and_empty_receive_leave_x1),
    ("sel4_5_resume_restarts_a_blocked_sender", resume_restarts_a_blocked_sender),
    ("sel4_5_resume_restarts_a_blocked_caller", resume_restarts_a_blocked_caller),
    ("sel4_5_write_registers_resume_moves_a_blocked_thread", write_registers_resume_moves_a_blocked_thread),
    ("sel4_5_cancelled_fault_sender_refaults_at_its_instruction", cancelled_fault_sender_refaults),
    ("sel4_5_a_pc_written_to_a_blocked_thread_is_where_resume_restarts_it", written_pc_then_resume),
    ("sel4_6_set_flags_disables_the_fp_unit", set_flags_disables_the_fp_unit),
    ("sel4_6_domain_invocations_check_as_sel4", domain_invocations_check_as_sel4),
    ("sel4_6_notification_lends_its_scheduling_context", notification_lends_its_scheduling_context),
    ("sel4_6_unbind_of_a_lent_context_cuts_the_reply", unbind_of_a_lent_context_cuts_the_reply),
    ("sel4_7_unknown_syscall_restarts_at_the_svc", unknown_syscall_restarts_at_the_svc),
    ("sel4_8_reply_returning_an_exhausted_context_is_a_timeout", reply_returning_an_exhausted_context_is_a_timeout),
    ("sel4_8_passive_fault_handler_runs_on_the_faulters_context", passive_fault_handler_runs_on_the_faulters_context),
    ("sel4_8_a_context_is_lent_down_a_chain_of_passive_servers", context_lent_down_a_chain_of_passive_servers),
    ("sel4_8_ipc_queues_are_in_priority_order", ipc_queues_are_in_priority_order),
    ("sel4_8_nested_timeout_faults_come_from_the_server_then_the_proxy", nested_timeout_faults),
    ("sel4_8_nb_send_wait_gives_a_passive_receiver_the_context", nb_send_wait_gives_a_passive_receiver_the_context),
    ("sel4_8_a_woken_thread_runs_before_its_ready_equals", woken_thread_runs_before_its_ready_equals),
    ("sel4_8_kernel_time_is_charged_to_the_thread_dispatched", kernel_time_is_charged_to_the_thread_dispatched),
    ("sel4_9_yield_gives_up_a_sporadic_budget_resume_gives_none", yield_gives_up_a_sporadic_budget),
    ("sel4_10_vspace_copy_deleted_after_its_original_leaves_no_child", |e| vspace_copy_leaves_no_child(e, false)),
    ("sel4_10_vspace_copy_deleted_before_its_original_leaves_no_child", |e| vspace_copy_leaves_no_child(e, true)),
    ("sel4_10_vspace_copy_in_a_deleted_cnode_leaves_no_child", vspace_copy_in_a_deleted_cnode_leaves_no_child),
];

const MAGIC: u64 = 0x5e14_0000_0000_0000;

/// Capabilities and results the workers share with their case.
static ENDPOINT: AtomicU64 = AtomicU64::new(0);
static NOTIFICATION: AtomicU64 = AtomicU64::new(0);
static SEEN: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];

/// Lets the workers (above priority 1) run until they block: the suite drops to priority 1 for
/// a few yields.
fn settle() {
    let suite = Tcb(hmk_sys::bootinfo::slot::INIT_THREAD_TCB);
    let _ = suite.set_priority(suite, 1);
    for _ in 0..3 {
        syscall::yield_now();
    }
    let _ = suite.set_priority(suite, 255);
}

/// A badged copy (`badge`) of `object`'s capability, in a new slot.
fn badged_copy(env: &mut Env, object: u64, badge: u64) -> core::result::Result<u64, alloc::string::String> {
    let (root, depth) = (crate::env::ROOT, crate::env::DEPTH);
    let copy = env.slot();
    ok(root.mint(copy, depth, root, object, depth, hmk_sys::message::CapRights::ALL, badge), "a badged copy")?;
    Ok(copy)
}

/// Gives `worker` a badged copy of endpoint `ep` as its fault handler.
fn set_fault_handler(env: &mut Env, worker: u64, ep: u64, badge: u64) -> Result {
    let handler = badged_copy(env, ep, badge)?;
    let (cnode, vspace) = (hmk_sys::bootinfo::slot::INIT_THREAD_CNODE, hmk_sys::bootinfo::slot::INIT_THREAD_VSPACE);
    ok(Tcb(worker).set_space(handler, cnode, 0, vspace, 0), "set the fault handler")
}

fn seen() -> [u64; 6] {
    core::array::from_fn(|i| SEEN[i].load(Ordering::SeqCst))
}

fn clear_seen() {
    for word in &SEEN {
        word.store(0, Ordering::SeqCst);
    }
}

/// One system call `number` with x0..x5 as given; returns x0..x5 as the kernel left them.
fn raw_call(number: i64, mut x: [u64; 6]) -> [u64; 6] {
    // SAFETY: a system call: the kernel reads x0..x7 and writes at most x0..x5, as declared.
    unsafe {
        core::arch::asm!(
            "svc #0",
            inout("x0") x[0], inout("x1") x[1], inout("x2") x[2],
            inout("x3") x[3], inout("x4") x[4], inout("x5") x[5],
            in("x6") 0u64, in("x7") number,
            options(nostack),
        );
    }
    x
}

/// x0 = `x0`, x1..x5 = markers `MAGIC | 1` .. `MAGIC | 5`.
fn with_markers(x0: u64) -> [u64; 6] {
    core::array::from_fn(|i| if i == 0 { x0 } else { MAGIC | i as u64 })
}

fn read_tls() -> u64 {
    let value: u64;
    // SAFETY: reads this thread's TLS register, which EL0 owns.
    unsafe { core::arch::asm!("mrs {}, tpidr_el0", out(reg) value, options(nomem, nostack)) };
    value
}

fn write_tls(value: u64) {
    // SAFETY: writes this thread's TLS register, which EL0 owns and nothing else in the suite
    // uses.
    unsafe { core::arch::asm!("msr tpidr_el0, {}", in(reg) value, options(nomem, nostack)) };
}

/// Sets its own TPIDR_EL0, makes system calls, and records what the register then holds.
extern "C" fn set_own_tls(index: u64) -> ! {
    write_tls(MAGIC | 0x7150);
    for _ in 0..3 {
        syscall::yield_now();
    }
    SEEN[0].store(read_tls(), Ordering::SeqCst);
    SEEN[1].store(1, Ordering::SeqCst);
    // Blocks, so the suite can read its registers.
    syscall::wait(NOTIFICATION.load(Ordering::SeqCst));
    stop_self(index)
}

/// 1. A thread that writes TPIDR_EL0 itself keeps it across its system calls, and
///    ReadRegisters shows it (seL4 saves the register at every kernel entry).
fn tls_register_survives_system_calls(env: &mut Env) -> Result {
    clear_seen();
    NOTIFICATION.store(env.make(ObjectType::Notification, 0)?, Ordering::SeqCst);
    let worker = spawn(env, 0, set_own_tls, 255, true)?;
    ensure!(yield_until(20, || SEEN[1].load(Ordering::SeqCst) == 1), "the worker did not run");
    ensure!(seen()[0] == MAGIC | 0x7150, "TPIDR_EL0 became {:#x} across system calls", seen()[0]);
    let regs = ok(Tcb(worker.tcb).read_registers(false, 35), "read registers")?;
    ensure!(regs.0[34] == MAGIC | 0x7150, "ReadRegisters shows TLS {:#x}", regs.0[34]);
    ok(Tcb(worker.tcb).suspend(), "stop")
}

/// Receives on the endpoint with x2..x5 holding markers; records x1..x5 afterwards.
extern "C" fn receive_with_markers(index: u64) -> ! {
    let ep = ENDPOINT.load(Ordering::SeqCst);
    let x = raw_call(number::RECV, [ep, 0, MAGIC | 2, MAGIC | 3, MAGIC | 4, MAGIC | 5]);
    for (i, &value) in x.iter().enumerate().skip(1) {
        SEEN[i].store(value, Ordering::SeqCst);
    }
    SEEN[0].store(1, Ordering::SeqCst);
    stop_self(index)
}

/// 3. A one-word message writes x2 and nothing else of the receiver's message registers.
fn ipc_writes_only_the_message_length(env: &mut Env) -> Result {
    clear_seen();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    spawn(env, 0, receive_with_markers, 255, true)?;
    yield_until(5, || false);
    syscall::send(Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 1), mrs: [0x77, 0x88, 0x99, 0xaa] });
    ensure!(yield_until(20, || SEEN[0].load(Ordering::SeqCst) == 1), "the receiver did not get the message");
    let x = seen();
    ensure!(x[1] & 0x7f == 1 && x[2] == 0x77, "x1 {:#x}, x2 {:#x}: want length 1 and 0x77", x[1], x[2]);
    ensure!(
        x[3..6] == [MAGIC | 3, MAGIC | 4, MAGIC | 5],
        "registers past the message's length were written: x3..x5 = {:#x?}",
        &x[3..6]
    );
    Ok(())
}

/// Waits on the notification with x1..x5 holding markers; records x0..x5 afterwards.
extern "C" fn wait_with_markers(index: u64) -> ! {
    let ntfn = NOTIFICATION.load(Ordering::SeqCst);
    let x = raw_call(number::WAIT, with_markers(ntfn));
    for (i, &value) in x.iter().enumerate() {
        SEEN[i].store(value, Ordering::SeqCst);
    }
    stop_self(index)
}

/// 4. A signal to a waiting thread writes its badge register x0 only; an empty NBRecv on an
///    endpoint and an empty poll write x0 = 0 only (seL4 leaves x1, the message info register,
///    as it was).
fn signal_and_empty_receive_leave_x1(env: &mut Env) -> Result {
    clear_seen();
    let ntfn = env.make(ObjectType::Notification, 0)?;
    NOTIFICATION.store(ntfn, Ordering::SeqCst);
    spawn(env, 0, wait_with_markers, 255, true)?;
    yield_until(5, || false);
    let badged = badged_copy(env, ntfn, 0x42)?;
    syscall::signal(badged);
    ensure!(yield_until(20, || SEEN[0].load(Ordering::SeqCst) == 0x42), "the waiter saw badge {:#x}", seen()[0]);
    let markers = with_markers(0);
    ensure!(seen()[1..] == markers[1..], "a signal changed the waiter's x1..x5: {:#x?}", &seen()[1..]);
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let empty_ep = raw_call(number::NB_RECV, with_markers(ep));
    ensure!(empty_ep[0] == 0 && empty_ep[1..] == markers[1..], "an empty NBRecv left {:#x?}", empty_ep);
    let empty_ntfn = raw_call(number::NB_WAIT, with_markers(ntfn));
    ensure!(empty_ntfn[0] == 0 && empty_ntfn[1..] == markers[1..], "an empty poll left {:#x?}", empty_ntfn);
    Ok(())
}

/// Sends its index to the endpoint (blocking), then records the index and stops.
extern "C" fn send_index(index: u64) -> ! {
    let ep = ENDPOINT.load(Ordering::SeqCst);
    syscall::send(Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 1), mrs: [index, 0, 0, 0] });
    record(index);
    stop_self(index)
}

/// 5. Resume on a thread blocked sending restarts it: it leaves the queue and sends again, so
///    it is now behind the sender that queued after it.
fn resume_restarts_a_blocked_sender(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    let first = spawn(env, 1, send_index, 250, true)?;
    settle();
    spawn(env, 2, send_index, 250, true)?;
    settle();
    ok(Tcb(first.tcb).resume(), "resume the first sender")?;
    // It runs again (below the suite) and re-sends: it queues behind the second.
    settle();
    let order = [syscall::nb_recv(ep, 0).mrs[0], syscall::nb_recv(ep, 0).mrs[0]];
    ensure!(order == [2, 1], "messages arrived from senders {order:?}; want [2, 1]");
    settle();
    ensure!(log_contents().len() == 2, "the senders did not finish: {:?}", log_contents());
    Ok(())
}

static CALLS: AtomicU64 = AtomicU64::new(0);

/// Calls the endpoint forever, counting the calls it starts.
extern "C" fn call_forever(_: u64) -> ! {
    let ep = ENDPOINT.load(Ordering::SeqCst);
    loop {
        CALLS.fetch_add(1, Ordering::SeqCst);
        syscall::call(Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 1), mrs: [7, 0, 0, 0] });
    }
}

/// 5. Resume on a caller waiting for its reply abandons the call and makes it again: the server
///    receives the call a second time, and the first reply object no longer reaches it.
fn resume_restarts_a_blocked_caller(env: &mut Env) -> Result {
    CALLS.store(0, Ordering::SeqCst);
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    let (reply, second_reply) = (env.make(ObjectType::Reply, 0)?, env.make(ObjectType::Reply, 0)?);
    let caller = spawn(env, 0, call_forever, 250, true)?;
    settle();
    let got = syscall::nb_recv(ep, reply);
    ensure!(got.mrs[0] == 7, "first call {got:?}");
    ok(Tcb(caller.tcb).resume(), "resume the waiting caller")?;
    settle();
    let again = syscall::nb_recv(ep, second_reply);
    ensure!(again.mrs[0] == 7, "second call {again:?}");
    // The svc was re-executed, not a new loop iteration: the call count did not move.
    ensure!(CALLS.load(Ordering::SeqCst) == 1, "{} calls started", CALLS.load(Ordering::SeqCst));
    ok(Tcb(caller.tcb).suspend(), "stop")
}

/// Records 0x600d and stops: where a case moves a blocked thread's PC.
extern "C" fn record_good(index: u64) -> ! {
    record(0x600d);
    stop_self(index)
}

/// Waits on the notification forever.
extern "C" fn wait_forever(_: u64) -> ! {
    loop {
        syscall::wait(NOTIFICATION.load(Ordering::SeqCst));
    }
}

/// 5. WriteRegisters with resume on a thread blocked on a notification takes it out of the wait
///    and runs it at the PC written. ReadRegisters of a thread blocked inside a system call shows
///    the `svc` as its PC (seL4's FaultIP).
fn write_registers_resume_moves_a_blocked_thread(env: &mut Env) -> Result {
    reset_records();
    NOTIFICATION.store(env.make(ObjectType::Notification, 0)?, Ordering::SeqCst);
    let worker = spawn(env, 0, wait_forever, 250, true)?;
    settle();
    let mut regs = ok(Tcb(worker.tcb).read_registers(false, 4), "read registers")?;
    let pc = regs.0[UserContext::PC];
    // SAFETY: the worker runs in the suite's image: its PC is a mapped code address.
    let instruction = unsafe { (pc as *const u32).read_volatile() };
    ensure!(instruction == 0xd400_0001, "a waiting thread's PC {pc:#x} holds {instruction:#x}, not the svc");
    regs.0[UserContext::PC] = record_good as *const () as u64;
    regs.0[UserContext::X0] = 0;
    ok(Tcb(worker.tcb).write_registers(true, 4, &regs), "write the PC and x0 (its index) and resume")?;
    settle();
    ensure!(log_contents() == [0x600d], "the thread stayed blocked: {:?}", log_contents());
    Ok(())
}

/// 5. WriteRegisters without resume on a thread blocked inside a system call, then Resume: the
///    thread restarts at the PC written (seL4 sets FaultIP and NextIP to it), which ReadRegisters
///    shows meanwhile; not one instruction before it (sel4test SCHED_CONTEXT_0007, whose helper
///    is restarted so).
fn written_pc_then_resume(env: &mut Env) -> Result {
    reset_records();
    NOTIFICATION.store(env.make(ObjectType::Notification, 0)?, Ordering::SeqCst);
    let worker = spawn(env, 0, wait_forever, 250, true)?;
    settle();
    let mut regs = ok(Tcb(worker.tcb).read_registers(false, 4), "read registers")?;
    let target = record_good as *const () as u64;
    regs.0[UserContext::PC] = target;
    regs.0[UserContext::X0] = 0;
    ok(Tcb(worker.tcb).write_registers(false, 4, &regs), "write the PC and x0 (its index)")?;
    settle();
    ensure!(log_contents().is_empty(), "the thread ran without a resume: {:?}", log_contents());
    let shown = ok(Tcb(worker.tcb).read_registers(false, 1), "read the PC back")?.0[UserContext::PC];
    ensure!(shown == target, "ReadRegisters shows PC {shown:#x}, not the {target:#x} written");
    ok(Tcb(worker.tcb).resume(), "resume")?;
    settle();
    ensure!(log_contents() == [0x600d], "the thread did not restart at the PC written: {:?}", log_contents());
    Ok(())
}

/// Adds 1 to x20 (from 0), then reads an unmapped address (a VM fault); records x20 if
/// resumed.
extern "C" fn count_then_fault(index: u64) -> ! {
    let mut count: u64 = 0;
    // SAFETY: the load faults; the kernel reports it. The add before it is the instruction a
    // wrong restart would run again.
    unsafe {
        core::arch::asm!(
            "add x20, x20, #1",
            "ldr xzr, [{bad}]",
            inout("x20") count,
            bad = in(reg) 0x18u64,
            options(nostack),
        );
    }
    record(count);
    stop_self(index)
}

/// 5. A thread blocked sending its fault message, taken out of the queue by CancelBadgedSends,
///    restarts at the faulting instruction (and faults again), not one instruction earlier.
fn cancelled_fault_sender_refaults(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let worker = spawn(env, 0, count_then_fault, 255, false)?;
    set_fault_handler(env, worker.tcb, ep, 0x99)?;
    let (root, depth) = (crate::env::ROOT, crate::env::DEPTH);
    let badged = badged_copy(env, ep, 0x99)?;
    ok(Tcb(worker.tcb).resume(), "start")?;
    yield_until(5, || false);
    let before = ok(Tcb(worker.tcb).read_registers(false, 1), "read the faulting PC")?.0[UserContext::PC];
    ok(root.cancel_badged_sends(badged, depth), "cancel the badged sends")?;
    yield_until(5, || false);
    let fault = syscall::nb_recv(ep, env.make(ObjectType::Reply, 0)?);
    ensure!(fault.info.label() == 6, "no second VM fault: {fault:?}");
    ensure!(fault.mrs[0] == before, "the second fault is at {:#x}, the first was at {before:#x}", fault.mrs[0]);
    // x20 is word 25 of seL4_UserContext: the add ran once.
    let regs = ok(Tcb(worker.tcb).read_registers(false, 26), "read registers")?;
    ensure!(regs.0[25] == 1, "x20 = {}: the restart ran an instruction before the fault again", regs.0[25]);
    ok(Tcb(worker.tcb).suspend(), "stop")
}

/// Makes unknown system call -100 forever.
extern "C" fn unknown_syscall_forever(_: u64) -> ! {
    loop {
        // SAFETY: a system call the kernel does not know: it becomes a fault.
        unsafe { core::arch::asm!("svc #0", in("x7") -100i64, options(nostack)) };
    }
}

/// 7. The UnknownSyscall fault names the `svc` as FaultIP, and a reply that does not move it
///    restarts the thread there: it faults again at the same address.
fn unknown_syscall_restarts_at_the_svc(env: &mut Env) -> Result {
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    let worker = spawn(env, 0, unknown_syscall_forever, 250, false)?;
    set_fault_handler(env, worker.tcb, ep, 1)?;
    ok(Tcb(worker.tcb).resume(), "start")?;
    let first = syscall::recv(ep, reply);
    ensure!(first.info.label() == 2, "label {}", first.info.label());
    let fault_ip = hmk_sys::ipc_buffer::ipc_buffer().msg[8];
    // SAFETY: the worker runs in the suite's image: its PC is a mapped code address.
    ensure!(unsafe { (fault_ip as *const u32).read_volatile() } == 0xd400_0001, "FaultIP {fault_ip:#x} is not the svc");
    syscall::send(Registers { cap_or_badge: reply, info: MessageInfo::new(0, 0, 0, 0), mrs: [0; 4] });
    let second = syscall::recv(ep, reply);
    let again = hmk_sys::ipc_buffer::ipc_buffer().msg[8];
    ensure!(second.info.label() == 2 && again == fault_ip, "then label {} at {again:#x}", second.info.label());
    ok(Tcb(worker.tcb).suspend(), "stop")
}

/// 10. A copy of a VSpace capability deleted after its original leaves its untyped without a
///     child: the untyped can be reset and retyped whole again. `copy_first` deletes the copy
///     first instead.
fn vspace_copy_leaves_no_child(env: &mut Env, copy_first: bool) -> Result {
    let (root, depth) = (crate::env::ROOT, crate::env::DEPTH);
    let untyped = env.make(ObjectType::Untyped, 12)?;
    let vspace = env.slot();
    ok(hmk_sys::invocation::Untyped(untyped).retype(ObjectType::VSpace, 0, root, 0, 0, vspace, 1), "a VSpace")?;
    ok(hmk_sys::invocation::AsidPool(hmk_sys::bootinfo::slot::INIT_THREAD_ASID_POOL).assign(vspace), "an ASID")?;
    let copy = env.slot();
    ok(root.copy(copy, depth, root, vspace, depth, hmk_sys::message::CapRights::ALL), "copy the VSpace capability")?;
    let (first, second) = if copy_first { (copy, vspace) } else { (vspace, copy) };
    ok(root.delete(first, depth), "delete one")?;
    ok(root.delete(second, depth), "delete the other")?;
    // No child is left: the retype resets the untyped and the whole 4 KiB fits again.
    let frame = env.slot();
    ok(
        hmk_sys::invocation::Untyped(untyped).retype(ObjectType::SmallPage, 0, root, 0, 0, frame, 1),
        "retype it whole",
    )?;
    Ok(())
}

/// 10. The copy lives in another CNode, which is deleted (with the copy in it) after the
///     original: the untyped again has no child.
fn vspace_copy_in_a_deleted_cnode_leaves_no_child(env: &mut Env) -> Result {
    let (root, depth) = (crate::env::ROOT, crate::env::DEPTH);
    let untyped = env.make(ObjectType::Untyped, 12)?;
    let vspace = env.slot();
    ok(hmk_sys::invocation::Untyped(untyped).retype(ObjectType::VSpace, 0, root, 0, 0, vspace, 1), "a VSpace")?;
    ok(hmk_sys::invocation::AsidPool(hmk_sys::bootinfo::slot::INIT_THREAD_ASID_POOL).assign(vspace), "an ASID")?;
    let cnode = env.make(ObjectType::CNode, 4)?;
    ok(
        hmk_sys::invocation::CNode(cnode).copy(0, 4, root, vspace, depth, hmk_sys::message::CapRights::ALL),
        "copy the VSpace capability into the other CNode",
    )?;
    ok(root.delete(vspace, depth), "delete the original")?;
    ok(root.delete(cnode, depth), "delete the CNode holding the copy")?;
    let frame = env.slot();
    ok(
        hmk_sys::invocation::Untyped(untyped).retype(ObjectType::SmallPage, 0, root, 0, 0, frame, 1),
        "retype it whole",
    )?;
    Ok(())
}

/// Adds two floating-point numbers, records 0xf0 and stops.
extern "C" fn use_fp(index: u64) -> ! {
    let sum: f64;
    // SAFETY: plain FP arithmetic on registers.
    unsafe {
        core::arch::asm!("fmov d0, #1.0", "fadd d0, d0, d0", "fmov {}, d0", out(reg) sum, out("d0") _, options(nomem, nostack))
    };
    record(if sum.to_bits() == 2.0f64.to_bits() { 0xf0 } else { 0xbad });
    stop_self(index)
}

/// 6. TCB SetFlags with seL4_TCBFlag_fpuDisabled makes the thread's FP use a user exception
///    (EC 0x07); clearing the flag and replying lets the instruction run. SetFlags returns the
///    flags, ignores unknown ones, and clears before it sets.
fn set_flags_disables_the_fp_unit(env: &mut Env) -> Result {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    let worker = spawn(env, 0, use_fp, 250, false)?;
    set_fault_handler(env, worker.tcb, ep, 1)?;
    let tcb = Tcb(worker.tcb);
    ensure!(ok(tcb.set_flags(0, 0), "read the flags")? == 0, "a new TCB has flags");
    ensure!(ok(tcb.set_flags(0, 0x1 | 0x100), "disable the FP unit")? == 1, "unknown flags were kept");
    ensure!(ok(tcb.set_flags(1, 1), "clear and set")? == 1, "clear-then-set did not leave the flag set");
    ok(tcb.resume(), "start")?;
    let fault = syscall::recv(ep, reply);
    ensure!(fault.info.label() == 3, "label {}, want UserException (3)", fault.info.label());
    ensure!(fault.mrs[3] >> 26 == 0x07, "ESR {:#x}: want EC 0x07 (FP access)", fault.mrs[3]);
    ensure!(log_contents().is_empty(), "the FP instruction ran");
    ensure!(ok(tcb.set_flags(1, 0), "enable the FP unit")? == 0, "the flag stayed");
    syscall::send(Registers { cap_or_badge: reply, info: MessageInfo::new(0, 0, 0, 0), mrs: [0; 4] });
    settle();
    ensure!(log_contents() == [0xf0], "after the flag was cleared: {:?}", log_contents());
    Ok(())
}

/// 6. The domain invocations: one domain (0), two schedule entries of which the last is an end
///    marker, with seL4's errors.
fn domain_invocations_check_as_sel4(env: &mut Env) -> Result {
    use hmk_sys::error::Error;
    let domain = hmk_sys::invocation::DomainSet(hmk_sys::bootinfo::slot::DOMAIN);
    let worker = spawn(env, 0, wait_forever, 250, false)?;
    ok(domain.set(0, worker.tcb), "domain 0")?;
    crate::check::expect_error(domain.set(1, worker.tcb), Error::InvalidArgument)?;
    let ep = env.make(ObjectType::Endpoint, 0)?;
    crate::check::expect_error(domain.set(0, ep), Error::InvalidArgument)?;
    crate::check::expect_error(domain.schedule_configure(1, 0, 10), Error::RangeError)?;
    crate::check::expect_error(domain.schedule_configure(0, 1, 10), Error::RangeError)?;
    crate::check::expect_error(domain.schedule_configure(0, 0, 0), Error::InvalidArgument)?;
    crate::check::expect_error(domain.schedule_configure(0, 0, 1 << 56), Error::InvalidArgument)?;
    ok(domain.schedule_configure(0, 0, 1_000_000), "entry 0")?;
    crate::check::expect_error(domain.schedule_set_start(1), Error::InvalidArgument)?;
    crate::check::expect_error(domain.schedule_set_start(2), Error::RangeError)?;
    ok(domain.schedule_set_start(0), "start at entry 0")?;
    // A domain invocation on another capability is that capability's invocation: a TCB has no
    // label 30.
    crate::check::expect_error(hmk_sys::invocation::DomainSet(worker.tcb).set(0, worker.tcb), Error::IllegalOperation)
}

/// Waits on the notification and records 0x5c each time it wakes, forever.
extern "C" fn record_each_signal(_: u64) -> ! {
    loop {
        syscall::wait(NOTIFICATION.load(Ordering::SeqCst));
        record(0x5c);
    }
}

/// 6. A scheduling context bound to a notification (SchedContext Bind) is lent to a passive
///    thread its signal wakes, and goes back when the thread waits again; a second binding on
///    either side is IllegalOperation; UnbindObject cuts it, after which a signal wakes nobody
///    runnable; deleting the context while bound leaves the notification unbound.
fn notification_lends_its_scheduling_context(env: &mut Env) -> Result {
    use hmk_sys::error::Error;
    use hmk_sys::invocation::{SchedContext, SchedControl};
    reset_records();
    let ntfn = env.make(ObjectType::Notification, 0)?;
    NOTIFICATION.store(ntfn, Ordering::SeqCst);
    let passive = spawn(env, 0, record_each_signal, 250, true)?;
    settle();
    // It waits; take its own context away: it is passive now.
    ok(SchedContext(passive.sc).unbind(), "make the thread passive")?;
    let lent = env.make(ObjectType::SchedContext, 8)?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(lent), 5_000, 5_000, 0, 0, 0), "configure the notification's context")?;
    ok(SchedContext(lent).bind(ntfn), "bind the context to the notification")?;
    crate::check::expect_error(SchedContext(passive.sc).bind(ntfn), Error::IllegalOperation)?;
    let other = env.make(ObjectType::Notification, 0)?;
    crate::check::expect_error(SchedContext(lent).bind(other), Error::IllegalOperation)?;
    syscall::signal(ntfn);
    settle();
    ensure!(log_contents() == [0x5c], "the passive thread did not run on the lent context: {:?}", log_contents());
    // It waits again and gave the context back: it can be lent again.
    syscall::signal(ntfn);
    settle();
    ensure!(log_contents() == [0x5c, 0x5c], "the second signal: {:?}", log_contents());
    crate::check::expect_error(SchedContext(lent).unbind_object(other), Error::IllegalOperation)?;
    ok(SchedContext(lent).unbind_object(ntfn), "unbind the notification")?;
    syscall::signal(ntfn);
    settle();
    ensure!(log_contents().len() == 2, "a passive thread ran without a context: {:?}", log_contents());
    // Bound again, then the context is deleted: the notification forgets it.
    ok(SchedContext(lent).bind(ntfn), "bind again")?;
    ok(crate::env::ROOT.delete(lent, crate::env::DEPTH), "delete the bound context")?;
    ok(SchedContext(passive.sc).bind(ntfn), "the notification takes another context")?;
    ok(SchedContext(passive.sc).unbind(), "unbind it")
}

static SERVER_REPLY: AtomicU64 = AtomicU64::new(0);

/// A passive server: takes one call on the endpoint, then spins forever on the caller's
/// context.
extern "C" fn spinning_server(_: u64) -> ! {
    let (ep, reply) = (ENDPOINT.load(Ordering::SeqCst), SERVER_REPLY.load(Ordering::SeqCst));
    syscall::recv(ep, reply);
    record(0x5e);
    loop {
        core::hint::spin_loop();
    }
}

/// Calls the endpoint once, then records the answer's first word and stops.
extern "C" fn call_and_record(index: u64) -> ! {
    let ep = ENDPOINT.load(Ordering::SeqCst);
    let answer = syscall::call(Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 1), mrs: [1, 0, 0, 0] });
    record(answer.mrs[0]);
    stop_self(index)
}

/// 8. A passive server uses up its client's budget and takes a timeout fault (the client's
///    context's badge, to the server's handler); its handler answers the client through the
///    server's reply object: the client gets its context back with no budget left and, having a
///    timeout handler, takes a timeout fault at once (seL4 `doReplyTransfer`) instead of running.
fn reply_returning_an_exhausted_context_is_a_timeout(env: &mut Env) -> Result {
    use hmk_sys::invocation::{SchedContext, SchedControl};
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    let server_reply = env.make(ObjectType::Reply, 0)?;
    SERVER_REPLY.store(server_reply, Ordering::SeqCst);
    let (server_timeouts, client_timeouts) = (env.make(ObjectType::Endpoint, 0)?, env.make(ObjectType::Endpoint, 0)?);
    let server = spawn(env, 0, spinning_server, 250, true)?;
    settle();
    ok(SchedContext(server.sc).unbind(), "make the server passive")?;
    let server_handler = badged_copy(env, server_timeouts, 2)?;
    ok(Tcb(server.tcb).set_timeout_endpoint(server_handler), "the server's timeout handler")?;
    let client = spawn(env, 1, call_and_record, 249, false)?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    // A budget well above a loaded host's pauses (QEMU's clock runs on while the host does not
    // run it), and a period far longer than the case.
    ok(control.configure_flags(SchedContext(client.sc), 20_000, 2_000_000, 0, 0x1c, 0), "the client's budget")?;
    ok(Tcb(client.tcb).resume(), "start the client")?;
    let reply = env.make(ObjectType::Reply, 0)?;
    let fault = syscall::recv(server_timeouts, reply);
    ensure!(fault.info.label() == 5 && fault.cap_or_badge == 2, "the server's timeout: {fault:?}");
    ensure!(fault.mrs[0] == 0x1c, "the server's timeout names context badge {:#x}", fault.mrs[0]);
    ensure!(log_contents() == [0x5e], "the server did not take the call: {:?}", log_contents());
    // Only now the client gets a timeout handler: a pause of the host before its call cannot
    // leave it faulting where nobody waits.
    let client_handler = badged_copy(env, client_timeouts, 3)?;
    ok(Tcb(client.tcb).set_timeout_endpoint(client_handler), "the client's timeout handler")?;
    // Answer the client on the server's behalf.
    syscall::send(Registers { cap_or_badge: server_reply, info: MessageInfo::new(0, 0, 0, 1), mrs: [0x77, 0, 0, 0] });
    let second = syscall::nb_recv(client_timeouts, env.make(ObjectType::Reply, 0)?);
    ensure!(
        second.info.label() == 5 && second.cap_or_badge == 3 && second.mrs[0] == 0x1c,
        "the answered client took no timeout fault: {second:?}"
    );
    ensure!(log_contents() == [0x5e], "the client ran without budget: {:?}", log_contents());
    ok(Tcb(client.tcb).suspend(), "stop the client")?;
    ok(Tcb(server.tcb).suspend(), "stop the server")
}

static HANDLER_EP: AtomicU64 = AtomicU64::new(0);
static HANDLER_REPLY: AtomicU64 = AtomicU64::new(0);

/// A passive fault handler: answers each fault by moving the faulter's PC past the `udf`.
extern "C" fn skip_faults(_: u64) -> ! {
    let (ep, reply) = (HANDLER_EP.load(Ordering::SeqCst), HANDLER_REPLY.load(Ordering::SeqCst));
    let mut fault = syscall::recv(ep, reply);
    loop {
        record(fault.info.label());
        // UserException reply: FaultIP, SP, SPSR.
        let answer = Registers {
            cap_or_badge: 0,
            info: MessageInfo::new(0, 0, 0, 3),
            mrs: [fault.mrs[0] + 4, fault.mrs[1], fault.mrs[2], 0],
        };
        fault = syscall::reply_recv(ep, answer, reply);
    }
}

/// Executes `udf` twice, recording after each.
extern "C" fn undefined_twice(index: u64) -> ! {
    for step in [0xa1, 0xa2] {
        // SAFETY: `udf` traps; the fault handler moves the PC past it.
        unsafe { core::arch::asm!("udf #0", options(nostack)) };
        record(step);
    }
    stop_self(index)
}

/// 8. A passive fault handler (no scheduling context of its own) runs on the faulting thread's
///    context, which the fault message lends it, and gives it back with its reply.
fn passive_fault_handler_runs_on_the_faulters_context(env: &mut Env) -> Result {
    use hmk_sys::invocation::SchedContext;
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    HANDLER_EP.store(ep, Ordering::SeqCst);
    HANDLER_REPLY.store(env.make(ObjectType::Reply, 0)?, Ordering::SeqCst);
    let handler = spawn(env, 0, skip_faults, 250, true)?;
    settle();
    ok(SchedContext(handler.sc).unbind(), "make the handler passive")?;
    let faulter = spawn(env, 1, undefined_twice, 249, false)?;
    set_fault_handler(env, faulter.tcb, ep, 1)?;
    ok(Tcb(faulter.tcb).resume(), "start")?;
    settle();
    ensure!(log_contents() == [3, 0xa1, 3, 0xa2], "the faults were handled as {:?}", log_contents());
    ok(Tcb(handler.tcb).suspend(), "stop the handler")
}

/// A passive server: takes one call on the endpoint, records 0x5e and waits on the notification
/// (holding the caller's context) forever.
extern "C" fn holding_server(_: u64) -> ! {
    let (ep, reply) = (ENDPOINT.load(Ordering::SeqCst), SERVER_REPLY.load(Ordering::SeqCst));
    syscall::recv(ep, reply);
    record(0x5e);
    loop {
        syscall::wait(NOTIFICATION.load(Ordering::SeqCst));
    }
}

/// 6. SchedContext Unbind of a context lent to a passive server takes it from the server and
///    from the reply it was lent through (seL4): the reply then answers the client without
///    giving the context back, so the client waits until it is bound again.
fn unbind_of_a_lent_context_cuts_the_reply(env: &mut Env) -> Result {
    use hmk_sys::invocation::SchedContext;
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    let server_reply = env.make(ObjectType::Reply, 0)?;
    SERVER_REPLY.store(server_reply, Ordering::SeqCst);
    NOTIFICATION.store(env.make(ObjectType::Notification, 0)?, Ordering::SeqCst);
    let server = spawn(env, 0, holding_server, 250, true)?;
    settle();
    ok(SchedContext(server.sc).unbind(), "make the server passive")?;
    let client = spawn(env, 1, call_and_record, 249, true)?;
    settle();
    ensure!(log_contents() == [0x5e], "the server did not take the call: {:?}", log_contents());
    ok(SchedContext(client.sc).unbind(), "unbind the lent context")?;
    syscall::send(Registers { cap_or_badge: server_reply, info: MessageInfo::new(0, 0, 0, 1), mrs: [0x77, 0, 0, 0] });
    settle();
    ensure!(log_contents() == [0x5e], "the reply gave the unbound context back: {:?}", log_contents());
    ok(SchedContext(client.sc).bind(client.tcb), "bind it to the client again")?;
    settle();
    ensure!(log_contents() == [0x5e, 0x77], "the client did not run on its context: {:?}", log_contents());
    ok(Tcb(server.tcb).suspend(), "stop the server")
}

static CHAIN: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// A passive server at the end of the chain: records each number it is called with and answers
/// with the number plus one.
extern "C" fn chain_server(_: u64) -> ! {
    let (ep, reply) = (CHAIN[2].load(Ordering::SeqCst), CHAIN[3].load(Ordering::SeqCst));
    let mut got = syscall::recv(ep, reply);
    loop {
        record(got.mrs[0]);
        let answer = Registers { cap_or_badge: 0, info: MessageInfo::new(0, 0, 0, 1), mrs: [got.mrs[0] + 1, 0, 0, 0] };
        got = syscall::reply_recv(ep, answer, reply);
    }
}

/// A passive proxy: passes each call on to the server and the answer back.
extern "C" fn chain_proxy(_: u64) -> ! {
    let (ep, reply, onward) =
        (CHAIN[0].load(Ordering::SeqCst), CHAIN[1].load(Ordering::SeqCst), CHAIN[2].load(Ordering::SeqCst));
    let mut got = syscall::recv(ep, reply);
    loop {
        let answer = syscall::call(Registers { cap_or_badge: onward, ..got });
        got = syscall::reply_recv(ep, Registers { cap_or_badge: 0, ..answer }, reply);
    }
}

/// Calls the proxy with 10, 20, 30, recording each answer, then stops.
extern "C" fn chain_client(index: u64) -> ! {
    let ep = CHAIN[0].load(Ordering::SeqCst);
    for n in [10, 20, 30] {
        let answer =
            syscall::call(Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 1), mrs: [n, 0, 0, 0] });
        record(answer.mrs[0]);
    }
    stop_self(index)
}

/// 8. A client's context is lent on down a chain: the client calls a passive proxy, which calls
///    a passive server; each reply gives the context back one step (the call stack of seL4's
///    reply objects), so the client gets every answer and runs on (sel4test IPC0011..0015).
fn context_lent_down_a_chain_of_passive_servers(env: &mut Env) -> Result {
    use hmk_sys::invocation::SchedContext;
    reset_records();
    for (i, kind) in
        [ObjectType::Endpoint, ObjectType::Reply, ObjectType::Endpoint, ObjectType::Reply].into_iter().enumerate()
    {
        CHAIN[i].store(env.make(kind, 0)?, Ordering::SeqCst);
    }
    let server = spawn(env, 0, chain_server, 252, true)?;
    let proxy = spawn(env, 1, chain_proxy, 251, true)?;
    settle();
    ok(SchedContext(server.sc).unbind(), "make the server passive")?;
    ok(SchedContext(proxy.sc).unbind(), "make the proxy passive")?;
    spawn(env, 2, chain_client, 250, true)?;
    settle();
    ensure!(log_contents() == [10, 11, 20, 21, 30, 31], "the chain ran as {:?}", log_contents());
    ok(Tcb(proxy.tcb).suspend(), "stop the proxy")?;
    ok(Tcb(server.tcb).suspend(), "stop the server")
}

/// A passive server at the end of the chain that takes one call and spins on its caller's
/// context.
extern "C" fn chain_spinning_server(_: u64) -> ! {
    let (ep, reply) = (CHAIN[2].load(Ordering::SeqCst), CHAIN[3].load(Ordering::SeqCst));
    syscall::recv(ep, reply);
    record(0x5e);
    loop {
        core::hint::spin_loop();
    }
}

/// Busy-waits `us` microseconds without entering the kernel.
fn spin_for_us(us: u64) {
    let start = crate::irq::now();
    let frequency: u64;
    // SAFETY: CNTFRQ_EL0 is readable at EL0; no side effects.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) frequency, options(nomem, nostack)) };
    while crate::irq::now() - start < frequency / 1_000_000 * us {
        core::hint::spin_loop();
    }
}

/// 8. A client's context lent down a chain (client, passive proxy, passive server) runs out in
///    the server: the server's timeout handler hears of it (its badge, 2); answering the proxy
///    through the server's reply object gives the proxy the context back with no budget, so the
///    proxy's timeout handler hears next (badge 3), before the refill due 10 ms after the
///    overrun (sel4test TIMEOUTFAULT0003). The client first runs 15 ms after its Resume: its
///    refills count from when it runs (seL4 `switchSchedContext`), not from the Resume, or the
///    refill would be due already when the proxy is answered.
fn nested_timeout_faults(env: &mut Env) -> Result {
    use hmk_sys::invocation::{SchedContext, SchedControl};
    reset_records();
    for (i, kind) in
        [ObjectType::Endpoint, ObjectType::Reply, ObjectType::Endpoint, ObjectType::Reply].into_iter().enumerate()
    {
        CHAIN[i].store(env.make(kind, 0)?, Ordering::SeqCst);
    }
    let timeouts = env.make(ObjectType::Endpoint, 0)?;
    let server = spawn(env, 0, chain_spinning_server, 252, true)?;
    let proxy = spawn(env, 1, chain_proxy, 251, true)?;
    settle();
    ok(SchedContext(server.sc).unbind(), "make the server passive")?;
    ok(SchedContext(proxy.sc).unbind(), "make the proxy passive")?;
    let (server_handler, proxy_handler) = (badged_copy(env, timeouts, 2)?, badged_copy(env, timeouts, 3)?);
    ok(Tcb(server.tcb).set_timeout_endpoint(server_handler), "the server's timeout handler")?;
    ok(Tcb(proxy.tcb).set_timeout_endpoint(proxy_handler), "the proxy's timeout handler")?;
    let client = spawn(env, 2, chain_client, 250, false)?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(client.sc), 30_000, 40_000, 0, 0x1d, 0), "the client's budget")?;
    let (first_reply, second_reply) = (env.make(ObjectType::Reply, 0)?, env.make(ObjectType::Reply, 0)?);
    ok(Tcb(client.tcb).resume(), "start the client")?;
    spin_for_us(15_000);
    let fault = syscall::recv(timeouts, first_reply);
    ensure!(fault.info.label() == 5 && fault.cap_or_badge == 2, "the first timeout fault: {fault:?}");
    ensure!(log_contents() == [0x5e], "the server did not take the call: {:?}", log_contents());
    // Answer the proxy on the server's behalf.
    let server_reply = CHAIN[3].load(Ordering::SeqCst);
    syscall::send(Registers { cap_or_badge: server_reply, info: MessageInfo::new(0, 0, 0, 1), mrs: [0x77, 0, 0, 0] });
    let second = syscall::nb_recv(timeouts, second_reply);
    ensure!(
        second.info.label() == 5 && second.cap_or_badge == 3 && second.mrs[0] == 0x1d,
        "the answered proxy took no timeout fault: {second:?}"
    );
    for worker in [&client, &proxy, &server] {
        ok(Tcb(worker.tcb).suspend(), "stop a thread")?;
    }
    Ok(())
}

/// Receives once on the endpoint, records its index, signals the notification, then stops.
extern "C" fn receive_record_and_signal(index: u64) -> ! {
    syscall::recv(ENDPOINT.load(Ordering::SeqCst), 0);
    record(index);
    syscall::signal(NOTIFICATION.load(Ordering::SeqCst));
    stop_self(index)
}

/// Records its index, then stops.
extern "C" fn record_and_stop(index: u64) -> ! {
    record(index);
    stop_self(index)
}

/// 8. The one thread a system call wakes runs next when its waker blocks, ahead of the threads
///    that were ready before it at its priority, if no higher priority is ready (seL4
///    `possibleSwitchTo`: it is the scheduler's candidate, switched to directly). The suite's
///    NBSendRecv wakes worker 0 and waits; worker 1, of the same priority, has been ready since
///    before. sel4test TIMEOUTFAULT0003 counts on it: its handler restores the proxy and waits
///    for it while the client, of the proxy's priority, is ready again (its refill came due).
fn woken_thread_runs_before_its_ready_equals(env: &mut Env) -> Result {
    reset_records();
    ENDPOINT.store(env.make(ObjectType::Endpoint, 0)?, Ordering::SeqCst);
    NOTIFICATION.store(env.make(ObjectType::Notification, 0)?, Ordering::SeqCst);
    spawn(env, 0, receive_record_and_signal, 200, true)?;
    settle();
    spawn(env, 1, record_and_stop, 200, true)?;
    let message = Registers {
        cap_or_badge: ENDPOINT.load(Ordering::SeqCst),
        info: MessageInfo::new(0, 0, 0, 1),
        mrs: [1, 0, 0, 0],
    };
    syscall::nb_send_recv(ENDPOINT.load(Ordering::SeqCst), message, NOTIFICATION.load(Ordering::SeqCst), 0);
    // Worker 0 ran and woke the suite; worker 1 runs only once the suite lets it.
    let first = log_contents();
    settle();
    ensure!(
        first == [0] && log_contents() == [0, 1],
        "ran {first:?} before the suite woke, {:?} in all: want the woken worker 0 first",
        log_contents()
    );
    Ok(())
}

/// 8. The kernel's own time is charged to the thread it dispatches (seL4 charges from the
///    kernel entry's timestamp, `ksCurTime`, on): a retype that clears a 2 MiB untyped (its
///    reset) takes a while in the kernel, and the suite, which made it and runs on, finds that
///    time in what its scheduling context consumed. (A test kernel's invariant checker, whose
///    time is nobody's, runs at each entry: it is part of the elapsed time but not of what is
///    charged, so only half of the elapsed time is asked for.)
fn kernel_time_is_charged_to_the_thread_dispatched(env: &mut Env) -> Result {
    use crate::threads::{counter, elapsed_us};
    use hmk_sys::invocation::{SchedContext, Untyped};
    let (root, depth) = (crate::env::ROOT, crate::env::DEPTH);
    let suite_sc = SchedContext(hmk_sys::bootinfo::slot::INIT_THREAD_SC);
    // An untyped whose watermark is at its top and that has no children: its next retype
    // clears all of it first.
    let untyped = env.make(ObjectType::Untyped, 21)?;
    let whole = env.slot();
    ok(Untyped(untyped).retype(ObjectType::Untyped, 21, root, 0, 0, whole, 1), "fill the untyped")?;
    ok(root.delete(whole, depth), "empty it again")?;
    let endpoint = env.slot();
    ok(suite_sc.consumed(), "reset the consumed count")?;
    let (start, _) = counter();
    ok(Untyped(untyped).retype(ObjectType::Endpoint, 0, root, 0, 0, endpoint, 1), "the clearing retype")?;
    let elapsed = elapsed_us(start);
    let consumed = ok(suite_sc.consumed(), "consumed")?;
    ensure!(
        consumed * 2 >= elapsed,
        "the retype took {elapsed} µs, of which the suite was charged {consumed} µs: want at least half"
    );
    Ok(())
}

static YIELDS: AtomicU64 = AtomicU64::new(0);

/// Counts, then yields, forever.
extern "C" fn count_and_yield(_: u64) -> ! {
    loop {
        YIELDS.fetch_add(1, Ordering::SeqCst);
        syscall::yield_now();
    }
}

/// 9. On a sporadic context (1 s every 10 minutes) Yield gives up the rest of the refill (seL4
///    MCS): the thread waits for its next refill, and Suspend then Resume does not give it a new
///    one (sel4test SCHED0016).
fn yield_gives_up_a_sporadic_budget(env: &mut Env) -> Result {
    use hmk_sys::invocation::{SchedContext, SchedControl};
    YIELDS.store(0, Ordering::SeqCst);
    let worker = spawn(env, 0, count_and_yield, 255, false)?;
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(worker.sc), 1_000_000, 600_000_000, 0, 0, 0), "1 s every 10 minutes")?;
    ok(Tcb(worker.tcb).resume(), "start")?;
    syscall::yield_now();
    ensure!(YIELDS.load(Ordering::SeqCst) == 1, "after one yield the worker counted {}", YIELDS.load(Ordering::SeqCst));
    for _ in 0..10 {
        ok(Tcb(worker.tcb).suspend(), "suspend")?;
        ok(Tcb(worker.tcb).resume(), "resume")?;
        syscall::yield_now();
        ensure!(YIELDS.load(Ordering::SeqCst) == 1, "the worker ran again: {}", YIELDS.load(Ordering::SeqCst));
    }
    ok(Tcb(worker.tcb).suspend(), "stop")
}

/// Receives once on the endpoint, records 0x10 + the word it got and its own index, then stops.
extern "C" fn receive_and_record(index: u64) -> ! {
    let got = syscall::recv(ENDPOINT.load(Ordering::SeqCst), 0);
    record(got.mrs[0] << 8 | index);
    stop_self(index)
}

/// Waits once on the notification, records its index, then stops.
extern "C" fn wait_and_record(index: u64) -> ! {
    syscall::wait(NOTIFICATION.load(Ordering::SeqCst));
    record(index);
    stop_self(index)
}

/// The words of `count` messages received on `ep`, in order; the senders then finish (they
/// must stop before their stack and index are reused).
fn receive_words(ep: u64, count: usize) -> alloc::vec::Vec<u64> {
    let words = (0..count).map(|_| syscall::recv(ep, 0).mrs[0]).collect();
    settle();
    words
}

/// 8. Endpoint and notification queues are in priority order, first come first served among
///    equals, and a queued thread whose priority changes moves to its new place (seL4 MCS
///    `tcbAppend`, `reorderEP`): sel4test SCHED_CONTEXT_0008 and IPC0022 count on a higher
///    priority receiver being served before a passive one queued earlier.
fn ipc_queues_are_in_priority_order(env: &mut Env) -> Result {
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    let ntfn = env.make(ObjectType::Notification, 0)?;
    NOTIFICATION.store(ntfn, Ordering::SeqCst);
    // Senders arrive at priorities 10, 30, 20, 30: served 30 (first), 30, 20, 10.
    for (index, priority) in [(0, 10), (1, 30), (2, 20), (3, 30)] {
        spawn(env, index, send_index, priority, true)?;
        settle();
    }
    let order = receive_words(ep, 4);
    ensure!(order == [1, 3, 2, 0], "senders were served in the order {:?}", order);
    // Two equal senders; the later one is raised while it waits and goes first.
    spawn(env, 0, send_index, 20, true)?;
    settle();
    let later = spawn(env, 1, send_index, 20, true)?;
    settle();
    ok(Tcb(later.tcb).set_priority(Tcb(hmk_sys::bootinfo::slot::INIT_THREAD_TCB), 40), "raise a queued sender")?;
    let order = receive_words(ep, 2);
    ensure!(order == [1, 0], "after the raise senders were served in the order {:?}", order);
    // Receivers at 10, then 30: the first message goes to the one at 30.
    reset_records();
    spawn(env, 0, receive_and_record, 10, true)?;
    settle();
    spawn(env, 1, receive_and_record, 30, true)?;
    settle();
    for word in [0xa, 0xb] {
        syscall::send(Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 1), mrs: [word, 0, 0, 0] });
        settle();
    }
    ensure!(log_contents() == [0xa01, 0xb00], "receivers were served as {:x?}", log_contents());
    // Notification waiters at 10, 30, and one at 5 raised to 50 while it waits.
    reset_records();
    for (index, priority) in [(0, 10), (1, 30), (2, 5)] {
        let w = spawn(env, index, wait_and_record, priority, true)?;
        settle();
        if index == 2 {
            ok(Tcb(w.tcb).set_priority(Tcb(hmk_sys::bootinfo::slot::INIT_THREAD_TCB), 50), "raise a waiter")?;
        }
    }
    for _ in 0..3 {
        syscall::signal(ntfn);
        settle();
    }
    ensure!(log_contents() == [2, 1, 0], "waiters were woken as {:?}", log_contents());
    Ok(())
}

static SECOND_NOTIFICATION: AtomicU64 = AtomicU64::new(0);

/// A passive receiver: takes one message on the endpoint, records 0x5e, and then waits on the
/// notification (holding whatever context it was given) for good.
extern "C" fn receive_and_hold(_: u64) -> ! {
    syscall::recv(ENDPOINT.load(Ordering::SeqCst), 0);
    record(0x5e);
    loop {
        syscall::wait(NOTIFICATION.load(Ordering::SeqCst));
    }
}

/// NBSendWait to the endpoint, waiting on the second notification; records 0xc1 once it runs
/// on, then stops.
extern "C" fn send_wait_and_record(index: u64) -> ! {
    let ep = ENDPOINT.load(Ordering::SeqCst);
    let regs = Registers { cap_or_badge: ep, info: MessageInfo::new(0, 0, 0, 1), mrs: [1, 0, 0, 0] };
    syscall::nb_send_wait(ep, regs, SECOND_NOTIFICATION.load(Ordering::SeqCst));
    record(0xc1);
    stop_self(index)
}

/// 8. NBSendWait (and NBSendRecv) to a passive receiver gives it the sender's scheduling
///    context for good (seL4 MCS donation on a send that may donate): the receiver runs on it,
///    the sender then waits without one and does not run when woken, the context cannot be
///    bound elsewhere while the receiver holds it, and deleting the receiver frees it to be
///    bound to the sender again (sel4test IPC0022, SCHED_CONTEXT_0008).
fn nb_send_wait_gives_a_passive_receiver_the_context(env: &mut Env) -> Result {
    use hmk_sys::invocation::SchedContext;
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    ENDPOINT.store(ep, Ordering::SeqCst);
    NOTIFICATION.store(env.make(ObjectType::Notification, 0)?, Ordering::SeqCst);
    let woken = env.make(ObjectType::Notification, 0)?;
    SECOND_NOTIFICATION.store(woken, Ordering::SeqCst);
    let receiver = spawn(env, 0, receive_and_hold, 250, true)?;
    settle();
    ok(SchedContext(receiver.sc).unbind(), "make the receiver passive")?;
    let sender = spawn(env, 1, send_wait_and_record, 249, true)?;
    settle();
    ensure!(log_contents() == [0x5e], "the passive receiver did not run: {:?}", log_contents());
    crate::check::expect_error(SchedContext(sender.sc).bind(sender.tcb), hmk_sys::error::Error::IllegalOperation)?;
    syscall::signal(woken);
    settle();
    ensure!(log_contents() == [0x5e], "the sender ran without a context: {:?}", log_contents());
    ok(crate::env::ROOT.delete(receiver.tcb, crate::env::DEPTH), "delete the receiver")?;
    ok(SchedContext(sender.sc).bind(sender.tcb), "bind the freed context to the sender")?;
    settle();
    ensure!(log_contents() == [0x5e, 0xc1], "the sender did not run on its context again: {:?}", log_contents());
    Ok(())
}
