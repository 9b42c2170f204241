//! The bus server's request handler (docs/bus-protocol.md "Requests"): who may ask what, by
//! badge; PUBLISH stamping, routing and delivery to the target inboxes; SUBSCRIBE (with the
//! replay of retained messages), RECEIVED and the owner's ADD_MEMBER, REMOVE_MEMBER and RETAIN.
//! Retained messages are the bus's *shadow*: the last message of each retained class, offered
//! again to whoever subscribes to it, so a restarted driver gets back the configuration it had. The inboxes and notifications are reached through
//! [`Transport`], so the handler runs the same on the host and on the target.

use crate::class::ClassSet;
use crate::inbox::{InboxWriter, Offered, SLOT_COUNT};
use crate::message::{LINK_PUBLISH_WORDS, Message, MessageError};
use crate::routing::{MAX_MEMBER, Rights, Role, RouteError, Routes};

/// The badge of the bus owner's capability, the only one that may change membership.
pub const OWNER_BADGE: u64 = 1 << 32;

/// Request and reply labels.
pub mod label {
    pub const PUBLISH: u64 = 1;
    pub const SUBSCRIBE: u64 = 2;
    pub const RECEIVED: u64 = 3;
    /// A membership's traffic (any membership may ask): MR0 a member id, or 0 for the bus's
    /// totals. The reply: for 0, [`Statistics`] as published, delivered, dropped, received;
    /// for a member, 1 + its role number (0: no such member), what it published, what was
    /// delivered to it, what was dropped at its inbox.
    pub const STATS: u64 = 4;
    pub const ADD_MEMBER: u64 = 16;
    pub const REMOVE_MEMBER: u64 = 17;
    pub const RETAIN: u64 = 18;
    /// Reply: success.
    pub const OK: u64 = 0;
    /// Reply: failure, MR0 the error code.
    pub const ERROR: u64 = 1;
}

/// Error codes, MR0 of an `ERROR` reply.
pub mod error {
    pub const UNKNOWN_REQUEST: u64 = 1;
    /// The badge may not ask this (not the owner, not a membership, or a link subscribing).
    pub const NOT_ALLOWED: u64 = 2;
    /// Bad class, scope or length, or fewer words than the request needs.
    pub const BAD_MESSAGE: u64 = 3;
    /// Bad member id or role (a second up link is a bad role).
    pub const BAD_MEMBER: u64 = 4;
    /// The member is already present, or not present.
    pub const MEMBERSHIP: u64 = 5;
    /// The bus was restarted while it served the request: it may have been done in part (a
    /// message delivered to some inboxes); the caller may ask again.
    pub const RESTARTED: u64 = 6;
}

/// What the handler needs of the world: the inbox of a membership and its notification.
pub trait Transport {
    /// The writer of membership `member`'s inbox, if it has one (a message for a membership
    /// without one is counted dropped).
    fn inbox(&mut self, member: u16) -> Option<&mut InboxWriter>;
    /// Signals membership `member`'s notification.
    fn signal(&mut self, member: u16);
}

/// A reply: its label and its first `length` words.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Reply {
    pub label: u64,
    pub words: [u64; 4],
    pub length: usize,
}

impl Reply {
    fn ok(values: &[u64]) -> Reply {
        let mut words = [0; 4];
        words[..values.len()].copy_from_slice(values);
        Reply { label: label::OK, words, length: values.len() }
    }

    fn error(code: u64) -> Reply {
        Reply { label: label::ERROR, words: [code, 0, 0, 0], length: 1 }
    }

    /// The words the reply carries.
    pub fn message(&self) -> &[u64] {
        &self.words[..self.length.min(4)]
    }
}

/// Running totals of a bus's traffic (all wrapping).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Statistics {
    /// PUBLISH requests accepted.
    pub published: u64,
    /// Messages written to inboxes.
    pub delivered: u64,
    /// Messages dropped at full (or missing) inboxes.
    pub dropped: u64,
    /// Messages members said they took (RECEIVED).
    pub received: u64,
}

/// One membership's traffic (all wrapping).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MemberTraffic {
    pub published: u64,
    pub delivered: u64,
    pub dropped: u64,
}

/// Most classes a bus retains the last message of.
pub const MAX_RETAINED: usize = 16;

/// One bus: its id in the tree, its memberships, its retained messages and its statistics.
pub struct BusServer {
    bus: u16,
    routes: Routes,
    /// The classes whose last message is kept, and the kept messages (by class, in the order
    /// the classes were first published).
    retained_classes: ClassSet,
    retained: [Option<Message>; MAX_RETAINED],
    statistics: Statistics,
    /// By member id (0 unused); a membership removed and added again starts from zero.
    traffic: [MemberTraffic; MAX_MEMBER as usize + 1],
    /// For each member's inbox, the origin (bus << 16 | member) of the message in each slot the
    /// bus wrote, by slot index: what [`share_left`] counts a publisher's share by.
    slot_origins: [[u32; SLOT_COUNT as usize]; MAX_MEMBER as usize + 1],
}

