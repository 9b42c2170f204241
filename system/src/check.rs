//! The checker: from a parsed description and a board to a [`Plan`], or to every problem found.
//!
//! This module owns the rules a system must satisfy (names, the two trees, priorities, budgets,
//! classes, memberships, restart policies, devices and interrupts; `docs/system-description.md`
//! lists them) and the resolution that turns names into member ids, physical regions and INTIDs.
//! It never stops at the first problem: each check records its findings with the line of the
//! offending item, and a plan exists only when there are none.

use crate::board::{Board, BoardName, DeviceNode};
use crate::format::{BusEntry, ClassFilter, Description, DeviceEntry, IrqEntry, ModuleEntry, RestartEntry};
use crate::plan::{Member, Plan, PlannedBus, PlannedDevice, PlannedMemory, PlannedModule, Restart, Role};
use hm_bus::class::ClassSet;
use hm_bus::services::classes::{LOG as LOG_CLASS, LOG_MORE as LOG_MORE_CLASS};
use hmk_platform::region::Region;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use toml::Spanned;

/// The name of the root of the module tree: the root task, which creates the top modules.
pub const ROOT_TASK: &str = "root-task";
/// The root task's priority (seL4's highest): no module is above it.
pub const ROOT_TASK_PRIORITY: i64 = 255;
/// Member ids on a bus are 1..=63.
pub const MAX_BUS_MEMBERS: usize = 63;
/// Restart limits when `max` or `window_ms` is left out.
pub const DEFAULT_RESTART_MAX: u32 = 3;
pub const DEFAULT_RESTART_WINDOW_MS: u64 = 1000;
/// The first INTID that is not a software-generated interrupt.
const FIRST_DEVICE_INTID: i64 = 16;

/// One thing wrong with a description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file, when the problem belongs to one place.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Parses and checks the description in `source`. The board is `board` when given, else the
/// file's `system.board`.
pub fn check_source(source: &str, board: Option<BoardName>) -> Result<Plan, Vec<Problem>> {
    check_source_with(source, board, None)
}

/// [`check_source`], with the names of the programs that exist (the build tool's module
/// crates): a module running any other program is an error.
pub fn check_source_with(
    source: &str,
    board: Option<BoardName>,
    programs: Option<&[String]>,
) -> Result<Plan, Vec<Problem>> {
    let lines = LineIndex::new(source);
    let description: Description = toml::from_str(source).map_err(|e| {
        let line = e.span().map(|s| lines.line_of(s.start));
        vec![Problem { line, message: e.message().trim_end().to_string() }]
    })?;
    let mut checker = Checker { lines, problems: Vec::new(), board: None, programs };
    checker.select_board(&description, board);
    let plan = checker.check(&description);
    let mut problems = checker.problems;
    if problems.is_empty() {
        return Ok(plan);
    }
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    Err(problems)
}

/// Byte offsets of line starts, to turn spans into line numbers.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(source: &str) -> LineIndex {
        LineIndex(std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect())
    }

    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|start| *start <= offset)
    }
}

/// The most DMA pages a module's info page can describe (`hm_parent::info::MAX_DMA_PAGES`).
pub const MAX_DMA_PAGES: i64 = 8;

/// The most pages one shared memory region has, and the most regions one module maps
/// (`hm_parent::info::MAX_SHARED_REGIONS`).
pub const MAX_SHARED_PAGES: i64 = 16;
pub const MAX_SHARED_REGIONS: usize = 4;

struct Checker<'p> {
    lines: LineIndex,
    problems: Vec<Problem>,
    board: Option<Board>,
    /// The programs that exist, when the caller knows them.
    programs: Option<&'p [String]>,
}

/// What kind of item a name belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bus,
    Module,
}

