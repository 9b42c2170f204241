//! The fuzzing threads' sandbox: a 256-slot CNode as CSpace (guard 56 bits, so capability
//! addresses are plain slot numbers at depth 64), holding the thread's own capabilities in
//! slots below [`crate::model::FIRST_FREE`] and its untyped memory and everything it makes
//! above.

/// The thread's own TCB (the runtime's panic handler suspends slot 1, so a panic stops it).
pub const OWN_TCB: u64 = 1;
/// The sandbox CNode itself, with the guard that makes it the thread's CSpace root.
pub const OWN_CNODE: u64 = 2;
/// The scheduling control capability of the core.
pub const SCHED_CONTROL: u64 = 3;
/// The supervisor's endpoint, badged with the thread's index + 1.
pub const SUPERVISOR: u64 = 4;
/// The address space all threads share (the root task's).
pub const VSPACE: u64 = 6;
/// Helper `h` of the thread waits for commands on the notification in slot `DOORBELLS + h`.
pub const DOORBELLS: u64 = 8;
/// The sandbox's untypeds: `UNTYPEDS` of 2^`UNTYPED_BITS` bytes from slot `FIRST_UNTYPED`.
pub const FIRST_UNTYPED: u64 = 16;
pub const UNTYPEDS: u64 = 4;
pub const UNTYPED_BITS: u64 = 17;
/// Radix of the sandbox CNode.
pub const SANDBOX_BITS: u64 = 8;
/// Depth of a sandbox capability address.
pub const DEPTH: u64 = 64;
/// The CSpace data that makes the sandbox CNode resolve 64-bit addresses.
pub const CSPACE_DATA: u64 = hmk_sys::message::cnode_cap_data(0, 64 - SANDBOX_BITS);
/// Priority and maximum controlled priority of the fuzzing threads (helpers get at most this).
pub const PRIORITY: u64 = 100;
/// Label of the message a fuzzing thread sends the supervisor when it has made its calls.
pub const DONE_LABEL: u64 = 0x0d0e;