/// Whether a message from `origin` may take a slot of an inbox whose writer is at `head` with
/// `pending` messages not yet taken, whose slots hold the origins `slots` (by index): a
/// publisher may hold at most `SLOT_COUNT / (others + 2)` of an inbox's pending messages,
/// `others` being how many other origins hold some. So one publisher alone fills at most half
/// of an inbox, and each newcomer finds room left while fewer than three others flood it.
pub fn share_left(origin: u32, head: u64, pending: u64, slots: &[u32; SLOT_COUNT as usize]) -> bool {
    let held = (head.wrapping_sub(pending)..head).map(|k| slots[(k % SLOT_COUNT) as usize]);
    let mut others: [u32; SLOT_COUNT as usize] = [0; SLOT_COUNT as usize];
    let (mut mine, mut distinct) = (0u64, 0usize);
    for holder in held {
        if holder == origin {
            mine += 1;
        } else if !others[..distinct].contains(&holder) {
            others[distinct] = holder;
            distinct += 1;
        }
    }
    mine < SLOT_COUNT / (distinct as u64 + 2)
}

/// MR `index` of the request, or the error for a request too short.
fn word(words: &[u64], index: usize) -> Result<u64, u64> {
    words.get(index).copied().ok_or(error::BAD_MESSAGE)
}

fn class_set(words: &[u64], first: usize) -> Result<ClassSet, u64> {
    let set = words.get(first..first + 4).ok_or(error::BAD_MESSAGE)?;
    Ok(ClassSet::from_words([set[0], set[1], set[2], set[3]]))
}

fn route_error(error: RouteError) -> u64 {
    match error {
        RouteError::BadId | RouteError::SecondUpLink => error::BAD_MEMBER,
        RouteError::Duplicate | RouteError::Missing => error::MEMBERSHIP,
        RouteError::NotAMember | RouteError::NotPermitted => error::NOT_ALLOWED,
    }
}

fn message_error(_: MessageError) -> u64 {
    error::BAD_MESSAGE
}

impl BusServer {
    /// Bus `bus` (its id in the tree, stamped as the origin of what is published on it), with
    /// no membership.
    pub const fn new(bus: u16) -> BusServer {
        BusServer {
            bus,
            routes: Routes::new(),
            retained_classes: ClassSet::EMPTY,
            retained: [None; MAX_RETAINED],
            statistics: Statistics { published: 0, delivered: 0, dropped: 0, received: 0 },
            traffic: [MemberTraffic { published: 0, delivered: 0, dropped: 0 }; MAX_MEMBER as usize + 1],
            slot_origins: [[0; SLOT_COUNT as usize]; MAX_MEMBER as usize + 1],
        }
    }

    pub fn bus(&self) -> u16 {
        self.bus
    }

    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    pub fn statistics(&self) -> Statistics {
        self.statistics
    }

    /// Member `id`'s traffic.
    pub fn traffic(&self, id: u16) -> MemberTraffic {
        self.traffic.get(usize::from(id)).copied().unwrap_or_default()
    }

    /// Answers request `label` with `words` (MR0..) from the capability badged `badge`.
    pub fn handle(&mut self, badge: u64, label: u64, words: &[u64], transport: &mut impl Transport) -> Reply {
        let result = match label {
            label::PUBLISH => self.membership(badge).and_then(|(id, role)| self.publish(id, role, words, transport)),
            label::SUBSCRIBE => self.membership(badge).and_then(|(id, _)| {
                let classes = class_set(words, 0)?;
                self.routes.subscribe(id, classes).map_err(route_error)?;
                Ok(Reply::ok(&[self.replay(id, classes, transport)]))
            }),
            label::RECEIVED => self.membership(badge).and_then(|_| {
                self.statistics.received = self.statistics.received.wrapping_add(word(words, 0)?);
                Ok(Reply::ok(&[]))
            }),
            label::STATS => self.membership(badge).and_then(|_| self.stats(word(words, 0)?)),
            label::ADD_MEMBER => self.owner(badge).and_then(|()| self.add_member(words)),
            label::REMOVE_MEMBER => self.owner(badge).and_then(|()| {
                let id = member_id(word(words, 0)?)?;
                self.routes.remove(id).map_err(route_error)?;
                self.traffic[usize::from(id)] = MemberTraffic::default();
                Ok(Reply::ok(&[]))
            }),
            label::RETAIN => self.owner(badge).and_then(|()| self.retain(class_set(words, 0)?)),
            _ => Err(error::UNKNOWN_REQUEST),
        };
        result.unwrap_or_else(Reply::error)
    }

    /// The membership the badge stands for.
    fn membership(&self, badge: u64) -> Result<(u16, Role), u64> {
        let id = u16::try_from(badge).ok().filter(|id| (1..=MAX_MEMBER).contains(id)).ok_or(error::NOT_ALLOWED)?;
        Ok((id, self.routes.role(id).ok_or(error::NOT_ALLOWED)?))
    }

    fn owner(&self, badge: u64) -> Result<(), u64> {
        if badge == OWNER_BADGE { Ok(()) } else { Err(error::NOT_ALLOWED) }
    }

