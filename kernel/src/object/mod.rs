//! Kernel object types: their seL4 numbers and sizes, and the logic of each object that does not
//! touch hardware.

pub mod sched_context;
pub mod tcb;
pub mod untyped;

use crate::error::SyscallError;

/// seL4's object type numbers for AArch64 with MCS.
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

/// Size of a TCB object (bits); the TCB's own capability slots come first.
pub const TCB_BITS: u32 = 11;
pub const ENDPOINT_BITS: u32 = 4;
pub const NOTIFICATION_BITS: u32 = 6;
pub const REPLY_BITS: u32 = 5;
/// Smallest scheduling context: the 128-byte core plus refills of 16 bytes.
pub const MIN_SCHED_CONTEXT_BITS: u32 = 7;
/// One CNode slot is 2^5 bytes.
pub const SLOT_BITS: u32 = 5;
pub const PAGE_TABLE_BITS: u32 = 12;
pub const VSPACE_BITS: u32 = 12;
pub const SMALL_PAGE_BITS: u32 = 12;
pub const LARGE_PAGE_BITS: u32 = 21;
pub const HUGE_PAGE_BITS: u32 = 30;
pub const MIN_UNTYPED_BITS: u32 = 4;
pub const MAX_UNTYPED_BITS: u32 = 47;

impl ObjectType {
    pub fn from_word(word: u64) -> Option<ObjectType> {
        use ObjectType::*;
        Some(match word {
            0 => Untyped,
            1 => Tcb,
            2 => Endpoint,
            3 => Notification,
            4 => CNode,
            5 => SchedContext,
            6 => Reply,
            7 => HugePage,
            8 => VSpace,
            9 => SmallPage,
            10 => LargePage,
            11 => PageTable,
            _ => return None,
        })
    }

    /// Frames are the only kernel objects a device untyped may be retyped into (besides
    /// smaller untyped).
    pub fn is_frame(self) -> bool {
        matches!(self, ObjectType::SmallPage | ObjectType::LargePage | ObjectType::HugePage)
    }

    /// Size in bits of one object of this type; `user_size_bits` matters for the variable-sized
    /// ones (untyped: its size; CNode: log2 of the slot count; scheduling context: its size).
    pub fn size_bits(self, user_size_bits: u32) -> u32 {
        match self {
            ObjectType::Untyped | ObjectType::SchedContext => user_size_bits,
            ObjectType::CNode => user_size_bits + SLOT_BITS,
            ObjectType::Tcb => TCB_BITS,
            ObjectType::Endpoint => ENDPOINT_BITS,
            ObjectType::Notification => NOTIFICATION_BITS,
            ObjectType::Reply => REPLY_BITS,
            ObjectType::HugePage => HUGE_PAGE_BITS,
            ObjectType::LargePage => LARGE_PAGE_BITS,
            ObjectType::SmallPage => SMALL_PAGE_BITS,
            ObjectType::VSpace => VSPACE_BITS,
            ObjectType::PageTable => PAGE_TABLE_BITS,
        }
    }

    /// seL4's checks on the requested size of a variable-sized object.
    pub fn check_user_size(self, user_size_bits: u64) -> Result<u32, SyscallError> {
        if user_size_bits > u64::from(MAX_UNTYPED_BITS) {
            return Err(SyscallError::RangeError { min: 0, max: 61 });
        }
        let bits = user_size_bits as u32;
        let too_small = match self {
            ObjectType::CNode => bits == 0,
            ObjectType::Untyped => bits < MIN_UNTYPED_BITS,
            ObjectType::SchedContext => bits < MIN_SCHED_CONTEXT_BITS,
            _ => false,
        };
        if too_small {
            return Err(SyscallError::InvalidArgument { argument: 1 });
        }
        Ok(bits)
    }
}
