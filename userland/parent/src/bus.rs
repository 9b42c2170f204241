//! Buses as children: starting a bus module, joining parties to it (mapping their inboxes and
//! handing the bus their notifications), and bridging a child bus to its parent with a bridge
//! module (docs/bus-protocol.md). Every bus and bridge is a [`Process`] of its own, running
//! either its own ELF program (`userland/modules/bus`, `bridge`: [`serve`] and [`forward`]) or,
//! when the parent has no image to give, the same code shared through the parent's image.

use crate::{Allocator, DEPTH, Process, ROOT, Result, SetupError, Step};
use hm_bus::module::{BusLayout, Link, Owner};
use hm_bus::server::OWNER_BADGE;
use hm_bus::{ClassSet, Rights, Role};
use hmk_sys::invocation::{CNode, CPtr};
use hmk_sys::message::CapRights;
use hmk_sys::object::{ObjectType, vm_attributes};

/// A bus module's CSpace: its endpoint, its reply object, member `i`'s notification at
/// `BUS_NOTIFICATIONS + i`.
const BUS_CNODE_BITS: u64 = 7;
const BUS_ENDPOINT: CPtr = 1;
const BUS_REPLY: CPtr = 2;
const BUS_NOTIFICATIONS: CPtr = 64;
/// Where a bus module sees member `i`'s inbox: `BUS_INBOXES + i * 4096`.
const BUS_INBOXES: u64 = 0x2000_0000;
/// Where a bus module keeps its state (hm_bus::module::STATE_BYTES, frames its parent owns).
const BUS_STATE: u64 = 0x2100_0000;
/// A bridge module's CSpace and its two inboxes.
const BRIDGE_CNODE_BITS: u64 = 2;
const BRIDGE_CHILD_LINK: CPtr = 1;
const BRIDGE_PARENT_LINK: CPtr = 2;
const BRIDGE_WAKE: CPtr = 3;
const BRIDGE_CHILD_INBOX: u64 = 0x3000_0000;
const BRIDGE_PARENT_INBOX: u64 = 0x3000_1000;
/// Where every child started by [`run`] has its stack.
pub const CHILD_STACK_TOP: u64 = 0x1000_8000;
const CHILD_STACK_PAGES: u64 = 16;

/// A bus module's body: serves bus `bus` in the layout [`start_bus`] builds, forever.
pub fn serve(bus: u64) -> ! {
    hm_bus::module::serve(BusLayout {
        bus: bus as u16,
        endpoint: BUS_ENDPOINT,
        reply: BUS_REPLY,
        inbox_base: BUS_INBOXES,
        notification_base: BUS_NOTIFICATIONS,
        state: BUS_STATE,
    })
}

/// A bridge module's body: forwards between the two buses [`bridge`] joined it to, forever.
pub fn forward() -> ! {
    let child = Link { endpoint: BRIDGE_CHILD_LINK, inbox: BRIDGE_CHILD_INBOX as *mut u8 };
    let parent = Link { endpoint: BRIDGE_PARENT_LINK, inbox: BRIDGE_PARENT_INBOX as *mut u8 };
    // SAFETY: `bridge` maps both inbox frames at these addresses in the bridge's VSpace before
    // it starts the bridge, and only the bridge reads them.
    unsafe { hm_bus::module::bridge(child, parent, BRIDGE_WAKE) }
}

extern "C" fn bus_main(bus: u64) -> ! {
    serve(bus)
}

extern "C" fn bridge_main(_: u64) -> ! {
    forward()
}

/// Where a module loaded from an ELF image copies its segments through, in the parent's space.
const LOAD_SCRATCH: u64 = 0x62_0000_0000;

/// The program a bus or bridge runs: its own ELF image, or the parent's code (a mirror).
fn new_process(alloc: &mut Allocator, image: Option<&[u8]>, cnode_bits: u64) -> Result<Process> {
    match image {
        Some(image) => Process::from_elf(alloc, image, cnode_bits, LOAD_SCRATCH),
        None => Process::new(alloc, cnode_bits),
    }
}

/// Starts `process` (from [`new_process`]) at `entry` or its ELF entry, with `argument` in x0.
fn launch(
    alloc: &mut Allocator,
    process: &mut Process,
    entry: extern "C" fn(u64) -> !,
    argument: u64,
    priority: u64,
) -> Result<()> {
    if process.entry != 0 {
        process.start_image(alloc, argument, priority)
    } else {
        run(alloc, process, entry, argument, priority)
    }
}

