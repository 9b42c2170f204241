//! Capabilities as the kernel stores them: a [`Cap`] value and its two-word encoding.
//!
//! Layout (word 0 top five bits are seL4's cap-type number, which DebugCapIdentify returns):
//!
//! | kind | word 0 (below the tag) | word 1 |
//! |---|---|---|
//! | Untyped | device 58, size bits 57..52, ptr 47..0 | watermark (free index, bytes) |
//! | Endpoint | send 58, receive 57, grant 56, grant-reply 55, ptr | badge |
//! | Notification | send 58, receive 57, ptr | badge |
//! | Reply | grant 58, ptr | 0 |
//! | CNode | guard size 58..53, ptr with radix in its low 6 bits | guard |
//! | Thread, VSpace root, ASID pool, Endpoint-like single objects | ptr | kind data |
//! | SchedContext | size bits 58..53, ptr | 0 |
//! | Frame | size 58..57, write 56, read 55, device 54, ptr | ASID 63..48, vaddr 47..0 |
//! | PageTable | level 58..57, ptr | ASID 63..48, vaddr 47..0 |
//! | Zombie | ptr | TCB flag 63, CNode radix 62..56, slots left 55..0 |
//!
//! Pointers are kernel virtual addresses of objects; 48 bits are kept and bit 47 is
//! sign-extended on decode, so kernel-window addresses and host test addresses both survive.

/// Access rights (seL4_CapRights: write bit 0, read bit 1, grant bit 2, grant-reply bit 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rights {
    pub write: bool,
    pub read: bool,
    pub grant: bool,
    pub grant_reply: bool,
}

impl Rights {
    pub const ALL: Rights = Rights { write: true, read: true, grant: true, grant_reply: true };

    pub fn from_word(word: u64) -> Rights {
        Rights { write: word & 1 != 0, read: word & 2 != 0, grant: word & 4 != 0, grant_reply: word & 8 != 0 }
    }

    pub fn to_word(self) -> u64 {
        u64::from(self.write)
            | u64::from(self.read) << 1
            | u64::from(self.grant) << 2
            | u64::from(self.grant_reply) << 3
    }
}

/// Page sizes of frame capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameSize {
    Small,
    Large,
    Huge,
}

impl FrameSize {
    pub fn bits(self) -> u32 {
        match self {
            FrameSize::Small => 12,
            FrameSize::Large => 21,
            FrameSize::Huge => 30,
        }
    }
}

/// Where a frame, page table or VSpace is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub asid: u16,
    pub vaddr: u64,
}

/// What a zombie stands for: the capability slots of a dying CNode or TCB still to clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZombieKind {
    CNode { radix: u32 },
    Tcb,
}

/// A capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Cap {
    #[default]
    Null,
    Untyped {
        ptr: u64,
        size_bits: u32,
        free_index: u64,
        is_device: bool,
    },
    Endpoint {
        ptr: u64,
        badge: u64,
        can_send: bool,
        can_receive: bool,
        can_grant: bool,
        can_grant_reply: bool,
    },
    Notification {
        ptr: u64,
        badge: u64,
        can_send: bool,
        can_receive: bool,
    },
    Reply {
        ptr: u64,
        can_grant: bool,
    },
    CNode {
        ptr: u64,
        radix: u32,
        guard: u64,
        guard_size: u32,
    },
    Thread {
        ptr: u64,
    },
    SchedContext {
        ptr: u64,
        size_bits: u32,
    },
    SchedControl {
        core: u64,
    },
    IrqControl,
    IrqHandler {
        irq: u64,
    },
    Domain,
    Zombie {
        ptr: u64,
        kind: ZombieKind,
        remaining: u64,
    },
    Frame {
        ptr: u64,
        size: FrameSize,
        can_read: bool,
        can_write: bool,
        is_device: bool,
        mapped: Option<Mapping>,
    },
    PageTable {
        ptr: u64,
        level: u32,
        mapped: Option<Mapping>,
    },
    VSpace {
        ptr: u64,
        asid: Option<u16>,
    },
    AsidControl,
    AsidPool {
        ptr: u64,
        asid_base: u64,
    },
}

/// seL4's cap-type numbers (AArch64, MCS), as the ABI states them.
pub use hmk_sys::object::cap_type as tag;

const PTR_MASK: u64 = (1 << 48) - 1;

