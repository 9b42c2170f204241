//! `cargo xtask`: hmk's build tool. It owns every host-side step: setting up the toolchain
//! parts and host packages, building the kernel and loader per board, booting them in QEMU,
//! running the test suites and making the Raspberry Pi 4 SD-card image.
//!
//! Commands:
//!   run   [--board virt|rpi4] [--gic 2|3] [--el2] [--smp N] [--mem SIZE] [--timeout SECS] [--system FILE]
//!   test  [--suite NAME] [--system FILE]
//!   bench [--board virt|rpi4]
//!   fuzz  [--seed S] [--calls N] [--threads T] [--board virt|rpi4] [--timeout SECS] [--trace]
//!   lint
//!   image rpi4 [-o FILE] [--firmware DIR] [--system FILE]
//!   system check FILE [--board virt|rpi4]
//!   new module NAME [--driver COMPATIBLE] [--board virt|rpi4]

mod bench;
mod build;
mod fixture;
mod fuzz;
mod image;
mod lint;
mod qemu;
mod scaffold;
mod setup;
mod system;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

/// The repository root (the workspace directory above `scripts/`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("scripts/ has a parent").to_path_buf()
}

const USAGE: &str = "usage: cargo xtask <command>
  run   [--board virt|rpi4] [--gic 2|3] [--el2] [--smp N] [--mem SIZE] [--timeout SECS] [--system FILE]
        build and boot hmk in QEMU (Ctrl-A x quits); --timeout runs unattended; the root task
        builds system/<board>.toml, or the system description FILE
  test  [--suite NAME] [--system FILE]
        host unit tests, lints, every board configuration booted in QEMU, then a short
        fuzzer run on virt; --suite runs only that board configuration (virt-gic2,
        virt-gic3, virt-el2, raspi4b), the fuzzer run (fuzz) or the new-driver fixture
        (fixture); --system boots FILE's system
        in the run image and checks that each of its modules starts
  bench [--board virt|rpi4]
        instructions per kernel operation under QEMU -icount shift=0; a table and JSON
  fuzz  [--seed S] [--calls N] [--threads T] [--board virt|rpi4] [--timeout SECS] [--trace] [--quiet]
        the stateful fuzzer (docs/fuzzing.md) on a kernel checking its invariants
  lint  rustfmt check and clippy (host crates, and kernel and loader for both boards)
  image rpi4 [-o FILE] [--firmware DIR] [--system FILE]
        a flashable SD-card image for the Raspberry Pi 4
  system check FILE [--board virt|rpi4]
        check a system description (docs/system-description.md); print its plan or its errors
  new module NAME [--driver COMPATIBLE] [--board virt|rpi4]
        a new module program (userland/modules/NAME) and its entry in system/<board>.toml";

/// Command-line words after the command, consumed flag by flag.
pub struct Args(Vec<String>);

impl Args {
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|a| a != name);
        before != self.0.len()
    }

    pub fn value(&mut self, names: &[&str]) -> Result<Option<String>, String> {
        let Some(at) = self.0.iter().position(|a| names.contains(&a.as_str())) else { return Ok(None) };
        if at + 1 >= self.0.len() {
            return Err(format!("{} needs a value", self.0[at]));
        }
        let value = self.0.remove(at + 1);
        self.0.remove(at);
        Ok(Some(value))
    }

    pub fn finish(self) -> Result<(), String> {
        match self.0.first() {
            Some(extra) => Err(format!("unexpected argument {extra:?}\n{USAGE}")),
            None => Ok(()),
        }
    }
}

/// `--system FILE`: the system description the run image's root task builds instead of the
/// board's own (relative to the current directory, or else to the repository root).
fn choose_system(args: &mut Args) -> Result<(), String> {
    let Some(file) = args.value(&["--system"])? else { return Ok(()) };
    let path = [PathBuf::from(&file), repo_root().join(&file)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| format!("--system {file}: no such file"))?;
    build::choose_system(std::path::absolute(&path).map_err(|e| format!("{file}: {e}"))?);
    Ok(())
}

