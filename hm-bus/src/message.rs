//! The bus message: its 16-byte header and 112-byte payload, their layout in an inbox slot
//! (little endian, docs/bus-protocol.md "Message format"), and the PUBLISH request words.

/// Bytes in a header.
pub const HEADER_BYTES: usize = 16;
/// Most payload bytes a message carries.
pub const PAYLOAD_BYTES: usize = 112;
/// Bytes in a message as stored in an inbox slot: header then payload.
pub const MESSAGE_BYTES: usize = HEADER_BYTES + PAYLOAD_BYTES;
/// Payload words of a PUBLISH request (MR1..MR14).
pub const PAYLOAD_WORDS: usize = PAYLOAD_BYTES / 8;
/// Words of a PUBLISH request from a link: MR0, the payload words, and MR15 (the origin).
pub const LINK_PUBLISH_WORDS: usize = 2 + PAYLOAD_WORDS;

/// How far a message travels in the tree of buses.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scope {
    /// The publisher's bus only.
    Local = 0,
    /// The publisher's bus and every ancestor bus.
    Up = 1,
    /// The publisher's bus and its whole subtree.
    Down = 2,
    /// Every bus of the tree.
    Global = 3,
}

impl Scope {
    /// Every scope, by number.
    pub const ALL: [Scope; 4] = [Scope::Local, Scope::Up, Scope::Down, Scope::Global];

    /// The scope numbered `value`, if any.
    pub fn from_number(value: u64) -> Option<Scope> {
        Scope::ALL.get(usize::try_from(value).ok()?).copied()
    }
}

/// Why words or bytes are not a message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MessageError {
    /// The class is above 255.
    BadClass,
    /// The scope is above 3.
    BadScope,
    /// The length is above 112, or the request has fewer words than the length needs.
    BadLength,
}

/// A message header. `source`, `origin_bus`, `origin_member` and `sequence` are stamped by
/// buses, the rest by the publisher.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Header {
    pub class: u8,
    pub scope: Scope,
    /// Payload bytes in use (0..=112).
    pub length: u16,
    /// The member id, on this bus, that handed the message to the bus.
    pub source: u16,
    /// The bus where the message was first published.
    pub origin_bus: u16,
    /// The publisher's member id on that bus.
    pub origin_member: u16,
    /// The inbox's sequence number of this message (the low 32 bits of its `offered` count).
    pub sequence: u32,
}

impl Header {
    /// The 16 header bytes, little endian; the reserved byte is 0.
    pub fn to_bytes(&self) -> [u8; HEADER_BYTES] {
        let mut bytes = [0; HEADER_BYTES];
        bytes[0..2].copy_from_slice(&u16::from(self.class).to_le_bytes());
        bytes[2] = self.scope as u8;
        bytes[4..6].copy_from_slice(&self.length.to_le_bytes());
        bytes[6..8].copy_from_slice(&self.source.to_le_bytes());
        bytes[8..10].copy_from_slice(&self.origin_bus.to_le_bytes());
        bytes[10..12].copy_from_slice(&self.origin_member.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.sequence.to_le_bytes());
        bytes
    }

    /// The header in `bytes`; the reserved byte is ignored.
    pub fn from_bytes(bytes: &[u8; HEADER_BYTES]) -> Result<Header, MessageError> {
        let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let class = u8::try_from(u16_at(0)).map_err(|_| MessageError::BadClass)?;
        let scope = Scope::from_number(bytes[2].into()).ok_or(MessageError::BadScope)?;
        let length = u16_at(4);
        if usize::from(length) > PAYLOAD_BYTES {
            return Err(MessageError::BadLength);
        }
        Ok(Header {
            class,
            scope,
            length,
            source: u16_at(6),
            origin_bus: u16_at(8),
            origin_member: u16_at(10),
            sequence: u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]),
        })
    }
}

/// A message: header and payload. Payload bytes past `header.length` are zero in every message
/// this crate builds or decodes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Message {
    pub header: Header,
    pub payload: [u8; PAYLOAD_BYTES],
}

impl Message {
    /// A message of `class` and `scope` carrying `bytes`, with the stamped fields 0.
    pub fn new(class: u8, scope: Scope, bytes: &[u8]) -> Result<Message, MessageError> {
        if bytes.len() > PAYLOAD_BYTES {
            return Err(MessageError::BadLength);
        }
        let mut payload = [0; PAYLOAD_BYTES];
        payload[..bytes.len()].copy_from_slice(bytes);
        let header = Header {
            class,
            scope,
            length: bytes.len() as u16,
            source: 0,
            origin_bus: 0,
            origin_member: 0,
            sequence: 0,
        };
        Ok(Message { header, payload })
    }

