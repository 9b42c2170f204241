//! The `shell` module: commands typed at the console (each line arrives from the console
//! module as a bus message, class [`classes::INPUT`]), answered in log lines, which the console
//! prints after the name `shell`. It asks its parent about the modules and has it stop, start
//! and restart them through the control capability its description grants; it publishes and
//! reads bus statistics through its own memberships; it asks the time service for the time of
//! day and the block service for sectors. `help` lists the commands. At its start it prints
//! the tree. A service that does not answer within 300 ms (a one-shot timer of the timer
//! service) is said to be missing. Its description subscribes it to classes 21 (block
//! replies), 23 (time replies), 25 (typed lines), 28 (timer expiries) and 31 (board replies).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use hm_module::services::block::{self, SECTOR_BYTES};
use hm_module::services::board::Facts;
use hm_module::services::timer::{self, Fired};
use hm_module::services::{classes, time_from_reply, utc_text};
use hm_module::{Context, Control, Message, Module, Scope, State};

const HELP: [&str; 12] = [
    "commands:",
    "  tree                        buses and modules: state, restarts, priority, budget, CPU, memory",
    "  restart NAME | stop NAME | start NAME",
    "  publish BUS CLASS TEXT      publish TEXT under CLASS on BUS, scope global",
    "  stats BUS                   what BUS delivered and dropped, in all and per member",
    "  time                        time since boot, and the time of day from the time service",
    "  board                       the board's facts from the board service (the Pi's firmware)",
    "  blk read SECTOR             a sector through the block service, as text",
    "  blk write SECTOR TEXT       TEXT (zero-filled) to a sector through the block service",
    "  help                        this list",
    "errors name what was wrong; names are the system description's",
    "",
];

/// The shared region block requests name, and where in it the shell's sector lies (its last
/// sector, apart from other clients').
const BUFFERS: &str = "disk-buffers";
/// Block request tags the shell uses: reads and writes.
const READ_TAG: u16 = 0x5e11;
const WRITE_TAG: u16 = 0x5e12;
/// How long the shell waits for a service's answer (a one-shot timer of the timer service,
/// tagged with the service's reply class).
const ANSWER_WAIT_US: u64 = 300_000;

fn say(line: &str) {
    log::info!("{line}");
}

/// Milliseconds since the virtual counter started (at boot).
fn uptime_ms() -> u64 {
    hmk_rt::counter() / (hmk_rt::counter_frequency() / 1000).max(1)
}

struct Shell {
    /// The sector a block request in flight is about, if one is.
    block_sector: Option<u64>,
    /// The services asked and not answered yet: their reply classes.
    awaited: Vec<u8>,
}

impl Shell {
    fn control(cx: &Context) -> Result<Control, String> {
        cx.control().ok_or_else(|| String::from("this shell has no control capability (its description grants none)"))
    }

    /// The plan index of module `name`.
    fn module_index(cx: &Context, name: &str) -> Result<u16, String> {
        cx.directory()
            .iter()
            .find(|m| m.name() == name)
            .map(|m| m.module)
            .ok_or_else(|| format!("no module {name:?} (tree lists them)"))
    }

    /// The seat of bus `name`, if the shell is a member of it.
    fn seat(cx: &Context, name: &str) -> Result<usize, String> {
        let bus = cx.buses().iter().find(|b| b.name() == name).ok_or_else(|| format!("no bus {name:?}"))?;
        (0..cx.seats())
            .find(|&k| cx.seat_bus(k) == Some(bus.id))
            .ok_or_else(|| format!("the shell is not a member of bus {name:?}"))
    }

    fn tree(cx: &Context) -> Result<(), String> {
        let control = Self::control(cx)?;
        let first = control.status(0).map_err(|e| format!("tree: {e}"))?;
        let count = first.modules as u16;
        // Each module under the first bus it is a member of (0: none).
        let mut placed: Vec<(u16, u16, &str)> = Vec::new();
        for index in 0..count {
            let memberships = cx.directory().iter().filter(|m| m.module == index);
            if let Some(first) = memberships.clone().next() {
                placed.push((first.bus, index, first.name()));
            }
        }
        say("tree:");
        Self::bus_subtree(cx, control, &placed, 0, 0);
        Ok(())
    }

    /// Prints the modules placed on bus `bus` and, below, its child buses, `depth` deep.
    fn bus_subtree(cx: &Context, control: Control, placed: &[(u16, u16, &str)], bus: u16, depth: usize) {
        let indent = "  ".repeat(depth);
        for &(_, index, name) in placed.iter().filter(|p| p.0 == bus) {
            let line = match control.status(index) {
                Ok(s) => format!(
                    "{indent}  {name:<12} {:<8} restarts {:<2} priority {:<3} budget {}/{} us  cpu {} ms  memory {} KiB",
                    s.state.text(),
                    s.restarts,
                    s.priority,
                    s.budget_us,
                    s.period_us,
                    s.consumed_us / 1000,
                    s.memory_bytes / 1024
                ),
                Err(e) => format!("{indent}  {name:<12} ({e})"),
            };
            say(&line);
        }
        for child in cx.buses().iter().filter(|b| b.parent == bus) {
            say(&format!("{indent}bus {} (id {})", child.name(), child.id));
            Self::bus_subtree(cx, control, placed, child.id, depth + 1);
        }
    }