/// A device claim on its way to the plan, with where it was written.
struct Claim {
    module: String,
    node: String,
    frames: Vec<Region>,
    line: usize,
}

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, message: String) {
        let line = Some(self.lines.line_of(span.start));
        self.problems.push(Problem { line, message });
    }

    fn line<T>(&self, item: &Spanned<T>) -> usize {
        self.lines.line_of(item.span().start)
    }

    fn select_board(&mut self, description: &Description, chosen: Option<BoardName>) {
        let from_file = description.system.board.as_ref().and_then(|b| {
            let name = BoardName::parse(b.get_ref());
            if name.is_none() {
                self.error(b.span(), format!("system: board {:?} is not a board; expected virt or rpi4", b.get_ref()));
            }
            name
        });
        let Some(name) = chosen.or(from_file) else {
            if description.system.board.is_none() {
                let span = description.system.name.span();
                self.error(span, "system: no board: set system.board (virt or rpi4) or pass --board".into());
            }
            return;
        };
        match Board::load(name) {
            Ok(board) => self.board = Some(board),
            Err(e) => self.problems.push(Problem { line: None, message: e.to_string() }),
        }
    }

    fn check(&mut self, d: &Description) -> Plan {
        if d.system.name.get_ref().is_empty() {
            self.error(d.system.name.span(), "system: name is empty".into());
        }
        let kinds = self.check_names(d);
        self.check_bus_tree(d, &kinds);
        let mut modules = self.check_modules(d, &kinds);
        let buses = self.assign_members(d, &kinds);
        for (module, entry) in modules.iter_mut().zip(&d.modules) {
            for bus_name in &entry.buses {
                let id = buses.iter().filter(|b| &b.name == bus_name.get_ref()).find_map(|b| {
                    b.members.iter().find_map(|member| match &member.role {
                        Role::Module { name, .. } if name == module.name.as_str() => Some(member.id),
                        _ => None,
                    })
                });
                if let Some(id) = id
                    && !module.memberships.iter().any(|(b, _)| b == bus_name.get_ref())
                {
                    module.memberships.push((bus_name.get_ref().clone(), id));
                }
            }
        }
        let memories = self.check_memories(d, &kinds);
        let (board, model) = match &self.board {
            Some(b) => (b.name, b.model.clone()),
            None => (BoardName::Virt, String::new()),
        };
        Plan { system: d.system.name.get_ref().clone(), board, model, buses, modules, memories }
    }

    /// Shared memory: each region's name is unique (among buses, modules and regions), its size
    /// 1..=MAX_SHARED_PAGES pages; each module maps existing regions, each once, at most
    /// MAX_SHARED_REGIONS of them.
    fn check_memories(&mut self, d: &Description, kinds: &HashMap<String, (Kind, usize)>) -> Vec<PlannedMemory> {
        let mut memories: Vec<PlannedMemory> = Vec::new();
        for entry in &d.memories {
            let name = entry.name.get_ref();
            if name.is_empty() {
                self.error(entry.name.span(), "a memory region has an empty name".into());
            } else if let Some((_, line)) = kinds.get(name) {
                self.error(entry.name.span(), format!("memory {name:?}: the name is already used at line {line}"));
            } else if memories.iter().any(|m| &m.name == name) {
                self.error(entry.name.span(), format!("memory {name:?}: declared twice"));
            }
            let pages = *entry.pages.get_ref();
            if !(1..=MAX_SHARED_PAGES).contains(&pages) {
                let message = format!("memory {name:?}: pages {pages} is outside 1..={MAX_SHARED_PAGES}");
                self.error(entry.pages.span(), message);
            }
            memories.push(PlannedMemory {
                name: name.clone(),
                pages: pages.clamp(0, MAX_SHARED_PAGES) as u32,
                dma: entry.dma,
            });
        }
        for module in &d.modules {
            let module_name = module.name.get_ref();
            if module.memory.len() > MAX_SHARED_REGIONS {
                let message = format!("module {module_name:?}: maps more than {MAX_SHARED_REGIONS} memory regions");
                self.error(module.memory[MAX_SHARED_REGIONS].span(), message);
            }
            for (k, region) in module.memory.iter().enumerate() {
                let name = region.get_ref();
                if !memories.iter().any(|m| &m.name == name) {
                    self.error(region.span(), format!("module {module_name:?}: memory region {name:?} does not exist"));
                } else if module.memory[..k].iter().any(|r| r.get_ref() == name) {
                    self.error(region.span(), format!("module {module_name:?}: maps memory region {name:?} twice"));
                }
            }
        }
        memories
    }

    /// Names are non-empty, unique across buses and modules, and not `root-task`.
    fn check_names(&mut self, d: &Description) -> HashMap<String, (Kind, usize)> {
        let mut kinds: HashMap<String, (Kind, usize)> = HashMap::new();
        let named =
            d.buses.iter().map(|b| (Kind::Bus, &b.name)).chain(d.modules.iter().map(|m| (Kind::Module, &m.name)));
        for (kind, name) in named {
            let what = if kind == Kind::Bus { "bus" } else { "module" };
            let text = name.get_ref();
            if text.is_empty() {
                self.error(name.span(), format!("a {what} has an empty name"));
            } else if text == ROOT_TASK {
                self.error(
                    name.span(),
                    format!("{what} {text:?}: the name {ROOT_TASK:?} is reserved for the root task"),
                );
            } else if let Some((other, line)) = kinds.get(text) {
                let other = if *other == Kind::Bus { "bus" } else { "module" };
                self.error(
                    name.span(),
                    format!("{what} {text:?}: the name is already used by the {other} at line {line}"),
                );
            } else {
                kinds.insert(text.clone(), (kind, self.line(name)));
            }
        }
        kinds
    }

    fn check_bus_tree(&mut self, d: &Description, kinds: &HashMap<String, (Kind, usize)>) {
        let roots: Vec<&BusEntry> = d.buses.iter().filter(|b| b.parent.is_none()).collect();
        match roots.as_slice() {
            [] if d.buses.is_empty() => self.problems.push(Problem {
                line: None,
                message: "the system declares no bus; one [[bus]] without a parent (the root bus) is needed".into(),
            }),
            [] => {
                let span = d.buses[0].name.span();
                self.error(span, "no root bus: every bus has a parent; exactly one bus must have none".into());
            }
            [first, rest @ ..] => {
                let first_line = self.line(&first.name);
                for extra in rest {
                    let message = format!(
                        "bus {:?} has no parent, but bus {:?} (line {first_line}) is already the root bus; \
                         only one bus may have none",
                        extra.name.get_ref(),
                        first.name.get_ref()
                    );
                    self.error(extra.name.span(), message);
                }
            }
        }
        for bus in &d.buses {
            let name = bus.name.get_ref();
            if let Some(parent) = &bus.parent {
                match kinds.get(parent.get_ref()) {
                    Some((Kind::Bus, _)) => {}
                    Some((Kind::Module, _)) => self.error(
                        parent.span(),
                        format!("bus {name:?}: parent {:?} is a module, not a bus", parent.get_ref()),
                    ),
                    None => self.error(
                        parent.span(),
                        format!("bus {name:?}: parent bus {:?} does not exist", parent.get_ref()),
                    ),
                }
            } else {
                for filter in [&bus.up, &bus.down].into_iter().flatten() {
                    let message =
                        format!("bus {name:?}: up and down filter the bridge to a parent bus; a root bus has none");
                    self.error(filter.span(), message);
                }
            }
            for (direction, filter) in [("up", &bus.up), ("down", &bus.down)] {
                if let Some(filter) = filter {
                    self.class_filter(&format!("bus {name:?}: {direction}"), filter);
                }
            }
        }
        let parents: Vec<(&Spanned<String>, Option<&str>)> =
            d.buses.iter().map(|b| (&b.name, b.parent.as_ref().map(|p| p.get_ref().as_str()))).collect();
        self.check_cycles("bus", &parents);
    }

    /// Reports every cycle in a parent graph once (each item has at most one parent).
    fn check_cycles(&mut self, what: &str, items: &[(&Spanned<String>, Option<&str>)]) {
        let parent_of: HashMap<&str, Option<&str>> = items.iter().map(|(n, p)| (n.get_ref().as_str(), *p)).collect();
        let mut reported: Vec<Vec<&str>> = Vec::new();
        for (name, _) in items {
            let mut chain: Vec<&str> = vec![name.get_ref().as_str()];
            let mut at = name.get_ref().as_str();
            while let Some(Some(parent)) = parent_of.get(at) {
                if let Some(start) = chain.iter().position(|n| n == parent) {
                    let mut cycle: Vec<&str> = chain[start..].to_vec();
                    let mut key = cycle.clone();
                    key.sort_unstable();
                    if chain[start] == name.get_ref() && !reported.contains(&key) {
                        cycle.push(parent);
                        let path = cycle.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(" -> ");
                        self.error(name.span(), format!("{what} parents form a cycle: {path}"));
                        reported.push(key);
                    }
                    break;
                }
                chain.push(parent);
                at = parent;
            }
        }
    }

    fn class_filter(&mut self, what: &str, filter: &Spanned<ClassFilter>) -> ClassSet {
        match filter.get_ref() {
            ClassFilter::Word(word) if word == "all" => ClassSet::ALL,
            ClassFilter::Word(word) if word == "none" => ClassSet::EMPTY,
            ClassFilter::Word(word) => {
                self.error(
                    filter.span(),
                    format!("{what}: {word:?} is not a class set; expected a list, \"all\" or \"none\""),
                );
                ClassSet::EMPTY
            }
            ClassFilter::Classes(classes) => self.class_set(what, filter.span(), classes),
        }
    }

    fn class_set(&mut self, what: &str, span: Range<usize>, classes: &[i64]) -> ClassSet {
        let mut set = ClassSet::EMPTY;
        for &class in classes {
            match u8::try_from(class) {
                Ok(c) => set.insert(c),
                Err(_) => self.error(span.clone(), format!("{what}: class {class} is outside 0..=255")),
            }
        }
        set
    }

    fn check_modules(&mut self, d: &Description, kinds: &HashMap<String, (Kind, usize)>) -> Vec<PlannedModule> {
        let priorities: HashMap<&str, i64> =
            d.modules.iter().map(|m| (m.name.get_ref().as_str(), *m.priority.get_ref())).collect();
        for m in &d.modules {
            let name = m.name.get_ref();
            let Some(parent) = &m.parent else { continue };
            match kinds.get(parent.get_ref()) {
                _ if parent.get_ref() == ROOT_TASK => {}
                Some((Kind::Module, _)) => {}
                Some((Kind::Bus, _)) => self.error(
                    parent.span(),
                    format!("module {name:?}: parent {:?} is a bus, not a module", parent.get_ref()),
                ),
                None => self.error(
                    parent.span(),
                    format!("module {name:?}: parent module {:?} does not exist", parent.get_ref()),
                ),
            }
        }
        let parents: Vec<(&Spanned<String>, Option<&str>)> =
            d.modules.iter().map(|m| (&m.name, m.parent.as_ref().map(|p| p.get_ref().as_str()))).collect();
        self.check_cycles("module", &parents);

        let mut claims: Vec<Claim> = Vec::new();
        let mut intids: HashMap<u32, (String, usize)> = HashMap::new();
        let mut planned = Vec::new();
        for m in &d.modules {
            let parent = m.parent.as_ref().map_or(ROOT_TASK, |p| p.get_ref().as_str());
            let parent_priority =
                if parent == ROOT_TASK { Some(ROOT_TASK_PRIORITY) } else { priorities.get(parent).copied() };
            let module = self.check_module(m, parent, parent_priority, kinds, &mut claims, &mut intids);
            planned.push(module);
        }
        planned
    }

    fn check_module(
        &mut self,
        m: &ModuleEntry,
        parent: &str,
        parent_priority: Option<i64>,
        kinds: &HashMap<String, (Kind, usize)>,
        claims: &mut Vec<Claim>,
        intids: &mut HashMap<u32, (String, usize)>,
    ) -> PlannedModule {
        let name = m.name.get_ref().as_str();
        let program = match &m.program {
            Some(program) if program.get_ref().is_empty() => {
                self.error(program.span(), format!("module {name:?}: program is empty"));
                name
            }
            Some(program) => program.get_ref().as_str(),
            None => name,
        };
        if let Some(known) = self.programs.filter(|known| !program.is_empty() && !known.iter().any(|k| k == program)) {
            let span = m.program.as_ref().map_or(m.name.span(), |p| p.span());
            let list = known.join(", ");
            self.error(
                span,
                format!(
                    "module {name:?}: no program {program:?} (programs: {list}); make it with `cargo xtask new module {program}`"
                ),
            );
        }
        let priority = *m.priority.get_ref();
        if !(0..=255).contains(&priority) {
            self.error(m.priority.span(), format!("module {name:?}: priority {priority} is outside 0..=255"));
        } else if let Some(limit) = parent_priority.filter(|p| priority > *p) {
            let message = format!("module {name:?}: priority {priority} is above its parent {parent:?}'s ({limit})");
            self.error(m.priority.span(), message);
        }

        let (budget, period) = (*m.budget_us.get_ref(), *m.period_us.get_ref());
        if period <= 0 {
            self.error(m.period_us.span(), format!("module {name:?}: period_us {period} must be above 0"));
        }
        if budget <= 0 {
            self.error(m.budget_us.span(), format!("module {name:?}: budget_us {budget} must be above 0"));
        } else if period > 0 && budget > period {
            let message = format!("module {name:?}: budget_us {budget} is more than its period_us {period}");
            self.error(m.budget_us.span(), message);
        }

        let mut seen_buses: Vec<&str> = Vec::new();
        for bus in &m.buses {
            let bus_name = bus.get_ref().as_str();
            match kinds.get(bus_name) {
                Some((Kind::Bus, _)) if seen_buses.contains(&bus_name) => {
                    self.error(bus.span(), format!("module {name:?}: joins bus {bus_name:?} twice"));
                }
                Some((Kind::Bus, _)) => seen_buses.push(bus_name),
                Some((Kind::Module, _)) => {
                    self.error(bus.span(), format!("module {name:?}: {bus_name:?} is a module, not a bus"));
                }
                None => self.error(bus.span(), format!("module {name:?}: bus {bus_name:?} does not exist")),
            }
        }
        let subscribe = match &m.subscribe {
            Some(classes) => {
                if m.buses.is_empty() {
                    let message = format!("module {name:?}: subscribes to classes but joins no bus");
                    self.error(classes.span(), message);
                }
                self.class_set(&format!("module {name:?}: subscribe"), classes.span(), classes.get_ref())
            }
            None => ClassSet::EMPTY,
        };
        let publish = match &m.publish {
            Some(classes) => {
                let mut set = self.class_set(&format!("module {name:?}: publish"), classes.span(), classes.get_ref());
                // Every module may log (docs/module-api.md, "Logging").
                set.insert(LOG_CLASS);
                set.insert(LOG_MORE_CLASS);
                set
            }
            None => ClassSet::ALL,
        };
        let watchdog_ms = match &m.watchdog_ms {
            Some(ms) if !(10..=60_000).contains(ms.get_ref()) => {
                let message = format!("module {name:?}: watchdog_ms {} is outside 10..=60000", ms.get_ref());
                self.error(ms.span(), message);
                0
            }
            Some(ms) => *ms.get_ref() as u64,
            None => 0,
        };
        let restart = match &m.restart {
            Some(restart) => self.restart(name, restart),
            None => Restart::Never,
        };

        let devices = self.check_devices(m, claims);
        let irqs = self.check_irqs(m, &devices, intids);
        let dma_pages = match &m.dma_pages {
            Some(pages) if !(0..=MAX_DMA_PAGES).contains(pages.get_ref()) => {
                let message = format!("module {name:?}: dma_pages {} is outside 0..={MAX_DMA_PAGES}", pages.get_ref());
                self.error(pages.span(), message);
                0
            }
            Some(pages) => *pages.get_ref() as u32,
            None => 0,
        };
        PlannedModule {
            name: name.to_string(),
            program: program.to_string(),
            parent: parent.to_string(),
            priority: u8::try_from(priority).unwrap_or(0),
            budget_us: u64::try_from(budget).unwrap_or(0),
            period_us: u64::try_from(period).unwrap_or(0),
            memberships: Vec::new(),
            subscribe,
            publish,
            devices,
            irqs,
            restart,
            dma_pages,
            memory: m.memory.iter().map(|r| r.get_ref().clone()).collect(),
            control: m.control,
            watchdog_ms,
        }
    }

    fn restart(&mut self, name: &str, restart: &Spanned<RestartEntry>) -> Restart {
        let RestartEntry { policy, max, window_ms } = restart.get_ref();
        let span = restart.span();
        if policy == "never" {
            if max.is_some() || window_ms.is_some() {
                let message = format!("module {name:?}: restart policy \"never\" takes no max or window_ms");
                self.error(span, message);
            }
            return Restart::Never;
        }
        let max = match max.map(u32::try_from) {
            None => DEFAULT_RESTART_MAX,
            Some(Ok(max)) if max > 0 => max,
            Some(_) => {
                let message = format!("module {name:?}: restart max {} must be in 1..=4294967295", max.unwrap_or(0));
                self.error(span.clone(), message);
                0
            }
        };
        let window_ms = match window_ms.map(u64::try_from) {
            None => DEFAULT_RESTART_WINDOW_MS,
            Some(Ok(window)) if window > 0 => window,
            Some(_) => {
                let message = format!("module {name:?}: restart window_ms {} must be above 0", window_ms.unwrap_or(0));
                self.error(span.clone(), message);
                0
            }
        };
        match policy.as_str() {
            "always" => Restart::Always { max, window_ms },
            "on-fault" => Restart::OnFault { max, window_ms },
            other => {
                let message = format!(
                    "module {name:?}: restart policy {other:?} is not a policy; expected never, always or on-fault"
                );
                self.error(span, message);
                Restart::Never
            }
        }
    }

    fn check_devices(&mut self, m: &ModuleEntry, claims: &mut Vec<Claim>) -> Vec<PlannedDevice> {
        let name = m.name.get_ref().as_str();
        let mut devices: Vec<PlannedDevice> = Vec::new();
        for entry in &m.devices {
            let Some(device) = self.resolve_device(name, entry) else { continue };
            let line = self.line(entry);
            if devices.iter().any(|d| d.node == device.node && d.regions == device.regions) {
                self.error(entry.span(), format!("module {name:?}: claims device {} twice", device.node));
                continue;
            }
            let frames = device.frames();
            if let Some(board) = &self.board
                && let Some(kernel) = board.kernel_regions.iter().find(|k| frames.iter().any(|f| f.overlaps(k)))
            {
                let message = format!(
                    "module {name:?}: device {} overlaps the interrupt controller at {:#x}..{:#x}, \
                     which the kernel owns",
                    device.node, kernel.start, kernel.end
                );
                self.error(entry.span(), message);
            }
            let clash = claims
                .iter()
                .find(|c| c.module != name && c.frames.iter().any(|cf| frames.iter().any(|f| f.overlaps(cf))));
            if let Some(other) = clash {
                let message = format!(
                    "module {name:?}: device {} shares 4 KiB frames with device {} of module {:?} (line {})",
                    device.node, other.node, other.module, other.line
                );
                self.error(entry.span(), message);
            }
            claims.push(Claim { module: name.to_string(), node: device.node.clone(), frames, line });
            devices.push(device);
        }
        devices
    }

    /// Finds the device an entry names on the board and checks it may be claimed.
    fn resolve_device(&mut self, module: &str, entry: &Spanned<DeviceEntry>) -> Option<PlannedDevice> {
        let span = entry.span();
        let DeviceEntry { compatible, index, name, address, size } = entry.get_ref();
        let selectors = [compatible.is_some(), name.is_some(), address.is_some()].iter().filter(|s| **s).count();
        if selectors != 1 {
            let message = format!(
                "module {module:?}: a device needs exactly one of compatible (with index), name, or address (with size)"
            );
            self.error(span, message);
            return None;
        }
        if index.is_some() && compatible.is_none() {
            self.error(span, format!("module {module:?}: a device's index goes with compatible only"));
            return None;
        }
        if size.is_some() && address.is_none() {
            self.error(span, format!("module {module:?}: a device's size goes with address only"));
            return None;
        }
        let board = self.board.as_ref()?;
        let board_name = board.name;
        let found: Result<&DeviceNode, String> = if let Some(compatible) = compatible {
            find_compatible(board, compatible, index.unwrap_or(0))
        } else if let Some(name) = name {
            find_named(board, name)
        } else {
            return self.explicit_region(module, span, address.unwrap_or(0), *size);
        };
        let device = match found {
            Ok(device) => device,
            Err(why) => {
                self.error(span, format!("module {module:?}: on {board_name}, {why}"));
                return None;
            }
        };
        if !device.enabled {
            let message = format!("module {module:?}: device {} is disabled on {board_name} (status)", device.path);
            self.error(span, message);
            return None;
        }
        if device.regions.is_empty() {
            let message = format!(
                "module {module:?}: device {} has no registers the CPU can reach on {board_name} (no reg); \
                 it is reached through another device's driver",
                device.path
            );
            self.error(span, message);
            return None;
        }
        Some(PlannedDevice {
            node: device.path.clone(),
            regions: device.regions.clone(),
            interrupts: device.interrupts.clone(),
        })
    }

    /// An `{ address, size }` claim: not RAM, and inside one device's registers.
    fn explicit_region(
        &mut self,
        module: &str,
        span: Range<usize>,
        address: i64,
        size: Option<i64>,
    ) -> Option<PlannedDevice> {
        let Some(size) = size else {
            self.error(span, format!("module {module:?}: a device at an address needs a size"));
            return None;
        };
        let (Ok(start), Ok(length)) = (u64::try_from(address), u64::try_from(size)) else {
            self.error(
                span,
                format!("module {module:?}: device address {address:#x} and size {size:#x} must not be negative"),
            );
            return None;
        };
        if length == 0 {
            self.error(span, format!("module {module:?}: device at {start:#x} has size 0"));
            return None;
        }
        let region = Region::with_size(start, length);
        let board = self.board.as_ref()?;
        let board_name = board.name;
        if let Some(ram) = board.ram_overlapping(region) {
            let message = format!(
                "module {module:?}: {:#x}..{:#x} is RAM on {board_name} ({:#x}..{:#x}), not a device",
                region.start, region.end, ram.start, ram.end
            );
            self.error(span, message);
            return None;
        }
        match board.device_covering(region) {
            Some((device, _)) if !device.enabled => {
                let message = format!("module {module:?}: device {} is disabled on {board_name} (status)", device.path);
                self.error(span, message);
                None
            }
            Some((device, _)) => Some(PlannedDevice {
                node: device.path.clone(),
                regions: vec![region],
                interrupts: device.interrupts.clone(),
            }),
            None => {
                let message = format!(
                    "module {module:?}: no device on {board_name} has registers covering {:#x}..{:#x}",
                    region.start, region.end
                );
                self.error(span, message);
                None
            }
        }
    }

    fn check_irqs(
        &mut self,
        m: &ModuleEntry,
        devices: &[PlannedDevice],
        intids: &mut HashMap<u32, (String, usize)>,
    ) -> Vec<u32> {
        let name = m.name.get_ref().as_str();
        let mut planned = Vec::new();
        for entry in &m.irqs {
            let span = entry.span();
            let wanted: Vec<u32> = match entry.get_ref() {
                IrqEntry::Word(word) if word == "from-device" => {
                    if m.devices.is_empty() {
                        self.error(
                            span,
                            format!("module {name:?}: irqs has \"from-device\" but the module claims no device"),
                        );
                        continue;
                    }
                    let from_devices: Vec<u32> = devices.iter().flat_map(|d| d.interrupts.iter().copied()).collect();
                    if from_devices.is_empty() && devices.len() == m.devices.len() {
                        self.error(
                            span.clone(),
                            format!("module {name:?}: irqs has \"from-device\" but its devices have no GIC interrupt"),
                        );
                    }
                    from_devices
                }
                IrqEntry::Word(word) => {
                    let message = format!("module {name:?}: irq {word:?} is not an INTID or \"from-device\"");
                    self.error(span, message);
                    continue;
                }
                IrqEntry::Named { name: wanted } => {
                    let named: Vec<u32> = devices
                        .iter()
                        .filter_map(|d| self.board.as_ref()?.devices.iter().find(|node| node.path == d.node))
                        .flat_map(|node| node.named_interrupts.iter().filter(|(n, _)| n == wanted).map(|&(_, i)| i))
                        .collect();
                    if named.is_empty() && devices.len() == m.devices.len() {
                        let message = format!("module {name:?}: none of its devices has an interrupt named {wanted:?}");
                        self.error(span, message);
                        continue;
                    }
                    named
                }
                IrqEntry::Intid(intid) => match self.explicit_intid(name, span.clone(), *intid) {
                    Some(intid) => vec![intid],
                    None => continue,
                },
            };
            for intid in wanted {
                if let Some(board) = &self.board
                    && intid == board.kernel_timer_intid
                {
                    let message = format!("module {name:?}: INTID {intid} is the kernel timer's");
                    self.error(span.clone(), message);
                    continue;
                }
                if let Some((other, line)) = intids.get(&intid) {
                    let message =
                        format!("module {name:?}: INTID {intid} is already claimed by module {other:?} (line {line})");
                    self.error(span.clone(), message);
                    continue;
                }
                intids.insert(intid, (name.to_string(), self.lines.line_of(span.start)));
                planned.push(intid);
            }
        }
        planned
    }

    fn explicit_intid(&mut self, module: &str, span: Range<usize>, intid: i64) -> Option<u32> {
        if intid < FIRST_DEVICE_INTID {
            let message = if intid < 0 {
                format!("module {module:?}: INTID {intid} is negative")
            } else {
                format!(
                    "module {module:?}: INTID {intid} is a software-generated interrupt (0..=15), not a device line"
                )
            };
            self.error(span, message);
            return None;
        }
        let lines = self.board.as_ref().map_or(1020, |b| b.gic_lines);
        match u32::try_from(intid) {
            Ok(intid) if intid < lines => Some(intid),
            _ => {
                let board = self.board.as_ref().map_or("the board".into(), |b| b.name.to_string());
                let message =
                    format!("module {module:?}: INTID {intid} is not below {lines}, the GIC's line count on {board}");
                self.error(span, message);
                None
            }
        }
    }

    /// Gives every bus its members: the up link to its parent first (id 1), then the modules
    /// that join it in file order, then a down link per child bus in file order.
    fn assign_members(&mut self, d: &Description, kinds: &HashMap<String, (Kind, usize)>) -> Vec<PlannedBus> {
        let is_bus = |name: &str| matches!(kinds.get(name), Some((Kind::Bus, _)));
        let mut buses = Vec::new();
        for bus in &d.buses {
            let name = bus.name.get_ref();
            let mut roles: Vec<Role> = Vec::new();
            if let Some(parent) = bus.parent.as_ref().filter(|p| is_bus(p.get_ref())) {
                let filter = bus.up.as_ref().map_or(ClassSet::EMPTY, |f| self.quiet_filter(f));
                roles.push(Role::UpLink { parent_bus: parent.get_ref().clone(), filter });
            }
            for m in d.modules.iter().filter(|m| m.buses.iter().any(|b| b.get_ref() == name)) {
                let subscribe = m.subscribe.as_ref().map_or(ClassSet::EMPTY, |s| quiet_classes(s.get_ref()));
                let role = Role::Module { name: m.name.get_ref().clone(), subscribe };
                if !roles.contains(&role) {
                    roles.push(role);
                }
            }
            for child in d.buses.iter().filter(|c| c.parent.as_ref().is_some_and(|p| p.get_ref() == name)) {
                let filter = child.down.as_ref().map_or(ClassSet::EMPTY, |f| self.quiet_filter(f));
                roles.push(Role::DownLink { child_bus: child.name.get_ref().clone(), filter });
            }
            if roles.len() > MAX_BUS_MEMBERS {
                let message = format!(
                    "bus {name:?} has {} members counting its bridges; a bus has at most {MAX_BUS_MEMBERS}",
                    roles.len()
                );
                self.error(bus.name.span(), message);
            }
            let members =
                roles.into_iter().zip(1..=MAX_BUS_MEMBERS as u8).map(|(role, id)| Member { id, role }).collect();
            buses.push(PlannedBus {
                name: name.clone(),
                parent: bus.parent.as_ref().map(|p| p.get_ref().clone()),
                members,
            });
        }
        buses
    }

    /// A filter already checked by [`Self::class_filter`], without reporting again.
    fn quiet_filter(&self, filter: &Spanned<ClassFilter>) -> ClassSet {
        match filter.get_ref() {
            ClassFilter::Word(word) if word == "all" => ClassSet::ALL,
            ClassFilter::Word(_) => ClassSet::EMPTY,
            ClassFilter::Classes(classes) => quiet_classes(classes),
        }
    }
}

