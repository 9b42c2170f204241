//! Cases for address spaces built by user level: ASID pools, frames of every size, rights,
//! cache maintenance, sharing, unmapping, and user-level pagers resolving VM faults.
//!
//! Workers run the suite's own code: in the suite's address space, or in a mirror of it (a
//! second VSpace mapping the same image frames). A worker's faults go to a badged endpoint the
//! suite receives on, as a pager does; a reply with label 0 makes the worker retry the access.

use crate::cases::Case;
use crate::check::{ensure, expect_error, ok};
use crate::env::{DEPTH, Env, ROOT};
use crate::threads::{LOG_LEN, log_contents, record, reset_records, spawn, stop_self, yield_until};
use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};
use hmk_sys::bootinfo::slot;
use hmk_sys::error::Error;
use hmk_sys::invocation::{AsidControl, AsidPool, CNode, CPtr, Frame, PageTable, Tcb, VSpace, invoke};
use hmk_sys::message::{CapRights, MessageInfo, cnode_cap_data};
use hmk_sys::object::{CacheOp, ObjectType, cap_type, label, vm_attributes};
use hmk_sys::syscall::{self, Registers};

type Result = crate::check::Outcome;
type Made<T> = core::result::Result<T, String>;

pub const CASES: &[(&str, Case)] = &[
    ("make_pool_from_a_4k_untyped_assigns_working_asids", make_pool_from_a_4k_untyped_assigns_working_asids),
    ("make_pool_rejects_what_is_not_a_4k_untyped", make_pool_rejects_what_is_not_a_4k_untyped),
    ("make_pool_refuses_an_untyped_with_children", make_pool_refuses_an_untyped_with_children),
    ("make_pool_destination_errors", make_pool_destination_errors),
    ("make_pool_truncated_messages", make_pool_truncated_messages),
    ("deleted_pool_vspace_refuses_mappings", deleted_pool_vspace_refuses_mappings),
    ("new_pool_does_not_revive_an_old_vspace", new_pool_does_not_revive_an_old_vspace),
    ("thread_of_a_deleted_pool_faults_instead_of_running", thread_of_a_deleted_pool_faults_instead_of_running),
    ("large_page_maps_writes_and_reads", large_page_maps_writes_and_reads),
    ("large_page_unmap_faults_the_next_access", large_page_unmap_faults_the_next_access),
    ("large_page_alignment_and_table_conflicts", large_page_alignment_and_table_conflicts),
    ("read_only_write_faults_then_remap_read_write_lands", read_only_write_faults_then_remap_read_write_lands),
    ("read_only_capability_maps_read_only", read_only_capability_maps_read_only),
    ("mapping_without_read_right_gives_no_user_access", mapping_without_read_right_gives_no_user_access),
    ("demand_paging_a_megabyte_one_fault_per_page", demand_paging_a_megabyte_one_fault_per_page),
    ("frame_shared_between_two_address_spaces", frame_shared_between_two_address_spaces),
    ("mapping_in_one_address_space_is_absent_in_another", mapping_in_one_address_space_is_absent_in_another),
    ("frame_unmap_revokes_access", frame_unmap_revokes_access),
    ("frame_capability_delete_revokes_access", frame_capability_delete_revokes_access),
    ("untyped_revoke_revokes_frame_access", untyped_revoke_revokes_frame_access),
    ("cspace_without_the_frame_cannot_map_it", cspace_without_the_frame_cannot_map_it),
    ("frame_cache_ops_keep_data", frame_cache_ops_keep_data),
    ("frame_cache_errors", frame_cache_errors),
    ("vspace_cache_on_mapped_and_unmapped_ranges", vspace_cache_on_mapped_and_unmapped_ranges),
    ("vspace_cache_errors", vspace_cache_errors),
    ("unify_instruction_runs_new_code", unify_instruction_runs_new_code),
    ("execute_never_faults_on_fetch_until_remapped", execute_never_faults_on_fetch_until_remapped),
    ("map_into_unassigned_vspace_fails", map_into_unassigned_vspace_fails),
    ("page_table_unmap_makes_pages_unreachable", page_table_unmap_makes_pages_unreachable),
    ("unmapped_page_table_comes_back_empty", unmapped_page_table_comes_back_empty),
    ("page_table_unmap_needs_the_final_capability", page_table_unmap_needs_the_final_capability),
    ("remap_at_the_same_address_changes_nothing_else", remap_at_the_same_address_changes_nothing_else),
    ("unmapped_frame_maps_again_elsewhere_with_its_data", unmapped_frame_maps_again_elsewhere_with_its_data),
    ("sel4_9_large_page_and_page_table_sequence", large_page_and_page_table_sequence),
];

/// The suite's own VSpace.
const OWN: CPtr = slot::INIT_THREAD_VSPACE;
const PAGE: u64 = 4096;
const LARGE: u64 = 1 << 21;
/// Where the suite is linked (linker/user.ld): image frame n maps address 0x400000 + n * 4 KiB.
const IMAGE_BASE: u64 = 0x40_0000;
/// User addresses for this module, each in a 1 GiB region of its own, far from the image
/// (4 MiB) and from memory.rs's SCRATCH (64 GiB).
const AREA: u64 = 0x20_0000_0000;
const AREA2: u64 = 0x20_4000_0000;
const AREA3: u64 = 0x20_8000_0000;
/// One past the last user address.
const USER_TOP: u64 = 1 << 47;
/// The badge of the fault handler capability workers get.
const BADGE: u64 = 0xfa;

/// Instructions: `mov x0, #42`, `mov x0, #7`, `ret`.
const MOV_X0_42: u32 = 0xd280_0540;
const MOV_X0_7: u32 = 0xd280_00e0;
const RET: u32 = 0xd65f_03c0;

/// What workers act on: an address, a value, a notification to wait for, a capability.
static TARGET: AtomicU64 = AtomicU64::new(0);
static TARGET2: AtomicU64 = AtomicU64::new(0);
static VALUE: AtomicU64 = AtomicU64::new(0);
static GATE: AtomicU64 = AtomicU64::new(0);
static FOREIGN: AtomicU64 = AtomicU64::new(0);

fn target() -> *mut u64 {
    TARGET.load(Ordering::SeqCst) as *mut u64
}

/// Writes VALUE to TARGET, records 1, stops.
extern "C" fn writer(index: u64) -> ! {
    // SAFETY: the case maps TARGET (or resolves the fault) before the worker goes on.
    unsafe { target().write_volatile(VALUE.load(Ordering::SeqCst)) };
    record(1);
    stop_self(index)
}

/// Reads TARGET and records what it read, then stops.
extern "C" fn reader(index: u64) -> ! {
    // SAFETY: as for `writer`.
    let value = unsafe { target().read_volatile() };
    record(value);
    stop_self(index)
}

/// Reads TARGET and records it, waits for GATE, then reads and records it again.
extern "C" fn reader_twice(index: u64) -> ! {
    // SAFETY: as for `writer`.
    record(unsafe { target().read_volatile() });
    syscall::wait(GATE.load(Ordering::SeqCst));
    // SAFETY: as for `writer`.
    record(unsafe { target().read_volatile() });
    stop_self(index)
}

/// Writes a value to every page of the 1 MiB region at TARGET, then records 1.
extern "C" fn toucher(index: u64) -> ! {
    for page in 0..DEMAND_PAGES {
        // SAFETY: the pager maps each page when the write faults.
        unsafe { (demand_address(page) as *mut u64).write_volatile(demand_value(page)) };
    }
    record(1);
    stop_self(index)
}

/// Calls the code at TARGET and records what it returns.
extern "C" fn jumper(index: u64) -> ! {
    // SAFETY: the case put a complete function (`mov x0, #n; ret`) at TARGET.
    let code: extern "C" fn() -> u64 = unsafe { core::mem::transmute(target() as *const ()) };
    record(code());
    stop_self(index)
}

/// In a mirror address space: writes VALUE to TARGET (mapped in its space), records 1, then
/// reads TARGET2 (mapped only in the suite's space), records what it read.
extern "C" fn mirror_writer(index: u64) -> ! {
    // SAFETY: TARGET is mapped in this thread's address space.
    unsafe { target().write_volatile(VALUE.load(Ordering::SeqCst)) };
    record(1);
    // SAFETY: deliberately unmapped here: the fault goes to the pager.
    record(unsafe { (TARGET2.load(Ordering::SeqCst) as *const u64).read_volatile() });
    stop_self(index)
}

/// Result words the isolated worker records.
fn code_of(result: core::result::Result<(), Error>) -> u64 {
    match result {
        Ok(()) => 0,
        Err(e) => 100 + e as u64,
    }
}

/// With a CSpace of its own (slot 1: a VSpace, slot 2: a frame, slot 3 empty): maps the frame
/// it holds at TARGET, invokes the empty slot, then invokes FOREIGN (the suite's frame, which
/// its CSpace does not resolve).
extern "C" fn isolated(_: u64) -> ! {
    let attrs = vm_attributes::DEFAULT;
    record(code_of(Frame(2).map(1, TARGET.load(Ordering::SeqCst), CapRights::READ_WRITE, attrs)));
    record(code_of(Frame(3).get_address().map(|_| ())));
    let foreign = Frame(FOREIGN.load(Ordering::SeqCst));
    record(code_of(foreign.map(1, TARGET2.load(Ordering::SeqCst), CapRights::READ_WRITE, attrs)));
    loop {
        syscall::yield_now();
    }
}