/// Starts bus `id` as [`start_bus`] does, with `fault_handler` (a badged endpoint capability of
/// its parent, 0 for none): a fault of the bus is a message to its parent, which may restart it
/// ([`restart_bus`]).
pub fn start_bus_supervised(
    alloc: &mut Allocator,
    id: u16,
    priority: u64,
    image: Option<&[u8]>,
    fault_handler: CPtr,
) -> Result<Bus> {
    let mut process = new_process(alloc, image, BUS_CNODE_BITS)?;
    process.fault_handler = fault_handler;
    let endpoint = alloc.make(ObjectType::Endpoint, 0)?;
    CNode(process.cnode)
        .mint(BUS_ENDPOINT, BUS_CNODE_BITS, ROOT, endpoint, DEPTH, CapRights::READ, 0)
        .step("the bus's receive capability")?;
    alloc.make_in(ObjectType::Reply, process.cnode, BUS_REPLY, 1)?;
    let state_pages = (hm_bus::module::STATE_BYTES / 4096) as u64;
    alloc.map_new_pages(process.vspace, BUS_STATE, state_pages)?;
    let owner = alloc.slot()?;
    ROOT.mint(owner, DEPTH, ROOT, endpoint, DEPTH, call_only(), OWNER_BADGE).step("the owner's capability")?;
    launch(alloc, &mut process, bus_main, u64::from(id), priority)?;
    Ok(Bus { id, process, endpoint, owner: Owner(owner) })
}

/// Gives `process` a stack at [`CHILD_STACK_TOP`] and starts it at `entry(argument)`.
pub fn run(
    alloc: &mut Allocator,
    process: &mut Process,
    entry: extern "C" fn(u64) -> !,
    argument: u64,
    priority: u64,
) -> Result<()> {
    alloc.map_new_pages(process.vspace, CHILD_STACK_TOP - CHILD_STACK_PAGES * 4096, CHILD_STACK_PAGES)?;
    process.start_with(alloc, entry, argument, CHILD_STACK_TOP, priority)
}

/// Write and grant-reply: enough to Call, nothing else.
pub fn call_only() -> CapRights {
    CapRights { write: true, grant_reply: true, ..CapRights::NONE }
}

/// A running bus module and what its owner needs to add members.
pub struct Bus {
    pub id: u16,
    pub process: Process,
    /// The bus endpoint with every right, in the root CNode (members' capabilities are minted
    /// from it).
    pub endpoint: CPtr,
    pub owner: Owner,
}

/// Starts bus `id` (its id in the tree) at `priority`, running `image` (the bus program's ELF)
/// or, without one, the parent's own copy of the bus code.
pub fn start_bus(alloc: &mut Allocator, id: u16, priority: u64, image: Option<&[u8]>) -> Result<Bus> {
    start_bus_supervised(alloc, id, priority, image, 0)
}

/// Restarts a bus module (after a fault, say): its thread starts over, its state (memberships,
/// subscriptions, retained messages) is where it left it, and its members' inboxes and
/// capabilities are untouched, so no member loses its membership. A member whose request the
/// bus held when it stopped gets the reply "restarted" (`hm_bus::server::error::RESTARTED`)
/// first, and may ask again.
pub fn restart_bus(bus: &Bus) -> Result<()> {
    if bus.process.entry != 0 {
        bus.process.restart_image(u64::from(bus.id))
    } else {
        bus.process.restart(bus_main, u64::from(bus.id), CHILD_STACK_TOP)
    }
}

/// Restarts a bridge module: its thread starts over, forwarding from its two inboxes again
/// (what they hold waits there).
pub fn restart_bridge(bridge: &Process) -> Result<()> {
    if bridge.entry != 0 { bridge.restart_image(0) } else { bridge.restart(bridge_main, 0, CHILD_STACK_TOP) }
}

/// Sets up membership `id` of `bus` for a party that reads its inbox through `reader` (a
/// VSpace and the address it maps the inbox at) and is signalled through `notification`
/// (with the badge `1 << id`): maps a fresh inbox in both spaces, gives the bus a send
/// capability to the notification, adds the membership, and returns the party's badged
/// capability to the bus (in the root CNode). A member joined so may subscribe to and publish
/// any class ([`join_member`] gives it rights).
pub fn join(
    alloc: &mut Allocator,
    bus: &Bus,
    id: u16,
    role: Role,
    filter: ClassSet,
    reader: (CPtr, u64),
    notification: CPtr,
) -> Result<CPtr> {
    join_with(alloc, bus, id, reader, notification, |owner| owner.add(id, role, filter))
}

