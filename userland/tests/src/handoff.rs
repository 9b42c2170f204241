//! Cases for the boot handoff: the kernel takes from its loader only what seL4's elfloader
//! promises (docs/abi.md, "Boot handoff"). hmk's loader leaves everything else unusable: it
//! poisons the registers the contract does not name and hands its own memory (its image, stack,
//! tables and vectors) to the kernel as free RAM, exactly as the elfloader does.

use crate::check::{ensure, ok};
use crate::env::{DEPTH, Env, ROOT};
use crate::threads::{self, spawn};
use core::sync::atomic::{AtomicU64, Ordering};
use hmk_sys::invocation::{Tcb, Untyped};
use hmk_sys::object::ObjectType;

type Result = crate::check::Outcome;
type Case = crate::cases::Case;

pub const CASES: &[(&str, Case)] = &[
    ("handoff_tpidrro_el0_reads_zero", tpidrro_el0_reads_zero),
    ("handoff_all_free_memory_clears_under_a_running_kernel", all_free_memory_clears_under_a_running_kernel),
];

fn tpidrro_el0() -> u64 {
    let value: u64;
    // SAFETY: TPIDRRO_EL0 is readable at EL0; reading it has no side effects.
    unsafe { core::arch::asm!("mrs {}, tpidrro_el0", out(reg) value, options(nomem, nostack)) };
    value
}

/// What the worker of [`tpidrro_el0_reads_zero`] read, plus one (0: not yet).
static WORKER_READ: AtomicU64 = AtomicU64::new(0);

extern "C" fn read_tpidrro(index: u64) -> ! {
    WORKER_READ.store(tpidrro_el0().wrapping_add(1), Ordering::SeqCst);
    threads::stop_self(index)
}

/// The loader leaves a poison value in TPIDRRO_EL0; seL4 gives every thread 0 there (the
/// register is part of its saved context), so the kernel must clear it itself.
fn tpidrro_el0_reads_zero(env: &mut Env) -> Result {
    ensure!(tpidrro_el0() == 0, "the root task reads TPIDRRO_EL0 = {:#x}", tpidrro_el0());
    WORKER_READ.store(0, Ordering::SeqCst);
    let worker = spawn(env, 0, read_tpidrro, 100, true)?;
    let read = threads::run_lower(|| WORKER_READ.load(Ordering::SeqCst) != 0);
    ok(Tcb(worker.tcb).suspend(), "suspend the worker")?;
    ensure!(read, "the worker never ran");
    let value = WORKER_READ.load(Ordering::SeqCst).wrapping_sub(1);
    ensure!(value == 0, "a new thread reads TPIDRRO_EL0 = {value:#x}");
    Ok(())
}

/// Clears every RAM untyped the kernel handed out (the loader's memory among them: the loader
/// reserves nothing, as seL4's elfloader does not) by retyping each into one untyped of its
/// whole size, which resets it, then checks the kernel still schedules and takes timer
/// interrupts. A kernel that kept using anything of the loader's (vectors, stack, tables, the
/// firmware's device tree) would not survive it.
fn all_free_memory_clears_under_a_running_kernel(env: &mut Env) -> Result {
    let info = env.bootinfo;
    // The harness carves every case's memory from the largest one; it has children now.
    let pool = info.largest_ram_untyped().map(|(cptr, _)| cptr);
    let (mut cleared, mut bytes) = (0, 0u64);
    for (index, untyped) in info.untyped_list().iter().enumerate() {
        let cptr = info.untyped.start + index as u64;
        if untyped.is_device != 0 || Some(cptr) == pool {
            continue;
        }
        let bits = u64::from(untyped.size_bits);
        let whole = env.slot();
        ok(Untyped(cptr).retype(ObjectType::Untyped, bits, ROOT, 0, 0, whole, 1), "retype a whole untyped")?;
        ok(ROOT.delete(whole, DEPTH), "delete it again")?;
        cleared += 1;
        bytes += 1 << bits;
    }
    ensure!(cleared > 0, "no RAM untyped besides the harness's pool");
    // Still alive: a new thread runs, and the timer takes the core back from it (it spins
    // without entering the kernel; only the end of its budget returns the core to the suite).
    threads::reset_records();
    let spinner = spawn(env, 0, threads::spin_forever_entry(), 255, true)?;
    let ran = threads::yield_until(3, || threads::counter_of(0) > 0);
    ok(Tcb(spinner.tcb).suspend(), "stop the spinner")?;
    ensure!(ran, "after clearing {cleared} untyped ({bytes} bytes) a new thread does not run");
    Ok(())
}