/// Page tables in `vspace` so that 4 KiB pages can be mapped at `vaddr`; returns the last one
/// it had to add (the level-3 table if `vaddr` had none).
fn tables(env: &mut Env, vspace: CPtr, vaddr: u64) -> Made<Option<CPtr>> {
    let mut last = None;
    for _ in 0..4 {
        let table = env.make(ObjectType::PageTable, 0)?;
        match PageTable(table).map(vspace, vaddr, vm_attributes::DEFAULT) {
            Ok(()) => last = Some(table),
            Err(Error::DeleteFirst) => return Ok(last),
            Err(e) => return Err(format!("map a page table at {vaddr:#x}: {e:?}")),
        }
    }
    Err(format!("four page tables did not complete the walk for {vaddr:#x}"))
}

/// Maps `frame` at `vaddr` in `vspace`, adding page tables while a level is missing (only the
/// levels above the frame's own: a large page gets no level-3 table).
pub fn map(env: &mut Env, vspace: CPtr, frame: CPtr, vaddr: u64, rights: CapRights, attrs: u64) -> Result {
    for _ in 0..4 {
        match Frame(frame).map(vspace, vaddr, rights, attrs) {
            Ok(()) => return Ok(()),
            Err(Error::FailedLookup) => {
                let table = env.make(ObjectType::PageTable, 0)?;
                ok(PageTable(table).map(vspace, vaddr, vm_attributes::DEFAULT), "map a page table")?;
            }
            Err(e) => return Err(format!("map a frame at {vaddr:#x}: {e:?}")),
        }
    }
    Err(format!("tables did not complete the walk for {vaddr:#x}"))
}

