//! The `blk-check` module: a client of the block service (docs/bus-protocol.md, "The block
//! service") that checks it end to end, across a restart of the driver. It fills the first
//! page of the shared `disk-buffers` region with a pattern and asks for it to be written at
//! sector 64; once that is done it asks the driver to fail (the service's test hook) and, at
//! once, to read sector 64 into the region's second page. That request waits in the driver's
//! inbox while the driver's parent restarts it, and the restarted driver serves it. The module
//! then compares the two pages and says what it found on its first bus (class 17, scope
//! global).
#![no_std]
#![no_main]

extern crate alloc;

use hm_module::services::block::{DONE, FAIL, READ, Reply, Request, WRITE};
use hm_module::services::classes::{BLOCK_REPLY as REPLY, BLOCK_REQUEST as REQUEST, STATUS};
use hm_module::{Context, Message, Module, Scope, SharedRegion};
/// The block written and read back: 4 KiB from sector 64.
const SECTOR: u64 = 64;
const COUNT: u16 = 8;
const PAGE: usize = 4096;

/// The steps: each request's tag.
const WRITTEN: u16 = 1;
const FAILED: u16 = 2;
const READ_BACK: u16 = 3;

/// The pattern's word at byte `k`.
fn pattern(k: usize) -> u64 {
    (k as u64 ^ 0xb10c_c4ec).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

fn request(cx: &Context, op: u8, tag: u16, offset: u32) {
    let request = Request { op, tag, sectors: COUNT, sector: SECTOR, offset };
    let _ = cx.publish(REQUEST, Scope::Global, &request.to_bytes());
}

/// The region's word at byte `k`, by aligned volatile access (the region is uncached DMA
/// memory, Device-nGnRE).
fn word(region: &SharedRegion, k: usize) -> *mut u64 {
    (region.vaddr as usize + k) as *mut u64
}

struct BlkCheck;

impl BlkCheck {
    fn say(cx: &Context, line: &str) {
        let _ = cx.publish(STATUS, Scope::Global, line.as_bytes());
    }
}

impl Module for BlkCheck {
    fn init(&mut self, cx: &mut Context) {
        let Some(region) = cx.memory("disk-buffers").filter(|r| r.bytes >= 2 * PAGE as u64) else {
            Self::say(cx, "blk-check: no disk-buffers region of two pages");
            return;
        };
        for k in (0..2 * PAGE).step_by(8) {
            let value = if k < PAGE { pattern(k) } else { 0 };
            // SAFETY: `k` is 8-aligned and inside the region's two pages, mapped read-write for
            // the module's life; the driver touches them only while a request runs.
            unsafe { word(region, k).write_volatile(value) };
        }
        request(cx, WRITE, WRITTEN, 0);
    }

    fn message(&mut self, cx: &mut Context, _seat: usize, message: &Message) {
        if message.header.class != REPLY {
            return;
        }
        let Some(Reply { tag, status, restarts }) = Reply::from_bytes(message.bytes()) else { return };
        match tag {
            WRITTEN if status == DONE => {
                request(cx, FAIL, FAILED, 0);
                request(cx, READ, READ_BACK, PAGE as u32);
            }
            READ_BACK if status == DONE => {
                let Some(region) = cx.memory("disk-buffers") else { return };
                // SAFETY: as in init; the read is complete.
                let same =
                    (0..PAGE).step_by(8).all(|k| unsafe { word(region, PAGE + k).read_volatile() } == pattern(k));
                let verdict = if same { "read back identical" } else { "read back different" };
                let line = alloc::format!(
                    "blk-check: 4 KiB written at sector {SECTOR}, driver restarted ({restarts}), {verdict}"
                );
                Self::say(cx, &line);
            }
            WRITTEN | READ_BACK => {
                Self::say(cx, &alloc::format!("blk-check: request {tag} failed with status {status}"))
            }
            _ => {}
        }
    }
}

hm_module::module!(BlkCheck);
