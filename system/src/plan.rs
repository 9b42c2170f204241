//! The resolved plan: what a system description means on its board, once it has passed every
//! check. Buses carry their members with assigned ids and roles, modules their device regions,
//! 4 KiB frames and INTIDs. This module owns those types and their printing as tables.

use crate::board::BoardName;
use hm_bus::class::ClassSet;
use hmk_platform::region::Region;
use std::fmt;

/// A checked system.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub system: String,
    pub board: BoardName,
    /// The board tree's `model`.
    pub model: String,
    /// Buses in file order; the root bus has no parent.
    pub buses: Vec<PlannedBus>,
    /// Modules in file order.
    pub modules: Vec<PlannedModule>,
    /// Shared memory regions in file order.
    pub memories: Vec<PlannedMemory>,
}

/// A region of RAM shared by modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedMemory {
    pub name: String,
    pub pages: u32,
    pub dma: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedBus {
    pub name: String,
    pub parent: Option<String>,
    /// Members in id order (ids 1..=63).
    pub members: Vec<Member>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: u8,
    pub role: Role,
}

/// What a membership is, in `hm-bus` terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A module joined to the bus, subscribed to `subscribe`.
    Module { name: String, subscribe: ClassSet },
    /// On a child bus: the bridge to the parent bus, passing `filter` up.
    UpLink { parent_bus: String, filter: ClassSet },
    /// On a parent bus: the bridge to the child bus, passing `filter` down.
    DownLink { child_bus: String, filter: ClassSet },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedModule {
    pub name: String,
    /// The root task's program it runs (`program`, by default the module's name).
    pub program: String,
    /// `root-task` or another module.
    pub parent: String,
    pub priority: u8,
    pub budget_us: u64,
    pub period_us: u64,
    /// `(bus, member id)` in the order the module listed its buses.
    pub memberships: Vec<(String, u8)>,
    pub subscribe: ClassSet,
    /// The classes it may publish.
    pub publish: ClassSet,
    pub devices: Vec<PlannedDevice>,
    /// INTIDs, from its devices and explicit, in the order written.
    pub irqs: Vec<u32>,
    pub restart: Restart,
    /// Pages of uncached RAM it gets for DMA.
    pub dma_pages: u32,
    /// The shared memory regions it maps, by name, in the order it lists them.
    pub memory: Vec<String>,
    /// It holds its parent's control capability.
    pub control: bool,
    /// Its watchdog, in milliseconds (0: none).
    pub watchdog_ms: u64,
}

/// A claimed device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedDevice {
    /// The device-tree node.
    pub node: String,
    /// The claimed registers: the node's whole `reg`, or the explicit range.
    pub regions: Vec<Region>,
    /// Its GIC interrupts (what `irqs = ["from-device"]` takes).
    pub interrupts: Vec<u32>,
}

impl PlannedDevice {
    /// The 4 KiB frames to map: every region rounded out to pages.
    pub fn frames(&self) -> Vec<Region> {
        self.regions.iter().map(|r| r.align_outward(crate::board::PAGE_SIZE)).collect()
    }
}

/// What the parent does when the module fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    Never,
    /// Restart after a fault or an exit, at most `max` times in `window_ms`.
    Always {
        max: u32,
        window_ms: u64,
    },
    /// Restart after a fault only.
    OnFault {
        max: u32,
        window_ms: u64,
    },
}

impl fmt::Display for Restart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Restart::Never => f.write_str("never"),
            Restart::Always { max, window_ms } => write!(f, "always, {max} in {window_ms} ms"),
            Restart::OnFault { max, window_ms } => write!(f, "on-fault, {max} in {window_ms} ms"),
        }
    }
}

