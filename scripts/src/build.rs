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
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Run => "run",
            Variant::BootTest => "boot-test",
            Variant::TestFault => "test-fault",
        }
    }

    fn features(self) -> &'static [&'static str] {
        match self {
            Variant::Run => &[],
            Variant::BootTest => &["--features", "boot-test"],
            Variant::TestFault => &["--features", "test-fault"],
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

    run(
        cargo()
            .args(["build", "--quiet", "--release", "-p", "hmk-loader", "--target", TARGET])
            .arg("--target-dir")
            .arg(&target_dir)
            .env("HMK_BOARD", board)
            .env("HMK_KERNEL_ELF", &kernel)
            .current_dir(&root),
        "building the loader",
    )?;
    let loader = out.join("hmk-loader.elf");
    std::fs::copy(release.join("hmk-loader"), &loader).map_err(|e| format!("copying the loader: {e}"))?;
    let image = out.join(if board == "rpi4" { "kernel8.img" } else { "hmk.img" });
    objcopy(&["-O", "binary"], &loader, &image)?;
    Ok(image)
}
