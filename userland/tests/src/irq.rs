//! Cases for interrupts delivered to user level (IRQControl, IRQHandler, the EL0 virtual timer
//! as the interrupt source on every board) and for lazy FP/SIMD switching between threads.
//!
//! The interrupt source is the EL1 virtual timer (PPI 27), which EL0 may program
//! (CNTKCTL_EL1.EL0VTEN). Its interrupt is level-triggered: it stays asserted while the timer
//! is enabled, unmasked and past its compare value. Every interrupt case runs through [`vt`],
//! which turns the timer off before and after the case, so no later case sees it asserted.
//!
//! The FP cases run their register work in assembly ([`fp_asm`]): all 32 Q registers, FPCR and
//! FPSR are loaded from an image, kept across yields, suspension or timer preemption, and stored
//! back, so no compiler-generated code can disturb them in between.

use crate::cases::Case;
use crate::check::{Outcome, ensure, expect_error, ok};
use crate::env::{DEPTH, Env, ROOT};
use crate::threads::{LOG_LEN, log_contents, record, reset_records, run_lower, spawn, stop_self, yield_until};
use alloc::format;
use alloc::string::String;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use hmk_sys::bootinfo::slot;
use hmk_sys::error::Error;
use hmk_sys::invocation::{CPtr, IrqControl, IrqHandler, Tcb, error_detail, invoke};
use hmk_sys::message::CapRights;
use hmk_sys::object::{ObjectType, cap_type, irq_trigger, label};
use hmk_sys::syscall::{self, debug_cap_identify, yield_now};

type Result<T = ()> = core::result::Result<T, String>;

pub const CASES: &[(&str, Case)] = &[
    ("irq_control_get_issues_a_handler", irq_control_get_issues_a_handler),
    ("irq_line_issued_twice_is_revoke_first", irq_line_issued_twice_is_revoke_first),
    ("deleted_handler_frees_its_line", deleted_handler_frees_its_line),
    ("kernel_timer_line_is_refused", kernel_timer_line_is_refused),
    ("irq_beyond_the_gic_is_a_range_error", irq_beyond_the_gic_is_a_range_error),
    ("irq_get_into_an_occupied_slot_is_delete_first", irq_get_into_an_occupied_slot_is_delete_first),
    ("irq_get_with_a_bad_depth_or_root", irq_get_with_a_bad_depth_or_root),
    ("irq_get_truncated_messages", irq_get_truncated_messages),
    ("irq_get_trigger_on_spis", irq_get_trigger_on_spis),
    ("irq_control_cannot_be_copied_or_minted", irq_control_cannot_be_copied_or_minted),
    ("irq_unknown_labels_are_illegal", irq_unknown_labels_are_illegal),
    ("set_notification_needs_a_notification_that_can_send", set_notification_needs_a_notification_that_can_send),
    ("handler_copies_keep_the_line_issued", handler_copies_keep_the_line_issued),
    ("revoking_irq_control_deletes_its_handlers", revoking_irq_control_deletes_its_handlers),
    ("virtual_timer_interrupt_signals_the_bound_notification", |e| {
        vt(e, virtual_timer_interrupt_signals_the_bound_notification)
    }),
    ("acked_interrupt_is_delivered_again", |e| vt(e, acked_interrupt_is_delivered_again)),
    ("unacked_line_stays_masked", |e| vt(e, unacked_line_stays_masked)),
    ("cleared_handler_delivers_nothing", |e| vt(e, cleared_handler_delivers_nothing)),
    ("deleting_a_bound_notification_is_harmless", |e| vt(e, deleting_a_bound_notification_is_harmless)),
    ("rebinding_moves_delivery_to_the_new_notification", |e| vt(e, rebinding_moves_delivery_to_the_new_notification)),
    ("interrupt_before_binding_waits_for_ack", |e| vt(e, interrupt_before_binding_waits_for_ack)),
    ("deleting_the_handler_masks_the_line", |e| vt(e, deleting_the_handler_masks_the_line)),
    ("interrupt_wakes_a_higher_priority_driver", |e| vt(e, interrupt_wakes_a_higher_priority_driver)),
    ("interrupt_wakes_a_bound_thread_in_recv", |e| vt(e, interrupt_wakes_a_bound_thread_in_recv)),
    ("fp_registers_survive_yields_between_threads", fp_registers_survive_yields_between_threads),
    ("fp_rounding_mode_is_per_thread", fp_rounding_mode_is_per_thread),
    ("thread_without_fp_runs_while_others_use_fp", thread_without_fp_runs_while_others_use_fp),
    ("suspended_worker_keeps_fp_registers", suspended_worker_keeps_fp_registers),
    ("fp_registers_survive_timer_preemption", fp_registers_survive_timer_preemption),
    ("new_thread_starts_with_clean_fp_state", new_thread_starts_with_clean_fp_state),
    ("fp_survives_interrupt_driven_preemption", |e| vt(e, fp_survives_interrupt_driven_preemption)),
];

const IRQ_CONTROL: IrqControl = IrqControl(slot::IRQ_CONTROL);
/// The EL1 virtual timer's PPI: the interrupt source of every delivery case.
pub(crate) const VTIMER_IRQ: u64 = 27;
/// The kernel's own timer (the non-secure physical timer PPI).
const KERNEL_TIMER_IRQ: u64 = 30;
/// SPIs that exist on QEMU virt and the Pi 4 and that no device the suite uses drives.
const SPI_A: u64 = 40;
const SPI_B: u64 = 41;
/// The badge the delivery cases mint the bound notification with.
const IRQ_BADGE: u64 = 0x4;
/// How long a case waits for an interrupt that must come, and watches for one that must not.
pub(crate) const ARRIVAL_US: u64 = 500_000;
pub(crate) const QUIET_US: u64 = 20_000;

// ---------------------------------------------------------------------------------------------
// The virtual timer and waiting.

/// The virtual counter.
pub(crate) fn now() -> u64 {
    let count: u64;
    // SAFETY: EL0 may read CNTVCT_EL0 (CNTKCTL_EL1.EL0VCTEN); no side effects.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) count, options(nomem, nostack)) };
    count
}

/// Counter ticks in `us` microseconds.
fn ticks(us: u64) -> u64 {
    let frequency: u64;
    // SAFETY: CNTFRQ_EL0 is readable at EL0; no side effects.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) frequency, options(nomem, nostack)) };
    frequency * us / 1_000_000
}

/// Arms the virtual timer to fire `us` microseconds from now; returns the compare value.
pub(crate) fn vtimer_in(us: u64) -> u64 {
    let deadline = now() + ticks(us).max(1);
    vtimer_at(deadline);
    deadline
}

/// Arms the virtual timer to fire at counter value `deadline`.
pub(crate) fn vtimer_at(deadline: u64) {
    // SAFETY: EL0 may program the virtual timer (CNTKCTL_EL1.EL0VTEN); ENABLE=1, IMASK=0.
    unsafe {
        core::arch::asm!(
            "msr cntv_cval_el0, {deadline}",
            "msr cntv_ctl_el0, {enable}",
            "isb",
            deadline = in(reg) deadline,
            enable = in(reg) 1u64,
            options(nomem, nostack),
        );
    }
}

/// Turns the virtual timer off: its interrupt is no longer asserted.
pub(crate) fn vtimer_off() {
    // SAFETY: as in `vtimer_at`; CNTV_CTL_EL0 = 0 disables the timer.
    unsafe { core::arch::asm!("msr cntv_ctl_el0, xzr", "isb", options(nomem, nostack)) };
}

/// CNTV_CTL_EL0 (bit 2: ISTATUS, the timer condition is met).
fn vtimer_ctl() -> u64 {
    let ctl: u64;
    // SAFETY: reading CNTV_CTL_EL0 at EL0 is allowed (EL0VTEN); no side effects.
    unsafe { core::arch::asm!("mrs {}, cntv_ctl_el0", out(reg) ctl, options(nomem, nostack)) };
    ctl
}

/// Runs an interrupt case with the virtual timer off before and after, whatever the outcome.
fn vt(env: &mut Env, body: fn(&mut Env) -> Outcome) -> Outcome {
    vtimer_off();
    let outcome = body(env);
    vtimer_off();
    outcome
}

/// Polls `ntfn` for up to `us` microseconds; its badge bits, or 0 if nothing arrived.
pub(crate) fn poll_for(ntfn: CPtr, us: u64) -> u64 {
    let end = now() + ticks(us);
    loop {
        let bits = syscall::poll(ntfn);
        if bits != 0 || now() >= end {
            return bits;
        }
    }
}