    fn supervise(cx: &Context, verb: &str, name: &str) -> Result<(), String> {
        let control = Self::control(cx)?;
        let index = Self::module_index(cx, name)?;
        let result = match verb {
            "stop" => control.stop(index),
            "start" => control.start(index),
            _ => control.restart(index),
        };
        result.map_err(|e| format!("{verb} {name}: {e}"))?;
        let state = control.status(index).map(|s| s.state).unwrap_or(State::Absent);
        say(&format!("{verb} {name}: done, {name} is {}", state.text()));
        Ok(())
    }

    fn publish(cx: &Context, bus: &str, class: &str, text: &str) -> Result<(), String> {
        let seat = Self::seat(cx, bus)?;
        let class: u8 = class.parse().map_err(|_| format!("publish: class {class:?} is not a number in 0..=255"))?;
        let delivery =
            cx.publish_on(seat, class, Scope::Global, text.as_bytes()).map_err(|e| format!("publish: {e:?}"))?;
        say(&format!("published on {bus}: delivered to {}, dropped at {}", delivery.delivered, delivery.dropped));
        Ok(())
    }

    fn stats(cx: &Context, bus: &str) -> Result<(), String> {
        let seat = Self::seat(cx, bus)?;
        let member = cx.bus(seat).ok_or("no membership")?;
        let [published, delivered, dropped, received] = member.stats(0).map_err(|e| format!("stats: {e:?}"))?;
        say(&format!(
            "stats {bus}: published {published}, delivered {delivered}, dropped {dropped}, received {received}"
        ));
        let bus_id = cx.buses().iter().find(|b| b.name() == bus).map_or(0, |b| b.id);
        for id in 1..=63u16 {
            let Ok([role, published, delivered, dropped]) = member.stats(id) else { continue };
            let what = match role {
                0 => continue,
                1 => cx.member_name(bus_id, id).unwrap_or("(member)"),
                2 => "(up link)",
                _ => "(down link)",
            };
            say(&format!(
                "  member {id:<2} {what:<12} published {published}, delivered {delivered}, dropped {dropped}"
            ));
        }
        Ok(())
    }

    /// Publishes a request for a service that answers with `reply` and waits for that, up to
    /// [`ANSWER_WAIT_US`] (the timer service says when the wait is over).
    fn ask(&mut self, cx: &Context, request: u8, reply: u8) -> Result<(), String> {
        cx.publish(request, Scope::Global, &[]).map_err(|e| format!("publishing the request: {e:?}"))?;
        if !self.awaited.contains(&reply) {
            self.awaited.push(reply);
        }
        let wait = timer::Request { op: timer::ONCE, tag: u16::from(reply), us: ANSWER_WAIT_US };
        let _ = cx.publish(classes::TIMER_REQUEST, Scope::Global, &wait.to_bytes());
        Ok(())
    }

    /// A reply of class `reply` came: no longer awaited.
    fn answered(&mut self, reply: u8) {
        self.awaited.retain(|&c| c != reply);
    }

    /// The wait for the reply of class `class` is over.
    fn wait_over(&mut self, class: u8) {
        if !self.awaited.contains(&class) {
            return;
        }
        self.answered(class);
        match class {
            classes::TIME_REPLY => say("time: no time-of-day service answered"),
            _ => say("board: no board service answered"),
        }
    }

    fn time(&mut self, cx: &Context) -> Result<(), String> {
        let ms = uptime_ms();
        say(&format!("time: up {}.{:03} s", ms / 1000, ms % 1000));
        self.ask(cx, classes::TIME_REQUEST, classes::TIME_REPLY).map_err(|e| format!("time: {e}"))
    }

    fn block(&mut self, cx: &Context, words: &[&str], rest: &str) -> Result<(), String> {
        let region = cx.memory(BUFFERS).ok_or("blk: no block service on this system (no disk-buffers region)")?;
        let (op, sector) = match words {
            ["read", sector] => (block::READ, sector),
            ["write", sector, ..] => (block::WRITE, sector),
            _ => return Err(String::from("blk: read SECTOR or write SECTOR TEXT")),
        };
        let sector: u64 = sector.parse().map_err(|_| format!("blk: sector {sector:?} is not a number"))?;
        let offset = (region.bytes as u32).saturating_sub(SECTOR_BYTES);
        let at = (region.vaddr + u64::from(offset)) as *mut u8;
        if op == block::WRITE {
            let text = rest.as_bytes();
            for k in 0..SECTOR_BYTES as usize {
                // SAFETY: the region is mapped read-write for the module's life and `offset`
                // leaves a whole sector in it; the shell's sector is its own.
                unsafe { at.add(k).write_volatile(text.get(k).copied().unwrap_or(0)) };
            }
        }
        let tag = if op == block::READ { READ_TAG } else { WRITE_TAG };
        let request = block::Request { op, tag, sectors: 1, sector, offset };
        let delivery = cx
            .publish(classes::BLOCK_REQUEST, Scope::Global, &request.to_bytes())
            .map_err(|e| format!("blk: {e:?}"))?;
        if delivery.delivered == 0 {
            return Err(String::from("blk: no member took the request"));
        }
        self.block_sector = Some(sector);
        Ok(())
    }

