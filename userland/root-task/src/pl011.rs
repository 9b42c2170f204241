//! The PL011 UART driver: a program in its own address space and CSpace that owns the UART's
//! registers and its receive interrupt, and serves clients over an endpoint.
//!
//! Protocol (labels of a Call on the service endpoint):
//! - [`READ`]: the reply (label 0) carries one received byte in word 0. With nothing buffered
//!   the caller waits until a byte arrives; one reader waits at a time, a second one gets
//!   [`BUSY`].
//! - [`WRITE`]: word 0 is a byte count n, words 1.. hold the bytes, eight per word, little
//!   endian. The reply (label 0) carries n.
//!
//! The receive interrupt arrives on a notification bound to the driver's TCB, so the one
//! `Recv` on the endpoint returns for either a client (badge [`CLIENT_BADGE`]) or the
//! interrupt (badge [`IRQ_BADGE`]). Bytes received go to a ring buffer; the line stays masked
//! by the kernel from delivery until the driver's `IrqHandler::ack`.

use hm_parent::{Allocator, DEPTH, Process, ROOT, Result, Step};
use hmk_platform::pl011::{IMSC, Pl011Registers};
use hmk_sys::bootinfo::slot;
use hmk_sys::invocation::{CNode, CPtr, IrqControl, IrqHandler, Tcb, invoke};
use hmk_sys::ipc_buffer::ipc_buffer;
use hmk_sys::message::{CapRights, MAX_MESSAGE_LENGTH, MessageInfo};
use hmk_sys::object::ObjectType;
use hmk_sys::syscall::{self, Registers};
use tock_registers::interfaces::Writeable;

/// Call label: read one byte.
pub const READ: u64 = 1;
/// Call label: write bytes.
pub const WRITE: u64 = 2;
/// Reply label: another reader is already waiting.
pub const BUSY: u64 = 100;
/// Reply label: unknown request.
pub const UNKNOWN: u64 = 101;

/// Badge of the notification the interrupt signals.
pub const IRQ_BADGE: u64 = 1;
/// Badge of the clients' endpoint capability.
pub const CLIENT_BADGE: u64 = 2;

/// The driver's CSpace: 2^CNODE_BITS slots.
const CNODE_BITS: u64 = 3;
/// Its service endpoint (receive right only).
const ENDPOINT: CPtr = 1;
/// Its IRQHandler.
const IRQ_HANDLER: CPtr = 2;
/// Its two reply objects: one for the next request, one to keep a waiting reader's reply.
const REPLIES: [CPtr; 2] = [3, 4];

/// Where the driver's VSpace maps the UART's registers.
const UART_VADDR: u64 = 0x1000_0000;
/// The driver's stack: pages below `STACK_TOP`, with an unmapped page between them and the UART.
const STACK_PAGES: u64 = 4;
const STACK_TOP: u64 = UART_VADDR + (2 + STACK_PAGES) * 4096;
const PRIORITY: u64 = 200;

/// ICR bits: receive (RXIC) and receive timeout (RTIC) interrupts.
const ICR_RX: u32 = (1 << 4) | (1 << 6);
/// Most bytes one WRITE carries.
pub const MAX_WRITE: usize = (MAX_MESSAGE_LENGTH - 1) * 8;

/// Builds the driver for the PL011 at physical `base` with interrupt `intid` and starts it;
/// returns a client's capability to its endpoint.
pub fn spawn(alloc: &mut Allocator, base: u64, intid: u64) -> Result<Client> {
    let driver = Process::new(alloc, CNODE_BITS)?;
    let Process { tcb, vspace, cnode, cnode_bits, .. } = driver;

    // The device: its frame, mapped only here (device frames are always Device-nGnRE).
    let uart = alloc.device_frame(base)?;
    alloc.map(vspace, uart, UART_VADDR, CapRights::READ_WRITE, 0)?;
    alloc.map_new_pages(vspace, STACK_TOP - STACK_PAGES * 4096, STACK_PAGES)?;

    // The service endpoint: the driver may only receive on it, clients may only call it.
    let endpoint = alloc.make(ObjectType::Endpoint, 0)?;
    CNode(cnode).mint(ENDPOINT, cnode_bits, ROOT, endpoint, DEPTH, CapRights::READ, 0).step("minting the endpoint")?;
    let client = alloc.slot()?;
    let call_only = CapRights { write: true, grant_reply: true, ..CapRights::NONE };
    ROOT.mint(client, DEPTH, ROOT, endpoint, DEPTH, call_only, CLIENT_BADGE).step("minting the client capability")?;
    alloc.make_in(ObjectType::Reply, cnode, REPLIES[0], 2)?;

    // The interrupt: signals a badged notification bound to the driver's TCB.
    let notification = alloc.make(ObjectType::Notification, 0)?;
    let badged = alloc.slot()?;
    ROOT.mint(badged, DEPTH, ROOT, notification, DEPTH, CapRights::ALL, IRQ_BADGE).step("badging the notification")?;
    Tcb(tcb).bind_notification(notification).step("binding the notification")?;
    let handler = alloc.slot()?;
    IrqControl(slot::IRQ_CONTROL).get(intid, ROOT, handler, DEPTH).step("getting the IRQHandler")?;
    IrqHandler(handler).set_notification(badged).step("setting the IRQ notification")?;
    CNode(cnode).move_(IRQ_HANDLER, cnode_bits, ROOT, handler, DEPTH).step("moving the IRQHandler")?;

    driver.start(alloc, driver_main, STACK_TOP, PRIORITY)?;
    Ok(Client(client))
}

