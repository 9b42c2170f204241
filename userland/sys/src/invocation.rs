//! Typed capabilities and their invocations, marshalled as libsel4 does: arguments in message
//! registers (the first four in x2..x5, the rest in the IPC buffer), capability arguments in
//! the IPC buffer's capability slots, a Call, and the reply label read as an error code. After
//! an error, the error's details are in the IPC buffer's message registers 0.. .

use crate::error::{Error, Result};
use crate::ipc_buffer::ipc_buffer;
use crate::message::{CapRights, MAX_EXTRA_CAPS, MAX_MESSAGE_LENGTH, MessageInfo};
use crate::object::{ObjectType, label};
use crate::syscall::{self, Registers};

/// The registers and IPC-buffer words an invocation puts in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marshalled {
    pub regs: Registers,
    /// Message words 4.. (written to the IPC buffer).
    pub buffer_words: [u64; MAX_MESSAGE_LENGTH],
    pub caps: [u64; MAX_EXTRA_CAPS],
}

/// Lays out an invocation of `cap` with `label`, message `args` and capability arguments `caps`.
pub fn marshal(cap: u64, label: u64, args: &[u64], caps: &[u64]) -> Marshalled {
    let length = args.len().min(MAX_MESSAGE_LENGTH);
    let extra = caps.len().min(MAX_EXTRA_CAPS);
    let mut m = Marshalled {
        regs: Registers {
            cap_or_badge: cap,
            info: MessageInfo::new(label, 0, extra as u64, length as u64),
            mrs: [0; 4],
        },
        buffer_words: [0; MAX_MESSAGE_LENGTH],
        caps: [0; MAX_EXTRA_CAPS],
    };
    for (i, &word) in args.iter().take(length).enumerate() {
        if i < 4 {
            m.regs.mrs[i] = word;
        } else {
            m.buffer_words[i] = word;
        }
    }
    m.caps[..extra].copy_from_slice(&caps[..extra]);
    m
}

/// Performs an invocation; returns the reply's first four message registers.
pub fn invoke(cap: u64, label: u64, args: &[u64], caps: &[u64]) -> Result<[u64; 4]> {
    let m = marshal(cap, label, args, caps);
    let buffer = ipc_buffer();
    for i in 4..args.len().min(MAX_MESSAGE_LENGTH) {
        buffer.msg[i] = m.buffer_words[i];
    }
    buffer.caps_or_badges = m.caps;
    let reply = syscall::call(m.regs);
    buffer.msg[..4].copy_from_slice(&reply.mrs);
    match Error::from_label(reply.info.label()) {
        None if reply.info.label() == 0 => Ok(reply.mrs),
        None => Err(Error::IllegalOperation),
        Some(error) => Err(error),
    }
}

/// The `index`th word describing the last error (seL4's error details).
pub fn error_detail(index: usize) -> u64 {
    ipc_buffer().msg.get(index).copied().unwrap_or(0)
}

/// A capability pointer: an address in the caller's CSpace.
pub type CPtr = u64;

/// A CNode capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CNode(pub CPtr);

