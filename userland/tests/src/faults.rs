//! Cases for faults: a worker's capability fault, unknown syscall, user exception and VM fault
//! arrive at its fault endpoint as messages with seL4's labels and layouts; replying with
//! label 0 resumes the worker; without a fault handler the worker just stops.

use crate::check::{ensure, ok};
use crate::env::{Env, ROOT};
use crate::threads::{LOG_LEN, log_contents, record, reset_records, spawn, stop_self, yield_until};
use alloc::string::String;
use core::sync::atomic::Ordering;
use hmk_sys::bootinfo::slot;
use hmk_sys::invocation::{CPtr, Tcb};
use hmk_sys::message::MessageInfo;
use hmk_sys::object::ObjectType;
use hmk_sys::syscall::{self, Registers};

type Result = crate::check::Outcome;

/// Makes `unknown syscall -100` with x0 = 5, then records the x0 the kernel returns.
extern "C" fn unknown_syscall_worker(index: u64) -> ! {
    let mut x0: u64 = 5;
    // SAFETY: a system call the kernel does not know: it becomes a fault, and the handler's
    // reply decides x0..x3 when the thread resumes after the `svc`.
    unsafe {
        core::arch::asm!("svc #0", inout("x0") x0, in("x7") -100i64, lateout("x1") _, lateout("x2") _, lateout("x3") _, options(nostack))
    };
    record(x0);
    stop_self(index)
}

/// Invokes a capability pointer no CSpace resolves.
extern "C" fn cap_fault_worker(index: u64) -> ! {
    syscall::call(Registers { cap_or_badge: 1 << 40, ..Registers::default() });
    record(999);
    stop_self(index)
}

/// Reads an unmapped address.
extern "C" fn vm_fault_worker(index: u64) -> ! {
    // SAFETY: deliberately not safe: the read faults and the kernel reports it.
    let value = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
    record(value);
    stop_self(index)
}

/// Executes a permanently undefined instruction.
extern "C" fn undefined_worker(index: u64) -> ! {
    // SAFETY: `udf` traps to the kernel, which reports a user exception; execution does not
    // continue past it unless the handler moves the PC.
    unsafe { core::arch::asm!("udf #0", options(nostack)) };
    record(998);
    stop_self(index)
}

/// A worker at the suite's priority whose fault handler is a badged copy of `endpoint`.
fn spawn_handled(env: &mut Env, entry: extern "C" fn(u64) -> !, endpoint: CPtr) -> core::result::Result<CPtr, String> {
    let worker = spawn(env, 0, entry, 255, false)?;
    let handler = env.slot();
    ok(ROOT.mint(handler, 64, ROOT, endpoint, 64, hmk_sys::message::CapRights::ALL, 0xfa), "mint the handler")?;
    ok(
        Tcb(worker.tcb).set_space(handler, slot::INIT_THREAD_CNODE, 0, slot::INIT_THREAD_VSPACE, 0),
        "set the fault handler",
    )?;
    ok(Tcb(worker.tcb).resume(), "resume")?;
    Ok(worker.tcb)
}

struct Handler {
    ep: CPtr,
    reply: CPtr,
}

fn handler(env: &mut Env) -> core::result::Result<Handler, String> {
    Ok(Handler { ep: env.make(ObjectType::Endpoint, 0)?, reply: env.make(ObjectType::Reply, 0)? })
}

