//! `cargo xtask image rpi4`: a flashable SD-card image for the Raspberry Pi 4.
//!
//! An MBR disk with one bootable FAT32 partition holding the firmware (`start4.elf`,
//! `fixup4.dat`), the device tree (`bcm2711-rpi-4-b.dtb`), `config.txt` and hmk as
//! `kernel8.img` (plus `overlays/disable-bt.dtbo` when the firmware directory has it). Built
//! with `sfdisk`, `mkfs.vfat --offset` and `mcopy` on a plain file: no root, no loop devices.

use crate::repo_root;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Image size and the partition's first sector (1 MiB in, as partitioning tools align).
const IMAGE_MIB: u64 = 64;
const PARTITION_START_SECTOR: u64 = 2048;
const SECTOR_BYTES: u64 = 512;

/// The firmware files an SD card needs besides `config.txt` and the kernel.
pub const FIRMWARE_FILES: [&str; 3] = ["start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb"];

/// What `config.txt` says, line by line, with the reason for each setting.
pub fn config_txt() -> String {
    [
        "# hmk on the Raspberry Pi 4 (written by `cargo xtask image rpi4`; see docs/rpi4.md).",
        "# 64-bit kernel, loaded where hmk's loader is linked.",
        "arm_64bit=1",
        "kernel=kernel8.img",
        "kernel_address=0x80000",
        "# Interrupts through the GIC-400, which hmk drives.",
        "enable_gic=1",
        "# Serial console: UART0 (PL011) on GPIO14/15 needs Bluetooth moved off it; the overlay",
        "# comes from the Raspberry Pi firmware repository (Debian does not ship overlays).",
        "dtoverlay=disable-bt",
        "enable_uart=1",
        "uart_2ndstage=1",
        "core_freq=250",
        "",
    ]
    .join("\n")
}

/// Byte offset and size in KiB of the FAT partition inside the image.
pub fn partition_geometry() -> (u64, u64) {
    let offset = PARTITION_START_SECTOR * SECTOR_BYTES;
    let size_kib = (IMAGE_MIB * 1024 * 1024 - offset) / 1024;
    (offset, size_kib)
}

fn tool(name: &str, package: &str) -> Result<PathBuf, String> {
    let candidates = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/sbin", "/usr/sbin"].map(PathBuf::from));
    for dir in candidates {
        let path = dir.join(name);
        if path.is_file() {
            return Ok(path);
        }
    }
    Err(format!("{name} is missing: install the Debian package {package}"))
}

fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// Builds the image at `out` from `kernel8`, taking firmware from `firmware_dir` or fetching it
/// from Debian into `cache_dir`.
pub fn build_rpi4_image(
    kernel8: &Path,
    out: &Path,
    firmware_dir: Option<&Path>,
    cache_dir: &Path,
) -> Result<(), String> {
    let sfdisk = tool("sfdisk", "fdisk")?;
    let mkfs = tool("mkfs.vfat", "dosfstools")?;
    let mcopy = tool("mcopy", "mtools")?;
    let mmd = tool("mmd", "mtools")?;
    let firmware = match firmware_dir {
        Some(dir) => dir.to_path_buf(),
        None => {
            let script = repo_root().join("scripts/fetch-rpi4-firmware.sh");
            run(Command::new("bash").arg(script).arg(cache_dir), "fetching the Pi 4 firmware from Debian")?;
            cache_dir.to_path_buf()
        }
    };
    for file in FIRMWARE_FILES {
        if !firmware.join(file).is_file() {
            return Err(format!(
                "{} has no {file}: start4.elf and fixup4.dat come from Debian's raspi-firmware package, \
                 bcm2711-rpi-4-b.dtb from Debian's linux-image-*-arm64 package",
                firmware.display()
            ));
        }
    }

    let staging = cache_dir.join("staging");
    std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let config = staging.join("config.txt");
    std::fs::write(&config, config_txt()).map_err(|e| format!("{}: {e}", config.display()))?;

    let image = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    image.set_len(IMAGE_MIB * 1024 * 1024).map_err(|e| format!("{}: {e}", out.display()))?;
    drop(image);
    let mut partition = Command::new(&sfdisk);
    partition.args(["-q"]).arg(out).stdin(std::process::Stdio::piped());
    let mut child = partition.spawn().map_err(|e| format!("sfdisk: {e}"))?;
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(format!("label: dos\nstart={PARTITION_START_SECTOR}, type=c, bootable\n").as_bytes())
        .map_err(|e| format!("sfdisk: {e}"))?;
    if !child.wait().map_err(|e| format!("sfdisk: {e}"))?.success() {
        return Err("sfdisk could not partition the image".into());
    }
    let (offset, size_kib) = partition_geometry();
    run(
        Command::new(&mkfs)
            .args(["-F", "32", "-n", "HMKBOOT", "--offset"])
            .arg((offset / SECTOR_BYTES).to_string())
            .arg(out)
            .arg(size_kib.to_string()),
        "mkfs.vfat",
    )?;
    let target = format!("{}@@{offset}", out.display());
    let mut files: Vec<PathBuf> = FIRMWARE_FILES.iter().map(|f| firmware.join(f)).collect();
    files.push(config);
    files.push(kernel8.to_path_buf());
    let mut copy = Command::new(&mcopy);
    copy.env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(&target).args(&files).arg("::/");
    run(&mut copy, "mcopy")?;
    let overlay = firmware.join("overlays/disable-bt.dtbo");
    if overlay.is_file() {
        run(Command::new(&mmd).env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(&target).arg("::/overlays"), "mmd")?;
        run(
            Command::new(&mcopy).env("MTOOLS_SKIP_CHECK", "1").arg("-i").arg(&target).arg(&overlay).arg("::/overlays/"),
            "mcopy",
        )?;
    } else {
        println!("[xtask] note: no overlays/disable-bt.dtbo in the firmware; see docs/rpi4.md for the serial console");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_sets_the_boot_contract() {
        let config = config_txt();
        for line in ["arm_64bit=1", "kernel=kernel8.img", "kernel_address=0x80000", "enable_gic=1", "enable_uart=1"] {
            assert!(config.lines().any(|l| l == line), "config.txt lacks {line}");
        }
    }

    #[test]
    fn partition_starts_at_one_mib_and_fills_the_image() {
        let (offset, size_kib) = partition_geometry();
        assert_eq!(offset, 1 << 20);
        assert_eq!(offset / 1024 + size_kib, IMAGE_MIB * 1024);
    }
}
