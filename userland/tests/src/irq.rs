//! Cases for interrupts delivered to user level (IRQControl, IRQHandler, the EL0 virtual timer
//! as the interrupt source on every board) and for lazy FP/SIMD switching between threads.

use crate::cases::Case;

pub const CASES: &[(&str, Case)] = &[];
