//! The inbox: a single-producer (the bus), single-consumer (the member) ring of messages in a
//! shared 4 KiB frame, laid out as docs/bus-protocol.md "Inboxes" says. [`InboxWriter`] is the
//! bus's side, [`InboxReader`] the member's.
//!
//! Every word of the frame, counters and slots alike, is accessed through `AtomicU64`, so
//! neither side can cause a data race whatever the other does; the counters carry the
//! release/acquire ordering of the protocol, the slot words are relaxed. The writer trusts
//! nothing the reader writes: a `tail` out of range only makes the ring look full.

use crate::message::{MESSAGE_BYTES, Message};
use core::sync::atomic::{AtomicU64, Ordering};

/// Bytes in an inbox frame.
pub const INBOX_BYTES: usize = 4096;
/// Offset of `head`: messages written so far (the bus writes it).
pub const HEAD_OFFSET: usize = 0;
/// Offset of `offered`: messages offered so far, written or dropped (the bus writes it).
pub const OFFERED_OFFSET: usize = 8;
/// Offset of `dropped`: messages dropped because the ring was full (the bus writes it).
pub const DROPPED_OFFSET: usize = 16;
/// Offset of `tail`: messages taken so far (the member writes it).
pub const TAIL_OFFSET: usize = 64;
/// Offset of slot 0; slot `k` is at `SLOTS_OFFSET + k * MESSAGE_BYTES`.
pub const SLOTS_OFFSET: usize = 256;
/// Slots in the ring.
pub const SLOT_COUNT: u64 = 30;

const _: () = assert!(SLOTS_OFFSET + SLOT_COUNT as usize * MESSAGE_BYTES == INBOX_BYTES);

/// What became of an offered message; `sequence` is the one it was given (the low 32 bits of
/// the inbox's `offered` count before the offer).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Offered {
    Written { sequence: u32 },
    Dropped { sequence: u32 },
}

/// The word at `offset` of the frame at `base`.
///
/// # Safety
///
/// `base` is an inbox frame as [`InboxWriter::new`] requires, `offset` a multiple of 8 below
/// [`INBOX_BYTES`].
unsafe fn word<'a>(base: *mut u8, offset: usize) -> &'a AtomicU64 {
    debug_assert!(offset.is_multiple_of(8) && offset < INBOX_BYTES);
    // SAFETY: the caller's promise: `base + offset` is inside the frame, 8-byte aligned, valid
    // for reads and writes while the side that holds `base` lives, and only ever accessed
    // atomically.
    unsafe { AtomicU64::from_ptr(base.add(offset).cast()) }
}

fn slot_offset(index: u64) -> usize {
    SLOTS_OFFSET + (index % SLOT_COUNT) as usize * MESSAGE_BYTES
}

/// The bus's side of one inbox.
pub struct InboxWriter {
    base: *mut u8,
}

impl InboxWriter {
    /// The writer of the inbox frame at `base`.
    ///
    /// # Safety
    ///
    /// `base` is 8-byte aligned (a frame is 4 KiB aligned) and valid for reads and writes of
    /// [`INBOX_BYTES`] for as long as the writer lives; the frame is only ever accessed as
    /// atomic 64-bit words (by this crate's two sides); there is no other writer of it; and its
    /// counters are consistent (a fresh frame is all zeroes, which is an empty inbox).
    pub unsafe fn new(base: *mut u8) -> InboxWriter {
        InboxWriter { base }
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: `new`'s contract covers the whole frame, and every offset used here is a
        // multiple of 8 inside it.
        unsafe { word(self.base, offset) }
    }

