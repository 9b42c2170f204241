//! A description as files: the file given, then each file its `system.include` names (relative
//! to it), joined into one text for the checker. An included file holds only `[[bus]]` and
//! `[[module]]` tables (it has no `[system]` of its own), so the joined text is the file given
//! with the shared entries appended; each line of it maps back to its own file and line.

use crate::board::BoardName;
use crate::check::{Problem, check_source_with};
use crate::plan::Plan;
use std::path::{Path, PathBuf};

/// The joined text and where each part of it came from.
#[derive(Debug)]
pub struct Source {
    pub text: String,
    /// `(file, first line of it in the text)`, in order.
    parts: Vec<(PathBuf, usize)>,
}

impl Source {
    /// Reads `path` and the files its `system.include` names.
    pub fn load(path: &Path) -> Result<Source, String> {
        let read = |path: &Path| std::fs::read_to_string(path).map_err(|e| format!("error: {}: {e}", path.display()));
        let main = read(path)?;
        let mut source = Source { text: String::new(), parts: Vec::new() };
        source.append(path, &main);
        // The include list is read on its own: the checker reports everything else.
        let includes: Vec<String> = toml::from_str::<toml::Table>(&main)
            .ok()
            .and_then(|table| table.get("system")?.get("include")?.as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let dir = path.parent().unwrap_or(Path::new("."));
        for include in includes {
            let file = dir.join(&include);
            let text = read(&file)?;
            let first = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'));
            if first.is_some_and(|l| !l.starts_with('[')) {
                return Err(format!(
                    "error: {}: an included file holds only [[bus]] and [[module]] tables; it starts with {:?}",
                    file.display(),
                    first.unwrap_or_default()
                ));
            }
            source.append(&file, &text);
        }
        Ok(source)
    }

    fn append(&mut self, file: &Path, text: &str) {
        let first_line = self.text.lines().count() + 1;
        self.parts.push((file.to_path_buf(), first_line));
        self.text.push_str(text);
        if !text.ends_with('\n') {
            self.text.push('\n');
        }
    }

    /// The file and line of line `line` of the joined text.
    pub fn locate(&self, line: usize) -> (&Path, usize) {
        let (file, first) = self.parts.iter().rev().find(|(_, first)| *first <= line).unwrap_or(&self.parts[0]);
        (file, line + 1 - first)
    }

    /// A problem as `error: FILE:LINE: message`.
    pub fn describe(&self, problem: &Problem) -> String {
        match problem.line {
            Some(line) => {
                let (file, line) = self.locate(line);
                format!("error: {}:{line}: {}", file.display(), problem.message)
            }
            None => format!("error: {}: {}", self.parts[0].0.display(), problem.message),
        }
    }
}

/// Checks the description in `path` (with its includes) for `board` (or its `system.board`):
/// the plan, or every problem as `error: FILE:LINE: message`.
pub fn check_file(path: &Path, board: Option<BoardName>) -> Result<Plan, Vec<String>> {
    check_file_with(path, board, None)
}

/// [`check_file`], knowing which programs exist ([`crate::check::check_source_with`]).
pub fn check_file_with(
    path: &Path,
    board: Option<BoardName>,
    programs: Option<&[String]>,
) -> Result<Plan, Vec<String>> {
    let source = Source::load(path).map_err(|e| vec![e])?;
    check_source_with(&source.text, board, programs)
        .map_err(|problems| problems.iter().map(|p| source.describe(p)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hm-system-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    const COMMON: &str = "# shared\n[[bus]]\nname = \"root\"\n\n[[module]]\nname = \"logger\"\npriority = 150\n\
        budget_us = 1000\nperiod_us = 10000\nbuses = [\"root\"]\n";

    #[test]
    fn an_include_adds_its_buses_and_modules() {
        let dir = scratch("include");
        write(&dir, "common.toml", COMMON);
        let main = write(
            &dir,
            "virt.toml",
            "[system]\nname = \"v\"\nboard = \"virt\"\ninclude = [\"common.toml\"]\n\n[[module]]\nname = \"rtc\"\n\
             priority = 100\nbudget_us = 1000\nperiod_us = 10000\nbuses = [\"root\"]\n\
             devices = [{ compatible = \"arm,pl031\" }]\n",
        );
        let plan = check_file(&main, None).unwrap();
        let names: Vec<&str> = plan.modules.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["rtc", "logger"]);
        assert_eq!(plan.buses.len(), 1);
    }

    #[test]
    fn a_problem_in_an_included_file_names_that_file_and_line() {
        let dir = scratch("lines");
        write(&dir, "common.toml", &COMMON.replace("priority = 150", "priority = 300"));
        let main = write(&dir, "rpi4.toml", "[system]\nname = \"p\"\nboard = \"rpi4\"\ninclude = [\"common.toml\"]\n");
        let errors = check_file(&main, None).unwrap_err();
        let want = format!("error: {}:7: ", dir.join("common.toml").display());
        assert!(errors.len() == 1 && errors[0].starts_with(&want), "{errors:?}");
    }

    #[test]
    fn an_unknown_program_is_named_with_its_line() {
        let dir = scratch("programs");
        write(&dir, "common.toml", COMMON);
        let main = write(&dir, "virt.toml", "[system]\nname = \"v\"\nboard = \"virt\"\ninclude = [\"common.toml\"]\n");
        let known = ["heartbeat".to_string()];
        let errors = check_file_with(&main, None, Some(&known)).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("common.toml:6: module \"logger\": no program \"logger\""), "{errors:?}");
        let known = ["logger".to_string()];
        assert!(check_file_with(&main, None, Some(&known)).is_ok());
    }

    #[test]
    fn an_included_file_may_not_start_with_keys() {
        let dir = scratch("keys");
        write(&dir, "common.toml", "name = \"x\"\n[[bus]]\nname = \"root\"\n");
        let main = write(&dir, "virt.toml", "[system]\nname = \"v\"\ninclude = [\"common.toml\"]\n");
        let errors = check_file(&main, Some(BoardName::Virt)).unwrap_err();
        assert!(errors[0].contains("holds only [[bus]] and [[module]] tables"), "{errors:?}");
    }

    #[test]
    fn a_duplicate_system_table_in_an_include_is_an_error_there() {
        let dir = scratch("dup");
        write(&dir, "common.toml", "[system]\nname = \"again\"\n");
        let main = write(&dir, "virt.toml", "[system]\nname = \"v\"\ninclude = [\"common.toml\"]\n");
        let errors = check_file(&main, Some(BoardName::Virt)).unwrap_err();
        assert!(errors[0].contains("common.toml:1:"), "{errors:?}");
    }
}
