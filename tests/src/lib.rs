//! The host side of hmk's QEMU tests: the board configurations that are booted and the checks
//! each serial log must pass.
//!
//! `cargo xtask test` boots every [`Suite`] several times: with a kernel built with `boot-test`
//! (it stops itself after a few timer ticks), with `test-fault` (it touches an unmapped
//! address after the boot report and must panic with the exception's syndrome), with the
//! on-target suite as the root task, and the ordinary `run` image, typed on through the serial
//! console to check the console driver and the shell ([`check_console`]) and, on the same log,
//! that the root task built the boot system (`system/<board>.toml`, [`check_system`]). Each
//! check is one counted test case.

pub mod kernel_elf;

use hmk_platform::PPTR_BASE;
use hmk_platform::handoff;
use hmk_platform::region::Region;

/// Which machine QEMU emulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    Virt { gic: u32, el2: bool },
    Raspi4b,
}

/// One board configuration booted in QEMU.
#[derive(Clone, Copy, Debug)]
pub struct Suite {
    /// One word, printed in the summary line.
    pub name: &'static str,
    pub machine: Machine,
    /// `-m` argument; `None` keeps the machine's fixed RAM.
    pub memory: Option<&'static str>,
    /// The RAM line the kernel must print for that memory size.
    pub expected_memory: &'static str,
    pub expected_model: &'static str,
    pub expected_gic: &'static str,
}

impl Machine {
    /// The board name the build tool uses (`virt` or `rpi4`).
    pub fn board(self) -> &'static str {
        match self {
            Machine::Virt { .. } => "virt",
            Machine::Raspi4b => "rpi4",
        }
    }
}

pub const SUITES: [Suite; 4] = [
    Suite {
        name: "virt-gic2",
        machine: Machine::Virt { gic: 2, el2: false },
        memory: Some("128M"),
        expected_memory: "memory: [0x40000000, 0x48000000) 128 MiB",
        expected_model: "board: linux,dummy-virt",
        expected_gic: "interrupts: GICv2, 288 lines, GICD 0x8000000, GICC 0x8010000",
    },
    Suite {
        name: "virt-gic3",
        machine: Machine::Virt { gic: 3, el2: false },
        memory: Some("1G"),
        expected_memory: "memory: [0x40000000, 0x80000000) 1 GiB",
        expected_model: "board: linux,dummy-virt",
        expected_gic: "interrupts: GICv3, 288 lines, GICD 0x8000000, GICR 0x80a0000",
    },
    Suite {
        name: "virt-el2",
        machine: Machine::Virt { gic: 2, el2: true },
        memory: Some("1G"),
        expected_memory: "memory: [0x40000000, 0x80000000) 1 GiB",
        expected_model: "board: linux,dummy-virt",
        expected_gic: "interrupts: GICv2, 288 lines, GICD 0x8000000, GICC 0x8010000",
    },
    Suite {
        name: "raspi4b",
        machine: Machine::Raspi4b,
        memory: None,
        expected_memory: "memory: [0x0, 0x3c000000) 960 MiB",
        expected_model: "board: Raspberry Pi 4 Model B",
        expected_gic: "interrupts: GICv2, 224 lines, GICD 0xff841000, GICC 0xff842000",
    },
];

/// The outcome of one check on one log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    /// `None` when the check passed, else why it failed.
    pub failure: Option<String>,
}

fn check(name: &str, ok: bool, why: impl FnOnce() -> String) -> CheckResult {
    CheckResult { name: name.to_string(), failure: (!ok).then(why) }
}

fn has_line(log: &str, prefix: &str) -> bool {
    log.lines().any(|l| l.trim_end().starts_with(prefix))
}

