//! `cargo xtask bench`: boots the benchmark task, then the benchmark system (`system/bench-<board>.toml`
//! or `--system FILE`), under `qemu -icount shift=0`, where one guest
//! instruction is one tick, and reports instructions per operation as a table and as JSON
//! (`target/bench.json`).

use crate::build::{self, Variant};
use crate::qemu::{self, Config, Machine};
use crate::{repo_root, setup};
use std::time::Duration;

/// Parses the `BENCH name instructions` lines; `None` unless the run ended with `BENCH done`.
pub fn parse(log: &str) -> Option<Vec<(String, u64)>> {
    let mut figures = Vec::new();
    let mut done = false;
    for line in log.lines() {
        let Some(rest) = line.trim_end().strip_prefix("BENCH ") else { continue };
        if rest == "done" {
            done = true;
            continue;
        }
        let (name, value) = rest.rsplit_once(' ')?;
        figures.push((name.to_string(), value.parse().ok()?));
    }
    done.then_some(figures)
}

/// The figures as a JSON object, in order.
pub fn to_json(board: &str, figures: &[(String, u64)]) -> String {
    let body: Vec<String> = figures.iter().map(|(name, value)| format!("    \"{name}\": {value}")).collect();
    format!(
        "{{\n  \"board\": \"{board}\",\n  \"unit\": \"instructions\",\n  \"figures\": {{\n{}\n  }}\n}}\n",
        body.join(",\n")
    )
}

pub fn run(mut args: Vec<String>) -> Result<(), String> {
    let mut board = "virt".to_string();
    if let Some(at) = args.iter().position(|a| a == "--board") {
        board = args.get(at + 1).cloned().ok_or("--board needs a value")?;
        args.drain(at..at + 2);
    }
    if let Some(at) = args.iter().position(|a| a == "--system") {
        let file = args.get(at + 1).cloned().ok_or("--system needs a file")?;
        build::choose_system(std::path::PathBuf::from(file));
        args.drain(at..at + 2);
    }
    if let Some(extra) = args.first() {
        return Err(format!("unexpected argument {extra:?}"));
    }
    let machine = match board.as_str() {
        "virt" => Machine::Virt { gic: 2, el2: false },
        "rpi4" => Machine::Raspi4b,
        other => return Err(format!("--board {other}: expected virt or rpi4")),
    };
    setup::ensure_rust_parts()?;
    setup::ensure_host_tools()?;
    let mut figures = Vec::new();
    for variant in [Variant::Bench, Variant::SystemBench] {
        let image = build::build_image(machine.board(), variant)?;
        let disk = match (variant, machine) {
            (Variant::SystemBench, Machine::Virt { .. }) => {
                Some(qemu::disk_image(repo_root().join("target/virt/bench-disk.img"), true)?)
            }
            _ => None,
        };
        let config =
            Config { machine, memory: Some("1G".into()), smp: 1, image, semihosting: true, icount: true, disk };
        // The kernel benchmarks end the machine; the system's end with their last line.
        let input = qemu::Input { steps: Vec::new(), until: vec!["BENCH done"] };
        let outcome = qemu::run_with_input(&config, Duration::from_secs(300), false, Some(&input))?;
        let Some(found) = parse(&outcome.log) else {
            return Err(format!("the benchmark run did not finish:\n{}", outcome.log));
        };
        // Each kernel reports its boot; the first run's figure stands.
        for (name, value) in found {
            if !figures.iter().any(|(known, _)| *known == name) {
                figures.push((name, value));
            }
        }
    }
    println!("{:<44} {:>14}", "operation", "instructions");
    for (name, value) in &figures {
        println!("{name:<44} {value:>14}");
    }
    let json = to_json(&board, &figures);
    let path = repo_root().join("target/bench.json");
    std::fs::write(&path, &json).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\n{json}");
    println!("[xtask] wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_figures_and_requires_the_end_marker() {
        let log = "boot\nBENCH yield 812\nBENCH call_reply_recv 1500\nBENCH done\n";
        assert_eq!(parse(log), Some(vec![("yield".into(), 812), ("call_reply_recv".into(), 1500)]));
        assert_eq!(parse("BENCH yield 812\n"), None);
        assert_eq!(parse("BENCH yield x\nBENCH done\n"), None);
    }

    #[test]
    fn json_lists_figures_in_order() {
        let json = to_json("virt", &[("a".into(), 1), ("b".into(), 2)]);
        assert!(json.contains("\"a\": 1,\n    \"b\": 2"));
        assert!(json.contains("\"unit\": \"instructions\""));
    }
}