/// Yields for up to `us` microseconds until `done`.
fn yield_for(us: u64, done: impl Fn() -> bool) -> bool {
    let end = now() + ticks(us);
    while now() < end {
        if done() {
            return true;
        }
        yield_now();
    }
    done()
}

/// The bit the watchdog signals when a blocking wait timed out.
const TIMEOUT_BIT: u64 = 1 << 63;
static WATCH_DEADLINE: AtomicU64 = AtomicU64::new(0);
static WATCH_CAP: AtomicU64 = AtomicU64::new(0);

/// Runs below everyone: signals the timeout bit when an armed deadline passes.
extern "C" fn watchdog(_: u64) -> ! {
    loop {
        let deadline = WATCH_DEADLINE.load(Ordering::SeqCst);
        if deadline != 0
            && now() >= deadline
            && WATCH_DEADLINE.compare_exchange(deadline, 0, Ordering::SeqCst, Ordering::SeqCst).is_ok()
        {
            syscall::signal(WATCH_CAP.load(Ordering::SeqCst));
        }
    }
}

/// Lets the suite block in Wait on `ntfn` without hanging if nothing comes: a priority-1
/// thread signals [`TIMEOUT_BIT`] when a wait takes too long.
fn start_watchdog(env: &mut Env, index: usize, ntfn: CPtr) -> Result {
    WATCH_DEADLINE.store(0, Ordering::SeqCst);
    WATCH_CAP.store(mint(env, ntfn, CapRights::ALL, TIMEOUT_BIT)?, Ordering::SeqCst);
    spawn(env, index, watchdog, 1, true)?;
    Ok(())
}

/// Blocks in Wait on `ntfn` (the watchdog ends it after `us` microseconds).
fn wait_for(ntfn: CPtr, us: u64) -> u64 {
    WATCH_DEADLINE.store(now() + ticks(us), Ordering::SeqCst);
    let bits = syscall::wait(ntfn);
    WATCH_DEADLINE.store(0, Ordering::SeqCst);
    bits
}

// ---------------------------------------------------------------------------------------------
// Capabilities.

fn identify(cptr: CPtr, want: u64) -> Result {
    let got = debug_cap_identify(cptr);
    ensure!(got == want, "slot {cptr}: capability type {got}, want {want}");
    Ok(())
}

fn mint(env: &mut Env, src: CPtr, rights: CapRights, badge: u64) -> Result<CPtr> {
    let dest = env.slot();
    ok(ROOT.mint(dest, DEPTH, ROOT, src, DEPTH, rights, badge), "mint")?;
    Ok(dest)
}

/// A handler for `irq` in a fresh slot.
fn handler(env: &mut Env, irq: u64) -> Result<CPtr> {
    let dest = env.slot();
    ok(IRQ_CONTROL.get(irq, ROOT, dest, DEPTH), &format!("IRQControl Get {irq}"))?;
    Ok(dest)
}

/// The virtual timer's handler, bound to a new notification through a copy badged
/// [`IRQ_BADGE`]: (handler, notification).
fn bound_vtimer(env: &mut Env) -> Result<(IrqHandler, CPtr)> {
    let irq = IrqHandler(handler(env, VTIMER_IRQ)?);
    let ntfn = env.make(ObjectType::Notification, 0)?;
    let badged = mint(env, ntfn, CapRights::ALL, IRQ_BADGE)?;
    ok(irq.set_notification(badged), "SetNotification")?;
    Ok((irq, ntfn))
}

// ---------------------------------------------------------------------------------------------
// IRQControl and IRQHandler invocations.

fn irq_control_get_issues_a_handler(env: &mut Env) -> Outcome {
    identify(slot::IRQ_CONTROL, cap_type::IRQ_CONTROL)?;
    let timer = handler(env, VTIMER_IRQ)?;
    identify(timer, cap_type::IRQ_HANDLER)?;
    let spi = handler(env, SPI_A)?;
    identify(spi, cap_type::IRQ_HANDLER)?;
    // Ack and Clear of a line that has not fired are harmless.
    ok(IrqHandler(timer).ack(), "Ack")?;
    ok(IrqHandler(timer).clear(), "Clear")?;
    identify(slot::IRQ_CONTROL, cap_type::IRQ_CONTROL)
}

fn irq_line_issued_twice_is_revoke_first(env: &mut Env) -> Outcome {
    handler(env, VTIMER_IRQ)?;
    let second = env.slot();
    expect_error(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, second, DEPTH), Error::RevokeFirst)?;
    expect_error(IRQ_CONTROL.get_trigger(VTIMER_IRQ, irq_trigger::LEVEL, ROOT, second, DEPTH), Error::RevokeFirst)?;
    identify(second, cap_type::NULL)?;
    // Another line is still free.
    ok(IRQ_CONTROL.get(SPI_A, ROOT, second, DEPTH), "a different line")
}

fn deleted_handler_frees_its_line(env: &mut Env) -> Outcome {
    let first = handler(env, VTIMER_IRQ)?;
    ok(ROOT.delete(first, DEPTH), "delete the handler")?;
    identify(first, cap_type::NULL)?;
    ok(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, first, DEPTH), "issue the line again into the same slot")?;
    ok(ROOT.delete(first, DEPTH), "delete it again")?;
    let other = handler(env, VTIMER_IRQ)?;
    identify(other, cap_type::IRQ_HANDLER)
}

fn kernel_timer_line_is_refused(env: &mut Env) -> Outcome {
    let dest = env.slot();
    expect_error(IRQ_CONTROL.get(KERNEL_TIMER_IRQ, ROOT, dest, DEPTH), Error::RevokeFirst)?;
    expect_error(IRQ_CONTROL.get_trigger(KERNEL_TIMER_IRQ, irq_trigger::EDGE, ROOT, dest, DEPTH), Error::RevokeFirst)?;
    identify(dest, cap_type::NULL)
}

fn irq_beyond_the_gic_is_a_range_error(env: &mut Env) -> Outcome {
    let dest = env.slot();
    expect_error(IRQ_CONTROL.get(5000, ROOT, dest, DEPTH), Error::RangeError)?;
    let (min, max) = (error_detail(0), error_detail(1));
    ensure!(min == 0, "RangeError minimum {min}, want 0");
    // The GIC implements lines in multiples of 32, at most INTID 1019.
    ensure!(
        (31..1020).contains(&max) && (max + 1).is_multiple_of(32),
        "RangeError maximum {max} is no GIC's last line"
    );
    expect_error(IRQ_CONTROL.get(max + 1, ROOT, dest, DEPTH), Error::RangeError)?;
    ensure!(error_detail(1) == max, "maximum changed to {}", error_detail(1));
    expect_error(IRQ_CONTROL.get(u64::MAX, ROOT, dest, DEPTH), Error::RangeError)?;
    expect_error(IRQ_CONTROL.get_trigger(5000, irq_trigger::LEVEL, ROOT, dest, DEPTH), Error::RangeError)?;
    identify(dest, cap_type::NULL)?;
    // The last line itself exists.
    ok(IRQ_CONTROL.get(max, ROOT, dest, DEPTH), "the GIC's last line")?;
    identify(dest, cap_type::IRQ_HANDLER)
}

fn irq_get_into_an_occupied_slot_is_delete_first(env: &mut Env) -> Outcome {
    let ep = env.make(ObjectType::Endpoint, 0)?;
    expect_error(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, ep, DEPTH), Error::DeleteFirst)?;
    identify(ep, cap_type::ENDPOINT)?;
    let existing = handler(env, SPI_A)?;
    expect_error(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, existing, DEPTH), Error::DeleteFirst)?;
    // The refused Get did not take the line.
    handler(env, VTIMER_IRQ).map(|_| ())
}

fn irq_get_with_a_bad_depth_or_root(env: &mut Env) -> Outcome {
    let dest = env.slot();
    for depth in [0, 65] {
        expect_error(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, dest, depth), Error::RangeError)?;
        ensure!(
            error_detail(0) == 1 && error_detail(1) == 64,
            "depth {depth}: range {}..{}",
            error_detail(0),
            error_detail(1)
        );
    }
    // A depth that does not reach a slot of the root CNode.
    expect_error(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, dest, 32), Error::FailedLookup)?;
    // The root is not a CNode.
    let ep = env.make(ObjectType::Endpoint, 0)?;
    expect_error(IRQ_CONTROL.get(VTIMER_IRQ, hmk_sys::invocation::CNode(ep), dest, DEPTH), Error::FailedLookup)?;
    identify(dest, cap_type::NULL)?;
    // None of the refused calls took the line.
    ok(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, dest, DEPTH), "a valid Get")
}