fn pack_ptr(ptr: u64) -> u64 {
    ptr & PTR_MASK
}

fn unpack_ptr(word: u64) -> u64 {
    let low = word & PTR_MASK;
    if low & (1 << 47) != 0 { low | !PTR_MASK } else { low }
}

fn bit(word: u64, n: u32) -> bool {
    word >> n & 1 != 0
}

fn flag(value: bool, n: u32) -> u64 {
    u64::from(value) << n
}

fn field(word: u64, low: u32, width: u32) -> u64 {
    (word >> low) & ((1 << width) - 1)
}

fn pack_mapping(mapped: Option<Mapping>) -> u64 {
    mapped.map_or(0, |m| u64::from(m.asid) << 48 | (m.vaddr & PTR_MASK))
}

fn unpack_mapping(word: u64) -> Option<Mapping> {
    let asid = (word >> 48) as u16;
    (asid != 0).then_some(Mapping { asid, vaddr: word & PTR_MASK })
}

impl Cap {
    /// seL4's cap-type number of this capability.
    pub fn tag(&self) -> u64 {
        match self {
            Cap::Null => tag::NULL,
            Cap::Untyped { .. } => tag::UNTYPED,
            Cap::Endpoint { .. } => tag::ENDPOINT,
            Cap::Notification { .. } => tag::NOTIFICATION,
            Cap::Reply { .. } => tag::REPLY,
            Cap::CNode { .. } => tag::CNODE,
            Cap::Thread { .. } => tag::THREAD,
            Cap::SchedContext { .. } => tag::SCHED_CONTEXT,
            Cap::SchedControl { .. } => tag::SCHED_CONTROL,
            Cap::IrqControl => tag::IRQ_CONTROL,
            Cap::IrqHandler { .. } => tag::IRQ_HANDLER,
            Cap::Domain => tag::DOMAIN,
            Cap::Zombie { .. } => tag::ZOMBIE,
            Cap::Frame { .. } => tag::FRAME,
            Cap::PageTable { .. } => tag::PAGE_TABLE,
            Cap::VSpace { .. } => tag::VSPACE,
            Cap::AsidControl => tag::ASID_CONTROL,
            Cap::AsidPool { .. } => tag::ASID_POOL,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Cap::Null)
    }

    /// The two words stored in a slot.
    pub fn encode(&self) -> [u64; 2] {
        let t = self.tag() << 59;
        match *self {
            Cap::Null => [0, 0],
            Cap::Untyped { ptr, size_bits, free_index, is_device } => {
                [t | flag(is_device, 58) | u64::from(size_bits & 63) << 52 | pack_ptr(ptr), free_index]
            }
            Cap::Endpoint { ptr, badge, can_send, can_receive, can_grant, can_grant_reply } => [
                t | flag(can_send, 58)
                    | flag(can_receive, 57)
                    | flag(can_grant, 56)
                    | flag(can_grant_reply, 55)
                    | pack_ptr(ptr),
                badge,
            ],
            Cap::Notification { ptr, badge, can_send, can_receive } => {
                [t | flag(can_send, 58) | flag(can_receive, 57) | pack_ptr(ptr), badge]
            }
            Cap::Reply { ptr, can_grant } => [t | flag(can_grant, 58) | pack_ptr(ptr), 0],
            Cap::CNode { ptr, radix, guard, guard_size } => {
                [t | u64::from(guard_size & 63) << 53 | pack_ptr(ptr) | u64::from(radix & 63), guard]
            }
            Cap::Thread { ptr } => [t | pack_ptr(ptr), 0],
            Cap::SchedContext { ptr, size_bits } => [t | u64::from(size_bits & 63) << 53 | pack_ptr(ptr), 0],
            Cap::SchedControl { core } => [t | (core & PTR_MASK), 0],
            Cap::IrqControl | Cap::Domain | Cap::AsidControl => [t, 0],
            Cap::IrqHandler { irq } => [t | (irq & 0xffff), 0],
            Cap::Zombie { ptr, kind, remaining } => {
                let kind_bits = match kind {
                    ZombieKind::Tcb => 1 << 63,
                    ZombieKind::CNode { radix } => u64::from(radix & 127) << 56,
                };
                [t | pack_ptr(ptr), kind_bits | (remaining & ((1 << 56) - 1))]
            }
            Cap::Frame { ptr, size, can_read, can_write, is_device, mapped } => {
                let size_code = match size {
                    FrameSize::Small => 0,
                    FrameSize::Large => 1,
                    FrameSize::Huge => 2,
                };
                [
                    t | size_code << 57
                        | flag(can_write, 56)
                        | flag(can_read, 55)
                        | flag(is_device, 54)
                        | pack_ptr(ptr),
                    pack_mapping(mapped),
                ]
            }
            Cap::PageTable { ptr, level, mapped } => {
                [t | u64::from(level & 3) << 57 | pack_ptr(ptr), pack_mapping(mapped)]
            }
            Cap::VSpace { ptr, asid } => [t | pack_ptr(ptr), asid.map_or(0, u64::from)],
            Cap::AsidPool { ptr, asid_base } => [t | pack_ptr(ptr), asid_base],
        }
    }