/// Highest `timer: tick N` the log shows.
pub fn last_tick(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.strip_prefix("timer: tick ")?.split_whitespace().next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// Checks the log of a `boot-test` kernel that QEMU ended with `exit_code` (`None`: killed at
/// the time limit).
pub fn check_boot(suite: &Suite, log: &str, exit_code: Option<i32>) -> Vec<CheckResult> {
    let prefix = suite.name;
    let missing = |what: &str| format!("no line starting {what:?} in the serial log");
    vec![
        check(&format!("{prefix}/loader"), has_line(log, "hmk-loader: entering the kernel"), || {
            missing("hmk-loader: entering the kernel")
        }),
        check(&format!("{prefix}/banner"), has_line(log, "hmk 0.1.0: capability microkernel"), || missing("hmk 0.1.0")),
        check(&format!("{prefix}/board"), has_line(log, suite.expected_model), || missing(suite.expected_model)),
        check(
            &format!("{prefix}/el1"),
            log.lines().any(|l| l.starts_with("cpu: ") && l.ends_with("kernel at EL1")),
            || missing("cpu: ... kernel at EL1"),
        ),
        check(&format!("{prefix}/memory-map"), has_line(log, suite.expected_memory), || missing(suite.expected_memory)),
        check(
            &format!("{prefix}/untyped"),
            log.lines().any(|l| l.starts_with("untyped: ") && !l.starts_with("untyped: 0 ")),
            || missing("untyped: N blocks (N > 0)"),
        ),
        check(&format!("{prefix}/interrupt-controller"), has_line(log, suite.expected_gic), || {
            missing(suite.expected_gic)
        }),
        check(&format!("{prefix}/timer-ticks"), last_tick(log) >= 3, || {
            format!("saw {} timer ticks, want at least 3", last_tick(log))
        }),
        check(
            &format!("{prefix}/clean-stop"),
            has_line(log, "hmk: boot test complete") && exit_code == Some(0),
            || format!("want the boot-test stop line and exit status 0, got exit {exit_code:?}"),
        ),
        check_handoff(prefix, log),
        check_loader_memory_free(prefix, log),
    ]
}

/// The hexadecimal numbers (`0x...`) in `line`, in order.
fn hex_numbers(line: &str) -> Vec<u64> {
    line.split(|c: char| !c.is_ascii_alphanumeric())
        .filter_map(|word| u64::from_str_radix(word.strip_prefix("0x")?, 16).ok())
        .collect()
}

/// The hexadecimal numbers of the first line starting with `prefix`.
fn numbers_after(log: &str, prefix: &str) -> Option<Vec<u64>> {
    log.lines().map(str::trim_end).find(|l| l.starts_with(prefix)).map(hex_numbers)
}

/// What the loader says it handed over (its `handoff` line: x0..x5, TTBR1's range and
/// physical start, TTBR0's range) must be seL4's elfloader layout for the kernel image the
/// kernel reports, and what the kernel reports receiving (device tree, user image) must be it.
pub fn check_handoff(name: &str, log: &str) -> CheckResult {
    let name = format!("{name}/handoff");
    let lines = (
        numbers_after(log, "hmk-loader: handoff "),
        numbers_after(log, "hmk-loader: ").filter(|n| n.len() >= 2),
        numbers_after(log, "kernel image: ["),
        numbers_after(log, "device tree: ["),
        log.lines().find_map(|l| l.trim_end().strip_prefix("user image: ")),
    );
    let (Some(h), Some(loader), Some(kernel), Some(dtb), Some(user)) = lines else {
        return check(&name, false, || "the loader's handoff line or the kernel's report is missing".into());
    };
    if h.len() != 11 || kernel.len() < 2 || dtb.len() != 2 {
        return check(&name, false, || format!("unreadable handoff line {h:x?} or kernel report"));
    }
    let mut problems = Vec::new();
    let (x, ttbr1, ttbr0) = (&h[..6], &h[6..9], &h[9..]);
    let (kernel, loader) = (Region::new(kernel[0], kernel[1]), Region::new(loader[0], loader[1]));
    if [x[4], x[4] + x[5]] != [dtb[0], dtb[1]] {
        problems.push(format!(
            "the kernel saw the device tree at {dtb:#x?}, the loader passed x4 {:#x} x5 {:#x}",
            x[4], x[5]
        ));
    }
    if x[4] != handoff::dtb_address(kernel.end) {
        problems.push(format!("x4 {:#x} is not the page after the kernel's end {:#x}", x[4], kernel.end));
    }
    let user_numbers = hex_numbers(user);
    if user == "none" {
        if x[..4] != [0; 4] {
            problems.push(format!("no user image, but x0..x3 are {:#x?}", &x[..4]));
        }
    } else if user_numbers[..] != x[..4] {
        problems.push(format!("the kernel saw user image {user_numbers:#x?}, the loader passed {:#x?}", &x[..4]));
    } else if x[0] != handoff::user_image_address(x[4], x[5]) {
        problems.push(format!("x0 {:#x} is not the page after the device tree's end", x[0]));
    }
    match handoff::kernel_map(Region::new(PPTR_BASE + kernel.start, PPTR_BASE + kernel.end), kernel.start) {
        Ok(map) => {
            let range = map.virtual_range();
            if ttbr1 != [range.start, range.end, map.pa] {
                problems.push(format!("TTBR1 maps {ttbr1:#x?}, the elfloader maps {range:#x?} onto {:#x}", map.pa));
            }
        }
        Err(why) => problems.push(format!("the elfloader cannot map the kernel {kernel:#x?}: {why:?}")),
    }
    match handoff::identity_map(loader) {
        Ok(map) if ttbr0 == [map.va, map.virtual_range().end] => {}
        Ok(map) => {
            problems.push(format!("TTBR0 maps {ttbr0:#x?}, the loader's blocks are {:#x?}", map.virtual_range()))
        }
        Err(why) => problems.push(format!("the loader {loader:#x?} cannot be identity-mapped: {why:?}")),
    }
    check(&name, problems.is_empty(), || problems.join("; "))
}

/// The loader's image (the first range its first line names) lies in the free memory the
/// kernel reports, before the kernel takes any of it: the loader reserves nothing, as seL4's
/// elfloader does not, and the kernel hands its memory out as untyped.
pub fn check_loader_memory_free(name: &str, log: &str) -> CheckResult {
    let name = format!("{name}/loader-memory-free");
    let Some(loader) = numbers_after(log, "hmk-loader: ").filter(|n| n.len() >= 2) else {
        return check(&name, false, || "no loader line naming its image".into());
    };
    let mut free: Vec<(u64, u64)> = log
        .lines()
        .filter(|l| l.starts_with("free: ["))
        .filter_map(|l| Some((hex_numbers(l).first().copied()?, hex_numbers(l).get(1).copied()?)))
        .collect();
    free.sort_unstable();
    let mut covered = loader[0];
    for (start, end) in free {
        if start <= covered && covered < end {
            covered = end;
        }
    }
    check(&name, covered >= loader[1], || {
        format!("the loader's [{:#x}, {:#x}) is not all free memory: covered up to {covered:#x}", loader[0], loader[1])
    })
}

/// Checks the log of a `test-fault` kernel: a panic naming the data abort and its addresses.
pub fn check_fault(suite: &Suite, log: &str, exit_code: Option<i32>) -> Vec<CheckResult> {
    let name = format!("{}/fault-report", suite.name);
    let panic_line = log.lines().find(|l| l.contains("KERNEL PANIC"));
    let Some(line) = panic_line else {
        return vec![check(&name, false, || "no KERNEL PANIC line in the serial log".into())];
    };
    let wanted = ["EC 0x25 (data abort, same EL)", "ESR 0x96", "ELR 0xffffff80", "FAR 0xffffff7ffffff000"];
    let absent: Vec<_> = wanted.iter().filter(|w| !line.contains(*w)).collect();
    vec![
        check(&name, absent.is_empty(), || format!("panic line {line:?} lacks {absent:?}")),
        check(&format!("{}/fault-stop", suite.name), has_line(log, "hmk: halted") && exit_code == Some(1), || {
            format!("want 'hmk: halted' and exit status 1, got exit {exit_code:?}")
        }),
    ]
}

/// Reads the on-target suite's log: one result per `PASS name` / `FAIL name: why` line, plus
/// one check that the suite finished (its closing `N passed, N failed` line agrees with the
/// lines counted, and the machine halted with status 0).
pub fn check_suite(suite: &Suite, log: &str, exit_code: Option<i32>) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let (mut passed, mut failed) = (0u64, 0u64);
    for line in log.lines().map(str::trim_end) {
        if let Some(name) = line.strip_prefix("PASS ") {
            passed += 1;
            results.push(CheckResult { name: format!("{}/{name}", suite.name), failure: None });
        } else if let Some(rest) = line.strip_prefix("FAIL ") {
            failed += 1;
            let (name, why) = rest.split_once(": ").unwrap_or((rest, "failed"));
            results.push(CheckResult { name: format!("{}/{name}", suite.name), failure: Some(why.to_string()) });
        }
    }
    results.push(check_handoff(&format!("{}/suite", suite.name), log));
    let closing = format!("{passed} passed, {failed} failed");
    let finished = log.lines().any(|l| l.trim_end() == closing) && exit_code == Some(0);
    results.push(check(&format!("{}/suite-finished", suite.name), finished, || {
        format!("want the closing line {closing:?} and exit status 0, got exit {exit_code:?}")
    }));
    results
}

