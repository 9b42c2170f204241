//! The kernel ELF's link layout, checked against seL4's for AArch64 so that seL4's elfloader
//! can boot it (`cargo xtask lint` and `cargo xtask test` check the kernel each board's loader
//! embeds).
//!
//! Facts from seL4's sources (15.0.0 and later; the numbers are the contract, the code here is
//! hmk's): `src/arch/arm/common_arm.lds` links the kernel at `KERNEL_ELF_BASE` =
//! `PPTR_BASE_OFFSET + physBase` with every section `AT(ADDR - KERNEL_OFFSET)`,
//! `KERNEL_OFFSET = PPTR_BASE_OFFSET` = `0xffffff8000000000` (`include/arch/arm/arch/64/mode/
//! hardware.h`, no hypervisor), and `ENTRY(_start)` with `_start` first in `.boot.text`, the
//! first output section. The window ends at `PPTR_TOP` = `0xffffffffc0000000`. seL4_tools'
//! elfloader (`src/common.c`, `src/arch-arm/64/mmu.c`) places the kernel at its lowest
//! `p_paddr`, each segment by its `p_vaddr` offset from the lowest `p_vaddr` (so the offset
//! `p_vaddr - p_paddr` must be the same for every segment), needs the first virtual address
//! page aligned, maps the kernel with 2 MiB blocks from its physical start (2 MiB aligned) to the
//! end of one 1 GiB region the image may not leave, and jumps to `e_entry`.

use crate::CheckResult;
use elf::ElfBytes;
use elf::abi::{EM_AARCH64, ET_EXEC, PT_LOAD};
use elf::endian::AnyEndian;
use elf::file::Class;
use hmk_platform::PPTR_BASE;
use hmk_platform::handoff::{self, ElfPlacement, LoadSegment};

/// seL4's `PPTR_TOP` on AArch64 without hypervisor support: the window's end.
pub const PPTR_TOP: u64 = 0xffff_ffff_c000_0000;

/// One `PT_LOAD` program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// What the checks read from a kernel ELF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelElf {
    pub elf64: bool,
    pub little_endian: bool,
    pub machine: u16,
    pub file_type: u16,
    pub entry: u64,
    /// The value of the symbol `_start`, if the file has a symbol table with it.
    pub start_symbol: Option<u64>,
    /// The loadable segments, in file order.
    pub segments: Vec<Segment>,
}

impl KernelElf {
    /// Reads the headers, loadable segments and `_start` of the ELF file in `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<KernelElf, String> {
        let file = ElfBytes::<AnyEndian>::minimal_parse(bytes).map_err(|e| format!("not an ELF file: {e}"))?;
        let segments = file
            .segments()
            .ok_or("no program headers")?
            .iter()
            .filter(|ph| ph.p_type == PT_LOAD)
            .map(|ph| Segment { vaddr: ph.p_vaddr, paddr: ph.p_paddr, filesz: ph.p_filesz, memsz: ph.p_memsz })
            .collect();
        let start_symbol = match file.symbol_table().map_err(|e| format!("symbol table: {e}"))? {
            Some((symbols, names)) => {
                symbols.iter().find(|s| names.get(s.st_name as usize).is_ok_and(|n| n == "_start")).map(|s| s.st_value)
            }
            None => None,
        };
        Ok(KernelElf {
            elf64: file.ehdr.class == Class::ELF64,
            little_endian: file.ehdr.endianness == AnyEndian::Little,
            machine: file.ehdr.e_machine,
            file_type: file.ehdr.e_type,
            entry: file.ehdr.e_entry,
            start_symbol,
            segments,
        })
    }

    fn placement(&self) -> Option<ElfPlacement> {
        let loads = self.segments.iter().map(|s| LoadSegment { vaddr: s.vaddr, paddr: s.paddr, memsz: s.memsz });
        ElfPlacement::new(loads, self.entry)
    }
}

fn result(name: String, problems: Vec<String>) -> CheckResult {
    CheckResult { name, failure: (!problems.is_empty()).then(|| problems.join("; ")) }
}