fn irq_get_truncated_messages(env: &mut Env) -> Outcome {
    let dest = env.slot();
    let (get, trigger) = (label::IRQ_ISSUE_IRQ_HANDLER, label::ARM_IRQ_ISSUE_IRQ_HANDLER_TRIGGER);
    expect_error(invoke(IRQ_CONTROL.0, get, &[VTIMER_IRQ, dest], &[ROOT.0]), Error::TruncatedMessage)?;
    expect_error(invoke(IRQ_CONTROL.0, get, &[], &[ROOT.0]), Error::TruncatedMessage)?;
    expect_error(invoke(IRQ_CONTROL.0, get, &[VTIMER_IRQ, dest, DEPTH], &[]), Error::TruncatedMessage)?;
    expect_error(invoke(IRQ_CONTROL.0, trigger, &[SPI_A, 0, dest], &[ROOT.0]), Error::TruncatedMessage)?;
    expect_error(invoke(IRQ_CONTROL.0, trigger, &[SPI_A, 0, dest, DEPTH], &[]), Error::TruncatedMessage)?;
    identify(dest, cap_type::NULL)?;
    ok(invoke(IRQ_CONTROL.0, get, &[VTIMER_IRQ, dest, DEPTH], &[ROOT.0]), "the full message")?;
    identify(dest, cap_type::IRQ_HANDLER)
}

fn irq_get_trigger_on_spis(env: &mut Env) -> Outcome {
    let level = env.slot();
    ok(IRQ_CONTROL.get_trigger(SPI_A, irq_trigger::LEVEL, ROOT, level, DEPTH), "level-triggered SPI")?;
    identify(level, cap_type::IRQ_HANDLER)?;
    let edge = env.slot();
    ok(IRQ_CONTROL.get_trigger(SPI_B, irq_trigger::EDGE, ROOT, edge, DEPTH), "edge-triggered SPI")?;
    identify(edge, cap_type::IRQ_HANDLER)?;
    let again = env.slot();
    expect_error(IRQ_CONTROL.get_trigger(SPI_A, irq_trigger::EDGE, ROOT, again, DEPTH), Error::RevokeFirst)?;
    expect_error(IRQ_CONTROL.get(SPI_B, ROOT, again, DEPTH), Error::RevokeFirst)?;
    // Handlers issued with a trigger work like any other.
    let ntfn = env.make(ObjectType::Notification, 0)?;
    ok(IrqHandler(edge).set_notification(ntfn), "SetNotification")?;
    ok(IrqHandler(edge).ack(), "Ack")?;
    // Swap the triggers, then leave both lines level-triggered as they started.
    ok(ROOT.delete(level, DEPTH), "delete")?;
    ok(ROOT.delete(edge, DEPTH), "delete")?;
    ok(IRQ_CONTROL.get_trigger(SPI_A, irq_trigger::EDGE, ROOT, level, DEPTH), "SPI now edge-triggered")?;
    ok(IRQ_CONTROL.get_trigger(SPI_B, irq_trigger::LEVEL, ROOT, edge, DEPTH), "SPI now level-triggered")?;
    ok(ROOT.delete(level, DEPTH), "delete")?;
    ok(IRQ_CONTROL.get_trigger(SPI_A, irq_trigger::LEVEL, ROOT, level, DEPTH), "SPI level-triggered again")
}

fn irq_control_cannot_be_copied_or_minted(env: &mut Env) -> Outcome {
    let dest = env.slot();
    // IRQControl derives to nothing (seL4 deriveCap): Copy and Mint are refused.
    expect_error(ROOT.copy(dest, DEPTH, ROOT, slot::IRQ_CONTROL, DEPTH, CapRights::ALL), Error::IllegalOperation)?;
    expect_error(ROOT.copy(dest, DEPTH, ROOT, slot::IRQ_CONTROL, DEPTH, CapRights::READ), Error::IllegalOperation)?;
    expect_error(ROOT.mint(dest, DEPTH, ROOT, slot::IRQ_CONTROL, DEPTH, CapRights::ALL, 5), Error::IllegalOperation)?;
    identify(dest, cap_type::NULL)?;
    identify(slot::IRQ_CONTROL, cap_type::IRQ_CONTROL)?;
    ok(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, dest, DEPTH), "the original still works")
}

fn irq_unknown_labels_are_illegal(env: &mut Env) -> Outcome {
    let irq = handler(env, VTIMER_IRQ)?;
    let dest = env.slot();
    for bad in [0, label::IRQ_ISSUE_IRQ_HANDLER, label::CNODE_COPY, 30, 1000] {
        expect_error(invoke(irq, bad, &[VTIMER_IRQ, dest, DEPTH], &[ROOT.0]), Error::IllegalOperation)?;
    }
    for bad in [0, label::IRQ_ACK_IRQ, label::IRQ_SET_IRQ_HANDLER, label::IRQ_CLEAR_IRQ_HANDLER, 1000] {
        expect_error(invoke(IRQ_CONTROL.0, bad, &[SPI_A, dest, DEPTH], &[ROOT.0]), Error::IllegalOperation)?;
    }
    // seL4's label 56, ARMIRQIssueSGISignal (irq, target, index, depth; root), is not
    // implemented: IllegalOperation, and no capability appears.
    expect_error(invoke(IRQ_CONTROL.0, 56, &[1, 0, dest, DEPTH], &[ROOT.0]), Error::IllegalOperation)?;
    identify(dest, cap_type::NULL)
}

fn set_notification_needs_a_notification_that_can_send(env: &mut Env) -> Outcome {
    let irq = IrqHandler(handler(env, VTIMER_IRQ)?);
    let ep = env.make(ObjectType::Endpoint, 0)?;
    expect_error(irq.set_notification(ep), Error::InvalidCapability)?;
    ensure!(error_detail(0) == 0, "invalid capability argument {}, want 0", error_detail(0));
    let ntfn = env.make(ObjectType::Notification, 0)?;
    let receive_only = env.slot();
    ok(ROOT.copy(receive_only, DEPTH, ROOT, ntfn, DEPTH, CapRights::READ), "read-only copy")?;
    expect_error(irq.set_notification(receive_only), Error::InvalidCapability)?;
    expect_error(irq.set_notification(slot::INIT_THREAD_TCB), Error::InvalidCapability)?;
    expect_error(irq.set_notification(irq.0), Error::InvalidCapability)?;
    expect_error(invoke(irq.0, label::IRQ_SET_IRQ_HANDLER, &[], &[]), Error::TruncatedMessage)?;
    // A copy that can send is accepted, badged or not.
    let write_only = env.slot();
    ok(ROOT.copy(write_only, DEPTH, ROOT, ntfn, DEPTH, CapRights::READ_WRITE), "read-write copy")?;
    ok(irq.set_notification(write_only), "SetNotification with send right")?;
    let badged = mint(env, ntfn, CapRights::ALL, 0x10)?;
    ok(irq.set_notification(badged), "SetNotification with a badge")
}

fn handler_copies_keep_the_line_issued(env: &mut Env) -> Outcome {
    let original = handler(env, VTIMER_IRQ)?;
    let copy = env.slot();
    ok(ROOT.copy(copy, DEPTH, ROOT, original, DEPTH, CapRights::ALL), "copy the handler")?;
    identify(copy, cap_type::IRQ_HANDLER)?;
    ok(ROOT.delete(original, DEPTH), "delete the original")?;
    let dest = env.slot();
    expect_error(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, dest, DEPTH), Error::RevokeFirst)?;
    let ntfn = env.make(ObjectType::Notification, 0)?;
    ok(IrqHandler(copy).set_notification(ntfn), "the copy still works")?;
    ok(ROOT.delete(copy, DEPTH), "delete the last copy")?;
    ok(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, dest, DEPTH), "the line is free after the last copy")
}

fn revoking_irq_control_deletes_its_handlers(env: &mut Env) -> Outcome {
    let timer = handler(env, VTIMER_IRQ)?;
    let spi = handler(env, SPI_A)?;
    ok(ROOT.revoke(slot::IRQ_CONTROL, DEPTH), "revoke IRQControl")?;
    identify(timer, cap_type::NULL)?;
    identify(spi, cap_type::NULL)?;
    identify(slot::IRQ_CONTROL, cap_type::IRQ_CONTROL)?;
    ok(IRQ_CONTROL.get(VTIMER_IRQ, ROOT, timer, DEPTH), "the line is free again")?;
    ok(IRQ_CONTROL.get(SPI_A, ROOT, spi, DEPTH), "so is the SPI")
}

