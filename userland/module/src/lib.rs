//! The module API: what every HM module program (`userland/modules/*`) is written against. A
//! module is a type implementing [`Module`], declared with [`module!`]; its parent starts it
//! with an info page, which [`Context`] reads as typed accessors (its name, how often it was
//! restarted, its register blocks, interrupts and bus seats). [`run`] is the event loop, in the
//! manner of seL4 Microkit's `init` / `notified`: [`Module::init`] once, then
//! [`Module::interrupt`] for each interrupt that arrives and [`Module::message`] for each bus
//! message, in one thread, so a handler never races another. A module's `main.rs` is its
//! driver logic; the plumbing is here.
//!
//! A module's `log` lines go to the console service (class [`classes::LOG`] on its first bus,
//! scope up; the console prints each whole, after the module's name); a module of no bus, or
//! one whose line no bus member took, logs on the kernel's debug console instead.
//!
//! An interrupt's line stays masked in the interrupt controller from its delivery until the
//! module acknowledges it ([`Context::ack`]), after it has quietened the device. A module that
//! fails before its ack is restarted with the line acknowledged by its parent.
#![no_std]

pub use hm_bus::message::PAYLOAD_BYTES;
pub use hm_bus::module::{BusError, Delivery};
pub use hm_bus::services::{self, classes};
pub use hm_bus::{ClassSet, Message, Scope};
pub use hm_parent::control::{Control, ControlError, State, Status};
pub use hm_parent::info::{BusName, MemberName, RegisterBlock, SharedRegion};
#[doc(hidden)]
pub use hmk_rt;

use core::sync::atomic::{AtomicU64, Ordering};
use hm_bus::module::Member;
use hm_parent::info::{MAX_SEATS, MODULE_NOTIFICATION, ModuleInfo, STATUS_BUSY_SINCE, irq_badge};
use hmk_sys::invocation::IrqHandler;
use hmk_sys::syscall;

/// The bus capability log lines are published through (0: none, they go to the kernel).
static LOG_ENDPOINT: AtomicU64 = AtomicU64::new(0);

/// The module's log sink ([`hmk_rt::set_log_sink`]): the line in parts of at most a payload,
/// each [`classes::LOG_MORE`] but the last, [`classes::LOG`]; taken when a member took its
/// first part.
fn bus_log(line: &str) -> bool {
    let endpoint = LOG_ENDPOINT.load(Ordering::SeqCst);
    if endpoint == 0 {
        return false;
    }
    let bytes = line.as_bytes();
    let parts = bytes.len().div_ceil(PAYLOAD_BYTES).max(1);
    for k in 0..parts {
        let part = &bytes[(k * PAYLOAD_BYTES).min(bytes.len())..((k + 1) * PAYLOAD_BYTES).min(bytes.len())];
        let class = if k + 1 == parts { classes::LOG } else { classes::LOG_MORE };
        let taken = hm_bus::module::publish(endpoint, class, Scope::Up, part).is_ok_and(|d| d.delivered > 0);
        if k == 0 && !taken {
            return false;
        }
    }
    true
}

/// What a module does: each handler has a default that does nothing.
pub trait Module {
    /// Once, when the module starts (again, after a restart: see [`Context::restarts`]).
    fn init(&mut self, _cx: &mut Context) {}
    /// Interrupt `irq` (an index into [`Context::irqs`]) was raised; its line stays masked
    /// until [`Context::ack`].
    fn interrupt(&mut self, _cx: &mut Context, _irq: usize) {}
    /// A message arrived on bus seat `seat` (an index into the module's buses, in the order its
    /// system description lists them).
    fn message(&mut self, _cx: &mut Context, _seat: usize, _message: &Message) {}
}

/// The module's view of what its parent gave it, and its bus memberships.
pub struct Context {
    info: &'static ModuleInfo,
    members: [Option<Member>; MAX_SEATS],
}