/// Received bytes not yet read.
struct Ring {
    bytes: [u8; 256],
    head: usize,
    len: usize,
}

impl Ring {
    fn push(&mut self, byte: u8) {
        if self.len < self.bytes.len() {
            self.bytes[(self.head + self.len) % self.bytes.len()] = byte;
            self.len += 1;
        }
    }

    fn pop(&mut self) -> Option<u8> {
        (self.len > 0).then(|| {
            let byte = self.bytes[self.head];
            self.head = (self.head + 1) % self.bytes.len();
            self.len -= 1;
            byte
        })
    }
}

fn message(label: u64, word: u64) -> Registers {
    Registers { cap_or_badge: 0, info: MessageInfo::new(label, 0, 0, 1), mrs: [word, 0, 0, 0] }
}

/// Writes the bytes of a WRITE request to the UART; returns how many.
fn write(uart: &Pl011Registers, request: &Registers) -> u64 {
    let words = request.info.length() as usize;
    let count = (request.mrs[0] as usize).min(words.saturating_sub(1) * 8);
    let buffer = ipc_buffer();
    for i in 0..count {
        let index = 1 + i / 8;
        let word = if index < 4 { request.mrs[index] } else { buffer.msg[index] };
        uart.write_byte((word >> (8 * (i % 8))) as u8);
    }
    count as u64
}

/// The driver's thread. Everything it changes is on its stack, its IPC buffer or the UART.
extern "C" fn driver_main() -> ! {
    // SAFETY: `spawn` mapped the UART's register frame at UART_VADDR in this address space for
    // the thread's life; only this thread uses it (the kernel's console also writes DR, which
    // the UART serialises).
    let uart: &Pl011Registers = unsafe { &*(UART_VADDR as *const Pl011Registers) };
    let irq = IrqHandler(IRQ_HANDLER);
    uart.icr.set(ICR_RX);
    uart.imsc.write(IMSC::RXIM::SET + IMSC::RTIM::SET);
    let mut ring = Ring { bytes: [0; 256], head: 0, len: 0 };
    // The reply object holding a reader who waits for a byte.
    let mut reader: Option<CPtr> = None;
    let mut reply = REPLIES[0];
    let mut request = syscall::recv(ENDPOINT, reply);
    loop {
        let answer = if request.cap_or_badge == IRQ_BADGE {
            // Clear first, then drain: a byte arriving after the last FR check raises the
            // interrupt again, where clearing after the drain would lose it.
            uart.icr.set(ICR_RX);
            while let Some(byte) = uart.read_byte() {
                ring.push(byte);
            }
            let _ = irq.ack();
            if let Some(waiting) = reader
                && let Some(byte) = ring.pop()
            {
                syscall::send(Registers { cap_or_badge: waiting, ..message(0, u64::from(byte)) });
                reader = None;
            }
            None
        } else {
            match request.info.label() {
                READ => match ring.pop() {
                    Some(byte) => Some(message(0, u64::from(byte))),
                    None if reader.is_none() => {
                        // Keep this caller's reply object; receive the next request on the other.
                        reader = Some(reply);
                        reply = if reply == REPLIES[0] { REPLIES[1] } else { REPLIES[0] };
                        None
                    }
                    None => Some(message(BUSY, 0)),
                },
                WRITE => Some(message(0, write(uart, &request))),
                _ => Some(message(UNKNOWN, 0)),
            }
        };
        request = match answer {
            Some(answer) => syscall::reply_recv(ENDPOINT, answer, reply),
            None => syscall::recv(ENDPOINT, reply),
        };
    }
}

/// A client's view of the driver: its endpoint capability.
#[derive(Clone, Copy)]
pub struct Client(pub CPtr);

impl Client {
    /// Waits for one received byte.
    pub fn read(self) -> Option<u8> {
        invoke(self.0, READ, &[], &[]).ok().map(|mrs| mrs[0] as u8)
    }

    /// Writes `bytes` (in calls of at most [`MAX_WRITE`] bytes).
    pub fn write(self, bytes: &[u8]) {
        for chunk in bytes.chunks(MAX_WRITE) {
            let mut words = [0u64; MAX_MESSAGE_LENGTH];
            words[0] = chunk.len() as u64;
            for (i, &byte) in chunk.iter().enumerate() {
                words[1 + i / 8] |= u64::from(byte) << (8 * (i % 8));
            }
            let _ = invoke(self.0, WRITE, &words[..1 + chunk.len().div_ceil(8)], &[]);
        }
    }
}