// ---------------------------------------------------------------------------------------------
// Delivery.

fn virtual_timer_interrupt_signals_the_bound_notification(env: &mut Env) -> Outcome {
    let (irq, ntfn) = bound_vtimer(env)?;
    start_watchdog(env, 0, ntfn)?;
    ensure!(syscall::poll(ntfn) == 0, "a signal before the timer was armed");
    let deadline = vtimer_in(1_000);
    let bits = wait_for(ntfn, ARRIVAL_US);
    let woke = now();
    ensure!(bits & TIMEOUT_BIT == 0, "no interrupt within {ARRIVAL_US} µs (bits {bits:#x})");
    ensure!(bits == IRQ_BADGE, "woke with badge {bits:#x}, want {IRQ_BADGE:#x}");
    ensure!(woke >= deadline, "the interrupt came {} ticks before the timer expired", deadline - woke);
    ensure!(vtimer_ctl() & 0b100 != 0, "CNTV_CTL_EL0.ISTATUS clear after the interrupt");
    vtimer_off();
    ok(irq.ack(), "Ack")?;
    ensure!(poll_for(ntfn, QUIET_US) == 0, "a signal with the timer off");
    Ok(())
}

fn acked_interrupt_is_delivered_again(env: &mut Env) -> Outcome {
    let (irq, ntfn) = bound_vtimer(env)?;
    start_watchdog(env, 0, ntfn)?;
    let mut delivered = 0;
    for round in 0..5 {
        vtimer_in(1_000);
        let bits = wait_for(ntfn, ARRIVAL_US);
        ensure!(bits == IRQ_BADGE, "round {round}: woke with {bits:#x} after {delivered} deliveries");
        delivered += 1;
        // Push the compare value away before the Ack, or the level-triggered line fires again.
        vtimer_off();
        ok(irq.ack(), "Ack")?;
    }
    ensure!(delivered == 5, "{delivered} deliveries");
    Ok(())
}

fn unacked_line_stays_masked(env: &mut Env) -> Outcome {
    let (irq, ntfn) = bound_vtimer(env)?;
    vtimer_in(1_000);
    let first = poll_for(ntfn, ARRIVAL_US);
    ensure!(first == IRQ_BADGE, "first interrupt: {first:#x}");
    // Without an Ack the line stays masked, though the timer fires again.
    vtimer_in(1_000);
    let quiet = poll_for(ntfn, QUIET_US);
    ensure!(quiet == 0, "delivered {quiet:#x} without an Ack");
    ensure!(vtimer_ctl() & 0b100 != 0, "the timer did not expire");
    ok(irq.ack(), "Ack")?;
    let second = poll_for(ntfn, ARRIVAL_US);
    ensure!(second == IRQ_BADGE, "after the Ack: {second:#x}");
    Ok(())
}

fn cleared_handler_delivers_nothing(env: &mut Env) -> Outcome {
    let (irq, ntfn) = bound_vtimer(env)?;
    vtimer_in(1_000);
    ensure!(poll_for(ntfn, ARRIVAL_US) == IRQ_BADGE, "no first interrupt");
    ok(irq.clear(), "Clear")?;
    vtimer_in(1_000);
    ok(irq.ack(), "Ack")?;
    let after = poll_for(ntfn, QUIET_US);
    ensure!(after == 0, "delivered {after:#x} after Clear");
    ensure!(vtimer_ctl() & 0b100 != 0, "the timer did not expire");
    // The line fired and was masked; binding again and acknowledging delivers it.
    let badged = mint(env, ntfn, CapRights::ALL, 0x20)?;
    ok(irq.set_notification(badged), "bind again")?;
    ensure!(poll_for(ntfn, QUIET_US) == 0, "delivered before the Ack");
    ok(irq.ack(), "Ack")?;
    let again = poll_for(ntfn, ARRIVAL_US);
    ensure!(again == 0x20, "after binding again: {again:#x}");
    Ok(())
}

fn deleting_a_bound_notification_is_harmless(env: &mut Env) -> Outcome {
    let irq = IrqHandler(handler(env, VTIMER_IRQ)?);
    let doomed = env.make(ObjectType::Notification, 0)?;
    let badged = mint(env, doomed, CapRights::ALL, IRQ_BADGE)?;
    ok(irq.set_notification(badged), "SetNotification")?;
    ok(ROOT.delete(badged, DEPTH), "delete the badged copy")?;
    ok(ROOT.delete(doomed, DEPTH), "delete the notification")?;
    // The interrupt fires with nowhere to go.
    vtimer_in(1_000);
    let fresh = env.make(ObjectType::Notification, 0)?;
    ensure!(poll_for(fresh, QUIET_US) == 0, "an unbound notification was signalled");
    ensure!(vtimer_ctl() & 0b100 != 0, "the timer did not expire");
    ok(irq.ack(), "Ack with no notification")?;
    ensure!(poll_for(fresh, QUIET_US) == 0, "an unbound notification was signalled after the Ack");
    // The handler still works with a new notification (the line fired again and is masked).
    let badged = mint(env, fresh, CapRights::ALL, 0x8)?;
    ok(irq.set_notification(badged), "bind a new notification")?;
    ok(irq.ack(), "Ack")?;
    let bits = poll_for(fresh, ARRIVAL_US);
    ensure!(bits == 0x8, "the new notification got {bits:#x}");
    Ok(())
}

fn rebinding_moves_delivery_to_the_new_notification(env: &mut Env) -> Outcome {
    let (irq, first) = bound_vtimer(env)?;
    vtimer_in(1_000);
    ensure!(poll_for(first, ARRIVAL_US) == IRQ_BADGE, "no interrupt on the first notification");
    let second = env.make(ObjectType::Notification, 0)?;
    let badged = mint(env, second, CapRights::ALL, 0x100)?;
    ok(irq.set_notification(badged), "rebind")?;
    for round in 0..2 {
        vtimer_in(1_000);
        ok(irq.ack(), "Ack")?;
        let bits = poll_for(second, ARRIVAL_US);
        ensure!(bits == 0x100, "round {round}: the second notification got {bits:#x}");
        let stale = syscall::poll(first);
        ensure!(stale == 0, "round {round}: the first notification still got {stale:#x}");
    }
    Ok(())
}

fn interrupt_before_binding_waits_for_ack(env: &mut Env) -> Outcome {
    let irq = IrqHandler(handler(env, VTIMER_IRQ)?);
    vtimer_in(1_000);
    // Let it fire while nothing is bound: the kernel masks the line.
    let end = now() + ticks(5_000);
    while now() < end {}
    ensure!(vtimer_ctl() & 0b100 != 0, "the timer did not expire");
    let ntfn = env.make(ObjectType::Notification, 0)?;
    let badged = mint(env, ntfn, CapRights::ALL, IRQ_BADGE)?;
    ok(irq.set_notification(badged), "SetNotification")?;
    let early = poll_for(ntfn, QUIET_US);
    ensure!(early == 0, "delivered {early:#x} before the Ack");
    ok(irq.ack(), "Ack")?;
    let bits = poll_for(ntfn, ARRIVAL_US);
    ensure!(bits == IRQ_BADGE, "after the Ack: {bits:#x}");
    Ok(())
}

fn deleting_the_handler_masks_the_line(env: &mut Env) -> Outcome {
    let (irq, ntfn) = bound_vtimer(env)?;
    vtimer_in(1_000);
    ensure!(poll_for(ntfn, ARRIVAL_US) == IRQ_BADGE, "no interrupt");
    // Acknowledged with the timer still asserted, then deleted: nothing more arrives.
    ok(irq.ack(), "Ack")?;
    ensure!(poll_for(ntfn, ARRIVAL_US) == IRQ_BADGE, "no second interrupt with the line asserted");
    ok(ROOT.delete(irq.0, DEPTH), "delete the handler")?;
    let after = poll_for(ntfn, QUIET_US);
    ensure!(after == 0, "delivered {after:#x} after the handler was deleted");
    // A new handler has no notification: the still-asserted line is masked again at once.
    let fresh = IrqHandler(handler(env, VTIMER_IRQ)?);
    ensure!(poll_for(ntfn, QUIET_US) == 0, "the old binding survived the handler");
    let badged = mint(env, ntfn, CapRights::ALL, 0x40)?;
    ok(fresh.set_notification(badged), "bind the new handler")?;
    ok(fresh.ack(), "Ack")?;
    let bits = poll_for(ntfn, ARRIVAL_US);
    ensure!(bits == 0x40, "the new handler delivered {bits:#x}");
    Ok(())
}

