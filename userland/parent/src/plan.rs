//! The system plan a root task builds at boot: buses (with the bridges that join each child bus
//! to its parent) and modules, with their memberships, devices, interrupts, scheduling and
//! restart policy. The build tool writes one as Rust source from a checked system description
//! (`hm-system`'s `plan_source`, docs/system-description.md); this module only defines the
//! types, so the plan is data in the root task's image.

/// A whole system.
#[derive(Clone, Copy, Debug)]
pub struct SystemPlan {
    pub name: &'static str,
    /// The first physical address the board's devices cannot reach by DMA (0: no limit): where
    /// modules' DMA pages must lie below.
    pub dma_limit: u64,
    /// In the description's order; bus `buses[i]` has id `i + 1`.
    pub buses: &'static [BusPlan],
    /// In the description's order; the root task is every module's ancestor.
    pub modules: &'static [ModulePlan],
    /// Shared memory regions, in the description's order.
    pub memories: &'static [MemoryPlan],
}

/// A region of RAM several modules map.
#[derive(Clone, Copy, Debug)]
pub struct MemoryPlan {
    pub name: &'static str,
    pub pages: u32,
    /// Uncached, physically contiguous and below the DMA limit, for a device to reach.
    pub dma: bool,
}

/// The plan with nothing in it (a build without a system description).
pub const EMPTY: SystemPlan = SystemPlan { name: "", dma_limit: 0, buses: &[], modules: &[], memories: &[] };

/// One bus.
#[derive(Clone, Copy, Debug)]
pub struct BusPlan {
    pub name: &'static str,
    /// Its id in the tree (1-based index in `SystemPlan::buses`).
    pub id: u16,
    /// The parent bus's id; `None` for the root bus.
    pub parent: Option<u16>,
    /// For a child bus: its bridge's member id on this bus (the up link) and on the parent bus
    /// (a down link), and the filters of what may pass up and down (class sets as words).
    pub up_link: u16,
    pub down_link: u16,
    pub up: [u64; 4],
    pub down: [u64; 4],
}

/// One module.
#[derive(Clone, Copy, Debug)]
pub struct ModulePlan {
    pub name: &'static str,
    /// Which of the root task's programs it runs.
    pub program: &'static str,
    /// The index in `SystemPlan::modules` of the module that supervises it; `None` for the
    /// root task.
    pub parent: Option<u16>,
    pub priority: u8,
    pub budget_us: u64,
    pub period_us: u64,
    /// `(bus id, member id)`, in the order the module listed its buses.
    pub memberships: &'static [(u16, u16)],
    /// The classes it subscribes to on each of its buses, and all it may subscribe to.
    pub subscribe: [u64; 4],
    /// The classes it may publish (a class set as words).
    pub publish: [u64; 4],
    /// Device frames to map: `(physical address, bytes)`, each 4 KiB aligned.
    pub devices: &'static [(u64, u64)],
    /// The register blocks in those frames, as the device tree gives them: `(physical
    /// address, bytes)`, each inside frames of `devices` listed in address order.
    pub registers: &'static [(u64, u64)],
    /// Interrupts (GIC INTIDs) it handles.
    pub irqs: &'static [u32],
    pub restart: RestartPlan,
    /// Pages of uncached RAM it gets for DMA, physically contiguous.
    pub dma_pages: u32,
    /// The shared memory regions it maps: indices into `SystemPlan::memories`.
    pub memory: &'static [u16],
    /// It gets its parent's control capability (`hm_parent::control`).
    pub control: bool,
    /// How long it may stay in one event handler before its parent's watchdog counts it hung
    /// and fails it (0: not watched).
    pub watchdog_ms: u64,
}

/// What the parent does when the module fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPlan {
    Never,
    /// After a fault or an exit, at most `max` times in `window_ms`.
    Always {
        max: u32,
        window_ms: u64,
    },
    /// After a fault only, at most `max` times in `window_ms`.
    OnFault {
        max: u32,
        window_ms: u64,
    },
}
