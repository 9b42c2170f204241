//! A thread's saved user registers, in the order the exception entry code stores them.

/// General registers, ELR (the user PC), SPSR and SP_EL0: what an exception from EL0 saves.
/// Lives in each TCB; the entry code writes it in place.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserContext {
    pub x: [u64; 31],
    pub pc: u64,
    pub spsr: u64,
    pub sp: u64,
}

/// Byte size the entry code assumes (`FRAME_SIZE` in entry.s).
pub const USER_CONTEXT_SIZE: usize = 272;
const _: () = assert!(core::mem::size_of::<UserContext>() == USER_CONTEXT_SIZE);

/// SPSR for a fresh EL0 thread: EL0t, AArch64, interrupts unmasked.
pub const SPSR_EL0_FRESH: u64 = 0;

impl UserContext {
    /// A context that starts at `pc` with `x0 = arg`.
    pub fn new(pc: u64, sp: u64, arg: u64) -> Self {
        let mut context = UserContext { pc, sp, spsr: SPSR_EL0_FRESH, ..Default::default() };
        context.x[0] = arg;
        context
    }
}