    /// Reads the two words of a slot. Unknown tags read as Null.
    pub fn decode(words: [u64; 2]) -> Cap {
        let [w0, w1] = words;
        match w0 >> 59 {
            tag::UNTYPED => Cap::Untyped {
                ptr: unpack_ptr(w0),
                size_bits: field(w0, 52, 6) as u32,
                free_index: w1,
                is_device: bit(w0, 58),
            },
            tag::ENDPOINT => Cap::Endpoint {
                ptr: unpack_ptr(w0),
                badge: w1,
                can_send: bit(w0, 58),
                can_receive: bit(w0, 57),
                can_grant: bit(w0, 56),
                can_grant_reply: bit(w0, 55),
            },
            tag::NOTIFICATION => {
                Cap::Notification { ptr: unpack_ptr(w0), badge: w1, can_send: bit(w0, 58), can_receive: bit(w0, 57) }
            }
            tag::REPLY => Cap::Reply { ptr: unpack_ptr(w0), can_grant: bit(w0, 58) },
            tag::CNODE => Cap::CNode {
                ptr: unpack_ptr(w0 & !63),
                radix: field(w0, 0, 6) as u32,
                guard: w1,
                guard_size: field(w0, 53, 6) as u32,
            },
            tag::THREAD => Cap::Thread { ptr: unpack_ptr(w0) },
            tag::SCHED_CONTEXT => Cap::SchedContext { ptr: unpack_ptr(w0), size_bits: field(w0, 53, 6) as u32 },
            tag::SCHED_CONTROL => Cap::SchedControl { core: w0 & PTR_MASK },
            tag::IRQ_CONTROL => Cap::IrqControl,
            tag::IRQ_HANDLER => Cap::IrqHandler { irq: w0 & 0xffff },
            tag::DOMAIN => Cap::Domain,
            tag::ZOMBIE => Cap::Zombie {
                ptr: unpack_ptr(w0),
                kind: if bit(w1, 63) { ZombieKind::Tcb } else { ZombieKind::CNode { radix: field(w1, 56, 7) as u32 } },
                remaining: w1 & ((1 << 56) - 1),
            },
            tag::FRAME => Cap::Frame {
                ptr: unpack_ptr(w0),
                size: match field(w0, 57, 2) {
                    0 => FrameSize::Small,
                    1 => FrameSize::Large,
                    _ => FrameSize::Huge,
                },
                can_write: bit(w0, 56),
                can_read: bit(w0, 55),
                is_device: bit(w0, 54),
                mapped: unpack_mapping(w1),
            },
            tag::PAGE_TABLE => {
                Cap::PageTable { ptr: unpack_ptr(w0), level: field(w0, 57, 2) as u32, mapped: unpack_mapping(w1) }
            }
            tag::VSPACE => Cap::VSpace { ptr: unpack_ptr(w0), asid: (w1 != 0).then_some(w1 as u16) },
            tag::ASID_CONTROL => Cap::AsidControl,
            tag::ASID_POOL => Cap::AsidPool { ptr: unpack_ptr(w0), asid_base: w1 },
            _ => Cap::Null,
        }
    }

