//! The bus on the target (feature `sys`): the bus module's request loop ([`serve`]), a
//! member's side of the protocol ([`Member`]), the owner's ([`Owner`]), and the bridge loop
//! ([`bridge`]) that joins a child bus to its parent. Everything here is system calls around
//! the pure logic of the other modules.

use crate::inbox::{INBOX_BYTES, InboxReader, InboxWriter};
use crate::message::{LINK_PUBLISH_WORDS, Message, MessageError, Scope};
use crate::routing::{MAX_MEMBER, Rights, Role};
use crate::server::{BusServer, Transport, label};
use crate::{ClassSet, server};
use hmk_sys::invocation::CPtr;
use hmk_sys::ipc_buffer::ipc_buffer;
use hmk_sys::message::{MAX_MESSAGE_LENGTH, MessageInfo};
use hmk_sys::syscall::{self, Registers};

/// Where a bus module finds what its owner set up (docs/bus-protocol.md, "Members and badges").
#[derive(Clone, Copy, Debug)]
pub struct BusLayout {
    /// The bus's id in the tree (stamped as the origin of what its members publish).
    pub bus: u16,
    /// The bus's endpoint (receive right) and its reply object, in the bus's CSpace.
    pub endpoint: CPtr,
    pub reply: CPtr,
    /// Member `i`'s inbox is mapped at `inbox_base + i * 4096` in the bus's VSpace.
    pub inbox_base: u64,
    /// Member `i`'s notification (send right) is at `notification_base + i` in its CSpace.
    pub notification_base: CPtr,
    /// [`STATE_BYTES`] of memory its owner gave it for its state (memberships, subscriptions,
    /// retained messages), mapped read-write at `state`: the frames outlive the bus's instance,
    /// so a restarted bus finds its members where it left them.
    pub state: u64,
}

/// Bytes of a bus's state region (two pages).
pub const STATE_BYTES: usize = 8 * 4096;

/// What a bus keeps in its state region: a mark that it is initialised, for which bus, and the
/// request handler's whole state.
struct SavedBus {
    mark: u64,
    bus: u16,
    server: BusServer,
}

/// The value of [`SavedBus::mark`] once the region holds a bus's state (a fresh region is zero).
const SAVED_MARK: u64 = 0x686d_2d62_7573_0001;

const _: () = assert!(core::mem::size_of::<SavedBus>() <= STATE_BYTES);

/// The inboxes and notifications of a bus module, as the request handler sees them.
struct Inboxes {
    layout: BusLayout,
    writers: [Option<InboxWriter>; MAX_MEMBER as usize + 1],
}

impl Transport for Inboxes {
    fn inbox(&mut self, member: u16) -> Option<&mut InboxWriter> {
        let base = self.layout.inbox_base + u64::from(member) * INBOX_BYTES as u64;
        let writer = self.writers.get_mut(usize::from(member))?;
        // SAFETY: the owner maps member `member`'s inbox frame at `base`, read-write, before it
        // adds the member (the protocol's contract); the bus is the frame's only writer, and
        // touches it only through this writer, as atomic words.
        Some(writer.get_or_insert_with(|| unsafe { InboxWriter::new(base as *mut u8) }))
    }

    fn signal(&mut self, member: u16) {
        syscall::signal(self.layout.notification_base + u64::from(member));
    }
}

/// The words of the message just received: the first four from the registers, the rest from
/// the IPC buffer.
fn received_words(request: &Registers, words: &mut [u64; MAX_MESSAGE_LENGTH]) -> usize {
    let length = (request.info.length() as usize).min(MAX_MESSAGE_LENGTH);
    words[..4].copy_from_slice(&request.mrs);
    words[4..length.max(4)].copy_from_slice(&ipc_buffer().msg[4..length.max(4)]);
    length
}