/// Capabilities the interrupt workers use.
static WORKER_NTFN: AtomicU64 = AtomicU64::new(0);
static WORKER_HANDLER: AtomicU64 = AtomicU64::new(0);
static WORKER_ENDPOINT: AtomicU64 = AtomicU64::new(0);
static SPIN_COUNT: AtomicU64 = AtomicU64::new(0);
static DRIVER_WOKE: AtomicU64 = AtomicU64::new(0);

/// A driver: waits for the interrupt, records its badge and how far the spinner got, turns
/// the timer off and acknowledges, then stops.
extern "C" fn driver(index: u64) -> ! {
    let bits = syscall::wait(WORKER_NTFN.load(Ordering::SeqCst));
    record(bits);
    record(SPIN_COUNT.load(Ordering::SeqCst));
    DRIVER_WOKE.store(1, Ordering::SeqCst);
    vtimer_off();
    let _ = IrqHandler(WORKER_HANDLER.load(Ordering::SeqCst)).ack();
    stop_self(index)
}

/// Spins (never yielding) until the driver has woken, or a second has passed.
extern "C" fn spinner(index: u64) -> ! {
    let end = now() + ticks(1_000_000);
    while DRIVER_WOKE.load(Ordering::SeqCst) == 0 && now() < end {
        SPIN_COUNT.fetch_add(1, Ordering::SeqCst);
    }
    record(0x5b);
    stop_self(index)
}

fn interrupt_wakes_a_higher_priority_driver(env: &mut Env) -> Outcome {
    reset_records();
    SPIN_COUNT.store(0, Ordering::SeqCst);
    DRIVER_WOKE.store(0, Ordering::SeqCst);
    let (irq, ntfn) = bound_vtimer(env)?;
    WORKER_NTFN.store(ntfn, Ordering::SeqCst);
    WORKER_HANDLER.store(irq.0, Ordering::SeqCst);
    spawn(env, 0, driver, 200, true)?;
    spawn(env, 1, spinner, 100, true)?;
    let armed = now();
    // 50 ms: time enough for the driver to block and the spinner to start on a slow host with
    // the checking kernel (10 ms was seen to pass before the spinner's first round on raspi4b).
    vtimer_in(50_000);
    // Below both: the driver blocks, the spinner spins until the interrupt wakes the driver.
    ensure!(run_lower(|| LOG_LEN.load(Ordering::SeqCst) == 3), "workers did not finish: {:?}", log_contents());
    let elapsed = now() - armed;
    let log = log_contents();
    ensure!(log[0] == IRQ_BADGE, "the driver woke with {:#x}: {log:?}", log[0]);
    ensure!(log[1] > 0, "the spinner had not run before the interrupt: {log:?}");
    ensure!(log[2] == 0x5b, "order {log:?}: want the driver before the spinner stopped");
    ensure!(elapsed < ticks(500_000), "the driver only woke after {elapsed} ticks");
    ensure!(syscall::poll(ntfn) == 0, "the driver's Ack let the timer fire again");
    Ok(())
}

/// Receives once on the endpoint (its bound notification may wake it instead) and records the
/// badge and the message label.
extern "C" fn bound_receiver(index: u64) -> ! {
    let got = syscall::recv(WORKER_ENDPOINT.load(Ordering::SeqCst), 0);
    record(got.cap_or_badge);
    record(got.info.label());
    stop_self(index)
}