    fn publish(
        &mut self,
        source: u16,
        role: Role,
        words: &[u64],
        transport: &mut impl Transport,
    ) -> Result<Reply, u64> {
        let mut message = Message::from_publish_words(words).map_err(message_error)?;
        if !self.routes.may_publish(source, message.header.class) {
            return Err(error::NOT_ALLOWED);
        }
        let header = &mut message.header;
        header.source = source;
        if role.is_link() {
            let origin = word(words, LINK_PUBLISH_WORDS - 1)?;
            header.origin_bus = origin as u16;
            header.origin_member = (origin >> 16) as u16;
        } else {
            header.origin_bus = self.bus;
            header.origin_member = source;
        }
        self.keep(&message);
        let (mut delivered, mut dropped) = (0, 0);
        for target in self.routes.targets(source, &message.header).iter() {
            let traffic = &mut self.traffic[usize::from(target)];
            let origin = u32::from(message.header.origin_bus) << 16 | u32::from(message.header.origin_member);
            let slots = &mut self.slot_origins[usize::from(target)];
            let offered = transport.inbox(target).map(|inbox| {
                let (head, pending) = (inbox.head(), inbox.pending());
                if !share_left(origin, head, pending, slots) {
                    return inbox.refuse();
                }
                let offered = inbox.offer(&message);
                if let Offered::Written { .. } = offered {
                    slots[(head % SLOT_COUNT) as usize] = origin;
                }
                offered
            });
            match offered {
                Some(Offered::Written { .. }) => {
                    delivered += 1;
                    traffic.delivered = traffic.delivered.wrapping_add(1);
                    transport.signal(target);
                }
                Some(Offered::Dropped { .. }) | None => {
                    dropped += 1;
                    traffic.dropped = traffic.dropped.wrapping_add(1);
                }
            }
        }
        let publisher = &mut self.traffic[usize::from(source)];
        publisher.published = publisher.published.wrapping_add(1);
        let statistics = &mut self.statistics;
        statistics.published = statistics.published.wrapping_add(1);
        statistics.delivered = statistics.delivered.wrapping_add(delivered);
        statistics.dropped = statistics.dropped.wrapping_add(dropped);
        Ok(Reply::ok(&[delivered, dropped]))
    }

    /// RETAIN: from now on the last message of each class in `classes` is kept (the classes
    /// no longer in the set forget theirs).
    fn retain(&mut self, classes: ClassSet) -> Result<Reply, u64> {
        if (0..=255).filter(|&c| classes.contains(c)).count() > MAX_RETAINED {
            return Err(error::BAD_MESSAGE);
        }
        self.retained_classes = classes;
        for kept in &mut self.retained {
            if kept.is_some_and(|m| !classes.contains(m.header.class)) {
                *kept = None;
            }
        }
        Ok(Reply::ok(&[]))
    }

    /// Keeps `message` if its class is retained, replacing the last one of that class.
    fn keep(&mut self, message: &Message) {
        let class = message.header.class;
        if !self.retained_classes.contains(class) {
            return;
        }
        let same = self.retained.iter().position(|m| m.is_some_and(|m| m.header.class == class));
        let free = self.retained.iter().position(Option::is_none);
        // RETAIN admits at most MAX_RETAINED classes, so a retained class always has a place.
        if let Some(index) = same.or(free) {
            self.retained[index] = Some(*message);
        }
    }

    /// Offers member `id` the kept messages of the retained classes in `classes`; returns how
    /// many it was given.
    fn replay(&mut self, id: u16, classes: ClassSet, transport: &mut impl Transport) -> u64 {
        let mut given = 0;
        for message in self.retained.iter().flatten().filter(|m| classes.contains(m.header.class)) {
            if let Some(Offered::Written { .. }) = transport.inbox(id).map(|inbox| inbox.offer(message)) {
                given += 1;
            }
        }
        if given > 0 {
            transport.signal(id);
        }
        given
    }

    /// STATS: the bus's totals (`id` 0) or a membership's traffic.
    fn stats(&self, id: u64) -> Result<Reply, u64> {
        if id == 0 {
            let s = self.statistics;
            return Ok(Reply::ok(&[s.published, s.delivered, s.dropped, s.received]));
        }
        let id = member_id(id)?;
        let role = self.routes.role(id).map_or(0, |role| 1 + role as u64);
        let t = self.traffic(id);
        Ok(Reply::ok(&[role, t.published, t.delivered, t.dropped]))
    }

    fn add_member(&mut self, words: &[u64]) -> Result<Reply, u64> {
        let id = member_id(word(words, 0)?)?;
        let role = Role::from_number(word(words, 1)?).ok_or(error::BAD_MEMBER)?;
        let classes = if role.is_link() { class_set(words, 2)? } else { ClassSet::EMPTY };
        // A member's rights, if given: what it may subscribe to (MR2..MR5), what it may publish
        // (MR6..MR9); without them it may do either with any class.
        let rights = if !role.is_link() && words.len() >= 10 {
            Rights { subscribe: class_set(words, 2)?, publish: class_set(words, 6)? }
        } else {
            Rights::ALL
        };
        self.routes.add_with_rights(id, role, classes, rights).map_err(route_error)?;
        Ok(Reply::ok(&[]))
    }
}