fn quiet_classes(classes: &[i64]) -> ClassSet {
    let mut set = ClassSet::EMPTY;
    for class in classes.iter().filter_map(|c| u8::try_from(*c).ok()) {
        set.insert(class);
    }
    set
}

/// The `index`th node (0-based, tree order) compatible with `compatible`.
fn find_compatible<'b>(board: &'b Board, compatible: &str, index: i64) -> Result<&'b DeviceNode, String> {
    let matches: Vec<&DeviceNode> = board.devices.iter().filter(|d| d.is_compatible(compatible)).collect();
    if matches.is_empty() {
        return Err(format!("no device is compatible with {compatible:?}"));
    }
    usize::try_from(index).ok().and_then(|i| matches.get(i).copied()).ok_or_else(|| {
        let count = matches.len();
        format!(
            "there is no index {index}: {count} device(s) are compatible with {compatible:?} (index 0..={})",
            count - 1
        )
    })
}

/// A node by path (`/soc/serial@7e201000`), alias (`uart0`), label (`uart0` in `__symbols__`),
/// node name (`serial@7e201000`) or, when only one node has it, name without unit address.
fn find_named<'b>(board: &'b Board, name: &str) -> Result<&'b DeviceNode, String> {
    let path = if name.starts_with('/') {
        Some(name.to_string())
    } else {
        let by_alias = board.aliases.iter().find(|(alias, _)| alias == name);
        let by_label = board.labels.iter().find(|(label, _)| label == name);
        by_alias.or(by_label).map(|(_, path)| path.clone())
    };
    if let Some(path) = path {
        return board.device_at(&path).ok_or_else(|| format!("device {name:?} ({path}) is not a device node"));
    }
    if let Some(device) = board.devices.iter().find(|d| d.node_name() == name) {
        return Ok(device);
    }
    let same_base: Vec<&DeviceNode> = board.devices.iter().filter(|d| d.base_name() == name).collect();
    match same_base.as_slice() {
        [] => Err(format!("no device is named {name:?}")),
        [one] => Ok(one),
        many => {
            let paths: Vec<&str> = many.iter().map(|d| d.path.as_str()).take(4).collect();
            let more = if many.len() > 4 { ", ..." } else { "" };
            Err(format!("device name {name:?} is ambiguous ({}{more}); give the node name or path", paths.join(", ")))
        }
    }
}