    /// Offers `message`: stamps the next sequence number into its header and writes it to the
    /// ring if there is room, or counts it dropped if the ring is full.
    pub fn offer(&mut self, message: &Message) -> Offered {
        // Only this side writes head, offered and dropped, so it reads them relaxed; tail is
        // acquired so that the reader's last reads of a slot happen before it is overwritten.
        let offered = self.word(OFFERED_OFFSET).load(Ordering::Relaxed);
        let sequence = offered as u32;
        let head = self.word(HEAD_OFFSET).load(Ordering::Relaxed);
        let tail = self.word(TAIL_OFFSET).load(Ordering::Acquire);
        let outcome = if head.wrapping_sub(tail) < SLOT_COUNT {
            let mut stamped = *message;
            stamped.header.sequence = sequence;
            let bytes = stamped.to_bytes();
            let slot = slot_offset(head);
            for (index, chunk) in bytes.chunks_exact(8).enumerate() {
                let mut word = [0; 8];
                word.copy_from_slice(chunk);
                self.word(slot + index * 8).store(u64::from_le_bytes(word), Ordering::Relaxed);
            }
            self.word(HEAD_OFFSET).store(head.wrapping_add(1), Ordering::Release);
            Offered::Written { sequence }
        } else {
            let dropped = self.word(DROPPED_OFFSET).load(Ordering::Relaxed);
            self.word(DROPPED_OFFSET).store(dropped.wrapping_add(1), Ordering::Release);
            Offered::Dropped { sequence }
        };
        self.word(OFFERED_OFFSET).store(offered.wrapping_add(1), Ordering::Release);
        outcome
    }

    /// Counts `message` offered and dropped without looking at the ring: the bus refused it (a
    /// publisher over its share of this inbox).
    pub fn refuse(&mut self) -> Offered {
        let offered = self.word(OFFERED_OFFSET).load(Ordering::Relaxed);
        let dropped = self.word(DROPPED_OFFSET).load(Ordering::Relaxed);
        self.word(DROPPED_OFFSET).store(dropped.wrapping_add(1), Ordering::Release);
        self.word(OFFERED_OFFSET).store(offered.wrapping_add(1), Ordering::Release);
        Offered::Dropped { sequence: offered as u32 }
    }

    /// Messages written so far: the index the next one goes to.
    pub fn head(&self) -> u64 {
        self.word(HEAD_OFFSET).load(Ordering::Relaxed)
    }

    /// Messages written and not yet taken (what the reader says it took, trusted only as far as
    /// it makes sense: at most the ring's size).
    pub fn pending(&self) -> u64 {
        let tail = self.word(TAIL_OFFSET).load(Ordering::Acquire);
        self.head().wrapping_sub(tail).min(SLOT_COUNT)
    }

    /// Messages offered so far, written or dropped.
    pub fn offered(&self) -> u64 {
        self.word(OFFERED_OFFSET).load(Ordering::Relaxed)
    }

    /// Messages dropped so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.word(DROPPED_OFFSET).load(Ordering::Relaxed)
    }
}

/// The member's side of one inbox.
pub struct InboxReader {
    base: *mut u8,
    malformed: u64,
}

impl InboxReader {
    /// The reader of the inbox frame at `base`.
    ///
    /// # Safety
    ///
    /// `base` is 8-byte aligned (a frame is 4 KiB aligned) and valid for reads and writes of
    /// [`INBOX_BYTES`] for as long as the reader lives; the frame is only ever accessed as
    /// atomic 64-bit words (by this crate's two sides); there is no other reader of it; and its
    /// counters are consistent (a fresh frame is all zeroes, which is an empty inbox).
    pub unsafe fn new(base: *mut u8) -> InboxReader {
        InboxReader { base, malformed: 0 }
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: `new`'s contract covers the whole frame, and every offset used here is a
        // multiple of 8 inside it.
        unsafe { word(self.base, offset) }
    }

    /// The oldest message not yet taken, if any. A slot that does not hold a valid message
    /// (which only a bus breaking the protocol writes) is taken, counted in
    /// [`InboxReader::malformed`] and passed over.
    pub fn take(&mut self) -> Option<Message> {
        loop {
            // Only this side writes tail; head is acquired so the slot's words are seen whole.
            let tail = self.word(TAIL_OFFSET).load(Ordering::Relaxed);
            let head = self.word(HEAD_OFFSET).load(Ordering::Acquire);
            if tail == head {
                return None;
            }
            let mut bytes = [0; MESSAGE_BYTES];
            let slot = slot_offset(tail);
            for (index, chunk) in bytes.chunks_exact_mut(8).enumerate() {
                chunk.copy_from_slice(&self.word(slot + index * 8).load(Ordering::Relaxed).to_le_bytes());
            }
            self.word(TAIL_OFFSET).store(tail.wrapping_add(1), Ordering::Release);
            match Message::from_bytes(&bytes) {
                Ok(message) => return Some(message),
                Err(_) => self.malformed += 1,
            }
        }
    }

