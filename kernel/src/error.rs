//! The errors a system call returns to user level, with the details seL4 puts in the
//! message registers after each kind (seL4 manual, "Errors").

/// seL4's lookup failure, reported after a FailedLookup error and in capability faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupFailure {
    InvalidRoot,
    MissingCapability { bits_left: u64 },
    DepthMismatch { bits_found: u64, bits_left: u64 },
    GuardMismatch { bits_left: u64, guard_found: u64, guard_size: u64 },
}

impl LookupFailure {
    /// The failure as seL4 encodes it in message registers: the type (1 InvalidRoot,
    /// 2 MissingCapability, 3 DepthMismatch, 4 GuardMismatch) followed by its fields.
    pub fn words(&self) -> ([u64; 4], usize) {
        match *self {
            LookupFailure::InvalidRoot => ([1, 0, 0, 0], 1),
            LookupFailure::MissingCapability { bits_left } => ([2, bits_left, 0, 0], 2),
            LookupFailure::DepthMismatch { bits_found, bits_left } => ([3, bits_left, bits_found, 0], 3),
            LookupFailure::GuardMismatch { bits_left, guard_found, guard_size } => {
                ([4, bits_left, guard_found, guard_size], 4)
            }
        }
    }
}

/// A system call error: seL4's error code and its details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallError {
    InvalidArgument { argument: u64 },
    InvalidCapability { argument: u64 },
    IllegalOperation,
    RangeError { min: u64, max: u64 },
    AlignmentError,
    FailedLookup { source: bool, failure: LookupFailure },
    TruncatedMessage,
    DeleteFirst,
    RevokeFirst,
    NotEnoughMemory { available: u64 },
}

impl SyscallError {
    /// seL4's error number (the label of the reply).
    pub fn code(&self) -> u64 {
        match self {
            SyscallError::InvalidArgument { .. } => 1,
            SyscallError::InvalidCapability { .. } => 2,
            SyscallError::IllegalOperation => 3,
            SyscallError::RangeError { .. } => 4,
            SyscallError::AlignmentError => 5,
            SyscallError::FailedLookup { .. } => 6,
            SyscallError::TruncatedMessage => 7,
            SyscallError::DeleteFirst => 8,
            SyscallError::RevokeFirst => 9,
            SyscallError::NotEnoughMemory { .. } => 10,
        }
    }

    /// The message registers that describe the error, and how many there are.
    pub fn details(&self) -> ([u64; 5], usize) {
        match *self {
            SyscallError::InvalidArgument { argument } | SyscallError::InvalidCapability { argument } => {
                ([argument, 0, 0, 0, 0], 1)
            }
            SyscallError::RangeError { min, max } => ([min, max, 0, 0, 0], 2),
            SyscallError::FailedLookup { source, failure } => {
                let (words, count) = failure.words();
                ([u64::from(source), words[0], words[1], words[2], words[3]], 1 + count)
            }
            SyscallError::NotEnoughMemory { available } => ([available, 0, 0, 0, 0], 1),
            SyscallError::IllegalOperation
            | SyscallError::AlignmentError
            | SyscallError::TruncatedMessage
            | SyscallError::DeleteFirst
            | SyscallError::RevokeFirst => ([0; 5], 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_sel4() {
        let codes: Vec<u64> = [
            SyscallError::InvalidArgument { argument: 0 },
            SyscallError::InvalidCapability { argument: 0 },
            SyscallError::IllegalOperation,
            SyscallError::RangeError { min: 0, max: 0 },
            SyscallError::AlignmentError,
            SyscallError::FailedLookup { source: false, failure: LookupFailure::InvalidRoot },
            SyscallError::TruncatedMessage,
            SyscallError::DeleteFirst,
            SyscallError::RevokeFirst,
            SyscallError::NotEnoughMemory { available: 0 },
        ]
        .iter()
        .map(SyscallError::code)
        .collect();
        assert_eq!(codes, (1..=10).collect::<Vec<_>>());
    }

    #[test]
    fn details_carry_the_fields() {
        assert_eq!(SyscallError::RangeError { min: 1, max: 256 }.details(), ([1, 256, 0, 0, 0], 2));
        let lookup = SyscallError::FailedLookup {
            source: true,
            failure: LookupFailure::GuardMismatch { bits_left: 60, guard_found: 3, guard_size: 4 },
        };
        assert_eq!(lookup.details(), ([1, 4, 60, 3, 4], 5));
        let depth = SyscallError::FailedLookup {
            source: false,
            failure: LookupFailure::DepthMismatch { bits_found: 8, bits_left: 56 },
        };
        assert_eq!(depth.details(), ([0, 3, 56, 8, 0], 4));
        assert_eq!(SyscallError::DeleteFirst.details().1, 0);
    }
}
