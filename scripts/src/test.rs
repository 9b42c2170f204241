//! `cargo xtask test`: host unit tests, then every board configuration of
//! `hmk_boot_checks::SUITES` booted in QEMU (the `run` image typed on, to check the UART
//! driver's echo and the boot system the root task builds) and its serial log checked, then a
//! short run of the stateful fuzzer on virt (`run_fuzz`). One summary line per suite, then the
//! overall `N passed, N failed`; non-zero exit on any failure.

use crate::build::{self, Variant};
use crate::qemu::{self, Config};
use crate::{repo_root, setup};
use hmk_boot_checks::{
    CONSOLE_READY, CheckResult, SHELL_READY, SUITES, check_boot, check_console, check_fault, check_planned_system,
    check_suite, check_system_members, shell_session, system_settled,
};
use std::process::Command;
use std::time::Duration;

/// Time limit for one QEMU boot; a healthy one takes a few seconds.
const BOOT_LIMIT: Duration = Duration::from_secs(60);
/// The console run: the boot, then a shell session of some fifteen commands.
const CONSOLE_LIMIT: Duration = Duration::from_secs(150);
/// Time limit for the on-target suite, whose kernel checks every object after every kernel
/// entry (about a minute on virt).
const SUITE_LIMIT: Duration = Duration::from_secs(400);

/// Crates whose unit tests run on the host.
const HOST_CRATES: [&str; 8] =
    ["hmk-platform", "hmk-kernel", "hmk-sys", "hm-bus", "hm-parent", "hm-system", "hmk-boot-checks", "xtask"];

#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
}

