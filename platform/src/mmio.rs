//! [`Mmio`]: a shareable reference to a device's register block.

/// A `'static` reference to memory-mapped registers that may live in a `static`.
///
/// tock-registers types are not `Sync` (they wrap `UnsafeCell`); device registers are, in the
/// sense that every access is a single volatile load or store. Whether a sequence of accesses
/// from several cores is correct stays the driver's business (the kernel runs under one lock).
pub struct Mmio<T: 'static>(&'static T);

impl<T> Mmio<T> {
    /// # Safety
    /// `registers` must point at device memory holding a register block of type `T`, mapped
    /// for as long as the program runs.
    pub const unsafe fn new(registers: &'static T) -> Self {
        Self(registers)
    }
}

impl<T> Clone for Mmio<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Mmio<T> {}

// SAFETY: see the type's documentation: each register access is one volatile operation.
unsafe impl<T> Sync for Mmio<T> {}
// SAFETY: as above; the reference does not own anything tied to a thread.
unsafe impl<T> Send for Mmio<T> {}

impl<T> core::ops::Deref for Mmio<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0
    }
}