    fn block_reply(&mut self, cx: &Context, reply: block::Reply) {
        let Some(sector) = self.block_sector.take() else { return };
        let what = if reply.tag == READ_TAG { "read" } else { "write" };
        if reply.status != block::DONE {
            say(&format!("blk: {what} of sector {sector} failed with status {}", reply.status));
            return;
        }
        if reply.tag == WRITE_TAG {
            say(&format!("blk: sector {sector} written"));
            return;
        }
        let Some(region) = cx.memory(BUFFERS) else { return };
        let at = region.vaddr + region.bytes - u64::from(SECTOR_BYTES);
        let bytes: Vec<u8> = (0..64)
            // SAFETY: as in `block`; the driver has finished with the sector.
            .map(|k| unsafe { ((at + k) as *const u8).read_volatile() })
            .take_while(|&b| b != 0)
            .collect();
        let text: String = bytes.iter().map(|&b| if (0x20..0x7f).contains(&b) { char::from(b) } else { '.' }).collect();
        say(&format!("blk: sector {sector}: {text:?}"));
    }

    fn command(&mut self, cx: &Context, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        // The text after the first `n` words, as typed.
        let rest_after = |n: usize| {
            let mut rest = line.trim_start();
            for _ in 0..n {
                rest = rest.trim_start().split_once(' ').map_or("", |(_, r)| r);
            }
            rest.trim_start()
        };
        match words.as_slice() {
            [] => Ok(()),
            ["help"] => {
                HELP.iter().filter(|l| !l.is_empty()).for_each(|l| say(l));
                Ok(())
            }
            ["tree"] => Self::tree(cx),
            [verb @ ("restart" | "stop" | "start"), name] => Self::supervise(cx, verb, name),
            ["publish", bus, class, _, ..] => Self::publish(cx, bus, class, rest_after(3)),
            ["stats", bus] => Self::stats(cx, bus),
            ["time"] => self.time(cx),
            ["board"] => self.ask(cx, classes::BOARD_REQUEST, classes::BOARD_REPLY).map_err(|e| format!("board: {e}")),
            ["blk", args @ ..] => self.block(cx, args, rest_after(3)),
            [verb @ ("restart" | "stop" | "start"), ..] => Err(format!("{verb} takes one module name")),
            ["publish", ..] => Err(String::from("publish BUS CLASS TEXT")),
            ["stats", ..] => Err(String::from("stats BUS")),
            [other, ..] => Err(format!("unknown command {other:?}; help lists the commands")),
        }
    }
}

impl Module for Shell {
    fn init(&mut self, cx: &mut Context) {
        if let Err(e) = Self::tree(cx) {
            say(&e);
        }
        say("ready; type help");
    }

    fn message(&mut self, cx: &mut Context, seat: usize, message: &Message) {
        // What is published for the whole tree reaches every bus the shell is on: it takes
        // lines and replies on its first bus only, the console's.
        if seat != 0 {
            return;
        }
        match message.header.class {
            classes::INPUT => {
                let line = core::str::from_utf8(message.bytes()).unwrap_or("");
                if let Err(e) = self.command(cx, line) {
                    say(&e);
                }
            }
            classes::TIME_REPLY => {
                if let Some(seconds) = time_from_reply(message.bytes()) {
                    self.answered(classes::TIME_REPLY);
                    let from = cx.member_name(message.header.origin_bus, message.header.origin_member).unwrap_or("?");
                    say(&format!("time: {} UTC (from {from})", utc_text(seconds as i64)));
                }
            }
            classes::BOARD_REPLY => {
                if let Some(facts) = Facts::from_bytes(message.bytes()) {
                    self.answered(classes::BOARD_REPLY);
                    let from = cx.member_name(message.header.origin_bus, message.header.origin_member).unwrap_or("?");
                    say(&format!("board: {facts} (from {from})"));
                }
            }
            classes::TIMER_FIRED => {
                if let Some(fired) = Fired::from_bytes(message.bytes())
                    && cx.seat_origin(0) == Some((fired.bus, fired.member))
                    && let Ok(class) = u8::try_from(fired.tag)
                {
                    self.wait_over(class);
                }
            }
            classes::BLOCK_REPLY => {
                if let Some(reply) = block::Reply::from_bytes(message.bytes())
                    && matches!(reply.tag, READ_TAG | WRITE_TAG)
                {
                    self.block_reply(cx, reply);
                }
            }
            _ => {}
        }
    }
}

hm_module::module!(Shell { block_sector: None, awaited: Vec::new() });