/// Runs a bus: receives requests on its endpoint and answers each one, forever. It never blocks
/// on a member: deliveries are inbox writes and signals.
pub fn serve(layout: BusLayout) -> ! {
    let saved = layout.state as *mut SavedBus;
    // SAFETY: the owner maps STATE_BYTES of fresh (zeroed) memory read-write at `state` for the
    // bus's life and gives it to no one else; the bus's one thread is its only user. A zeroed
    // region is not marked, so the state is made before it is used; a marked one was written
    // by an earlier instance of this bus (its owner restarted it) and is taken over as it is.
    let server = unsafe {
        if (*saved).mark != SAVED_MARK || (*saved).bus != layout.bus {
            saved.write(SavedBus { mark: SAVED_MARK, bus: layout.bus, server: BusServer::new(layout.bus) });
        }
        &mut (*saved).server
    };
    let mut inboxes = Inboxes { layout, writers: [const { None }; MAX_MEMBER as usize + 1] };
    let mut words = [0; MAX_MESSAGE_LENGTH];
    // A restarted bus first answers the caller it was serving when it stopped, if any (its
    // reply object still holds it; on a first start it holds no one and this does nothing).
    let restarted = Registers {
        cap_or_badge: layout.reply,
        info: MessageInfo::new(label::ERROR, 0, 0, 1),
        mrs: [server::error::RESTARTED, 0, 0, 0],
    };
    syscall::send(restarted);
    let mut request = syscall::recv(layout.endpoint, layout.reply);
    loop {
        let length = received_words(&request, &mut words);
        let reply = server.handle(request.cap_or_badge, request.info.label(), &words[..length], &mut inboxes);
        let answer = Registers {
            cap_or_badge: 0,
            info: MessageInfo::new(reply.label, 0, 0, reply.length as u64),
            mrs: reply.words,
        };
        request = syscall::reply_recv(layout.endpoint, answer, layout.reply);
    }
}

/// A refused request: the bus's error code (`server::error`), or a message that could not be
/// built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusError {
    Refused(u64),
    Message(MessageError),
}

/// Calls the bus through `endpoint` with `label` and `words`; returns the reply's first words.
fn request(endpoint: CPtr, label: u64, words: &[u64]) -> Result<[u64; 4], BusError> {
    let length = words.len().min(MAX_MESSAGE_LENGTH);
    let mut mrs = [0; 4];
    for (i, &word) in words[..length].iter().enumerate() {
        if i < 4 {
            mrs[i] = word;
        } else {
            ipc_buffer().msg[i] = word;
        }
    }
    let reply =
        syscall::call(Registers { cap_or_badge: endpoint, info: MessageInfo::new(label, 0, 0, length as u64), mrs });
    match reply.info.label() {
        label::OK => Ok(reply.mrs),
        _ => Err(BusError::Refused(reply.mrs[0])),
    }
}

/// What a publish achieved: inboxes written, and inboxes that were full (or missing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub delivered: u64,
    pub dropped: u64,
}

/// Publishes `bytes` under `class` with `scope` through `endpoint`, a member's badged
/// capability to its bus (what [`Member::publish`] does, for a caller that holds only the
/// capability).
pub fn publish(endpoint: CPtr, class: u8, scope: Scope, bytes: &[u8]) -> Result<Delivery, BusError> {
    let message = Message::new(class, scope, bytes).map_err(BusError::Message)?;
    let words = message.to_publish_words();
    let reply = request(endpoint, label::PUBLISH, &words[..message.publish_word_count()])?;
    Ok(Delivery { delivered: reply[0], dropped: reply[1] })
}

/// A member's side: its badged endpoint capability to the bus and its inbox.
pub struct Member {
    endpoint: CPtr,
    inbox: InboxReader,
}

impl Member {
    /// The member that calls the bus through `endpoint` and reads its inbox at `inbox`.
    ///
    /// # Safety
    /// `inbox` is this member's inbox frame, mapped readable and writable for as long as the
    /// member lives, and nothing else reads it.
    pub unsafe fn new(endpoint: CPtr, inbox: *mut u8) -> Member {
        // SAFETY: forwarded contract.
        Member { endpoint, inbox: unsafe { InboxReader::new(inbox) } }
    }

    /// Publishes `bytes` under `class` with `scope`.
    pub fn publish(&self, class: u8, scope: Scope, bytes: &[u8]) -> Result<Delivery, BusError> {
        publish(self.endpoint, class, scope, bytes)
    }