/// A fresh 4 KiB frame mapped read-write at `vaddr` in the suite's VSpace.
pub fn mapped_frame(env: &mut Env, vaddr: u64) -> Made<CPtr> {
    let frame = env.make(ObjectType::SmallPage, 0)?;
    map(env, OWN, frame, vaddr, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    Ok(frame)
}

fn copy_of(env: &mut Env, cap: CPtr, rights: CapRights) -> Made<CPtr> {
    let copy = env.slot();
    ok(ROOT.copy(copy, DEPTH, ROOT, cap, DEPTH, rights), "copy a capability")?;
    Ok(copy)
}

fn peek(vaddr: u64) -> u64 {
    // SAFETY: callers pass addresses the case has mapped readable in the suite's VSpace.
    unsafe { (vaddr as *const u64).read_volatile() }
}

fn poke(vaddr: u64, value: u64) {
    // SAFETY: callers pass addresses the case has mapped writable in the suite's VSpace, used
    // by nothing else.
    unsafe { (vaddr as *mut u64).write_volatile(value) }
}

/// A worker with a fault handler: the suite receives its faults on `ep` with `reply`.
struct Pager {
    tcb: CPtr,
    ep: CPtr,
    reply: CPtr,
}

/// A worker (stack 0, priority 255, not started) in `vspace` whose faults come to the suite.
fn paged_worker(env: &mut Env, entry: extern "C" fn(u64) -> !, vspace: CPtr) -> Made<Pager> {
    reset_records();
    let ep = env.make(ObjectType::Endpoint, 0)?;
    let reply = env.make(ObjectType::Reply, 0)?;
    let worker = spawn(env, 0, entry, 255, false)?;
    // Slices longer than a test kernel's kernel entry (its invariant checker walks every
    // object, charged to the thread it returns to; slow on raspi4b), so the worker progresses.
    let control = hmk_sys::invocation::SchedControl(env.bootinfo.sched_control.start);
    ok(control.configure_flags(hmk_sys::invocation::SchedContext(worker.sc), 20_000, 20_000, 0, 0, 0), "slices")?;
    let handler = env.slot();
    ok(ROOT.mint(handler, DEPTH, ROOT, ep, DEPTH, CapRights::ALL, BADGE), "mint the fault handler")?;
    ok(Tcb(worker.tcb).set_space(handler, slot::INIT_THREAD_CNODE, 0, vspace, 0), "set the fault handler")?;
    Ok(Pager { tcb: worker.tcb, ep, reply })
}

/// A VM fault as its message reports it.
struct VmFault {
    pc: u64,
    address: u64,
    fetch: u64,
    fsr: u64,
}

impl VmFault {
    fn class(&self) -> u64 {
        self.fsr >> 26
    }
    fn is_write(&self) -> bool {
        self.fsr & (1 << 6) != 0
    }
    /// Fault status code without its level: 0x04 translation, 0x0c permission.
    fn status(&self) -> u64 {
        self.fsr & 0x3c
    }
}

impl Pager {
    fn start(&self) -> Result {
        ok(Tcb(self.tcb).resume(), "start the worker")
    }

    /// The worker's next fault message (yielding so it can run), which must be a VM fault.
    fn fault(&self) -> Made<VmFault> {
        for _ in 0..200 {
            let message = syscall::nb_recv(self.ep, self.reply);
            if message.cap_or_badge == BADGE {
                let label = message.info.label();
                ensure!(label == 6, "fault label {label}, want VMFault (6); message {:?}", message.mrs);
                let [pc, address, fetch, fsr] = message.mrs;
                return Ok(VmFault { pc, address, fetch, fsr });
            }
            syscall::yield_now();
        }
        Err(format!("no fault arrived; worker log {:?}", log_contents()))
    }

    /// No fault is waiting.
    fn no_fault(&self) -> Result {
        let message = syscall::nb_recv(self.ep, self.reply);
        ensure!(message.cap_or_badge != BADGE, "an unexpected fault: {:?}", message.mrs);
        Ok(())
    }

    /// Replies label 0: the worker retries the faulting access.
    fn resume(&self) {
        syscall::send(Registers { cap_or_badge: self.reply, info: MessageInfo::new(0, 0, 0, 0), mrs: [0; 4] });
    }

    fn stop(&self) -> Result {
        ok(Tcb(self.tcb).suspend(), "stop the worker")
    }
}

/// Yields until the workers recorded `count` values; returns the log.
fn wait_log(count: usize) -> Made<alloc::vec::Vec<u64>> {
    ensure!(
        yield_until(200, || LOG_LEN.load(Ordering::SeqCst) >= count),
        "the worker recorded {:?}, want {count} values",
        log_contents()
    );
    Ok(log_contents())
}

/// A data abort from EL0 at `address`: a translation fault (`permission` false) or a
/// permission fault, on a write or a read.
fn check_data_fault(fault: &VmFault, address: u64, write: bool, permission: bool) -> Result {
    ensure!(fault.address == address, "fault address {:#x}, want {address:#x}", fault.address);
    ensure!(fault.fetch == 0, "reported as an instruction fetch");
    ensure!(
        fault.class() == 0x24,
        "FSR {:#x}: class {:#x}, want a data abort from EL0 (0x24)",
        fault.fsr,
        fault.class()
    );
    ensure!(fault.is_write() == write, "FSR {:#x}: write bit {}, want {write}", fault.fsr, fault.is_write());
    let want = if permission { 0x0c } else { 0x04 };
    ensure!(fault.status() == want, "FSR {:#x}: status {:#x}, want {want:#x}", fault.fsr, fault.status());
    ensure!(fault.pc != 0, "no faulting PC");
    Ok(())
}

/// A new VSpace with the suite's image mapped: the same frames (copies of their
/// capabilities), so code and data are shared.
fn mirror(env: &mut Env) -> Made<CPtr> {
    mirror_in_pool(env, slot::INIT_THREAD_ASID_POOL)
}

// ---------------------------------------------------------------------------------------------
// ASIDControl MakePool and ASID pools.

fn small_untyped(env: &mut Env, bits: u64) -> Made<CPtr> {
    env.make(ObjectType::Untyped, bits)
}

fn make_pool(env: &mut Env) -> Made<CPtr> {
    let untyped = small_untyped(env, 12)?;
    let pool = env.slot();
    ok(AsidControl(slot::ASID_CONTROL).make_pool(untyped, ROOT, pool, DEPTH), "make a pool")?;
    Ok(pool)
}

pub fn make_pool_from_a_4k_untyped_assigns_working_asids(env: &mut Env) -> Result {
    let untyped = small_untyped(env, 12)?;
    let pool = env.slot();
    ok(AsidControl(slot::ASID_CONTROL).make_pool(untyped, ROOT, pool, DEPTH), "make a pool")?;
    let kind = syscall::debug_cap_identify(pool);
    ensure!(kind == cap_type::ASID_POOL, "the destination holds type {kind}, want an ASID pool");
    // The pool's memory is used: the untyped has nothing left.
    let spare = env.slot();
    let retype = hmk_sys::invocation::Untyped(untyped).retype(ObjectType::Endpoint, 0, ROOT, 0, 0, spare, 1);
    ensure!(retype.is_err(), "an untyped that became a pool could still be retyped");
    // Several VSpaces get ASIDs from it, and each can map frames that work.
    for n in 0..3u64 {
        let vspace = env.make(ObjectType::VSpace, 0)?;
        ok(AsidPool(pool).assign(vspace), "assign from the new pool")?;
        let frame = env.make(ObjectType::SmallPage, 0)?;
        map(env, vspace, frame, AREA + n * PAGE, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
        // The same frame, seen through the suite's space, is the one mapped there.
        let local = copy_of(env, frame, CapRights::ALL)?;
        map(env, OWN, local, AREA2 + n * PAGE, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
        poke(AREA2 + n * PAGE, 0x900d + n);
        ensure!(peek(AREA2 + n * PAGE) == 0x900d + n, "the frame did not hold a write");
    }
    // A thread in a VSpace from the new pool runs and writes to its own mapping.
    let space = mirror_in_pool(env, pool)?;
    let frame = env.make(ObjectType::SmallPage, 0)?;
    map(env, space, frame, AREA3, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    let local = copy_of(env, frame, CapRights::ALL)?;
    map(env, OWN, local, AREA3, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    TARGET.store(AREA3, Ordering::SeqCst);
    VALUE.store(0x5a5a, Ordering::SeqCst);
    let worker = paged_worker(env, writer, space)?;
    worker.start()?;
    ensure!(wait_log(1)? == [1], "the worker in the new pool's VSpace did not finish");
    ensure!(peek(AREA3) == 0x5a5a, "its write did not reach the frame: {:#x}", peek(AREA3));
    Ok(())
}

/// A mirror of the suite's image (as [`mirror`]) in a VSpace whose ASID comes from `pool`.
fn mirror_in_pool(env: &mut Env, pool: CPtr) -> Made<CPtr> {
    let vspace = env.make(ObjectType::VSpace, 0)?;
    ok(AsidPool(pool).assign(vspace), "assign an ASID to the mirror")?;
    let frames = env.bootinfo.user_image_frames;
    // One mirror a case, with its tables and a worker, well inside the case's slot window.
    ensure!(frames.len() < 600, "the image has {} frames: too many for a case's slots", frames.len());
    for (i, frame) in (frames.start..frames.end).enumerate() {
        let copy = copy_of(env, frame, CapRights::ALL)?;
        map(env, vspace, copy, IMAGE_BASE + i as u64 * PAGE, CapRights::ALL, vm_attributes::DEFAULT)?;
    }
    Ok(vspace)
}

pub fn make_pool_rejects_what_is_not_a_4k_untyped(env: &mut Env) -> Result {
    let control = AsidControl(slot::ASID_CONTROL);
    let dest = env.slot();
    let big = small_untyped(env, 13)?;
    expect_error(control.make_pool(big, ROOT, dest, DEPTH), Error::InvalidCapability)?;
    let tiny = small_untyped(env, 11)?;
    expect_error(control.make_pool(tiny, ROOT, dest, DEPTH), Error::InvalidCapability)?;
    let ep = env.make(ObjectType::Endpoint, 0)?;
    expect_error(control.make_pool(ep, ROOT, dest, DEPTH), Error::InvalidCapability)?;
    let frame = env.make(ObjectType::SmallPage, 0)?;
    expect_error(control.make_pool(frame, ROOT, dest, DEPTH), Error::InvalidCapability)?;
    ensure!(syscall::debug_cap_identify(dest) == cap_type::NULL, "a refused MakePool filled the destination");
    // The same destination takes a pool from a proper untyped.
    let right = small_untyped(env, 12)?;
    ok(control.make_pool(right, ROOT, dest, DEPTH), "make a pool from a 4 KiB untyped")
}

pub fn make_pool_refuses_an_untyped_with_children(env: &mut Env) -> Result {
    let control = AsidControl(slot::ASID_CONTROL);
    let untyped = small_untyped(env, 12)?;
    let child = env.slot();
    ok(
        hmk_sys::invocation::Untyped(untyped).retype(ObjectType::Notification, 0, ROOT, 0, 0, child, 1),
        "retype a child",
    )?;
    let dest = env.slot();
    expect_error(control.make_pool(untyped, ROOT, dest, DEPTH), Error::RevokeFirst)?;
    ensure!(syscall::debug_cap_identify(child) == cap_type::NOTIFICATION, "the child went away");
    ok(ROOT.revoke(untyped, DEPTH), "revoke the untyped")?;
    ensure!(syscall::debug_cap_identify(child) == cap_type::NULL, "revoke left the child");
    ok(control.make_pool(untyped, ROOT, dest, DEPTH), "make a pool after the revoke")?;
    // The pool is the untyped's child now: revoking the untyped deletes it.
    ok(ROOT.revoke(untyped, DEPTH), "revoke the pool's untyped")?;
    ensure!(syscall::debug_cap_identify(dest) == cap_type::NULL, "the pool outlived its untyped's revoke");
    Ok(())
}

pub fn make_pool_destination_errors(env: &mut Env) -> Result {
    let control = AsidControl(slot::ASID_CONTROL);
    let untyped = small_untyped(env, 12)?;
    let occupied = env.make(ObjectType::Endpoint, 0)?;
    expect_error(control.make_pool(untyped, ROOT, occupied, DEPTH), Error::DeleteFirst)?;
    let dest = env.slot();
    expect_error(control.make_pool(untyped, ROOT, dest, 65), Error::RangeError)?;
    expect_error(control.make_pool(untyped, ROOT, dest, 0), Error::RangeError)?;
    // Depth 32 stops in the middle of the root CNode's guard.
    expect_error(control.make_pool(untyped, ROOT, dest, 32), Error::FailedLookup)?;
    // The destination's root must be a CNode.
    let ep = env.make(ObjectType::Endpoint, 0)?;
    expect_error(control.make_pool(untyped, CNode(ep), dest, DEPTH), Error::FailedLookup)?;
    // None of that used the untyped up.
    ok(control.make_pool(untyped, ROOT, dest, DEPTH), "make the pool")?;
    ensure!(syscall::debug_cap_identify(dest) == cap_type::ASID_POOL, "no pool at the destination");
    // A second pool from the same untyped: it now has a child.
    let again = env.slot();
    expect_error(control.make_pool(untyped, ROOT, again, DEPTH), Error::RevokeFirst)
}

pub fn make_pool_truncated_messages(env: &mut Env) -> Result {
    let untyped = small_untyped(env, 12)?;
    let dest = env.slot();
    let make = label::ARM_ASID_CONTROL_MAKE_POOL;
    let control = slot::ASID_CONTROL;
    expect_error(invoke(control, make, &[dest], &[untyped, ROOT.0]), Error::TruncatedMessage)?;
    expect_error(invoke(control, make, &[], &[untyped, ROOT.0]), Error::TruncatedMessage)?;
    expect_error(invoke(control, make, &[dest, DEPTH], &[untyped]), Error::TruncatedMessage)?;
    expect_error(invoke(control, make, &[dest, DEPTH], &[]), Error::TruncatedMessage)?;
    ensure!(syscall::debug_cap_identify(dest) == cap_type::NULL, "a truncated MakePool made something");
    ok(invoke(control, make, &[dest, DEPTH], &[untyped, ROOT.0]).map(|_| ()), "the complete message")?;
    // And an ASID pool Assign without its VSpace.
    expect_error(invoke(dest, label::ARM_ASID_POOL_ASSIGN, &[], &[]), Error::TruncatedMessage)
}

pub fn deleted_pool_vspace_refuses_mappings(env: &mut Env) -> Result {
    let pool = make_pool(env)?;
    let vspace = env.make(ObjectType::VSpace, 0)?;
    ok(AsidPool(pool).assign(vspace), "assign")?;
    let frame = env.make(ObjectType::SmallPage, 0)?;
    map(env, vspace, frame, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    ok(VSpace(vspace).cache(CacheOp::CleanData, AREA, AREA + 64), "cache maintenance while the pool lives")?;
    ok(ROOT.delete(pool, DEPTH), "delete the pool")?;
    let other = env.make(ObjectType::SmallPage, 0)?;
    expect_error(
        Frame(other).map(vspace, AREA + PAGE, CapRights::READ_WRITE, vm_attributes::DEFAULT),
        Error::FailedLookup,
    )?;
    // Remapping the frame that is still recorded there is refused the same way.
    expect_error(Frame(frame).map(vspace, AREA, CapRights::READ, vm_attributes::DEFAULT), Error::FailedLookup)?;
    let table = env.make(ObjectType::PageTable, 0)?;
    expect_error(PageTable(table).map(vspace, AREA3, vm_attributes::DEFAULT), Error::FailedLookup)?;
    expect_error(VSpace(vspace).cache(CacheOp::CleanData, AREA, AREA + 64), Error::FailedLookup)?;
    // Unmapping what was mapped there is still fine, and the frame maps elsewhere.
    ok(Frame(frame).unmap(), "unmap from the dead VSpace")?;
    map(env, OWN, frame, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    poke(AREA, 3);
    ensure!(peek(AREA) == 3, "the frame does not work in the suite's VSpace");
    // The VSpace cannot get a new ASID: it keeps its dead one.
    expect_error(AsidPool(slot::INIT_THREAD_ASID_POOL).assign(vspace), Error::InvalidCapability)
}

pub fn new_pool_does_not_revive_an_old_vspace(env: &mut Env) -> Result {
    let first = make_pool(env)?;
    let old = env.make(ObjectType::VSpace, 0)?;
    ok(AsidPool(first).assign(old), "assign from the first pool")?;
    ok(ROOT.delete(first, DEPTH), "delete the first pool")?;
    // A new pool very likely takes the same ASID range, and its first ASID goes to a new VSpace.
    let second = make_pool(env)?;
    let new = env.make(ObjectType::VSpace, 0)?;
    ok(AsidPool(second).assign(new), "assign from the second pool")?;
    let frame = env.make(ObjectType::SmallPage, 0)?;
    expect_error(Frame(frame).map(old, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT), Error::FailedLookup)?;
    let table = env.make(ObjectType::PageTable, 0)?;
    expect_error(PageTable(table).map(old, AREA, vm_attributes::DEFAULT), Error::FailedLookup)?;
    ok(PageTable(table).map(new, AREA, vm_attributes::DEFAULT), "a table in the new VSpace")?;
    map(env, new, frame, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    // Deleting the old VSpace does not disturb the new one's ASID.
    ok(ROOT.delete(old, DEPTH), "delete the old VSpace")?;
    let more = env.make(ObjectType::SmallPage, 0)?;
    ok(Frame(more).map(new, AREA + PAGE, CapRights::READ_WRITE, vm_attributes::DEFAULT), "map after the delete")
}

/// Counts and yields forever (in whatever address space it runs).
extern "C" fn ticker(_: u64) -> ! {
    loop {
        TICKS.fetch_add(1, Ordering::SeqCst);
        syscall::yield_now();
    }
}

static TICKS: AtomicU64 = AtomicU64::new(0);

pub fn thread_of_a_deleted_pool_faults_instead_of_running(env: &mut Env) -> Result {
    let pool = make_pool(env)?;
    let space = mirror_in_pool(env, pool)?;
    TICKS.store(0, Ordering::SeqCst);
    let worker = paged_worker(env, ticker, space)?;
    worker.start()?;
    ensure!(yield_until(50, || TICKS.load(Ordering::SeqCst) >= 3), "the worker did not run in its VSpace");
    // Its VSpace loses its ASID; a new pool and VSpace very likely reuse that ASID.
    ok(ROOT.delete(pool, DEPTH), "delete the pool")?;
    let second = make_pool(env)?;
    let other = env.make(ObjectType::VSpace, 0)?;
    ok(AsidPool(second).assign(other), "assign from the second pool")?;
    let before = TICKS.load(Ordering::SeqCst);
    // The worker may not run on under its stale ASID: its next instruction fetch faults.
    let fault = worker.fault()?;
    ensure!(fault.fetch == 1, "fault at {:#x} was not an instruction fetch (FSR {:#x})", fault.address, fault.fsr);
    ensure!(fault.address == fault.pc, "fetch fault address {:#x}, PC {:#x}", fault.address, fault.pc);
    ensure!(TICKS.load(Ordering::SeqCst) <= before + 1, "the worker went on counting without an address space");
    worker.stop()
}

// ---------------------------------------------------------------------------------------------
// Large pages.

/// A 2 MiB frame: the first object retyped from the case's untyped, so it is aligned.
fn large_frame(env: &mut Env) -> Made<CPtr> {
    env.make(ObjectType::LargePage, 0)
}

pub fn large_page_maps_writes_and_reads(env: &mut Env) -> Result {
    let frame = large_frame(env)?;
    map(env, OWN, frame, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    for offset in [0, PAGE, 0x10_0000, LARGE - 8] {
        ensure!(peek(AREA + offset) == 0, "a new large frame is not zeroed at {offset:#x}");
        poke(AREA + offset, 0xb16_0000 + offset);
    }
    for offset in [0, PAGE, 0x10_0000, LARGE - 8] {
        ensure!(peek(AREA + offset) == 0xb16_0000 + offset, "offset {offset:#x} lost its value");
    }
    let address = ok(Frame(frame).get_address(), "get address")?;
    ensure!(address % LARGE == 0 && address != 0, "physical address {address:#x} is not 2 MiB aligned");
    // A second mapping of the same large frame, at the next 2 MiB address, sees the same data.
    let copy = copy_of(env, frame, CapRights::READ)?;
    map(env, OWN, copy, AREA + LARGE, CapRights::READ, vm_attributes::DEFAULT)?;
    ensure!(peek(AREA + LARGE + 0x10_0000) == 0xb16_0000 + 0x10_0000, "the second mapping differs");
    ensure!(peek(AREA + 2 * LARGE - 8) == 0xb16_0000 + LARGE - 8, "the second mapping's end differs");
    // Cache maintenance covers the whole 2 MiB, no more.
    ok(Frame(frame).cache(CacheOp::CleanData, 0, LARGE), "clean the whole large frame")?;
    expect_error(Frame(frame).cache(CacheOp::CleanData, 0, LARGE + 1), Error::InvalidArgument)?;
    ok(VSpace(OWN).cache(CacheOp::CleanData, AREA + PAGE - 8, AREA + PAGE + 8), "a range across 4 KiB steps")?;
    ok(Frame(copy).unmap(), "unmap the copy")?;
    ok(Frame(frame).unmap(), "unmap")
}

pub fn large_page_unmap_faults_the_next_access(env: &mut Env) -> Result {
    let frame = large_frame(env)?;
    map(env, OWN, frame, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    let address = AREA + 0x10_0008;
    poke(address, 0x1a29e);
    GATE.store(env.make(ObjectType::Notification, 0)?, Ordering::SeqCst);
    TARGET.store(address, Ordering::SeqCst);
    let worker = paged_worker(env, reader_twice, OWN)?;
    worker.start()?;
    ensure!(wait_log(1)? == [0x1a29e], "the worker read {:?} through the large page", log_contents());
    ok(Frame(frame).unmap(), "unmap the large frame")?;
    syscall::signal(GATE.load(Ordering::SeqCst));
    let fault = worker.fault()?;
    // A translation fault: the level-2 entry is empty now.
    check_data_fault(&fault, address, false, false)?;
    ensure!(log_contents() == [0x1a29e], "the worker read again after the unmap: {:?}", log_contents());
    // Mapped again at the same address: the retried read sees the same data.
    map(env, OWN, frame, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    worker.resume();
    ensure!(wait_log(2)? == [0x1a29e, 0x1a29e], "after the remap the worker read {:?}", log_contents());
    worker.no_fault()
}

pub fn large_page_alignment_and_table_conflicts(env: &mut Env) -> Result {
    let frame = large_frame(env)?;
    // Tables down to level 3 for AREA (a small page was there).
    let probe = env.make(ObjectType::SmallPage, 0)?;
    map(env, OWN, probe, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    ok(Frame(probe).unmap(), "unmap the probe")?;
    // Now AREA has a level-3 table: no large page there (seL4's walk stops in that table, a
    // failed lookup).
    let rw = CapRights::READ_WRITE;
    expect_error(Frame(frame).map(OWN, AREA, rw, vm_attributes::DEFAULT), Error::FailedLookup)?;
    // Misaligned large pages.
    expect_error(Frame(frame).map(OWN, AREA + LARGE + PAGE, rw, vm_attributes::DEFAULT), Error::AlignmentError)?;
    expect_error(Frame(frame).map(OWN, AREA + LARGE + LARGE / 2, rw, vm_attributes::DEFAULT), Error::AlignmentError)?;
    // Beyond the user range.
    expect_error(Frame(frame).map(OWN, USER_TOP, rw, vm_attributes::DEFAULT), Error::InvalidArgument)?;
    // The next 2 MiB slot is free: the large page goes there.
    ok(Frame(frame).map(OWN, AREA + LARGE, rw, vm_attributes::DEFAULT), "map at the next 2 MiB slot")?;
    poke(AREA + LARGE + 8, 11);
    // A level-3 table cannot go under a large page, nor a small page inside it.
    let table = env.make(ObjectType::PageTable, 0)?;
    expect_error(PageTable(table).map(OWN, AREA + LARGE + PAGE, vm_attributes::DEFAULT), Error::DeleteFirst)?;
    let small = env.make(ObjectType::SmallPage, 0)?;
    expect_error(Frame(small).map(OWN, AREA + LARGE + PAGE, rw, vm_attributes::DEFAULT), Error::FailedLookup)?;
    ensure!(peek(AREA + LARGE + 8) == 11, "the large page changed");
    ok(Frame(frame).unmap(), "unmap")
}

// ---------------------------------------------------------------------------------------------
// Rights.

pub fn read_only_write_faults_then_remap_read_write_lands(env: &mut Env) -> Result {
    let frame = env.make(ObjectType::SmallPage, 0)?;
    map(env, OWN, frame, AREA + 0x3000, CapRights::READ, vm_attributes::DEFAULT)?;
    let address = AREA + 0x3000 + 0x100;
    ensure!(peek(address) == 0, "a read-only mapping does not read zero");
    TARGET.store(address, Ordering::SeqCst);
    VALUE.store(0xc0ffee, Ordering::SeqCst);
    let worker = paged_worker(env, writer, OWN)?;
    worker.start()?;
    let fault = worker.fault()?;
    check_data_fault(&fault, address, true, true)?;
    ensure!(log_contents().is_empty(), "the write went on: {:?}", log_contents());
    ensure!(peek(address) == 0, "the refused write changed memory");
    // seL4's way to change rights: map again at the same address.
    ok(Frame(frame).map(OWN, AREA + 0x3000, CapRights::READ_WRITE, vm_attributes::DEFAULT), "remap read-write")?;
    worker.resume();
    ensure!(wait_log(1)? == [1], "the worker did not finish its write");
    ensure!(peek(address) == 0xc0ffee, "the retried write did not land: {:#x}", peek(address));
    worker.no_fault()
}

pub fn read_only_capability_maps_read_only(env: &mut Env) -> Result {
    let frame = env.make(ObjectType::SmallPage, 0)?;
    let read_only = copy_of(env, frame, CapRights::READ)?;
    // Asking for read-write through a capability without the write right gives read-only.
    map(env, OWN, read_only, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    // The full capability maps it writable elsewhere; the read-only mapping sees the data.
    map(env, OWN, frame, AREA + PAGE, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    poke(AREA + PAGE + 16, 0x77);
    ensure!(peek(AREA + 16) == 0x77, "the read-only mapping is not the same frame");
    TARGET.store(AREA + 16, Ordering::SeqCst);
    VALUE.store(0x88, Ordering::SeqCst);
    let worker = paged_worker(env, writer, OWN)?;
    worker.start()?;
    check_data_fault(&worker.fault()?, AREA + 16, true, true)?;
    // Remapping with the read-only capability asking for everything changes nothing.
    ok(Frame(read_only).map(OWN, AREA, CapRights::ALL, vm_attributes::DEFAULT), "remap asking for all rights")?;
    worker.resume();
    check_data_fault(&worker.fault()?, AREA + 16, true, true)?;
    ensure!(peek(AREA + PAGE + 16) == 0x77, "a write through the read-only mapping landed");
    // A copy of the read-only copy cannot get the write right back.
    let again = copy_of(env, read_only, CapRights::ALL)?;
    ok(Frame(read_only).unmap(), "unmap the read-only copy")?;
    map(env, OWN, again, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    worker.resume();
    check_data_fault(&worker.fault()?, AREA + 16, true, true)?;
    // The full capability, mapped there instead, lets the write land.
    ok(Frame(again).unmap(), "unmap the second copy")?;
    ok(Frame(frame).unmap(), "unmap the writable mapping")?;
    ok(Frame(frame).map(OWN, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT), "map the full capability")?;
    worker.resume();
    ensure!(wait_log(1)? == [1], "the worker did not finish");
    ensure!(peek(AREA + 16) == 0x88, "the write did not land through the writable mapping");
    Ok(())
}

pub fn mapping_without_read_right_gives_no_user_access(env: &mut Env) -> Result {
    let frame = env.make(ObjectType::SmallPage, 0)?;
    let writable = copy_of(env, frame, CapRights::ALL)?;
    map(env, OWN, writable, AREA + PAGE, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    poke(AREA + PAGE + 8, 0x5ec2e7);
    // No rights at all: seL4 makes the mapping kernel-only.
    map(env, OWN, frame, AREA, CapRights::NONE, vm_attributes::DEFAULT)?;
    TARGET.store(AREA + 8, Ordering::SeqCst);
    let worker = paged_worker(env, reader, OWN)?;
    worker.start()?;
    check_data_fault(&worker.fault()?, AREA + 8, false, true)?;
    // Write without read is no mapping right either.
    let write_only = CapRights { write: true, read: false, grant: false, grant_reply: false };
    ok(Frame(frame).map(OWN, AREA, write_only, vm_attributes::DEFAULT), "remap write-only")?;
    worker.resume();
    check_data_fault(&worker.fault()?, AREA + 8, false, true)?;
    ensure!(log_contents().is_empty(), "the worker read through a mapping without read right");
    ok(Frame(frame).map(OWN, AREA, CapRights::READ, vm_attributes::DEFAULT), "remap read-only")?;
    worker.resume();
    ensure!(wait_log(1)? == [0x5ec2e7], "the worker read {:?}", log_contents());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Demand paging.

const DEMAND_PAGES: u64 = 256;

fn demand_address(page: u64) -> u64 {
    // A different word of each page, so each fault address is distinct within its page too.
    AREA + 0x10_0000 + page * PAGE + (page % 512) * 8
}

fn demand_value(page: u64) -> u64 {
    0xd0_0000 + page * 3
}

pub fn demand_paging_a_megabyte_one_fault_per_page(env: &mut Env) -> Result {
    let first = env.slots(DEMAND_PAGES);
    ok(env.untyped.retype(ObjectType::SmallPage, 0, ROOT, 0, 0, first, DEMAND_PAGES), "retype 256 frames")?;
    // The tables exist; the 256 pages do not.
    tables(env, OWN, demand_address(0))?;
    let worker = paged_worker(env, toucher, OWN)?;
    worker.start()?;
    let mut faults = 0;
    for page in 0..DEMAND_PAGES {
        let fault = worker.fault()?;
        check_data_fault(&fault, demand_address(page), true, false).map_err(|e| format!("page {page}: {e}"))?;
        faults += 1;
        ok(
            Frame(first + page).map(OWN, fault.address & !(PAGE - 1), CapRights::READ_WRITE, vm_attributes::DEFAULT),
            "map the faulting page",
        )?;
        worker.resume();
    }
    ensure!(wait_log(1)? == [1], "the worker did not finish after {faults} faults");
    worker.no_fault()?;
    ensure!(faults == 256, "{faults} faults, want 256");
    for page in 0..DEMAND_PAGES {
        let got = peek(demand_address(page));
        ensure!(got == demand_value(page), "page {page} holds {got:#x}, want {:#x}", demand_value(page));
        // Each page is its own frame: the rest of the page is still zero.
        ensure!(peek((demand_address(page) & !(PAGE - 1)) | 0xff8) == 0, "page {page} has other writes");
    }
    let a = ok(Frame(first).get_address(), "address of frame 0")?;
    let b = ok(Frame(first + 255).get_address(), "address of frame 255")?;
    ensure!(a != b, "two frames share a physical address");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Two address spaces.

pub fn frame_shared_between_two_address_spaces(env: &mut Env) -> Result {
    let space = mirror(env)?;
    let frame = env.make(ObjectType::SmallPage, 0)?;
    let theirs = copy_of(env, frame, CapRights::ALL)?;
    // The worker's mapping is at AREA in its space; the suite's at AREA2 in its own.
    map(env, space, theirs, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    map(env, OWN, frame, AREA2, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    TARGET.store(AREA + 0x40, Ordering::SeqCst);
    TARGET2.store(AREA2 + 0x40, Ordering::SeqCst);
    VALUE.store(0x0dd5_bace, Ordering::SeqCst);
    let worker = paged_worker(env, mirror_writer, space)?;
    worker.start()?;
    // Its write lands, then its read of the suite's address faults: not mapped in its space.
    let fault = worker.fault()?;
    ensure!(log_contents() == [1], "the worker log {:?}", log_contents());
    ensure!(peek(AREA2 + 0x40) == 0x0dd5_bace, "the suite reads {:#x} through its mapping", peek(AREA2 + 0x40));
    check_data_fault(&fault, AREA2 + 0x40, false, false)?;
    // The pager gives the worker's space that address too (another copy of the frame).
    let third = copy_of(env, frame, CapRights::READ)?;
    map(env, space, third, AREA2, CapRights::READ, vm_attributes::DEFAULT)?;
    worker.resume();
    ensure!(wait_log(2)? == [1, 0x0dd5_bace], "the worker read {:?}", log_contents());
    worker.no_fault()
}

pub fn mapping_in_one_address_space_is_absent_in_another(env: &mut Env) -> Result {
    let space = mirror(env)?;
    let frame = env.make(ObjectType::SmallPage, 0)?;
    map(env, space, frame, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    // A worker in the suite's own space touches AREA: nothing is mapped there in this space.
    TARGET.store(AREA, Ordering::SeqCst);
    let worker = paged_worker(env, reader, OWN)?;
    worker.start()?;
    let fault = worker.fault()?;
    ensure!(fault.address == AREA, "fault address {:#x}", fault.address);
    ensure!(fault.status() == 0x04, "FSR {:#x}: not a translation fault", fault.fsr);
    worker.stop()?;
    // Unmapping in one space leaves the other's mapping of another copy alone.
    let local = copy_of(env, frame, CapRights::ALL)?;
    map(env, OWN, local, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    poke(AREA, 1);
    VALUE.store(0x2222, Ordering::SeqCst);
    let other = paged_worker(env, mirror_writer, space)?;
    TARGET2.store(AREA3, Ordering::SeqCst);
    ok(Frame(frame).unmap(), "unmap in the mirror")?;
    other.start()?;
    // The mirror worker's write now faults (its mapping is gone) ...
    check_data_fault(&other.fault()?, AREA, true, false)?;
    // ... while the suite's mapping still works.
    ensure!(peek(AREA) == 1, "the suite's mapping changed");
    poke(AREA, 2);
    ensure!(peek(AREA) == 2, "the suite's mapping stopped working");
    other.stop()
}

// ---------------------------------------------------------------------------------------------
// Unmapping revokes access.

/// Maps a frame at `address`'s page holding `value`, starts a `reader_twice` worker and checks
/// its first read; `cut` then takes the mapping away, the worker's second read must fault, and
/// `restore` (given the pager) maps something that the retried read returns.
fn access_then_cut(
    env: &mut Env,
    frame: CPtr,
    address: u64,
    value: u64,
    cut: impl FnOnce(&mut Env) -> Result,
    restore: impl FnOnce(&mut Env) -> Made<u64>,
) -> Result {
    map(env, OWN, frame, address & !(PAGE - 1), CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    poke(address, value);
    GATE.store(env.make(ObjectType::Notification, 0)?, Ordering::SeqCst);
    TARGET.store(address, Ordering::SeqCst);
    let worker = paged_worker(env, reader_twice, OWN)?;
    worker.start()?;
    ensure!(wait_log(1)? == [value], "the first read gave {:?}", log_contents());
    cut(env)?;
    syscall::signal(GATE.load(Ordering::SeqCst));
    check_data_fault(&worker.fault()?, address, false, false)?;
    ensure!(log_contents() == [value], "the worker read after the cut: {:?}", log_contents());
    let expected = restore(env)?;
    worker.resume();
    ensure!(wait_log(2)? == [value, expected], "after the restore the worker read {:?}", log_contents());
    worker.no_fault()
}

pub fn frame_unmap_revokes_access(env: &mut Env) -> Result {
    let frame = env.make(ObjectType::SmallPage, 0)?;
    let address = AREA + 0x5000 + 0x18;
    access_then_cut(
        env,
        frame,
        address,
        0xaaaa,
        |_| ok(Frame(frame).unmap(), "unmap"),
        |_| {
            // The same frame again: the data is still in it.
            ok(Frame(frame).map(OWN, AREA + 0x5000, CapRights::READ, vm_attributes::DEFAULT), "remap")?;
            Ok(0xaaaa)
        },
    )?;
    // A second unmap of an unmapped frame is fine.
    ok(Frame(frame).unmap(), "unmap")?;
    ok(Frame(frame).unmap(), "unmap again")
}

pub fn frame_capability_delete_revokes_access(env: &mut Env) -> Result {
    let frame = env.make(ObjectType::SmallPage, 0)?;
    // A copy keeps the frame alive: the mapping goes with the capability that made it.
    let keeper = copy_of(env, frame, CapRights::ALL)?;
    let address = AREA + 0x6000 + 0x20;
    access_then_cut(
        env,
        frame,
        address,
        0xbbbb,
        |_| {
            ok(ROOT.delete(frame, DEPTH), "delete the mapped capability")?;
            ensure!(syscall::debug_cap_identify(keeper) == cap_type::FRAME, "the copy went too");
            Ok(())
        },
        |_| {
            ok(Frame(keeper).map(OWN, AREA + 0x6000, CapRights::READ, vm_attributes::DEFAULT), "map the copy")?;
            Ok(0xbbbb)
        },
    )
}

pub fn untyped_revoke_revokes_frame_access(env: &mut Env) -> Result {
    let parent = small_untyped(env, 16)?;
    let frame = env.slot();
    ok(
        hmk_sys::invocation::Untyped(parent).retype(ObjectType::SmallPage, 0, ROOT, 0, 0, frame, 1),
        "retype a frame from the parent",
    )?;
    let fresh = env.make(ObjectType::SmallPage, 0)?;
    let address = AREA + 0x7000 + 0x28;
    access_then_cut(
        env,
        frame,
        address,
        0xcccc,
        |_| {
            ok(ROOT.revoke(parent, DEPTH), "revoke the parent untyped")?;
            ensure!(syscall::debug_cap_identify(frame) == cap_type::NULL, "the frame survived the revoke");
            Ok(())
        },
        |env| {
            // A fresh frame, zeroed, with a new value.
            map(env, OWN, fresh, AREA + 0x7000, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
            ensure!(peek(address) == 0, "a fresh frame is not zeroed");
            poke(address, 0xdddd);
            Ok(0xdddd)
        },
    )
}

// ---------------------------------------------------------------------------------------------
// CSpace isolation.

pub fn cspace_without_the_frame_cannot_map_it(env: &mut Env) -> Result {
    let mine = env.make(ObjectType::SmallPage, 0)?;
    let theirs = env.make(ObjectType::SmallPage, 0)?;
    tables(env, OWN, AREA)?;
    // The worker's CSpace: 16 slots, a guard of 60 zero bits so 64-bit pointers 0..15 resolve.
    let cnode = env.make(ObjectType::CNode, 4)?;
    let node = CNode(cnode);
    ok(node.copy(1, 4, ROOT, OWN, DEPTH, CapRights::ALL), "the VSpace into the worker's CSpace")?;
    ok(node.copy(2, 4, ROOT, theirs, DEPTH, CapRights::ALL), "its frame into the worker's CSpace")?;
    TARGET.store(AREA, Ordering::SeqCst);
    TARGET2.store(AREA + PAGE, Ordering::SeqCst);
    FOREIGN.store(mine, Ordering::SeqCst);
    let worker = paged_worker(env, isolated, OWN)?;
    let handler = env.slot();
    ok(ROOT.mint(handler, DEPTH, ROOT, worker.ep, DEPTH, CapRights::ALL, BADGE), "mint the fault handler")?;
    ok(Tcb(worker.tcb).set_space(handler, cnode, cnode_cap_data(0, 60), OWN, 0), "the worker's own CSpace")?;
    // Invocations with capability arguments need an IPC buffer: it shares the suite's.
    ok(Tcb(worker.tcb).set_ipc_buffer(env.bootinfo.ipc_buffer, slot::INIT_THREAD_IPC_BUFFER), "IPC buffer")?;
    worker.start()?;
    let mut message = Registers::default();
    for _ in 0..200 {
        message = syscall::nb_recv(worker.ep, worker.reply);
        if message.cap_or_badge == BADGE {
            break;
        }
        syscall::yield_now();
    }
    ensure!(message.cap_or_badge == BADGE, "no fault from the worker; log {:?}", log_contents());
    // Its own frame mapped; its empty slot is no capability; the suite's frame is no address
    // its CSpace resolves: a capability fault naming that pointer.
    let empty = 100 + Error::InvalidCapability as u64;
    ensure!(log_contents() == [0, empty], "the worker recorded {:?}, want [0, {empty}]", log_contents());
    ensure!(message.info.label() == 1, "fault label {}, want CapFault (1)", message.info.label());
    ensure!(message.mrs[1] == mine, "cap fault for pointer {:#x}, want {mine:#x}", message.mrs[1]);
    worker.stop()?;
    // The worker's frame is mapped where it asked; the suite's frame is still unmapped (it
    // maps at a new address without complaint).
    poke(AREA + 8, 0x1501);
    ensure!(peek(AREA + 8) == 0x1501, "the worker's mapping does not work");
    ok(Frame(mine).map(OWN, AREA + 2 * PAGE, CapRights::READ_WRITE, vm_attributes::DEFAULT), "map the suite's frame")?;
    ok(Frame(mine).unmap(), "unmap")
}

// ---------------------------------------------------------------------------------------------
// Cache maintenance.

fn fill(base: u64, seed: u64) {
    for i in 0..512 {
        poke(base + i * 8, seed ^ (i * 0x0101_0101));
    }
}

fn holds(base: u64, seed: u64) -> bool {
    (0..512).all(|i| peek(base + i * 8) == seed ^ (i * 0x0101_0101))
}

pub fn frame_cache_ops_keep_data(env: &mut Env) -> Result {
    let frame = mapped_frame(env, AREA)?;
    let f = Frame(frame);
    fill(AREA, 0x1234);
    ok(f.cache(CacheOp::CleanData, 0, PAGE), "clean")?;
    ensure!(holds(AREA, 0x1234), "clean changed the data");
    ok(f.cache(CacheOp::CleanInvalidateData, 0, PAGE), "clean and invalidate")?;
    ensure!(holds(AREA, 0x1234), "clean-and-invalidate lost the data");
    // Invalidate after a clean keeps what was cleaned.
    fill(AREA, 0x5678);
    ok(f.cache(CacheOp::CleanData, 0, PAGE), "clean")?;
    ok(f.cache(CacheOp::InvalidateData, 0, PAGE), "invalidate")?;
    ensure!(holds(AREA, 0x5678), "invalidate after clean lost the data");
    ok(f.cache(CacheOp::UnifyInstruction, 0, PAGE), "unify")?;
    ensure!(holds(AREA, 0x5678), "unify changed the data");
    // Partial ranges, not line aligned: the bytes around them stay.
    fill(AREA, 0x9abc);
    for op in [CacheOp::CleanData, CacheOp::CleanInvalidateData, CacheOp::InvalidateData, CacheOp::UnifyInstruction] {
        ok(f.cache(op, 8, 24), "a partial range")?;
        ok(f.cache(op, PAGE - 1, PAGE), "the last byte")?;
        ensure!(holds(AREA, 0x9abc), "{op:?} on a partial range lost data");
    }
    // A read-only copy may do cache maintenance too (it is mapped).
    let copy = copy_of(env, frame, CapRights::READ)?;
    map(env, OWN, copy, AREA + PAGE, CapRights::READ, vm_attributes::DEFAULT)?;
    ok(Frame(copy).cache(CacheOp::CleanData, 0, PAGE), "clean through a read-only copy")?;
    ensure!(holds(AREA + PAGE, 0x9abc), "the copy sees other data");
    Ok(())
}

pub fn frame_cache_errors(env: &mut Env) -> Result {
    let frame = env.make(ObjectType::SmallPage, 0)?;
    let f = Frame(frame);
    for op in [CacheOp::CleanData, CacheOp::InvalidateData, CacheOp::CleanInvalidateData, CacheOp::UnifyInstruction] {
        expect_error(f.cache(op, 0, 64), Error::IllegalOperation).map_err(|e| format!("{op:?} unmapped: {e}"))?;
    }
    map(env, OWN, frame, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    for op in [CacheOp::CleanData, CacheOp::InvalidateData, CacheOp::CleanInvalidateData, CacheOp::UnifyInstruction] {
        let with = |e: String| format!("{op:?}: {e}");
        expect_error(f.cache(op, 64, 64), Error::InvalidArgument).map_err(with)?;
        expect_error(f.cache(op, 128, 64), Error::InvalidArgument).map_err(with)?;
        expect_error(f.cache(op, 0, PAGE + 1), Error::InvalidArgument).map_err(with)?;
        expect_error(f.cache(op, PAGE, PAGE + 64), Error::InvalidArgument).map_err(with)?;
        ok(f.cache(op, 0, PAGE), "the whole page")?;
        expect_error(invoke(frame, op.page_label(), &[0], &[]), Error::TruncatedMessage).map_err(with)?;
        expect_error(invoke(frame, op.page_label(), &[], &[]), Error::TruncatedMessage).map_err(with)?;
    }
    // Unmapped again: refused again.
    ok(f.unmap(), "unmap")?;
    expect_error(f.cache(CacheOp::CleanData, 0, PAGE), Error::IllegalOperation)
}

pub fn vspace_cache_on_mapped_and_unmapped_ranges(env: &mut Env) -> Result {
    // The large frame first, so it is aligned inside the case's untyped.
    let large = large_frame(env)?;
    map(env, OWN, large, AREA2, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    mapped_frame(env, AREA + PAGE)?;
    fill(AREA + PAGE, 0x4321);
    fill(AREA2 + 0x8000, 0x8765);
    let own = VSpace(OWN);
    for op in [CacheOp::CleanData, CacheOp::CleanInvalidateData, CacheOp::UnifyInstruction] {
        ok(own.cache(op, AREA + PAGE, AREA + 2 * PAGE), "a whole mapped page")?;
        ok(own.cache(op, AREA + PAGE + 8, AREA + PAGE + 24), "part of a mapped page")?;
        // Inside a large page a range may cross 4 KiB boundaries.
        ok(own.cache(op, AREA2 + 0x7ff0, AREA2 + 0x9010), "across 4 KiB steps of a large page")?;
        // Unmapped ranges: no table, or a table without the page.
        ok(own.cache(op, AREA3, AREA3 + 64), "no table there")?;
        ok(own.cache(op, AREA, AREA + PAGE), "no page there")?;
        ensure!(holds(AREA + PAGE, 0x4321) && holds(AREA2 + 0x8000, 0x8765), "{op:?} lost data");
    }
    ok(own.cache(CacheOp::CleanData, AREA + PAGE, AREA + 2 * PAGE), "clean")?;
    ok(own.cache(CacheOp::InvalidateData, AREA + PAGE, AREA + 2 * PAGE), "invalidate after clean")?;
    ensure!(holds(AREA + PAGE, 0x4321), "invalidate after clean lost data");
    Ok(())
}

pub fn vspace_cache_errors(env: &mut Env) -> Result {
    mapped_frame(env, AREA)?;
    mapped_frame(env, AREA + PAGE)?;
    let own = VSpace(OWN);
    for op in [CacheOp::CleanData, CacheOp::InvalidateData, CacheOp::CleanInvalidateData, CacheOp::UnifyInstruction] {
        let with = |e: String| format!("{op:?}: {e}");
        // Across two pages, even two mapped ones.
        expect_error(own.cache(op, AREA + PAGE - 8, AREA + PAGE + 8), Error::InvalidArgument).map_err(with)?;
        expect_error(own.cache(op, AREA + 64, AREA + 64), Error::InvalidArgument).map_err(with)?;
        expect_error(own.cache(op, AREA + 64, AREA + 32), Error::InvalidArgument).map_err(with)?;
        expect_error(own.cache(op, USER_TOP - 16, USER_TOP + 16), Error::IllegalOperation).map_err(with)?;
        expect_error(own.cache(op, USER_TOP, USER_TOP + PAGE), Error::IllegalOperation).map_err(with)?;
        expect_error(invoke(OWN, op.vspace_label(), &[AREA], &[]), Error::TruncatedMessage).map_err(with)?;
    }
    // Label 43 is seL4's ARMSMCCall, for SMC capabilities (hmk has none, as seL4 without
    // CONFIG_ALLOW_SMC_CALLS); on a VSpace it is an unknown label.
    expect_error(invoke(OWN, 43, &[AREA, AREA + 64], &[]), Error::IllegalOperation)?;
    // An unassigned VSpace has no address space to maintain.
    let unassigned = env.make(ObjectType::VSpace, 0)?;
    expect_error(VSpace(unassigned).cache(CacheOp::CleanData, AREA, AREA + 64), Error::FailedLookup)
}

/// Writes `mov x0, #imm; ret` at `address`.
fn write_code(address: u64, first: u32) {
    let code = address as *mut u32;
    // SAFETY: `address` is a writable mapping of the code frame, used by nothing else.
    unsafe {
        code.write_volatile(first);
        code.add(1).write_volatile(RET);
    }
}

/// Calls the code at `address`.
fn call(address: u64) -> u64 {
    // SAFETY: the case wrote a complete function (`mov x0, #n; ret`) at `address`, made it
    // visible to instruction fetches, and mapped it executable.
    let code: extern "C" fn() -> u64 = unsafe { core::mem::transmute(address as *const ()) };
    code()
}

pub fn unify_instruction_runs_new_code(env: &mut Env) -> Result {
    let frame = env.make(ObjectType::SmallPage, 0)?;
    // Written through a writable, non-executable mapping; run through a read-only executable one.
    map(env, OWN, frame, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT | vm_attributes::EXECUTE_NEVER)?;
    let runnable = copy_of(env, frame, CapRights::READ)?;
    map(env, OWN, runnable, AREA + PAGE, CapRights::READ, vm_attributes::DEFAULT)?;
    write_code(AREA, MOV_X0_42);
    ok(Frame(frame).cache(CacheOp::UnifyInstruction, 0, 8), "unify the new instructions")?;
    let got = call(AREA + PAGE);
    ensure!(got == 42, "the new code returned {got}, want 42");
    // New code at the same place, made visible through the VSpace this time.
    write_code(AREA, MOV_X0_7);
    ok(VSpace(OWN).cache(CacheOp::UnifyInstruction, AREA + PAGE, AREA + PAGE + 8), "unify by address")?;
    let got = call(AREA + PAGE);
    ensure!(got == 7, "the rewritten code returned {got}, want 7");
    Ok(())
}

pub fn execute_never_faults_on_fetch_until_remapped(env: &mut Env) -> Result {
    let frame = env.make(ObjectType::SmallPage, 0)?;
    map(env, OWN, frame, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT | vm_attributes::EXECUTE_NEVER)?;
    write_code(AREA + 0x80, MOV_X0_42);
    ok(Frame(frame).cache(CacheOp::UnifyInstruction, 0x80, 0x88), "unify")?;
    TARGET.store(AREA + 0x80, Ordering::SeqCst);
    let worker = paged_worker(env, jumper, OWN)?;
    worker.start()?;
    let fault = worker.fault()?;
    ensure!(fault.fetch == 1, "not reported as an instruction fetch (FSR {:#x})", fault.fsr);
    ensure!(fault.address == AREA + 0x80, "fault address {:#x}", fault.address);
    ensure!(fault.pc == AREA + 0x80, "fault PC {:#x}", fault.pc);
    ensure!(fault.class() == 0x20, "FSR {:#x}: not an instruction abort from EL0", fault.fsr);
    ensure!(fault.status() == 0x0c, "FSR {:#x}: not a permission fault", fault.fsr);
    // Remapped without execute-never (and read-only: a page the thread may run).
    ok(Frame(frame).map(OWN, AREA, CapRights::READ, vm_attributes::DEFAULT), "remap executable")?;
    worker.resume();
    ensure!(wait_log(1)? == [42], "the worker's call returned {:?}", log_contents());
    worker.no_fault()
}

// ---------------------------------------------------------------------------------------------
// Other mapping rules.

pub fn map_into_unassigned_vspace_fails(env: &mut Env) -> Result {
    let large = large_frame(env)?;
    let vspace = env.make(ObjectType::VSpace, 0)?;
    let frame = env.make(ObjectType::SmallPage, 0)?;
    let table = env.make(ObjectType::PageTable, 0)?;
    let rw = CapRights::READ_WRITE;
    expect_error(Frame(frame).map(vspace, AREA, rw, vm_attributes::DEFAULT), Error::InvalidCapability)?;
    expect_error(Frame(large).map(vspace, AREA, rw, vm_attributes::DEFAULT), Error::InvalidCapability)?;
    expect_error(PageTable(table).map(vspace, AREA, vm_attributes::DEFAULT), Error::InvalidCapability)?;
    // Not a VSpace at all.
    expect_error(Frame(frame).map(table, AREA, rw, vm_attributes::DEFAULT), Error::InvalidCapability)?;
    // The refusals left the frame and table unmapped: once the VSpace has an ASID they map.
    ok(AsidPool(slot::INIT_THREAD_ASID_POOL).assign(vspace), "assign")?;
    ok(PageTable(table).map(vspace, AREA, vm_attributes::DEFAULT), "map the table")?;
    map(env, vspace, frame, AREA, rw, vm_attributes::DEFAULT)?;
    map(env, vspace, large, AREA + LARGE, rw, vm_attributes::DEFAULT)
}

pub fn page_table_unmap_makes_pages_unreachable(env: &mut Env) -> Result {
    let last = tables(env, OWN, AREA)?;
    let Some(table) = last else { return Err("AREA already had a level-3 table".into()) };
    let frame = env.make(ObjectType::SmallPage, 0)?;
    let address = AREA + 0x9000 + 0x30;
    access_then_cut(
        env,
        frame,
        address,
        0xeeee,
        |_| ok(PageTable(table).unmap(), "unmap the level-3 table"),
        |env| {
            // The frame cap still records its mapping, but its table is gone.
            expect_error(
                Frame(frame).map(OWN, AREA + 0x9000, CapRights::READ_WRITE, vm_attributes::DEFAULT),
                Error::FailedLookup,
            )?;
            // The table maps again; the frame is mapped into it again.
            ok(PageTable(table).map(OWN, AREA, vm_attributes::DEFAULT), "remap the table")?;
            map(env, OWN, frame, AREA + 0x9000, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
            Ok(0xeeee)
        },
    )?;
    // Unmapping an unmapped table again is fine.
    ok(PageTable(table).unmap(), "unmap")?;
    ok(PageTable(table).unmap(), "unmap again")
}

pub fn unmapped_page_table_comes_back_empty(env: &mut Env) -> Result {
    let Some(table) = tables(env, OWN, AREA)? else { return Err("AREA already had a level-3 table".into()) };
    let frame = env.make(ObjectType::SmallPage, 0)?;
    ok(Frame(frame).map(OWN, AREA + 0x4000, CapRights::READ_WRITE, vm_attributes::DEFAULT), "map")?;
    poke(AREA + 0x4000, 0x7ab1e);
    ok(PageTable(table).unmap(), "unmap the table")?;
    // The same table in another 2 MiB slot (seL4 clears a table when it is unmapped): the
    // frame must not appear there.
    ok(PageTable(table).map(OWN, AREA + LARGE, vm_attributes::DEFAULT), "map the table elsewhere")?;
    TARGET.store(AREA + LARGE + 0x4000, Ordering::SeqCst);
    let worker = paged_worker(env, reader, OWN)?;
    worker.start()?;
    check_data_fault(&worker.fault()?, AREA + LARGE + 0x4000, false, false)?;
    ensure!(log_contents().is_empty(), "the worker read {:?} through a table's stale entry", log_contents());
    // Deleting the frame now leaves nothing behind at either place; a fresh frame maps at the
    // new place and the retried read sees it.
    ok(ROOT.delete(frame, DEPTH), "delete the frame")?;
    let fresh = env.make(ObjectType::SmallPage, 0)?;
    ok(Frame(fresh).map(OWN, AREA + LARGE + 0x4000, CapRights::READ_WRITE, vm_attributes::DEFAULT), "map fresh")?;
    poke(AREA + LARGE + 0x4000, 0xf2e54);
    worker.resume();
    ensure!(wait_log(1)? == [0xf2e54], "the worker read {:?}", log_contents());
    Ok(())
}

pub fn page_table_unmap_needs_the_final_capability(env: &mut Env) -> Result {
    let Some(table) = tables(env, OWN, AREA)? else { return Err("AREA already had a level-3 table".into()) };
    mapped_frame(env, AREA + 0xa000)?;
    poke(AREA + 0xa000, 0x1f1);
    // Copies of a mapped table are allowed (seL4 derives only mapped tables) ...
    let copy = copy_of(env, table, CapRights::ALL)?;
    // ... but only the last capability may unmap it.
    expect_error(PageTable(copy).unmap(), Error::RevokeFirst)?;
    expect_error(PageTable(table).unmap(), Error::RevokeFirst)?;
    ensure!(peek(AREA + 0xa000) == 0x1f1, "a refused unmap changed the mapping");
    // An unmapped table cannot be copied.
    let fresh = env.make(ObjectType::PageTable, 0)?;
    let spare = env.slot();
    expect_error(ROOT.copy(spare, DEPTH, ROOT, fresh, DEPTH, CapRights::ALL), Error::IllegalOperation)?;
    ok(ROOT.delete(copy, DEPTH), "delete the copy")?;
    ok(PageTable(table).unmap(), "unmap with the last capability")?;
    ok(PageTable(table).map(OWN, AREA, vm_attributes::DEFAULT), "map it again")
}

pub fn remap_at_the_same_address_changes_nothing_else(env: &mut Env) -> Result {
    let first = mapped_frame(env, AREA)?;
    let second = mapped_frame(env, AREA + PAGE)?;
    poke(AREA, 1);
    poke(AREA + PAGE, 2);
    let address = ok(Frame(first).get_address(), "address")?;
    for _ in 0..3 {
        ok(Frame(first).map(OWN, AREA, CapRights::READ_WRITE, vm_attributes::DEFAULT), "remap at the same address")?;
    }
    ensure!(peek(AREA) == 1 && peek(AREA + PAGE) == 2, "a remap changed memory");
    poke(AREA, 3);
    ensure!(peek(AREA) == 3, "the remapped page is not writable");
    ensure!(ok(Frame(first).get_address(), "address")? == address, "the frame's address changed");
    // The frame is still recorded at AREA: a mapped frame maps nowhere else (seL4:
    // InvalidArgument for another address, InvalidCapability for another address space).
    let rw = CapRights::READ_WRITE;
    expect_error(Frame(first).map(OWN, AREA + 2 * PAGE, rw, vm_attributes::DEFAULT), Error::InvalidArgument)?;
    expect_error(Frame(second).map(OWN, AREA, rw, vm_attributes::DEFAULT), Error::InvalidArgument)?;
    let other = env.make(ObjectType::VSpace, 0)?;
    ok(AsidPool(slot::INIT_THREAD_ASID_POOL).assign(other), "assign")?;
    tables(env, other, AREA)?;
    expect_error(Frame(first).map(other, AREA, rw, vm_attributes::DEFAULT), Error::InvalidCapability)?;
    // An unmapped frame mapped over it replaces the mapping (seL4 on AArch64); the first
    // frame's unmap then leaves the new mapping alone.
    let third = env.make(ObjectType::SmallPage, 0)?;
    ok(Frame(third).map(OWN, AREA, rw, vm_attributes::DEFAULT), "a frame over the mapping")?;
    ensure!(peek(AREA) == 0 && peek(AREA + PAGE) == 2, "the replacing frame or the neighbour is wrong");
    ok(Frame(first).unmap(), "unmap the replaced frame")?;
    poke(AREA, 4);
    ensure!(peek(AREA) == 4, "the replacing frame was unmapped with the replaced one");
    ok(Frame(third).unmap(), "unmap")?;
    ok(Frame(first).map(OWN, AREA, rw, vm_attributes::DEFAULT), "the first frame back")?;
    ensure!(peek(AREA) == 3, "the first frame lost its data");
    Ok(())
}

pub fn unmapped_frame_maps_again_elsewhere_with_its_data(env: &mut Env) -> Result {
    let frame = mapped_frame(env, AREA)?;
    fill(AREA, 0xfeed);
    ok(Frame(frame).unmap(), "unmap")?;
    // In another VSpace now, seen by the suite through a copy.
    let other = env.make(ObjectType::VSpace, 0)?;
    ok(AsidPool(slot::INIT_THREAD_ASID_POOL).assign(other), "assign")?;
    map(env, other, frame, AREA2, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    let copy = copy_of(env, frame, CapRights::READ)?;
    map(env, OWN, copy, AREA2, CapRights::READ, vm_attributes::DEFAULT)?;
    ensure!(holds(AREA2, 0xfeed), "the frame lost its data between mappings");
    // Back in the suite's space at a third address.
    ok(Frame(frame).unmap(), "unmap from the other VSpace")?;
    map(env, OWN, frame, AREA3, CapRights::READ_WRITE, vm_attributes::DEFAULT)?;
    poke(AREA3 + 8, 0xbeef);
    ensure!(peek(AREA2 + 8) == 0xbeef, "the two mappings are not of one frame");
    Ok(())
}

/// Writes each page's offset in the range (with a marker) into its first word, over `len` bytes
/// at `vaddr`: the pattern follows the frame wherever it is mapped.
fn fill_pages(vaddr: u64, len: u64) {
    for offset in (0..len).step_by(4096) {
        poke(vaddr + offset, 0xfeed_0000_0000_0000 | offset);
    }
}

/// Whether [`fill_pages`]'s pattern is there.
fn pages_filled(vaddr: u64, len: u64) -> bool {
    (0..len).step_by(4096).all(|offset| peek(vaddr + offset) == 0xfeed_0000_0000_0000 | offset)
}

/// 9. The page-table sequence of sel4test's PT0001 ("fun with page tables"): a large page at a
///    misaligned address, mapped, unmapped and mapped again with its data; a mapped frame
///    mapped at a second address (InvalidArgument); a small page without its table
///    (FailedLookup); a page table at an unaligned address (truncated, accepted); the table
///    deleted under a small page; then a new table and both pages back with their data.
fn large_page_and_page_table_sequence(env: &mut Env) -> Result {
    let (rw, attrs) = (CapRights::READ_WRITE, vm_attributes::DEFAULT);
    let vstart = AREA3;
    let large = large_frame(env)?;
    let small = env.make(ObjectType::SmallPage, 0)?;
    // The levels above 2 MiB pages exist for the area (sel4test's reservation has them).
    map(env, OWN, large, vstart, rw, attrs)?;
    ok(Frame(large).unmap(), "unmap the first mapping")?;
    expect_error(Frame(large).map(OWN, vstart + LARGE / 2, rw, attrs), Error::AlignmentError)?;
    ok(Frame(large).map(OWN, vstart + LARGE, rw, attrs), "map aligned")?;
    ok(Frame(large).unmap(), "unmap")?;
    ok(Frame(large).map(OWN, vstart + LARGE, rw, attrs), "map again")?;
    fill_pages(vstart + LARGE, LARGE);
    ok(Frame(large).unmap(), "unmap, leaving nothing mapped")?;
    ok(Frame(large).map(OWN, vstart, rw, attrs), "map at the start")?;
    expect_error(Frame(large).map(OWN, vstart + LARGE, rw, attrs), Error::InvalidArgument)?;
    ensure!(pages_filled(vstart, LARGE), "the large page lost its data");
    ok(Frame(large).unmap(), "unmap everything")?;
    expect_error(Frame(small).map(OWN, vstart, rw, attrs), Error::FailedLookup)?;
    let table = env.make(ObjectType::PageTable, 0)?;
    ok(PageTable(table).map(OWN, vstart + LARGE + 10, attrs), "a page table at an unaligned address")?;
    ok(Frame(small).map(OWN, vstart + LARGE + PAGE, rw, attrs), "a small page in it")?;
    fill_pages(vstart + LARGE + PAGE, PAGE);
    ok(crate::env::ROOT.delete(table, crate::env::DEPTH), "delete the page table")?;
    ok(Frame(small).unmap(), "unmap the small page of the deleted table")?;
    ok(Frame(large).unmap(), "unmap the unmapped large page")?;
    let table = env.make(ObjectType::PageTable, 0)?;
    ok(PageTable(table).map(OWN, vstart, attrs), "a new page table")?;
    ok(Frame(small).map(OWN, vstart + PAGE, rw, attrs), "the small page back")?;
    ok(Frame(large).map(OWN, vstart + LARGE, rw, attrs), "the large page back")?;
    ensure!(pages_filled(vstart + PAGE, PAGE), "the small page lost its data");
    ensure!(pages_filled(vstart + LARGE, LARGE), "the large page lost its data");
    ok(Frame(small).unmap(), "unmap the small page")?;
    ok(Frame(large).unmap(), "unmap the large page")
}
