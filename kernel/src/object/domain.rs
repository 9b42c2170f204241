//! The domain capability (seL4's DomainSet): its invocations and the domain schedule it edits.
//!
//! hmk is built with seL4's default of one scheduling domain, so every thread is in domain 0
//! and the schedule can only say "domain 0" for its entries; the invocations still check their
//! arguments exactly as seL4's decode does, and the schedule they edit is kept, so a program
//! sees the results and errors it would see on seL4 configured the same way (one domain, two
//! schedule entries, the last a fixed end marker).

use crate::error::SyscallError;
use hmk_sys::object::label;

/// Scheduling domains (seL4 `KernelNumDomains`).
pub const DOMAINS: u64 = 1;
/// Domain schedule entries (seL4 `KernelNumDomainSchedules` for one domain); the last one is
/// always an end marker.
pub const SCHEDULE_ENTRIES: usize = 2;
/// The longest duration an entry can hold (56 bits).
pub const MAX_DURATION: u64 = (1 << 56) - 1;

/// One schedule entry: a domain and how long it runs (timer ticks); duration 0 is an end
/// marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub domain: u64,
    pub duration: u64,
}

/// The domain schedule: its entries and the one it starts from.
#[derive(Debug)]
pub struct Schedule {
    pub entries: [Entry; SCHEDULE_ENTRIES],
    pub start: usize,
}

impl Schedule {
    /// After boot: the first entry runs domain 0 for the longest time, the rest are end markers.
    pub const fn new() -> Self {
        let end = Entry { domain: 0, duration: 0 };
        let mut entries = [end; SCHEDULE_ENTRIES];
        entries[0] = Entry { domain: 0, duration: MAX_DURATION };
        Schedule { entries, start: 0 }
    }

    /// Decodes and performs a domain invocation. `thread_cap` says whether the first extra
    /// capability is there (`None`) and is a thread capability (`Some(true)`); DomainSet Set has
    /// nothing to change with one domain.
    pub fn invoke(&mut self, invocation: u64, args: &[u64], thread_cap: Option<bool>) -> Result<(), SyscallError> {
        let arg = |i: usize| args.get(i).copied().unwrap_or(0);
        match invocation {
            label::DOMAIN_SET_SET => {
                if args.is_empty() {
                    return Err(SyscallError::TruncatedMessage);
                }
                // seL4 reads the domain as a byte.
                if arg(0) & 0xff >= DOMAINS {
                    return Err(SyscallError::InvalidArgument { argument: 0 });
                }
                match thread_cap {
                    None => Err(SyscallError::TruncatedMessage),
                    Some(false) => Err(SyscallError::InvalidArgument { argument: 1 }),
                    Some(true) => Ok(()),
                }
            }
            label::DOMAIN_SCHEDULE_CONFIGURE => {
                if args.len() < 3 {
                    return Err(SyscallError::TruncatedMessage);
                }
                let (index, domain, duration) = (arg(0), arg(1) & 0xff, arg(2));
                let last = SCHEDULE_ENTRIES as u64 - 1;
                if index >= last {
                    return Err(SyscallError::RangeError { min: 0, max: last - 1 });
                }
                if domain >= DOMAINS {
                    return Err(SyscallError::RangeError { min: 0, max: DOMAINS - 1 });
                }
                if duration > MAX_DURATION {
                    return Err(SyscallError::InvalidArgument { argument: 2 });
                }
                if duration == 0 && domain != 0 {
                    return Err(SyscallError::InvalidArgument { argument: 1 });
                }
                if index as usize == self.start && duration == 0 {
                    return Err(SyscallError::InvalidArgument { argument: 2 });
                }
                self.entries[index as usize] = Entry { domain, duration };
                Ok(())
            }
            label::DOMAIN_SCHEDULE_SET_START => {
                if args.is_empty() {
                    return Err(SyscallError::TruncatedMessage);
                }
                let index = arg(0);
                if index >= SCHEDULE_ENTRIES as u64 {
                    return Err(SyscallError::RangeError { min: 0, max: SCHEDULE_ENTRIES as u64 - 1 });
                }
                if self.entries[index as usize].duration == 0 {
                    return Err(SyscallError::InvalidArgument { argument: 0 });
                }
                self.start = index as usize;
                Ok(())
            }
            _ => Err(SyscallError::IllegalOperation),
        }
    }
}

impl Default for Schedule {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_takes_domain_zero_and_a_thread_only() {
        let mut s = Schedule::new();
        assert_eq!(s.invoke(label::DOMAIN_SET_SET, &[0], Some(true)), Ok(()));
        assert_eq!(
            s.invoke(label::DOMAIN_SET_SET, &[1], Some(true)),
            Err(SyscallError::InvalidArgument { argument: 0 })
        );
        assert_eq!(
            s.invoke(label::DOMAIN_SET_SET, &[0], Some(false)),
            Err(SyscallError::InvalidArgument { argument: 1 })
        );
        assert_eq!(s.invoke(label::DOMAIN_SET_SET, &[0], None), Err(SyscallError::TruncatedMessage));
        assert_eq!(s.invoke(label::DOMAIN_SET_SET, &[], Some(true)), Err(SyscallError::TruncatedMessage));
    }

    #[test]
    fn schedule_configure_checks_as_sel4() {
        let mut s = Schedule::new();
        let configure = |s: &mut Schedule, args: &[u64]| s.invoke(label::DOMAIN_SCHEDULE_CONFIGURE, args, None);
        assert_eq!(configure(&mut s, &[0, 0]), Err(SyscallError::TruncatedMessage));
        assert_eq!(configure(&mut s, &[1, 0, 5]), Err(SyscallError::RangeError { min: 0, max: 0 }));
        assert_eq!(configure(&mut s, &[0, 1, 5]), Err(SyscallError::RangeError { min: 0, max: 0 }));
        assert_eq!(configure(&mut s, &[0, 0, 1 << 56]), Err(SyscallError::InvalidArgument { argument: 2 }));
        // The starting entry cannot become an end marker.
        assert_eq!(configure(&mut s, &[0, 0, 0]), Err(SyscallError::InvalidArgument { argument: 2 }));
        assert_eq!(configure(&mut s, &[0, 0, 1000]), Ok(()));
        assert_eq!(s.entries[0], Entry { domain: 0, duration: 1000 });
    }

    #[test]
    fn set_start_refuses_end_markers_and_bad_indices() {
        let mut s = Schedule::new();
        let start = |s: &mut Schedule, index: u64| s.invoke(label::DOMAIN_SCHEDULE_SET_START, &[index], None);
        assert_eq!(start(&mut s, 2), Err(SyscallError::RangeError { min: 0, max: 1 }));
        assert_eq!(start(&mut s, 1), Err(SyscallError::InvalidArgument { argument: 0 }));
        assert_eq!(start(&mut s, 0), Ok(()));
        assert_eq!(s.invoke(label::DOMAIN_SCHEDULE_SET_START, &[], None), Err(SyscallError::TruncatedMessage));
        assert_eq!(s.invoke(29, &[0], None), Err(SyscallError::IllegalOperation));
    }
}