/// Sums the `test result:` lines of `cargo test` output.
fn count_cargo_tests(output: &str) -> Tally {
    let mut tally = Tally::default();
    for line in output.lines().filter(|l| l.starts_with("test result:")) {
        let number_before = |word: &str| {
            line.split(';').find_map(|part| {
                part.trim()
                    .trim_start_matches("test result: ok.")
                    .trim_start_matches("test result: FAILED.")
                    .trim()
                    .strip_suffix(word)?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        };
        tally.passed += number_before("passed").unwrap_or(0);
        tally.failed += number_before("failed").unwrap_or(0);
    }
    tally
}

fn host_suite() -> Result<Tally, String> {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.arg("test").current_dir(repo_root());
    for krate in HOST_CRATES {
        command.args(["-p", krate]);
    }
    let output = command.output().map_err(|e| format!("cargo test: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut tally = count_cargo_tests(&text);
    if !output.status.success() {
        print!("{text}");
        eprint!("{}", String::from_utf8_lossy(&output.stderr));
        if tally.failed == 0 {
            // It did not even build: count that as one failure.
            tally.failed = 1;
        }
    }
    Ok(tally)
}

fn report(results: &[CheckResult], tally: &mut Tally) {
    for result in results {
        match &result.failure {
            None => tally.passed += 1,
            Some(why) => {
                tally.failed += 1;
                println!("FAIL {}: {why}", result.name);
            }
        }
    }
}

/// Runs every suite, or with `only` just that board configuration (no host tests or lints).
pub fn run(only: Option<&str>) -> Result<(), String> {
    if let Some(cases) = std::env::var_os("HMK_CASES").filter(|c| !c.is_empty()) {
        println!("note: HMK_CASES={} runs only the on-target cases it names", cases.to_string_lossy());
    }
    setup::ensure_rust_parts()?;
    setup::ensure_host_tools()?;
    let mut total = Tally::default();
    if let Some(name) = only {
        if name == "fuzz" {
            run_fuzz(&mut total)?;
        } else if name == "fixture" {
            run_fixture(&mut total)?;
        } else {
            let Some(suite) = SUITES.iter().find(|s| s.name == name) else {
                return Err(format!(
                    "--suite {name}: expected one of virt-gic2, virt-gic3, virt-el2, raspi4b, fuzz, fixture"
                ));
            };
            run_board(suite, &mut total)?;
        }
        println!("{} passed, {} failed", total.passed, total.failed);
        return if total.failed == 0 { Ok(()) } else { Err(format!("{} checks failed", total.failed)) };
    }

    let host = host_suite()?;
    println!("host: {} passed, {} failed", host.passed, host.failed);
    total.passed += host.passed;
    total.failed += host.failed;

    let mut lint = Tally::default();
    for (name, outcome) in crate::lint::run_all() {
        match outcome {
            Ok(()) => lint.passed += 1,
            Err(why) => {
                lint.failed += 1;
                println!("FAIL lint/{name}: {why}");
            }
        }
    }
    println!("lint: {} passed, {} failed", lint.passed, lint.failed);
    total.passed += lint.passed;
    total.failed += lint.failed;

    for suite in &SUITES {
        run_board(suite, &mut total)?;
    }
    run_fuzz(&mut total)?;
    run_fixture(&mut total)?;

    println!("{} passed, {} failed", total.passed, total.failed);
    if total.failed == 0 { Ok(()) } else { Err(format!("{} checks failed", total.failed)) }
}

/// A short run of the stateful fuzzer on virt (20,000 calls, 4 threads, seed 1: about 20 s):
/// it must end with its closing line, no kernel panic and no invariant violation.
fn run_fuzz(total: &mut Tally) -> Result<(), String> {
    let p = crate::fuzz::Params { seed: 1, calls: 20_000, threads: 4, trace: false };
    let limit = crate::fuzz::time_limit(p.calls, false);
    let outcome = crate::fuzz::run_once(qemu::Machine::Virt { gic: 2, el2: false }, &p, limit, false)?;
    let (line, passed) = crate::fuzz::judge(&p, &outcome, limit);
    if passed {
        total.passed += 1;
        println!("fuzz: 1 passed, 0 failed");
    } else {
        total.failed += 1;
        println!("FAIL fuzz: {line}\n--- serial log of the fuzzer ---\n{}---", outcome.log);
        println!("fuzz: 0 passed, 1 failed");
    }
    Ok(())
}

/// The driver developer's path as docs/writing-a-driver.md tells it, in a copy of the
/// repository ([`crate::fixture`]): one counted check.
fn run_fixture(total: &mut Tally) -> Result<(), String> {
    let (failure, log) = crate::fixture::run()?;
    match failure {
        None => {
            total.passed += 1;
            println!("fixture: 1 passed, 0 failed");
        }
        Some(why) => {
            total.failed += 1;
            println!("FAIL fixture/new-driver-module: {why}\n--- output of the copy's run ---\n{log}---");
            println!("fixture: 0 passed, 1 failed");
        }
    }
    Ok(())
}

/// Boots the boot-test, test-fault and suite kernels of one board configuration and its `run`
/// image (typed on, for the UART echo) and checks their logs; adds the results to `total`.
fn run_board(suite: &hmk_boot_checks::Suite, total: &mut Tally) -> Result<(), String> {
    {
        let mut tally = Tally::default();
        // Selected cases (HMK_CASES) are run alone, without the boot checks.
        let selected = std::env::var_os("HMK_CASES").is_some_and(|c| !c.is_empty());
        let variants: &[Variant] =
            if selected { &[Variant::Suite] } else { &[Variant::BootTest, Variant::TestFault, Variant::Suite] };
        for &variant in variants {
            let image = build::build_image(suite.machine.board(), variant)?;
            let config = Config {
                machine: suite.machine,
                memory: suite.memory.map(str::to_string),
                smp: 1,
                image,
                semihosting: true,
                icount: false,
                disk: None,
            };
            let limit = if variant == Variant::Suite { SUITE_LIMIT } else { BOOT_LIMIT };
            let outcome = qemu::run_captured(&config, limit, false)?;
            let results = match variant {
                Variant::TestFault => check_fault(suite, &outcome.log, outcome.exit_code),
                Variant::Suite => check_suite(suite, &outcome.log, outcome.exit_code),
                _ => check_boot(suite, &outcome.log, outcome.exit_code),
            };
            let before = tally.failed;
            report(&results, &mut tally);
            if tally.failed > before {
                println!("--- serial log of {} ({variant:?}) ---\n{}---", suite.name, outcome.log);
            }
        }
        if selected {
            println!("{}: {} passed, {} failed", suite.name, tally.passed, tally.failed);
            total.passed += tally.passed;
            total.failed += tally.failed;
            return Ok(());
        }
        // The ordinary `run` image: type on the console, the UART driver must echo it.
        let image = build::build_image(suite.machine.board(), Variant::Run)?;
        // On virt the block driver's checks need a disk, zeroed for every run.
        let disk = match suite.machine {
            qemu::Machine::Virt { .. } => {
                Some(qemu::disk_image(repo_root().join("target").join(suite.name).join("disk.img"), true)?)
            }
            qemu::Machine::Raspi4b => None,
        };
        let config = Config {
            machine: suite.machine,
            memory: suite.memory.map(str::to_string),
            smp: 1,
            image,
            semihosting: false,
            icount: false,
            disk,
        };
        // Type once the console and the shell are ready and the boot system has said its last
        // word (other writers of the shared console would otherwise cut into the echoed
        // line), each command once the one before has been answered. A system chosen with
        // --system says nothing the run waits for, and may have no shell.
        let chosen = build::chosen_system().is_some();
        let mut after = vec![CONSOLE_READY, SHELL_READY];
        if !chosen {
            after.extend(system_settled(suite.machine));
        }
        let session = if chosen { Vec::new() } else { shell_session(suite.machine) };
        let mut steps = Vec::new();
        for command in &session {
            let send = format!("{}\r", command.typed).into_bytes();
            steps.push(qemu::InputStep { after: std::mem::take(&mut after), send });
            after = command.answers.to_vec();
        }
        let input = qemu::Input { steps, until: after };
        let outcome = qemu::run_with_input(&config, CONSOLE_LIMIT, false, Some(&input))?;
        let before = tally.failed;
        let mut results = if chosen { Vec::new() } else { check_console(suite, &outcome.log) };
        let board = suite.machine.board();
        if chosen {
            let plan = hm_system::check_file(&build::system_file(board), hm_system::BoardName::parse(board))
                .map_err(|problems| problems.join("\n"))?;
            let modules: Vec<(&str, &str)> =
                plan.modules.iter().map(|m| (m.name.as_str(), m.program.as_str())).collect();
            results.extend(check_planned_system(suite, &outcome.log, &plan.system, plan.buses.len(), &modules));
        } else {
            results.extend(check_system_members(suite, &outcome.log, boot_system_members(board)));
        }
        report(&results, &mut tally);
        if tally.failed > before {
            println!("--- serial log of {} (Run) ---\n{}---", suite.name, outcome.log);
        }
        println!("{}: {} passed, {} failed", suite.name, tally.passed, tally.failed);
        total.passed += tally.passed;
        total.failed += tally.failed;
    }
    Ok(())
}

/// The heartbeat's and the timer's member ids on the `services` bus in the boot system's plan
/// for `board` (what the logger must name as their messages' senders); `None` if the plan does
/// not resolve (the image build has already reported why) or lacks them.
fn boot_system_members(board: &str) -> Option<(u16, u16)> {
    let plan = hm_system::check_file(&build::system_file(board), hm_system::BoardName::parse(board)).ok()?;
    let member = |module: &str| {
        let module = plan.modules.iter().find(|m| m.name == module)?;
        module.memberships.iter().find(|(bus, _)| bus == "services").map(|(_, id)| u16::from(*id))
    };
    Some((member("heartbeat")?, member("timer")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_test_result_line() {
        let output = "running 3 tests\ntest result: ok. 3 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out\n\
            test result: FAILED. 5 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.1s\n";
        let tally = count_cargo_tests(output);
        assert_eq!((tally.passed, tally.failed), (8, 2));
        assert_eq!(count_cargo_tests("no results").passed, 0);
    }

    #[test]
    fn the_boot_system_names_its_members() {
        assert_eq!(boot_system_members("virt"), Some((3, 4)));
        assert_eq!(boot_system_members("rpi4"), Some((3, 4)));
    }
}
