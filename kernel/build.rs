//! Links the kernel at `PPTR_BASE + KERNEL_PHYS` for the board in `HMK_BOARD` (set by the build
//! tool): the physical load address is where each board has free RAM well above the loader.
fn main() {
    println!("cargo:rerun-if-env-changed=HMK_BOARD");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let board = std::env::var("HMK_BOARD").unwrap_or_else(|_| "virt".into());
    let phys = match board.as_str() {
        "virt" => "0x41000000",
        "rpi4" => "0x01000000",
        other => panic!("HMK_BOARD={other}: expected virt or rpi4"),
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../linker/kernel.ld");
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rustc-link-arg=-T{}", script.display());
    println!("cargo:rustc-link-arg=--defsym=KERNEL_PHYS={phys}");
}