    /// Replaces the member's subscriptions; returns how many retained messages the bus
    /// replayed to its inbox.
    pub fn subscribe(&self, classes: ClassSet) -> Result<u64, BusError> {
        request(self.endpoint, label::SUBSCRIBE, &classes.to_words()).map(|reply| reply[0])
    }

    /// The bus's traffic (`id` 0) or membership `id`'s (the STATS request's four words).
    pub fn stats(&self, id: u16) -> Result<[u64; 4], BusError> {
        request(self.endpoint, label::STATS, &[u64::from(id)])
    }

    /// The next message in the inbox, if any.
    pub fn take(&mut self) -> Option<Message> {
        self.inbox.take()
    }

    /// The member's badged capability to the bus.
    pub fn endpoint(&self) -> CPtr {
        self.endpoint
    }

    /// Messages the bus could not deliver to this member because its inbox was full.
    pub fn dropped(&self) -> u64 {
        self.inbox.dropped()
    }
}

/// The owner's side: the capability badged `server::OWNER_BADGE`.
#[derive(Clone, Copy, Debug)]
pub struct Owner(pub CPtr);

impl Owner {
    /// Adds membership `id` with `role`; a link's `filter` is the classes it lets pass.
    pub fn add(&self, id: u16, role: Role, filter: ClassSet) -> Result<(), BusError> {
        let [a, b, c, d] = filter.to_words();
        request(self.0, label::ADD_MEMBER, &[u64::from(id), role as u64, a, b, c, d]).map(|_| ())
    }

    /// Adds member `id` with `rights`: the classes it may subscribe to and publish.
    pub fn add_member(&self, id: u16, rights: Rights) -> Result<(), BusError> {
        let mut words = [0; 10];
        words[0] = u64::from(id);
        words[1] = Role::Member as u64;
        words[2..6].copy_from_slice(&rights.subscribe.to_words());
        words[6..10].copy_from_slice(&rights.publish.to_words());
        request(self.0, label::ADD_MEMBER, &words).map(|_| ())
    }

    pub fn remove(&self, id: u16) -> Result<(), BusError> {
        request(self.0, label::REMOVE_MEMBER, &[u64::from(id)]).map(|_| ())
    }

    /// Makes the bus keep the last message of each class in `classes` (its shadow).
    pub fn retain(&self, classes: ClassSet) -> Result<(), BusError> {
        request(self.0, label::RETAIN, &classes.to_words()).map(|_| ())
    }
}

/// One side of a bridge: its link capability to a bus and its inbox on that bus.
pub struct Link {
    pub endpoint: CPtr,
    pub inbox: *mut u8,
}

/// Moves everything waiting in `from` to the bus behind `to`, keeping each message's class,
/// scope, payload and origin. Returns how many it forwarded.
fn forward(from: &mut InboxReader, to: CPtr) -> u64 {
    let mut forwarded = 0;
    while let Some(message) = from.take() {
        let words = message.to_publish_words();
        // A refused or partly dropped forward is the other bus's to report; the bridge goes on.
        let _ = request(to, label::PUBLISH, &words[..LINK_PUBLISH_WORDS]);
        forwarded += 1;
    }
    forwarded
}

/// Runs a bridge between a child bus (where it is the up link) and its parent bus (where it
/// is a down link): whenever `wake` (the notification both buses signal) fires, it forwards
/// what each bus delivered to it to the other bus, forever.
///
/// # Safety
/// As for [`Member::new`], for both links' inboxes.
pub unsafe fn bridge(child: Link, parent: Link, wake: CPtr) -> ! {
    // SAFETY: forwarded contract.
    let (mut from_child, mut from_parent) = unsafe { (InboxReader::new(child.inbox), InboxReader::new(parent.inbox)) };
    loop {
        syscall::wait(wake);
        // Until both are empty: a message forwarded one way may come back the other way only
        // if routing allowed it, which it never does for the bus it came from.
        while forward(&mut from_child, parent.endpoint) + forward(&mut from_parent, child.endpoint) > 0 {}
    }
}

/// The `server::error` code a request was refused with, for tests and logs.
pub fn refusal(error: BusError) -> Option<u64> {
    match error {
        BusError::Refused(code) => Some(code),
        BusError::Message(_) => None,
    }
}

const _: () = assert!(server::OWNER_BADGE > MAX_MEMBER as u64);
