//! The `bus-server` program: one bus of the HM tree, serving its members' requests forever
//! (`hm_bus::module::serve`) in the CSpace and VSpace layout `hm_parent::bus` gives it. Its
//! parent starts it with the bus's id in x0.
#![no_std]
#![no_main]

hmk_rt::module_entry!(main);

fn main(bus: u64) {
    hm_parent::bus::serve(bus)
}
