//! The file format: what a system description says, exactly as written.
//!
//! This module owns the serde shape of the TOML file and nothing else: it accepts every value of
//! the right TOML type and keeps each one's byte span, so the checker ([`crate::check`]) can
//! judge ranges and references itself, report every problem at once and name the line.
//! Numbers are read as `i64` (TOML's own integer) for that reason. Unknown keys are errors.

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Description {
    pub system: SystemSection,
    #[serde(default, rename = "bus")]
    pub buses: Vec<BusEntry>,
    #[serde(default, rename = "module")]
    pub modules: Vec<ModuleEntry>,
    #[serde(default, rename = "memory")]
    pub memories: Vec<MemoryEntry>,
}

/// One `[[memory]]`: RAM shared by the modules that list it in their `memory`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryEntry {
    pub name: Spanned<String>,
    pub pages: Spanned<i64>,
    /// Uncached, physically contiguous, below the board's DMA limit, its physical address
    /// given to the modules: a device may reach it.
    #[serde(default)]
    pub dma: bool,
}

/// `[system]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemSection {
    pub name: Spanned<String>,
    /// `virt` or `rpi4`; may be left out when the board is given on the command line.
    pub board: Option<Spanned<String>>,
    /// Files of buses and modules this one shares, relative to it ([`crate::source`] joins
    /// them before the checker sees the text).
    #[serde(default)]
    pub include: Vec<Spanned<String>>,
}

/// One `[[bus]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusEntry {
    pub name: Spanned<String>,
    /// The parent bus; exactly one bus (the root bus) has none.
    pub parent: Option<Spanned<String>>,
    /// Classes the bridge forwards from this bus to its parent.
    pub up: Option<Spanned<ClassFilter>>,
    /// Classes the bridge forwards from the parent to this bus.
    pub down: Option<Spanned<ClassFilter>>,
}

/// A class set as written: a list of classes, `"all"` or `"none"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ClassFilter {
    Classes(Vec<i64>),
    Word(String),
}

/// One `[[module]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModuleEntry {
    pub name: Spanned<String>,
    /// The module that creates and supervises this one; `root-task` when left out.
    pub parent: Option<Spanned<String>>,
    /// Which of the root task's programs the module runs; its name when left out.
    pub program: Option<Spanned<String>>,
    pub priority: Spanned<i64>,
    pub budget_us: Spanned<i64>,
    pub period_us: Spanned<i64>,
    #[serde(default)]
    pub buses: Vec<Spanned<String>>,
    /// Classes the module subscribes to on every bus it joins (and all it may subscribe to).
    pub subscribe: Option<Spanned<Vec<i64>>>,
    /// Classes the module may publish (log lines, 24 and 26, always); every class when left
    /// out.
    pub publish: Option<Spanned<Vec<i64>>>,
    #[serde(default)]
    pub devices: Vec<Spanned<DeviceEntry>>,
    #[serde(default)]
    pub irqs: Vec<Spanned<IrqEntry>>,
    pub restart: Option<Spanned<RestartEntry>>,
    /// Pages of uncached RAM for the device to reach (DMA), with their physical addresses.
    pub dma_pages: Option<Spanned<i64>>,
    /// The `[[memory]]` regions it maps.
    #[serde(default)]
    pub memory: Vec<Spanned<String>>,
    /// Whether it may ask its parent for the modules' state and stop, start and restart them
    /// (the shell).
    #[serde(default)]
    pub control: bool,
    /// How long the module may stay in one event handler before its parent counts it hung.
    pub watchdog_ms: Option<Spanned<i64>>,
}

/// A device claim: exactly one of `compatible` (with an optional `index`), `name`, or
/// `address` with `size`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceEntry {
    pub compatible: Option<String>,
    pub index: Option<i64>,
    pub name: Option<String>,
    pub address: Option<i64>,
    pub size: Option<i64>,
}

/// An interrupt claim: `"from-device"` or an INTID.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum IrqEntry {
    Intid(i64),
    Word(String),
    /// `{ name = "msi" }`: the interrupt of that name in a claimed device's `interrupt-names`.
    Named {
        name: String,
    },
}

/// `restart = { policy = ..., max = ..., window_ms = ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartEntry {
    pub policy: String,
    pub max: Option<i64>,
    pub window_ms: Option<i64>,
}
