//! The system's bus services (docs/bus-protocol.md, "Classes" and the services' sections): the
//! class numbers the modules agree on and the payloads of the time service. Pure logic, unit
//! tested on the host; modules use it through `hm_module::services`.

/// Class numbers.
pub mod classes {
    /// Status lines, text: the demonstration modules publish them, the logger logs them.
    pub const STATUS: u8 = 17;
    /// The block service: requests and replies (see "The block service").
    pub const BLOCK_REQUEST: u8 = 20;
    pub const BLOCK_REPLY: u8 = 21;
    /// The time service: a request (no payload), and its reply, [`super::time_reply`].
    pub const TIME_REQUEST: u8 = 22;
    pub const TIME_REPLY: u8 = 23;
    /// A log line for the console, text: the last (or only) part of a line ...
    pub const LOG: u8 = 24;
    /// ... and a part of one that more of the same line follows.
    pub const LOG_MORE: u8 = 26;
    /// A line typed at the console, text, for the shell.
    pub const INPUT: u8 = 25;
    /// The timer service: a request ([`super::timer::Request`]), a timer's expiry
    /// ([`super::timer::Fired`]), and the driver's announcement that it (re)started
    /// ([`super::timer::Ready`]), after which clients ask again for the timers they want.
    pub const TIMER_REQUEST: u8 = 27;
    pub const TIMER_FIRED: u8 = 28;
    pub const TIMER_READY: u8 = 29;
    /// The board service (the Pi's VideoCore mailbox): a request (no payload), and its reply,
    /// [`super::board::Facts`].
    pub const BOARD_REQUEST: u8 = 30;
    pub const BOARD_REPLY: u8 = 31;
}

/// The board service's reply: what the firmware says about the board.
pub mod board {
    /// 24 bytes, little endian: revision (0..4), the ARM's memory base (4..8) and size (8..12),
    /// the SoC temperature in thousandths of a degree Celsius (12..16, `u32::MAX`: unknown),
    /// the serial number (16..24).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Facts {
        pub revision: u32,
        pub serial: u64,
        pub memory_base: u32,
        pub memory_size: u32,
        pub millidegrees: Option<u32>,
    }

    impl Facts {
        pub fn to_bytes(&self) -> [u8; 24] {
            let mut bytes = [0; 24];
            bytes[0..4].copy_from_slice(&self.revision.to_le_bytes());
            bytes[4..8].copy_from_slice(&self.memory_base.to_le_bytes());
            bytes[8..12].copy_from_slice(&self.memory_size.to_le_bytes());
            bytes[12..16].copy_from_slice(&self.millidegrees.unwrap_or(u32::MAX).to_le_bytes());
            bytes[16..24].copy_from_slice(&self.serial.to_le_bytes());
            bytes
        }

        pub fn from_bytes(bytes: &[u8]) -> Option<Facts> {
            let u32_at = |at: usize| Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
            Some(Facts {
                revision: u32_at(0)?,
                memory_base: u32_at(4)?,
                memory_size: u32_at(8)?,
                millidegrees: u32_at(12).filter(|&t| t != u32::MAX),
                serial: u64::from_le_bytes(bytes.get(16..24)?.try_into().ok()?),
            })
        }
    }

    impl core::fmt::Display for Facts {
        /// `revision 0x..., serial 0x..., ARM memory 0x...0x..., 25.0 C`.
        fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
            let end = u64::from(self.memory_base) + u64::from(self.memory_size);
            write!(
                f,
                "revision {:#x}, serial {:#x}, ARM memory {:#x}..{end:#x}, ",
                self.revision, self.serial, self.memory_base
            )?;
            match self.millidegrees {
                Some(m) => write!(f, "{}.{} C", m / 1000, m % 1000 / 100),
                None => f.write_str("temperature unknown"),
            }
        }
    }
}

/// The timer service's messages (docs/bus-protocol.md, "The timer service"): one driver of
/// the virtual timer multiplexed for many clients. A client's timers are named by its origin
/// (bus and member id, stamped by buses) and a tag of its choosing.
pub mod timer {
    /// Operations.
    pub const ONCE: u8 = 1;
    pub const EVERY: u8 = 2;
    pub const CANCEL: u8 = 3;
    /// A test hook: the driver fails at its next interrupt, before acknowledging it.
    pub const FAIL: u8 = 0xfe;

