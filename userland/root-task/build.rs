//! Links the root task with the user-program linker script, and puts the system plan it builds
//! at boot in `$OUT_DIR/system_plan.rs` (the root task `include!`s it): a copy of the file
//! `HMK_SYSTEM_PLAN` names (the build tool writes it from `system/boot.toml` with
//! `hm_system::plan_source`), or the empty plan when the variable is unset (clippy, a plain
//! `cargo build`).
use std::path::PathBuf;

const EMPTY_PLAN: &str = "pub const PLAN: hm_parent::plan::SystemPlan = hm_parent::plan::EMPTY;\n";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HMK_SYSTEM_PLAN");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("system_plan.rs");
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

    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../linker/user.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg=-T{}", script.display());
}
