//! The BootInfo frame the root task gets in x0 (seL4's layout, 3864 bytes).

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotRegion {
    pub start: u64,
    pub end: u64,
}

impl SlotRegion {
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntypedDesc {
    pub paddr: u64,
    pub size_bits: u8,
    pub is_device: u8,
    pub padding: [u8; 6],
}

pub const MAX_BOOTINFO_UNTYPED: usize = 230;

#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    pub extra_len: u64,
    pub node_id: u64,
    pub num_nodes: u64,
    pub num_io_pt_levels: u64,
    pub ipc_buffer: u64,
    pub empty: SlotRegion,
    pub shared_frames: SlotRegion,
    pub user_image_frames: SlotRegion,
    pub user_image_paging: SlotRegion,
    pub io_space_caps: SlotRegion,
    pub extra_bi_pages: SlotRegion,
    pub init_thread_cnode_size_bits: u64,
    pub init_thread_domain: u64,
    pub sched_control: SlotRegion,
    pub untyped: SlotRegion,
    pub untyped_list: [UntypedDesc; MAX_BOOTINFO_UNTYPED],
}

const _: () = {
    assert!(core::mem::size_of::<BootInfo>() == 3864);
    assert!(core::mem::offset_of!(BootInfo, empty) == 40);
    assert!(core::mem::offset_of!(BootInfo, extra_bi_pages) == 120);
    assert!(core::mem::offset_of!(BootInfo, sched_control) == 152);
    assert!(core::mem::offset_of!(BootInfo, untyped_list) == 184);
};

impl BootInfo {
    /// The descriptions of the untyped capabilities in slots `untyped.start..untyped.end`.
    pub fn untyped_list(&self) -> &[UntypedDesc] {
        let count = (self.untyped.len() as usize).min(MAX_BOOTINFO_UNTYPED);
        &self.untyped_list[..count]
    }

    /// The largest RAM (not device) untyped: its capability slot and its description.
    pub fn largest_ram_untyped(&self) -> Option<(u64, &UntypedDesc)> {
        let (index, desc) = self
            .untyped_list()
            .iter()
            .enumerate()
            .filter(|(_, u)| u.is_device == 0)
            .max_by_key(|(_, u)| u.size_bits)?;
        Some((self.untyped.start + index as u64, desc))
    }
}

/// The initial capability slots.
pub mod slot {
    pub const INIT_THREAD_TCB: u64 = 1;
    pub const INIT_THREAD_CNODE: u64 = 2;
    pub const INIT_THREAD_VSPACE: u64 = 3;
    pub const IRQ_CONTROL: u64 = 4;
    pub const ASID_CONTROL: u64 = 5;
    pub const INIT_THREAD_ASID_POOL: u64 = 6;
    pub const IO_PORT_CONTROL: u64 = 7;
    pub const IO_SPACE: u64 = 8;
    pub const BOOT_INFO_FRAME: u64 = 9;
    pub const INIT_THREAD_IPC_BUFFER: u64 = 10;
    pub const DOMAIN: u64 = 11;
    pub const SMMU_SID_CONTROL: u64 = 12;
    pub const SMMU_CB_CONTROL: u64 = 13;
    pub const INIT_THREAD_SC: u64 = 14;
    pub const SMC: u64 = 15;
    pub const NUM_INITIAL_CAPS: u64 = 16;
}

/// Extra BootInfo chunk header and ids.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExtraHeader {
    pub id: u64,
    pub len: u64,
}

pub const EXTRA_PADDING: u64 = 0;
pub const EXTRA_FDT: u64 = 6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untyped_list_is_bounded_by_the_slot_region() {
        // SAFETY: BootInfo is plain data; all zeroes is a valid (empty) value.
        let mut info: BootInfo = unsafe { core::mem::zeroed() };
        info.untyped = SlotRegion { start: 100, end: 103 };
        info.untyped_list[2] = UntypedDesc { paddr: 0x4000_0000, size_bits: 20, is_device: 0, padding: [0; 6] };
        assert_eq!(info.untyped_list().len(), 3);
        assert_eq!(info.untyped_list()[2].size_bits, 20);
        info.untyped = SlotRegion { start: 0, end: 1000 };
        assert_eq!(info.untyped_list().len(), MAX_BOOTINFO_UNTYPED);
    }

    #[test]
    fn largest_ram_untyped_skips_device_memory() {
        // SAFETY: BootInfo is plain data; all zeroes is a valid (empty) value.
        let mut info: BootInfo = unsafe { core::mem::zeroed() };
        assert!(info.largest_ram_untyped().is_none());
        info.untyped = SlotRegion { start: 50, end: 53 };
        let desc = |size_bits, is_device| UntypedDesc { paddr: 0, size_bits, is_device, padding: [0; 6] };
        info.untyped_list[0] = desc(20, 0);
        info.untyped_list[1] = desc(30, 1);
        info.untyped_list[2] = desc(24, 0);
        let (slot, found) = info.largest_ram_untyped().unwrap();
        assert_eq!((slot, found.size_bits), (52, 24));
    }
}