    /// A request: 16 bytes, little endian: the operation, the tag, and for ONCE and EVERY the
    /// interval in microseconds. A request with a tag the client has in use replaces that timer.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Request {
        pub op: u8,
        pub tag: u16,
        pub us: u64,
    }

    impl Request {
        pub fn to_bytes(&self) -> [u8; 16] {
            let mut bytes = [0; 16];
            bytes[0] = self.op;
            bytes[2..4].copy_from_slice(&self.tag.to_le_bytes());
            bytes[8..16].copy_from_slice(&self.us.to_le_bytes());
            bytes
        }

        pub fn from_bytes(bytes: &[u8]) -> Option<Request> {
            Some(Request {
                op: *bytes.first()?,
                tag: u16::from_le_bytes(bytes.get(2..4)?.try_into().ok()?),
                us: u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?),
            })
        }
    }

    /// A timer's expiry, for the client at `(bus, member)`: its tag and how often it has fired
    /// (1 for a one-shot). 12 bytes.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Fired {
        pub tag: u16,
        pub bus: u16,
        pub member: u16,
        pub count: u32,
    }

    impl Fired {
        pub fn to_bytes(&self) -> [u8; 12] {
            let mut bytes = [0; 12];
            bytes[0..2].copy_from_slice(&self.tag.to_le_bytes());
            bytes[2..4].copy_from_slice(&self.bus.to_le_bytes());
            bytes[4..6].copy_from_slice(&self.member.to_le_bytes());
            bytes[8..12].copy_from_slice(&self.count.to_le_bytes());
            bytes
        }

        pub fn from_bytes(bytes: &[u8]) -> Option<Fired> {
            let u16_at = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
            Some(Fired {
                tag: u16_at(0)?,
                bus: u16_at(2)?,
                member: u16_at(4)?,
                count: u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?),
            })
        }
    }

    /// Most timers the driver keeps at once (for all its clients).
    pub const MAX_TIMERS: usize = 16;

    /// One timer: whose, which, when next (counter ticks), every how many ticks (0: once), and
    /// how often it has fired.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Timer {
        pub bus: u16,
        pub member: u16,
        pub tag: u16,
        pub deadline: u64,
        pub period: u64,
        pub count: u32,
    }

    /// Why a request was not taken.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Refused {
        /// Every one of the [`MAX_TIMERS`] is in use.
        Full,
        /// An interval of 0, or an unknown operation.
        BadRequest,
    }

    /// The driver's timers: the service's logic, apart from the hardware (host-tested).
    #[derive(Clone, Copy, Debug)]
    pub struct Table {
        timers: [Option<Timer>; MAX_TIMERS],
    }

    impl Default for Table {
        fn default() -> Table {
            Table::new()
        }
    }

    impl Table {
        pub const fn new() -> Table {
            Table { timers: [None; MAX_TIMERS] }
        }

        fn position(&self, bus: u16, member: u16, tag: u16) -> Option<usize> {
            self.timers.iter().position(|t| t.is_some_and(|t| (t.bus, t.member, t.tag) == (bus, member, tag)))
        }

        /// Applies `request` from the client at `(bus, member)` at counter value `now`, with
        /// `ticks_per_us` counter ticks a microsecond (ONCE and EVERY set or replace the
        /// client's timer of that tag; CANCEL removes it, if it exists).
        pub fn apply(
            &mut self,
            (bus, member): (u16, u16),
            request: &Request,
            now: u64,
            ticks_per_us: u64,
        ) -> Result<(), Refused> {
            let existing = self.position(bus, member, request.tag);
            match request.op {
                ONCE | EVERY if request.us > 0 => {
                    let interval = request.us.saturating_mul(ticks_per_us.max(1));
                    let period = if request.op == EVERY { interval } else { 0 };
                    let timer = Timer {
                        bus,
                        member,
                        tag: request.tag,
                        deadline: now.saturating_add(interval),
                        period,
                        count: 0,
                    };
                    let slot =
                        existing.or_else(|| self.timers.iter().position(Option::is_none)).ok_or(Refused::Full)?;
                    self.timers[slot] = Some(timer);
                    Ok(())
                }
                CANCEL => {
                    if let Some(k) = existing {
                        self.timers[k] = None;
                    }
                    Ok(())
                }
                _ => Err(Refused::BadRequest),
            }
        }

        /// The earliest deadline, if any timer is set.
        pub fn next_deadline(&self) -> Option<u64> {
            self.timers.iter().flatten().map(|t| t.deadline).min()
        }

        /// Every timer due at `now`, each as it fired (its count raised); a periodic one is set
        /// again one period after the deadline it missed least (never in the past), a one-shot
        /// one removed. Calls `fired` for each.
        pub fn expire(&mut self, now: u64, mut fired: impl FnMut(&Timer)) {
            for slot in self.timers.iter_mut() {
                let Some(timer) = slot.as_mut() else { continue };
                if timer.deadline > now {
                    continue;
                }
                timer.count = timer.count.wrapping_add(1);
                fired(timer);
                match (now - timer.deadline).checked_div(timer.period) {
                    // A one-shot timer (period 0) is done.
                    None => *slot = None,
                    Some(missed) => timer.deadline += (missed + 1) * timer.period,
                }
            }
        }

        /// How many timers are set.
        pub fn len(&self) -> usize {
            self.timers.iter().flatten().count()
        }

        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }

    /// The driver's announcement at each start: how often it has been restarted (4 bytes).
    /// Its timers do not outlive it: a client asks again for its timers when it sees one.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Ready {
        pub restarts: u32,
    }

    impl Ready {
        pub fn to_bytes(&self) -> [u8; 4] {
            self.restarts.to_le_bytes()
        }

        pub fn from_bytes(bytes: &[u8]) -> Option<Ready> {
            Some(Ready { restarts: u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) })
        }
    }
}