fn interrupt_wakes_a_bound_thread_in_recv(env: &mut Env) -> Outcome {
    reset_records();
    let (irq, ntfn) = bound_vtimer(env)?;
    let ep = env.make(ObjectType::Endpoint, 0)?;
    WORKER_ENDPOINT.store(ep, Ordering::SeqCst);
    let worker = spawn(env, 0, bound_receiver, 255, false)?;
    ok(Tcb(worker.tcb).bind_notification(ntfn), "bind the notification to the thread")?;
    ok(Tcb(worker.tcb).resume(), "resume")?;
    yield_until(5, || false);
    ensure!(LOG_LEN.load(Ordering::SeqCst) == 0, "the receiver did not block: {:?}", log_contents());
    vtimer_in(1_000);
    ensure!(yield_for(ARRIVAL_US, || LOG_LEN.load(Ordering::SeqCst) == 2), "the receiver did not wake");
    vtimer_off();
    ok(irq.ack(), "Ack")?;
    let log = log_contents();
    ensure!(log[0] == IRQ_BADGE, "the receiver woke with badge {:#x}", log[0]);
    ensure!(syscall::poll(ntfn) == 0, "the signal was left pending as well");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Lazy FP/SIMD switching.

/// All FP/SIMD state a thread has: Q0..Q31, FPCR and FPSR.
#[repr(C, align(16))]
#[derive(Clone, Copy, PartialEq, Eq)]
struct FpImage {
    q: [u128; 32],
    fpcr: u64,
    fpsr: u64,
}

const ZERO_IMAGE: FpImage = FpImage { q: [0; 32], fpcr: 0, fpsr: 0 };
/// Images by slot: workers 0..3, the suite 4.
const IMAGE_SLOTS: usize = 5;
const SUITE_SLOT: usize = 4;

struct Images(UnsafeCell<[FpImage; IMAGE_SLOTS]>);

// SAFETY: each slot is written by one thread at a time (its owner, or the suite before the
// owner starts / after it has finished), and accessed through volatile raw-pointer operations.
unsafe impl Sync for Images {}

impl Images {
    const fn new() -> Images {
        Images(UnsafeCell::new([ZERO_IMAGE; IMAGE_SLOTS]))
    }

    fn ptr(&self, index: usize) -> *mut FpImage {
        assert!(index < IMAGE_SLOTS);
        // SAFETY: in bounds of the array.
        unsafe { (self.0.get() as *mut FpImage).add(index) }
    }

    fn get(&self, index: usize) -> FpImage {
        // SAFETY: `ptr` is in bounds and aligned; see the `Sync` note for exclusivity.
        unsafe { self.ptr(index).read_volatile() }
    }

    fn set(&self, index: usize, image: FpImage) {
        // SAFETY: as in `get`.
        unsafe { self.ptr(index).write_volatile(image) }
    }
}

static FP_IN: Images = Images::new();
static FP_OUT: Images = Images::new();

/// FPCR values by slot: rounding modes and the DN, FZ and AHP bits.
const FPCR: [u64; IMAGE_SLOTS] = [1 << 22, 2 << 22, 3 << 22, 3 << 24, (1 << 26) | (1 << 22)];
/// FPSR values by slot: cumulative exception flags and QC.
const FPSR: [u64; IMAGE_SLOTS] = [0x1, 0x0800_0002, 0x84, 0x0800_0008, 0x11];

/// A register image no other slot has.
fn pattern(index: usize) -> FpImage {
    let mut image = FpImage { q: [0; 32], fpcr: FPCR[index], fpsr: FPSR[index] };
    for (r, q) in image.q.iter_mut().enumerate() {
        let low = ((index as u64 + 1) << 56) | ((r as u64) << 48) | (0x1111_1111 * (r as u64 + 1));
        let high = !low ^ ((index as u64) << 8);
        *q = (u128::from(high) << 64) | u128::from(low);
    }
    image
}

/// The first difference between two images in Q registers `regs` (and FPCR/FPSR if `control`).
fn compare(who: &str, want: &FpImage, got: &FpImage, regs: core::ops::Range<usize>, control: bool) -> Result {
    for r in regs {
        ensure!(got.q[r] == want.q[r], "{who}: q{r} is {:#034x}, want {:#034x}", got.q[r], want.q[r]);
    }
    if control {
        ensure!(got.fpcr == want.fpcr, "{who}: FPCR {:#x}, want {:#x}", got.fpcr, want.fpcr);
        ensure!(got.fpsr == want.fpsr, "{who}: FPSR {:#x}, want {:#x}", got.fpsr, want.fpsr);
    }
    Ok(())
}

/// Register work in assembly, so that the compiler cannot touch FP registers in between. The
/// routines follow the AAPCS64 (they save and restore D8..D15, FPCR and FPSR of the caller).
mod fp_asm {
    use super::FpImage;

    core::arch::global_asm!(
        ".arch_extension fp",
        ".arch_extension simd",
        ".macro hmk_irqtest_ldq base",
        "    ldp q0, q1, [\\base, #0]",
        "    ldp q2, q3, [\\base, #32]",
        "    ldp q4, q5, [\\base, #64]",
        "    ldp q6, q7, [\\base, #96]",
        "    ldp q8, q9, [\\base, #128]",
        "    ldp q10, q11, [\\base, #160]",
        "    ldp q12, q13, [\\base, #192]",
        "    ldp q14, q15, [\\base, #224]",
        "    ldp q16, q17, [\\base, #256]",
        "    ldp q18, q19, [\\base, #288]",
        "    ldp q20, q21, [\\base, #320]",
        "    ldp q22, q23, [\\base, #352]",
        "    ldp q24, q25, [\\base, #384]",
        "    ldp q26, q27, [\\base, #416]",
        "    ldp q28, q29, [\\base, #448]",
        "    ldp q30, q31, [\\base, #480]",
        "    ldr x9, [\\base, #512]",
        "    ldr x10, [\\base, #520]",
        "    msr fpcr, x9",
        "    msr fpsr, x10",
        ".endm",
        ".macro hmk_irqtest_stq base",
        "    stp q0, q1, [\\base, #0]",
        "    stp q2, q3, [\\base, #32]",
        "    stp q4, q5, [\\base, #64]",
        "    stp q6, q7, [\\base, #96]",
        "    stp q8, q9, [\\base, #128]",
        "    stp q10, q11, [\\base, #160]",
        "    stp q12, q13, [\\base, #192]",
        "    stp q14, q15, [\\base, #224]",
        "    stp q16, q17, [\\base, #256]",
        "    stp q18, q19, [\\base, #288]",
        "    stp q20, q21, [\\base, #320]",
        "    stp q22, q23, [\\base, #352]",
        "    stp q24, q25, [\\base, #384]",
        "    stp q26, q27, [\\base, #416]",
        "    stp q28, q29, [\\base, #448]",
        "    stp q30, q31, [\\base, #480]",
        "    mrs x9, fpcr",
        "    mrs x10, fpsr",
        "    str x9, [\\base, #512]",
        "    str x10, [\\base, #520]",
        ".endm",
        ".macro hmk_irqtest_enter",
        "    stp x29, x30, [sp, #-96]!",
        "    mov x29, sp",
        "    stp d8, d9, [sp, #16]",
        "    stp d10, d11, [sp, #32]",
        "    stp d12, d13, [sp, #48]",
        "    stp d14, d15, [sp, #64]",
        "    mrs x9, fpcr",
        "    mrs x10, fpsr",
        "    stp x9, x10, [sp, #80]",
        ".endm",
        ".macro hmk_irqtest_leave",
        "    ldp x9, x10, [sp, #80]",
        "    msr fpcr, x9",
        "    msr fpsr, x10",
        "    ldp d8, d9, [sp, #16]",
        "    ldp d10, d11, [sp, #32]",
        "    ldp d12, d13, [sp, #48]",
        "    ldp d14, d15, [sp, #64]",
        "    ldp x29, x30, [sp], #96",
        "    ret",
        ".endm",
        ".section .text.hmk_irqtest, \"ax\"",
        // fp_yield(input x0, output x1, rounds x2): load, yield `rounds` times, store.
        ".balign 4",
        ".global hmk_irqtest_fp_yield",
        "hmk_irqtest_fp_yield:",
        "    hmk_irqtest_enter",
        "    mov x11, x0",
        "    mov x12, x1",
        "    mov x13, x2",
        "    hmk_irqtest_ldq x11",
        "1:  cbz x13, 2f",
        "    mov x7, #-11",
        "    svc #0",
        "    sub x13, x13, #1",
        "    b 1b",
        "2:  hmk_irqtest_stq x12",
        "    hmk_irqtest_leave",
        // fp_spin(input x0, output x1, deadline x2) -> iterations: load Q0..Q29, count in D31
        // by adding D30 = 1.0 until the virtual counter reaches the deadline, store.
        ".balign 4",
        ".global hmk_irqtest_fp_spin",
        "hmk_irqtest_fp_spin:",
        "    hmk_irqtest_enter",
        "    mov x11, x0",
        "    mov x12, x1",
        "    mov x13, x2",
        "    mov x14, #0",
        "    hmk_irqtest_ldq x11",
        "    fmov d30, #1.0",
        "    movi d31, #0",
        "1:  fadd d31, d31, d30",
        "    add x14, x14, #1",
        "    isb",
        "    mrs x9, cntvct_el0",
        "    cmp x9, x13",
        "    b.lo 1b",
        "    hmk_irqtest_stq x12",
        "    mov x0, x14",
        "    hmk_irqtest_leave",
        // fp_hold(input x0, output x1, go x2, loaded x3): load, set *loaded, yield until *go,
        // store.
        ".balign 4",
        ".global hmk_irqtest_fp_hold",
        "hmk_irqtest_fp_hold:",
        "    hmk_irqtest_enter",
        "    mov x11, x0",
        "    mov x12, x1",
        "    mov x13, x2",
        "    mov x14, x3",
        "    hmk_irqtest_ldq x11",
        "    mov x9, #1",
        "    stlr x9, [x14]",
        "1:  ldar x9, [x13]",
        "    cbnz x9, 2f",
        "    mov x7, #-11",
        "    svc #0",
        "    b 1b",
        "2:  hmk_irqtest_stq x12",
        "    hmk_irqtest_leave",
        // fresh_entry(index x0): a thread entry that stores its FP state before anything else
        // runs, into FRESH_OUT[index], then goes on in `fresh_done(index)`.
        ".balign 4",
        ".global hmk_irqtest_fresh_entry",
        "hmk_irqtest_fresh_entry:",
        "    adrp x1, {fresh_out}",
        "    add x1, x1, :lo12:{fresh_out}",
        "    mov x2, #528",
        "    madd x1, x0, x2, x1",
        "    hmk_irqtest_stq x1",
        "    b {fresh_done}",
        // int_entry(index x0): a thread entry that never touches FP: puts a pattern in
        // x19..x28, yields 40 times, stores them into INT_OUT[index] with a done word, then
        // yields forever.
        ".balign 4",
        ".global hmk_irqtest_int_entry",
        "hmk_irqtest_int_entry:",
        "    mov x14, x0",
        "    mov x19, #0x1913",
        "    mov x20, #0x1914",
        "    mov x21, #0x1915",
        "    mov x22, #0x1916",
        "    mov x23, #0x1917",
        "    mov x24, #0x1918",
        "    mov x25, #0x1919",
        "    mov x26, #0x191a",
        "    mov x27, #0x191b",
        "    mov x28, #0x191c",
        "    add x19, x19, x14, lsl #40",
        "    add x20, x20, x14, lsl #40",
        "    add x21, x21, x14, lsl #40",
        "    add x22, x22, x14, lsl #40",
        "    add x23, x23, x14, lsl #40",
        "    add x24, x24, x14, lsl #40",
        "    add x25, x25, x14, lsl #40",
        "    add x26, x26, x14, lsl #40",
        "    add x27, x27, x14, lsl #40",
        "    add x28, x28, x14, lsl #40",
        "    mov x15, #40",
        "1:  mov x7, #-11",
        "    svc #0",
        "    subs x15, x15, #1",
        "    b.ne 1b",
        "    adrp x1, {int_out}",
        "    add x1, x1, :lo12:{int_out}",
        "    mov x2, #96",
        "    madd x1, x14, x2, x1",
        "    stp x19, x20, [x1, #0]",
        "    stp x21, x22, [x1, #16]",
        "    stp x23, x24, [x1, #32]",
        "    stp x25, x26, [x1, #48]",
        "    stp x27, x28, [x1, #64]",
        "    mov x9, #1",
        "    add x2, x1, #80",
        "    stlr x9, [x2]",
        "2:  mov x7, #-11",
        "    svc #0",
        "    b 2b",
        ".text",
        fresh_out = sym super::FRESH_OUT,
        fresh_done = sym super::fresh_done,
        int_out = sym super::INT_OUT,
    );

    unsafe extern "C" {
        pub fn hmk_irqtest_fp_yield(input: *const FpImage, output: *mut FpImage, rounds: u64);
        pub fn hmk_irqtest_fp_spin(input: *const FpImage, output: *mut FpImage, deadline: u64) -> u64;
        pub fn hmk_irqtest_fp_hold(input: *const FpImage, output: *mut FpImage, go: *const u64, loaded: *mut u64);
        /// Only as a thread entry.
        pub safe fn hmk_irqtest_fresh_entry(index: u64) -> !;
        /// Only as a thread entry.
        pub safe fn hmk_irqtest_int_entry(index: u64) -> !;
    }
}

/// Loads slot `index`'s input image, yields `rounds` times, stores its output image.
fn fp_yield(index: usize, rounds: u64) {
    // SAFETY: both pointers name image slots of this thread; the routine keeps the AAPCS64.
    unsafe { fp_asm::hmk_irqtest_fp_yield(FP_IN.ptr(index), FP_OUT.ptr(index), rounds) }
}

static FP_ROUNDS: AtomicU64 = AtomicU64::new(0);

/// Worker: FP state from its slot, kept across yields.
extern "C" fn fp_yield_worker(index: u64) -> ! {
    fp_yield(index as usize, FP_ROUNDS.load(Ordering::SeqCst));
    record(index);
    stop_self(index)
}

/// Runs the suite's own FP round alongside workers `0..workers` and checks every image.
fn fp_round_with_workers(env: &mut Env, workers: usize, rounds: u64) -> Outcome {
    reset_records();
    FP_ROUNDS.store(rounds, Ordering::SeqCst);
    for index in (0..workers).chain([SUITE_SLOT]) {
        FP_IN.set(index, pattern(index));
        FP_OUT.set(index, ZERO_IMAGE);
    }
    for index in 0..workers {
        spawn(env, index, fp_yield_worker, 255, true)?;
    }
    fp_yield(SUITE_SLOT, rounds);
    ensure!(
        yield_until(1000, || LOG_LEN.load(Ordering::SeqCst) == workers),
        "workers did not finish: {:?}",
        log_contents()
    );
    for index in (0..workers).chain([SUITE_SLOT]) {
        let who = if index == SUITE_SLOT { String::from("suite") } else { format!("worker {index}") };
        compare(&who, &pattern(index), &FP_OUT.get(index), 0..32, true)?;
    }
    Ok(())
}

fn fp_registers_survive_yields_between_threads(env: &mut Env) -> Outcome {
    fp_round_with_workers(env, 2, 50)?;
    // Every worker at once.
    fp_round_with_workers(env, 4, 30)
}

/// 1/3, 5/3 and -1/3, divided in the current rounding mode.
fn divisions() -> [u64; 3] {
    let mut out = [0u64; 3];
    for (slot, (a, b)) in out.iter_mut().zip([(1.0f64, 3.0f64), (5.0, 3.0), (-1.0, 3.0)]) {
        let q: f64;
        // SAFETY: one FP division on registers.
        unsafe {
            core::arch::asm!("fdiv {q:d}, {a:d}, {b:d}", q = lateout(vreg) q, a = in(vreg) a, b = in(vreg) b, options(nomem, nostack))
        };
        *slot = q.to_bits();
    }
    out
}

/// What [`divisions`] gives in each rounding mode (FPCR.RMode 0..3).
const ROUNDED: [[u64; 3]; 4] = [
    [0x3fd5_5555_5555_5555, 0x3ffa_aaaa_aaaa_aaab, 0xbfd5_5555_5555_5555],
    [0x3fd5_5555_5555_5556, 0x3ffa_aaaa_aaaa_aaab, 0xbfd5_5555_5555_5555],
    [0x3fd5_5555_5555_5555, 0x3ffa_aaaa_aaaa_aaaa, 0xbfd5_5555_5555_5556],
    [0x3fd5_5555_5555_5555, 0x3ffa_aaaa_aaaa_aaaa, 0xbfd5_5555_5555_5555],
];

/// Per-thread outcome of the rounding rounds: 1 passed, 2 failed.
static ROUNDING_OUTCOME: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

fn fpcr_read() -> u64 {
    let fpcr: u64;
    // SAFETY: reads FPCR; no side effects.
    unsafe { core::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack)) };
    fpcr
}

