//! The `logger` module: subscribes on each of its buses (as its info page says) and logs every
//! message it takes, as `<name>: class <c> from bus <b> member <m>: <text>`.
#![no_std]
#![no_main]

use hm_parent::child;
use hm_parent::info::MODULE_NOTIFICATION;
use hmk_sys::syscall;

hmk_rt::module_entry!(main);

fn main(info: u64) {
    // SAFETY: x0 is the module's info page, and this is the run's only call.
    let (info, mut members) = unsafe { child::start(info) };
    loop {
        for member in members.iter_mut().flatten() {
            while let Some(message) = member.take() {
                let h = message.header;
                let text = core::str::from_utf8(message.bytes()).unwrap_or("(not text)");
                log::info!(
                    "{}: class {} from bus {} member {}: {text}",
                    info.name(),
                    h.class,
                    h.origin_bus,
                    h.origin_member
                );
            }
        }
        syscall::wait(MODULE_NOTIFICATION);
    }
}
