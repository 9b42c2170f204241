//! `cargo xtask fuzz`: builds the stateful fuzzer (`userland/fuzzer`) as the root task with the
//! run's seed, call count and threads, on a kernel that checks its invariants after every
//! system call, boots it in QEMU and reports the fuzzer's last line, or the kernel panic (and
//! the invariant it names) that ended the run, or a hang; then the wall time.

use crate::build::{self, Variant};
use crate::qemu::{self, Config, Machine};
use crate::setup;
use std::ffi::OsStr;
use std::time::{Duration, Instant};

/// The run's parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub seed: u64,
    pub calls: u64,
    pub threads: u64,
    pub trace: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params { seed: 1, calls: 20_000, threads: 4, trace: false }
    }
}

/// How a run ended, read from its serial log.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The fuzzer's closing line: every call made, no panic.
    Clean { summary: String },
    /// The kernel panicked: the panic line and the invariant it names, if it is one.
    Panic { line: String, invariant: Option<String> },
    /// Neither: the machine stopped (or was stopped) without a closing line.
    Unfinished { last: String },
}

/// The line that ends a clean run starts with this.
const SUMMARY_PREFIX: &str = "fuzz: seed ";
const PANIC_MARK: &str = "KERNEL PANIC";
const INVARIANT_MARK: &str = "invariant violated: ";

pub fn verdict(log: &str) -> Verdict {
    if let Some(line) = log.lines().find(|l| l.contains(PANIC_MARK)) {
        let invariant = line.split_once(INVARIANT_MARK).map(|(_, rest)| {
            let name = rest.split(':').next().unwrap_or(rest);
            name.trim().to_string()
        });
        return Verdict::Panic { line: line.trim().to_string(), invariant };
    }
    match log.lines().rev().find(|l| l.starts_with(SUMMARY_PREFIX) && l.contains(" restarts: ")) {
        Some(line) => Verdict::Clean { summary: line.trim().to_string() },
        None => Verdict::Unfinished {
            last: log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string(),
        },
    }
}

/// The closing line for a run that ended in a kernel panic.
pub fn panic_summary(p: &Params, restarts: u64, invariant: bool) -> String {
    format!(
        "fuzz: seed {}, {} calls, {} threads, {restarts} restarts: 1 panics, {} invariant violations",
        p.seed,
        p.calls,
        p.threads,
        u64::from(invariant)
    )
}

/// Restarts the fuzzer reported in its log so far (its `restarting` lines).
fn restarts_in(log: &str) -> u64 {
    log.lines().filter(|l| l.starts_with("fuzz: thread ") && l.contains("restarting")).count() as u64
}

/// A time limit generous for `calls` calls: a minute to boot and set up, then 20 ms a call (a
/// run of 100,000 calls takes about a quarter of that on one core; 10 million get 56 hours).
pub fn time_limit(calls: u64, trace: bool) -> Duration {
    let per_call_ms = if trace { 200 } else { 20 };
    Duration::from_secs(60) + Duration::from_millis(calls.saturating_mul(per_call_ms))
}

fn number(value: Option<String>, flag: &str, default: u64) -> Result<u64, String> {
    value.map_or(Ok(default), |v| v.replace('_', "").parse().map_err(|_| format!("{flag} {v}: expected a number")))
}

/// Builds the fuzzer image for `machine` with `p`, boots it and returns the log and how QEMU
/// ended (`None`: stopped at the time limit).
pub fn run_once(machine: Machine, p: &Params, limit: Duration, echo: bool) -> Result<qemu::Outcome, String> {
    let (seed, calls, threads) = (p.seed.to_string(), p.calls.to_string(), p.threads.to_string());
    let trace = if p.trace { "1" } else { "0" };
    let env: [(&str, &OsStr); 4] = [
        ("HMK_FUZZ_SEED", OsStr::new(&seed)),
        ("HMK_FUZZ_CALLS", OsStr::new(&calls)),
        ("HMK_FUZZ_THREADS", OsStr::new(&threads)),
        ("HMK_FUZZ_TRACE", OsStr::new(trace)),
    ];
    let image = build::build_image_with(machine.board(), Variant::Fuzz, &env)?;
    let config =
        Config { machine, memory: Some("1G".into()), smp: 1, image, semihosting: true, icount: false, disk: None };
    qemu::run_captured(&config, limit, echo)
}