fn fpcr_write(fpcr: u64) {
    // SAFETY: sets FPCR; the callers restore it before other FP code depends on it.
    unsafe { core::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack)) };
}

/// Sets rounding mode `mode`, divides after each of `rounds` yields and checks the results
/// against the mode's; restores FPCR. Returns whether every round matched.
fn rounding_rounds(mode: usize, rounds: usize) -> bool {
    let saved = fpcr_read();
    fpcr_write((saved & !(3 << 22)) | ((mode as u64) << 22));
    let mut good = true;
    for _ in 0..rounds {
        yield_now();
        good &= divisions() == ROUNDED[mode];
        good &= (fpcr_read() >> 22) & 3 == mode as u64;
    }
    fpcr_write(saved);
    good
}

extern "C" fn rounding_worker(index: u64) -> ! {
    let good = rounding_rounds(index as usize % 4, 20);
    ROUNDING_OUTCOME[index as usize].store(if good { 1 } else { 2 }, Ordering::SeqCst);
    record(index);
    stop_self(index)
}

fn fp_rounding_mode_is_per_thread(env: &mut Env) -> Outcome {
    reset_records();
    ensure!(divisions() == ROUNDED[0], "round-to-nearest divisions give {:x?}", divisions());
    ROUNDING_OUTCOME.iter().for_each(|o| o.store(0, Ordering::SeqCst));
    // Workers 0..3 use modes RN, RP, RM, RZ; the suite uses RP.
    for index in 0..4 {
        spawn(env, index, rounding_worker, 255, true)?;
    }
    let suite_good = rounding_rounds(1, 20);
    ensure!(yield_until(1000, || LOG_LEN.load(Ordering::SeqCst) == 4), "workers did not finish");
    ensure!(suite_good, "the suite's round-toward-plus-infinity results changed");
    for (index, outcome) in ROUNDING_OUTCOME.iter().take(4).enumerate() {
        let outcome = outcome.load(Ordering::SeqCst);
        ensure!(outcome == 1, "worker {index} (rounding mode {index}) saw another thread's mode");
    }
    ensure!(divisions() == ROUNDED[0], "the suite's FPCR was not restored");
    Ok(())
}

/// What [`fp_asm`]'s integer-only thread stores: x19..x28 and a done word, per worker.
#[repr(C, align(16))]
struct IntOut(UnsafeCell<[[u64; 12]; 4]>);

// SAFETY: each row is written by one worker and read by the suite after its done word is set.
unsafe impl Sync for IntOut {}

static INT_OUT: IntOut = IntOut(UnsafeCell::new([[0; 12]; 4]));

fn int_row(index: usize) -> [u64; 12] {
    // SAFETY: in bounds; a volatile read of words the worker wrote before its done word.
    unsafe { (INT_OUT.0.get() as *const [u64; 12]).add(index).read_volatile() }
}

fn thread_without_fp_runs_while_others_use_fp(env: &mut Env) -> Outcome {
    reset_records();
    // SAFETY: no worker is running yet.
    unsafe { INT_OUT.0.get().write_volatile([[0; 12]; 4]) };
    FP_ROUNDS.store(40, Ordering::SeqCst);
    for index in [0, 2, SUITE_SLOT] {
        FP_IN.set(index, pattern(index));
        FP_OUT.set(index, ZERO_IMAGE);
    }
    // FP workers 0 and 2 around the integer-only worker 1.
    spawn(env, 0, fp_yield_worker, 255, true)?;
    let plain = spawn(env, 1, fp_asm::hmk_irqtest_int_entry, 255, true)?;
    spawn(env, 2, fp_yield_worker, 255, true)?;
    fp_yield(SUITE_SLOT, 40);
    ensure!(yield_until(1000, || LOG_LEN.load(Ordering::SeqCst) == 2), "FP workers did not finish");
    ensure!(yield_until(1000, || int_row(1)[10] == 1), "the integer-only thread did not finish");
    ok(Tcb(plain.tcb).suspend(), "stop the integer-only thread")?;
    let row = int_row(1);
    for (k, &value) in row.iter().take(10).enumerate() {
        let want = 0x1913 + k as u64 + (1 << 40);
        ensure!(value == want, "integer-only thread: x{} is {value:#x}, want {want:#x}", 19 + k);
    }
    for index in [0, 2, SUITE_SLOT] {
        compare(&format!("slot {index}"), &pattern(index), &FP_OUT.get(index), 0..32, true)?;
    }
    Ok(())
}

static HOLD_GO: AtomicU64 = AtomicU64::new(0);
static HOLD_LOADED: AtomicU64 = AtomicU64::new(0);