/// The console check boots the ordinary `run` image and, once the console driver and the
/// shell are ready and the boot system has said its last word, types the commands of
/// [`shell_session`] one by one, each once the answer of the one before has appeared.
pub const CONSOLE_READY: &str = "console: ready on INTID";
pub const SHELL_READY: &str = "shell: ready; type help";
/// The last lines the boot system's logger prints: a run is complete once they appear.
pub const SYSTEM_LAST_BEAT: &str = ": beat 3";
pub const SYSTEM_TIMER_BACK: &str = ": timer back after 1 restart: fresh data, interrupt again";
/// What the supervisor and the restarted module say of a module's panic and, after the module
/// said where its stack's guard page is, its stack overflow.
pub const SYSTEM_PANIC_RESTART: &str = "supervisor: panicker failed (it panicked), restarted (1 of 3)";
pub const SYSTEM_PANICKER_GUARD: &str = ": panicker: guard page at [";
pub const SYSTEM_OVERFLOW_RESTART: &str = "supervisor: panicker failed (VM fault at ";
pub const SYSTEM_PANICKER_BACK: &str = ": panicker back after a panic and a stack overflow, restart 2";

/// Whether the log's stack overflow of the panicker faulted inside the guard page it named.
fn overflow_on_guard_page(log: &str) -> bool {
    let hex = |text: &str| u64::from_str_radix(text.trim_start_matches("0x"), 16).ok();
    let guard = log.lines().find_map(|l| {
        let rest = &l[l.find(SYSTEM_PANICKER_GUARD)? + SYSTEM_PANICKER_GUARD.len()..];
        let (start, end) = rest.trim_end().strip_suffix(')')?.split_once(", ")?;
        Some((hex(start)?, hex(end)?))
    });
    // Its restart count depends on whether the panic's restart is still in the policy's window.
    let faults = log.lines().filter_map(|l| {
        let rest = &l[l.find(SYSTEM_OVERFLOW_RESTART)? + SYSTEM_OVERFLOW_RESTART.len()..];
        let (address, after) = rest.split_once("), restarted (")?;
        after.ends_with(" of 3)").then_some(())?;
        hex(address)
    });
    let Some((start, end)) = guard else { return false };
    faults.into_iter().any(|at| (start..end).contains(&at))
}
/// What the supervisor and the restarted module say of a module its parent's watchdog found
/// hung.
pub const SYSTEM_HANG_RESTART: &str = "supervisor: hanger failed (hung: in one event handler for more CPU time than its watchdog allows), restarted (1 of 3)";
pub const SYSTEM_HANGER_BACK: &str = ": hanger back after a hang, restart 1";
/// What the timer service's client says once its timer outlived the driver's restart.
pub const SYSTEM_TICKER: &str = ": ticker: 3 ticks, the timer restarted (1), 3 ticks more";

/// The console driver's ready line on `machine`: the board's UART and its interrupt.
fn expected_console_ready(machine: Machine) -> &'static str {
    match machine {
        Machine::Virt { .. } => "console: ready on INTID 33 at 0x9000000; type help",
        Machine::Raspi4b => "console: ready on INTID 153 at 0xfe201000; type help",
    }
}

/// One command typed at the shell: the text typed (Enter added), and the starts of the lines
/// its answer must hold (the console prints them after `shell: `, or, for what other modules
/// say in turn, after their names); the next command is typed once all have appeared.
#[derive(Clone, Copy, Debug)]
pub struct ShellCommand {
    pub typed: &'static str,
    pub answers: &'static [&'static str],
}

/// The commands the console check types on `machine`, in order.
pub fn shell_session(machine: Machine) -> Vec<ShellCommand> {
    const fn command(typed: &'static str, answers: &'static [&'static str]) -> ShellCommand {
        ShellCommand { typed, answers }
    }
    let mut session = vec![
        command("help", &["shell: commands:", "shell:   tree ", "shell: errors name what was wrong"]),
        command(
            "tree",
            &[
                "shell: tree:",
                "shell: bus root (id 1)",
                "shell:     console      running ",
                "shell:   bus services (id 2)",
                "shell:       ticker ",
            ],
        ),
        command("restart heartbeat", &["shell: restart heartbeat: done, heartbeat is running"]),
        command("stop ticker", &["shell: stop ticker: done, ticker is stopped"]),
        command("stop ticker", &["shell: stop ticker: not in a state for that"]),
        command("start ticker", &["shell: start ticker: done, ticker is running"]),
        command("restart nosuch", &["shell: no module \"nosuch\" (tree lists them)"]),
        command(
            "publish services 17 hello from the shell",
            &[
                "shell: published on services: delivered to 1, dropped at 0",
                "logger: class 17 from bus 2 member 2: hello from the shell",
            ],
        ),
        command("publish nowhere 17 x", &["shell: no bus \"nowhere\""]),
        command("stats services", &["shell: stats services: published ", "shell:   member 2  shell "]),
        command("time", &["shell: time: up "]),
        command("frobnicate", &["shell: unknown command \"frobnicate\"; help lists the commands"]),
    ];
    match machine {
        Machine::Virt { .. } => session.extend([
            command("time", &["shell: time: 20"]),
            command("blk write 5 written by the shell", &["shell: blk: sector 5 written"]),
            command("blk read 5", &["shell: blk: sector 5: \"written by the shell\""]),
            command("board", &["shell: board: no board service answered"]),
        ]),
        Machine::Raspi4b => session.extend([
            command("blk read 5", &["shell: blk: no block service on this system"]),
            command("board", &["shell: board: revision 0xb03115, serial 0x0, ARM memory 0x0..0x3c000000, "]),
            command("time", &["shell: time: up ", "shell: time: no time-of-day service answered"]),
        ]),
    }
    session
}

/// Checks the log of a `run` image typed [`shell_session`]: the console driver's ready line
/// names the board's UART, the shell said it was ready, each command came back echoed on a line
/// of its own and its answers appeared after it. One case per command.
pub fn check_console(suite: &Suite, log: &str) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let ready = expected_console_ready(suite.machine);
    let mut missing = Vec::new();
    for line in [ready, SHELL_READY] {
        if !has_line(log, line) {
            missing.push(format!("the line {line:?}"));
        }
    }
    results.push(check(&format!("{}/console-ready", suite.name), missing.is_empty(), || {
        format!("the serial log lacks {}", missing.join(", "))
    }));
    let lines: Vec<&str> = log.lines().map(str::trim_end).collect();
    // Where the search for the next command's echo starts.
    let mut from = lines.iter().position(|l| l.starts_with(SHELL_READY)).unwrap_or(lines.len());
    for (k, command) in shell_session(suite.machine).iter().enumerate() {
        let words: Vec<&str> = command.typed.split(' ').take(2).collect();
        let name = format!("{}/shell/{:02}-{}", suite.name, k + 1, words.join("-"));
        let echoed = lines[from.min(lines.len())..].iter().position(|l| *l == command.typed).map(|k| from + k);
        let Some(at) = echoed else {
            results.push(check(&name, false, || format!("no echo of {:?} after the last answer", command.typed)));
            continue;
        };
        let mut last = at;
        let mut absent = Vec::new();
        for answer in command.answers {
            match lines[at + 1..].iter().position(|l| l.starts_with(answer)) {
                Some(k) => last = last.max(at + 1 + k),
                None => absent.push(*answer),
            }
        }
        results
            .push(check(&name, absent.is_empty(), || format!("after {:?} no line starts {absent:?}", command.typed)));
        from = last + 1;
    }
    results
}

