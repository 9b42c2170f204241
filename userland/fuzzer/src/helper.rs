//! Helper threads: made by a fuzzing thread inside its sandbox (their TCBs, scheduling contexts
//! and endpoints are the fuzzer's objects) and driven through a mailbox: the fuzzing thread
//! posts one command (an IPC system call on capabilities of the sandbox) and the helper runs
//! it (woken by a notification of the sandbox, its doorbell), often blocking in the kernel,
//! which is the point: blocked threads, replies and lent
//! scheduling contexts are what the fuzzer then deletes and reuses.

use core::sync::atomic::{AtomicU64, Ordering};
use hmk_sys::message::MessageInfo;
use hmk_sys::syscall::{self, Registers};

/// Helpers per fuzzing thread.
pub const PER_WORKER: usize = 4;
pub const MAX: usize = crate::MAX_THREADS * PER_WORKER;
const STACK_SIZE: usize = 8 * 1024;

#[repr(C, align(16))]
struct Stacks([[u8; STACK_SIZE]; MAX]);

static mut STACKS: Stacks = Stacks([[0; STACK_SIZE]; MAX]);

/// The top of helper `id`'s stack.
pub fn stack_top(id: usize) -> u64 {
    // Only the address is taken; each helper uses its own stack.
    core::ptr::addr_of_mut!(STACKS) as u64 + ((id + 1) * STACK_SIZE) as u64
}

/// Commands: `seq << 32 | b << 16 | a << 8 | op`.
static MAILBOX: [AtomicU64; MAX] = [const { AtomicU64::new(0) }; MAX];
/// The sequence number each helper ran last.
static DONE: [AtomicU64; MAX] = [const { AtomicU64::new(0) }; MAX];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Recv = 1,
    Call,
    Send,
    NbSend,
    ReplyRecv,
    Wait,
    Signal,
    Fault,
    NbRecv,
    SendReply,
    Yield,
    NbSendRecv,
}

const COMMANDS: [Command; 12] = [
    Command::Recv,
    Command::Call,
    Command::Send,
    Command::NbSend,
    Command::ReplyRecv,
    Command::Wait,
    Command::Signal,
    Command::Fault,
    Command::NbRecv,
    Command::SendReply,
    Command::Yield,
    Command::NbSendRecv,
];

/// Posts `command` on capabilities `a` and `b` to helper `id` and rings its doorbell.
pub fn post(id: usize, command: Command, a: u64, b: u64) {
    let seq = (MAILBOX[id].load(Ordering::SeqCst) >> 32) + 1;
    MAILBOX[id].store(seq << 32 | (b & 0xff) << 16 | (a & 0xff) << 8 | command as u64, Ordering::SeqCst);
    syscall::signal(crate::layout::DOORBELLS + (id % PER_WORKER) as u64);
}

/// Whether helper `id` has finished its last command.
pub fn idle(id: usize) -> bool {
    DONE[id].load(Ordering::SeqCst) == MAILBOX[id].load(Ordering::SeqCst) >> 32
}

/// Before (re)starting helper `id` on a new thread: nothing is pending.
pub fn reset(id: usize) {
    DONE[id].store(MAILBOX[id].load(Ordering::SeqCst) >> 32, Ordering::SeqCst);
}

/// A helper's body: waits for commands and runs them, forever.
pub extern "C" fn main(id: u64) -> ! {
    let id = id as usize % MAX;
    loop {
        let word = MAILBOX[id].load(Ordering::SeqCst);
        let seq = word >> 32;
        if seq == DONE[id].load(Ordering::SeqCst) {
            // Nothing to do: sleep until the fuzzing thread rings (idle helpers spinning on
            // Yield would cost an invariant walk each).
            syscall::wait(crate::layout::DOORBELLS + (id % PER_WORKER) as u64);
            continue;
        }
        let (a, b) = ((word >> 8) & 0xff, (word >> 16) & 0xff);
        let message = Registers { cap_or_badge: a, info: MessageInfo::new(0x55, 0, 0, 2), mrs: [id as u64, seq, 0, 0] };
        match COMMANDS.get((word & 0xff) as usize - 1).copied().unwrap_or(Command::Yield) {
            Command::Recv => {
                syscall::recv(a, b);
            }
            Command::Call => {
                syscall::call(message);
            }
            Command::Send => syscall::send(message),
            Command::NbSend => syscall::nb_send(message),
            Command::ReplyRecv => {
                syscall::reply_recv(a, Registers { info: MessageInfo::new(0, 0, 0, 1), ..message }, b);
            }
            Command::Wait => {
                syscall::wait(a);
            }
            Command::Signal => syscall::signal(a),
            Command::Fault => fault(),
            Command::NbRecv => {
                syscall::nb_recv(a, b);
            }
            Command::SendReply => syscall::send(Registers { cap_or_badge: b, ..message }),
            Command::Yield => syscall::yield_now(),
            Command::NbSendRecv => {
                syscall::nb_send_recv(a, message, a, b);
            }
        }
        DONE[id].store(seq, Ordering::SeqCst);
    }
}

/// Touches an unmapped address: a VM fault for the helper's fault handler.
fn fault() {
    // SAFETY: the load from address 0x10 (never mapped: the image starts at 4 MiB) faults; the
    // kernel turns that into a fault message and the helper does not return from it unless
    // its handler restarts it, which runs the load again. No memory is read.
    unsafe {
        core::arch::asm!("ldr {tmp}, [{address}]", address = in(reg) 0x10u64, tmp = out(reg) _, options(nostack))
    };
}
