//! Robustness beyond the CNode and Untyped fuzzer: random labels, argument words and
//! capability arguments fed to every object a driver or pager invokes (frames, page tables,
//! VSpaces, ASID control and pools, IRQ control and handlers, TCBs, scheduling contexts and
//! control). New capabilities can only land in a sandbox CNode and mappings only in a sandbox
//! VSpace, so the suite itself stays intact; afterwards the kernel must answer, and the objects
//! must still behave.

use crate::cases::{Case, Rng};
use crate::check::{ensure, ok};
use crate::env::{DEPTH, Env, ROOT};
use hmk_sys::bootinfo::slot;
use hmk_sys::invocation::{AsidPool, CNode, CPtr, Frame, IrqControl, IrqHandler, PageTable, Untyped, invoke};
use hmk_sys::message::CapRights;
use hmk_sys::object::{ObjectType, cap_type, vm_attributes};
use hmk_sys::syscall::debug_cap_identify;

type Result = crate::check::Outcome;

pub const CASES: &[(&str, Case)] =
    &[("fuzz_vspace_irq_and_thread_invocations", fuzz_vspace_irq_and_thread_invocations)];

/// Calls the fuzzer makes.
const CALLS: u64 = 10_000;
/// Calls that must succeed for the run to count as exercising the operations, not only the
/// argument checks.
const MIN_SUCCESSES: u64 = 500;
/// An SPI every board has (virt: 288 lines, the Pi's GIC-400: 256), free for the fuzzer.
const FUZZ_IRQ: u64 = 40;
/// Where the sandbox VSpace's checks map a frame.
const PROBE_ADDRESS: u64 = 0x40_0000_0000;

fn fuzz_vspace_irq_and_thread_invocations(env: &mut Env) -> Result {
    let sandbox = env.make(ObjectType::CNode, 6)?;
    let arena = env.make(ObjectType::Untyped, 20)?;
    let frame = env.make(ObjectType::SmallPage, 0)?;
    let table = env.make(ObjectType::PageTable, 0)?;
    let vspace = env.make(ObjectType::VSpace, 0)?;
    ok(AsidPool(slot::INIT_THREAD_ASID_POOL).assign(vspace), "assign the sandbox VSpace")?;
    let small_untyped = env.make(ObjectType::Untyped, 12)?;
    let notification = env.make(ObjectType::Notification, 0)?;
    let tcb = env.make(ObjectType::Tcb, 0)?;
    let sched_context = env.make(ObjectType::SchedContext, 8)?;
    let handler = env.slot();
    ok(IrqControl(slot::IRQ_CONTROL).get(FUZZ_IRQ, ROOT, handler, DEPTH), "issue the fuzzer's IRQ handler")?;
    let sched_control = env.bootinfo.sched_control.start;

    // Each target with the labels that mean something to it (half the calls use one of them).
    let targets = [
        (frame, 46..53),
        (table, 44..46),
        (vspace, 39..43),
        (slot::ASID_CONTROL, 53..54),
        (slot::INIT_THREAD_ASID_POOL, 54..55),
        (slot::IRQ_CONTROL, 26..27),
        (slot::IRQ_CONTROL, 55..56),
        (handler, 27..30),
        (tcb, 2..17),
        (sched_context, 34..39),
        (sched_control, 33..34),
        (arena, 1..2),
    ];
    // Capability arguments: the sandbox CNode stands for every destination root.
    let caps = [sandbox, frame, table, vspace, small_untyped, notification, tcb, sched_context, arena];
    let mut rng = Rng(0xf00d_cafe_0000_0005);
    let (mut answered, mut succeeded) = (0, 0);
    for _ in 0..CALLS {
        let (target, labels) = targets[rng.below(targets.len() as u64) as usize].clone();
        let label = if rng.below(2) == 0 { rng.below(60) } else { labels.start + rng.below(labels.end - labels.start) };
        let mut args = [0u64; 8];
        args.iter_mut().for_each(|a| *a = rng.word());
        let length = rng.below(9) as usize;
        let mut extra = [0; 3];
        extra.iter_mut().for_each(|c| *c = caps[rng.below(caps.len() as u64) as usize]);
        let extra_count = rng.below(4) as usize;
        if invoke(target, label, &args[..length], &extra[..extra_count]).is_ok() {
            succeeded += 1;
        }
        answered += 1;
    }
    ensure!(answered == CALLS, "only {answered} calls returned");
    // The inputs must reach past the first checks often enough to exercise the operations.
    ensure!(succeeded >= MIN_SUCCESSES, "only {succeeded} of {CALLS} calls succeeded");
    log::info!("fuzz: {succeeded} of {CALLS} calls succeeded");
    consistent_afterwards(env, Objects { sandbox, arena, frame, table, vspace, handler, tcb })
}

struct Objects {
    sandbox: CPtr,
    arena: CPtr,
    frame: CPtr,
    table: CPtr,
    vspace: CPtr,
    handler: CPtr,
    tcb: CPtr,
}

fn identify(cptr: CPtr, want: u64) -> Result {
    let got = debug_cap_identify(cptr);
    ensure!(got == want, "slot {cptr}: capability type {got}, want {want}");
    Ok(())
}

/// Every object still has its capability and still works: the sandbox can be emptied, the
/// IRQ line released and issued again, the frame mapped into the sandbox VSpace and used
/// through the suite's own mapping, the arena revoked and retyped whole.
fn consistent_afterwards(env: &mut Env, o: Objects) -> Result {
    identify(o.sandbox, cap_type::CNODE)?;
    identify(o.arena, cap_type::UNTYPED)?;
    identify(o.frame, cap_type::FRAME)?;
    identify(o.table, cap_type::PAGE_TABLE)?;
    identify(o.vspace, cap_type::VSPACE)?;
    identify(o.handler, cap_type::IRQ_HANDLER)?;
    identify(o.tcb, cap_type::THREAD)?;
    for index in 0..64 {
        ok(CNode(o.sandbox).delete(index, 6), "empty the sandbox")?;
    }
    ok(ROOT.delete(o.handler, DEPTH), "delete the IRQ handler")?;
    let again = env.slot();
    ok(IrqControl(slot::IRQ_CONTROL).get(FUZZ_IRQ, ROOT, again, DEPTH), "the line is free again")?;
    ok(IrqHandler(again).clear(), "clear")?;
    // The frame, unmapped by the fuzzer or not, maps into the sandbox VSpace once tables exist.
    let _ = Frame(o.frame).unmap();
    loop {
        let table = env.make(ObjectType::PageTable, 0)?;
        if PageTable(table).map(o.vspace, PROBE_ADDRESS, vm_attributes::DEFAULT).is_err() {
            break;
        }
    }
    ok(Frame(o.frame).map(o.vspace, PROBE_ADDRESS, CapRights::READ_WRITE, vm_attributes::DEFAULT), "map the frame")?;
    ok(ROOT.revoke(o.arena, DEPTH), "revoke the arena")?;
    let whole = env.slot();
    ok(Untyped(o.arena).retype(ObjectType::Untyped, 20, ROOT, 0, 0, whole, 1), "retype the whole arena")?;
    identify(whole, cap_type::UNTYPED)
}
