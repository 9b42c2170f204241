//! Cases for the HM bus on the target: bus modules (`hm_bus::module::serve`), each in its own
//! address space and CSpace built with `hm-parent`, their members (the suite, holding one
//! badged capability per membership and reading the inboxes through its own mappings), and a
//! bridge module joining a child bus to its parent.

use crate::cases::Case;
use crate::check::{ensure, ok};
use crate::env::Env;
use crate::threads::{counter, elapsed_us, spawn};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use hm_bus::module::{BusError, Member, Owner, refusal};
use hm_bus::server::error;
use hm_bus::{ClassSet, Message, Rights, Role, Scope};
use hm_parent::bus::{Bus, CHILD_STACK_TOP, Crossing};
use hm_parent::{Allocator, DEPTH, Process, ROOT, Step};
use hmk_sys::bootinfo::slot;
use hmk_sys::invocation::{CNode, CPtr, SchedContext, SchedControl, Tcb};
use hmk_sys::message::CapRights;
use hmk_sys::object::ObjectType;
use hmk_sys::syscall;

type Result = crate::check::Outcome;
type Made<T> = core::result::Result<T, String>;

pub const CASES: &[(&str, Case)] = &[
    ("bus_publish_reaches_each_subscriber_once", bus_publish_reaches_each_subscriber_once),
    ("bus_source_is_the_badge_whatever_the_words_say", bus_source_is_the_badge_whatever_the_words_say),
    ("bus_subscriptions_filter_by_class", bus_subscriptions_filter_by_class),
    ("bus_full_inbox_counts_drops_and_shows_a_gap", bus_full_inbox_counts_drops_and_shows_a_gap),
    ("bus_flood_leaves_room_for_another_publisher", bus_flood_leaves_room_for_another_publisher),
    ("bus_signals_the_member_it_delivered_to", bus_signals_the_member_it_delivered_to),
    ("bus_only_the_owner_changes_membership", bus_only_the_owner_changes_membership),
    ("bus_refuses_bad_messages_and_survives_garbage", bus_refuses_bad_messages_and_survives_garbage),
    ("bus_tree_routes_each_scope_as_far_as_it_reaches", bus_tree_routes_each_scope_as_far_as_it_reaches),
    ("bus_link_filter_keeps_classes_on_their_bus", bus_link_filter_keeps_classes_on_their_bus),
    ("restarted_driver_gets_its_configuration_back", restarted_driver_gets_its_configuration_back),
    (
        "requests_sent_while_a_driver_is_down_are_served_after_restart",
        requests_sent_while_a_driver_is_down_are_served_after_restart,
    ),
    ("restarted_bus_keeps_members_subscriptions_and_shadow", restarted_bus_keeps_members_subscriptions_and_shadow),
    (
        "bus_member_subscribes_and_publishes_only_within_its_rights",
        bus_member_subscribes_and_publishes_only_within_its_rights,
    ),
    ("bus_restarted_while_it_holds_a_request_answers_it", bus_restarted_while_it_holds_a_request_answers_it),
];

/// Slots a case's programs may use (each mirrors the suite's image: a copy per frame).
const CHILD_SLOTS: u64 = 1400;
/// Where the suite maps the inboxes it reads: bus `b`, member `i` at `+ (b * 64 + i) * 4096`.
const SUITE_INBOXES: u64 = 0x50_0000_0000;
const CHILD_PRIORITY: u64 = 200;

fn made<T>(result: hm_parent::Result<T>) -> Made<T> {
    result.map_err(|e| format!("{}: {:?}", e.step, e.error))
}

fn bus_ok<T>(result: core::result::Result<T, BusError>, what: &str) -> Made<T> {
    result.map_err(|e| format!("{what}: {e:?}"))
}

fn start_bus(alloc: &mut Allocator, id: u16) -> Made<Bus> {
    made(hm_parent::bus::start_bus(alloc, id, CHILD_PRIORITY, None))
}

fn join(
    alloc: &mut Allocator,
    bus: &Bus,
    id: u16,
    role: Role,
    filter: ClassSet,
    reader: (CPtr, u64),
    notification: CPtr,
) -> Made<CPtr> {
    made(hm_parent::bus::join(alloc, bus, id, role, filter, reader, notification))
}

fn start_child(
    alloc: &mut Allocator,
    process: &mut Process,
    entry: extern "C" fn(u64) -> !,
    argument: u64,
) -> Made<()> {
    made(hm_parent::bus::run(alloc, process, entry, argument, CHILD_PRIORITY))
}

/// A member the suite plays: membership `id` of `bus`, its inbox mapped in the suite's space.
fn member(alloc: &mut Allocator, bus: &Bus, id: u16, notification: CPtr) -> Made<Member> {
    let address = SUITE_INBOXES + (u64::from(bus.id) * 64 + u64::from(id)) * 4096;
    let cap = join(alloc, bus, id, Role::Member, ClassSet::EMPTY, (slot::INIT_THREAD_VSPACE, address), notification)?;
    // SAFETY: `join` mapped the member's fresh inbox frame at `address` in the suite's VSpace;
    // only this member reads it.
    Ok(unsafe { Member::new(cap, address as *mut u8) })
}

