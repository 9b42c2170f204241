//! Typed capabilities and their invocations, marshalled as libsel4 does: arguments in message
//! registers (the first four in x2..x5, the rest in the IPC buffer), capability arguments in
//! the IPC buffer's capability slots, a Call, and the reply label read as an error code. After
//! an error, the error's details are in the IPC buffer's message registers 0.. .

use crate::error::{Error, Result};
use crate::ipc_buffer::ipc_buffer;
use crate::message::{CapRights, MAX_EXTRA_CAPS, MAX_MESSAGE_LENGTH, MessageInfo};
use crate::object::{CacheOp, ObjectType, label};
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

/// Performs an invocation; returns the reply's message registers 0..3 (the rest, if any, are
/// in the IPC buffer). The IPC buffer is touched only when the message needs it (more than four
/// words, capability arguments) and, after an error, to keep the error's details; so a thread
/// without an IPC buffer can make short invocations.
pub fn invoke(cap: u64, label: u64, args: &[u64], caps: &[u64]) -> Result<[u64; 4]> {
    let m = marshal(cap, label, args, caps);
    if args.len() > 4 || !caps.is_empty() {
        let buffer = ipc_buffer();
        for i in 4..args.len().min(MAX_MESSAGE_LENGTH) {
            buffer.msg[i] = m.buffer_words[i];
        }
        buffer.caps_or_badges = m.caps;
    }
    let reply = syscall::call(m.regs);
    match Error::from_label(reply.info.label()) {
        None if reply.info.label() == 0 => Ok(reply.mrs),
        found => {
            ipc_buffer().msg[..4].copy_from_slice(&reply.mrs);
            Err(found.unwrap_or(Error::IllegalOperation))
        }
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

/// An ASID pool capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsidPool(pub CPtr);

impl AsidPool {
    /// Gives the VSpace `vspace` an ASID from this pool, so it can be used.
    pub fn assign(self, vspace: CPtr) -> Result<()> {
        invoke(self.0, label::ARM_ASID_POOL_ASSIGN, &[], &[vspace]).map(|_| ())
    }
}

/// A page table capability (any level).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageTable(pub CPtr);

impl PageTable {
    /// Installs this table in `vspace` at the first missing level of the walk for `vaddr`.
    pub fn map(self, vspace: CPtr, vaddr: u64, attributes: u64) -> Result<()> {
        invoke(self.0, label::ARM_PAGE_TABLE_MAP, &[vaddr, attributes], &[vspace]).map(|_| ())
    }

    pub fn unmap(self) -> Result<()> {
        invoke(self.0, label::ARM_PAGE_TABLE_UNMAP, &[], &[]).map(|_| ())
    }
}

/// A frame capability (4 KiB, 2 MiB or 1 GiB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame(pub CPtr);

impl Frame {
    /// Maps the frame at `vaddr` in `vspace` with at most `rights` and `attributes`.
    pub fn map(self, vspace: CPtr, vaddr: u64, rights: CapRights, attributes: u64) -> Result<()> {
        invoke(self.0, label::ARM_PAGE_MAP, &[vaddr, rights.word(), attributes], &[vspace]).map(|_| ())
    }

    pub fn unmap(self) -> Result<()> {
        invoke(self.0, label::ARM_PAGE_UNMAP, &[], &[]).map(|_| ())
    }

    /// The frame's physical address.
    pub fn get_address(self) -> Result<u64> {
        invoke(self.0, label::ARM_PAGE_GET_ADDRESS, &[], &[]).map(|mrs| mrs[0])
    }

    /// Cache maintenance on bytes `[start, end)` of the frame (offsets into it); the frame must
    /// be mapped.
    pub fn cache(self, op: CacheOp, start: u64, end: u64) -> Result<()> {
        invoke(self.0, op.page_label(), &[start, end], &[]).map(|_| ())
    }
}

/// A VSpace (top-level translation table) capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VSpace(pub CPtr);

impl VSpace {
    /// Cache maintenance on the user addresses `[start, end)`, which must lie in one mapped
    /// frame; an unmapped range is left alone.
    pub fn cache(self, op: CacheOp, start: u64, end: u64) -> Result<()> {
        invoke(self.0, op.vspace_label(), &[start, end], &[]).map(|_| ())
    }
}

/// The ASID control capability: makes ASID pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsidControl(pub CPtr);

impl AsidControl {
    /// Turns the 4 KiB untyped `untyped` (with no children) into a pool of 512 ASIDs, placing
    /// its capability at `index`/`depth` in `root`.
    pub fn make_pool(self, untyped: CPtr, root: CNode, index: CPtr, depth: u64) -> Result<()> {
        invoke(self.0, label::ARM_ASID_CONTROL_MAKE_POOL, &[index, depth], &[untyped, root.0]).map(|_| ())
    }
}

/// The IRQ control capability: hands out one handler capability per interrupt line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqControl(pub CPtr);

impl IrqControl {
    /// A handler capability for interrupt `irq` (GIC INTID) at `index`/`depth` in `root`.
    pub fn get(self, irq: u64, root: CNode, index: CPtr, depth: u64) -> Result<()> {
        invoke(self.0, label::IRQ_ISSUE_IRQ_HANDLER, &[irq, index, depth], &[root.0]).map(|_| ())
    }

    /// As [`IrqControl::get`], setting the line's trigger (`irq_trigger::LEVEL` or `EDGE`).
    pub fn get_trigger(self, irq: u64, trigger: u64, root: CNode, index: CPtr, depth: u64) -> Result<()> {
        invoke(self.0, label::ARM_IRQ_ISSUE_IRQ_HANDLER_TRIGGER, &[irq, trigger, index, depth], &[root.0]).map(|_| ())
    }
}

/// An IRQ handler capability: one interrupt line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IrqHandler(pub CPtr);

impl IrqHandler {
    /// Delivers the interrupt as a signal on `notification` (which must allow sending).
    pub fn set_notification(self, notification: CPtr) -> Result<()> {
        invoke(self.0, label::IRQ_SET_IRQ_HANDLER, &[], &[notification]).map(|_| ())
    }

    /// Unmasks the line after a delivered interrupt has been handled.
    pub fn ack(self) -> Result<()> {
        invoke(self.0, label::IRQ_ACK_IRQ, &[], &[]).map(|_| ())
    }

    /// Stops delivering the interrupt.
    pub fn clear(self) -> Result<()> {
        invoke(self.0, label::IRQ_CLEAR_IRQ_HANDLER, &[], &[]).map(|_| ())
    }
}

/// A thread capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcb(pub CPtr);

/// A thread's registers as ReadRegisters and WriteRegisters see them (seL4_UserContext for
/// AArch64): pc, sp, spsr, x0..x8, x16, x17, x18, x29, x30, x9..x15, x19..x28, tpidr_el0,
/// tpidrro_el0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserContext(pub [u64; USER_CONTEXT_WORDS]);

impl Default for UserContext {
    fn default() -> Self {
        UserContext([0; USER_CONTEXT_WORDS])
    }
}

pub const USER_CONTEXT_WORDS: usize = 36;

impl UserContext {
    pub const PC: usize = 0;
    pub const SP: usize = 1;
    pub const SPSR: usize = 2;
    pub const X0: usize = 3;
    pub const TPIDR_EL0: usize = 34;
}

impl Tcb {
    /// Stops the thread until it is resumed.
    pub fn suspend(self) -> Result<()> {
        invoke(self.0, label::TCB_SUSPEND, &[], &[]).map(|_| ())
    }

    /// Lets a suspended thread run again.
    pub fn resume(self) -> Result<()> {
        invoke(self.0, label::TCB_RESUME, &[], &[]).map(|_| ())
    }

    /// Sets the CSpace and VSpace roots and the IPC buffer (address 0: none) in one call.
    pub fn configure(
        self,
        cspace: CPtr,
        cspace_data: u64,
        vspace: CPtr,
        vspace_data: u64,
        buffer: u64,
        buffer_frame: CPtr,
    ) -> Result<()> {
        invoke(self.0, label::TCB_CONFIGURE, &[cspace_data, vspace_data, buffer], &[cspace, vspace, buffer_frame])
            .map(|_| ())
    }

    /// Sets the fault handler endpoint and the CSpace and VSpace roots.
    pub fn set_space(
        self,
        fault_endpoint: CPtr,
        cspace: CPtr,
        cspace_data: u64,
        vspace: CPtr,
        vspace_data: u64,
    ) -> Result<()> {
        invoke(self.0, label::TCB_SET_SPACE, &[cspace_data, vspace_data], &[fault_endpoint, cspace, vspace]).map(|_| ())
    }

    pub fn set_ipc_buffer(self, buffer: u64, buffer_frame: CPtr) -> Result<()> {
        invoke(self.0, label::TCB_SET_IPC_BUFFER, &[buffer], &[buffer_frame]).map(|_| ())
    }

    /// Sets the priority, with the authority of `authority`'s maximum controlled priority.
    pub fn set_priority(self, authority: Tcb, priority: u64) -> Result<()> {
        invoke(self.0, label::TCB_SET_PRIORITY, &[priority], &[authority.0]).map(|_| ())
    }

    pub fn set_mc_priority(self, authority: Tcb, mcp: u64) -> Result<()> {
        invoke(self.0, label::TCB_SET_MC_PRIORITY, &[mcp], &[authority.0]).map(|_| ())
    }

    /// MCS: maximum controlled priority, priority, scheduling context and fault handler at once.
    pub fn set_sched_params(
        self,
        authority: Tcb,
        mcp: u64,
        priority: u64,
        sched_context: CPtr,
        fault_endpoint: CPtr,
    ) -> Result<()> {
        invoke(self.0, label::TCB_SET_SCHED_PARAMS, &[mcp, priority], &[authority.0, sched_context, fault_endpoint])
            .map(|_| ())
    }

    pub fn set_timeout_endpoint(self, endpoint: CPtr) -> Result<()> {
        invoke(self.0, label::TCB_SET_TIMEOUT_ENDPOINT, &[], &[endpoint]).map(|_| ())
    }

    /// Reads `count` registers (in [`UserContext`] order), suspending the thread first if asked.
    pub fn read_registers(self, suspend_source: bool, count: u64) -> Result<UserContext> {
        let first = invoke(self.0, label::TCB_READ_REGISTERS, &[u64::from(suspend_source), count], &[])?;
        let mut context = UserContext::default();
        let count = (count as usize).min(USER_CONTEXT_WORDS);
        for (i, word) in context.0.iter_mut().enumerate().take(count) {
            *word = first.get(i).copied().unwrap_or_else(|| ipc_buffer().msg[i]);
        }
        Ok(context)
    }

    /// Writes the first `count` registers of `context`, resuming the thread if asked.
    pub fn write_registers(self, resume_target: bool, count: u64, context: &UserContext) -> Result<()> {
        let count = (count as usize).min(USER_CONTEXT_WORDS);
        let mut args = [0u64; 2 + USER_CONTEXT_WORDS];
        args[0] = u64::from(resume_target);
        args[1] = count as u64;
        args[2..2 + count].copy_from_slice(&context.0[..count]);
        invoke(self.0, label::TCB_WRITE_REGISTERS, &args[..2 + count], &[]).map(|_| ())
    }

    /// Copies registers from `source`: bit 0 suspend the source, bit 1 resume this thread,
    /// bit 2 the frame registers, bit 3 the other integer registers.
    pub fn copy_registers(
        self,
        source: Tcb,
        suspend_source: bool,
        resume_target: bool,
        frame: bool,
        integer: bool,
    ) -> Result<()> {
        let flags =
            u64::from(suspend_source) | u64::from(resume_target) << 1 | u64::from(frame) << 2 | u64::from(integer) << 3;
        invoke(self.0, label::TCB_COPY_REGISTERS, &[flags], &[source.0]).map(|_| ())
    }

    /// Binds notification `notification` to this thread: a Recv then also wakes for signals.
    pub fn bind_notification(self, notification: CPtr) -> Result<()> {
        invoke(self.0, label::TCB_BIND_NOTIFICATION, &[], &[notification]).map(|_| ())
    }

    pub fn unbind_notification(self) -> Result<()> {
        invoke(self.0, label::TCB_UNBIND_NOTIFICATION, &[], &[]).map(|_| ())
    }

    pub fn set_tls_base(self, tls_base: u64) -> Result<()> {
        invoke(self.0, label::TCB_SET_TLS_BASE, &[tls_base], &[]).map(|_| ())
    }

    /// Clears, then sets, seL4_TCBFlag bits (1: the FP unit is disabled); returns the flags now.
    pub fn set_flags(self, clear: u64, set: u64) -> Result<u64> {
        invoke(self.0, label::TCB_SET_FLAGS, &[clear, set], &[]).map(|reply| reply[0])
    }
}

/// The domain capability (seL4's DomainSet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainSet(pub CPtr);

impl DomainSet {
    /// Puts thread `tcb` into scheduling domain `domain`.
    pub fn set(self, domain: u64, tcb: CPtr) -> Result<()> {
        invoke(self.0, label::DOMAIN_SET_SET, &[domain], &[tcb]).map(|_| ())
    }

    /// Sets domain schedule entry `index` to run `domain` for `duration` timer ticks (0: an end
    /// marker).
    pub fn schedule_configure(self, index: u64, domain: u64, duration: u64) -> Result<()> {
        invoke(self.0, label::DOMAIN_SCHEDULE_CONFIGURE, &[index, domain, duration], &[]).map(|_| ())
    }

    /// Makes the domain schedule start (and restart) at entry `index`.
    pub fn schedule_set_start(self, index: u64) -> Result<()> {
        invoke(self.0, label::DOMAIN_SCHEDULE_SET_START, &[index], &[]).map(|_| ())
    }
}

/// The scheduling-control capability (one per core).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedControl(pub CPtr);

impl SchedControl {
    /// Gives `sched_context` a budget and period (microseconds), `extra_refills` more refills,
    /// the badge its timeout faults carry, and flags (bit 0: sporadic).
    pub fn configure_flags(
        self,
        sched_context: SchedContext,
        budget_us: u64,
        period_us: u64,
        extra_refills: u64,
        badge: u64,
        flags: u64,
    ) -> Result<()> {
        invoke(
            self.0,
            label::SCHED_CONTROL_CONFIGURE_FLAGS,
            &[budget_us, period_us, extra_refills, badge, flags],
            &[sched_context.0],
        )
        .map(|_| ())
    }
}

/// A scheduling context capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchedContext(pub CPtr);

impl SchedContext {
    /// Binds a thread (or notification) to this scheduling context.
    pub fn bind(self, object: CPtr) -> Result<()> {
        invoke(self.0, label::SCHED_CONTEXT_BIND, &[], &[object]).map(|_| ())
    }

    pub fn unbind(self) -> Result<()> {
        invoke(self.0, label::SCHED_CONTEXT_UNBIND, &[], &[]).map(|_| ())
    }

    pub fn unbind_object(self, object: CPtr) -> Result<()> {
        invoke(self.0, label::SCHED_CONTEXT_UNBIND_OBJECT, &[], &[object]).map(|_| ())
    }

    /// Lets the thread bound to this context run next; returns the microseconds it consumed.
    pub fn yield_to(self) -> Result<u64> {
        invoke(self.0, label::SCHED_CONTEXT_YIELD_TO, &[], &[]).map(|mrs| mrs[0])
    }

    /// Microseconds consumed since the last call.
    pub fn consumed(self) -> Result<u64> {
        invoke(self.0, label::SCHED_CONTEXT_CONSUMED, &[], &[]).map(|mrs| mrs[0])
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