    /// The payload bytes in use.
    pub fn bytes(&self) -> &[u8] {
        &self.payload[..usize::from(self.header.length).min(PAYLOAD_BYTES)]
    }

    /// Words a PUBLISH request of this message needs from a member: MR0 and the payload words
    /// its length covers.
    pub fn publish_word_count(&self) -> usize {
        1 + usize::from(self.header.length).div_ceil(8)
    }

    /// The PUBLISH request words: MR0 = class | scope << 16 | length << 32, MR1..MR14 the
    /// payload (8 bytes a word, little endian), MR15 = origin bus | origin member << 16 (read
    /// by the bus only from links). A member sends the first [`Message::publish_word_count`]
    /// words, a link all [`LINK_PUBLISH_WORDS`].
    pub fn to_publish_words(&self) -> [u64; LINK_PUBLISH_WORDS] {
        let header = &self.header;
        let mut words = [0; LINK_PUBLISH_WORDS];
        words[0] = u64::from(header.class) | (header.scope as u64) << 16 | u64::from(header.length) << 32;
        for (word, chunk) in words[1..=PAYLOAD_WORDS].iter_mut().zip(self.payload.chunks_exact(8)) {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(chunk);
            *word = u64::from_le_bytes(bytes);
        }
        words[LINK_PUBLISH_WORDS - 1] = u64::from(header.origin_bus) | u64::from(header.origin_member) << 16;
        words
    }

    /// The message a PUBLISH request's words carry (MR0 and the payload words; any words after
    /// them are not read). The stamped fields are 0; payload bytes past the length are zeroed.
    pub fn from_publish_words(words: &[u64]) -> Result<Message, MessageError> {
        let first = *words.first().ok_or(MessageError::BadLength)?;
        let class = u8::try_from(first & 0xffff).map_err(|_| MessageError::BadClass)?;
        let scope = Scope::from_number((first >> 16) & 0xffff).ok_or(MessageError::BadScope)?;
        let length = usize::try_from(first >> 32).map_err(|_| MessageError::BadLength)?;
        if length > PAYLOAD_BYTES || words.len() < 1 + length.div_ceil(8) {
            return Err(MessageError::BadLength);
        }
        let mut payload = [0; PAYLOAD_BYTES];
        for (chunk, word) in payload.chunks_exact_mut(8).zip(&words[1..1 + length.div_ceil(8)]) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        payload[length..].fill(0);
        let mut message = Message::new(class, scope, &[])?;
        message.header.length = length as u16;
        message.payload = payload;
        Ok(message)
    }

    /// The 128 bytes of an inbox slot: header, then the whole payload array.
    pub fn to_bytes(&self) -> [u8; MESSAGE_BYTES] {
        let mut bytes = [0; MESSAGE_BYTES];
        bytes[..HEADER_BYTES].copy_from_slice(&self.header.to_bytes());
        bytes[HEADER_BYTES..].copy_from_slice(&self.payload);
        bytes
    }

