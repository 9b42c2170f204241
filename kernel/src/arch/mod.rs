//! Architecture support. hmk runs on AArch64 only.
pub mod aarch64;
