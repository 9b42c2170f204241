//! Links the loader at its board's load address and embeds the kernel ELF named by
//! `HMK_KERNEL_ELF` and, when `HMK_ROOT_ELF` is set, the root task's ELF (the build tool sets
//! them). Without a root task the loader passes an empty user image and the kernel idles.
fn main() {
    println!("cargo:rerun-if-env-changed=HMK_BOARD");
    println!("cargo:rerun-if-env-changed=HMK_KERNEL_ELF");
    println!("cargo:rerun-if-env-changed=HMK_ROOT_ELF");
    let target = std::env::var("TARGET").unwrap_or_default();
    if !target.starts_with("aarch64") || std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let board = std::env::var("HMK_BOARD").unwrap_or_else(|_| "virt".into());
    let base = match board.as_str() {
        "virt" => "0x40080000",
        "rpi4" => "0x80000",
        other => panic!("HMK_BOARD={other}: expected virt or rpi4"),
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../linker/loader.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg=-T{}", script.display());
    println!("cargo:rustc-link-arg=--defsym=LOADER_BASE={base}");
    for var in ["HMK_KERNEL_ELF", "HMK_ROOT_ELF"] {
        if let Ok(path) = std::env::var(var) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if std::env::var("HMK_KERNEL_ELF").is_err() {
        panic!("HMK_KERNEL_ELF is not set: build the loader through `cargo xtask`");
    }
    let root = match std::env::var("HMK_ROOT_ELF") {
        Ok(path) => path,
        Err(_) => {
            let empty =
                std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("no-root-task");
            std::fs::write(&empty, []).expect("OUT_DIR is writable");
            empty.display().to_string()
        }
    };
    println!("cargo:rustc-env=HMK_ROOT_ELF_PATH={root}");
}
