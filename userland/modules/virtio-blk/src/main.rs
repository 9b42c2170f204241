//! The `virtio-blk` module: the driver of a virtio block device on a virtio-mmio transport
//! (the modern interface, version 2: virtio 1.2, sections 4.2 and 5.2). It brings the device up
//! with one request queue in its DMA pages, reads its capacity, and then checks itself against
//! the disk: it writes a 512-byte sector and a 4 KiB block with patterns, reads both back and
//! compares, each request completed by the device's interrupt. It says what it found on its
//! first bus (class 17, scope global).
//!
//! DMA pages (`dma_pages = 3`): page 0 the queue (descriptors, then the driver ring at 0x100,
//! the device ring at 0x200), page 1 a request's header (16 bytes) and status byte (at 0x10),
//! page 2 its data. They are uncached (Device-nGnRE), so every access is an aligned volatile
//! one, and the device reads what the driver wrote.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{Ordering, fence};
use hm_module::services::block::{
    BAD_REQUEST, DEVICE_FAILED, DONE, FAIL, NO_DEVICE, READ, Reply, Request, WRITE as WRITE_OP,
};
use hm_module::services::classes::{BLOCK_REPLY as REPLY, BLOCK_REQUEST as REQUEST};
use hm_module::{Context, Message, Module, Scope};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

/// The class the demonstration programs talk on.
const STATUS: u8 = 17;

register_structs! {
    /// A virtio-mmio transport's registers (virtio 1.2, 4.2.2), and the block device's
    /// configuration space from 0x100.
    VirtioMmio {
        (0x000 => magic: ReadOnly<u32>),
        (0x004 => version: ReadOnly<u32>),
        (0x008 => device_id: ReadOnly<u32>),
        (0x00c => vendor_id: ReadOnly<u32>),
        (0x010 => device_features: ReadOnly<u32>),
        (0x014 => device_features_sel: WriteOnly<u32>),
        (0x018 => _reserved0),
        (0x020 => driver_features: WriteOnly<u32>),
        (0x024 => driver_features_sel: WriteOnly<u32>),
        (0x028 => _reserved1),
        (0x030 => queue_sel: WriteOnly<u32>),
        (0x034 => queue_num_max: ReadOnly<u32>),
        (0x038 => queue_num: WriteOnly<u32>),
        (0x03c => _reserved2),
        (0x044 => queue_ready: ReadWrite<u32>),
        (0x048 => _reserved3),
        (0x050 => queue_notify: WriteOnly<u32>),
        (0x054 => _reserved4),
        (0x060 => interrupt_status: ReadOnly<u32>),
        (0x064 => interrupt_ack: WriteOnly<u32>),
        (0x068 => _reserved5),
        (0x070 => status: ReadWrite<u32>),
        (0x074 => _reserved6),
        (0x080 => queue_desc_low: WriteOnly<u32>),
        (0x084 => queue_desc_high: WriteOnly<u32>),
        (0x088 => _reserved7),
        (0x090 => queue_driver_low: WriteOnly<u32>),
        (0x094 => queue_driver_high: WriteOnly<u32>),
        (0x098 => _reserved8),
        (0x0a0 => queue_device_low: WriteOnly<u32>),
        (0x0a4 => queue_device_high: WriteOnly<u32>),
        (0x0a8 => _reserved9),
        (0x0fc => config_generation: ReadOnly<u32>),
        /// virtio-blk configuration: capacity in 512-byte sectors, as two words.
        (0x100 => capacity_low: ReadOnly<u32>),
        (0x104 => capacity_high: ReadOnly<u32>),
        (0x108 => @END),
    }
}

const MAGIC: u32 = 0x7472_6976;
const BLOCK_DEVICE: u32 = 2;
/// Device status bits (2.1).
const ACKNOWLEDGE: u32 = 1;
const DRIVER: u32 = 2;
const DRIVER_OK: u32 = 4;
const FEATURES_OK: u32 = 8;
const FAILED: u32 = 128;
/// VIRTIO_F_VERSION_1: feature bit 32, bit 0 of feature word 1.
const VERSION_1: u32 = 1;
/// Descriptors in the one queue.
const QUEUE_SIZE: u16 = 4;
/// Descriptor flags.
const NEXT: u16 = 1;
const WRITE: u16 = 2;
/// Request types (5.2.6).
const IN: u32 = 0;
const OUT: u32 = 1;
const SECTOR: usize = 512;
/// What a request that the device failed reports.
const DEVICE_IO_ERROR: &str = "the device reported an I/O error";
const PAGE: usize = 4096;

