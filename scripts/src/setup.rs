//! Host setup: the rustup targets and components that `rust-toolchain.toml` names, and the
//! host packages (QEMU with `raspi4b`, SD-image tools) that `scripts/setup-host.sh` installs or
//! names in one line when it cannot.

use crate::repo_root;
use std::path::PathBuf;
use std::process::Command;

const TARGETS: [&str; 2] = ["aarch64-unknown-none", "aarch64-unknown-none-softfloat"];
const COMPONENTS: [&str; 2] = ["rust-src", "llvm-tools"];

fn rustup_list(what: &[&str]) -> Result<String, String> {
    let output =
        Command::new("rustup").args(what).current_dir(repo_root()).output().map_err(|_| {
            "rustup is not installed: install it from rustup.rs, then run this command again".to_string()
        })?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn rustup_add(what: &[&str]) -> Result<(), String> {
    println!("[xtask] rustup {}", what.join(" "));
    let status = Command::new("rustup").args(what).current_dir(repo_root()).status().map_err(|e| e.to_string())?;
    if status.success() { Ok(()) } else { Err(format!("`rustup {}` failed; run it by hand", what.join(" "))) }
}

/// Adds any missing rustup target or component of `rust-toolchain.toml`.
pub fn ensure_rust_parts() -> Result<(), String> {
    let targets = rustup_list(&["target", "list", "--installed"])?;
    let missing: Vec<&str> = TARGETS.iter().copied().filter(|t| !targets.lines().any(|l| l.trim() == *t)).collect();
    if !missing.is_empty() {
        let mut args = vec!["target", "add"];
        args.extend(&missing);
        rustup_add(&args)?;
    }
    let components = rustup_list(&["component", "list", "--installed"])?;
    let missing: Vec<&str> =
        COMPONENTS.iter().copied().filter(|c| !components.lines().any(|l| l.trim().starts_with(c))).collect();
    if !missing.is_empty() {
        let mut args = vec!["component", "add"];
        args.extend(&missing);
        rustup_add(&args)?;
    }
    Ok(())
}

fn qemu_has_raspi4b() -> bool {
    Command::new("qemu-system-aarch64")
        .args(["-M", "help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with("raspi4b")))
}

fn image_tools_present() -> bool {
    ["mcopy", "mkfs.vfat", "sfdisk", "dpkg-deb"].iter().all(|tool| {
        std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
            || ["/sbin", "/usr/sbin"].iter().any(|dir| PathBuf::from(dir).join(tool).is_file())
    })
}

/// Makes sure QEMU (with `raspi4b`) and the SD-image tools are present, installing them with
/// `scripts/setup-host.sh` when they are not.
pub fn ensure_host_tools() -> Result<(), String> {
    if qemu_has_raspi4b() && image_tools_present() {
        return Ok(());
    }
    println!("[xtask] installing host packages (scripts/setup-host.sh)");
    let status =
        Command::new("bash").arg(repo_root().join("scripts/setup-host.sh")).status().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("host packages are missing (see the line above)".into());
    }
    if !qemu_has_raspi4b() {
        return Err("qemu-system-aarch64 still lacks the raspi4b machine: install Debian qemu-system-arm from bookworm-backports".into());
    }
    Ok(())
}

/// `llvm-objcopy` from the toolchain's `llvm-tools` component.
pub fn objcopy() -> Result<PathBuf, String> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .current_dir(repo_root())
        .output()
        .map_err(|e| e.to_string())?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let verbose = Command::new("rustc").arg("-vV").output().map_err(|e| e.to_string())?;
    let host = String::from_utf8_lossy(&verbose.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or("rustc -vV names no host")?;
    let path = sysroot.join("lib/rustlib").join(host).join("bin/llvm-objcopy");
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!("{} is missing: run `rustup component add llvm-tools`", path.display()))
    }
}
