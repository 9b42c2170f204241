//! Thread control blocks: the layout of a TCB object and the thread states.
//!
//! A TCB object is 2^11 bytes, as in seL4: first a few capability slots that belong to the
//! thread (its CSpace root, VSpace root, IPC buffer frame, fault and timeout handler endpoints),
//! then the thread's state. Its saved user registers sit at a fixed place so the exception
//! entry code can store into them directly.

use super::TCB_BITS;
use crate::context::UserContext;
use crate::cspace::slot::Slot;

/// Indices of the capability slots at the start of a TCB object (seL4 MCS order).
pub mod slot {
    pub const CSPACE_ROOT: usize = 0;
    pub const VSPACE_ROOT: usize = 1;
    pub const IPC_BUFFER: usize = 2;
    pub const FAULT_HANDLER: usize = 3;
    pub const TIMEOUT_HANDLER: usize = 4;
    pub const COUNT: usize = 5;
}

/// What a thread is doing (seL4's thread states).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum ThreadState {
    /// Not runnable, not waiting; fresh or suspended.
    Inactive = 0,
    Running = 1,
    /// Runnable; re-executes its interrupted system call when it next runs.
    Restart = 2,
    BlockedOnReceive = 3,
    BlockedOnSend = 4,
    BlockedOnReply = 5,
    BlockedOnNotification = 6,
    Idle = 7,
}

impl ThreadState {
    /// Whether a thread in this state belongs in a ready queue.
    pub fn is_runnable(self) -> bool {
        matches!(self, ThreadState::Running | ThreadState::Restart)
    }
}

/// FP/SIMD registers, saved lazily (only when another thread wants the FPU).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug)]
pub struct FpState {
    pub q: [u128; 32],
    pub fpsr: u64,
    pub fpcr: u64,
}

/// The thread state that follows the TCB's own capability slots.
#[repr(C)]
pub struct Tcb {
    /// User registers; the exception entry code saves into and restores from here.
    pub context: UserContext,
    /// TPIDR_EL0 (seL4's TLS base).
    pub tls_base: u64,
    pub state: ThreadState,
    pub priority: u64,
    /// Maximum controlled priority: the highest priority this thread may give any thread.
    pub mcp: u64,
    /// User address of the IPC buffer.
    pub ipc_buffer: u64,
    /// Bound scheduling context, notification, and the reply object of a pending call (kernel
    /// addresses, 0 for none).
    pub sched_context: u64,
    pub bound_notification: u64,
    pub reply: u64,
    /// The endpoint or notification the thread is blocked on, and the badge/flags of the
    /// blocked operation.
    pub blocked_on: u64,
    pub blocked_badge: u64,
    pub blocked_flags: u64,
    /// Links of the endpoint/notification queue the thread waits in.
    pub queue_prev: u64,
    pub queue_next: u64,
    /// Links of the ready queue or release queue, and whether the thread is in a ready queue.
    pub sched_prev: u64,
    pub sched_next: u64,
    pub in_ready_queue: u64,
    /// The pending fault, if any: seL4 fault type and its words.
    pub fault: [u64; 4],
    /// Debug name (DebugNameThread), NUL-padded.
    pub name: [u8; 32],
    pub fp: FpState,
    /// seL4_TCBFlag bits (TCB SetFlags): bit 0 disables the FP unit for the thread.
    pub flags: u64,
    /// 1 when WriteRegisters or CopyRegisters wrote the PC of the thread while it was blocked
    /// in a system call: that PC is then where it restarts as well as where it returns (seL4
    /// sets FaultIP and NextIP alike), not the `svc` before it. Cleared at its next kernel
    /// entry.
    pub pc_written: u64,
    /// The thread's DebugPutChar output since its last complete line: each thread's lines go
    /// out whole, never mixed with another's.
    pub console_line: [u8; CONSOLE_LINE_BYTES],
    pub console_len: u64,
}

/// The longest line of a thread's DebugPutChar output that goes out in one piece.
pub const CONSOLE_LINE_BYTES: usize = 160;

/// seL4_TCBFlag_fpuDisabled: the thread's FP/SIMD use is a user exception.
pub const FLAG_FPU_DISABLED: u64 = 1;

/// A TCB object as it lies in memory.
#[repr(C)]
pub struct TcbObject {
    pub slots: [Slot; slot::COUNT],
    pub tcb: Tcb,
}

const _: () = assert!(core::mem::size_of::<TcbObject>() <= 1 << TCB_BITS);

impl Tcb {
    /// Offset of the register area from the start of a TCB object.
    pub const CONTEXT_OFFSET: usize = core::mem::offset_of!(TcbObject, tcb) + core::mem::offset_of!(Tcb, context);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_fits_the_sel4_object_size() {
        assert!(core::mem::size_of::<TcbObject>() <= 2048);
        assert_eq!(Tcb::CONTEXT_OFFSET, 5 * 32);
        assert!(ThreadState::Restart.is_runnable());
        assert!(!ThreadState::BlockedOnReply.is_runnable());
    }
}
