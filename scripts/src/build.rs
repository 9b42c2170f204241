//! Building a bootable image for a board: the kernel (with the variant's features), its
//! stripped copy embedded in the loader, and the loader as a raw arm64 image.

use crate::{repo_root, setup};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TARGET: &str = "aarch64-unknown-none-softfloat";

/// Which kernel to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// The kernel users boot.
    Run,
    /// Stops the machine after a few timer ticks (semihosting exit 0).
    BootTest,
    /// Faults on purpose after the boot report (semihosting exit 1 from the panic path).
    TestFault,
    /// The on-target test suite as the root task; QEMU ends when it halts.
    Suite,
    /// The benchmark task as the root task, the PMU open to EL0.
    Bench,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Run => "run",
            Variant::BootTest => "boot-test",
            Variant::TestFault => "test-fault",
            Variant::Suite => "suite",
            Variant::Bench => "bench",
        }
    }

    /// The user program the loader carries as the root task, if any.
    fn root_task(self) -> Option<&'static str> {
        match self {
            Variant::Run => Some("hmk-root-task"),
            Variant::Suite => Some("hmk-tests"),
            Variant::Bench => Some("hmk-bench"),
            Variant::BootTest | Variant::TestFault => None,
        }
    }

    fn features(self) -> &'static [&'static str] {
        match self {
            Variant::Run => &[],
            Variant::BootTest => &["--features", "boot-test"],
            Variant::TestFault => &["--features", "test-fault"],
            Variant::Suite => &["--features", "qemu-exit"],
            Variant::Bench => &["--features", "bench"],
        }
    }
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let status = command.status().map_err(|e| format!("{what}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("{what} failed")) }
}

fn objcopy(args: &[&str], input: &Path, output: &Path) -> Result<(), String> {
    run(Command::new(setup::objcopy()?).args(args).arg(input).arg(output), "llvm-objcopy")
}

/// Builds the kernel and loader for `board` (`virt` or `rpi4`); returns the raw loader image
/// (`kernel8.img` for the Pi). Each board has its own target directory, each variant its own
/// output directory under it.
pub fn build_image(board: &str, variant: Variant) -> Result<PathBuf, String> {
    let root = repo_root();
    let target_dir = root.join("target").join(board);
    let out = target_dir.join(variant.name());
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let release = target_dir.join(TARGET).join("release");

    run(
        cargo()
            .args(["build", "--quiet", "--release", "-p", "hmk-kernel", "--target", TARGET])
            .args(variant.features())
            .arg("--target-dir")
            .arg(&target_dir)
            .env("HMK_BOARD", board)
            .current_dir(&root),
        "building the kernel",
    )?;
    let kernel_debug = out.join("hmk-kernel.debug.elf");
    let kernel = out.join("hmk-kernel.elf");
    std::fs::copy(release.join("hmk-kernel"), &kernel_debug).map_err(|e| format!("copying the kernel: {e}"))?;
    objcopy(&["--strip-debug"], &kernel_debug, &kernel)?;

    let mut loader = cargo();
    loader
        .args(["build", "--quiet", "--release", "-p", "hmk-loader", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("HMK_BOARD", board)
        .env("HMK_KERNEL_ELF", &kernel)
        .env_remove("HMK_ROOT_ELF")
        .current_dir(&root);
    if let Some(program) = variant.root_task() {
        loader.env("HMK_ROOT_ELF", build_user_program(program)?);
    }
    run(&mut loader, "building the loader")?;
    let loader = out.join("hmk-loader.elf");
    std::fs::copy(release.join("hmk-loader"), &loader).map_err(|e| format!("copying the loader: {e}"))?;
    let image = out.join(if board == "rpi4" { "kernel8.img" } else { "hmk.img" });
    objcopy(&["-O", "binary"], &loader, &image)?;
    Ok(image)
}

/// Target of user programs: AArch64 with FP/SIMD (the kernel switches FP state lazily).
pub const USER_TARGET: &str = "aarch64-unknown-none";

/// Builds the user program `package` (board independent); returns its stripped ELF.
pub fn build_user_program(package: &str) -> Result<PathBuf, String> {
    let root = repo_root();
    let target_dir = root.join("target/user");
    run(
        cargo()
            .args(["build", "--quiet", "--release", "-p", package, "--target", USER_TARGET])
            .arg("--target-dir")
            .arg(&target_dir)
            .current_dir(&root),
        &format!("building {package}"),
    )?;
    let built = target_dir.join(USER_TARGET).join("release").join(package);
    let stripped = target_dir.join(format!("{package}.elf"));
    objcopy(&["--strip-debug"], &built, &stripped)?;
    Ok(stripped)
}
