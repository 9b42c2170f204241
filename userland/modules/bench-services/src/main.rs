//! The `bench-services` module: the system benchmark `cargo xtask bench` boots
//! (`system/bench-<board>.toml`, on a kernel that opens the PMU to EL0, under QEMU's icount).
//! It counts instructions retired, every thread's and the kernel's, per operation of the
//! system's services, end to end:
//!
//! - a console line: one `log::info!` of a 40-character line, from this module through its bus
//!   to the console module, which writes it to the UART (the console runs above this module, so
//!   the line is out before the call returns);
//! - a 4 KiB block write and read, where the board has a block service: from publishing the
//!   request to taking the driver's reply (the bus, the driver, its device interrupt);
//! - the driver's restart: from a request that makes it fail (the service's test hook) to the
//!   reply to the read published after it, which waited in the driver's inbox: the fault, the
//!   parent's restart (the driver's data and bss loaded afresh), the driver's start-up (its
//!   device brought up again, its own read-back checks) and the read.
//!
//! It prints `BENCH name instructions` lines on the kernel console (not through the console
//! module: their format is the benchmark tool's), then `BENCH done`.
#![no_std]
#![no_main]

extern crate alloc;

use core::fmt::Write;
use hm_module::services::block::{self, Reply, Request};
use hm_module::services::classes;
use hm_module::{Context, Message, Module, Scope};
use hmk_rt::DebugConsole;
use hmk_rt::pmu::{instructions, start_instruction_count};

/// Console lines measured, after the warm-up ones.
const LINES: u64 = 50;
const WARM_UP_LINES: u64 = 5;
/// Block requests measured of each kind, after one of each to warm up.
const REQUESTS: u64 = 20;
const BUFFERS: &str = "disk-buffers";
/// 4 KiB: eight sectors, at sector 256.
const SECTORS: u16 = 8;
const SECTOR: u64 = 256;

fn report(name: &str, value: u64) {
    let _ = writeln!(DebugConsole, "BENCH {name} {value}");
}

/// Where the block benchmark is: the operation of the request in flight, how many of that kind
/// were done, their instructions so far, and when the one in flight was published.
struct Bench {
    op: u8,
    done: u64,
    total: u64,
    started: u64,
}

impl Bench {
    fn request(&mut self, cx: &Context) {
        let request = Request { op: self.op, tag: self.done as u16, sectors: SECTORS, sector: SECTOR, offset: 0 };
        self.started = instructions();
        if cx.publish(classes::BLOCK_REQUEST, Scope::Local, &request.to_bytes()).is_err() {
            let _ = writeln!(DebugConsole, "bench-services: publishing a block request failed");
            finish();
        }
    }
}

impl Bench {
    /// The restart: the driver fails at once on a request (the service's test hook), its
    /// parent restarts it, and the restarted driver serves the read that waited in its inbox;
    /// counted from the failing request to that read's reply.
    fn restart(&mut self, cx: &Context) {
        self.op = block::FAIL;
        self.started = instructions();
        let fail = Request { op: block::FAIL, tag: 0xfe00, sectors: 0, sector: 0, offset: 0 };
        let read = Request { op: block::READ, tag: 0xfe01, sectors: SECTORS, sector: SECTOR, offset: 0 };
        let published =
            [fail, read].iter().all(|r| cx.publish(classes::BLOCK_REQUEST, Scope::Local, &r.to_bytes()).is_ok());
        if !published {
            let _ = writeln!(DebugConsole, "bench-services: publishing the restart requests failed");
            finish();
        }
    }
}

fn finish() {
    let _ = writeln!(DebugConsole, "BENCH done");
}

impl Module for Bench {
    fn init(&mut self, cx: &mut Context) {
        start_instruction_count();
        let mut total = 0;
        for k in 0..WARM_UP_LINES + LINES {
            let start = instructions();
            log::info!("a console line of forty characters {k:04}");
            if k >= WARM_UP_LINES {
                total += instructions() - start;
            }
        }
        report("console_line_module_to_uart_40_chars", total / LINES);
        if cx.memory(BUFFERS).is_none() {
            finish();
            return;
        }
        self.request(cx);
    }

    fn message(&mut self, cx: &mut Context, _seat: usize, message: &Message) {
        if message.header.class != classes::BLOCK_REPLY {
            return;
        }
        let spent = instructions() - self.started;
        let Some(reply) = Reply::from_bytes(message.bytes()) else { return };
        if self.op == block::FAIL {
            // The read after the failure, served by the restarted driver.
            report("virtio_blk_restart_fault_to_next_reply", spent);
            finish();
            return;
        }
        if reply.status != block::DONE {
            let _ = writeln!(DebugConsole, "bench-services: a block request failed with status {}", reply.status);
            finish();
            return;
        }
        // The first request of each kind warms up.
        if self.done > 0 {
            self.total += spent;
        }
        self.done += 1;
        if self.done <= REQUESTS {
            self.request(cx);
            return;
        }
        let name = if self.op == block::WRITE {
            "virtio_blk_4k_write_client_to_client"
        } else {
            "virtio_blk_4k_read_client_to_client"
        };
        report(name, self.total / REQUESTS);
        if self.op == block::READ {
            self.restart(cx);
            return;
        }
        *self = Bench { op: block::READ, done: 0, total: 0, started: 0 };
        self.request(cx);
    }
}

hm_module::module!(Bench { op: block::WRITE, done: 0, total: 0, started: 0 });