/// Judges a finished run: the line to print, and whether it passed.
pub fn judge(p: &Params, outcome: &qemu::Outcome, limit: Duration) -> (String, bool) {
    match verdict(&outcome.log) {
        Verdict::Clean { summary } if outcome.exit_code == Some(0) => (summary, true),
        Verdict::Clean { summary } => (format!("{summary} (but QEMU exited with {:?})", outcome.exit_code), false),
        Verdict::Panic { line, invariant } => {
            let summary = panic_summary(p, restarts_in(&outcome.log), invariant.is_some());
            let what = match invariant {
                Some(name) => format!("invariant violated: {name}"),
                None => "kernel panic".to_string(),
            };
            (format!("{summary}\n[xtask] {what}: {line}"), false)
        }
        Verdict::Unfinished { last } if outcome.exit_code.is_none() => {
            (format!("fuzz: no closing line after {} s (a hang?); last line: {last}", limit.as_secs()), false)
        }
        Verdict::Unfinished { last } => (
            format!("fuzz: QEMU exited with {:?} before the closing line; last line: {last}", outcome.exit_code),
            false,
        ),
    }
}

pub fn run(mut args: crate::Args) -> Result<(), String> {
    let defaults = Params::default();
    let seed = number(args.value(&["--seed"])?, "--seed", defaults.seed)?;
    let calls = number(args.value(&["--calls"])?, "--calls", defaults.calls)?;
    let threads = number(args.value(&["--threads"])?, "--threads", defaults.threads)?;
    let timeout = args.value(&["--timeout"])?;
    let board = args.value(&["--board"])?.unwrap_or_else(|| "virt".into());
    let trace = args.flag("--trace");
    let quiet = args.flag("--quiet");
    args.finish()?;
    if !(1..=8).contains(&threads) {
        return Err(format!("--threads {threads}: expected 1 to 8"));
    }
    let machine = match board.as_str() {
        "virt" => Machine::Virt { gic: 2, el2: false },
        "rpi4" => Machine::Raspi4b,
        other => return Err(format!("--board {other}: expected virt or rpi4")),
    };
    let p = Params { seed, calls, threads, trace };
    let limit = match timeout {
        Some(t) => Duration::from_secs(t.parse().map_err(|_| format!("--timeout {t}: expected seconds"))?),
        None => time_limit(calls, trace),
    };
    setup::ensure_rust_parts()?;
    setup::ensure_host_tools()?;
    println!("[xtask] fuzzing on {board}: seed {seed}, {calls} calls, {threads} threads (limit {} s)", limit.as_secs());
    let started = Instant::now();
    let outcome = run_once(machine, &p, limit, !quiet)?;
    let wall = started.elapsed();
    let (line, passed) = judge(&p, &outcome, limit);
    if quiet && !passed {
        println!("--- serial log ---\n{}---", outcome.log);
    }
    println!("{line}");
    println!("[xtask] wall time {:.1} s (build and boot included)", wall.as_secs_f64());
    if passed { Ok(()) } else { Err("the fuzzer found a problem (see above)".into()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clean_run_ends_with_the_summary() {
        let log = "boot\nfuzz: progress 90%\nfuzz: seed 7, 100 calls, 4 threads, 2 restarts: 0 panics, 0 invariant violations\n";
        assert_eq!(
            verdict(log),
            Verdict::Clean {
                summary: "fuzz: seed 7, 100 calls, 4 threads, 2 restarts: 0 panics, 0 invariant violations".into()
            }
        );
    }

    #[test]
    fn a_panic_names_its_invariant() {
        let log = "fuzz: seed 7, 100 calls, 4 threads: starting\n\
            hmk: KERNEL PANIC at kernel/src/invariants.rs:113: invariant violated: reply-link-symmetric: reply 0x1 names tcb 0x2\n\
            hmk: halted\n";
        match verdict(log) {
            Verdict::Panic { invariant, .. } => assert_eq!(invariant.as_deref(), Some("reply-link-symmetric")),
            other => panic!("{other:?}"),
        }
        let plain = "hmk: KERNEL PANIC at kernel/src/ipc.rs:10: index out of bounds\n";
        assert!(matches!(verdict(plain), Verdict::Panic { invariant: None, .. }));
        let p = Params { seed: 7, calls: 100, threads: 4, trace: false };
        assert_eq!(
            panic_summary(&p, 3, true),
            "fuzz: seed 7, 100 calls, 4 threads, 3 restarts: 1 panics, 1 invariant violations"
        );
    }

    #[test]
    fn no_summary_is_unfinished_and_limits_grow_with_calls() {
        assert!(matches!(verdict("fuzz: progress 50%\n"), Verdict::Unfinished { .. }));
        assert!(time_limit(10_000_000, false) > Duration::from_secs(3600 * 10));
        assert!(time_limit(20_000, false) < time_limit(100_000, false));
    }
}
