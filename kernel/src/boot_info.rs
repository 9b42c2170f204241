//! The BootInfo frame the root task receives, in seL4's layout (3864 bytes on AArch64 MCS).

/// A range of slots `[start, end)` in the root CNode.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotRegion {
    pub start: u64,
    pub end: u64,
}

/// One untyped capability's description.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntypedDesc {
    pub paddr: u64,
    pub size_bits: u8,
    pub is_device: u8,
    pub padding: [u8; 6],
}

/// seL4's `CONFIG_MAX_NUM_BOOTINFO_UNTYPED_CAPS`.
pub const MAX_BOOTINFO_UNTYPED: usize = 230;

/// seL4_BootInfo.
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
    assert!(core::mem::offset_of!(BootInfo, user_image_frames) == 72);
    assert!(core::mem::offset_of!(BootInfo, init_thread_cnode_size_bits) == 136);
    assert!(core::mem::offset_of!(BootInfo, sched_control) == 152);
    assert!(core::mem::offset_of!(BootInfo, untyped) == 168);
    assert!(core::mem::offset_of!(BootInfo, untyped_list) == 184);
};

/// Extra BootInfo chunk ids.
pub const EXTRA_PADDING: u64 = 0;
pub const EXTRA_FDT: u64 = 6;

/// The root task's initial capability slots (seL4's fixed numbering).
pub mod initial_slot {
    pub const TCB: usize = 1;
    pub const CNODE: usize = 2;
    pub const VSPACE: usize = 3;
    pub const IRQ_CONTROL: usize = 4;
    pub const ASID_CONTROL: usize = 5;
    pub const ASID_POOL: usize = 6;
    pub const IO_PORT_CONTROL: usize = 7;
    pub const IO_SPACE: usize = 8;
    pub const BOOT_INFO_FRAME: usize = 9;
    pub const IPC_BUFFER: usize = 10;
    pub const DOMAIN: usize = 11;
    pub const SMMU_SID_CONTROL: usize = 12;
    pub const SMMU_CB_CONTROL: usize = 13;
    pub const SCHED_CONTEXT: usize = 14;
    pub const SMC: usize = 15;
    /// The first slot after the fixed ones.
    pub const COUNT: usize = 16;
}

/// Radix of the root CNode (seL4's default `CONFIG_ROOT_CNODE_SIZE_BITS`).
pub const ROOT_CNODE_BITS: u32 = 13;
