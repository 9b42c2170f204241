//! The host side of hmk's QEMU tests: the board configurations that are booted and the checks
//! each serial log must pass.
//!
//! `cargo xtask test` boots every [`Suite`] several times: with a kernel built with `boot-test`
//! (it stops itself after a few timer ticks), with `test-fault` (it touches an unmapped
//! address after the boot report and must panic with the exception's syndrome), with the
//! on-target suite as the root task, and the ordinary `run` image, typed on through the serial
//! console to check the user-level UART driver echoes ([`check_uart_echo`]) and, on the same
//! log, that the root task built the boot system (`system/boot.toml`, [`check_system`]). Each
//! check is one counted test case.

pub mod kernel_elf;

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
    ]
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
    let closing = format!("{passed} passed, {failed} failed");
    let finished = log.lines().any(|l| l.trim_end() == closing) && exit_code == Some(0);
    results.push(check(&format!("{}/suite-finished", suite.name), finished, || {
        format!("want the closing line {closing:?} and exit status 0, got exit {exit_code:?}")
    }));
    results
}

/// The UART echo check boots the ordinary `run` image, waits for the driver's ready line,
/// types [`ECHO_INPUT`] on the console and stops once [`ECHO_LINE`] appears.
pub const ECHO_READY: &str = "uart: driver ready";
pub const ECHO_INPUT: &str = "hello hmk\r";
pub const ECHO_LINE: &str = "echo: hello hmk";
/// The last lines the boot system's logger prints: a run is complete once they appear.
pub const SYSTEM_LAST_BEAT: &str = ": beat 3";
pub const SYSTEM_CRASHER_BACK: &str = ": crasher back after 1 restart";

/// The ready line the root task prints for the console UART it found in the device tree.
fn expected_ready(machine: Machine) -> &'static str {
    match machine {
        Machine::Virt { .. } => "uart: driver ready on INTID 33 at 0x9000000, type to echo",
        Machine::Raspi4b => "uart: driver ready on INTID 153 at 0xfe201000, type to echo",
    }
}

/// Checks the log of a `run` image that was typed [`ECHO_INPUT`]: the driver's ready line
/// names the board's UART, the typed text came back through the driver (a line of its own),
/// and the root task logged the line.
pub fn check_uart_echo(suite: &Suite, log: &str) -> Vec<CheckResult> {
    let typed = ECHO_INPUT.trim_end();
    let ready = expected_ready(suite.machine);
    let echoed = log.lines().any(|l| l.trim_end() == typed);
    let mut missing = Vec::new();
    if !has_line(log, ready) {
        missing.push(format!("the ready line {ready:?}"));
    }
    if !echoed {
        missing.push(format!("the echoed text {typed:?} on a line of its own"));
    }
    if !has_line(log, ECHO_LINE) {
        missing.push(format!("the line {ECHO_LINE:?}"));
    }
    vec![check(&format!("{}/uart-echo", suite.name), missing.is_empty(), || {
        format!("the serial log lacks {}", missing.join(", "))
    })]
}

/// The modules of `system/boot.toml`, in file order, and the bus (by id) the messages the logger
/// logs come from: `services`, the second bus.
pub const SYSTEM_MODULES: [&str; 3] = ["logger", "heartbeat", "crasher"];
pub const SYSTEM_SERVICES_BUS: u16 = 2;

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

/// Checks the log of the `run` image for the boot system (`system/boot.toml`): the root task's
/// summary line and a started line per module, the logger logging the heartbeat's three beats
/// (all from one member of the services bus), the supervisor restarting the crasher after its
/// fault, and the logger logging the crasher's line from another member. Member ids match any
/// number; [`check_system_members`] pins them to the plan's.
pub fn check_system(suite: &Suite, log: &str) -> Vec<CheckResult> {
    check_system_members(suite, log, None)
}

