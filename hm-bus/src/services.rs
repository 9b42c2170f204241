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
    fn time_replies_round_trip() {
        assert_eq!(time_from_reply(&time_reply(1_796_280_065)), Some(1_796_280_065));
        assert_eq!(time_from_reply(&[1, 2, 3]), None);
    }
}
