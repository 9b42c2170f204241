//! Scheduling logic that does not touch hardware: MCS refills.
pub mod refill;