pub fn unknown_syscall_fault_and_resume(env: &mut Env) -> Result {
    reset_records();
    let h = handler(env)?;
    spawn_handled(env, unknown_syscall_worker, h.ep)?;
    let fault = syscall::recv(h.ep, h.reply);
    ensure!(fault.info.label() == 2, "label {}, want UnknownSyscall (2)", fault.info.label());
    ensure!(fault.cap_or_badge == 0xfa, "badge {:#x}", fault.cap_or_badge);
    ensure!(fault.mrs[0] == 5, "MR0 (x0) {}", fault.mrs[0]);
    ensure!(fault.info.length() == 13, "length {}", fault.info.length());
    let buffer = hmk_sys::ipc_buffer::ipc_buffer();
    let (fault_ip, next_pc, syscall_number) = (buffer.msg[8], buffer.msg[10], buffer.msg[12]);
    ensure!(syscall_number as i64 == -100, "syscall number {}", syscall_number as i64);
    // seL4: FaultIP is the `svc` itself, the "LR" word the PC after it.
    // SAFETY: the worker runs in the suite's image: its PC is a mapped code address.
    let instruction = unsafe { (fault_ip as *const u32).read_volatile() };
    ensure!(instruction == 0xd400_0001, "FaultIP {fault_ip:#x} holds {instruction:#x}, not the svc");
    ensure!(next_pc == fault_ip + 4, "next PC {next_pc:#x}, FaultIP {fault_ip:#x}");
    // Reply: x0 = 1234 and FaultIP moved past the `svc` (words 4..8 in the IPC buffer).
    let mut words = [0u64; 9];
    words[0] = 1234;
    words[1..4].copy_from_slice(&fault.mrs[1..4]);
    words[8] = fault_ip + 4;
    let buffer = hmk_sys::ipc_buffer::ipc_buffer();
    buffer.msg[4..9].copy_from_slice(&words[4..9]);
    syscall::send(Registers {
        cap_or_badge: h.reply,
        info: MessageInfo::new(0, 0, 0, 9),
        mrs: [words[0], words[1], words[2], words[3]],
    });
    ensure!(yield_until(20, || LOG_LEN.load(Ordering::SeqCst) == 1), "the worker did not resume");
    ensure!(log_contents() == [1234], "resumed with {:?}", log_contents());
    Ok(())
}

pub fn cap_fault_message(env: &mut Env) -> Result {
    reset_records();
    let h = handler(env)?;
    let worker = spawn_handled(env, cap_fault_worker, h.ep)?;
    let fault = syscall::recv(h.ep, h.reply);
    ensure!(fault.info.label() == 1, "label {}, want CapFault (1)", fault.info.label());
    ensure!(fault.mrs[1] == 1 << 40, "address {:#x}", fault.mrs[1]);
    ensure!(fault.mrs[2] == 0, "not in the receive phase");
    // After a capability fault any reply restarts the thread, whatever its label (seL4): the
    // call is made again and faults again.
    syscall::send(Registers { cap_or_badge: h.reply, info: MessageInfo::new(1, 0, 0, 0), mrs: [0; 4] });
    let again = syscall::recv(h.ep, h.reply);
    ensure!(again.info.label() == 1 && again.mrs[1] == 1 << 40, "no second capability fault: {again:?}");
    ensure!(log_contents().is_empty(), "the worker went on: {:?}", log_contents());
    ok(Tcb(worker).suspend(), "suspend")
}

pub fn vm_fault_message(env: &mut Env) -> Result {
    reset_records();
    let h = handler(env)?;
    let worker = spawn_handled(env, vm_fault_worker, h.ep)?;
    let fault = syscall::recv(h.ep, h.reply);
    ensure!(fault.info.label() == 6, "label {}, want VMFault (6)", fault.info.label());
    ensure!(fault.mrs[1] == 0x10, "fault address {:#x}", fault.mrs[1]);
    ensure!(fault.mrs[2] == 0, "a data access, not an instruction fetch");
    ensure!(fault.mrs[0] != 0, "no faulting PC");
    ok(Tcb(worker).suspend(), "suspend")
}

pub fn user_exception_message(env: &mut Env) -> Result {
    reset_records();
    let h = handler(env)?;
    let worker = spawn_handled(env, undefined_worker, h.ep)?;
    let fault = syscall::recv(h.ep, h.reply);
    ensure!(fault.info.label() == 3, "label {}, want UserException (3)", fault.info.label());
    ensure!(fault.info.length() == 5, "length {}", fault.info.length());
    // seL4 on AArch64: Number is the syndrome (EC 0, unknown instruction; IL 1), Code 0.
    ensure!(fault.mrs[3] == 0x0200_0000, "Number (ESR) {:#x}, want 0x2000000", fault.mrs[3]);
    let code = hmk_sys::ipc_buffer::ipc_buffer().msg[4];
    ensure!(code == 0, "Code {code:#x}, want 0");
    ok(Tcb(worker).suspend(), "suspend")
}

pub fn fault_without_handler_stops_the_thread(env: &mut Env) -> Result {
    reset_records();
    spawn(env, 0, vm_fault_worker, 255, true)?;
    yield_until(10, || false);
    ensure!(log_contents().is_empty(), "a faulting thread without a handler went on");
    Ok(())
}

/// Spins forever (for timeout faults).
extern "C" fn spin(index: u64) -> ! {
    loop {
        crate::threads::bump(index);
    }
}

