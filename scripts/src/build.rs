//! Building a bootable image for a board: the kernel (with the variant's features), its
//! stripped copy embedded in the loader, and the loader as a raw arm64 image. The `run` image's
//! root task carries the boot system (`system/<board>.toml`), checked for the board and compiled in
//! as its plan ([`system_plan`]), and the module programs it names ([`module_programs`], each its own ELF)
//! embedded ([`build_modules`]).

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
    /// The root task building a benchmark system (`system/bench-<board>.toml`, or the one
    /// chosen with `--system`) whose modules measure the system's services, the PMU open to
    /// EL0.
    SystemBench,
    /// The stateful fuzzer as the root task, on a kernel that checks its invariants after
    /// every system call (`cargo xtask fuzz`).
    Fuzz,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Run => "run",
            Variant::BootTest => "boot-test",
            Variant::TestFault => "test-fault",
            Variant::Suite => "suite",
            Variant::Bench => "bench",
            Variant::SystemBench => "system-bench",
            Variant::Fuzz => "fuzz",
        }
    }

    /// The user program the loader carries as the root task, if any.
    fn root_task(self) -> Option<&'static str> {
        match self {
            Variant::Run | Variant::SystemBench => Some("hmk-root-task"),
            Variant::Suite => Some("hmk-tests"),
            Variant::Bench => Some("hmk-bench"),
            Variant::Fuzz => Some("hmk-fuzzer"),
            Variant::BootTest | Variant::TestFault => None,
        }
    }

    fn features(self) -> &'static [&'static str] {
        match self {
            Variant::Run => &[],
            Variant::BootTest => &["--features", "boot-test"],
            Variant::TestFault => &["--features", "test-fault"],
            Variant::Suite => &["--features", "qemu-exit,invariants"],
            Variant::Bench | Variant::SystemBench => &["--features", "bench"],
            Variant::Fuzz => &["--features", "qemu-exit,invariants"],
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
    build_image_with(board, variant, &[])
}

/// [`build_image`] with environment variables for the root task's build (the fuzzer's seed,
/// call count and threads).
pub fn build_image_with(
    board: &str,
    variant: Variant,
    root_task_env: &[(&str, &std::ffi::OsStr)],
) -> Result<PathBuf, String> {
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
        let elf = if program == "hmk-root-task" {
            let (plan, programs) = if variant == Variant::SystemBench {
                let file = chosen_system().map_or_else(|| root.join(bench_system(board)), Path::to_path_buf);
                system_plan_of(board, &file, "bench_system_plan.rs")?
            } else {
                system_plan(board)?
            };
            let modules = build_modules(&programs)?;
            build_user_program_with(
                program,
                &[(SYSTEM_PLAN_VAR, plan.as_os_str()), (MODULES_VAR, modules.as_os_str())],
            )?
        } else {
            build_user_program_with(program, root_task_env)?
        };
        loader.env("HMK_ROOT_ELF", elf);
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

/// The system description the root task builds at boot on `board`, relative to the repository
/// root: `system/<board>.toml` (each includes the parts the boards share).
pub fn boot_system(board: &str) -> String {
    format!("system/{board}.toml")
}

/// The benchmark system of `board`, relative to the repository root.
pub fn bench_system(board: &str) -> String {
    format!("system/bench-{board}.toml")
}

/// A description given with `--system FILE`, built instead of the board's own.
static CHOSEN_SYSTEM: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Makes every image this run builds carry the system described in `file`.
pub fn choose_system(file: PathBuf) {
    let _ = CHOSEN_SYSTEM.set(file);
}

/// The description chosen with `--system`, if any.
pub fn chosen_system() -> Option<&'static Path> {
    CHOSEN_SYSTEM.get().map(PathBuf::as_path)
}

/// The description the root task of `board` builds: the chosen one, or the board's own.
pub fn system_file(board: &str) -> PathBuf {
    CHOSEN_SYSTEM.get().cloned().unwrap_or_else(|| repo_root().join(boot_system(board)))
}

/// The variable that hands the root task's build script its plan's source.
pub const SYSTEM_PLAN_VAR: &str = "HMK_SYSTEM_PLAN";

/// The variables that hand the fuzzer its run's parameters (`userland/fuzzer/build.rs`); removed
/// from every user program's build unless given, like the plan and modules variables.
pub const FUZZ_VARS: [&str; 4] = ["HMK_FUZZ_SEED", "HMK_FUZZ_CALLS", "HMK_FUZZ_THREADS", "HMK_FUZZ_TRACE"];

/// The variable that hands the root task's build script its module programs' ELFs.
pub const MODULES_VAR: &str = "HMK_MODULES";
/// Where module programs live: each directory with a `Cargo.toml` is one crate, named
/// `hm-<program>` (a workspace member through the `userland/modules/*` glob).
pub const MODULES_DIR: &str = "userland/modules";
/// The programs every system needs besides its modules: the bus server and the bridge.
pub const INFRASTRUCTURE: [&str; 2] = ["bus-server", "bridge"];

/// Every module program under [`MODULES_DIR`]: `(program, package)`, by program name.
pub fn module_programs() -> Vec<(String, String)> {
    let mut programs: Vec<(String, String)> = std::fs::read_dir(repo_root().join(MODULES_DIR))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let manifest = std::fs::read_to_string(entry.path().join("Cargo.toml")).ok()?;
            let package = manifest.lines().find_map(|l| {
                let value = l.trim().strip_prefix("name")?.trim_start().strip_prefix('=')?.trim();
                Some(value.trim_matches('"').to_string())
            })?;
            Some((package.strip_prefix("hm-")?.to_string(), package))
        })
        .collect();
    programs.sort();
    programs
}

