//! The test cases.

use crate::env::Env;
use hmk_sys::object::{ObjectType, cap_type};
use hmk_sys::syscall::debug_cap_identify;

pub type Case = fn(&mut Env) -> Result<(), alloc::string::String>;

pub const ALL: &[(&str, Case)] = &[("retype_endpoint", retype_endpoint)];

fn retype_endpoint(env: &mut Env) -> Result<(), alloc::string::String> {
    let ep = env.make(ObjectType::Endpoint, 0)?;
    match debug_cap_identify(ep) {
        cap_type::ENDPOINT => Ok(()),
        other => Err(alloc::format!("identify says {other}")),
    }
}