/// [`member`] with `rights`.
fn member_with_rights(alloc: &mut Allocator, bus: &Bus, id: u16, rights: Rights, notification: CPtr) -> Made<Member> {
    let address = SUITE_INBOXES + (u64::from(bus.id) * 64 + u64::from(id)) * 4096;
    let reader = (slot::INIT_THREAD_VSPACE, address);
    let cap = made(hm_parent::bus::join_member(alloc, bus, id, rights, reader, notification))?;
    // SAFETY: `join_member` mapped the member's fresh inbox frame at `address` in the suite's
    // VSpace; only this member reads it.
    Ok(unsafe { Member::new(cap, address as *mut u8) })
}

fn classes(list: &[u8]) -> ClassSet {
    let mut set = ClassSet::EMPTY;
    list.iter().for_each(|&c| set.insert(c));
    set
}

/// Every message waiting in `member`'s inbox.
fn drain(member: &mut Member) -> Vec<Message> {
    core::iter::from_fn(|| member.take()).collect()
}

/// Yields until `member` has `count` messages waiting (bridges run at a lower priority), then
/// takes them all.
fn wait_for(member: &mut Member, count: usize) -> Vec<Message> {
    let mut got = Vec::new();
    for _ in 0..200 {
        got.extend(drain(member));
        if got.len() >= count {
            break;
        }
        syscall::yield_now();
    }
    got
}

/// The suite's priority drops below the children's while they work, so a bridge runs.
fn settle() {
    let me = hmk_sys::invocation::Tcb(slot::INIT_THREAD_TCB);
    let _ = me.set_priority(me, CHILD_PRIORITY - 1);
    for _ in 0..20 {
        syscall::yield_now();
    }
    let _ = me.set_priority(me, 255);
}

pub fn bus_publish_reaches_each_subscriber_once(env: &mut Env) -> Result {
    let mut alloc = env.allocator(crate::bus::CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 1)?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let mut publisher = member(&mut alloc, &bus, 1, ntfn)?;
    let mut readers = [member(&mut alloc, &bus, 2, ntfn)?, member(&mut alloc, &bus, 3, ntfn)?];
    bus_ok(publisher.subscribe(classes(&[7])), "the publisher subscribes too")?;
    for reader in &readers {
        bus_ok(reader.subscribe(classes(&[7])), "subscribe")?;
    }
    let delivery = bus_ok(publisher.publish(7, Scope::Local, b"hello, bus"), "publish")?;
    ensure!(delivery.delivered == 2 && delivery.dropped == 0, "delivery {delivery:?}, want 2 delivered");
    for (reader, id) in readers.iter_mut().zip([2, 3]) {
        let got = drain(reader);
        ensure!(got.len() == 1, "member {id} got {} messages", got.len());
        let message = &got[0];
        ensure!(message.bytes() == b"hello, bus", "member {id} got payload {:?}", message.bytes());
        let h = message.header;
        ensure!(h.class == 7 && h.scope == Scope::Local, "member {id}: class {} scope {:?}", h.class, h.scope);
        ensure!(h.source == 1 && h.origin_bus == 1 && h.origin_member == 1, "member {id}: stamped {h:?}");
    }
    ensure!(drain(&mut publisher).is_empty(), "the publisher got its own message back");
    Ok(())
}

pub fn bus_source_is_the_badge_whatever_the_words_say(env: &mut Env) -> Result {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 4)?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let liar = member(&mut alloc, &bus, 5, ntfn)?;
    let mut victim = member(&mut alloc, &bus, 6, ntfn)?;
    bus_ok(victim.subscribe(classes(&[1])), "subscribe")?;
    // A full link-sized PUBLISH from a plain member, claiming origin bus 9, member 33.
    let mut message = ok_message(Message::new(1, Scope::Local, b"trust me"))?;
    message.header.origin_bus = 9;
    message.header.origin_member = 33;
    let words = message.to_publish_words();
    let reply = raw_call(liar_cap(&liar), hm_bus::server::label::PUBLISH, &words);
    ensure!(reply.info.label() == hm_bus::server::label::OK, "the publish was refused: {:?}", reply.mrs);
    let got = drain(&mut victim);
    ensure!(got.len() == 1, "got {} messages", got.len());
    let h = got[0].header;
    ensure!(h.source == 5 && h.origin_bus == 4 && h.origin_member == 5, "the forged origin stuck: {h:?}");
    Ok(())
}

fn ok_message(result: core::result::Result<Message, hm_bus::MessageError>) -> Made<Message> {
    result.map_err(|e| format!("building a message: {e:?}"))
}

/// The capability a member calls through (for requests `Member` does not make).
fn liar_cap(member: &Member) -> CPtr {
    member.endpoint()
}

