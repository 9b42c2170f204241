//! hmk's user ABI in Rust, which is seL4's AArch64 MCS ABI: the system calls ([`syscall`]),
//! the message-info word ([`message`]), the IPC buffer ([`ipc_buffer`]), the BootInfo frame
//! ([`bootinfo`]), error codes ([`error`]), object types and invocation labels ([`object`]),
//! and typed capabilities with one method per invocation ([`invocation`]).
//!
//! Everything but the `svc` instructions is plain data and logic, unit-tested on the host.
#![cfg_attr(not(test), no_std)]

pub mod bootinfo;
pub mod error;
pub mod invocation;
pub mod ipc_buffer;
pub mod message;
pub mod object;
pub mod syscall;

pub use error::{Error, Result};
pub use message::MessageInfo;