/// The checks, named `{prefix}/{fact}`: `header`, `virtual-base`, `physical-offset`, `entry`,
/// `alignment` and `one-gigabyte`.
pub fn check_layout(prefix: &str, elf: &KernelElf) -> Vec<CheckResult> {
    let name = |fact: &str| format!("{prefix}/{fact}");
    let mut header = Vec::new();
    if !elf.elf64 || !elf.little_endian {
        header.push("not a little-endian ELF64 file".to_string());
    }
    if elf.machine != EM_AARCH64 {
        header.push(format!("machine {} is not EM_AARCH64 ({EM_AARCH64})", elf.machine));
    }
    if elf.file_type != ET_EXEC {
        header.push(format!("type {} is not ET_EXEC", elf.file_type));
    }
    if let Some(s) = elf.segments.iter().find(|s| s.filesz > s.memsz) {
        header.push(format!("segment at {:#x} has more file bytes than memory", s.vaddr));
    }
    let Some(placement) = elf.placement() else {
        header.push("no loadable segment".to_string());
        return vec![result(name("header"), header)];
    };
    let (phys, virt) = (placement.phys.start, placement.virt.start);

    let mut base = Vec::new();
    if virt != PPTR_BASE.wrapping_add(phys) {
        base.push(format!("first virtual address {virt:#x} is not PPTR_BASE + physical base {phys:#x}"));
    }
    if virt < PPTR_BASE || placement.virt.end > PPTR_TOP {
        base.push(format!("image {:#x}..{:#x} leaves the window [PPTR_BASE, PPTR_TOP)", virt, placement.virt.end));
    }

    let offset: Vec<String> = elf
        .segments
        .iter()
        .filter(|s| s.vaddr.wrapping_sub(s.paddr) != PPTR_BASE)
        .map(|s| format!("segment at {:#x} has p_paddr {:#x}, not p_vaddr - PPTR_BASE", s.vaddr, s.paddr))
        .collect();

    let mut entry = Vec::new();
    if elf.entry != virt {
        entry.push(format!("e_entry {:#x} is not the first loadable address {virt:#x}", elf.entry));
    }
    match elf.start_symbol {
        Some(start) if start == elf.entry => {}
        Some(start) => entry.push(format!("_start is at {start:#x}, e_entry {:#x}", elf.entry)),
        None => entry.push("no _start symbol".to_string()),
    }

    let mut alignment = Vec::new();
    if !virt.is_multiple_of(handoff::PAGE) {
        alignment.push(format!("first virtual address {virt:#x} is not page aligned"));
    }
    if !phys.is_multiple_of(handoff::TWO_MIB) {
        alignment.push(format!("physical base {phys:#x} is not 2 MiB aligned (the elfloader maps 2 MiB blocks)"));
    }

    let mut gigabyte = Vec::new();
    if let Err(why) = handoff::kernel_map(placement.virt, phys) {
        gigabyte.push(format!("the elfloader cannot map {:#x}..{:#x}: {why:?}", virt, placement.virt.end));
    }

    vec![
        result(name("header"), header),
        result(name("virtual-base"), base),
        result(name("physical-offset"), offset),
        result(name("entry"), entry),
        result(name("alignment"), alignment),
        result(name("one-gigabyte"), gigabyte),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> KernelElf {
        let base = PPTR_BASE + 0x4100_0000;
        KernelElf {
            elf64: true,
            little_endian: true,
            machine: EM_AARCH64,
            file_type: ET_EXEC,
            entry: base,
            start_symbol: Some(base),
            segments: vec![
                Segment { vaddr: base, paddr: 0x4100_0000, filesz: 0x1_2000, memsz: 0x1_2000 },
                Segment { vaddr: base + 0x1_3000, paddr: 0x4101_3000, filesz: 0x100, memsz: 0x2_0000 },
            ],
        }
    }

    fn failures(elf: &KernelElf) -> Vec<String> {
        check_layout("k", elf).into_iter().filter(|r| r.failure.is_some()).map(|r| r.name).collect()
    }

    #[test]
    fn sel4_layout_passes() {
        let results = check_layout("k", &good());
        assert_eq!(results.len(), 6);
        assert!(results.iter().all(|r| r.failure.is_none()), "{results:?}");
    }

    #[test]
    fn each_broken_fact_fails_its_check() {
        let mut elf = good();
        elf.segments[1].paddr += 0x1000;
        assert_eq!(failures(&elf), ["k/physical-offset"]);

        let mut elf = good();
        elf.entry += 4;
        assert_eq!(failures(&elf), ["k/entry"]);
        let mut elf = good();
        elf.start_symbol = None;
        assert_eq!(failures(&elf), ["k/entry"]);

        // Linked at physical + something else than PPTR_BASE.
        let mut elf = good();
        for s in &mut elf.segments {
            s.paddr -= 0x100_0000;
        }
        assert_eq!(failures(&elf), ["k/virtual-base", "k/physical-offset"]);

        // Moved by 4 KiB: still consistent, but no longer 2 MiB aligned.
        let mut elf = good();
        for s in &mut elf.segments {
            s.vaddr += 0x1000;
            s.paddr += 0x1000;
        }
        elf.entry += 0x1000;
        elf.start_symbol = Some(elf.entry);
        assert_eq!(failures(&elf), ["k/alignment", "k/one-gigabyte"]);

        // Crossing the 1 GiB boundary at physical 0x8000_0000.
        let mut elf = good();
        elf.segments[1].memsz = 0x3f00_0000;
        assert_eq!(failures(&elf), ["k/one-gigabyte"]);

        let mut elf = good();
        elf.machine = 62;
        elf.segments[0].filesz = 0x2_0000;
        assert_eq!(failures(&elf), ["k/header"]);
        elf.segments.clear();
        assert_eq!(check_layout("k", &elf).len(), 1);
    }

    #[test]
    fn parse_refuses_what_is_not_elf() {
        assert!(KernelElf::parse(b"not an elf file at all, not even close to one").is_err());
    }
}