    /// Messages written and not yet taken.
    pub fn pending(&self) -> u64 {
        let head = self.word(HEAD_OFFSET).load(Ordering::Acquire);
        head.wrapping_sub(self.word(TAIL_OFFSET).load(Ordering::Relaxed))
    }

    /// Messages the bus dropped so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.word(DROPPED_OFFSET).load(Ordering::Acquire)
    }

    /// Slots taken so far that did not hold a valid message.
    pub fn malformed(&self) -> u64 {
        self.malformed
    }
}

/// A zeroed, 4 KiB-aligned inbox frame on the host, for tests.
#[cfg(test)]
pub(crate) mod test_frame {
    use super::*;
    use core::cell::UnsafeCell;

    #[repr(C, align(4096))]
    pub struct Frame(UnsafeCell<[u8; INBOX_BYTES]>);

    impl Frame {
        pub fn new() -> Box<Frame> {
            Box::new(Frame(UnsafeCell::new([0; INBOX_BYTES])))
        }

        pub fn base(&self) -> *mut u8 {
            self.0.get().cast()
        }

        /// The writer and reader of this frame, which must outlive them.
        pub fn sides(&self) -> (InboxWriter, InboxReader) {
            // SAFETY: the frame is aligned, zeroed, INBOX_BYTES long and outlives both sides
            // (the callers keep it alive); these are its only writer and reader.
            unsafe { (InboxWriter::new(self.base()), InboxReader::new(self.base())) }
        }

        /// The little-endian u64 at `offset`, read atomically like the two sides do.
        pub fn word(&self, offset: usize) -> u64 {
            // SAFETY: the frame is valid, aligned and only accessed atomically.
            unsafe { word(self.base(), offset) }.load(Ordering::Relaxed)
        }