/// The modules of the board's boot system (`system/<board>.toml`, then the `common.toml` it
/// includes), in plan order: `(name, program)`.
pub fn system_modules(machine: Machine) -> &'static [(&'static str, &'static str)] {
    const SHARED: [(&str, &str); 6] = [
        ("logger", "logger"),
        ("heartbeat", "heartbeat"),
        ("timer", "timer"),
        ("ticker", "ticker"),
        ("panicker", "panicker"),
        ("hanger", "hanger"),
    ];
    match machine {
        Machine::Virt { .. } => &[
            ("console", "console"),
            ("rtc", "rtc"),
            ("blk", "virtio-blk"),
            ("blk-check", "blk-check"),
            ("shell", "shell"),
            SHARED[0],
            SHARED[1],
            SHARED[2],
            SHARED[3],
            SHARED[4],
            SHARED[5],
        ],
        Machine::Raspi4b => &[
            ("console", "console"),
            ("gpio", "gpio"),
            ("mailbox", "mailbox"),
            ("shell", "shell"),
            SHARED[0],
            SHARED[1],
            SHARED[2],
            SHARED[3],
            SHARED[4],
            SHARED[5],
        ],
    }
}

/// Lines that say the board's boot system has done what it does at boot (each appears in some
/// line once it has): the echo check types only after all of them, so that no module writes to
/// the shared console while the typed text comes back.
pub fn system_settled(machine: Machine) -> &'static [&'static str] {
    match machine {
        Machine::Virt { .. } => &[
            SYSTEM_LAST_BEAT,
            SYSTEM_TIMER_BACK,
            SYSTEM_TICKER,
            SYSTEM_PANICKER_BACK,
            SYSTEM_HANGER_BACK,
            SYSTEM_BLK_CLIENT,
        ],
        Machine::Raspi4b => &[
            SYSTEM_LAST_BEAT,
            SYSTEM_TIMER_BACK,
            SYSTEM_TICKER,
            SYSTEM_PANICKER_BACK,
            SYSTEM_HANGER_BACK,
            SYSTEM_GPIO_READBACK,
            ": mailbox: ",
        ],
    }
}

/// The bus (by id) the heartbeat's, the timer's and the ticker's messages the logger logs come from: `services`,
/// the second bus; the RTC driver publishes on the first, the root bus.
pub const SYSTEM_SERVICES_BUS: u16 = 2;
pub const SYSTEM_ROOT_BUS: u16 = 1;

/// Whether `text` is a plausible `YYYY-MM-DD hh:mm:ss UTC` of these years, as the RTC driver
/// prints the PL031's counter.
fn is_time_of_day(text: &str) -> bool {
    let fields: Vec<u32> = text.split(['-', ' ', ':']).take(6).filter_map(|f| f.parse().ok()).collect();
    let shape_ok = text.len() >= 23 && &text[19..23] == " UTC" && text.as_bytes()[4] == b'-';
    shape_ok
        && matches!(fields[..], [y, mo, d, h, mi, se] if (2025..=2100).contains(&y)
            && (1..=12).contains(&mo) && (1..=31).contains(&d) && h < 24 && mi < 60 && se < 60)
}

/// The member id in the first line that contains `before`, then digits, then `after` (with no
/// further digit right after it, so `beat 1` is not `beat 10`).
fn member_in(log: &str, before: &str, after: &str) -> Option<u16> {
    log.lines().find_map(|line| {
        line.match_indices(before).find_map(|(at, _)| {
            let rest = &line[at + before.len()..];
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let tail = rest[digits..].strip_prefix(after)?;
            if tail.starts_with(|c: char| c.is_ascii_digit()) {
                return None;
            }
            rest[..digits].parse().ok()
        })
    })
}

/// Checks the log of a `run` image whose root task built the system `name` of `bus_count` buses
/// and `modules` (`(name, program)` in plan order): the summary line, and a started line per
/// module, none refused.
pub fn check_planned_system(
    suite: &Suite,
    log: &str,
    name: &str,
    bus_count: usize,
    modules: &[(&str, &str)],
) -> Vec<CheckResult> {
    let contains = |text: &str| log.lines().any(|l| l.contains(text));
    let summary = format!("system: {name}: {bus_count} buses, {} modules", modules.len());
    let missing: Vec<String> = modules
        .iter()
        .map(|(module, program)| format!("system: module {module} ({program}) started"))
        .filter(|line| !contains(line))
        .collect();
    vec![
        check(&format!("{}/system-summary", suite.name), contains(&summary), || {
            format!("no line contains {summary:?}")
        }),
        check(&format!("{}/system-started", suite.name), missing.is_empty(), || {
            format!("no line contains {missing:?}")
        }),
    ]
}

