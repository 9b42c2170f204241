//! Links the fuzzer with the user-program linker script; the run's parameters come from
//! `HMK_FUZZ_SEED`, `HMK_FUZZ_CALLS`, `HMK_FUZZ_THREADS` and `HMK_FUZZ_TRACE` (read with
//! `option_env!`), so a change to any of them rebuilds the program.
fn main() {
    for var in ["HMK_FUZZ_SEED", "HMK_FUZZ_CALLS", "HMK_FUZZ_THREADS", "HMK_FUZZ_TRACE"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../linker/user.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg=-T{}", script.display());
}