/// A Call with arbitrary words (the first four in registers, the rest in the IPC buffer).
fn raw_call(cap: CPtr, label: u64, words: &[u64]) -> hmk_sys::syscall::Registers {
    let mut mrs = [0; 4];
    for (i, &word) in words.iter().enumerate().take(hmk_sys::message::MAX_MESSAGE_LENGTH) {
        if i < 4 {
            mrs[i] = word;
        } else {
            hmk_sys::ipc_buffer::ipc_buffer().msg[i] = word;
        }
    }
    let length = words.len().min(hmk_sys::message::MAX_MESSAGE_LENGTH) as u64;
    syscall::call(hmk_sys::syscall::Registers {
        cap_or_badge: cap,
        info: hmk_sys::message::MessageInfo::new(label, 0, 0, length),
        mrs,
    })
}

pub fn bus_subscriptions_filter_by_class(env: &mut Env) -> Result {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 1)?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let publisher = member(&mut alloc, &bus, 1, ntfn)?;
    let mut sensors = member(&mut alloc, &bus, 2, ntfn)?;
    let mut logs = member(&mut alloc, &bus, 3, ntfn)?;
    bus_ok(sensors.subscribe(classes(&[10, 11])), "subscribe sensors")?;
    bus_ok(logs.subscribe(classes(&[200])), "subscribe logs")?;
    for class in [10u8, 11, 12, 200] {
        bus_ok(publisher.publish(class, Scope::Global, &[class]), "publish")?;
    }
    let sensor_classes: Vec<u8> = drain(&mut sensors).iter().map(|m| m.header.class).collect();
    let log_classes: Vec<u8> = drain(&mut logs).iter().map(|m| m.header.class).collect();
    ensure!(sensor_classes == [10, 11], "sensors got classes {sensor_classes:?}");
    ensure!(log_classes == [200], "logs got classes {log_classes:?}");
    // Subscribing replaces: now sensors want only 12.
    bus_ok(sensors.subscribe(classes(&[12])), "subscribe again")?;
    bus_ok(publisher.publish(10, Scope::Local, &[]), "publish 10")?;
    bus_ok(publisher.publish(12, Scope::Local, &[]), "publish 12")?;
    let again: Vec<u8> = drain(&mut sensors).iter().map(|m| m.header.class).collect();
    ensure!(again == [12], "after resubscribing, sensors got {again:?}");
    Ok(())
}

pub fn bus_full_inbox_counts_drops_and_shows_a_gap(env: &mut Env) -> Result {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 1)?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let publisher = member(&mut alloc, &bus, 1, ntfn)?;
    let mut slow = member(&mut alloc, &bus, 2, ntfn)?;
    bus_ok(slow.subscribe(classes(&[3])), "subscribe")?;
    let (mut delivered, mut dropped) = (0, 0);
    for n in 0..35u8 {
        let d = bus_ok(publisher.publish(3, Scope::Local, &[n]), "publish")?;
        delivered += d.delivered;
        dropped += d.dropped;
    }
    // One publisher gets half of an inbox (its share, bus-protocol.md "Fair shares"); the rest
    // is dropped and counted.
    ensure!(delivered == 15 && dropped == 20, "delivered {delivered}, dropped {dropped}: want 15 and 20");
    ensure!(slow.dropped() == 20, "the inbox counts {} dropped", slow.dropped());
    let first: Vec<u32> = drain(&mut slow).iter().map(|m| m.header.sequence).collect();
    ensure!(first == (0..15).collect::<Vec<u32>>(), "sequences {first:?}");
    // Room again: the next message arrives with sequence 35, so the reader sees the gap.
    bus_ok(publisher.publish(3, Scope::Local, &[99]), "publish after draining")?;
    let next = drain(&mut slow);
    ensure!(next.len() == 1 && next[0].header.sequence == 35, "after the gap: {:?}", next.first().map(|m| m.header));
    ensure!(next[0].bytes() == [99], "payload {:?}", next[0].bytes());
    Ok(())
}

/// A member flooding a reader that takes nothing (1,000 messages) holds at most its share of the
/// reader's inbox, so another member's ten messages, published in the middle of the flood, all
/// arrive (before this, the flood filled the inbox and none of the ten did).
pub fn bus_flood_leaves_room_for_another_publisher(env: &mut Env) -> Result {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 1)?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let flooder = member(&mut alloc, &bus, 1, ntfn)?;
    let mut reader = member(&mut alloc, &bus, 2, ntfn)?;
    let other = member(&mut alloc, &bus, 3, ntfn)?;
    bus_ok(reader.subscribe(classes(&[3])), "subscribe")?;
    let mut flood_delivered = 0;
    for n in 0..1000u32 {
        flood_delivered += bus_ok(flooder.publish(3, Scope::Local, &n.to_le_bytes()), "flood")?.delivered;
        if n % 100 == 50 {
            let delivery = bus_ok(other.publish(3, Scope::Local, b"important"), "the other member's message")?;
            ensure!(delivery.delivered == 1, "the other member's message {} was dropped in the flood", n / 100);
        }
    }
    ensure!(flood_delivered == 15, "the flood got {flood_delivered} messages into the inbox, want its share, 15");
    let got = drain(&mut reader);
    let important = got.iter().filter(|m| m.bytes() == b"important").count();
    ensure!(important == 10, "{important} of the other member's 10 messages arrived");
    ensure!(reader.dropped() == 985, "the inbox counts {} dropped, want 985", reader.dropped());
    Ok(())
}

