//! What a module finds when it starts: its parent writes a [`ModuleInfo`] into a frame it maps
//! read-only at [`MODULE_INFO`] in the module's address space and passes that address in x0.
//! The same page tells a restarted instance how often it has been restarted.

use hmk_sys::invocation::CPtr;

/// Where a module's info page is mapped (read-only) in its address space.
pub const MODULE_INFO: u64 = 0x0f00_0000;
/// Where a module's inboxes are mapped: membership `k` at `MODULE_INBOXES + k * 4096`.
pub const MODULE_INBOXES: u64 = 0x0e00_0000;
/// Where a module loaded from its own ELF has its IPC buffer (passed to it in x1).
pub const MODULE_IPC_BUFFER: u64 = 0x0f10_0000;
/// Where a module's device frames are mapped: device frame `k` at `MODULE_DEVICES + k * 4096`.
pub const MODULE_DEVICES: u64 = 0x0d00_0000;
/// Where a module's shared memory regions are mapped: region `k` from
/// `MODULE_SHARED + k * SHARED_STRIDE`.
pub const MODULE_SHARED: u64 = 0x0b00_0000;
pub const SHARED_STRIDE: u64 = 0x10_0000;
pub const MAX_SHARED_REGIONS: usize = 4;
/// Where a module's DMA pages are mapped (uncached, one after another).
pub const MODULE_DMA: u64 = 0x0c00_0000;
pub const MAX_DMA_PAGES: usize = 8;
/// Its CSpace: the notification its buses (and interrupts) signal, then its bus capabilities
/// (membership `k` at `MODULE_BUS_CAPS + k`), then its IRQ handlers (`MODULE_IRQS + k`).
pub const MODULE_CNODE_BITS: u64 = 5;
pub const MODULE_NOTIFICATION: CPtr = 1;
pub const MODULE_BUS_CAPS: CPtr = 2;
pub const MODULE_IRQS: CPtr = 16;
/// Where a watched module's status page is mapped (read-write; its parent maps it too).
pub const MODULE_STATUS: u64 = 0x0f20_0000;

/// A watched module's status page (a module with `watchdog_ms` in its description): word 0 is
/// 0 while the module waits for an event, and 1 + the virtual counter's value when it began
/// handling one (set by `hm_module::run`). Its parent's watchdog reads it.
pub const STATUS_BUSY_SINCE: usize = 0;

/// Its capability to its parent's control service, for a module granted `control`.
pub const MODULE_CONTROL: CPtr = 12;
pub const MAX_SEATS: usize = 8;
pub const MAX_DEVICE_FRAMES: usize = 8;
pub const MAX_REGISTER_BLOCKS: usize = 8;
pub const MAX_IRQS: usize = 8;
/// Entries of the directory every info page carries: buses, and modules' memberships.
pub const MAX_DIRECTORY_BUSES: usize = 8;
pub const MAX_DIRECTORY_MEMBERS: usize = 48;
/// The badge an interrupt `k` of the module signals its notification with (bus deliveries
/// signal `1 << member id`, below bit 64 - MAX_IRQS).
pub const fn irq_badge(k: usize) -> u64 {
    1 << (63 - k)
}

/// One membership: the bus, the module's member id there, its capability and inbox.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Seat {
    pub bus: u64,
    pub member: u64,
    pub endpoint: CPtr,
    pub inbox: u64,
}

/// One block of device registers the module may use: mapped at `vaddr` (the register at
/// offset 0 of the block, whatever its offset inside its page), `size` bytes from physical
/// address `paddr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct RegisterBlock {
    pub vaddr: u64,
    pub paddr: u64,
    pub size: u64,
}

/// A region of RAM the module shares with others (a `[[memory]]` of its system description),
/// mapped read-write at `vaddr`: `bytes` long, physically contiguous from `paddr`; uncached
/// when it is a DMA region.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct SharedRegion {
    /// Its name, NUL-padded.
    pub name: [u8; 24],
    pub vaddr: u64,
    pub paddr: u64,
    pub bytes: u64,
}

impl SharedRegion {
    /// The name as text.
    pub fn name(&self) -> &str {
        let length = self.name.iter().position(|&b| b == 0).unwrap_or(self.name.len());
        core::str::from_utf8(&self.name[..length]).unwrap_or("?")
    }
}

/// A bus of the system, for the directory: its name, id, and its parent bus's id (0: the root).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct BusName {
    pub name: [u8; 20],
    pub id: u16,
    pub parent: u16,
}

/// One membership of a module of the system, for the directory: which module (by name and by
/// its index in its parent's plan) is member `member` of bus `bus`. What a message's
/// `origin_bus` and `origin_member` (stamped by buses, unforgeable) name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MemberName {
    pub name: [u8; 20],
    pub module: u16,
    pub bus: u16,
    pub member: u16,
    pub reserved: u16,
}

/// Text of a NUL-padded name field.
pub fn padded_text(bytes: &[u8]) -> &str {
    let length = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..length]).unwrap_or("?")
}

/// `text` as a NUL-padded field of `N` bytes (cut to `N - 1`).
pub fn padded<const N: usize>(text: &str) -> [u8; N] {
    let mut field = [0; N];
    let length = text.len().min(N - 1);
    field[..length].copy_from_slice(&text.as_bytes()[..length]);
    field
}