/// `log` with each supervisor line that landed inside another line moved out to a line of its
/// own, and the line it cut joined up again.
fn untangle(log: &str) -> String {
    let mut out = String::new();
    let mut carry = String::new();
    for line in log.lines() {
        let line = format!("{carry}{line}");
        carry.clear();
        match line.find("supervisor: ") {
            Some(at) if at > 0 => {
                out.push_str(&line[at..]);
                out.push('\n');
                carry = line[..at].to_string();
            }
            _ => {
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    if !carry.is_empty() {
        out.push_str(&carry);
        out.push('\n');
    }
    out
}

/// Checks the log of the `run` image for the boot system (`system/<board>.toml`): the root task's
/// summary line and a started line per module, the logger logging the heartbeat's three beats
/// (all from one member of the services bus), the supervisor restarting the timer service after
/// its fault, the logger logging the timer's line from another member and its client's line
/// that its periodic timer outlived the restart. Member ids match any number;
/// [`check_system_members`] pins them to the plan's.
pub fn check_system(suite: &Suite, log: &str) -> Vec<CheckResult> {
    check_system_members(suite, log, None)
}

/// [`check_system`], with `members` = `(heartbeat, timer)`: their member ids on the services
/// bus in the plan, which the logged ids must then be.
pub fn check_system_members(suite: &Suite, log: &str, members: Option<(u16, u16)>) -> Vec<CheckResult> {
    // The supervisor's lines (the root task's, through the kernel) and the console's share the
    // UART: one may land inside another (seen on virt and raspi4b).
    let log = &untangle(log);
    let prefix = suite.name;
    let name = |what: &str| format!("{prefix}/system-{what}");
    let contains = |text: &str| log.lines().any(|l| l.contains(text));
    let from = format!("logger: class 17 from bus {SYSTEM_SERVICES_BUS} member ");
    let id_text = |id: Option<u16>| id.map_or("M".to_string(), |id| id.to_string());
    let modules = system_modules(suite.machine);
    let summary = format!("system: {}: 2 buses, {} modules", suite.machine.board(), modules.len());
    let started: Vec<String> = modules.iter().map(|(m, p)| format!("system: module {m} ({p}) started")).collect();
    let has = |module: &str| modules.iter().any(|(m, _)| *m == module);
    let not_started: Vec<&String> = started.iter().filter(|l| !contains(l)).collect();

    let restart = "supervisor: timer failed (VM fault at 0x0), restarted (1 of 3)";
    let beats: Vec<Option<u16>> = (1..=3).map(|n| member_in(log, &from, &format!(": beat {n}"))).collect();
    let heartbeat = beats[0];
    let wanted_heartbeat = members.map(|(h, _)| h);
    let beats_ok =
        beats.iter().all(|b| b.is_some() && *b == heartbeat) && wanted_heartbeat.is_none_or(|h| heartbeat == Some(h));
    let back = member_in(log, &from, SYSTEM_TIMER_BACK);
    let wanted_timer = members.map(|(_, t)| t);
    let back_ok = back.is_some() && back != heartbeat && wanted_timer.is_none_or(|t| back == Some(t));
    let ticker = member_in(log, &from, SYSTEM_TICKER);
    let ticker_ok = ticker.is_some() && ticker != back && ticker != heartbeat;

    let mut results = vec![
        check(&name("summary"), contains(&summary), || format!("no line contains {summary:?}")),
        check(&name("started"), not_started.is_empty(), || format!("no line contains {not_started:?}")),
        check(&name("beats"), beats_ok, || {
            let member = id_text(wanted_heartbeat);
            format!("want \"{from}{member}: beat 1\" .. \"beat 3\", all from one member; found members {beats:?}")
        }),
        check(&name("restart"), contains(restart), || format!("no line contains {restart:?}")),
        check(&name("timer-back"), back_ok, || {
            let member = id_text(wanted_timer);
            format!(
                "want \"{from}{member}{SYSTEM_TIMER_BACK}\" from another member than the beats; \
                 found member {back:?}"
            )
        }),
        check(&name("timer-client"), ticker_ok, || {
            format!("want \"{from}M{SYSTEM_TICKER}\" from a third member; found member {ticker:?}")
        }),
        check(&name("panic"), contains(SYSTEM_PANIC_RESTART), || format!("no line contains {SYSTEM_PANIC_RESTART:?}")),
        check(
            &name("stack-guard"),
            overflow_on_guard_page(log) && member_in(log, &from, SYSTEM_PANICKER_BACK).is_some(),
            || {
                format!(
                    "want \"{from}M{SYSTEM_PANICKER_GUARD}A, B)\", \"{SYSTEM_OVERFLOW_RESTART}X), restarted (N of 3)\" \
                 with A <= X < B, and \"{from}M{SYSTEM_PANICKER_BACK}\""
                )
            },
        ),
        check(
            &name("watchdog"),
            contains(SYSTEM_HANG_RESTART) && member_in(log, &from, SYSTEM_HANGER_BACK).is_some(),
            || format!("want lines with {SYSTEM_HANG_RESTART:?} and \"{from}M{SYSTEM_HANGER_BACK}\""),
        ),
    ];
    // What the root bus's drivers and clients said, as the logger logged it: any member.
    let from = format!("logger: class 17 from bus {SYSTEM_ROOT_BUS} member ");
    let said: Vec<&str> = log
        .lines()
        .filter_map(|line| {
            let rest = &line[line.find(&from)? + from.len()..];
            rest.trim_start_matches(|c: char| c.is_ascii_digit()).strip_prefix(": ")
        })
        .collect();
    let said_exactly = |text: &str| said.contains(&text);
    let said_starting = |prefix: &str| said.iter().find_map(|line| line.strip_prefix(prefix));
    if has("rtc") {
        // The PL031 shares its device untyped with the UART the root task's driver claimed.
        let wanted = "(PL031 at 0x9010000)";
        let time = said_starting("rtc: ").filter(|rest| rest.ends_with(wanted));
        results.push(check(&name("rtc"), time.is_some_and(is_time_of_day), || {
            format!(
                "want \"{from}M: rtc: YYYY-MM-DD hh:mm:ss UTC {wanted}\" with a time of these years; found {time:?}"
            )
        }));
    }
    // The GPIO block, too, shares its device untyped with the UART.
    let exact = [
        ("gpio", "gpio", SYSTEM_GPIO_READBACK),
        ("blk", "blk", SYSTEM_BLK_ROUND_TRIP),
        ("blk-check", "blk-client", SYSTEM_BLK_CLIENT),
    ];
    for (module, check_name, text) in exact {
        if has(module) {
            results.push(check(&name(check_name), said_exactly(text), || format!("no line is \"{from}M: {text}\"")));
        }
    }
    if has("mailbox") {
        let answer = said_starting("mailbox: ");
        results.push(check(&name("mailbox"), answer.is_some_and(is_firmware_answer), || {
            format!(
                "want \"{from}M: mailbox: revision 0x.., serial 0x.., ARM memory 0x0..0x.., T C\"; found {answer:?}"
            )
        }));
    }
    results
}

/// Whether `text` is the mailbox driver's report of a firmware answer: a board revision that
/// is not 0, a serial, the ARM's memory from 0, and a temperature.
fn is_firmware_answer(text: &str) -> bool {
    let hex = |field: &str| u64::from_str_radix(field.trim_start_matches("0x"), 16).ok();
    let parts: Vec<&str> = text.split(", ").collect();
    match parts[..] {
        [revision, serial, memory, temperature] => {
            revision.strip_prefix("revision ").and_then(hex).is_some_and(|r| r != 0)
                && serial.strip_prefix("serial ").and_then(hex).is_some()
                && memory.strip_prefix("ARM memory 0x0..").and_then(hex).is_some_and(|end| end >= 0x0400_0000)
                && (temperature.ends_with(" C") || temperature == "unknown")
        }
        _ => false,
    }
}

/// What the virtio-blk driver reports about the 1 MiB disk `cargo xtask test` attaches on virt
/// after writing a sector and a 4 KiB block and reading them back.
pub const SYSTEM_BLK_ROUND_TRIP: &str =
    "virtio-blk: 2048 sectors; 512 B at sector 1 and 4 KiB at sector 8 read back as written";

/// What the block service's client reports: a 4 KiB block it had written, read back through
/// the restarted driver by a request that waited in the driver's inbox across the restart.
pub const SYSTEM_BLK_CLIENT: &str = "blk-check: 4 KiB written at sector 64, driver restarted (1), read back identical";

/// What the Pi 4's GPIO driver reads back after making the activity LED's pin an output,
/// setting it and clearing it.
pub const SYSTEM_GPIO_READBACK: &str =
    "gpio: pin 42 function 0b001, set reads 1, clear reads 0 (BCM2711 GPIO at 0xfe200000)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untangling_moves_a_supervisor_line_out_and_joins_the_cut_line() {
        let log = "a\nlogger: guard page at [0x508000, 0supervisor: panicker failed (VM fault at 0x508fa0), restarted (1 of 3)\nx509000)\nb\n";
        assert_eq!(
            untangle(log),
            "a\nsupervisor: panicker failed (VM fault at 0x508fa0), restarted (1 of 3)\n\
             logger: guard page at [0x508000, 0x509000)\nb\n"
        );
        assert!(overflow_on_guard_page(
            &untangle(log).replace("logger: guard", "logger: class 17 from bus 2 member 6: panicker: guard")
        ));
    }

    #[test]
    fn a_supervisor_line_inside_a_beat_is_taken_out() {
        let suite = &SUITES[0];
        let log = "system: boot: 2 buses, 0 modules\nlogger: class 17 from bus 2 member 2:\
            supervisor: timer failed (VM fault at 0x0), restarted (1 of 3)\n beat 1\n\
            logger: class 17 from bus 2 member 2: beat 2\nlogger: class 17 from bus 2 member 2: beat 3\n";
        let results = check_system_members(suite, log, Some((2, 3)));
        let beats = results.iter().find(|r| r.name.ends_with("system-beats")).unwrap();
        assert!(beats.failure.is_none(), "{:?}", beats.failure);
        let restart = results.iter().find(|r| r.name.ends_with("system-restart")).unwrap();
        assert!(restart.failure.is_none());
    }

    const GOOD: &str = "hmk-loader: linux,dummy-virt (1 CPUs), loader at [0x40080000, 0x401f2000), DTB at 0x48000000 (1048576 bytes)\n\
        hmk-loader: handoff x0 0x0 x1 0x0 x2 0x0 x3 0x0 x4 0x41031000 x5 0x1d9e; \
        TTBR1 [0xffffff8041000000, 0xffffff8080000000) -> 0x41000000; TTBR0 [0x40000000, 0x40200000) identity\n\
        hmk-loader: entering the kernel at EL1 with the MMU on\n\
        hmk 0.1.0: capability microkernel for AArch64\n\
        board: linux,dummy-virt\n\
        cpu: Cortex-A72 (MIDR 0x410fd083), 1 CPUs in the device tree, enable-method none, PSCI via HVC; kernel at EL1\n\
        memory: [0x40000000, 0x48000000) 128 MiB\n\
        kernel image: [0x41000000, 0x41031000) 196 KiB, window of 6 tables\n\
        device tree: [0x41031000, 0x41032d9e)\n\
        user image: none\n\
        free: [0x40000000, 0x41000000) 16 MiB as 1 untyped\n\
        free: [0x41033000, 0x48000000) 114484 KiB as 11 untyped\n\
        untyped: 18 blocks, 129388 KiB in all\n\
        interrupts: GICv2, 288 lines, GICD 0x8000000, GICC 0x8010000, IIDR 0x43b\n\
        timer: tick 1 (counter 1)\ntimer: tick 2 (counter 2)\ntimer: tick 3 (counter 3)\n\
        hmk: boot test complete after 5 timer ticks, stopping\n";

    #[test]
    fn a_good_log_passes_every_check() {
        let results = check_boot(&SUITES[0], GOOD, Some(0));
        assert_eq!(results.len(), 11);
        assert!(results.iter().all(|r| r.failure.is_none()), "{results:?}");
    }

    #[test]
    fn each_missing_fact_fails_its_own_check() {
        let two_ticks = GOOD.replace("timer: tick 3 (counter 3)\n", "");
        let failed: Vec<_> =
            check_boot(&SUITES[0], &two_ticks, Some(0)).into_iter().filter(|r| r.failure.is_some()).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].name, "virt-gic2/timer-ticks");
        let wrong_memory = check_boot(&SUITES[1], GOOD, Some(0));
        assert!(wrong_memory.iter().any(|r| r.name == "virt-gic3/memory-map" && r.failure.is_some()));
        let killed = check_boot(&SUITES[0], GOOD, None);
        assert!(killed.iter().any(|r| r.name == "virt-gic2/clean-stop" && r.failure.is_some()));
    }

    fn handoff_failure(log: &str) -> Option<String> {
        check_handoff("virt-gic2", log).failure
    }

    #[test]
    fn the_handoff_must_be_the_elfloaders() {
        assert_eq!(handoff_failure(GOOD), None);
        let wrong = |from: &str, to: &str| handoff_failure(&GOOD.replace(from, to));
        // The device tree not right after the kernel, or not what the kernel saw.
        assert!(wrong("x4 0x41031000", "x4 0x41032000").is_some());
        assert!(wrong("x5 0x1d9e", "x5 0x1d9f").is_some());
        // TTBR1 mapping all RAM rather than from the kernel to the end of its GiB.
        assert!(wrong("TTBR1 [0xffffff8041000000", "TTBR1 [0xffffff8040000000").is_some());
        assert!(wrong("0xffffff8080000000) -> 0x41000000", "0xffffff8088000000) -> 0x41000000").is_some());
        // TTBR0 mapping more than the loader's blocks.
        assert!(wrong("TTBR0 [0x40000000, 0x40200000)", "TTBR0 [0x40000000, 0x48000000)").is_some());
        // A user image the kernel did not see, or one not after the device tree.
        assert!(wrong("x0 0x0 x1 0x0", "x0 0x41033000 x1 0x0").is_some());
        let with_user = GOOD
            .replace("x0 0x0 x1 0x0 x2 0x0 x3 0x0", "x0 0x41033000 x1 0x41100000 x2 0x40c33000 x3 0x400000")
            .replace("user image: none", "user image: [0x41033000, 0x41100000), pv offset 0x40c33000, entry 0x400000");
        assert_eq!(handoff_failure(&with_user), None);
        assert!(handoff_failure(&with_user.replace("entry 0x400000", "entry 0x400010")).is_some());
        let late = with_user.replace("0x41033000", "0x41034000");
        assert!(handoff_failure(&late).unwrap().contains("not the page after the device tree"));
        assert!(handoff_failure("hmk 0.1.0\n").is_some());
    }

    #[test]
    fn the_loader_must_be_free_memory() {
        assert!(check_loader_memory_free("v", GOOD).failure.is_none());
        let reserved = GOOD.replace("free: [0x40000000, 0x41000000)", "free: [0x401f2000, 0x41000000)");
        assert!(check_loader_memory_free("v", &reserved).failure.is_some());
        let split = GOOD.replace(
            "free: [0x40000000, 0x41000000) 16 MiB as 1 untyped",
            "free: [0x40100000, 0x41000000) x\nfree: [0x40000000, 0x40100000) y",
        );
        assert!(check_loader_memory_free("v", &split).failure.is_none());
    }

    #[test]
    fn fault_report_needs_syndrome_and_addresses() {
        let log = "hmk: KERNEL PANIC: panicked at kernel/src/arch/aarch64/exception.rs:1:1:\n";
        let results = check_fault(&SUITES[0], log, Some(1));
        assert!(results[0].failure.is_some());
        let log = "hmk: KERNEL PANIC: panicked at x: unhandled exception (synchronous, EL1): EC 0x25 (data abort, same EL), ESR 0x96000006, ELR 0xffffff8041001234, FAR 0xffffff7ffffff000, SPSR 0x3c5\nhmk: halted\n";
        let results = check_fault(&SUITES[0], log, Some(1));
        assert!(results.iter().all(|r| r.failure.is_none()), "{results:?}");
        assert!(check_fault(&SUITES[0], "", Some(1))[0].failure.is_some());
    }

    #[test]
    fn suite_lines_become_results() {
        let log = "PASS a\nFAIL b: wrong badge\nPASS c\n2 passed, 1 failed\n";
        let results = check_suite(&SUITES[0], log, Some(0));
        assert_eq!(results.len(), 5);
        assert_eq!(results[1].name, "virt-gic2/b");
        assert_eq!(results[1].failure.as_deref(), Some("wrong badge"));
        assert_eq!(results[3].name, "virt-gic2/suite/handoff");
        assert!(results[4].failure.is_none(), "finished");
        let cut_short = check_suite(&SUITES[0], "PASS a\n", None);
        assert!(cut_short.last().unwrap().failure.is_some());
    }

    /// A log that answers every command of the session, as the console prints it.
    fn console_log(machine: Machine) -> String {
        let ready = expected_console_ready(machine);
        let mut log = format!("root task: hello from EL0\n{ready}\nshell: tree:\n{SHELL_READY}\n");
        for command in shell_session(machine) {
            log.push_str(command.typed);
            log.push('\n');
            for answer in command.answers {
                log.push_str(answer);
                log.push_str(" ...\n");
            }
        }
        log
    }

    #[test]
    fn console_needs_ready_lines_echoes_and_answers() {
        let log = console_log(SUITES[0].machine);
        let results = check_console(&SUITES[0], &log);
        assert_eq!(results.len(), 1 + shell_session(SUITES[0].machine).len());
        assert!(results.iter().all(|r| r.failure.is_none()), "{results:?}");
        assert_eq!(results[0].name, "virt-gic2/console-ready");
        assert_eq!(results[3].name, "virt-gic2/shell/03-restart-heartbeat");
        let wrong_board = check_console(&SUITES[3], &log);
        assert!(wrong_board[0].failure.as_deref().is_some_and(|why| why.contains("INTID 153")));
        // An answer missing fails that command only.
        let unanswered = log.replace("shell: stop ticker: done, ticker is stopped ...\n", "");
        let results = check_console(&SUITES[0], &unanswered);
        let failed: Vec<&str> = results.iter().filter(|r| r.failure.is_some()).map(|r| r.name.as_str()).collect();
        assert_eq!(failed, ["virt-gic2/shell/04-stop-ticker"]);
        // An answer before its command's echo does not count.
        let early =
            log.replacen("\nhelp\n", "\n", 1).replacen("shell: commands: ...\n", "shell: commands: ...\nhelp\n", 1);
        assert!(check_console(&SUITES[0], &early)[1].failure.is_some());
        // No echo: that command and only it fails (the search goes on after it).
        let unechoed = log.replacen("\ntree\n", "\n", 1);
        let results = check_console(&SUITES[0], &unechoed);
        assert!(results[2].failure.is_some() && results[3].failure.is_none(), "{results:?}");
    }

    #[test]
    fn last_tick_reads_the_highest_count() {
        assert_eq!(last_tick("timer: tick 2 (counter 5)\nother\ntimer: tick 10 (counter 9)\n"), 10);
        assert_eq!(last_tick("nothing"), 0);
    }

    const SYSTEM_LOG: &str = "root task: hello from EL0\n\
        system: virt: 2 buses, 11 modules\n\
        system: module console (console) started\n\
        system: module rtc (rtc) started\n\
        system: module blk (virtio-blk) started\n\
        system: module blk-check (blk-check) started\n\
        system: module shell (shell) started\n\
        system: module logger (logger) started\n\
        system: module heartbeat (heartbeat) started\n\
        system: module timer (timer) started\n\
        system: module ticker (ticker) started\n\
        system: module panicker (panicker) started\n\
        system: module hanger (hanger) started\n\
        supervisor: hanger failed (hung: in one event handler for more CPU time than its watchdog allows), restarted (1 of 3)\n\
        logger: class 17 from bus 2 member 7: hanger back after a hang, restart 1\n\
        supervisor: panicker failed (it panicked), restarted (1 of 3)\n\
        logger: class 17 from bus 2 member 6: panicker: guard page at [0x508000, 0x509000)\n\
        supervisor: panicker failed (VM fault at 0x508ff0), restarted (2 of 3)\n\
        logger: class 17 from bus 2 member 6: panicker back after a panic and a stack overflow, restart 2\n\
        [logger] logger: class 17 from bus 2 member 2: beat 1\n\
        logger: class 17 from bus 2 member 2: beat 2\n\
        supervisor: timer failed (VM fault at 0x0), restarted (1 of 3)\n\
        logger: class 17 from bus 2 member 2: beat 3\n\
        logger: class 17 from bus 2 member 3: timer back after 1 restart: fresh data, interrupt again\n\
        logger: class 17 from bus 2 member 4: ticker: 3 ticks, the timer restarted (1), 3 ticks more\n\
        logger: class 17 from bus 1 member 1: rtc: 2026-12-03 07:41:05 UTC (PL031 at 0x9010000)\n\
        logger: class 17 from bus 1 member 2: virtio-blk: 2048 sectors; 512 B at sector 1 and 4 KiB at sector 8 \
        read back as written\n\
        logger: class 17 from bus 1 member 3: blk-check: 4 KiB written at sector 64, driver restarted (1), \
        read back identical\n";

    fn system_failures(log: &str, members: Option<(u16, u16)>) -> Vec<String> {
        let results = check_system_members(&SUITES[0], log, members);
        assert_eq!(results.len(), 12);
        results.into_iter().filter(|r| r.failure.is_some()).map(|r| r.name).collect()
    }

    #[test]
    fn the_pi_system_log_checks_the_gpio_read_back() {
        let log = SYSTEM_LOG
            .replace("system: virt: 2 buses, 11 modules", "system: rpi4: 2 buses, 9 modules")
            .replace("system: module rtc (rtc) started", "system: module gpio (gpio) started")
            .replace("system: module blk (virtio-blk) started\n", "")
            .replace("system: module blk-check (blk-check) started\n", "")
            .replace(
                "rtc: 2026-12-03 07:41:05 UTC (PL031 at 0x9010000)",
                "gpio: pin 42 function 0b001, set reads 1, clear reads 0 (BCM2711 GPIO at 0xfe200000)",
            );
        let failures = |log: &str| -> Vec<String> {
            check_system(&SUITES[3], log).into_iter().filter(|r| r.failure.is_some()).map(|r| r.name).collect()
        };
        let log = log.replace("system: rpi4: 2 buses, 9 modules", "system: rpi4: 2 buses, 10 modules").replace(
            "system: module logger (logger) started",
            "system: module mailbox (mailbox) started\nsystem: module logger (logger) started\n\
             logger: class 17 from bus 1 member 2: mailbox: revision 0xb03115, serial 0x0, \
             ARM memory 0x0..0x3c000000, 25.0 C",
        );
        assert!(failures(&log).is_empty(), "{:?}", failures(&log));
        assert_eq!(failures(&log.replace("set reads 1", "set reads 0")), ["raspi4b/system-gpio"]);
        assert_eq!(failures(&log.replace("revision 0xb03115", "revision 0x0")), ["raspi4b/system-mailbox"]);
        assert_eq!(failures(&log.replace("0x0..0x3c000000", "0x0..0x0")), ["raspi4b/system-mailbox"]);
    }

    #[test]
    fn the_boot_system_log_passes() {
        let results = check_system(&SUITES[0], SYSTEM_LOG);
        assert!(results.iter().all(|r| r.failure.is_none()), "{results:?}");
        assert_eq!(results[0].name, "virt-gic2/system-summary");
        assert!(system_failures(SYSTEM_LOG, Some((2, 3))).is_empty());
    }

    #[test]
    fn each_missing_system_line_fails_its_check() {
        let fails = |from: &str, to: &str| system_failures(&SYSTEM_LOG.replace(from, to), None);
        assert_eq!(fails("2 buses, 11 modules", "2 buses, 3 modules"), ["virt-gic2/system-summary"]);
        assert_eq!(fails("after a hang, restart 1", "after a hang, restart 0"), ["virt-gic2/system-watchdog"]);
        assert_eq!(fails("(it panicked)", "(VM fault at 0x0)"), ["virt-gic2/system-panic"]);
        assert_eq!(fails("VM fault at 0x508ff0", "VM fault at 0x507ff0"), ["virt-gic2/system-stack-guard"]);
        assert_eq!(fails("0x509000)", "0x508800)"), ["virt-gic2/system-stack-guard"]);
        assert_eq!(fails("overflow, restart 2", "overflow, restart 3"), ["virt-gic2/system-stack-guard"]);
        assert_eq!(
            fails("driver restarted (1), read back identical", "driver restarted (0), read back identical"),
            ["virt-gic2/system-blk-client"]
        );
        assert_eq!(fails("read back as written", "what was read back differs"), ["virt-gic2/system-blk"]);
        assert_eq!(fails("2026-12-03 07:41:05", "1970-01-01 00:00:00"), ["virt-gic2/system-rtc"]);
        assert_eq!(fails("07:41:05 UTC", "07:61:05 UTC"), ["virt-gic2/system-rtc"]);
        assert_eq!(fails("0x9010000)", "0x9000000)"), ["virt-gic2/system-rtc"]);
        assert_eq!(fails("module timer (timer) started", "module timer"), ["virt-gic2/system-started"]);
        assert_eq!(fails(": beat 2", ": beat 22"), ["virt-gic2/system-beats"]);
        assert_eq!(fails("member 2: beat 3", "member 4: beat 3"), ["virt-gic2/system-beats"]);
        assert_eq!(
            fails("VM fault at 0x0), restarted (1 of 3)", "VM fault at 0x0), restarted (2 of 3)"),
            ["virt-gic2/system-restart"]
        );
        assert_eq!(fails("member 3: timer", "member 2: timer"), ["virt-gic2/system-timer-back"]);
        assert_eq!(
            fails("class 17 from bus 2 member 3", "class 17 from bus 1 member 3"),
            ["virt-gic2/system-timer-back"]
        );
        assert_eq!(fails("3 ticks more", "no more ticks"), ["virt-gic2/system-timer-client"]);
        assert_eq!(fails("member 4: ticker", "member 3: ticker"), ["virt-gic2/system-timer-client"]);
        assert_eq!(
            system_failures(SYSTEM_LOG, Some((3, 2))),
            ["virt-gic2/system-beats", "virt-gic2/system-timer-back"]
        );
        assert_eq!(system_failures("", None).len(), 12);
    }
}