/// The block service's requests and replies (docs/bus-protocol.md, "The block service"): data
/// moves through a shared memory region, requests name offsets in it.
pub mod block {
    /// Bytes of a sector.
    pub const SECTOR_BYTES: u32 = 512;
    /// Operations.
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    /// A test hook: the driver fails at once.
    pub const FAIL: u8 = 0xfe;
    /// Reply statuses.
    pub const DONE: u8 = 0;
    pub const DEVICE_FAILED: u8 = 1;
    pub const BAD_REQUEST: u8 = 2;
    pub const NO_DEVICE: u8 = 3;

    /// A request: 24 bytes, little endian.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Request {
        pub op: u8,
        /// Echoed in the reply.
        pub tag: u16,
        pub sectors: u16,
        pub sector: u64,
        /// Where in the shared region, a multiple of [`SECTOR_BYTES`].
        pub offset: u32,
    }

    impl Request {
        pub fn to_bytes(&self) -> [u8; 24] {
            let mut bytes = [0; 24];
            bytes[0] = self.op;
            bytes[2..4].copy_from_slice(&self.tag.to_le_bytes());
            bytes[4..6].copy_from_slice(&self.sectors.to_le_bytes());
            bytes[8..16].copy_from_slice(&self.sector.to_le_bytes());
            bytes[16..20].copy_from_slice(&self.offset.to_le_bytes());
            bytes
        }

        pub fn from_bytes(bytes: &[u8]) -> Option<Request> {
            let field = |at: usize, n: usize| bytes.get(at..at + n);
            Some(Request {
                op: *bytes.first()?,
                tag: u16::from_le_bytes(field(2, 2)?.try_into().ok()?),
                sectors: u16::from_le_bytes(field(4, 2)?.try_into().ok()?),
                sector: u64::from_le_bytes(field(8, 8)?.try_into().ok()?),
                offset: u32::from_le_bytes(field(16, 4)?.try_into().ok()?),
            })
        }
    }

    /// A reply: the request's tag, a status, and the driver's restart count (4 bytes).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Reply {
        pub tag: u16,
        pub status: u8,
        pub restarts: u8,
    }

    impl Reply {
        pub fn to_bytes(&self) -> [u8; 4] {
            let [t0, t1] = self.tag.to_le_bytes();
            [t0, t1, self.status, self.restarts]
        }

        pub fn from_bytes(bytes: &[u8]) -> Option<Reply> {
            let &[t0, t1, status, restarts, ..] = bytes else { return None };
            Some(Reply { tag: u16::from_le_bytes([t0, t1]), status, restarts })
        }
    }
}

