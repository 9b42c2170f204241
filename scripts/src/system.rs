//! `cargo xtask system check FILE [--board virt|rpi4]`: checks a system description with the
//! `hm-system` crate and prints the resolved plan, or every problem as one `error: ...` line.

use hm_system::BoardName;
use std::path::PathBuf;

/// Runs `system <subcommand> ...`.
pub fn run(mut words: Vec<String>) -> Result<(), String> {
    if words.first().map(String::as_str) != Some("check") {
        return Err(format!("system needs a subcommand: system check FILE [--board virt|rpi4]\n{}", crate::USAGE));
    }
    words.remove(0);
    let mut args = crate::Args(words);
    let board = args
        .value(&["--board"])?
        .map(|b| BoardName::parse(&b).ok_or_else(|| format!("--board {b}: expected virt or rpi4")))
        .transpose()?;
    let Some(file) = args.0.first().cloned() else { return Err("system check needs a FILE".into()) };
    args.0.remove(0);
    args.finish()?;
    check(&file, board)
}

/// Checks `file` (relative to the current directory, or else to the repository root).
fn check(file: &str, board: Option<BoardName>) -> Result<(), String> {
    let path = [PathBuf::from(file), crate::repo_root().join(file)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{file}: no such file"))?;
    match hm_system::check_file(&path, board) {
        Ok(plan) => {
            print!("{plan}");
            Ok(())
        }
        Err(problems) => {
            for problem in &problems {
                println!("{problem}");
            }
            Err(format!("{file}: {} error(s)", problems.len()))
        }
    }
}