pub fn bus_signals_the_member_it_delivered_to(env: &mut Env) -> Result {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 1)?;
    let quiet = made(alloc.make(ObjectType::Notification, 0))?;
    let loud = made(alloc.make(ObjectType::Notification, 0))?;
    let publisher = member(&mut alloc, &bus, 1, quiet)?;
    let listener = member(&mut alloc, &bus, 2, loud)?;
    let deaf = member(&mut alloc, &bus, 3, quiet)?;
    bus_ok(listener.subscribe(classes(&[5])), "subscribe")?;
    bus_ok(deaf.subscribe(classes(&[6])), "subscribe")?;
    bus_ok(publisher.publish(5, Scope::Local, &[]), "publish")?;
    // The bus signals with the badge 1 << member id.
    let bits = syscall::poll(loud);
    ensure!(bits == 1 << 2, "the listener's notification holds {bits:#x}, want {:#x}", 1u64 << 2);
    ensure!(syscall::poll(quiet) == 0, "a member that got nothing was signalled");
    Ok(())
}

pub fn bus_only_the_owner_changes_membership(env: &mut Env) -> Result {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 1)?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let intruder = member(&mut alloc, &bus, 1, ntfn)?;
    let mut other = member(&mut alloc, &bus, 2, ntfn)?;
    bus_ok(other.subscribe(classes(&[1])), "subscribe")?;
    // A member's capability used as an owner's is refused.
    let as_owner = Owner(intruder.endpoint());
    let refused = as_owner.add(9, Role::Member, ClassSet::EMPTY).err().and_then(refusal);
    ensure!(refused == Some(error::NOT_ALLOWED), "a member adding a member: {refused:?}");
    let refused = as_owner.remove(2).err().and_then(refusal);
    ensure!(refused == Some(error::NOT_ALLOWED), "a member removing a member: {refused:?}");
    // The owner's own mistakes are told apart.
    let duplicate = bus.owner.add(2, Role::Member, ClassSet::EMPTY).err().and_then(refusal);
    ensure!(duplicate == Some(error::MEMBERSHIP), "adding member 2 twice: {duplicate:?}");
    let bad = bus.owner.add(64, Role::Member, ClassSet::EMPTY).err().and_then(refusal);
    ensure!(bad == Some(error::BAD_MEMBER), "member id 64: {bad:?}");
    // Removed, member 2 gets nothing more, and its badge no longer works.
    bus_ok(bus.owner.remove(2), "remove member 2")?;
    bus_ok(intruder.publish(1, Scope::Local, &[]), "publish")?;
    ensure!(drain(&mut other).is_empty(), "a removed member still got messages");
    let gone = other.publish(1, Scope::Local, &[]).err().and_then(refusal);
    ensure!(gone == Some(error::NOT_ALLOWED), "a removed member's publish: {gone:?}");
    Ok(())
}

pub fn bus_refuses_bad_messages_and_survives_garbage(env: &mut Env) -> Result {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 1)?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let sender = member(&mut alloc, &bus, 1, ntfn)?;
    let mut receiver = member(&mut alloc, &bus, 2, ntfn)?;
    bus_ok(receiver.subscribe(ClassSet::ALL), "subscribe")?;
    let publish = hm_bus::server::label::PUBLISH;
    for (what, word) in [("class 256", 256u64), ("scope 4", 4 << 16), ("length 113", 113 << 32)] {
        let reply = raw_call(sender.endpoint(), publish, &[word; 15]);
        ensure!(
            reply.info.label() == hm_bus::server::label::ERROR && reply.mrs[0] == error::BAD_MESSAGE,
            "{what}: label {} code {}",
            reply.info.label(),
            reply.mrs[0]
        );
    }
    let unknown = raw_call(sender.endpoint(), 77, &[]);
    ensure!(unknown.mrs[0] == error::UNKNOWN_REQUEST, "label 77: code {}", unknown.mrs[0]);
    // Random labels and words from a member: the bus must answer every one and go on working.
    let mut rng = crate::cases::Rng(0xb05_0000_0001);
    for _ in 0..2000 {
        let label = rng.below(20);
        let mut words = [0u64; 16];
        words.iter_mut().for_each(|w| *w = rng.word());
        let length = rng.below(17) as usize;
        raw_call(sender.endpoint(), label, &words[..length]);
    }
    drain(&mut receiver);
    bus_ok(sender.publish(42, Scope::Local, b"still here"), "publish after the garbage")?;
    let got = drain(&mut receiver);
    ensure!(got.len() == 1 && got[0].bytes() == b"still here", "after the garbage: {} messages", got.len());
    Ok(())
}

/// A two-level tree: a parent bus (1) and a child bus (2) joined by a bridge module, which is
/// the child's up link (member 63 there) and a down link of the parent (member 62 there), with
/// `up` and `down` as the link filters the parent chose.
struct Tree {
    parent_member: Member,
    child_members: [Member; 2],
}

