//! Cases for address spaces built by user level: ASID pools, frames of every size, rights,
//! cache maintenance, sharing, unmapping, and user-level pagers resolving VM faults.

use crate::cases::Case;

pub const CASES: &[(&str, Case)] = &[];