        pub fn set_word(&self, offset: usize, value: u64) {
            // SAFETY: as for `word`.
            unsafe { word(self.base(), offset) }.store(value, Ordering::Relaxed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_frame::Frame;
    use super::*;
    use crate::message::Scope;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    fn message(n: u32) -> Message {
        Message::new((n % 256) as u8, Scope::Local, &n.to_le_bytes()).unwrap()
    }

    fn with_sequence(mut message: Message, sequence: u32) -> Message {
        message.header.sequence = sequence;
        message
    }

    #[test]
    fn empty_inbox_has_nothing() {
        let frame = Frame::new();
        let (writer, mut reader) = frame.sides();
        assert_eq!(reader.take(), None);
        assert_eq!((reader.pending(), reader.dropped(), writer.offered(), writer.dropped()), (0, 0, 0, 0));
    }

    #[test]
    fn messages_come_out_in_order_with_their_sequence() {
        let frame = Frame::new();
        let (mut writer, mut reader) = frame.sides();
        for n in 0..5 {
            assert_eq!(writer.offer(&message(n)), Offered::Written { sequence: n });
        }
        assert_eq!(reader.pending(), 5);
        for n in 0..5 {
            assert_eq!(reader.take(), Some(with_sequence(message(n), n)));
        }
        assert_eq!(reader.take(), None);
    }

    #[test]
    fn frame_layout_follows_the_table() {
        let frame = Frame::new();
        let (mut writer, mut reader) = frame.sides();
        for n in 0..32 {
            writer.offer(&message(n));
        }
        assert_eq!(frame.word(HEAD_OFFSET), 30);
        assert_eq!(frame.word(OFFERED_OFFSET), 32);
        assert_eq!(frame.word(DROPPED_OFFSET), 2);
        assert_eq!(frame.word(TAIL_OFFSET), 0);
        // Slot 1 holds message 1: class 1, length 4, sequence 1, payload 1u32.
        assert_eq!(frame.word(SLOTS_OFFSET + 128), 1 | 4 << 32);
        assert_eq!(frame.word(SLOTS_OFFSET + 128 + 8), 1 << 32);
        assert_eq!(frame.word(SLOTS_OFFSET + 128 + 16), 1);
        reader.take();
        reader.take();
        assert_eq!(frame.word(TAIL_OFFSET), 2);
    }

    #[test]
    fn a_full_ring_drops_counts_and_leaves_a_gap() {
        let frame = Frame::new();
        let (mut writer, mut reader) = frame.sides();
        for n in 0..30 {
            assert_eq!(writer.offer(&message(n)), Offered::Written { sequence: n });
        }
        assert_eq!(writer.offer(&message(30)), Offered::Dropped { sequence: 30 });
        assert_eq!(writer.offer(&message(31)), Offered::Dropped { sequence: 31 });
        assert_eq!((reader.dropped(), writer.dropped(), writer.offered()), (2, 2, 32));
        assert_eq!(reader.take(), Some(with_sequence(message(0), 0)));
        // One slot is free again: the next message gets sequence 32, after the gap.
        assert_eq!(writer.offer(&message(32)), Offered::Written { sequence: 32 });
        let sequences: Vec<u32> = std::iter::from_fn(|| reader.take()).map(|m| m.header.sequence).collect();
        assert_eq!(sequences, (1..30).chain([32]).collect::<Vec<_>>());
        assert_eq!(reader.dropped(), 2);
    }

    #[test]
    fn wraps_around_many_times() {
        let frame = Frame::new();
        let (mut writer, mut reader) = frame.sides();
        let mut next_taken = 0;
        for n in 0..30 * 40 {
            assert_eq!(writer.offer(&message(n)), Offered::Written { sequence: n });
            if n % 7 == 6 {
                // Drain in bursts so the ring is at every fill level at some wrap.
                while let Some(taken) = reader.take() {
                    assert_eq!(taken, with_sequence(message(next_taken), next_taken));
                    next_taken += 1;
                }
            }
        }
        while let Some(taken) = reader.take() {
            assert_eq!(taken.header.sequence, next_taken);
            next_taken += 1;
        }
        assert_eq!((next_taken, reader.dropped()), (1200, 0));
    }

    #[test]
    fn a_tail_out_of_range_only_makes_the_ring_look_full() {
        let frame = Frame::new();
        let (mut writer, _reader) = frame.sides();
        writer.offer(&message(0));
        frame.set_word(TAIL_OFFSET, 5);
        assert_eq!(writer.offer(&message(1)), Offered::Dropped { sequence: 1 });
        frame.set_word(TAIL_OFFSET, 1);
        assert_eq!(writer.offer(&message(2)), Offered::Written { sequence: 2 });
    }

    #[test]
    fn a_malformed_slot_is_passed_over_and_counted() {
        let frame = Frame::new();
        let (mut writer, mut reader) = frame.sides();
        writer.offer(&message(0));
        writer.offer(&message(1));
        // Scope 4 in slot 0.
        frame.set_word(SLOTS_OFFSET, frame.word(SLOTS_OFFSET) | 4 << 16);
        assert_eq!(reader.take(), Some(with_sequence(message(1), 1)));
        assert_eq!((reader.malformed(), reader.take()), (1, None));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Offer(u8, Vec<u8>),
        Take,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..=112)).prop_map(|(c, p)| Op::Offer(c, p)),
            Just(Op::Take),
        ]
    }

    proptest! {
        #[test]
        fn behaves_like_a_bounded_queue(ops in proptest::collection::vec(op(), 0..400)) {
            let frame = Frame::new();
            let (mut writer, mut reader) = frame.sides();
            let mut model: VecDeque<Message> = VecDeque::new();
            let (mut offered, mut dropped) = (0u32, 0u64);
            for op in ops {
                match op {
                    Op::Offer(class, payload) => {
                        let message = Message::new(class, Scope::Global, &payload).unwrap();
                        let outcome = writer.offer(&message);
                        if model.len() < SLOT_COUNT as usize {
                            prop_assert_eq!(outcome, Offered::Written { sequence: offered });
                            model.push_back(with_sequence(message, offered));
                        } else {
                            prop_assert_eq!(outcome, Offered::Dropped { sequence: offered });
                            dropped += 1;
                        }
                        offered += 1;
                    }
                    Op::Take => prop_assert_eq!(reader.take(), model.pop_front()),
                }
                prop_assert_eq!(reader.pending(), model.len() as u64);
                prop_assert_eq!(reader.dropped(), dropped);
            }
            while let Some(expected) = model.pop_front() {
                prop_assert_eq!(reader.take(), Some(expected));
            }
            prop_assert_eq!(reader.take(), None);
        }
    }
}
