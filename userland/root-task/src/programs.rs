//! The programs of the root task's modules.
//!
//! Planned modules run programs of their own: each is an ELF image the build tool builds
//! (`userland/modules/*`) and embeds here ([`MODULES`], from `HMK_MODULES`), which the root task
//! loads into the module's own address space.

// The embedded module images (`MODULES`; empty when the build tool did not provide them).
include!(concat!(env!("OUT_DIR"), "/modules.rs"));

/// The ELF image of program `name`.
pub fn image(name: &str) -> Option<&'static [u8]> {
    MODULES.iter().find(|(program, _)| *program == name).map(|&(_, image)| image)
}