/// [`check_system`], with `members` = `(heartbeat, crasher)`: their member ids on the services
/// bus in the plan, which the logged ids must then be.
pub fn check_system_members(suite: &Suite, log: &str, members: Option<(u16, u16)>) -> Vec<CheckResult> {
    let prefix = suite.name;
    let name = |what: &str| format!("{prefix}/system-{what}");
    let contains = |text: &str| log.lines().any(|l| l.contains(text));
    let from = format!("logger: class 17 from bus {SYSTEM_SERVICES_BUS} member ");
    let id_text = |id: Option<u16>| id.map_or("M".to_string(), |id| id.to_string());
    let summary = format!("system: boot: 2 buses, {} modules", SYSTEM_MODULES.len());
    let started: Vec<String> = SYSTEM_MODULES.iter().map(|m| format!("system: module {m} ({m}) started")).collect();
    let not_started: Vec<&String> = started.iter().filter(|l| !contains(l)).collect();

    let restart = "supervisor: crasher failed (VM fault at 0x0), restarted (1 of 3)";
    // The supervisor and the logger share the console: the supervisor's line may land inside
    // one of the logger's (seen on virt and raspi4b). The beats are read with it taken out.
    let untangled = log.replace(&format!("{restart}\n"), "");
    let beats: Vec<Option<u16>> = (1..=3).map(|n| member_in(&untangled, &from, &format!(": beat {n}"))).collect();
    let heartbeat = beats[0];
    let wanted_heartbeat = members.map(|(h, _)| h);
    let beats_ok =
        beats.iter().all(|b| b.is_some() && *b == heartbeat) && wanted_heartbeat.is_none_or(|h| heartbeat == Some(h));
    let back = member_in(log, &from, SYSTEM_CRASHER_BACK);
    let wanted_crasher = members.map(|(_, c)| c);
    let back_ok = back.is_some() && back != heartbeat && wanted_crasher.is_none_or(|c| back == Some(c));

    vec![
        check(&name("summary"), contains(&summary), || format!("no line contains {summary:?}")),
        check(&name("started"), not_started.is_empty(), || format!("no line contains {not_started:?}")),
        check(&name("beats"), beats_ok, || {
            let member = id_text(wanted_heartbeat);
            format!("want \"{from}{member}: beat 1\" .. \"beat 3\", all from one member; found members {beats:?}")
        }),
        check(&name("restart"), contains(restart), || format!("no line contains {restart:?}")),
        check(&name("crasher-back"), back_ok, || {
            let member = id_text(wanted_crasher);
            format!(
                "want \"{from}{member}: crasher back after 1 restart\" from another member than the beats; \
                 found member {back:?}"
            )
        }),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_supervisor_line_inside_a_beat_is_taken_out() {
        let suite = &SUITES[0];
        let log = "system: boot: 2 buses, 0 modules\nlogger: class 17 from bus 2 member 2:\
            supervisor: crasher failed (VM fault at 0x0), restarted (1 of 3)\n beat 1\n\
            logger: class 17 from bus 2 member 2: beat 2\nlogger: class 17 from bus 2 member 2: beat 3\n";
        let results = check_system_members(suite, log, Some((2, 3)));
        let beats = results.iter().find(|r| r.name.ends_with("system-beats")).unwrap();
        assert!(beats.failure.is_none(), "{:?}", beats.failure);
        let restart = results.iter().find(|r| r.name.ends_with("system-restart")).unwrap();
        assert!(restart.failure.is_none());
    }

    const GOOD: &str = "hmk-loader: entering the kernel at EL1 with the MMU on\n\
        hmk 0.1.0: capability microkernel for AArch64\n\
        board: linux,dummy-virt\n\
        cpu: Cortex-A72 (MIDR 0x410fd083), 1 CPUs in the device tree, enable-method none, PSCI via HVC; kernel at EL1\n\
        memory: [0x40000000, 0x48000000) 128 MiB\n\
        untyped: 18 blocks, 129388 KiB in all\n\
        interrupts: GICv2, 288 lines, GICD 0x8000000, GICC 0x8010000, IIDR 0x43b\n\
        timer: tick 1 (counter 1)\ntimer: tick 2 (counter 2)\ntimer: tick 3 (counter 3)\n\
        hmk: boot test complete after 5 timer ticks, stopping\n";

    #[test]
    fn a_good_log_passes_every_check() {
        let results = check_boot(&SUITES[0], GOOD, Some(0));
        assert_eq!(results.len(), 9);
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
        assert_eq!(results.len(), 4);
        assert_eq!(results[1].name, "virt-gic2/b");
        assert_eq!(results[1].failure.as_deref(), Some("wrong badge"));
        assert!(results[3].failure.is_none(), "finished");
        let cut_short = check_suite(&SUITES[0], "PASS a\n", None);
        assert!(cut_short.last().unwrap().failure.is_some());
    }

    #[test]
    fn uart_echo_needs_ready_line_echo_and_log() {
        let log = "root task: hello from EL0\n\
            uart: driver ready on INTID 33 at 0x9000000, type to echo\n\
            hello hmk\n\
            echo: hello hmk\n";
        let results = check_uart_echo(&SUITES[0], log);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].name, "virt-gic2/uart-echo");
        assert!(results[0].failure.is_none(), "{results:?}");
        let wrong_board = check_uart_echo(&SUITES[3], log);
        assert!(wrong_board[0].failure.as_deref().is_some_and(|why| why.contains("INTID 153")));
        let not_echoed = log.replace("hello hmk\necho", "echo");
        assert!(check_uart_echo(&SUITES[0], &not_echoed)[0].failure.is_some());
        let not_logged = log.replace("echo: hello hmk\n", "");
        assert!(check_uart_echo(&SUITES[0], &not_logged)[0].failure.is_some());
    }

    #[test]
    fn last_tick_reads_the_highest_count() {
        assert_eq!(last_tick("timer: tick 2 (counter 5)\nother\ntimer: tick 10 (counter 9)\n"), 10);
        assert_eq!(last_tick("nothing"), 0);
    }

    const SYSTEM_LOG: &str = "root task: hello from EL0\n\
        system: boot: 2 buses, 3 modules\n\
        system: module logger (logger) started\n\
        system: module heartbeat (heartbeat) started\n\
        system: module crasher (crasher) started\n\
        [logger] logger: class 17 from bus 2 member 2: beat 1\n\
        logger: class 17 from bus 2 member 2: beat 2\n\
        supervisor: crasher failed (VM fault at 0x0), restarted (1 of 3)\n\
        logger: class 17 from bus 2 member 2: beat 3\n\
        logger: class 17 from bus 2 member 3: crasher back after 1 restart\n";

    fn system_failures(log: &str, members: Option<(u16, u16)>) -> Vec<String> {
        let results = check_system_members(&SUITES[0], log, members);
        assert_eq!(results.len(), 5);
        results.into_iter().filter(|r| r.failure.is_some()).map(|r| r.name).collect()
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
        assert_eq!(fails("2 buses, 3 modules", "2 buses, 2 modules"), ["virt-gic2/system-summary"]);
        assert_eq!(fails("module crasher (crasher) started", "module crasher"), ["virt-gic2/system-started"]);
        assert_eq!(fails(": beat 2", ": beat 22"), ["virt-gic2/system-beats"]);
        assert_eq!(fails("member 2: beat 3", "member 4: beat 3"), ["virt-gic2/system-beats"]);
        assert_eq!(fails("(1 of 3)", "(2 of 3)"), ["virt-gic2/system-restart"]);
        assert_eq!(fails("member 3: crasher", "member 2: crasher"), ["virt-gic2/system-crasher-back"]);
        assert_eq!(
            fails("class 17 from bus 2 member 3", "class 17 from bus 1 member 3"),
            ["virt-gic2/system-crasher-back"]
        );
        assert_eq!(
            system_failures(SYSTEM_LOG, Some((3, 2))),
            ["virt-gic2/system-beats", "virt-gic2/system-crasher-back"]
        );
        assert_eq!(system_failures("", None).len(), 5);
    }
}
