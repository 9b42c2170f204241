//! The driver developer's path, tested as docs/writing-a-driver.md tells it (`cargo xtask test
//! --suite fixture`, and part of the full run): in a copy of the repository, make a new driver
//! module with what `cargo xtask new module pl061-probe --driver arm,pl061` does (one crate
//! under `userland/modules/`, one entry appended to `system/virt.toml`), write its program
//! (`tests/fixtures/pl061-probe/main.rs`, the doc's step 3 for QEMU virt's PL061 GPIO) over
//! the generated one, change nothing else, and boot the copy's `cargo xtask run` unattended:
//! the module must start and say what its program says.

use crate::repo_root;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The module the fixture adds, and the device it claims.
const NAME: &str = "pl061-probe";
const COMPATIBLE: &str = "arm,pl061";
/// How long the copy's run boots for: the boot and the system's first lines take a few seconds.
const RUN_SECONDS: &str = "25";

/// The lines the copy's run must print: the module started, and its program's finding as the
/// logger logs it.
pub const STARTED: &str = "system: module pl061-probe (pl061-probe) started";
pub const FOUND: &str = ": pl061-probe: PL061 revision ";

/// Where the copy lives (kept between runs, so that its builds are incremental).
fn copy_root() -> PathBuf {
    repo_root().join("target/fixture/repo")
}

/// Copies the repository's files (tracked, and untracked ones not ignored) to `to`, writing
/// only files whose bytes differ (so the copy's builds stay incremental), and removes module
/// crates the repository no longer has.
fn copy_repository(to: &Path) -> Result<(), String> {
    let root = repo_root();
    let listed = Command::new("git")
        .args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("git ls-files: {e}"))?;
    if !listed.status.success() {
        return Err(format!("git ls-files: {}", String::from_utf8_lossy(&listed.stderr).trim()));
    }
    let files: Vec<&str> = listed
        .stdout
        .split(|&b| b == 0)
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter(|p| !p.is_empty())
        .collect();
    for file in &files {
        let from = root.join(file);
        let Ok(bytes) = std::fs::read(&from) else { continue }; // listed, but deleted
        let dest = to.join(file);
        if std::fs::read(&dest).is_ok_and(|old| old == bytes) {
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&dest, &bytes).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    let modules = to.join(crate::build::MODULES_DIR);
    for entry in std::fs::read_dir(&modules).map_err(|e| format!("{}: {e}", modules.display()))?.flatten() {
        let relative = format!("{}/{}/", crate::build::MODULES_DIR, entry.file_name().to_string_lossy());
        if entry.path().is_dir() && !files.iter().any(|f| f.starts_with(&relative)) {
            std::fs::remove_dir_all(entry.path()).map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Runs the fixture; returns the check's failure, if any, and the copy's run log.
pub fn run() -> Result<(Option<String>, String), String> {
    let copy = copy_root();
    copy_repository(&copy)?;
    // What `cargo xtask new module` does, on the copy (its own code: `scaffold::scaffold`).
    crate::scaffold::scaffold(&copy, NAME, Some(COMPATIBLE), "virt")?;
    let program = repo_root().join("tests/fixtures/pl061-probe/main.rs");
    let main = copy.join(crate::build::MODULES_DIR).join(NAME).join("src/main.rs");
    std::fs::copy(&program, &main).map_err(|e| format!("{} to {}: {e}", program.display(), main.display()))?;
    let output = Command::new("cargo")
        .args(["xtask", "run", "--timeout", RUN_SECONDS])
        .current_dir(&copy)
        .output()
        .map_err(|e| format!("cargo xtask run in {}: {e}", copy.display()))?;
    let log = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let missing: Vec<&str> = [STARTED, FOUND].into_iter().filter(|line| !log.contains(line)).collect();
    let failure = (!missing.is_empty()).then(|| format!("the copy's run printed no line with {missing:?}"));
    Ok((failure, log))
}