/// A member id from a request word.
fn member_id(word: u64) -> Result<u16, u64> {
    u16::try_from(word).ok().filter(|id| (1..=MAX_MEMBER).contains(id)).ok_or(error::BAD_MEMBER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbox::test_frame::Frame;
    use crate::inbox::{InboxReader, SLOT_COUNT};
    use crate::message::Scope;

    /// Inboxes in host frames for every id, and a log of the signals.
    struct FakeTransport {
        writers: Vec<Option<InboxWriter>>,
        readers: Vec<InboxReader>,
        signals: Vec<u16>,
        // Last, so that it is dropped after the writers and readers.
        _frames: Vec<Box<Frame>>,
    }

    impl FakeTransport {
        fn new() -> FakeTransport {
            let frames: Vec<Box<Frame>> = (0..64).map(|_| Frame::new()).collect();
            let (writers, readers) = frames.iter().map(|frame| frame.sides()).map(|(w, r)| (Some(w), r)).unzip();
            FakeTransport { writers, readers, signals: Vec::new(), _frames: frames }
        }

        fn take_all(&mut self, member: u16) -> Vec<Message> {
            std::iter::from_fn(|| self.readers[usize::from(member)].take()).collect()
        }
    }

    impl Transport for FakeTransport {
        fn inbox(&mut self, member: u16) -> Option<&mut InboxWriter> {
            self.writers.get_mut(usize::from(member))?.as_mut()
        }

        fn signal(&mut self, member: u16) {
            self.signals.push(member);
        }
    }

    const BUS: u16 = 7;
    const UP: u16 = 1;
    const DOWN: u16 = 2;
    const A: u16 = 10;
    const B: u16 = 11;
    const C: u16 = 12;

    fn ok(words: &[u64]) -> Reply {
        Reply::ok(words)
    }

    fn err(code: u64) -> Reply {
        Reply::error(code)
    }

    fn publish_words(class: u8, scope: Scope, bytes: &[u8]) -> Vec<u64> {
        let message = Message::new(class, scope, bytes).unwrap();
        message.to_publish_words()[..message.publish_word_count()].to_vec()
    }

    fn subscribe_words(classes: &[u8]) -> [u64; 4] {
        let mut set = ClassSet::EMPTY;
        classes.iter().for_each(|&c| set.insert(c));
        set.to_words()
    }

    /// A bus with an up link and a down link passing everything, and members A, B, C; A and B
    /// subscribed to class 5.
    fn bus() -> (BusServer, FakeTransport) {
        let mut server = BusServer::new(BUS);
        let mut t = FakeTransport::new();
        let all = ClassSet::ALL.to_words();
        for (id, role) in [(UP, 1), (DOWN, 2)] {
            let words = [u64::from(id), role, all[0], all[1], all[2], all[3]];
            assert_eq!(server.handle(OWNER_BADGE, label::ADD_MEMBER, &words, &mut t), ok(&[]));
        }
        for id in [A, B, C] {
            assert_eq!(server.handle(OWNER_BADGE, label::ADD_MEMBER, &[id.into(), 0], &mut t), ok(&[]));
        }
        for id in [A, B] {
            assert_eq!(server.handle(id.into(), label::SUBSCRIBE, &subscribe_words(&[5]), &mut t), ok(&[0]));
        }
        (server, t)
    }

    #[test]
    fn replies_carry_label_and_words() {
        assert_eq!(ok(&[3, 4]).message(), &[3, 4]);
        assert_eq!((err(2).label, err(2).message()), (label::ERROR, &[2][..]));
        assert_eq!((ok(&[]).label, ok(&[]).length), (label::OK, 0));
    }

    #[test]
    fn unknown_requests() {
        let (mut server, mut t) = bus();
        for label in [0, 5, 15, 19, u64::MAX] {
            assert_eq!(server.handle(A.into(), label, &[0; 4], &mut t), err(error::UNKNOWN_REQUEST));
            assert_eq!(server.handle(OWNER_BADGE, label, &[0; 4], &mut t), err(error::UNKNOWN_REQUEST));
        }
    }

    #[test]
    fn publish_stamps_source_and_origin_from_the_badge() {
        let (mut server, mut t) = bus();
        // Whatever a member puts past its words (here a forged origin in MR15) is not read.
        let mut words = publish_words(5, Scope::Local, b"hi");
        words.resize(16, 0);
        words[15] = 99 | 42 << 16;
        assert_eq!(server.handle(A.into(), label::PUBLISH, &words, &mut t), ok(&[1, 0]));
        let got = t.take_all(B);
        assert_eq!(got.len(), 1);
        let header = got[0].header;
        assert_eq!((header.class, header.scope, got[0].bytes()), (5, Scope::Local, &b"hi"[..]));
        assert_eq!((header.source, header.origin_bus, header.origin_member, header.sequence), (A, BUS, A, 0));
        assert_eq!(t.signals, [B]);
        assert!(t.take_all(A).is_empty() && t.take_all(C).is_empty());
        assert!(t.take_all(UP).is_empty() && t.take_all(DOWN).is_empty());
    }

    #[test]
    fn publish_goes_where_the_scope_says() {
        let (mut server, mut t) = bus();
        let words = publish_words(5, Scope::Global, b"all");
        assert_eq!(server.handle(B.into(), label::PUBLISH, &words, &mut t), ok(&[3, 0]));
        assert_eq!(t.signals, [UP, DOWN, A]);
        for id in [UP, DOWN, A] {
            assert_eq!(t.take_all(id)[0].header.source, B);
        }
        let words = publish_words(6, Scope::Global, b"");
        assert_eq!(server.handle(B.into(), label::PUBLISH, &words, &mut t), ok(&[2, 0]));
    }

    #[test]
    fn publish_from_a_link_keeps_the_origin() {
        let (mut server, mut t) = bus();
        let mut message = Message::new(5, Scope::Down, b"from above").unwrap();
        message.header.origin_bus = 3;
        message.header.origin_member = 44;
        let words = message.to_publish_words();
        assert_eq!(server.handle(UP.into(), label::PUBLISH, &words, &mut t), ok(&[3, 0]));
        assert!(t.take_all(UP).is_empty());
        for id in [DOWN, A, B] {
            let header = t.take_all(id)[0].header;
            assert_eq!((header.source, header.origin_bus, header.origin_member), (UP, 3, 44));
        }
        // A link must send MR15.
        let short = &words[..LINK_PUBLISH_WORDS - 1];
        assert_eq!(server.handle(DOWN.into(), label::PUBLISH, short, &mut t), err(error::BAD_MESSAGE));
    }

    #[test]
    fn publish_errors() {
        let (mut server, mut t) = bus();
        let good = publish_words(5, Scope::Local, b"x");
        for badge in [0, 3, 63, 64, 1 << 16 | u64::from(A), OWNER_BADGE, u64::MAX] {
            assert_eq!(server.handle(badge, label::PUBLISH, &good, &mut t), err(error::NOT_ALLOWED));
        }
        for words in [&[256][..], &[4 << 16], &[113 << 32; 15], &[16 << 32, 0], &[]] {
            assert_eq!(server.handle(A.into(), label::PUBLISH, words, &mut t), err(error::BAD_MESSAGE));
        }
        assert!(t.signals.is_empty());
        assert_eq!(server.statistics().published, 0);
    }

    #[test]
    fn a_flood_takes_at_most_its_share_of_an_inbox() {
        let (mut server, mut t) = bus();
        let words = publish_words(5, Scope::Local, b"x");
        let half = SLOT_COUNT / 2;
        // A alone floods B: it gets half of B's inbox; the rest is refused, counted dropped.
        for _ in 0..half {
            assert_eq!(server.handle(A.into(), label::PUBLISH, &words, &mut t), ok(&[1, 0]));
        }
        for _ in 0..5 {
            assert_eq!(server.handle(A.into(), label::PUBLISH, &words, &mut t), ok(&[0, 1]));
        }
        // C still reaches B (and A): beside A, a third of the inbox is its share.
        for _ in 0..SLOT_COUNT / 3 {
            assert_eq!(server.handle(C.into(), label::PUBLISH, &words, &mut t), ok(&[2, 0]));
        }
        assert_eq!(server.handle(C.into(), label::PUBLISH, &words, &mut t), ok(&[1, 1]), "over its share at B");
        let reader = &mut t.readers[usize::from(B)];
        assert_eq!(reader.dropped(), 6);
        let sequences: Vec<u32> = std::iter::from_fn(|| reader.take()).map(|m| m.header.sequence).collect();
        let expected: Vec<u32> = (0..half as u32).chain(20..30).collect();
        assert_eq!(sequences, expected, "A's first half, then C's ten after A's five refused");
        // Taken, the inbox has room for A again.
        assert_eq!(server.handle(A.into(), label::PUBLISH, &words, &mut t), ok(&[1, 0]));
        let statistics = server.statistics();
        assert_eq!((statistics.published, statistics.delivered, statistics.dropped), (32, 37, 6));
        assert_eq!(t.signals.len(), 37, "no signal for a refused message");
    }

    #[test]
    fn shares_follow_how_many_others_hold_slots() {
        let mut slots = [0u32; SLOT_COUNT as usize];
        assert!(share_left(7, 0, 0, &slots), "an empty inbox takes anyone");
        for (k, slot) in slots.iter_mut().enumerate().take(15) {
            *slot = if k < 14 { 7 } else { 8 };
        }
        // 7 holds 14 of 15 pending, 8 holds one: 7's share is 30 / 3 = 10.
        assert!(!share_left(7, 15, 15, &slots));
        assert!(share_left(8, 15, 15, &slots), "8 holds 1 of its 10");
        assert!(share_left(9, 15, 15, &slots), "a newcomer always finds room here");
        // Only what is pending counts: with 10 taken, 7 holds 4 and 8 one.
        assert!(share_left(7, 15, 5, &slots));
        // The head wraps around the ring.
        assert!(!share_left(7, 15 + SLOT_COUNT, 15, &slots), "the same slots one lap later");
    }

    #[test]
    fn a_membership_without_an_inbox_counts_dropped() {
        let (mut server, mut t) = bus();
        t.writers[usize::from(B)] = None;
        assert_eq!(server.handle(A.into(), label::PUBLISH, &publish_words(5, Scope::Local, b""), &mut t), ok(&[0, 1]));
        assert!(t.signals.is_empty());
    }

    #[test]
    fn subscribe_replaces_and_only_members_may() {
        let (mut server, mut t) = bus();
        assert_eq!(server.handle(B.into(), label::SUBSCRIBE, &subscribe_words(&[6]), &mut t), ok(&[0]));
        assert_eq!(server.handle(A.into(), label::PUBLISH, &publish_words(5, Scope::Local, b""), &mut t), ok(&[0, 0]));
        assert_eq!(server.handle(A.into(), label::PUBLISH, &publish_words(6, Scope::Local, b""), &mut t), ok(&[1, 0]));
        assert_eq!(server.handle(UP.into(), label::SUBSCRIBE, &[0; 4], &mut t), err(error::NOT_ALLOWED));
        assert_eq!(server.routes().classes(UP), Some(ClassSet::ALL));
        assert_eq!(server.handle(OWNER_BADGE, label::SUBSCRIBE, &[0; 4], &mut t), err(error::NOT_ALLOWED));
        assert_eq!(server.handle(40, label::SUBSCRIBE, &[0; 4], &mut t), err(error::NOT_ALLOWED));
        assert_eq!(server.handle(A.into(), label::SUBSCRIBE, &[0; 3], &mut t), err(error::BAD_MESSAGE));
    }

    #[test]
    fn stats_per_member_and_totals() {
        let (mut server, mut t) = bus();
        let words = publish_words(5, Scope::Local, b"x");
        for _ in 0..SLOT_COUNT / 2 {
            assert_eq!(server.handle(A.into(), label::PUBLISH, &words, &mut t), ok(&[1, 0]));
        }
        // A is over its share of B's inbox now: its next message is dropped at B; C's reaches
        // A and B.
        assert_eq!(server.handle(A.into(), label::PUBLISH, &words, &mut t), ok(&[0, 1]));
        assert_eq!(server.handle(C.into(), label::PUBLISH, &words, &mut t), ok(&[2, 0]));
        let stats =
            |server: &mut BusServer, t: &mut FakeTransport, id: u64| server.handle(C.into(), label::STATS, &[id], t);
        assert_eq!(stats(&mut server, &mut t, u64::from(A)), ok(&[1, SLOT_COUNT / 2 + 1, 1, 0]));
        assert_eq!(stats(&mut server, &mut t, u64::from(B)), ok(&[1, 0, SLOT_COUNT / 2 + 1, 1]));
        assert_eq!(stats(&mut server, &mut t, u64::from(C)), ok(&[1, 1, 0, 0]));
        assert_eq!(stats(&mut server, &mut t, u64::from(UP)), ok(&[2, 0, 0, 0]), "an up link: role 1, plus 1");
        assert_eq!(stats(&mut server, &mut t, 40), ok(&[0, 0, 0, 0]), "no member 40");
        assert_eq!(stats(&mut server, &mut t, 0), ok(&[SLOT_COUNT / 2 + 2, SLOT_COUNT / 2 + 2, 1, 0]));
        assert_eq!(stats(&mut server, &mut t, 64), err(error::BAD_MEMBER));
        assert_eq!(server.handle(C.into(), label::STATS, &[], &mut t), err(error::BAD_MESSAGE));
        assert_eq!(server.handle(40, label::STATS, &[0], &mut t), err(error::NOT_ALLOWED), "not a member");
        // A membership removed and added again starts from zero.
        assert_eq!(server.handle(OWNER_BADGE, label::REMOVE_MEMBER, &[A.into()], &mut t), ok(&[]));
        assert_eq!(server.handle(OWNER_BADGE, label::ADD_MEMBER, &[A.into(), 0], &mut t), ok(&[]));
        assert_eq!(stats(&mut server, &mut t, u64::from(A)), ok(&[1, 0, 0, 0]));
    }

    #[test]
    fn members_subscribe_and_publish_within_their_rights() {
        let (mut server, mut t) = bus();
        const D: u16 = 13;
        // D may subscribe to 5 and 6 and publish 7 only.
        let (may_subscribe, may_publish) = (subscribe_words(&[5, 6]), subscribe_words(&[7]));
        let mut words = vec![u64::from(D), 0];
        words.extend(may_subscribe);
        words.extend(may_publish);
        assert_eq!(server.handle(OWNER_BADGE, label::ADD_MEMBER, &words, &mut t), ok(&[]));
        assert_eq!(server.routes().rights(D).map(|r| r.publish), Some(ClassSet::from_words(may_publish)));
        // Every class, or one beyond its rights, is refused and leaves its subscriptions alone.
        assert_eq!(
            server.handle(D.into(), label::SUBSCRIBE, &ClassSet::ALL.to_words(), &mut t),
            err(error::NOT_ALLOWED)
        );
        assert_eq!(
            server.handle(D.into(), label::SUBSCRIBE, &subscribe_words(&[5, 9]), &mut t),
            err(error::NOT_ALLOWED)
        );
        assert_eq!(server.routes().classes(D), Some(ClassSet::EMPTY));
        assert_eq!(server.handle(D.into(), label::SUBSCRIBE, &subscribe_words(&[6]), &mut t), ok(&[0]));
        // It publishes 7, not 5 (which A and B take): nothing of it is delivered or counted.
        let published = server.statistics().published;
        assert_eq!(
            server.handle(D.into(), label::PUBLISH, &publish_words(5, Scope::Local, b"x"), &mut t),
            err(error::NOT_ALLOWED)
        );
        assert_eq!(server.statistics().published, published);
        assert!(t.take_all(A).is_empty());
        assert_eq!(server.handle(D.into(), label::PUBLISH, &publish_words(7, Scope::Local, b"x"), &mut t), ok(&[0, 0]));
        // So it cannot replace a retained message of a class it may not publish.
        assert_eq!(server.handle(OWNER_BADGE, label::RETAIN, &subscribe_words(&[5]), &mut t), ok(&[]));
        assert_eq!(
            server.handle(A.into(), label::PUBLISH, &publish_words(5, Scope::Local, b"cfg"), &mut t),
            ok(&[1, 0])
        );
        assert_eq!(
            server.handle(D.into(), label::PUBLISH, &publish_words(5, Scope::Local, b"bad"), &mut t),
            err(error::NOT_ALLOWED)
        );
        assert_eq!(server.handle(C.into(), label::SUBSCRIBE, &subscribe_words(&[5]), &mut t), ok(&[1]));
        assert_eq!(t.take_all(C)[0].bytes(), b"cfg");
        // A member added without rights (two words) may do anything, as before.
        assert_eq!(server.routes().rights(A), Some(Rights::ALL));
    }

    #[test]
    fn received_counts() {
        let (mut server, mut t) = bus();
        assert_eq!(server.handle(A.into(), label::RECEIVED, &[3], &mut t), ok(&[]));
        assert_eq!(server.handle(UP.into(), label::RECEIVED, &[4], &mut t), ok(&[]));
        assert_eq!(server.statistics().received, 7);
        assert_eq!(server.handle(A.into(), label::RECEIVED, &[], &mut t), err(error::BAD_MESSAGE));
        assert_eq!(server.handle(OWNER_BADGE, label::RECEIVED, &[1], &mut t), err(error::NOT_ALLOWED));
    }

    #[test]
    fn add_member_errors() {
        let (mut server, mut t) = bus();
        let mut add = |badge: u64, words: &[u64]| server.handle(badge, label::ADD_MEMBER, words, &mut t);
        // Members and links cannot add members.
        assert_eq!(add(A.into(), &[20, 0]), err(error::NOT_ALLOWED));
        assert_eq!(add(UP.into(), &[20, 0]), err(error::NOT_ALLOWED));
        assert_eq!(add(OWNER_BADGE | 1, &[20, 0]), err(error::NOT_ALLOWED));
        for id in [0, 64, 1 << 16 | 20, u64::MAX] {
            assert_eq!(add(OWNER_BADGE, &[id, 0]), err(error::BAD_MEMBER));
        }
        assert_eq!(add(OWNER_BADGE, &[20, 3]), err(error::BAD_MEMBER));
        assert_eq!(add(OWNER_BADGE, &[20, 1, 0, 0, 0, 0]), err(error::BAD_MEMBER), "second up link");
        assert_eq!(add(OWNER_BADGE, &[A.into(), 0]), err(error::MEMBERSHIP));
        assert_eq!(add(OWNER_BADGE, &[20]), err(error::BAD_MESSAGE));
        assert_eq!(add(OWNER_BADGE, &[20, 2, 0, 0, 0]), err(error::BAD_MESSAGE), "a link needs its filter");
        assert_eq!(add(OWNER_BADGE, &[20, 2, 1 << 5, 0, 0, 0]), ok(&[]));
        assert_eq!(add(OWNER_BADGE, &[63, 0]), ok(&[]));
        assert_eq!(server.routes().role(20), Some(Role::DownLink));
        assert_eq!(server.routes().classes(63), Some(ClassSet::EMPTY));
    }

    #[test]
    fn remove_member_and_its_errors() {
        let (mut server, mut t) = bus();
        assert_eq!(server.handle(A.into(), label::REMOVE_MEMBER, &[B.into()], &mut t), err(error::NOT_ALLOWED));
        assert_eq!(server.handle(OWNER_BADGE, label::REMOVE_MEMBER, &[0], &mut t), err(error::BAD_MEMBER));
        assert_eq!(server.handle(OWNER_BADGE, label::REMOVE_MEMBER, &[30], &mut t), err(error::MEMBERSHIP));
        assert_eq!(server.handle(OWNER_BADGE, label::REMOVE_MEMBER, &[], &mut t), err(error::BAD_MESSAGE));
        assert_eq!(server.handle(OWNER_BADGE, label::REMOVE_MEMBER, &[B.into()], &mut t), ok(&[]));
        // B's badge is worth nothing now, and B gets nothing.
        let words = publish_words(5, Scope::Local, b"");
        assert_eq!(server.handle(B.into(), label::PUBLISH, &words, &mut t), err(error::NOT_ALLOWED));
        assert_eq!(server.handle(A.into(), label::PUBLISH, &words, &mut t), ok(&[0, 0]));
        // The up link's place is free again.
        assert_eq!(server.handle(OWNER_BADGE, label::REMOVE_MEMBER, &[UP.into()], &mut t), ok(&[]));
        assert_eq!(server.handle(OWNER_BADGE, label::ADD_MEMBER, &[20, 1, 0, 0, 0, 0], &mut t), ok(&[]));
    }

    #[test]
    fn a_bridge_forwards_between_two_servers() {
        // Child bus 2 with member 5 and up link 1; parent bus 1 with member 5 and down link 9.
        let (mut parent, mut parent_t) = (BusServer::new(1), FakeTransport::new());
        let (mut child, mut child_t) = (BusServer::new(2), FakeTransport::new());
        let all = ClassSet::ALL.to_words();
        let link = |id: u64, role: u64| [id, role, all[0], all[1], all[2], all[3]];
        assert_eq!(child.handle(OWNER_BADGE, label::ADD_MEMBER, &link(1, 1), &mut child_t), ok(&[]));
        assert_eq!(child.handle(OWNER_BADGE, label::ADD_MEMBER, &[5, 0], &mut child_t), ok(&[]));
        assert_eq!(parent.handle(OWNER_BADGE, label::ADD_MEMBER, &link(9, 2), &mut parent_t), ok(&[]));
        assert_eq!(parent.handle(OWNER_BADGE, label::ADD_MEMBER, &[5, 0], &mut parent_t), ok(&[]));
        assert_eq!(parent.handle(5, label::SUBSCRIBE, &subscribe_words(&[8]), &mut parent_t), ok(&[0]));

        let words = publish_words(8, Scope::Up, b"temperature");
        assert_eq!(child.handle(5, label::PUBLISH, &words, &mut child_t), ok(&[1, 0]));
        // The bridge takes it from its child-side inbox and publishes it on the parent bus.
        let forwarded = child_t.take_all(1);
        assert_eq!(forwarded.len(), 1);
        let words = forwarded[0].to_publish_words();
        assert_eq!(parent.handle(9, label::PUBLISH, &words, &mut parent_t), ok(&[1, 0]));
        let got = parent_t.take_all(5);
        let header = got[0].header;
        assert_eq!((header.source, header.origin_bus, header.origin_member), (9, 2, 5));
        assert_eq!(got[0].bytes(), b"temperature");
    }

    #[test]
    fn retained_messages_are_replayed_to_new_subscribers() {
        let (mut server, mut t) = bus();
        let retain = |classes: &[u8]| subscribe_words(classes);
        assert_eq!(server.handle(A.into(), label::RETAIN, &retain(&[20]), &mut t), err(error::NOT_ALLOWED));
        assert_eq!(server.handle(OWNER_BADGE, label::RETAIN, &retain(&[20, 21]), &mut t), ok(&[]));
        // Two configurations of class 20 and one of 21, then a plain message of class 22.
        for (class, byte) in [(20, 1), (21, 7), (20, 2), (22, 9)] {
            let words = publish_words(class, Scope::Local, &[byte]);
            assert_eq!(server.handle(A.into(), label::PUBLISH, &words, &mut t).label, label::OK);
        }
        t.signals.clear();
        // C subscribes to 20 and 22: it is given the last message of 20 only (22 is not retained).
        assert_eq!(server.handle(C.into(), label::SUBSCRIBE, &subscribe_words(&[20, 22]), &mut t), ok(&[1]));
        let got = t.take_all(C);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].header.class, got[0].bytes()), (20, &[2u8][..]));
        assert_eq!(got[0].header.origin_member, A, "the replay keeps the original stamps");
        assert_eq!(t.signals, [C]);
        // Subscribing again replays again (a restarted member gets its configuration back).
        assert_eq!(server.handle(C.into(), label::SUBSCRIBE, &subscribe_words(&[20, 21]), &mut t), ok(&[2]));
        let classes: Vec<u8> = t.take_all(C).iter().map(|m| m.header.class).collect();
        assert_eq!(classes, [20, 21]);
        // No longer retained: forgotten.
        assert_eq!(server.handle(OWNER_BADGE, label::RETAIN, &retain(&[21]), &mut t), ok(&[]));
        assert_eq!(server.handle(C.into(), label::SUBSCRIBE, &subscribe_words(&[20, 21]), &mut t), ok(&[1]));
        assert_eq!(t.take_all(C)[0].header.class, 21);
    }

    #[test]
    fn at_most_sixteen_classes_are_retained() {
        let (mut server, mut t) = bus();
        let seventeen: Vec<u8> = (0..17).collect();
        let words = subscribe_words(&seventeen);
        assert_eq!(server.handle(OWNER_BADGE, label::RETAIN, &words, &mut t), err(error::BAD_MESSAGE));
        assert_eq!(server.handle(OWNER_BADGE, label::RETAIN, &words[..3], &mut t), err(error::BAD_MESSAGE));
        let sixteen = subscribe_words(&seventeen[..16]);
        assert_eq!(server.handle(OWNER_BADGE, label::RETAIN, &sixteen, &mut t), ok(&[]));
        for class in 0..16 {
            let words = publish_words(class, Scope::Local, &[class]);
            assert_eq!(server.handle(A.into(), label::PUBLISH, &words, &mut t).label, label::OK);
        }
        assert_eq!(server.handle(C.into(), label::SUBSCRIBE, &ClassSet::ALL.to_words(), &mut t), ok(&[16]));
    }
}
