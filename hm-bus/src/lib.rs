//! The HM bus (docs/bus-protocol.md): class sets ([`class`]), the message format and its word
//! and slot encodings ([`message`]), the inbox ring over a shared 4 KiB frame ([`inbox`]), the
//! membership table and scope routing ([`routing`]), the request handler ([`server`]), and the system's services' classes and
//! payloads ([`services`]).
//!
//! Pure logic, no system calls: the same code is unit-tested on the host and runs in the bus
//! module on the target, which supplies the inbox frames and notifications through
//! [`server::Transport`]. With the feature `sys`, [`module`] adds the target side: the bus
//! module's loop, members, the owner and bridges.
#![cfg_attr(not(test), no_std)]

pub mod class;
pub mod inbox;
pub mod message;
#[cfg(feature = "sys")]
pub mod module;
pub mod routing;
pub mod server;
pub mod services;

pub use class::ClassSet;
pub use inbox::{InboxReader, InboxWriter, Offered};
pub use message::{Header, Message, MessageError, Scope};
pub use routing::{MemberSet, Rights, Role, RouteError, Routes};
pub use server::{BusServer, Reply, Transport};
