//! seL4's error codes, returned as the label of a Call's reply.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    InvalidArgument = 1,
    InvalidCapability = 2,
    IllegalOperation = 3,
    RangeError = 4,
    AlignmentError = 5,
    FailedLookup = 6,
    TruncatedMessage = 7,
    DeleteFirst = 8,
    RevokeFirst = 9,
    NotEnoughMemory = 10,
}

pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// The error a reply label means; `None` for 0 (success) and unknown labels.
    pub fn from_label(label: u64) -> Option<Error> {
        use Error::*;
        Some(match label {
            1 => InvalidArgument,
            2 => InvalidCapability,
            3 => IllegalOperation,
            4 => RangeError,
            5 => AlignmentError,
            6 => FailedLookup,
            7 => TruncatedMessage,
            8 => DeleteFirst,
            9 => RevokeFirst,
            10 => NotEnoughMemory,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_map_to_errors() {
        assert_eq!(Error::from_label(0), None);
        assert_eq!(Error::from_label(6), Some(Error::FailedLookup));
        assert_eq!(Error::from_label(10), Some(Error::NotEnoughMemory));
        assert_eq!(Error::from_label(11), None);
        assert_eq!(Error::RevokeFirst as u64, 9);
    }
}
