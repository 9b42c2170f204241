//! Cases for address spaces (the first VSpace invocations): ASID assignment, page tables,
//! mapping, unmapping and looking up frames, with seL4's errors.

use crate::check::{ensure, expect_error, ok};
use crate::env::{DEPTH, Env, ROOT};
use hmk_sys::bootinfo::slot;
use hmk_sys::error::Error;
use hmk_sys::invocation::{AsidPool, CPtr, Frame, PageTable};
use hmk_sys::message::CapRights;
use hmk_sys::object::{ObjectType, vm_attributes};

type Result = crate::check::Outcome;

/// A user address the suite's own image and stacks never use.
const SCRATCH: u64 = 0x10_0000_0000;

/// Page tables so that 4 KiB pages can be mapped at `vaddr` in the suite's VSpace.
fn tables_for(env: &mut Env, vaddr: u64) -> core::result::Result<(), alloc::string::String> {
    loop {
        let table = env.make(ObjectType::PageTable, 0)?;
        match PageTable(table).map(slot::INIT_THREAD_VSPACE, vaddr, vm_attributes::DEFAULT) {
            Ok(()) => {}
            Err(Error::DeleteFirst) => return Ok(()),
            Err(e) => return Err(alloc::format!("map a page table: {e:?}")),
        }
    }
}

fn new_frame(env: &mut Env) -> core::result::Result<CPtr, alloc::string::String> {
    env.make(ObjectType::SmallPage, 0)
}

pub fn map_write_and_read_a_frame(env: &mut Env) -> Result {
    tables_for(env, SCRATCH)?;
    let frame = new_frame(env)?;
    ok(Frame(frame).map(slot::INIT_THREAD_VSPACE, SCRATCH, CapRights::READ_WRITE, vm_attributes::DEFAULT), "map")?;
    let page = SCRATCH as *mut u64;
    // SAFETY: the frame is now mapped read-write at SCRATCH, 4 KiB long, used by nothing else.
    unsafe {
        ensure!(page.read_volatile() == 0, "a new frame was not zeroed");
        page.add(511).write_volatile(0xfeed);
        ensure!(page.add(511).read_volatile() == 0xfeed, "the write did not stick");
    }
    let address = ok(Frame(frame).get_address(), "get address")?;
    ensure!(address % 4096 == 0 && address != 0, "physical address {address:#x}");
    ok(Frame(frame).unmap(), "unmap")
}

pub fn two_mappings_share_a_frame(env: &mut Env) -> Result {
    tables_for(env, SCRATCH)?;
    let frame = new_frame(env)?;
    let copy = env.slot();
    ok(ROOT.copy(copy, DEPTH, ROOT, frame, DEPTH, CapRights::ALL), "copy the frame capability")?;
    ok(
        Frame(frame).map(slot::INIT_THREAD_VSPACE, SCRATCH, CapRights::READ_WRITE, vm_attributes::DEFAULT),
        "first mapping",
    )?;
    ok(
        Frame(copy).map(slot::INIT_THREAD_VSPACE, SCRATCH + 4096, CapRights::READ, vm_attributes::DEFAULT),
        "second mapping",
    )?;
    // SAFETY: both addresses map the same frame (the first writable, the second read-only).
    unsafe {
        (SCRATCH as *mut u64).write_volatile(77);
        ensure!(((SCRATCH + 4096) as *const u64).read_volatile() == 77, "the second mapping does not see the write");
    }
    ok(Frame(copy).unmap(), "unmap the copy")?;
    ok(Frame(frame).unmap(), "unmap")
}

pub fn mapping_errors(env: &mut Env) -> Result {
    let frame = new_frame(env)?;
    // No page table there yet.
    expect_error(
        Frame(frame).map(slot::INIT_THREAD_VSPACE, SCRATCH + 0x4000_0000, CapRights::ALL, 0),
        Error::FailedLookup,
    )?;
    tables_for(env, SCRATCH)?;
    expect_error(Frame(frame).map(slot::INIT_THREAD_VSPACE, SCRATCH + 8, CapRights::ALL, 0), Error::AlignmentError)?;
    expect_error(Frame(frame).map(slot::INIT_THREAD_VSPACE, 1 << 47, CapRights::ALL, 0), Error::InvalidArgument)?;
    let unassigned = env.make(ObjectType::VSpace, 0)?;
    expect_error(Frame(frame).map(unassigned, SCRATCH, CapRights::ALL, 0), Error::InvalidCapability)?;
    ok(Frame(frame).map(slot::INIT_THREAD_VSPACE, SCRATCH, CapRights::ALL, vm_attributes::DEFAULT), "map")?;
    // Already mapped at another address with this capability (seL4: InvalidArgument); another
    // frame at the address replaces the mapping (seL4 on AArch64).
    expect_error(
        Frame(frame).map(slot::INIT_THREAD_VSPACE, SCRATCH + 4096, CapRights::ALL, 0),
        Error::InvalidArgument,
    )?;
    let other = new_frame(env)?;
    ok(Frame(other).map(slot::INIT_THREAD_VSPACE, SCRATCH, CapRights::ALL, 0), "map over the mapping")?;
    ok(Frame(other).unmap(), "unmap the replacing frame")?;
    ok(Frame(frame).unmap(), "unmap")?;
    expect_error(
        hmk_sys::invocation::invoke(frame, 46, &[SCRATCH, 3], &[slot::INIT_THREAD_VSPACE]),
        Error::TruncatedMessage,
    )
}

pub fn asid_assignment(env: &mut Env) -> Result {
    let vspace = env.make(ObjectType::VSpace, 0)?;
    let pool = AsidPool(slot::INIT_THREAD_ASID_POOL);
    ok(pool.assign(vspace), "assign")?;
    expect_error(pool.assign(vspace), Error::InvalidCapability)?;
    let ep = env.make(ObjectType::Endpoint, 0)?;
    expect_error(pool.assign(ep), Error::InvalidCapability)?;
    // Assigned, the VSpace can now be copied (an unassigned one cannot).
    let copy = env.slot();
    ok(ROOT.copy(copy, DEPTH, ROOT, vspace, DEPTH, CapRights::ALL), "copy an assigned VSpace")
}

pub fn page_table_errors(env: &mut Env) -> Result {
    tables_for(env, SCRATCH)?;
    let extra = env.make(ObjectType::PageTable, 0)?;
    // Every level is already there for SCRATCH.
    expect_error(PageTable(extra).map(slot::INIT_THREAD_VSPACE, SCRATCH, vm_attributes::DEFAULT), Error::DeleteFirst)?;
    expect_error(PageTable(extra).map(slot::INIT_THREAD_VSPACE, 1 << 48, 0), Error::InvalidArgument)?;
    let unassigned = env.make(ObjectType::VSpace, 0)?;
    expect_error(PageTable(extra).map(unassigned, SCRATCH, 0), Error::InvalidCapability)?;
    ok(PageTable(extra).unmap(), "unmapping an unmapped table is fine")
}