/// Offsets in the DMA pages.
const DRIVER_RING: usize = 0x100;
const DEVICE_RING: usize = 0x200;
const HEADER: usize = PAGE;
const REQUEST_STATUS: usize = PAGE + 0x10;
const DATA: usize = 2 * PAGE;

/// The DMA pages, reached by aligned volatile accesses only.
struct Dma {
    vaddr: u64,
    paddr: u64,
}

impl Dma {
    fn write<T: Copy>(&self, offset: usize, value: T) {
        debug_assert!(offset.is_multiple_of(size_of::<T>()) && offset + size_of::<T>() <= 3 * PAGE);
        // SAFETY: the offset is aligned for T and inside the three DMA pages, mapped read-write
        // for the module's life; the device reads them, nothing else in this program does.
        unsafe { ((self.vaddr as usize + offset) as *mut T).write_volatile(value) }
    }

    fn read<T: Copy>(&self, offset: usize) -> T {
        debug_assert!(offset.is_multiple_of(size_of::<T>()) && offset + size_of::<T>() <= 3 * PAGE);
        // SAFETY: as in `write`.
        unsafe { ((self.vaddr as usize + offset) as *const T).read_volatile() }
    }

    fn physical(&self, offset: usize) -> u64 {
        self.paddr + offset as u64
    }

    /// Descriptor `index`: `len` bytes at physical address `address`.
    fn descriptor(&self, index: u16, address: u64, len: u32, flags: u16, next: u16) {
        let at = usize::from(index) * 16;
        self.write::<u64>(at, address);
        self.write::<u32>(at + 8, len);
        self.write::<u16>(at + 12, flags);
        self.write::<u16>(at + 14, next);
    }
}

/// Splits a physical address into a transport's low and high words.
fn words(address: u64) -> (u32, u32) {
    (address as u32, (address >> 32) as u32)
}

/// The brought-up device.
struct Disk {
    regs: &'static VirtioMmio,
    dma: Dma,
    sectors: u64,
    /// The driver ring's next index (it counts requests made).
    next: u16,
}