/// [`join`] for a member with `rights`: the classes it may subscribe to and publish.
pub fn join_member(
    alloc: &mut Allocator,
    bus: &Bus,
    id: u16,
    rights: Rights,
    reader: (CPtr, u64),
    notification: CPtr,
) -> Result<CPtr> {
    join_with(alloc, bus, id, reader, notification, |owner| owner.add_member(id, rights))
}

fn join_with(
    alloc: &mut Allocator,
    bus: &Bus,
    id: u16,
    reader: (CPtr, u64),
    notification: CPtr,
    add: impl FnOnce(&Owner) -> core::result::Result<(), hm_bus::module::BusError>,
) -> Result<CPtr> {
    let inbox = alloc.make(ObjectType::SmallPage, 0)?;
    let bus_copy = alloc.slot()?;
    ROOT.copy(bus_copy, DEPTH, ROOT, inbox, DEPTH, CapRights::READ_WRITE).step("copying the inbox")?;
    let attributes = vm_attributes::DEFAULT | vm_attributes::EXECUTE_NEVER;
    let at = BUS_INBOXES + u64::from(id) * 4096;
    alloc.map(bus.process.vspace, bus_copy, at, CapRights::READ_WRITE, attributes)?;
    alloc.map(reader.0, inbox, reader.1, CapRights::READ_WRITE, attributes)?;
    let send_only = CapRights { write: true, ..CapRights::NONE };
    CNode(bus.process.cnode)
        .mint(BUS_NOTIFICATIONS + u64::from(id), BUS_CNODE_BITS, ROOT, notification, DEPTH, send_only, 1 << id)
        .step("the bus's capability to the member's notification")?;
    add(&bus.owner).map_err(|_| SetupError { step: "adding the membership", error: None })?;
    let cap = alloc.slot()?;
    ROOT.mint(cap, DEPTH, ROOT, bus.endpoint, DEPTH, call_only(), u64::from(id)).step("the member's capability")?;
    Ok(cap)
}

/// One of a bridge's two memberships: its member id on that bus, and the classes it lets pass
/// across from that bus to the other.
#[derive(Clone, Copy, Debug)]
pub struct Crossing {
    pub id: u16,
    pub filter: ClassSet,
}

/// Joins bus `child` to bus `parent` with a bridge module at `priority`, running `image` (the
/// bridge program's ELF) or the parent's own copy of the bridge code: the child's up link
/// (`up.id` there, letting `up.filter` pass to the parent) and a down link of the parent
/// (`down.id` there, letting `down.filter` pass to the child).
pub fn bridge(
    alloc: &mut Allocator,
    buses: (&Bus, &Bus),
    up: Crossing,
    down: Crossing,
    priority: u64,
    image: Option<&[u8]>,
) -> Result<Process> {
    bridge_supervised(alloc, buses, (up, down), priority, image, 0)
}

/// [`bridge`] with `fault_handler` (0 for none), as [`start_bus_supervised`]; a parent restarts
/// a failed bridge with [`restart_bridge`].
pub fn bridge_supervised(
    alloc: &mut Allocator,
    (child_bus, parent_bus): (&Bus, &Bus),
    (up, down): (Crossing, Crossing),
    priority: u64,
    image: Option<&[u8]>,
    fault_handler: CPtr,
) -> Result<Process> {
    let mut bridge = new_process(alloc, image, BRIDGE_CNODE_BITS)?;
    bridge.fault_handler = fault_handler;
    let wake = alloc.make(ObjectType::Notification, 0)?;
    CNode(bridge.cnode)
        .mint(BRIDGE_WAKE, BRIDGE_CNODE_BITS, ROOT, wake, DEPTH, CapRights::READ, 0)
        .step("the bridge's wake-up notification")?;
    let up_cap = join(alloc, child_bus, up.id, Role::UpLink, up.filter, (bridge.vspace, BRIDGE_CHILD_INBOX), wake)?;
    let down_cap =
        join(alloc, parent_bus, down.id, Role::DownLink, down.filter, (bridge.vspace, BRIDGE_PARENT_INBOX), wake)?;
    CNode(bridge.cnode)
        .move_(BRIDGE_CHILD_LINK, BRIDGE_CNODE_BITS, ROOT, up_cap, DEPTH)
        .step("the bridge's child link")?;
    CNode(bridge.cnode)
        .move_(BRIDGE_PARENT_LINK, BRIDGE_CNODE_BITS, ROOT, down_cap, DEPTH)
        .step("the bridge's parent link")?;
    launch(alloc, &mut bridge, bridge_main, 0, priority)?;
    Ok(bridge)
}
