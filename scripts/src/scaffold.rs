//! `cargo xtask new module NAME [--driver COMPATIBLE] [--board virt|rpi4]`: a new module
//! program, one crate under `userland/modules/NAME` (a workspace member by the
//! `userland/modules/*` glob), and its `[[module]]` entry appended to `system/<board>.toml`.
//! With `--driver`, the entry claims the first device-tree node of that `compatible` and its
//! interrupts, and the program starts from its first register block.

use crate::build::{MODULES_DIR, boot_system, module_programs};
use std::path::{Path, PathBuf};

/// Runs `new module ...`.
pub fn run(mut args: crate::Args) -> Result<(), String> {
    if args.0.first().map(String::as_str) != Some("module") {
        return Err("new needs a kind: new module NAME [--driver COMPATIBLE] [--board virt|rpi4]".into());
    }
    args.0.remove(0);
    let driver = args.value(&["--driver"])?;
    let board = args.value(&["--board"])?.unwrap_or_else(|| "virt".into());
    let Some(name) = args.0.first().cloned() else { return Err("new module needs a NAME".into()) };
    args.0.remove(0);
    args.finish()?;
    let written = scaffold(&crate::repo_root(), &name, driver.as_deref(), &board)?;
    for path in written {
        println!("[xtask] wrote {}", path.display());
    }
    println!("[xtask] `cargo xtask run --board {board}` builds and boots it");
    Ok(())
}

/// Whether `name` can name a program: lowercase letters, digits and dashes, starting with a
/// letter.
fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Writes the crate and the entry under the repository `root`; returns the paths written.
pub fn scaffold(root: &Path, name: &str, driver: Option<&str>, board: &str) -> Result<Vec<PathBuf>, String> {
    if !valid_name(name) || name == "root-task" {
        return Err(format!("{name:?}: a module name is lowercase letters, digits and dashes, starting with a letter"));
    }
    hm_system::BoardName::parse(board).ok_or_else(|| format!("--board {board}: expected virt or rpi4"))?;
    let dir = root.join(MODULES_DIR).join(name);
    if dir.exists() || module_programs_in(root).iter().any(|(program, _)| program == name) {
        return Err(format!("{}: a module program {name:?} exists already", dir.display()));
    }
    let system = root.join(boot_system(board));
    let mut description = std::fs::read_to_string(&system).map_err(|e| format!("{}: {e}", system.display()))?;
    std::fs::create_dir_all(dir.join("src")).map_err(|e| format!("{}: {e}", dir.display()))?;
    let manifest = dir.join("Cargo.toml");
    let main = dir.join("src/main.rs");
    let write = |path: &Path, text: &str| std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()));
    write(&manifest, &manifest_text(name, driver))?;
    write(&main, &main_text(name, driver))?;
    if !description.ends_with('\n') {
        description.push('\n');
    }
    description.push_str(&entry_text(name, driver));
    write(&system, &description)?;
    Ok(vec![manifest, main, system])
}

fn module_programs_in(root: &Path) -> Vec<(String, String)> {
    if root == crate::repo_root() { module_programs() } else { Vec::new() }
}

fn manifest_text(name: &str, driver: Option<&str>) -> String {
    let what = match driver {
        Some(compatible) => format!("the driver of an {compatible} device"),
        None => "a module".to_string(),
    };
    format!(
        "[package]\n\
         name = \"hm-{name}\"\n\
         description = \"HM module program: {what}\"\n\
         edition.workspace = true\n\
         version.workspace = true\n\
         license.workspace = true\n\
         build = \"../build.rs\"\n\
         \n\
         [dependencies]\n\
         hm-module = {{ path = \"../../module\" }}\n\
         hmk-rt = {{ path = \"../../rt\" }}\n\
         log.workspace = true\n\
         tock-registers.workspace = true\n"
    )
}

