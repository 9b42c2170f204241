//! The HM system description: one TOML file that declares a system's buses and modules, and the
//! checker that turns it into a plan for a board.
//!
//! [`format`] is the file as written, [`board`] what the board's device tree offers,
//! [`check`] the rules and their resolution, [`plan`] the result. [`check_source`] is the whole
//! pipeline: text in, a [`Plan`] or every [`Problem`] out. `cargo xtask system check` is its
//! command line, and `docs/system-description.md` describes the format and every check.
//! [`source`] reads a description file with the files it includes and checks it
//! ([`check_file`]), naming each problem's file and line. [`codegen`] writes a plan as the Rust source of the `hm_parent::plan::SystemPlan` the root
//! task builds at boot.

pub mod board;
pub mod check;
pub mod codegen;
pub mod format;
pub mod plan;
pub mod source;

pub use board::{Board, BoardName};
pub use check::{Problem, check_source, check_source_with};
pub use codegen::plan_source;
pub use plan::Plan;
pub use source::{Source, check_file, check_file_with};
