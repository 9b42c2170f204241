//! Links the root task with the user-program linker script, and puts the system plan it builds
//! at boot in `$OUT_DIR/system_plan.rs` (the root task `include!`s it): a copy of the file
//! `HMK_SYSTEM_PLAN` names (the build tool writes it from `system/<board>.toml` with
//! `hm_system::plan_source`), or the empty plan when the variable is unset (clippy, a plain
//! `cargo build`).
//!
//! It also puts the module programs it carries in `$OUT_DIR/modules.rs`:
//! `pub const MODULES: &[(&str, &[u8])]`, each program's name and ELF, from `HMK_MODULES`
//! (`name=/abs/path.elf;...`, the build tool sets it to the module crates' stripped ELFs), or
//! none when the variable is unset.
use std::path::{Path, PathBuf};

const EMPTY_PLAN: &str = "pub const PLAN: hm_parent::plan::SystemPlan = hm_parent::plan::EMPTY;\n";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HMK_SYSTEM_PLAN");
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let out = out_dir.join("system_plan.rs");
    let text = match std::env::var_os("HMK_SYSTEM_PLAN") {
        Some(plan) => {
            let plan = PathBuf::from(plan);
            println!("cargo:rerun-if-changed={}", plan.display());
            std::fs::read_to_string(&plan)
                .unwrap_or_else(|e| panic!("HMK_SYSTEM_PLAN: reading {}: {e}", plan.display()))
        }
        None => EMPTY_PLAN.to_string(),
    };
    // Rewrite only on a change, so an unchanged plan does not recompile the root task.
    if std::fs::read_to_string(&out).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&out, text).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
    }
    write_modules(&out_dir.join("modules.rs"));

    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../linker/user.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg=-T{}", script.display());
}

/// Writes `out` (`modules.rs`) from `HMK_MODULES`: an `include_bytes!` of each ELF it names.
fn write_modules(out: &Path) {
    println!("cargo:rerun-if-env-changed=HMK_MODULES");
    let mut text = String::from("pub const MODULES: &[(&str, &[u8])] = &[\n");
    if let Some(modules) = std::env::var_os("HMK_MODULES") {
        let modules = modules.into_string().unwrap_or_else(|e| panic!("HMK_MODULES: not UTF-8: {e:?}"));
        for entry in modules.split(';').filter(|entry| !entry.is_empty()) {
            let (name, elf) =
                entry.split_once('=').unwrap_or_else(|| panic!("HMK_MODULES: {entry:?} is not name=path"));
            let elf = Path::new(elf);
            assert!(elf.is_absolute(), "HMK_MODULES: {} is not an absolute path", elf.display());
            assert!(elf.is_file(), "HMK_MODULES: {} is not a file", elf.display());
            println!("cargo:rerun-if-changed={}", elf.display());
            let elf = elf.to_str().expect("a UTF-8 path");
            text.push_str(&format!("    ({name:?}, include_bytes!({elf:?})),\n"));
        }
    }
    text.push_str("];\n");
    if std::fs::read_to_string(out).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(out, text).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
    }
}