impl CNode {
    pub fn copy(
        self,
        dest: CPtr,
        dest_depth: u64,
        src_root: CNode,
        src: CPtr,
        src_depth: u64,
        rights: CapRights,
    ) -> Result<()> {
        invoke(self.0, label::CNODE_COPY, &[dest, dest_depth, src, src_depth, rights.word()], &[src_root.0]).map(|_| ())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn mint(
        self,
        dest: CPtr,
        dest_depth: u64,
        src_root: CNode,
        src: CPtr,
        src_depth: u64,
        rights: CapRights,
        badge: u64,
    ) -> Result<()> {
        invoke(self.0, label::CNODE_MINT, &[dest, dest_depth, src, src_depth, rights.word(), badge], &[src_root.0])
            .map(|_| ())
    }

    pub fn move_(self, dest: CPtr, dest_depth: u64, src_root: CNode, src: CPtr, src_depth: u64) -> Result<()> {
        invoke(self.0, label::CNODE_MOVE, &[dest, dest_depth, src, src_depth], &[src_root.0]).map(|_| ())
    }

    pub fn mutate(
        self,
        dest: CPtr,
        dest_depth: u64,
        src_root: CNode,
        src: CPtr,
        src_depth: u64,
        badge: u64,
    ) -> Result<()> {
        invoke(self.0, label::CNODE_MUTATE, &[dest, dest_depth, src, src_depth, badge], &[src_root.0]).map(|_| ())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn rotate(
        self,
        dest: CPtr,
        dest_depth: u64,
        pivot_root: CNode,
        pivot: CPtr,
        pivot_depth: u64,
        pivot_badge: u64,
        src_root: CNode,
        src: CPtr,
        src_depth: u64,
        src_badge: u64,
    ) -> Result<()> {
        invoke(
            self.0,
            label::CNODE_ROTATE,
            &[dest, dest_depth, pivot_badge, pivot, pivot_depth, src_badge, src, src_depth],
            &[pivot_root.0, src_root.0],
        )
        .map(|_| ())
    }

    pub fn delete(self, index: CPtr, depth: u64) -> Result<()> {
        invoke(self.0, label::CNODE_DELETE, &[index, depth], &[]).map(|_| ())
    }

    pub fn revoke(self, index: CPtr, depth: u64) -> Result<()> {
        invoke(self.0, label::CNODE_REVOKE, &[index, depth], &[]).map(|_| ())
    }

    pub fn cancel_badged_sends(self, index: CPtr, depth: u64) -> Result<()> {
        invoke(self.0, label::CNODE_CANCEL_BADGED_SENDS, &[index, depth], &[]).map(|_| ())
    }
}

/// An untyped memory capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Untyped(pub CPtr);

impl Untyped {
    /// Retypes into `count` objects placed in slots `offset..offset + count` of the CNode at
    /// (`root`, `node_index`, `node_depth`); depth 0 names `root` itself.
    #[allow(clippy::too_many_arguments)]
    pub fn retype(
        self,
        object_type: ObjectType,
        size_bits: u64,
        root: CNode,
        node_index: CPtr,
        node_depth: u64,
        offset: u64,
        count: u64,
    ) -> Result<()> {
        invoke(
            self.0,
            label::UNTYPED_RETYPE,
            &[object_type as u64, size_bits, node_index, node_depth, offset, count],
            &[root.0],
        )
        .map(|_| ())
    }
}

/// A thread capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcb(pub CPtr);

impl Tcb {
    /// Stops the thread until it is resumed.
    pub fn suspend(self) -> Result<()> {
        invoke(self.0, label::TCB_SUSPEND, &[], &[]).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_puts_five_words_and_one_cap() {
        let m = marshal(2, label::CNODE_COPY, &[10, 64, 5, 64, CapRights::READ.word()], &[2]);
        assert_eq!(m.regs.info, MessageInfo::new(21, 0, 1, 5));
        assert_eq!(m.regs.mrs, [10, 64, 5, 64]);
        assert_eq!(m.buffer_words[4], 2);
        assert_eq!(m.caps, [2, 0, 0]);
        assert_eq!(m.regs.cap_or_badge, 2);
    }

    #[test]
    fn rotate_puts_eight_words_and_two_caps() {
        let m = marshal(7, label::CNODE_ROTATE, &[1, 2, 3, 4, 5, 6, 7, 8], &[9, 10]);
        assert_eq!(m.regs.info.extra_caps(), 2);
        assert_eq!(m.regs.info.length(), 8);
        assert_eq!(&m.buffer_words[4..8], &[5, 6, 7, 8]);
        assert_eq!(m.caps, [9, 10, 0]);
    }

    #[test]
    fn oversized_messages_are_clamped() {
        let args = [1u64; 130];
        let m = marshal(0, 1, &args, &[1, 2, 3, 4]);
        assert_eq!(m.regs.info.length(), 120);
        assert_eq!(m.regs.info.extra_caps(), 3);
    }
}