fn build_tree(env: &mut Env, up: ClassSet, down: ClassSet) -> Made<Tree> {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let parent = start_bus(&mut alloc, 1)?;
    let child = start_bus(&mut alloc, 2)?;
    let (up, down) = (Crossing { id: 63, filter: up }, Crossing { id: 62, filter: down });
    made(hm_parent::bus::bridge(&mut alloc, (&child, &parent), up, down, CHILD_PRIORITY, None))?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let parent_member = member(&mut alloc, &parent, 1, ntfn)?;
    let child_members = [member(&mut alloc, &child, 1, ntfn)?, member(&mut alloc, &child, 2, ntfn)?];
    bus_ok(parent_member.subscribe(ClassSet::ALL), "subscribe")?;
    for m in &child_members {
        bus_ok(m.subscribe(ClassSet::ALL), "subscribe")?;
    }
    Ok(Tree { parent_member, child_members })
}

pub fn bus_tree_routes_each_scope_as_far_as_it_reaches(env: &mut Env) -> Result {
    let Tree { parent_member: mut top, child_members: [mut a, mut b] } = build_tree(env, ClassSet::ALL, ClassSet::ALL)?;
    // From the child bus: local stays there, up and global reach the parent, down does not.
    for scope in Scope::ALL {
        bus_ok(a.publish(scope as u8, scope, &[1]), "publish on the child bus")?;
    }
    settle();
    let at_top: Vec<u8> = wait_for(&mut top, 2).iter().map(|m| m.header.class).collect();
    ensure!(at_top == [Scope::Up as u8, Scope::Global as u8], "the parent's member got {at_top:?} from below");
    let beside: Vec<u8> = drain(&mut b).iter().map(|m| m.header.class).collect();
    ensure!(beside == [0, 1, 2, 3], "the child's other member got {beside:?}");
    // From the parent bus: down and global reach the child bus, local and up do not.
    for scope in Scope::ALL {
        bus_ok(top.publish(10 + scope as u8, scope, &[2]), "publish on the parent bus")?;
    }
    settle();
    for (name, m) in [("a", &mut a), ("b", &mut b)] {
        let got = wait_for(m, 2);
        let classes: Vec<u8> = got.iter().map(|m| m.header.class).collect();
        ensure!(classes == [12, 13], "child member {name} got {classes:?} from above");
        let h = got[0].header;
        ensure!(h.origin_bus == 1 && h.origin_member == 1 && h.source == 63, "forwarded header {h:?}");
    }
    ensure!(drain(&mut top).is_empty(), "the parent's member got its own messages back");
    Ok(())
}