/// The program: a [`hm_module::Module`] whose `init` says what it was given on its first bus.
fn main_text(name: &str, driver: Option<&str>) -> String {
    let (about, body) = match driver {
        Some(compatible) => (
            format!("the driver of an `{compatible}` device"),
            format!(
                "        let Some(block) = cx.registers().first() else {{\n\
                 \x20           log::warn!(\"no register block given\");\n\
                 \x20           return;\n\
                 \x20       }};\n\
                 \x20       // Its registers: describe them with tock-registers' register_structs! and\n\
                 \x20       // read them through `unsafe {{ cx.registers_as::<Layout>(0) }}`.\n\
                 \x20       let line = alloc::format!(\n\
                 \x20           \"{name}: device at {{:#x}} ({{}} bytes), {{}} interrupts\",\n\
                 \x20           block.paddr,\n\
                 \x20           block.size,\n\
                 \x20           cx.irqs().len()\n\
                 \x20       );\n"
            ),
        ),
        None => ("a module".to_string(), format!("        let line = alloc::format!(\"{name}: started\");\n")),
    };
    let type_name: String = name
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect();
    format!(
        "//! The `{name}` module: {about}.\n\
         //! Its parent starts it with its devices, interrupts and bus seats (docs/module-api.md);\n\
         //! it says so on its first bus (class 17, scope global).\n\
         #![no_std]\n\
         #![no_main]\n\
         \n\
         extern crate alloc;\n\
         \n\
         use hm_module::{{Context, Message, Module, Scope}};\n\
         \n\
         /// The class the demonstration programs talk on.\n\
         const STATUS: u8 = 17;\n\
         \n\
         struct {type_name};\n\
         \n\
         impl Module for {type_name} {{\n\
         \x20   fn init(&mut self, cx: &mut Context) {{\n\
         {body}\
         \x20       let _ = cx.publish(STATUS, Scope::Global, line.as_bytes());\n\
         \x20   }}\n\
         \n\
         \x20   fn interrupt(&mut self, cx: &mut Context, irq: usize) {{\n\
         \x20       // Quieten the device here, then let the line raise the next one.\n\
         \x20       let _ = cx.ack(irq);\n\
         \x20   }}\n\
         \n\
         \x20   fn message(&mut self, _cx: &mut Context, _seat: usize, _message: &Message) {{}}\n\
         }}\n\
         \n\
         hm_module::module!({type_name});\n"
    )
}

fn entry_text(name: &str, driver: Option<&str>) -> String {
    let device = match driver {
        Some(compatible) => format!("devices = [{{ compatible = {compatible:?} }}]\nirqs = [\"from-device\"]\n"),
        None => String::new(),
    };
    format!(
        "\n[[module]]\n\
         name = \"{name}\"\n\
         priority = 100\n\
         budget_us = 1000\n\
         period_us = 10000\n\
         buses = [\"root\"]\n\
         {device}\
         restart = {{ policy = \"on-fault\" }}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("pl031-rtc"));
        assert!(!valid_name("Rtc") && !valid_name("9rtc") && !valid_name("rtc_x") && !valid_name(""));
    }

    #[test]
    fn a_scaffolded_driver_entry_checks_for_its_board() {
        let root = std::env::temp_dir().join(format!("hmk-scaffold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("system")).unwrap();
        std::fs::create_dir_all(root.join(MODULES_DIR)).unwrap();
        std::fs::write(
            root.join("system/virt.toml"),
            "[system]\nname = \"virt\"\nboard = \"virt\"\n\n[[bus]]\nname = \"root\"\n",
        )
        .unwrap();
        let written = scaffold(&root, "rtc", Some("arm,pl031"), "virt").unwrap();
        assert_eq!(written.len(), 3);
        let manifest = std::fs::read_to_string(root.join(MODULES_DIR).join("rtc/Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"hm-rtc\""));
        let programs = ["rtc".to_string()];
        let plan = hm_system::check_file_with(&root.join("system/virt.toml"), None, Some(&programs))
            .expect("the entry checks");
        let module = &plan.modules[0];
        assert_eq!((module.name.as_str(), module.irqs.as_slice()), ("rtc", &[34][..]));
        assert_eq!(module.devices[0].regions[0].start, 0x0901_0000);
        // A second one of that name is refused, and the files stay as they are.
        assert!(scaffold(&root, "rtc", None, "virt").is_err());
        let _ = std::fs::remove_dir_all(&root);
    }
}