pub fn timeout_fault_reply_resumes(env: &mut Env) -> Result {
    let worker = spawn(env, 0, spin, 250, false)?;
    let control = hmk_sys::invocation::SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(hmk_sys::invocation::SchedContext(worker.sc), 1_000, 20_000, 0, 0, 0), "budget")?;
    let h = handler(env)?;
    ok(Tcb(worker.tcb).set_timeout_endpoint(h.ep), "timeout endpoint")?;
    ok(Tcb(worker.tcb).resume(), "start")?;
    let sc = hmk_sys::invocation::SchedContext(worker.sc);
    let first = syscall::recv(h.ep, h.reply);
    ensure!(first.info.label() == 5 && first.info.length() == 2, "first fault {first:?}");
    // Each fault reports the microseconds consumed since the last report and restarts the count
    // (seL4 `schedContext_updateConsumed`): at least most of the 1000 µs budget (a late timer
    // interrupt only adds to it), and nothing since, as the thread has not run.
    let restarted = ok(sc.consumed(), "consumed after the fault")?;
    ensure!(first.mrs[1] >= 500 && restarted == 0, "consumed {} µs, then {restarted} µs since", first.mrs[1]);
    // Resume it: it runs again when its budget is refilled, and times out again.
    syscall::send(Registers { cap_or_badge: h.reply, info: MessageInfo::new(0, 0, 0, 0), mrs: [0; 4] });
    let second = syscall::recv(h.ep, h.reply);
    ensure!(second.info.label() == 5, "second label {}", second.info.label());
    ensure!(
        second.mrs[1] >= 500,
        "consumed {} µs before the second fault: the resumed thread did not run",
        second.mrs[1]
    );
    ok(Tcb(worker.tcb).suspend(), "stop")
}

pub fn unknown_syscall_without_handler_stops(env: &mut Env) -> Result {
    reset_records();
    spawn(env, 0, unknown_syscall_worker, 255, true)?;
    yield_until(10, || false);
    ensure!(log_contents().is_empty(), "a thread with an unknown syscall and no handler went on");
    Ok(())
}

/// For other case modules: a worker entry that reads an unmapped address.
pub fn vm_fault_entry() -> extern "C" fn(u64) -> ! {
    vm_fault_worker
}

static SERVICE: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
static SERVICE_REPLY: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// A server: answers every call with 0x5e4e on the service endpoint, forever.
extern "C" fn answering_server(_: u64) -> ! {
    let (ep, reply) = (SERVICE.load(Ordering::SeqCst), SERVICE_REPLY.load(Ordering::SeqCst));
    let answer = Registers { cap_or_badge: 0, info: MessageInfo::new(0, 0, 0, 1), mrs: [0x5e4e, 0, 0, 0] };
    syscall::recv(ep, reply);
    loop {
        syscall::reply_recv(ep, answer, reply);
    }
}

/// A thread faults; its handler takes the fault, then restarts it (suspend, new registers,
/// resume) as a server instead of replying. The restarted thread's replies must carry its own
/// message, not its abandoned fault.
pub fn server_restarted_after_a_fault_replies_with_its_own_message(env: &mut Env) -> Result {
    reset_records();
    let h = handler(env)?;
    let worker = spawn_handled(env, vm_fault_worker, h.ep)?;
    let fault = syscall::recv(h.ep, h.reply);
    ensure!(fault.info.label() == 6, "label {}, want VMFault (6)", fault.info.label());
    SERVICE.store(env.make(ObjectType::Endpoint, 0)?, Ordering::SeqCst);
    SERVICE_REPLY.store(env.make(ObjectType::Reply, 0)?, Ordering::SeqCst);
    ok(Tcb(worker).suspend(), "stop the faulted thread")?;
    let mut regs = hmk_sys::invocation::UserContext::default();
    regs.0[hmk_sys::invocation::UserContext::PC] = answering_server as *const () as u64;
    regs.0[hmk_sys::invocation::UserContext::SP] = crate::threads::stack_top_of(0);
    ok(Tcb(worker).write_registers(true, 2, &regs), "restart it as a server")?;
    let service = SERVICE.load(Ordering::SeqCst);
    let answer = syscall::call(Registers { cap_or_badge: service, info: MessageInfo::new(0, 0, 0, 0), mrs: [0; 4] });
    ensure!(
        answer.info.label() == 0 && answer.mrs[0] == 0x5e4e,
        "the restarted server answered label {} with {:#x}: its old fault message?",
        answer.info.label(),
        answer.mrs[0]
    );
    ok(Tcb(worker).suspend(), "stop the server")
}
