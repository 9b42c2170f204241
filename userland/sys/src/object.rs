//! Object types, sizes and invocation labels (seL4, AArch64, MCS).

/// Object types for UntypedRetype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    Untyped = 0,
    Tcb = 1,
    Endpoint = 2,
    Notification = 3,
    CNode = 4,
    SchedContext = 5,
    Reply = 6,
    HugePage = 7,
    VSpace = 8,
    SmallPage = 9,
    LargePage = 10,
    PageTable = 11,
}

pub const TCB_BITS: u64 = 11;
pub const ENDPOINT_BITS: u64 = 4;
pub const NOTIFICATION_BITS: u64 = 6;
pub const REPLY_BITS: u64 = 5;
pub const MIN_SCHED_CONTEXT_BITS: u64 = 7;
pub const SLOT_BITS: u64 = 5;
pub const PAGE_TABLE_BITS: u64 = 12;
pub const PAGE_BITS: u64 = 12;
pub const LARGE_PAGE_BITS: u64 = 21;
pub const HUGE_PAGE_BITS: u64 = 30;
pub const MIN_UNTYPED_BITS: u64 = 4;
pub const MAX_UNTYPED_BITS: u64 = 47;

/// Capability type numbers DebugCapIdentify returns.
pub mod cap_type {
    pub const NULL: u64 = 0;
    pub const FRAME: u64 = 1;
    pub const UNTYPED: u64 = 2;
    pub const PAGE_TABLE: u64 = 3;
    pub const ENDPOINT: u64 = 4;
    pub const NOTIFICATION: u64 = 6;
    pub const REPLY: u64 = 8;
    pub const VSPACE: u64 = 9;
    pub const CNODE: u64 = 10;
    pub const ASID_CONTROL: u64 = 11;
    pub const THREAD: u64 = 12;
    pub const ASID_POOL: u64 = 13;
    pub const IRQ_CONTROL: u64 = 14;
    pub const IRQ_HANDLER: u64 = 16;
    pub const ZOMBIE: u64 = 18;
    pub const DOMAIN: u64 = 20;
    pub const SCHED_CONTEXT: u64 = 22;
    pub const SCHED_CONTROL: u64 = 24;
}

/// Invocation labels.
pub mod label {
    pub const UNTYPED_RETYPE: u64 = 1;
    pub const TCB_READ_REGISTERS: u64 = 2;
    pub const TCB_WRITE_REGISTERS: u64 = 3;
    pub const TCB_COPY_REGISTERS: u64 = 4;
    pub const TCB_CONFIGURE: u64 = 5;
    pub const TCB_SET_PRIORITY: u64 = 6;
    pub const TCB_SET_MC_PRIORITY: u64 = 7;
    pub const TCB_SET_SCHED_PARAMS: u64 = 8;
    pub const TCB_SET_TIMEOUT_ENDPOINT: u64 = 9;
    pub const TCB_SET_IPC_BUFFER: u64 = 10;
    pub const TCB_SET_SPACE: u64 = 11;
    pub const TCB_SUSPEND: u64 = 12;
    pub const TCB_RESUME: u64 = 13;
    pub const TCB_BIND_NOTIFICATION: u64 = 14;
    pub const TCB_UNBIND_NOTIFICATION: u64 = 15;
    pub const TCB_SET_TLS_BASE: u64 = 16;
    pub const TCB_SET_FLAGS: u64 = 17;
    pub const DOMAIN_SET_SET: u64 = 30;
    pub const DOMAIN_SCHEDULE_CONFIGURE: u64 = 31;
    pub const DOMAIN_SCHEDULE_SET_START: u64 = 32;
    pub const SCHED_CONTROL_CONFIGURE_FLAGS: u64 = 33;
    pub const SCHED_CONTEXT_BIND: u64 = 34;
    pub const SCHED_CONTEXT_UNBIND: u64 = 35;
    pub const SCHED_CONTEXT_UNBIND_OBJECT: u64 = 36;
    pub const SCHED_CONTEXT_CONSUMED: u64 = 37;
    pub const SCHED_CONTEXT_YIELD_TO: u64 = 38;
    pub const IRQ_ISSUE_IRQ_HANDLER: u64 = 26;
    pub const IRQ_ACK_IRQ: u64 = 27;
    pub const IRQ_SET_IRQ_HANDLER: u64 = 28;
    pub const IRQ_CLEAR_IRQ_HANDLER: u64 = 29;
    pub const ARM_VSPACE_CLEAN_DATA: u64 = 39;
    pub const ARM_VSPACE_INVALIDATE_DATA: u64 = 40;
    pub const ARM_VSPACE_CLEAN_INVALIDATE_DATA: u64 = 41;
    pub const ARM_VSPACE_UNIFY_INSTRUCTION: u64 = 42;
    pub const ARM_PAGE_TABLE_MAP: u64 = 44;
    pub const ARM_PAGE_TABLE_UNMAP: u64 = 45;
    pub const ARM_PAGE_MAP: u64 = 46;
    pub const ARM_PAGE_UNMAP: u64 = 47;
    pub const ARM_PAGE_CLEAN_DATA: u64 = 48;
    pub const ARM_PAGE_INVALIDATE_DATA: u64 = 49;
    pub const ARM_PAGE_CLEAN_INVALIDATE_DATA: u64 = 50;
    pub const ARM_PAGE_UNIFY_INSTRUCTION: u64 = 51;
    pub const ARM_PAGE_GET_ADDRESS: u64 = 52;
    pub const ARM_ASID_CONTROL_MAKE_POOL: u64 = 53;
    pub const ARM_ASID_POOL_ASSIGN: u64 = 54;
    pub const ARM_IRQ_ISSUE_IRQ_HANDLER_TRIGGER: u64 = 55;
    pub const CNODE_REVOKE: u64 = 18;
    pub const CNODE_DELETE: u64 = 19;
    pub const CNODE_CANCEL_BADGED_SENDS: u64 = 20;
    pub const CNODE_COPY: u64 = 21;
    pub const CNODE_MINT: u64 = 22;
    pub const CNODE_MOVE: u64 = 23;
    pub const CNODE_MUTATE: u64 = 24;
    pub const CNODE_ROTATE: u64 = 25;
}

