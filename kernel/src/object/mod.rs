//! Kernel object types: their seL4 numbers and sizes, and the logic of each object that does not
//! touch hardware.

pub mod domain;
pub mod sched_context;
pub mod tcb;
pub mod untyped;

use crate::error::SyscallError;

use hmk_sys::object as abi;
/// seL4's object type numbers for AArch64 with MCS, as the ABI states them.
pub use hmk_sys::object::ObjectType;

/// Object sizes in bits (the ABI's numbers, as the kernel's shift widths).
pub const TCB_BITS: u32 = abi::TCB_BITS as u32;
pub const ENDPOINT_BITS: u32 = abi::ENDPOINT_BITS as u32;
pub const NOTIFICATION_BITS: u32 = abi::NOTIFICATION_BITS as u32;
pub const REPLY_BITS: u32 = abi::REPLY_BITS as u32;
pub const MIN_SCHED_CONTEXT_BITS: u32 = abi::MIN_SCHED_CONTEXT_BITS as u32;
pub const SLOT_BITS: u32 = abi::SLOT_BITS as u32;
pub const PAGE_TABLE_BITS: u32 = abi::PAGE_TABLE_BITS as u32;
pub const VSPACE_BITS: u32 = abi::PAGE_TABLE_BITS as u32;
pub const SMALL_PAGE_BITS: u32 = abi::PAGE_BITS as u32;
pub const LARGE_PAGE_BITS: u32 = abi::LARGE_PAGE_BITS as u32;
pub const HUGE_PAGE_BITS: u32 = abi::HUGE_PAGE_BITS as u32;
pub const MIN_UNTYPED_BITS: u32 = abi::MIN_UNTYPED_BITS as u32;
pub const MAX_UNTYPED_BITS: u32 = abi::MAX_UNTYPED_BITS as u32;

/// The object type a retype names by number.
pub fn object_type(word: u64) -> Option<ObjectType> {
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

/// The kernel's rules about each object type.
pub trait ObjectRules: Sized {
    /// Frames are the only kernel objects a device untyped may be retyped into (besides
    /// smaller untyped).
    fn is_frame(&self) -> bool;
    /// Size in bits of one object of this type; `user_size_bits` matters for the variable-sized
    /// ones (untyped: its size; CNode: log2 of the slot count; scheduling context: its size).
    fn size_bits(self, user_size_bits: u32) -> u32;
    /// seL4's checks on the requested size of a variable-sized object.
    fn check_user_size(self, user_size_bits: u64) -> Result<u32, SyscallError>;
}

impl ObjectRules for ObjectType {
    fn is_frame(&self) -> bool {
        matches!(self, ObjectType::SmallPage | ObjectType::LargePage | ObjectType::HugePage)
    }

    fn size_bits(self, user_size_bits: u32) -> u32 {
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

    fn check_user_size(self, user_size_bits: u64) -> Result<u32, SyscallError> {
        // seL4: the size word must be below the word size, and the object it makes no larger
        // than the largest untyped.
        let too_big = SyscallError::RangeError { min: 0, max: u64::from(MAX_UNTYPED_BITS) };
        if user_size_bits >= 64 {
            return Err(too_big);
        }
        let bits = user_size_bits as u32;
        if self.size_bits(bits) > MAX_UNTYPED_BITS {
            return Err(too_big);
        }
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
