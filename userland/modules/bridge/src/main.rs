//! The `bridge` program: forwards between a child bus and its parent bus forever
//! (`hm_bus::module::bridge`), in the layout `hm_parent::bus` gives it.
#![no_std]
#![no_main]

hmk_rt::module_entry!(main);

fn main(_: u64) {
    hm_parent::bus::forward()
}
