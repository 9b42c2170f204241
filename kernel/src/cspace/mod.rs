//! Capability spaces: capabilities ([`cap`]), slots and the derivation tree ([`slot`]),
//! addressing ([`lookup`]) and the operations on them ([`ops`]).
pub mod cap;
pub mod invoke;
pub mod lookup;
pub mod ops;
pub mod slot;

#[cfg(test)]
mod tests;