pub fn bus_link_filter_keeps_classes_on_their_bus(env: &mut Env) -> Result {
    // Only class 5 may go up, only class 6 down.
    let Tree { parent_member: mut top, child_members: [a, mut b] } = build_tree(env, classes(&[5]), classes(&[6]))?;
    for class in [4u8, 5, 6] {
        bus_ok(a.publish(class, Scope::Global, &[]), "publish up")?;
        bus_ok(top.publish(class, Scope::Global, &[]), "publish down")?;
    }
    settle();
    let up: Vec<u8> = wait_for(&mut top, 1).iter().map(|m| m.header.class).collect();
    ensure!(up == [5], "the parent's member got {up:?}; the filter lets only 5 up");
    let below: Vec<(u16, u8)> = wait_for(&mut b, 4).iter().map(|m| (m.header.origin_bus, m.header.class)).collect();
    ensure!(below == [(2, 4), (2, 5), (2, 6), (1, 6)], "the child's other member got {below:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Supervision: a driver module that fails is restarted by its parent (the suite), and the
// bus's shadow (retained configuration) and the driver's inbox make the restart invisible to
// its clients.

/// The scaler driver's classes: its configuration (the factor, one byte), requests (a u64 to
/// scale) and results (the scaled u64).
const CONFIGURE: u8 = 20;
const SCALE: u8 = 21;
const SCALED: u8 = 22;
/// A request that makes the driver fail (it reads address 0).
const CRASH: u64 = 0xdead;
/// The scaler's CSpace and inbox.
const SCALER_BUS: CPtr = 1;
const SCALER_WAKE: CPtr = 2;
const SCALER_INBOX: u64 = 0x3000_0000;
/// The badge of the scaler's fault handler capability: which child failed.
const SCALER_FAULT_BADGE: u64 = 0x5ca1e;

fn scale(bus: &Member, factor: u64, request: &Message) {
    let mut bytes = [0; 8];
    let n = request.bytes().len().min(8);
    bytes[..n].copy_from_slice(&request.bytes()[..n]);
    let value = u64::from_le_bytes(bytes);
    if value == CRASH {
        // SAFETY: deliberately not safe: the driver fails here, and its parent restarts it.
        unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
    }
    let _ = bus.publish(SCALED, Scope::Local, &(value * factor).to_le_bytes());
}

/// A driver that scales numbers by its configured factor. On every start it subscribes (the
/// bus replays the retained configuration into its inbox), then drains its inbox: the
/// configuration comes after any requests that waited while it was down, so it applies the
/// configuration first and serves the waiting requests after.
extern "C" fn scaler_main(_: u64) -> ! {
    // SAFETY: its parent maps the driver's inbox frame at SCALER_INBOX before starting it.
    let mut bus = unsafe { Member::new(SCALER_BUS, SCALER_INBOX as *mut u8) };
    let mut factor = 1;
    let _ = bus.subscribe(classes(&[CONFIGURE, SCALE]));
    let mut backlog = [None; 30];
    let mut waiting = 0;
    while let Some(message) = bus.take() {
        match message.header.class {
            CONFIGURE => factor = u64::from(message.bytes().first().copied().unwrap_or(1)),
            _ if waiting < backlog.len() => {
                backlog[waiting] = Some(message);
                waiting += 1;
            }
            _ => {}
        }
    }
    for request in backlog.iter().flatten() {
        scale(&bus, factor, request);
    }
    loop {
        syscall::wait(SCALER_WAKE);
        while let Some(message) = bus.take() {
            match message.header.class {
                CONFIGURE => factor = u64::from(message.bytes().first().copied().unwrap_or(1)),
                _ => scale(&bus, factor, &message),
            }
        }
    }
}

/// A bus with the scaler driver (member 2) supervised by the suite, and the suite as its
/// client (member 1, subscribed to results).
struct Supervised {
    client: Member,
    driver: Process,
    faults: CPtr,
    fault_reply: CPtr,
}

fn supervised_scaler(env: &mut Env) -> Made<Supervised> {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 1)?;
    bus_ok(bus.owner.retain(classes(&[CONFIGURE])), "retain the configuration class")?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let client = member(&mut alloc, &bus, 1, ntfn)?;
    bus_ok(client.subscribe(classes(&[SCALED])), "subscribe to results")?;
    let mut driver = made(Process::new(&mut alloc, 2))?;
    let wake = made(alloc.make(ObjectType::Notification, 0))?;
    made(CNode(driver.cnode).mint(SCALER_WAKE, 2, ROOT, wake, DEPTH, CapRights::READ, 0).step("the driver's wake-up"))?;
    let cap = join(&mut alloc, &bus, 2, Role::Member, ClassSet::EMPTY, (driver.vspace, SCALER_INBOX), wake)?;
    made(CNode(driver.cnode).move_(SCALER_BUS, 2, ROOT, cap, DEPTH).step("the driver's bus capability"))?;
    let faults = made(alloc.make(ObjectType::Endpoint, 0))?;
    let fault_reply = made(alloc.make(ObjectType::Reply, 0))?;
    let handler = made(alloc.slot())?;
    made(ROOT.mint(handler, DEPTH, ROOT, faults, DEPTH, CapRights::ALL, SCALER_FAULT_BADGE).step("the fault handler"))?;
    made(driver.set_fault_handler(handler))?;
    start_child(&mut alloc, &mut driver, scaler_main, 0)?;
    settle();
    Ok(Supervised { client, driver, faults, fault_reply })
}

fn request(client: &Member, value: u64) -> Made<()> {
    bus_ok(client.publish(SCALE, Scope::Local, &value.to_le_bytes()), "a request").map(|_| ())
}

fn results(client: &mut Member, count: usize) -> Vec<u64> {
    settle();
    wait_for(client, count)
        .iter()
        .map(|m| {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&m.bytes()[..8]);
            u64::from_le_bytes(bytes)
        })
        .collect()
}

/// Waits for the driver's fault and restarts it, as a parent's supervision loop does.
fn supervise_once(s: &Supervised) -> Result {
    let mut fault = None;
    for _ in 0..200 {
        let message = syscall::nb_recv(s.faults, s.fault_reply);
        if message.cap_or_badge == SCALER_FAULT_BADGE {
            fault = Some(message);
            break;
        }
        settle();
    }
    let Some(fault) = fault else { return Err("the driver's fault never reached its parent".into()) };
    ensure!(
        fault.info.label() == 6 && fault.mrs[1] == 0,
        "fault label {}, address {:#x}",
        fault.info.label(),
        fault.mrs[1]
    );
    made(s.driver.restart(scaler_main, 0, CHILD_STACK_TOP))
}

pub fn restarted_driver_gets_its_configuration_back(env: &mut Env) -> Result {
    let mut s = supervised_scaler(env)?;
    bus_ok(s.client.publish(CONFIGURE, Scope::Local, &[3]), "configure")?;
    request(&s.client, 5)?;
    let before = results(&mut s.client, 1);
    ensure!(before == [15], "before the failure: {before:?}");
    request(&s.client, CRASH)?;
    supervise_once(&s)?;
    settle();
    request(&s.client, 7)?;
    let after = results(&mut s.client, 1);
    ensure!(after == [21], "after the restart: {after:?} (7 scaled by the retained factor 3 is 21)");
    Ok(())
}

pub fn requests_sent_while_a_driver_is_down_are_served_after_restart(env: &mut Env) -> Result {
    let mut s = supervised_scaler(env)?;
    bus_ok(s.client.publish(CONFIGURE, Scope::Local, &[4]), "configure")?;
    // The failing request and two more, published before the driver runs again.
    request(&s.client, CRASH)?;
    request(&s.client, 10)?;
    request(&s.client, 11)?;
    supervise_once(&s)?;
    let after = results(&mut s.client, 2);
    ensure!(after == [40, 44], "after the restart: {after:?}, want both waiting requests scaled by 4");
    Ok(())
}

