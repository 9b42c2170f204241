//! The message-info word (x1): label 63..12, capabilities unwrapped 11..9, extra capabilities
//! 8..7, length 6..0.

/// Most message words a message carries.
pub const MAX_MESSAGE_LENGTH: usize = 120;
/// Most extra capabilities a message carries.
pub const MAX_EXTRA_CAPS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MessageInfo(pub u64);

impl MessageInfo {
    pub const fn new(label: u64, caps_unwrapped: u64, extra_caps: u64, length: u64) -> Self {
        MessageInfo((label << 12) | ((caps_unwrapped & 7) << 9) | ((extra_caps & 3) << 7) | (length & 0x7f))
    }
    pub const fn label(self) -> u64 {
        self.0 >> 12
    }
    pub const fn caps_unwrapped(self) -> u64 {
        (self.0 >> 9) & 7
    }
    pub const fn extra_caps(self) -> u64 {
        (self.0 >> 7) & 3
    }
    pub const fn length(self) -> u64 {
        self.0 & 0x7f
    }
}

/// Access rights of a capability (seL4_CapRights).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CapRights {
    pub write: bool,
    pub read: bool,
    pub grant: bool,
    pub grant_reply: bool,
}

impl CapRights {
    pub const ALL: CapRights = CapRights { write: true, read: true, grant: true, grant_reply: true };
    pub const READ_WRITE: CapRights = CapRights { write: true, read: true, grant: false, grant_reply: false };
    pub const READ: CapRights = CapRights { write: false, read: true, grant: false, grant_reply: false };
    pub const NONE: CapRights = CapRights { write: false, read: false, grant: false, grant_reply: false };

    pub const fn word(self) -> u64 {
        (self.write as u64) | (self.read as u64) << 1 | (self.grant as u64) << 2 | (self.grant_reply as u64) << 3
    }
}

/// CNode capability data for Mint/Mutate (seL4_CNode_CapData): guard 63..6, guard size 5..0.
pub const fn cnode_cap_data(guard: u64, guard_size: u64) -> u64 {
    (guard << 6) | (guard_size & 63)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_info_packs_every_field() {
        let info = MessageInfo::new(0x1_2345_6789, 5, 3, 120);
        assert_eq!(info.label(), 0x1_2345_6789);
        assert_eq!(info.caps_unwrapped(), 5);
        assert_eq!(info.extra_caps(), 3);
        assert_eq!(info.length(), 120);
        assert_eq!(MessageInfo::new(1, 0, 1, 6).0, (1 << 12) | (1 << 7) | 6);
        assert_eq!(MessageInfo::new(0, 0, 4, 128).0, 0, "fields are masked to their widths");
    }

    #[test]
    fn rights_and_cap_data() {
        assert_eq!(CapRights::ALL.word(), 15);
        assert_eq!(CapRights::READ.word(), 2);
        assert_eq!(cnode_cap_data(0b101, 3), (0b101 << 6) | 3);
    }
}
