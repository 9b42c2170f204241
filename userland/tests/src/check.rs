//! What every case uses to check its results.

use alloc::format;
use alloc::string::String;
use hmk_sys::error::Error;

/// A case's outcome: `Err` says why it failed.
pub type Outcome = Result<(), String>;

/// Fails the case with a message unless `condition` holds.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(alloc::format!($($message)+));
        }
    };
}
pub(crate) use ensure;

/// The value of a call that must succeed, or the case's failure naming `what`.
pub fn ok<T>(result: Result<T, Error>, what: &str) -> Result<T, String> {
    result.map_err(|e| format!("{what}: {e:?}"))
}

/// The result must be the error `expected`.
pub fn expect_error<T: core::fmt::Debug>(result: Result<T, Error>, expected: Error) -> Outcome {
    match result {
        Err(e) if e == expected => Ok(()),
        other => Err(format!("want {expected:?}, got {other:?}")),
    }
}