/// A bus is a module too: a fault injected into it (its parent points its PC at an unmapped
/// address) reaches its parent, which restarts it; its state lives in frames the parent owns, so
/// its members keep their memberships and subscriptions and its shadow keeps the configuration.
pub fn restarted_bus_keeps_members_subscriptions_and_shadow(env: &mut Env) -> Result {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let mut bus = start_bus(&mut alloc, 1)?;
    bus_ok(bus.owner.retain(classes(&[CONFIGURE])), "retain")?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let publisher = member(&mut alloc, &bus, 1, ntfn)?;
    let mut subscriber = member(&mut alloc, &bus, 2, ntfn)?;
    bus_ok(subscriber.subscribe(classes(&[5])), "subscribe")?;
    bus_ok(publisher.publish(CONFIGURE, Scope::Local, &[9]), "configure")?;
    bus_ok(publisher.publish(5, Scope::Local, b"before"), "publish before")?;
    ensure!(drain(&mut subscriber).len() == 1, "the subscriber missed the first message");

    let faults = made(alloc.make(ObjectType::Endpoint, 0))?;
    let fault_reply = made(alloc.make(ObjectType::Reply, 0))?;
    let handler = made(alloc.slot())?;
    made(ROOT.mint(handler, DEPTH, ROOT, faults, DEPTH, CapRights::ALL, 0xb05).step("the bus's fault handler"))?;
    made(bus.process.set_fault_handler(handler))?;
    // Fault injection: the bus's next instruction is at an unmapped address.
    let tcb = hmk_sys::invocation::Tcb(bus.process.tcb);
    made(tcb.suspend().step("stopping the bus"))?;
    let mut regs = hmk_sys::invocation::UserContext::default();
    regs.0[hmk_sys::invocation::UserContext::PC] = 0x10;
    made(tcb.write_registers(true, 1, &regs).step("pointing the bus at nothing"))?;
    let mut fault = None;
    for _ in 0..200 {
        let message = syscall::nb_recv(faults, fault_reply);
        if message.cap_or_badge == 0xb05 {
            fault = Some(message);
            break;
        }
        settle();
    }
    let Some(fault) = fault else { return Err("the bus's fault never reached its parent".into()) };
    ensure!(fault.info.label() == 6 && fault.mrs[1] == 0x10, "fault {} at {:#x}", fault.info.label(), fault.mrs[1]);
    made(hm_parent::bus::restart_bus(&bus))?;

    // The same capabilities work; the subscription and membership held.
    let delivery = bus_ok(publisher.publish(5, Scope::Local, b"after"), "publish after the restart")?;
    ensure!(delivery.delivered == 1, "after the restart the bus delivered to {} members", delivery.delivered);
    let got = drain(&mut subscriber);
    ensure!(got.len() == 1 && got[0].bytes() == b"after", "the subscriber got {} messages", got.len());
    // The shadow held too: subscribing to the configuration class replays it.
    let replayed = bus_ok(subscriber.subscribe(classes(&[5, CONFIGURE])), "subscribe to the configuration")?;
    ensure!(replayed == 1, "{replayed} retained messages replayed after the restart");
    let config = drain(&mut subscriber);
    ensure!(
        config.len() == 1 && config[0].bytes() == [9],
        "the replayed configuration: {:?}",
        config.first().map(|m| m.bytes().to_vec())
    );
    Ok(())
}

/// A member the owner gave rights (may subscribe to class 5, may publish class 6) cannot
/// subscribe to every class and read the others' traffic, nor to one class beyond its rights,
/// nor publish a class it may not (which would also replace that class's retained message, the
/// configuration a restarted driver gets back). The bus refuses each with "not allowed", and
/// what it was allowed still works.
pub fn bus_member_subscribes_and_publishes_only_within_its_rights(env: &mut Env) -> Result {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 1)?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    let mut driver = member(&mut alloc, &bus, 1, ntfn)?;
    let rights = Rights { subscribe: classes(&[5]), publish: classes(&[6]) };
    let mut limited = member_with_rights(&mut alloc, &bus, 2, rights, ntfn)?;
    bus_ok(bus.owner.retain(classes(&[9])), "retain class 9")?;
    bus_ok(driver.publish(9, Scope::Local, b"driver config"), "the driver's configuration")?;
    let not_allowed = Err(BusError::Refused(error::NOT_ALLOWED));
    ensure!(limited.subscribe(ClassSet::ALL).map(drop) == not_allowed, "subscribing to every class was not refused");
    ensure!(
        limited.subscribe(classes(&[5, 9])).map(drop) == not_allowed,
        "subscribing beyond the rights was not refused"
    );
    ensure!(drain(&mut limited).is_empty(), "a refused subscription replayed retained messages");
    ensure!(limited.publish(9, Scope::Local, b"forged").map(drop) == not_allowed, "publishing class 9 was not refused");
    bus_ok(driver.subscribe(classes(&[6, 9])), "the driver subscribes")?;
    let replayed = drain(&mut driver);
    ensure!(
        replayed.len() == 1 && replayed[0].bytes() == b"driver config",
        "the retained configuration is {:?}",
        replayed.iter().map(|m| m.bytes()).collect::<Vec<_>>()
    );
    bus_ok(limited.subscribe(classes(&[5])), "subscribing within the rights")?;
    let delivery = bus_ok(limited.publish(6, Scope::Local, b"allowed"), "publishing within the rights")?;
    ensure!(delivery.delivered == 1, "the allowed message reached {} members", delivery.delivered);
    ensure!(drain(&mut driver).len() == 1, "the driver did not get the allowed message");
    Ok(())
}