impl Context {
    /// Its name in the system description.
    pub fn name(&self) -> &'static str {
        self.info.name()
    }

    /// How often its parent has restarted it (0 on its first run).
    pub fn restarts(&self) -> u64 {
        self.info.restarts
    }

    /// Its devices' register blocks, in the order its system description claims them.
    pub fn registers(&self) -> &'static [RegisterBlock] {
        self.info.registers()
    }

    /// Register block `k` as the register layout `T` (a `tock-registers` struct).
    ///
    /// # Safety
    /// `T` must describe the device's registers at that block and fit in it; the module must
    /// not make a second reference to the block with another layout.
    pub unsafe fn registers_as<T>(&self, k: usize) -> Option<&'static T> {
        let block = self.registers().get(k)?;
        if size_of::<T>() as u64 > block.size.next_multiple_of(4096) {
            return None;
        }
        // SAFETY: the parent mapped the block's frames read-write, uncached, at `block.vaddr`
        // for the module's life; the caller vouches for the layout.
        Some(unsafe { &*(block.vaddr as *const T) })
    }

    /// Its interrupts: `(INTID, IRQ handler capability)`, in the order of its description.
    pub fn irqs(&self) -> &'static [(u64, u64)] {
        self.info.irqs()
    }

    /// Acknowledges interrupt `irq`: its line is unmasked, and a device still asserting it
    /// raises it again.
    pub fn ack(&self, irq: usize) -> Result<(), hmk_sys::Error> {
        let &(_, handler) = self.irqs().get(irq).ok_or(hmk_sys::Error::RangeError)?;
        IrqHandler(handler).ack()
    }

    /// Its DMA pages, if its description asks for any: uncached RAM, physically contiguous, as
    /// `(virtual address, physical address, bytes)`.
    pub fn dma(&self) -> Option<(u64, u64, u64)> {
        (self.info.dma_pages > 0).then(|| (self.info.dma_vaddr, self.info.dma_paddr, self.info.dma_pages * 4096))
    }

    /// Blocks until interrupt `irq` is raised, for a driver that waits for its device in the
    /// middle of a handler. Bus messages meanwhile wait in the inboxes; other interrupts that
    /// arrive meanwhile are lost to the event loop (the line stays masked until acknowledged).
    pub fn wait_for_interrupt(&self, irq: usize) {
        while syscall::wait(MODULE_NOTIFICATION) & irq_badge(irq) == 0 {}
    }

    /// The shared memory region `name` (a `[[memory]]` its description maps).
    pub fn memory(&self, name: &str) -> Option<&'static SharedRegion> {
        self.info.shared().iter().find(|region| region.name() == name)
    }

    /// The system's buses (the directory its parent gave it).
    pub fn buses(&self) -> &'static [BusName] {
        self.info.buses()
    }

    /// Every module's memberships (the directory): which module is which member of which bus.
    pub fn directory(&self) -> &'static [MemberName] {
        self.info.members()
    }

    /// The name of the module that is member `member` of bus `bus`: what a message's
    /// `origin_bus` and `origin_member` say.
    pub fn member_name(&self, bus: u16, member: u16) -> Option<&'static str> {
        self.info.member_name(bus, member)
    }

    /// Its parent's control service, if its description grants `control`.
    pub fn control(&self) -> Option<Control> {
        (self.info.control != 0).then_some(Control(self.info.control))
    }

    /// How many buses it is a member of.
    pub fn seats(&self) -> usize {
        self.info.seats().len()
    }

    /// The id of the bus of seat `seat`.
    pub fn seat_bus(&self, seat: usize) -> Option<u16> {
        self.info.seats().get(seat).map(|s| s.bus as u16)
    }

    /// What buses stamp as the origin of what it publishes on seat `seat`: `(bus, member id)`.
    pub fn seat_origin(&self, seat: usize) -> Option<(u16, u16)> {
        self.info.seats().get(seat).map(|s| (s.bus as u16, s.member as u16))
    }

    /// Its membership of bus seat `seat`.
    pub fn bus(&self, seat: usize) -> Option<&Member> {
        self.members.get(seat)?.as_ref()
    }

    /// Publishes `bytes` under `class` with `scope` on its first bus.
    pub fn publish(&self, class: u8, scope: Scope, bytes: &[u8]) -> Result<Delivery, BusError> {
        self.publish_on(0, class, scope, bytes)
    }

    /// Publishes on bus seat `seat`.
    pub fn publish_on(&self, seat: usize, class: u8, scope: Scope, bytes: &[u8]) -> Result<Delivery, BusError> {
        self.bus(seat).ok_or(BusError::Refused(0))?.publish(class, scope, bytes)
    }

    /// Replaces its subscriptions on bus seat `seat` (its system description's `subscribe`
    /// is in force from the start).
    pub fn subscribe(&self, seat: usize, classes: ClassSet) -> Result<u64, BusError> {
        self.bus(seat).ok_or(BusError::Refused(0))?.subscribe(classes)
    }

    /// Hands every message waiting in its inboxes to `module`.
    fn deliver(&mut self, module: &mut impl Module) {
        for seat in 0..MAX_SEATS {
            while let Some(message) = self.members[seat].as_mut().and_then(Member::take) {
                module.message(self, seat, &message);
            }
        }
    }
}

/// Runs `module` in the module whose info page is at `info`: [`Module::init`], then forever the
/// messages waiting in its inboxes and the interrupts its notification reports.
///
/// # Safety
/// `info` is the x0 the module was started with (its info page, mapped for its life), and this
/// is the run's only call ([`module!`] makes it so).
pub unsafe fn run(info: u64, mut module: impl Module) -> ! {
    // SAFETY: the caller's contract.
    let (info, members) = unsafe { hm_parent::child::start(info) };
    let mut cx = Context { info, members };
    if let Some(seat) = info.seats().first() {
        LOG_ENDPOINT.store(seat.endpoint, Ordering::SeqCst);
        hmk_rt::set_log_sink(bus_log);
    }
    let status = (info.status != 0).then(|| {
        // SAFETY: the parent mapped the module's status page read-write at `info.status` for
        // its life; its first word is accessed only atomically (here and by the parent).
        unsafe { AtomicU64::from_ptr((info.status as usize + STATUS_BUSY_SINCE) as *mut u64) }
    });
    let busy = |on: bool| {
        if let Some(word) = status {
            word.store(if on { 1 + hmk_rt::counter() } else { 0 }, Ordering::SeqCst);
        }
    };
    busy(true);
    module.init(&mut cx);
    loop {
        cx.deliver(&mut module);
        busy(false);
        let badge = syscall::wait(MODULE_NOTIFICATION);
        busy(true);
        for irq in 0..cx.irqs().len() {
            if badge & irq_badge(irq) != 0 {
                module.interrupt(&mut cx, irq);
            }
        }
    }
}

/// Declares the module program's entry: `hm_module::module!(Clock::new());` runs the
/// [`Module`] the expression makes (on each start) with [`run`].
#[macro_export]
macro_rules! module {
    ($make:expr) => {
        fn hm_module_main(info: u64) {
            // SAFETY: the runtime calls this once per run, with the x0 the parent started the
            // module with: its info page.
            unsafe { $crate::run(info, $make) }
        }
        $crate::hmk_rt::module_entry!(hm_module_main);
    };
}