/// Loads its FP state, then holds it until told to store it.
extern "C" fn fp_hold_worker(index: u64) -> ! {
    let i = index as usize;
    // SAFETY: image slots of this worker and two flags; the routine keeps the AAPCS64.
    unsafe { fp_asm::hmk_irqtest_fp_hold(FP_IN.ptr(i), FP_OUT.ptr(i), HOLD_GO.as_ptr(), HOLD_LOADED.as_ptr()) };
    record(index);
    stop_self(index)
}

fn suspended_worker_keeps_fp_registers(env: &mut Env) -> Outcome {
    reset_records();
    HOLD_GO.store(0, Ordering::SeqCst);
    HOLD_LOADED.store(0, Ordering::SeqCst);
    FP_IN.set(0, pattern(0));
    FP_OUT.set(0, ZERO_IMAGE);
    let held = spawn(env, 0, fp_hold_worker, 255, true)?;
    ensure!(yield_until(100, || HOLD_LOADED.load(Ordering::SeqCst) == 1), "the worker did not load its registers");
    yield_now();
    ok(Tcb(held.tcb).suspend(), "suspend the worker")?;
    // While it is suspended, the suite and another worker take the FP unit.
    FP_ROUNDS.store(10, Ordering::SeqCst);
    for index in [1, SUITE_SLOT] {
        FP_IN.set(index, pattern(index));
        FP_OUT.set(index, ZERO_IMAGE);
    }
    spawn(env, 1, fp_yield_worker, 255, true)?;
    fp_yield(SUITE_SLOT, 10);
    ensure!(yield_until(100, || LOG_LEN.load(Ordering::SeqCst) == 1), "the second worker did not finish");
    ensure!(log_contents() == [1], "the suspended worker ran: {:?}", log_contents());
    ok(Tcb(held.tcb).resume(), "resume the worker")?;
    HOLD_GO.store(1, Ordering::SeqCst);
    ensure!(yield_until(100, || LOG_LEN.load(Ordering::SeqCst) == 2), "the resumed worker did not finish");
    compare("resumed worker", &pattern(0), &FP_OUT.get(0), 0..32, true)?;
    compare("worker 1", &pattern(1), &FP_OUT.get(1), 0..32, true)?;
    compare("suite", &pattern(SUITE_SLOT), &FP_OUT.get(SUITE_SLOT), 0..32, true)
}

static SPIN_DEADLINE: AtomicU64 = AtomicU64::new(0);
static SPIN_ITERATIONS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// Loads its FP state and spins on FP additions until the deadline, without yielding.
extern "C" fn fp_spin_worker(index: u64) -> ! {
    let i = index as usize;
    record(index);
    // SAFETY: image slots of this worker; the routine keeps the AAPCS64.
    let count =
        unsafe { fp_asm::hmk_irqtest_fp_spin(FP_IN.ptr(i), FP_OUT.ptr(i), SPIN_DEADLINE.load(Ordering::SeqCst)) };
    SPIN_ITERATIONS[i].store(count, Ordering::SeqCst);
    record(0x10 + index);
    stop_self(index)
}

/// Checks what an FP spinner stored: its pattern in Q0..Q29, 1.0 in D30, the count in D31.
fn check_spinner(who: &str, index: usize) -> Result {
    let (want, got) = (pattern(index), FP_OUT.get(index));
    compare(who, &want, &got, 0..30, true)?;
    let count = SPIN_ITERATIONS[index].load(Ordering::SeqCst);
    ensure!(count > 0, "{who}: no iterations");
    ensure!(got.q[30] == u128::from(1.0f64.to_bits()), "{who}: q30 is {:#x}, want 1.0", got.q[30]);
    let sum = u128::from((count as f64).to_bits());
    ensure!(got.q[31] == sum, "{who}: the sum of {count} ones is {:#x}, want {sum:#x}", got.q[31]);
    Ok(())
}

fn fp_registers_survive_timer_preemption(env: &mut Env) -> Outcome {
    reset_records();
    for index in 0..2 {
        FP_IN.set(index, pattern(index));
        FP_OUT.set(index, ZERO_IMAGE);
    }
    SPIN_ITERATIONS.iter().for_each(|count| count.store(0, Ordering::SeqCst));
    // Neither yields: only the end of a 5 ms slice switches between them.
    SPIN_DEADLINE.store(now() + ticks(60_000), Ordering::SeqCst);
    spawn(env, 0, fp_spin_worker, 100, true)?;
    spawn(env, 1, fp_spin_worker, 100, true)?;
    ensure!(run_lower(|| LOG_LEN.load(Ordering::SeqCst) == 4), "spinners did not finish: {:?}", log_contents());
    let log = log_contents();
    ensure!(log[..2] == [0, 1], "the second spinner only started after the first finished: {log:?}");
    check_spinner("spinner 0", 0)?;
    check_spinner("spinner 1", 1)
}

static FRESH_OUT: Images = Images::new();

/// Where a fresh thread goes after storing its FP state.
extern "C" fn fresh_done(index: u64) -> ! {
    record(index);
    stop_self(index)
}

fn new_thread_starts_with_clean_fp_state(env: &mut Env) -> Outcome {
    reset_records();
    for index in 0..2 {
        FRESH_OUT.set(index, pattern(index));
    }
    // The suite leaves its registers in the FP unit, then two threads start; each must see a
    // clean state (zeros), not the suite's or the other's.
    FP_IN.set(SUITE_SLOT, pattern(SUITE_SLOT));
    fp_yield(SUITE_SLOT, 0);
    spawn(env, 0, fp_asm::hmk_irqtest_fresh_entry, 255, true)?;
    FP_IN.set(3, pattern(3));
    FP_ROUNDS.store(3, Ordering::SeqCst);
    spawn(env, 3, fp_yield_worker, 255, true)?;
    spawn(env, 1, fp_asm::hmk_irqtest_fresh_entry, 255, true)?;
    ensure!(yield_until(100, || LOG_LEN.load(Ordering::SeqCst) == 3), "threads did not finish: {:?}", log_contents());
    for index in 0..2 {
        compare(&format!("fresh thread {index}"), &ZERO_IMAGE, &FRESH_OUT.get(index), 0..32, true)?;
    }
    compare("FP worker", &pattern(3), &FP_OUT.get(3), 0..32, true)
}

/// A driver that uses FP when the interrupt wakes it.
extern "C" fn fp_driver(index: u64) -> ! {
    let bits = syscall::wait(WORKER_NTFN.load(Ordering::SeqCst));
    // 1 when the spinner has started and not finished.
    let seen = LOG_LEN.load(Ordering::SeqCst) as u64;
    record(bits);
    record(seen);
    fp_yield(index as usize, 2);
    vtimer_off();
    let _ = IrqHandler(WORKER_HANDLER.load(Ordering::SeqCst)).ack();
    record(0xd0);
    stop_self(index)
}

fn fp_survives_interrupt_driven_preemption(env: &mut Env) -> Outcome {
    reset_records();
    let (irq, ntfn) = bound_vtimer(env)?;
    WORKER_NTFN.store(ntfn, Ordering::SeqCst);
    WORKER_HANDLER.store(irq.0, Ordering::SeqCst);
    for index in 0..2 {
        FP_IN.set(index, pattern(index));
        FP_OUT.set(index, ZERO_IMAGE);
    }
    SPIN_ITERATIONS.iter().for_each(|count| count.store(0, Ordering::SeqCst));
    // Times long enough for a test kernel's slow kernel entries (raspi4b): the spinner must be
    // running when the interrupt comes.
    SPIN_DEADLINE.store(now() + ticks(200_000), Ordering::SeqCst);
    // Worker 0 drives at 200; worker 1 spins on FP at 100 and is preempted by the wake-up.
    spawn(env, 0, fp_driver, 200, true)?;
    spawn(env, 1, fp_spin_worker, 100, true)?;
    vtimer_in(50_000);
    ensure!(run_lower(|| LOG_LEN.load(Ordering::SeqCst) == 5), "workers did not finish: {:?}", log_contents());
    let log = log_contents();
    // Spinner start (1), the driver's badge, its view of the spinner, its end, spinner end.
    ensure!(log[0] == 1 && log[1] == IRQ_BADGE, "order {log:?}: want the spinner started, then the interrupt");
    ensure!(log[2] == 1, "the spinner was not running when the interrupt came: {log:?}");
    ensure!(log[3] == 0xd0 && log[4] == 0x11, "order {log:?}: want the driver done before the spinner");
    compare("driver", &pattern(0), &FP_OUT.get(0), 0..32, true)?;
    check_spinner("spinner", 1)
}
