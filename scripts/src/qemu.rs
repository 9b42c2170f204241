//! Starting QEMU for a board configuration, interactively or with the serial log captured
//! under a time limit (optionally typing on the console once a given line appears).

use crate::repo_root;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use hmk_boot_checks::Machine;

pub struct Config {
    pub machine: Machine,
    /// `-m` (virt only); default 1G.
    pub memory: Option<String>,
    /// CPUs (virt only: raspi4b always has 4).
    pub smp: u32,
    pub image: PathBuf,
    /// Let the kernel end QEMU through semihosting (test kernels).
    pub semihosting: bool,
    /// Count one tick per instruction (`-icount shift=0`), for benchmarks.
    pub icount: bool,
    /// A raw disk image attached as a virtio-blk device (virt only), on the virtio-mmio
    /// transport QEMU fills first: the last, at 0x0a00_3e00 (INTID 79).
    pub disk: Option<PathBuf>,
}

/// Bytes of the disk images `run` and `test` attach on virt.
pub const DISK_BYTES: u64 = 1 << 20;

/// Makes `path` a zeroed disk image of [`DISK_BYTES`] (when `fresh`, or when it does not exist
/// or has another size); returns it.
pub fn disk_image(path: PathBuf, fresh: bool) -> Result<PathBuf, String> {
    let fits = std::fs::metadata(&path).is_ok_and(|m| m.len() == DISK_BYTES);
    if fresh || !fits {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let file = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        file.set_len(DISK_BYTES).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(path)
}

/// The Pi 4 device tree QEMU's raspi4b needs (`-dtb`): Debian's, kept in the repository.
pub fn rpi4_dtb() -> PathBuf {
    repo_root().join("tests/fixtures/bcm2711-rpi-4-b.dtb")
}

fn arguments(config: &Config) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    match config.machine {
        Machine::Virt { gic, el2 } => {
            let mut machine = format!("virt,gic-version={gic}");
            if el2 {
                machine.push_str(",virtualization=on");
            }
            args.extend(["-M".into(), machine, "-cpu".into(), "cortex-a72".into()]);
            args.extend(["-m".into(), config.memory.clone().unwrap_or_else(|| "1G".into())]);
            args.extend(["-nic".into(), "none".into()]);
            args.extend(["-smp".into(), config.smp.to_string()]);
            if let Some(disk) = &config.disk {
                // Modern virtio-mmio (version 2); QEMU's default is the legacy interface.
                args.extend(["-global".into(), "virtio-mmio.force-legacy=false".into()]);
                args.extend(["-drive".into(), format!("if=none,file={},format=raw,id=disk0", disk.display())]);
                args.extend(["-device".into(), "virtio-blk-device,drive=disk0".into()]);
            }
        }
        Machine::Raspi4b => {
            args.extend(["-M".into(), "raspi4b".into(), "-dtb".into(), rpi4_dtb().display().to_string()]);
        }
    }
    args.extend(["-kernel".into(), config.image.display().to_string()]);
    if config.icount {
        args.extend(["-icount".into(), "shift=0".into()]);
    }
    if config.semihosting {
        args.extend(["-semihosting-config".into(), "enable=on,target=native".into()]);
    }
    args
}

/// Boots with the console on this terminal until QEMU ends (Ctrl-A x).
pub fn run_interactive(config: &Config) -> Result<(), String> {
    println!("[xtask] booting {} in QEMU; Ctrl-A x quits", config.machine.board());
    let status = Command::new("qemu-system-aarch64")
        .args(arguments(config))
        .arg("-nographic")
        .status()
        .map_err(|e| format!("qemu-system-aarch64: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("QEMU exited with {status}")) }
}

/// What a captured run produced.
pub struct Outcome {
    pub log: String,
    /// QEMU's exit status; `None` when it was stopped at the time limit.
    pub exit_code: Option<i32>,
}

/// Console input for a captured run: steps, each written to QEMU's standard input (the serial
/// port) once the lines it waits for have appeared after the step before; the run ends as soon
/// as the lines `until` waits for follow the last step.
pub struct Input<'a> {
    pub steps: Vec<InputStep<'a>>,
    /// Stop as soon as every one of these has appeared in a line after the last step.
    pub until: Vec<&'a str>,
}

/// One step of [`Input`]: type `send` once every one of `after` has appeared in some line (in
/// any order) since the step before was typed.
pub struct InputStep<'a> {
    pub after: Vec<&'a str>,
    pub send: Vec<u8>,
}

/// Boots with the serial console captured; stops QEMU after `limit`. With `echo`, the console
/// is also copied to this terminal as it arrives.
pub fn run_captured(config: &Config, limit: Duration, echo: bool) -> Result<Outcome, String> {
    run_with_input(config, limit, echo, None)
}

/// As [`run_captured`], typing `input` on the console when its line appears.
pub fn run_with_input(config: &Config, limit: Duration, echo: bool, input: Option<&Input>) -> Result<Outcome, String> {
    let mut child = Command::new("qemu-system-aarch64")
        .args(arguments(config))
        .args(["-display", "none", "-monitor", "none", "-serial", "stdio"])
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("qemu-system-aarch64: {e}"))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut stdin = child.stdin.take();
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            let text = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
            if echo {
                println!("{text}");
                let _ = std::io::stdout().flush();
            }
            if sender.send(text).is_err() {
                break;
            }
        }
    });
    let mut deadline = Instant::now() + limit;
    let mut lines: Vec<String> = Vec::new();
    // The next step to type, and what it (or, after the last, the end) still waits for.
    let mut step = 0;
    let waits = |step: usize| -> Vec<&str> {
        let input = input.expect("only called with input");
        input.steps.get(step).map_or_else(|| input.until.clone(), |s| s.after.clone())
    };
    let mut awaited: Vec<&str> = if input.is_some() { waits(0) } else { Vec::new() };
    let exit_code = loop {
        for line in receiver.try_iter() {
            if let Some(input) = input {
                awaited.retain(|text| !line.contains(text));
                lines.push(line);
                // A step waiting for nothing is typed at once, and the next one checked.
                while awaited.is_empty() && step <= input.steps.len() {
                    let Some(next) = input.steps.get(step) else {
                        // Seen everything the end waits for: stop at once.
                        deadline = Instant::now();
                        step += 1;
                        break;
                    };
                    let typed = stdin.as_mut().map(|stdin| stdin.write_all(&next.send).and_then(|()| stdin.flush()));
                    if let Some(Err(e)) = typed {
                        lines.push(format!("[xtask] writing to QEMU's standard input: {e}"));
                    }
                    step += 1;
                    awaited = waits(step);
                }
            } else {
                lines.push(line);
            }
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    let _ = reader.join();
    lines.extend(receiver.try_iter());
    let mut log = lines.join("\n");
    log.push('\n');
    if let Some(mut stderr) = child.stderr.take() {
        let mut errors = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut errors);
        if !errors.trim().is_empty() {
            log.push_str(&format!("[qemu stderr] {}\n", errors.trim()));
        }
    }
    Ok(Outcome { log, exit_code })
}