/// A time reply's payload: seconds since 1970-01-01 00:00 UTC, 8 bytes little endian.
pub fn time_reply(seconds: u64) -> [u8; 8] {
    seconds.to_le_bytes()
}

/// The seconds a time reply's payload carries.
pub fn time_from_reply(payload: &[u8]) -> Option<u64> {
    Some(u64::from_le_bytes(payload.get(..8)?.try_into().ok()?))
}

/// The civil date of `days` since 1970-01-01 (proleptic Gregorian): year, month, day.
pub fn civil_date(days: i64) -> (i64, u32, u32) {
    // Count from 0000-03-01, so that each 400-year era starts with a March and a leap day
    // closes each 4-year cycle.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DD hh:mm:ss` (UTC) of `seconds` since 1970.
pub fn utc_text(seconds: i64) -> UtcText {
    UtcText(seconds)
}

/// A time of day, displayed as `YYYY-MM-DD hh:mm:ss`.
pub struct UtcText(i64);

impl core::fmt::Display for UtcText {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        let (year, month, day) = civil_date(self.0.div_euclid(86_400));
        let time = self.0.rem_euclid(86_400);
        write!(f, "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", time / 3600, time / 60 % 60, time % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(11_016), (2000, 2, 29), "a leap day of a 400-year leap year");
        assert_eq!(civil_date(11_017), (2000, 3, 1));
        assert_eq!(civil_date(47_482), (2100, 1, 1));
        assert_eq!(civil_date(47_540), (2100, 2, 28));
        assert_eq!(civil_date(47_541), (2100, 3, 1), "2100 has no leap day");
    }

    #[test]
    fn times_of_day() {
        assert_eq!(utc_text(0).to_string(), "1970-01-01 00:00:00");
        assert_eq!(utc_text(1_796_280_065).to_string(), "2026-12-03 06:41:05");
        assert_eq!(utc_text(-1).to_string(), "1969-12-31 23:59:59");
    }

    #[test]
    fn block_requests_and_replies_round_trip() {
        let request = block::Request { op: block::WRITE, tag: 0x1234, sectors: 8, sector: 1 << 40, offset: 4096 };
        let bytes = request.to_bytes();
        assert_eq!(bytes[..6], [2, 0, 0x34, 0x12, 8, 0]);
        assert_eq!(block::Request::from_bytes(&bytes), Some(request));
        assert_eq!(block::Request::from_bytes(&bytes[..19]), None, "a short request");
        let reply = block::Reply { tag: 7, status: block::BAD_REQUEST, restarts: 1 };
        assert_eq!(reply.to_bytes(), [7, 0, 2, 1]);
        assert_eq!(block::Reply::from_bytes(&reply.to_bytes()), Some(reply));
        assert_eq!(block::Reply::from_bytes(&[7, 0, 2]), None);
    }

    #[test]
    fn timer_messages_round_trip() {
        let request = timer::Request { op: timer::EVERY, tag: 0x0102, us: 5_000 };
        let bytes = request.to_bytes();
        assert_eq!(bytes[..4], [2, 0, 2, 1]);
        assert_eq!(timer::Request::from_bytes(&bytes), Some(request));
        assert_eq!(timer::Request::from_bytes(&bytes[..15]), None);
        let fired = timer::Fired { tag: 7, bus: 2, member: 5, count: 70_000 };
        assert_eq!(timer::Fired::from_bytes(&fired.to_bytes()), Some(fired));
        assert_eq!(timer::Fired::from_bytes(&fired.to_bytes()[..11]), None);
        let ready = timer::Ready { restarts: 3 };
        assert_eq!(timer::Ready::from_bytes(&ready.to_bytes()), Some(ready));
        assert_eq!(timer::Ready::from_bytes(&[1, 0]), None);
    }

    #[test]
    fn timers_fire_in_order_and_periodic_ones_come_back() {
        use timer::{CANCEL, EVERY, ONCE, Refused, Request, Table};
        let mut table = Table::new();
        let (a, b) = ((1, 2), (2, 5));
        // 10 ticks a microsecond.
        table.apply(a, &Request { op: ONCE, tag: 1, us: 5 }, 100, 10).unwrap();
        table.apply(b, &Request { op: EVERY, tag: 1, us: 3 }, 100, 10).unwrap();
        assert_eq!(table.next_deadline(), Some(130));
        let mut seen = Vec::new();
        table.expire(129, |t| seen.push((t.member, t.count)));
        assert!(seen.is_empty(), "nothing is due before its deadline");
        table.expire(130, |t| seen.push((t.member, t.count)));
        assert_eq!(seen, [(5, 1)]);
        assert_eq!(table.next_deadline(), Some(150), "a's one-shot at 150, b's next at 160");
        // Late by more than a period: b fires once and is set after now, in phase.
        seen.clear();
        table.expire(195, |t| seen.push((t.member, t.count)));
        assert_eq!(seen, [(2, 1), (5, 2)]);
        assert_eq!(table.len(), 1, "the one-shot is gone");
        assert_eq!(table.next_deadline(), Some(220));
        // Same tag from the same client replaces; the same tag from another is another timer.
        table.apply(b, &Request { op: ONCE, tag: 1, us: 1 }, 200, 10).unwrap();
        assert_eq!((table.len(), table.next_deadline()), (1, Some(210)));
        table.apply(a, &Request { op: ONCE, tag: 1, us: 1 }, 200, 10).unwrap();
        assert_eq!(table.len(), 2);
        table.apply(a, &Request { op: CANCEL, tag: 1, us: 0 }, 200, 10).unwrap();
        table.apply(a, &Request { op: CANCEL, tag: 9, us: 0 }, 200, 10).unwrap();
        assert_eq!(table.len(), 1, "a cancel of no timer is no error");
        assert_eq!(table.apply(a, &Request { op: ONCE, tag: 2, us: 0 }, 0, 10), Err(Refused::BadRequest));
        assert_eq!(table.apply(a, &Request { op: 9, tag: 2, us: 5 }, 0, 10), Err(Refused::BadRequest));
        for tag in 0..timer::MAX_TIMERS as u16 - 1 {
            table.apply((3, 3), &Request { op: EVERY, tag, us: 7 }, 0, 10).unwrap();
        }
        assert_eq!(table.apply((3, 4), &Request { op: EVERY, tag: 0, us: 7 }, 0, 10), Err(Refused::Full));
        assert_eq!(table.apply((3, 3), &Request { op: EVERY, tag: 0, us: 9 }, 0, 10), Ok(()), "a replacement fits");
    }

    #[test]
    fn board_facts_round_trip_and_read() {
        let facts = board::Facts {
            revision: 0xb03115,
            serial: 0x1000_0000_abcd,
            memory_base: 0,
            memory_size: 0x3c00_0000,
            millidegrees: Some(25_000),
        };
        assert_eq!(board::Facts::from_bytes(&facts.to_bytes()), Some(facts));
        assert_eq!(facts.to_string(), "revision 0xb03115, serial 0x10000000abcd, ARM memory 0x0..0x3c000000, 25.0 C");
        let unknown = board::Facts { millidegrees: None, ..facts };
        assert_eq!(board::Facts::from_bytes(&unknown.to_bytes()), Some(unknown));
        assert!(unknown.to_string().ends_with("temperature unknown"));
        assert_eq!(board::Facts::from_bytes(&facts.to_bytes()[..23]), None);
    }

    #[test]
    fn time_replies_round_trip() {
        assert_eq!(time_from_reply(&time_reply(1_796_280_065)), Some(1_796_280_065));
        assert_eq!(time_from_reply(&[1, 2, 3]), None);
    }
}