fn test_command(mut args: Args) -> Result<(), String> {
    let only = args.value(&["--suite"])?;
    choose_system(&mut args)?;
    args.finish()?;
    test::run(only.as_deref())
}

fn run_command(mut args: Args) -> Result<(), String> {
    let board = args.value(&["--board"])?.unwrap_or_else(|| "virt".into());
    let gic: u32 =
        args.value(&["--gic"])?.map_or(Ok(2), |g| g.parse().map_err(|_| format!("--gic {g}: expected 2 or 3")))?;
    let smp: u32 =
        args.value(&["--smp"])?.map_or(Ok(1), |n| n.parse().map_err(|_| format!("--smp {n}: expected a number")))?;
    let timeout: Option<u64> = args
        .value(&["--timeout"])?
        .map(|t| t.parse().map_err(|_| format!("--timeout {t}: expected seconds")))
        .transpose()?;
    let memory = args.value(&["--mem"])?;
    let el2 = args.flag("--el2");
    choose_system(&mut args)?;
    args.finish()?;
    let machine = match board.as_str() {
        "virt" if gic == 2 || gic == 3 => qemu::Machine::Virt { gic, el2 },
        "virt" => return Err(format!("--gic {gic}: expected 2 or 3")),
        "rpi4" => qemu::Machine::Raspi4b,
        other => return Err(format!("--board {other}: expected virt or rpi4")),
    };
    setup::ensure_rust_parts()?;
    setup::ensure_host_tools()?;
    let image = build::build_image(machine.board(), build::Variant::Run)?;
    let disk = match machine {
        qemu::Machine::Virt { .. } => Some(qemu::disk_image(repo_root().join("target/virt/disk.img"), false)?),
        qemu::Machine::Raspi4b => None,
    };
    let config = qemu::Config { machine, memory, smp, image, semihosting: false, icount: false, disk };
    match timeout {
        None => qemu::run_interactive(&config),
        Some(seconds) => {
            let outcome = qemu::run_captured(&config, std::time::Duration::from_secs(seconds), true)?;
            if outcome.exit_code.is_none() {
                println!("\n[xtask] stopped QEMU after {seconds} s");
            }
            Ok(())
        }
    }
}

fn image_command(mut args: Args) -> Result<(), String> {
    let output = args.value(&["-o", "--output"])?.unwrap_or_else(|| "hmk-rpi4-sd.img".into());
    let firmware = args.value(&["--firmware"])?.map(PathBuf::from);
    choose_system(&mut args)?;
    let Some(board) = args.0.first().cloned() else { return Err(format!("image needs a board\n{USAGE}")) };
    args.0.remove(0);
    args.finish()?;
    if board != "rpi4" {
        return Err(format!("image {board}: only rpi4 has an SD-card image"));
    }
    setup::ensure_rust_parts()?;
    let kernel8 = build::build_image("rpi4", build::Variant::Run)?;
    let cache = repo_root().join("target/firmware");
    image::build_rpi4_image(&kernel8, &PathBuf::from(&output), firmware.as_deref(), &cache)?;
    println!("[xtask] wrote {output}");
    Ok(())
}

fn main() -> ExitCode {
    let mut words: Vec<String> = std::env::args().skip(1).collect();
    if words.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::FAILURE;
    }
    let command = words.remove(0);
    let args = Args(words);
    let result = match command.as_str() {
        "run" => run_command(args),
        "test" => test_command(args),
        "image" => image_command(args),
        "bench" => bench::run(args.0),
        "fuzz" => fuzz::run(args),
        "system" => system::run(args.0),
        "new" => scaffold::run(args),
        "lint" => args.finish().and_then(|()| {
            let failures: Vec<String> =
                lint::run_all().into_iter().filter_map(|(name, r)| r.err().map(|e| format!("{name}: {e}"))).collect();
            if failures.is_empty() { Ok(()) } else { Err(failures.join("\n")) }
        }),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