/// Builds the module programs `programs` names and the [`INFRASTRUCTURE`] ones; returns
/// [`MODULES_VAR`]'s value: `logger=/abs/hm-logger.elf;heartbeat=...`.
pub fn build_modules(programs: &[String]) -> Result<std::ffi::OsString, String> {
    let known = module_programs();
    let mut modules = std::ffi::OsString::new();
    let wanted = INFRASTRUCTURE.iter().map(|p| p.to_string()).chain(programs.iter().cloned());
    let mut built: Vec<String> = Vec::new();
    for program in wanted {
        if built.contains(&program) {
            continue;
        }
        let Some((name, package)) = known.iter().find(|(p, _)| *p == program) else {
            return Err(format!(
                "no module program {program:?} in {MODULES_DIR}: make it with `cargo xtask new module {program}`"
            ));
        };
        built.push(program.clone());
        let package = package.as_str();
        let elf = build_user_program(package)?;
        let elf = std::path::absolute(&elf).map_err(|e| format!("{}: {e}", elf.display()))?;
        if elf.to_string_lossy().contains([';', '=']) {
            return Err(format!("{}: a module's path must not hold ';' or '='", elf.display()));
        }
        if !modules.is_empty() {
            modules.push(";");
        }
        modules.push(format!("{name}="));
        modules.push(&elf);
    }
    Ok(modules)
}

/// Checks [`system_file`] for `board` and writes its plan as Rust source to
/// `target/<board>/system_plan.rs` (only when the text changed, so an unchanged plan rebuilds
/// nothing); returns that file's absolute path and the programs its modules run. Fails with
/// every problem the checker found, a module running a program [`module_programs`] lacks too.
pub fn system_plan(board: &str) -> Result<(PathBuf, Vec<String>), String> {
    system_plan_of(board, &system_file(board), "system_plan.rs")
}

/// [`system_plan`] of the description in `path`, written to `target/<board>/<out_name>`.
pub fn system_plan_of(board: &str, path: &Path, out_name: &str) -> Result<(PathBuf, Vec<String>), String> {
    let root = repo_root();
    let name = hm_system::BoardName::parse(board).ok_or_else(|| format!("{board}: not a board"))?;
    let path = path.to_path_buf();
    let shown = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
    let prefix = format!("{}/", root.display());
    let programs: Vec<String> = module_programs().into_iter().map(|(program, _)| program).collect();
    let plan = hm_system::check_file_with(&path, Some(name), Some(&programs)).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(|p| p.replace(&prefix, "")).collect();
        format!("{}\n{} on {board}: {} error(s)", lines.join("\n"), shown.display(), problems.len())
    })?;
    let text = hm_system::plan_source(&plan);
    let dir = root.join("target").join(board);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = dir.join(out_name);
    if std::fs::read_to_string(&out).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok((out, plan.modules.into_iter().map(|m| m.program).collect()))
}

/// Builds the user program `package` (board independent); returns its stripped ELF.
pub fn build_user_program(package: &str) -> Result<PathBuf, String> {
    build_user_program_with(package, &[])
}

/// [`build_user_program`] with environment variables for its build (the root task's plan and
/// modules). The plan and modules variables are removed when not given, so a stray one in the
/// caller's environment never reaches the build.
fn build_user_program_with(package: &str, env: &[(&str, &std::ffi::OsStr)]) -> Result<PathBuf, String> {
    let root = repo_root();
    let target_dir = root.join("target/user");
    let mut command = cargo();
    command
        .args(["build", "--quiet", "--release", "-p", package, "--target", USER_TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove(SYSTEM_PLAN_VAR)
        .env_remove(MODULES_VAR)
        .current_dir(&root);
    for var in FUZZ_VARS {
        command.env_remove(var);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    run(&mut command, &format!("building {package}"))?;
    let built = target_dir.join(USER_TARGET).join("release").join(package);
    let stripped = target_dir.join(format!("{package}.elf"));
    objcopy(&["--strip-debug"], &built, &stripped)?;
    Ok(stripped)
}