impl BusName {
    pub fn name(&self) -> &str {
        padded_text(&self.name)
    }
}

impl MemberName {
    pub fn name(&self) -> &str {
        padded_text(&self.name)
    }
}

/// The module's view of what its parent gave it.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct ModuleInfo {
    /// Its name, NUL-padded.
    pub name: [u8; 32],
    /// How many times its parent has restarted it.
    pub restarts: u64,
    /// The classes it is to subscribe to on each of its buses.
    pub subscribe: [u64; 4],
    pub seat_count: u64,
    pub seats: [Seat; MAX_SEATS],
    /// Virtual addresses of its device frames.
    pub device_count: u64,
    pub devices: [u64; MAX_DEVICE_FRAMES],
    /// Its interrupts: `(INTID, handler capability)`.
    pub irq_count: u64,
    pub irqs: [(u64, CPtr); MAX_IRQS],
    /// Its devices' register blocks, in the order the system description claims them.
    pub register_count: u64,
    pub registers: [RegisterBlock; MAX_REGISTER_BLOCKS],
    /// Its DMA pages: uncached RAM, physically contiguous, mapped from `dma_vaddr` on, the
    /// first at physical address `dma_paddr`.
    pub dma_pages: u64,
    pub dma_vaddr: u64,
    pub dma_paddr: u64,
    /// The shared memory regions it maps, in the order its description lists them.
    pub shared_count: u64,
    pub shared: [SharedRegion; MAX_SHARED_REGIONS],
    /// Its capability to ask its parent for the state of the modules and to stop, start and
    /// restart them ([`crate::control`]; 0: none, its description does not grant `control`).
    pub control: CPtr,
    /// Its status page's address ([`MODULE_STATUS`]), 0 when it is not watched.
    pub status: u64,
    /// The system's directory: every bus, and every module's memberships, so that a module can
    /// name a message's origin.
    pub bus_count: u64,
    pub buses: [BusName; MAX_DIRECTORY_BUSES],
    pub member_count: u64,
    pub members: [MemberName; MAX_DIRECTORY_MEMBERS],
}

const _: () = assert!(core::mem::size_of::<ModuleInfo>() <= 4096);

impl ModuleInfo {
    pub const EMPTY: ModuleInfo = ModuleInfo {
        name: [0; 32],
        restarts: 0,
        subscribe: [0; 4],
        seat_count: 0,
        seats: [Seat { bus: 0, member: 0, endpoint: 0, inbox: 0 }; MAX_SEATS],
        device_count: 0,
        devices: [0; MAX_DEVICE_FRAMES],
        irq_count: 0,
        irqs: [(0, 0); MAX_IRQS],
        register_count: 0,
        registers: [RegisterBlock { vaddr: 0, paddr: 0, size: 0 }; MAX_REGISTER_BLOCKS],
        dma_pages: 0,
        dma_vaddr: 0,
        dma_paddr: 0,
        shared_count: 0,
        shared: [SharedRegion { name: [0; 24], vaddr: 0, paddr: 0, bytes: 0 }; MAX_SHARED_REGIONS],
        control: 0,
        status: 0,
        bus_count: 0,
        buses: [BusName { name: [0; 20], id: 0, parent: 0 }; MAX_DIRECTORY_BUSES],
        member_count: 0,
        members: [MemberName { name: [0; 20], module: 0, bus: 0, member: 0, reserved: 0 }; MAX_DIRECTORY_MEMBERS],
    };

    /// The name as text.
    pub fn name(&self) -> &str {
        padded_text(&self.name)
    }

    /// The memberships in use.
    pub fn seats(&self) -> &[Seat] {
        &self.seats[..(self.seat_count as usize).min(MAX_SEATS)]
    }

    /// Its register blocks.
    pub fn registers(&self) -> &[RegisterBlock] {
        &self.registers[..(self.register_count as usize).min(MAX_REGISTER_BLOCKS)]
    }

    /// Its shared memory regions.
    pub fn shared(&self) -> &[SharedRegion] {
        &self.shared[..(self.shared_count as usize).min(MAX_SHARED_REGIONS)]
    }

    /// The system's buses.
    pub fn buses(&self) -> &[BusName] {
        &self.buses[..(self.bus_count as usize).min(MAX_DIRECTORY_BUSES)]
    }

    /// Every module's memberships.
    pub fn members(&self) -> &[MemberName] {
        &self.members[..(self.member_count as usize).min(MAX_DIRECTORY_MEMBERS)]
    }

    /// The module that is member `member` of bus `bus`, if the directory has it.
    pub fn member_name(&self, bus: u16, member: u16) -> Option<&str> {
        self.members().iter().find(|m| m.bus == bus && m.member == member).map(MemberName::name)
    }

    /// Its interrupts: `(INTID, IRQ handler capability)`.
    pub fn irqs(&self) -> &[(u64, CPtr)] {
        &self.irqs[..(self.irq_count as usize).min(MAX_IRQS)]
    }

    /// The info page of the running module.
    ///
    /// # Safety
    /// `address` is the x0 its parent started it with: its info page, mapped for its life.
    pub unsafe fn at(address: u64) -> &'static ModuleInfo {
        // SAFETY: forwarded contract; the page holds a ModuleInfo its parent wrote.
        unsafe { &*(address as *const ModuleInfo) }
    }
}