impl Disk {
    /// Brings the device up (3.1.1): reset, acknowledge, feature negotiation, the queue, ready.
    fn new(regs: &'static VirtioMmio, dma: Dma) -> Result<Disk, &'static str> {
        if regs.magic.get() != MAGIC {
            return Err("no virtio-mmio transport");
        }
        if regs.version.get() != 2 {
            return Err("not a modern (version 2) transport");
        }
        if regs.device_id.get() != BLOCK_DEVICE {
            return Err("no block device on the transport");
        }
        regs.status.set(0);
        regs.status.set(ACKNOWLEDGE);
        regs.status.set(ACKNOWLEDGE | DRIVER);
        regs.device_features_sel.set(1);
        if regs.device_features.get() & VERSION_1 == 0 {
            regs.status.set(FAILED);
            return Err("the device does not offer VIRTIO_F_VERSION_1");
        }
        regs.driver_features_sel.set(0);
        regs.driver_features.set(0);
        regs.driver_features_sel.set(1);
        regs.driver_features.set(VERSION_1);
        regs.status.set(ACKNOWLEDGE | DRIVER | FEATURES_OK);
        if regs.status.get() & FEATURES_OK == 0 {
            regs.status.set(FAILED);
            return Err("the device refused the features");
        }
        regs.queue_sel.set(0);
        if regs.queue_ready.get() != 0 || regs.queue_num_max.get() < u32::from(QUEUE_SIZE) {
            regs.status.set(FAILED);
            return Err("request queue 0 is not usable");
        }
        for offset in (0..PAGE).step_by(8) {
            dma.write::<u64>(offset, 0);
        }
        regs.queue_num.set(u32::from(QUEUE_SIZE));
        let (low, high) = words(dma.physical(0));
        regs.queue_desc_low.set(low);
        regs.queue_desc_high.set(high);
        let (low, high) = words(dma.physical(DRIVER_RING));
        regs.queue_driver_low.set(low);
        regs.queue_driver_high.set(high);
        let (low, high) = words(dma.physical(DEVICE_RING));
        regs.queue_device_low.set(low);
        regs.queue_device_high.set(high);
        regs.queue_ready.set(1);
        regs.status.set(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
        let sectors = loop {
            let generation = regs.config_generation.get();
            let sectors = u64::from(regs.capacity_high.get()) << 32 | u64::from(regs.capacity_low.get());
            if regs.config_generation.get() == generation {
                break sectors;
            }
        };
        Ok(Disk { regs, dma, sectors, next: 0 })
    }

    /// One request of `kind` for `bytes` (a multiple of 512) from `sector`, to or from the
    /// data page; waits for the device's interrupt (interrupt 0 of the module).
    fn request(&mut self, cx: &Context, kind: u32, sector: u64, bytes: usize) -> Result<(), &'static str> {
        self.transfer(cx, kind, sector, self.dma.physical(DATA), bytes as u32)
    }

    /// One request of `kind` for `bytes` from `sector`, the data at physical address `data`.
    fn transfer(&mut self, cx: &Context, kind: u32, sector: u64, data: u64, bytes: u32) -> Result<(), &'static str> {
        if bytes == 0 || !bytes.is_multiple_of(SECTOR as u32) {
            return Err("not a whole number of sectors");
        }
        if sector.checked_add(u64::from(bytes) / SECTOR as u64).is_none_or(|end| end > self.sectors) {
            return Err("past the end of the disk");
        }
        self.dma.write::<u32>(HEADER, kind);
        self.dma.write::<u32>(HEADER + 4, 0);
        self.dma.write::<u64>(HEADER + 8, sector);
        self.dma.write::<u8>(REQUEST_STATUS, 0xff);
        let data_flags = if kind == IN { NEXT | WRITE } else { NEXT };
        self.dma.descriptor(0, self.dma.physical(HEADER), 16, NEXT, 1);
        self.dma.descriptor(1, data, bytes, data_flags, 2);
        self.dma.descriptor(2, self.dma.physical(REQUEST_STATUS), 1, WRITE, 0);
        let slot = DRIVER_RING + 4 + 2 * usize::from(self.next % QUEUE_SIZE);
        self.dma.write::<u16>(slot, 0);
        self.next = self.next.wrapping_add(1);
        // The ring entry before the index that publishes it, both before the notification.
        fence(Ordering::SeqCst);
        self.dma.write::<u16>(DRIVER_RING + 2, self.next);
        fence(Ordering::SeqCst);
        self.regs.queue_notify.set(0);
        while self.dma.read::<u16>(DEVICE_RING + 2) != self.next {
            cx.wait_for_interrupt(0);
            self.regs.interrupt_ack.set(self.regs.interrupt_status.get());
            let _ = cx.ack(0);
        }
        fence(Ordering::SeqCst);
        match self.dma.read::<u8>(REQUEST_STATUS) {
            0 => Ok(()),
            1 => Err(DEVICE_IO_ERROR),
            _ => Err("the device refused the request"),
        }
    }

    fn fill(&self, bytes: usize, seed: u64) {
        for k in (0..bytes).step_by(8) {
            self.dma.write::<u64>(DATA + k, pattern(seed, k));
        }
    }

    fn holds(&self, bytes: usize, seed: u64) -> bool {
        (0..bytes).step_by(8).all(|k| self.dma.read::<u64>(DATA + k) == pattern(seed, k))
    }

    /// Writes `bytes` of pattern `seed` at `sector`, overwrites the data page, reads them back
    /// and compares.
    fn round_trip(&mut self, cx: &Context, sector: u64, bytes: usize, seed: u64) -> Result<bool, &'static str> {
        self.fill(bytes, seed);
        self.request(cx, OUT, sector, bytes)?;
        self.fill(bytes, !seed);
        self.request(cx, IN, sector, bytes)?;
        Ok(self.holds(bytes, seed))
    }
}

