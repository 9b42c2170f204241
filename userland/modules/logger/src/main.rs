//! The `logger` module: subscribes on each of its buses (as its system description says) and
//! logs every message it takes, as `class <c> from bus <b> member <m>: <text>` (the console
//! prints it after the module's name).
#![no_std]
#![no_main]

use hm_module::{Context, Message, Module};

struct Logger;

impl Module for Logger {
    fn message(&mut self, _cx: &mut Context, _seat: usize, message: &Message) {
        let h = message.header;
        let text = core::str::from_utf8(message.bytes()).unwrap_or("(not text)");
        log::info!("class {} from bus {} member {}: {text}", h.class, h.origin_bus, h.origin_member);
    }
}

hm_module::module!(Logger);