    /// The object this capability names and its size in bytes (for region comparisons);
    /// `None` for capabilities that name no memory.
    pub fn object_region(&self) -> Option<(u64, u64)> {
        let (ptr, bits) = match *self {
            Cap::Untyped { ptr, size_bits, .. } => (ptr, size_bits),
            Cap::Endpoint { ptr, .. } => (ptr, crate::object::ENDPOINT_BITS),
            Cap::Notification { ptr, .. } => (ptr, crate::object::NOTIFICATION_BITS),
            Cap::Reply { ptr, .. } => (ptr, crate::object::REPLY_BITS),
            Cap::CNode { ptr, radix, .. } => (ptr, radix + crate::object::SLOT_BITS),
            Cap::Thread { ptr } => (ptr, crate::object::TCB_BITS),
            Cap::SchedContext { ptr, size_bits } => (ptr, size_bits),
            Cap::Frame { ptr, size, .. } => (ptr, size.bits()),
            Cap::PageTable { ptr, .. } => (ptr, crate::object::PAGE_TABLE_BITS),
            Cap::VSpace { ptr, .. } => (ptr, crate::object::VSPACE_BITS),
            Cap::AsidPool { ptr, .. } => (ptr, 12),
            // A zombie still holds its object's memory: it stays a child of its untyped, so
            // the untyped is neither revoked without it nor reset under it.
            Cap::Zombie { ptr, kind: ZombieKind::CNode { radix }, .. } => (ptr, radix + crate::object::SLOT_BITS),
            Cap::Zombie { ptr, kind: ZombieKind::Tcb, .. } => (ptr, crate::object::TCB_BITS),
            _ => return None,
        };
        Some((ptr, 1u64.checked_shl(bits).unwrap_or(0)))
    }

    /// The badge of an endpoint or notification capability (0 otherwise).
    pub fn badge(&self) -> u64 {
        match *self {
            Cap::Endpoint { badge, .. } | Cap::Notification { badge, .. } => badge,
            _ => 0,
        }
    }

    /// seL4's `sameRegionAs`: whether `other` names (part of) what `self` names.
    pub fn same_region_as(&self, other: &Cap) -> bool {
        match (*self, *other) {
            (Cap::Untyped { ptr, size_bits, .. }, _) => {
                let Some((other_ptr, other_size)) = other.object_region() else { return false };
                let end = ptr + (1u64 << size_bits);
                other_ptr >= ptr && other_ptr.wrapping_add(other_size) <= end && other_size != 0
            }
            (Cap::IrqControl, Cap::IrqControl | Cap::IrqHandler { .. }) => true,
            (Cap::IrqHandler { irq: a }, Cap::IrqHandler { irq: b }) => a == b,
            (Cap::Domain, Cap::Domain) | (Cap::AsidControl, Cap::AsidControl) => true,
            (Cap::SchedControl { core: a }, Cap::SchedControl { core: b }) => a == b,
            (
                Cap::Frame { ptr: a, size: sa, is_device: da, .. },
                Cap::Frame { ptr: b, size: sb, is_device: db, .. },
            ) => a == b && sa == sb && da == db,
            (Cap::CNode { ptr: a, radix: ra, .. }, Cap::CNode { ptr: b, radix: rb, .. }) => a == b && ra == rb,
            (Cap::Null, _) | (Cap::Zombie { .. }, _) => false,
            _ => self.tag() == other.tag() && self.object_region().map(|r| r.0) == other.object_region().map(|r| r.0),
        }
    }