    /// The message in an inbox slot's bytes; payload bytes past the length are zeroed.
    pub fn from_bytes(bytes: &[u8; MESSAGE_BYTES]) -> Result<Message, MessageError> {
        let mut header_bytes = [0; HEADER_BYTES];
        header_bytes.copy_from_slice(&bytes[..HEADER_BYTES]);
        let header = Header::from_bytes(&header_bytes)?;
        let mut payload = [0; PAYLOAD_BYTES];
        let length = usize::from(header.length);
        payload[..length].copy_from_slice(&bytes[HEADER_BYTES..HEADER_BYTES + length]);
        Ok(Message { header, payload })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn stamped(bytes: &[u8]) -> Message {
        let mut message = Message::new(0x2a, Scope::Down, bytes).unwrap();
        message.header.source = 7;
        message.header.origin_bus = 0x0302;
        message.header.origin_member = 9;
        message.header.sequence = 0x0506_0708;
        message
    }

    #[test]
    fn header_bytes_follow_the_table() {
        let bytes = stamped(b"hello").to_bytes();
        assert_eq!(&bytes[..16], &[0x2a, 0, 2, 0, 5, 0, 7, 0, 2, 3, 9, 0, 8, 7, 6, 5]);
        assert_eq!(&bytes[16..21], b"hello");
        assert!(bytes[21..].iter().all(|&b| b == 0));
    }

    #[test]
    fn publish_words_follow_the_table() {
        let message = stamped(b"0123456789");
        let words = message.to_publish_words();
        assert_eq!(words[0], 0x2a | 2 << 16 | 10 << 32);
        assert_eq!(words[1], u64::from_le_bytes(*b"01234567"));
        assert_eq!(words[2], u64::from_le_bytes([b'8', b'9', 0, 0, 0, 0, 0, 0]));
        assert_eq!(words[15], 0x0302 | 9 << 16);
        assert_eq!(message.publish_word_count(), 3);
        let decoded = Message::from_publish_words(&words[..3]).unwrap();
        assert_eq!(decoded.bytes(), b"0123456789");
        assert_eq!((decoded.header.class, decoded.header.scope), (0x2a, Scope::Down));
        assert_eq!((decoded.header.source, decoded.header.origin_bus, decoded.header.sequence), (0, 0, 0));
    }

    #[test]
    fn publish_words_are_validated() {
        assert_eq!(Message::from_publish_words(&[]), Err(MessageError::BadLength));
        assert_eq!(Message::from_publish_words(&[256]), Err(MessageError::BadClass));
        assert_eq!(Message::from_publish_words(&[1 << 15]), Err(MessageError::BadClass));
        assert_eq!(Message::from_publish_words(&[4 << 16]), Err(MessageError::BadScope));
        assert_eq!(Message::from_publish_words(&[1 << 31]), Err(MessageError::BadScope));
        assert_eq!(Message::from_publish_words(&[113 << 32; 16]), Err(MessageError::BadLength));
        assert_eq!(Message::from_publish_words(&[1 << 63; 16]), Err(MessageError::BadLength));
        // Nine bytes need two payload words.
        assert_eq!(Message::from_publish_words(&[9 << 32, 0]), Err(MessageError::BadLength));
        assert!(Message::from_publish_words(&[9 << 32, 0, 0]).is_ok());
        assert!(Message::from_publish_words(&[255 | 3 << 16 | 112 << 32; 15]).is_ok());
        assert!(Message::from_publish_words(&[0]).is_ok());
    }

    #[test]
    fn payload_past_the_length_is_zeroed() {
        let message = Message::from_publish_words(&[3 << 32, u64::MAX]).unwrap();
        assert_eq!(message.bytes(), &[0xff; 3]);
        assert!(message.payload[3..].iter().all(|&b| b == 0));
        let mut bytes = stamped(b"abc").to_bytes();
        bytes[16 + 3..].fill(0xee);
        assert_eq!(Message::from_bytes(&bytes).unwrap(), stamped(b"abc"));
    }

    #[test]
    fn slot_bytes_are_validated() {
        assert_eq!(Message::new(0, Scope::Local, &[0; 113]), Err(MessageError::BadLength));
        let good = stamped(b"x").to_bytes();
        let mut bad = good;
        bad[1] = 1;
        assert_eq!(Message::from_bytes(&bad), Err(MessageError::BadClass));
        let mut bad = good;
        bad[2] = 4;
        assert_eq!(Message::from_bytes(&bad), Err(MessageError::BadScope));
        let mut bad = good;
        bad[4] = 113;
        assert_eq!(Message::from_bytes(&bad), Err(MessageError::BadLength));
        let mut reserved = good;
        reserved[3] = 0xff;
        assert_eq!(Message::from_bytes(&reserved), Ok(stamped(b"x")));
    }

    proptest! {
        #[test]
        fn encodings_round_trip(
            class: u8,
            scope in 0u64..4,
            payload in proptest::collection::vec(any::<u8>(), 0..=PAYLOAD_BYTES),
            stamps: (u16, u16, u16, u32),
        ) {
            let mut message = Message::new(class, Scope::from_number(scope).unwrap(), &payload).unwrap();
            let words = message.to_publish_words();
            let from_words = Message::from_publish_words(&words[..message.publish_word_count()]).unwrap();
            prop_assert_eq!(from_words, message);
            (message.header.source, message.header.origin_bus, message.header.origin_member, message.header.sequence) =
                stamps;
            prop_assert_eq!(Message::from_bytes(&message.to_bytes()).unwrap(), message);
            prop_assert_eq!(message.bytes(), &payload[..]);
        }
    }
}