/// The publisher thread of [`bus_restarted_while_it_holds_a_request_answers_it`]: its bus
/// capability, and what its one publish came back with (0 not yet, [`CALLING`] about to call,
/// 1 done, 2 "restarted", 3 another error).
static HELD_PUBLISHER: AtomicU64 = AtomicU64::new(0);
static HELD_OUTCOME: AtomicU64 = AtomicU64::new(0);
static HELD_WAIT: AtomicU64 = AtomicU64::new(0);
const CALLING: u64 = 9;

extern "C" fn publish_once(_: u64) -> ! {
    HELD_OUTCOME.store(CALLING, Ordering::SeqCst);
    let outcome = match hm_bus::module::publish(HELD_PUBLISHER.load(Ordering::SeqCst), 7, Scope::Local, b"held") {
        Ok(_) => 1,
        Err(BusError::Refused(error::RESTARTED)) => 2,
        Err(_) => 3,
    };
    HELD_OUTCOME.store(outcome, Ordering::SeqCst);
    loop {
        syscall::wait(HELD_WAIT.load(Ordering::SeqCst));
    }
}

/// A bus restarted while it holds a member's request (here: out of budget in the middle of a
/// publish to 60 subscribers) first answers that member "restarted" (error 6), so the member is
/// not left waiting for good; the restarted bus then serves the member's next request.
pub fn bus_restarted_while_it_holds_a_request_answers_it(env: &mut Env) -> Result {
    let mut alloc = env.allocator(CHILD_SLOTS);
    let bus = start_bus(&mut alloc, 1)?;
    let ntfn = made(alloc.make(ObjectType::Notification, 0))?;
    HELD_WAIT.store(made(alloc.make(ObjectType::Notification, 0))?, Ordering::SeqCst);
    let publisher = member(&mut alloc, &bus, 1, ntfn)?;
    let mut readers = Vec::new();
    for id in 2..62 {
        let reader = member(&mut alloc, &bus, id, ntfn)?;
        bus_ok(reader.subscribe(classes(&[7])), "subscribe")?;
        readers.push(reader);
    }
    // The bus gets 20 µs every 10 s: a publish to 60 inboxes outruns it.
    let control = SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(SchedContext(bus.process.sc), 20, 10_000_000, 0, 0, 0), "the bus's short budget")?;
    HELD_PUBLISHER.store(publisher.endpoint(), Ordering::SeqCst);
    HELD_OUTCOME.store(0, Ordering::SeqCst);
    let worker = spawn(env, 0, publish_once, 150, true)?;
    // Below the publisher and the bus until the bus has taken the request and run out in the
    // middle of it: its first reader holds the message (up to 2 s, for a slow host).
    let me = Tcb(slot::INIT_THREAD_TCB);
    let _ = me.set_priority(me, 100);
    let start = counter().0;
    while HELD_OUTCOME.load(Ordering::SeqCst) != CALLING && elapsed_us(start) < 2_000_000 {}
    // The bus runs at the Call (it is above the publisher) until its 20 µs are spent.
    let called = counter().0;
    while elapsed_us(called) < 20_000 {}
    let _ = me.set_priority(me, 255);
    let before = HELD_OUTCOME.load(Ordering::SeqCst);
    ensure!(before == CALLING, "the publish came back ({before}) before the bus ran out of budget");
    // Restarted with a budget again, the bus answers the held request first.
    ok(control.configure_flags(SchedContext(bus.process.sc), 5_000, 10_000, 0, 0, 0), "the bus's budget back")?;
    made(hm_parent::bus::restart_bus(&bus))?;
    let _ = me.set_priority(me, 100);
    let start = counter().0;
    while elapsed_us(start) < 20_000 && HELD_OUTCOME.load(Ordering::SeqCst) == CALLING {}
    let _ = me.set_priority(me, 255);
    let outcome = HELD_OUTCOME.load(Ordering::SeqCst);
    ok(Tcb(worker.tcb).suspend(), "stop the publisher")?;
    ensure!(outcome == 2, "the held publish came back with {outcome}, want 2 (restarted); 9 is still waiting");
    let delivery = bus_ok(publisher.publish(7, Scope::Local, b"again"), "the next publish")?;
    ensure!(delivery.delivered == 60, "the next publish reached {} of 60", delivery.delivered);
    Ok(())
}
