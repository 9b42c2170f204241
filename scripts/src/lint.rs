//! `cargo xtask lint`: `cargo fmt --check` and clippy with warnings denied, on the host crates
//! and on the kernel and loader for every board, and the link layout of the kernel ELF each
//! board's loader embeds against seL4's (`hmk_boot_checks::kernel_elf`). Part of
//! `cargo xtask test`.

use crate::build::{self, TARGET, Variant};
use crate::repo_root;
use hmk_boot_checks::kernel_elf::{KernelElf, check_layout};
use std::process::Command;

const HOST_CRATES: [&str; 7] =
    ["hmk-platform", "hmk-sys", "hm-bus", "hm-parent", "hm-system", "hmk-boot-checks", "xtask"];
/// User-level crates, checked for the user target, besides every module program
/// ([`build::module_programs`]).
const USER_CRATES: [&str; 9] =
    ["hmk-sys", "hmk-rt", "hm-bus", "hm-parent", "hm-module", "hmk-root-task", "hmk-tests", "hmk-bench", "hmk-fuzzer"];

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(repo_root());
    command
}

fn outcome(command: &mut Command) -> Result<(), String> {
    let output = command.output().map_err(|e| e.to_string())?;
    if output.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout);
    let first: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(12).collect();
    Err(first.join("\n"))
}

/// The seL4 link-layout checks of the kernel ELF at `kernel` (`Err`: it was not built), named
/// `kernel-layout-{board}/{fact}`.
fn kernel_layout(board: &str, kernel: Result<&std::path::Path, &String>) -> Vec<(String, Result<(), String>)> {
    let prefix = format!("kernel-layout-{board}");
    let parsed = kernel
        .map_err(|why| why.clone())
        .and_then(|path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display())))
        .and_then(|bytes| KernelElf::parse(&bytes));
    match parsed {
        Ok(elf) => check_layout(&prefix, &elf).into_iter().map(|r| (r.name, r.failure.map_or(Ok(()), Err))).collect(),
        Err(why) => vec![(prefix, Err(why))],
    }
}

/// Every lint, by name, with its outcome.
pub fn run_all() -> Vec<(String, Result<(), String>)> {
    let mut results = vec![("rustfmt".to_string(), outcome(cargo().args(["fmt", "--all", "--", "--check"])))];
    let mut host = cargo();
    host.args(["clippy", "--quiet", "--all-targets"]);
    for krate in HOST_CRATES {
        host.args(["-p", krate]);
    }
    host.args(["--", "-D", "warnings"]);
    results.push(("clippy-host".to_string(), outcome(&mut host)));
    // The kernel's library half is pure logic and builds on the host; its binary does not.
    let kernel_lib =
        outcome(cargo().args(["clippy", "--quiet", "-p", "hmk-kernel", "--lib", "--tests", "--", "-D", "warnings"]));
    results.push(("clippy-kernel-lib".to_string(), kernel_lib));
    // User programs, for their own target.
    let mut user = cargo();
    user.args(["clippy", "--quiet", "--release", "--target", build::USER_TARGET]);
    for krate in USER_CRATES.iter().map(|k| k.to_string()).chain(build::module_programs().into_iter().map(|(_, p)| p)) {
        user.args(["-p", &krate]);
    }
    user.arg("--target-dir").arg(repo_root().join("target/user")).args(["--", "-D", "warnings"]);
    let user = outcome(&mut user);
    results.push(("clippy-user".to_string(), user));
    for board in ["virt", "rpi4"] {
        // The loader embeds a kernel ELF, so one must exist before clippy can check it.
        let embedded = build::build_image(board, Variant::Run).map(|image| image.with_file_name("hmk-kernel.elf"));
        results.extend(kernel_layout(board, embedded.as_deref()));
        let result = embedded.and_then(|kernel| {
            outcome(
                cargo()
                    .args([
                        "clippy",
                        "--quiet",
                        "--release",
                        "-p",
                        "hmk-kernel",
                        "-p",
                        "hmk-loader",
                        "--target",
                        TARGET,
                    ])
                    .arg("--target-dir")
                    .arg(repo_root().join("target").join(board))
                    .env("HMK_BOARD", board)
                    .env("HMK_KERNEL_ELF", kernel)
                    .args(["--", "-D", "warnings"]),
            )
        });
        results.push((format!("clippy-{board}"), result));
    }
    // The test kernel's own code: the invariant checker.
    let checked = outcome(
        cargo()
            .args(["clippy", "--quiet", "--release", "-p", "hmk-kernel", "--target", TARGET])
            .args(["--features", "qemu-exit,invariants"])
            .arg("--target-dir")
            .arg(repo_root().join("target").join("virt"))
            .env("HMK_BOARD", "virt")
            .args(["--", "-D", "warnings"]),
    );
    results.push(("clippy-kernel-invariants".to_string(), checked));
    results
}