    /// seL4's `sameObjectAs`: like [`Cap::same_region_as`], but an untyped is never the same
    /// object as anything and IRQControl is not its handlers.
    pub fn same_object_as(&self, other: &Cap) -> bool {
        match (self, other) {
            (Cap::Untyped { .. }, _) => false,
            (Cap::IrqControl, Cap::IrqHandler { .. }) => false,
            _ => self.same_region_as(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL_PTR: u64 = 0xffff_ff80_4123_4000;

    /// Found by the invariant checker: a zombie left by a preempted delete must stay its
    /// untyped's child, or a revoke restarted after the preemption stops short of it and the
    /// untyped is reset under the half-deleted object.
    #[test]
    fn a_zombie_stays_in_its_untyped() {
        let untyped = Cap::Untyped { ptr: KERNEL_PTR, size_bits: 12, free_index: 0x800, is_device: false };
        let tcb = Cap::Zombie { ptr: KERNEL_PTR, kind: ZombieKind::Tcb, remaining: 3 };
        let cnode = Cap::Zombie { ptr: KERNEL_PTR + 0x800, kind: ZombieKind::CNode { radix: 6 }, remaining: 9 };
        assert!(untyped.same_region_as(&tcb));
        assert!(untyped.same_region_as(&cnode));
        assert_eq!(cnode.object_region(), Some((KERNEL_PTR + 0x800, 0x800)));
        assert!(!tcb.same_region_as(&untyped) && !tcb.same_object_as(&Cap::Thread { ptr: KERNEL_PTR }));
    }

    pub(crate) fn samples() -> Vec<Cap> {
        vec![
            Cap::Null,
            Cap::Untyped { ptr: KERNEL_PTR, size_bits: 14, free_index: 0x800, is_device: false },
            Cap::Untyped { ptr: 0x1000_0000, size_bits: 47, free_index: 1 << 47, is_device: true },
            Cap::Endpoint {
                ptr: KERNEL_PTR,
                badge: u64::MAX,
                can_send: true,
                can_receive: false,
                can_grant: true,
                can_grant_reply: false,
            },
            Cap::Notification { ptr: KERNEL_PTR + 0x40, badge: 7, can_send: false, can_receive: true },
            Cap::Reply { ptr: KERNEL_PTR + 0x20, can_grant: true },
            Cap::CNode { ptr: KERNEL_PTR, radix: 13, guard: (1 << 58) - 1, guard_size: 51 },
            Cap::CNode { ptr: 0x7f00_0000_0040, radix: 1, guard: 0, guard_size: 0 },
            Cap::Thread { ptr: KERNEL_PTR + 0x800 },
            Cap::SchedContext { ptr: KERNEL_PTR, size_bits: 8 },
            Cap::SchedControl { core: 3 },
            Cap::IrqControl,
            Cap::IrqHandler { irq: 153 },
            Cap::Domain,
            Cap::Zombie { ptr: KERNEL_PTR, kind: ZombieKind::CNode { radix: 13 }, remaining: 8192 },
            Cap::Zombie { ptr: KERNEL_PTR, kind: ZombieKind::Tcb, remaining: 5 },
            Cap::Frame {
                ptr: KERNEL_PTR,
                size: FrameSize::Large,
                can_read: true,
                can_write: false,
                is_device: true,
                mapped: Some(Mapping { asid: 65535, vaddr: 0x7fff_ffe0_0000 }),
            },
            Cap::Frame {
                ptr: KERNEL_PTR,
                size: FrameSize::Small,
                can_read: true,
                can_write: true,
                is_device: false,
                mapped: None,
            },
            Cap::PageTable { ptr: KERNEL_PTR, level: 3, mapped: Some(Mapping { asid: 1, vaddr: 0x40_0000 }) },
            Cap::VSpace { ptr: KERNEL_PTR, asid: Some(1) },
            Cap::VSpace { ptr: KERNEL_PTR, asid: None },
            Cap::AsidControl,
            Cap::AsidPool { ptr: KERNEL_PTR, asid_base: 512 },
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for cap in samples() {
            assert_eq!(Cap::decode(cap.encode()), cap, "{cap:?}");
            assert_eq!(cap.encode()[0] >> 59, cap.tag());
        }
        assert_eq!(Cap::decode([31 << 59, 0]), Cap::Null, "unknown tags read as null");
    }

    #[test]
    fn rights_words() {
        assert_eq!(Rights::ALL.to_word(), 0b1111);
        assert_eq!(Rights::from_word(0b0110), Rights { write: false, read: true, grant: true, grant_reply: false });
    }

    #[test]
    fn regions_and_objects() {
        let untyped = Cap::Untyped { ptr: 0x1000, size_bits: 12, free_index: 0, is_device: false };
        let endpoint = Cap::Endpoint {
            ptr: 0x1ff0,
            badge: 0,
            can_send: true,
            can_receive: true,
            can_grant: true,
            can_grant_reply: true,
        };
        let with = |ptr: u64, badge: u64| Cap::Endpoint {
            ptr,
            badge,
            can_send: true,
            can_receive: true,
            can_grant: true,
            can_grant_reply: true,
        };
        let outside = with(0x2000, 0);
        assert!(untyped.same_region_as(&endpoint));
        assert!(!untyped.same_region_as(&outside));
        assert!(!untyped.same_object_as(&untyped));
        assert!(endpoint.same_object_as(&with(0x1ff0, 5)));
        assert!(Cap::IrqControl.same_region_as(&Cap::IrqHandler { irq: 3 }));
        assert!(!Cap::IrqControl.same_object_as(&Cap::IrqHandler { irq: 3 }));
        assert!(!Cap::Null.same_region_as(&Cap::Null));
    }
}