/// The test pattern's word at byte `k`: different at every offset and for every seed.
fn pattern(seed: u64, k: usize) -> u64 {
    (seed ^ k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
}

/// The shared region requests name offsets in. The request hook `FAIL` makes the driver fail
/// at once, to show that its clients lose nothing when it is restarted (its bus inbox, and the
/// requests waiting in it, outlive it).
const BUFFERS: &str = "disk-buffers";

struct Blk {
    disk: Option<Disk>,
}

impl Blk {
    /// Serves one request; returns its reply's status.
    fn serve(&mut self, cx: &Context, op: u8, count: u16, sector: u64, offset: u32) -> u8 {
        let (Some(disk), Some(region)) = (self.disk.as_mut(), cx.memory(BUFFERS)) else { return NO_DEVICE };
        let bytes = u32::from(count) * SECTOR as u32;
        if u64::from(offset) + u64::from(bytes) > region.bytes || !offset.is_multiple_of(SECTOR as u32) {
            return BAD_REQUEST;
        }
        let kind = match op {
            READ => IN,
            WRITE_OP => OUT,
            _ => return BAD_REQUEST,
        };
        match disk.transfer(cx, kind, sector, region.paddr + u64::from(offset), bytes) {
            Ok(()) => DONE,
            Err(why) if why == DEVICE_IO_ERROR => DEVICE_FAILED,
            Err(_) => BAD_REQUEST,
        }
    }
}

impl Module for Blk {
    /// An interrupt the event loop took: one a transfer did not wait for (its request was done
    /// when the transfer first looked), delivered after it returned. Acknowledged at the
    /// device and the line, or the line would stay masked and the next transfer wait forever.
    fn interrupt(&mut self, cx: &mut Context, irq: usize) {
        if let Some(disk) = &self.disk {
            disk.regs.interrupt_ack.set(disk.regs.interrupt_status.get());
        }
        let _ = cx.ack(irq);
    }

    fn message(&mut self, cx: &mut Context, _seat: usize, message: &Message) {
        if message.header.class != REQUEST {
            return;
        }
        let Some(Request { op, tag, sectors: count, sector, offset }) = Request::from_bytes(message.bytes()) else {
            return;
        };
        if op == FAIL {
            // SAFETY: deliberately not safe: the test hook fails here.
            unsafe { core::ptr::read_volatile(core::ptr::null::<u64>()) };
        }
        let status = self.serve(cx, op, count, sector, offset);
        let restarts = u8::try_from(cx.restarts()).unwrap_or(u8::MAX);
        let _ = cx.publish(REPLY, Scope::Global, &Reply { tag, status, restarts }.to_bytes());
    }

    fn init(&mut self, cx: &mut Context) {
        let (Some(block), Some((vaddr, paddr, bytes))) = (cx.registers().first(), cx.dma()) else {
            log::warn!("needs its transport's registers and DMA pages");
            return;
        };
        if bytes < 3 * PAGE as u64 || cx.irqs().is_empty() {
            log::warn!("needs 3 DMA pages and the transport's interrupt");
            return;
        }
        // SAFETY: the block is a virtio-mmio transport's, as the system description claims it,
        // and only this reference to it is made.
        let Some(regs) = (unsafe { cx.registers_as::<VirtioMmio>(0) }) else { return };
        let line = match Disk::new(regs, Dma { vaddr, paddr }) {
            Err(why) => alloc::format!("virtio-blk: {why} at {:#x}", block.paddr),
            Ok(disk) => {
                let disk = self.disk.insert(disk);
                let sector = disk.round_trip(cx, 1, SECTOR, 0x5ec7_0001);
                let block_4k = disk.round_trip(cx, 8, PAGE, 0x0b10_c004);
                match (sector, block_4k) {
                    (Ok(true), Ok(true)) => alloc::format!(
                        "virtio-blk: {} sectors; 512 B at sector 1 and 4 KiB at sector 8 read back as written",
                        disk.sectors
                    ),
                    (Err(why), _) | (_, Err(why)) => alloc::format!("virtio-blk: {why}"),
                    _ => alloc::format!("virtio-blk: {} sectors; what was read back differs", disk.sectors),
                }
            }
        };
        let _ = cx.publish(STATUS, Scope::Global, line.as_bytes());
    }
}

hm_module::module!(Blk { disk: None });