/// seL4_ARM_VMAttributes.
pub mod vm_attributes {
    pub const PAGE_CACHEABLE: u64 = 1;
    pub const PARITY_ENABLED: u64 = 2;
    pub const EXECUTE_NEVER: u64 = 4;
    pub const DEFAULT: u64 = PAGE_CACHEABLE | PARITY_ENABLED;
}

/// Cache maintenance on a frame or a VSpace range (the operations of labels 39..42 and 48..51).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOp {
    /// Write dirty lines back to memory (DC CVAC).
    CleanData,
    /// Discard lines without writing them back (DC IVAC; seL4 cleans partial lines first).
    InvalidateData,
    /// Write back, then discard (DC CIVAC).
    CleanInvalidateData,
    /// Make new instructions visible: clean to the point of unification, invalidate the
    /// instruction cache (DC CVAU, IC IVAU).
    UnifyInstruction,
}

impl CacheOp {
    /// The frame invocation label of this operation.
    pub fn page_label(self) -> u64 {
        label::ARM_PAGE_CLEAN_DATA + self as u64
    }

    /// The VSpace invocation label of this operation.
    pub fn vspace_label(self) -> u64 {
        label::ARM_VSPACE_CLEAN_DATA + self as u64
    }

    /// The operation a frame or VSpace label names.
    pub fn from_label(label: u64) -> Option<CacheOp> {
        let index = match label {
            label::ARM_VSPACE_CLEAN_DATA..=label::ARM_VSPACE_UNIFY_INSTRUCTION => label - label::ARM_VSPACE_CLEAN_DATA,
            label::ARM_PAGE_CLEAN_DATA..=label::ARM_PAGE_UNIFY_INSTRUCTION => label - label::ARM_PAGE_CLEAN_DATA,
            _ => return None,
        };
        [CacheOp::CleanData, CacheOp::InvalidateData, CacheOp::CleanInvalidateData, CacheOp::UnifyInstruction]
            .get(index as usize)
            .copied()
    }
}

/// Interrupt trigger modes for IRQControl GetTrigger.
pub mod irq_trigger {
    pub const LEVEL: u64 = 0;
    pub const EDGE: u64 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_operations_match_sel4_labels_both_ways() {
        let all =
            [CacheOp::CleanData, CacheOp::InvalidateData, CacheOp::CleanInvalidateData, CacheOp::UnifyInstruction];
        let page: Vec<u64> = all.iter().map(|op| op.page_label()).collect();
        let vspace: Vec<u64> = all.iter().map(|op| op.vspace_label()).collect();
        // seL4: ARMPageClean_Data .. ARMPageUnify_Instruction are 48..51, the VSpace ones 39..42.
        assert_eq!(page, [48, 49, 50, 51]);
        assert_eq!(vspace, [39, 40, 41, 42]);
        for op in all {
            assert_eq!(CacheOp::from_label(op.page_label()), Some(op));
            assert_eq!(CacheOp::from_label(op.vspace_label()), Some(op));
        }
        for other in [0, 38, 43, 47, 52, 53] {
            assert_eq!(CacheOp::from_label(other), None, "label {other}");
        }
    }
}