/// A class set as the format writes it: `all`, `none`, or the classes with runs shortened.
pub fn class_list(set: ClassSet) -> String {
    if set == ClassSet::ALL {
        return "all".into();
    }
    let classes: Vec<u8> = (0..=255u8).filter(|c| set.contains(*c)).collect();
    if classes.is_empty() {
        return "none".into();
    }
    let mut runs: Vec<String> = Vec::new();
    let mut at = 0;
    while at < classes.len() {
        let mut end = at;
        while end + 1 < classes.len() && classes[end + 1] == classes[end] + 1 {
            end += 1;
        }
        runs.push(if end > at + 1 {
            format!("{}-{}", classes[at], classes[end])
        } else if end == at + 1 {
            format!("{}, {}", classes[at], classes[end])
        } else {
            classes[at].to_string()
        });
        at = end + 1;
    }
    runs.join(", ")
}

fn region_text(r: &Region) -> String {
    format!("{:#010x}..{:#010x}", r.start, r.end)
}

/// Rows of cells printed as aligned columns; a cell may hold several lines.
struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.lines().map(str::len).max().unwrap_or(0));
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
            let text: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            writeln!(f, "  {}", text.join("  ").trim_end())
        };
        line(f, &self.header)?;
        for row in &self.rows {
            let height = row.iter().map(|c| c.lines().count().max(1)).max().unwrap_or(1);
            for i in 0..height {
                let cells: Vec<&str> = row.iter().map(|c| c.lines().nth(i).unwrap_or("")).collect();
                line(f, &cells)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "system {:?} on {} ({})", self.system, self.board, self.model)?;
        writeln!(f)?;
        writeln!(f, "buses")?;
        let mut buses = Table { header: vec!["bus", "parent", "id", "member", "role", "classes"], rows: Vec::new() };
        for bus in &self.buses {
            for (i, member) in bus.members.iter().enumerate() {
                let (who, role, classes) = match &member.role {
                    Role::Module { name, subscribe } => (name.clone(), "member", class_list(*subscribe)),
                    Role::UpLink { parent_bus, filter } => {
                        (format!("bridge to {parent_bus}"), "up link", format!("up: {}", class_list(*filter)))
                    }
                    Role::DownLink { child_bus, filter } => {
                        (format!("bridge to {child_bus}"), "down link", format!("down: {}", class_list(*filter)))
                    }
                };
                let (name, parent) = if i == 0 {
                    (bus.name.clone(), bus.parent.clone().unwrap_or_else(|| "-".into()))
                } else {
                    (String::new(), String::new())
                };
                buses.rows.push(vec![name, parent, member.id.to_string(), who, role.into(), classes]);
            }
            if bus.members.is_empty() {
                let parent = bus.parent.clone().unwrap_or_else(|| "-".into());
                buses.rows.push(vec![bus.name.clone(), parent, "-".into(), "(no members)".into()]);
            }
        }
        write!(f, "{buses}")?;
        writeln!(f)?;
        writeln!(f, "modules")?;
        let mut modules = Table {
            header: vec!["module", "parent", "prio", "budget/period us", "restart", "buses (id)", "devices", "irqs"],
            rows: Vec::new(),
        };
        for m in &self.modules {
            let buses: Vec<String> = m.memberships.iter().map(|(bus, id)| format!("{bus} ({id})")).collect();
            let devices: Vec<String> = m
                .devices
                .iter()
                .flat_map(|d| d.regions.iter().map(move |r| format!("{} {}", d.node, region_text(r))))
                .collect();
            let irqs: Vec<String> = m.irqs.iter().map(u32::to_string).collect();
            modules.rows.push(vec![
                m.name.clone(),
                m.parent.clone(),
                m.priority.to_string(),
                format!("{}/{}", m.budget_us, m.period_us),
                m.restart.to_string(),
                if buses.is_empty() { "-".into() } else { buses.join("\n") },
                if devices.is_empty() { "-".into() } else { devices.join("\n") },
                if irqs.is_empty() { "-".into() } else { irqs.join(", ") },
            ]);
        }
        write!(f, "{modules}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_lists_shorten_runs() {
        let mut set = ClassSet::EMPTY;
        for c in [1, 2, 5, 6, 7, 8, 200] {
            set.insert(c);
        }
        assert_eq!(class_list(set), "1, 2, 5-8, 200");
        assert_eq!(class_list(ClassSet::EMPTY), "none");
        assert_eq!(class_list(ClassSet::ALL), "all");
    }
}
