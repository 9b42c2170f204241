//! Exception dispatch: what `entry.s` calls with a saved [`TrapFrame`], and the decoding of
//! the syndrome register for the panic report.

use super::{gic, timer};
use crate::{syscall, thread};
use aarch64_cpu::registers::{ESR_EL1, FAR_EL1, Readable, VBAR_EL1, Writeable};
use hmk_kernel::context::UserContext;

/// Registers saved on an exception taken in the kernel: the same layout as a thread's.
pub type TrapFrame = hmk_kernel::context::UserContext;

/// Points VBAR_EL1 at the vector table.
pub fn install_vectors() {
    unsafe extern "C" {
        static exception_vectors: u8;
    }
    VBAR_EL1.set(core::ptr::addr_of!(exception_vectors) as u64);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// A name for the exception class in ESR_EL1.EC (Arm ARM, D17.2.37).
pub fn exception_class_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown reason",
        0x01 => "WFI/WFE trapped",
        0x07 => "FP/SIMD access trapped",
        0x0e => "illegal execution state",
        0x15 => "SVC from AArch64",
        0x18 => "MSR/MRS trapped",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort, same EL",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort, same EL",
        0x26 => "SP alignment fault",
        0x2f => "SError",
        0x3c => "BRK instruction",
        _ => "other",
    }
}

const KIND_NAMES: [&str; 16] = [
    "synchronous, EL1 with SP0",
    "IRQ, EL1 with SP0",
    "FIQ, EL1 with SP0",
    "SError, EL1 with SP0",
    "synchronous, EL1",
    "IRQ, EL1",
    "FIQ, EL1",
    "SError, EL1",
    "synchronous, EL0 AArch64",
    "IRQ, EL0 AArch64",
    "FIQ, EL0 AArch64",
    "SError, EL0 AArch64",
    "synchronous, EL0 AArch32",
    "IRQ, EL0 AArch32",
    "FIQ, EL0 AArch32",
    "SError, EL0 AArch32",
];

/// Exception class of an SVC instruction from AArch64.
const EC_SVC64: u64 = 0x15;
/// Exception class of a trapped FP/SIMD access (CPACR_EL1.FPEN).
const EC_FP_TRAP: u64 = 0x07;

/// Called by `entry.s` for every exception taken in the kernel (groups 0 and 1).
#[unsafe(no_mangle)]
extern "C" fn handle_exception(kind: u64, frame: &mut TrapFrame) {
    match kind {
        1 | 5 => {
            thread::enter_from_idle();
            handle_irq();
            // An interrupt while idle may have made a thread runnable.
            if let Some(context) = thread::next_to_run() {
                enter_user(context);
            }
        }
        _ => fatal(kind, frame),
    }
}

/// Called by `entry.s` for every exception from EL0, with the thread's saved registers; returns
/// the register area of the thread to run next.
#[unsafe(no_mangle)]
extern "C" fn handle_user_exception(kind: u64, context: &mut UserContext) -> *mut UserContext {
    // A thread whose budget ran out does not get what it entered for now: a system call is
    // restarted when it next runs (a fault or trap simply happens again).
    // The thread's own TLS register (seL4 saves TPIDR_EL0 at every entry; user code may set it).
    thread::save_user_tls();
    let may_go_on = thread::account();
    match kind {
        9 => handle_irq(),
        8 if ESR_EL1.read(ESR_EL1::EC) == EC_SVC64 && !may_go_on => context.pc -= 4,
        _ if !may_go_on => {}
        8 if ESR_EL1.read(ESR_EL1::EC) == EC_SVC64 => syscall::handle(context),
        8 if ESR_EL1.read(ESR_EL1::EC) == EC_FP_TRAP => thread::take_fp_unit(),
        _ => {
            let (ec, esr, far) = (ESR_EL1.read(ESR_EL1::EC), ESR_EL1.get(), FAR_EL1.get());
            let fault = match ec {
                // Instruction and data aborts from EL0 are VM faults: address, whether it was an
                // instruction fetch, and the syndrome.
                0x20 => [crate::ipc::fault::VM, far, 1, esr],
                0x24 => [crate::ipc::fault::VM, far, 0, esr],
                // Any other exception: seL4's Number is the syndrome, its Code 0.
                _ => [crate::ipc::fault::USER_EXCEPTION, esr, 0, 0],
            };
            crate::ipc::raise_fault(thread::current() as u64, fault);
        }
    }
    let next = thread::next_to_run();
    #[cfg(feature = "invariants")]
    {
        let start = timer::now();
        crate::invariants::check_all();
        thread::discount_since(start);
    }
    match next {
        Some(next) => next,
        None => thread::idle(),
    }
}

/// Enters user mode with the registers at `context`.
pub fn enter_user(context: *mut UserContext) -> ! {
    unsafe extern "C" {
        fn restore_user_context(context: *mut UserContext) -> !;
    }
    // SAFETY: `context` is a thread's saved-register area, which stays live while it runs; the
    // assembly loads it and returns to EL0.
    unsafe { restore_user_context(context) }
}

fn handle_irq() {
    while let Some(intid) = gic::acknowledge() {
        if intid == timer::intid() {
            timer::tick();
        } else if !crate::irq::deliver(intid) {
            log::warn!("unexpected interrupt {intid}");
        }
        gic::end_of_interrupt(intid);
    }
}

/// An exception the kernel cannot continue after: report the syndrome and panic.
fn fatal(kind: u64, frame: &TrapFrame) -> ! {
    let esr = ESR_EL1.get();
    let ec = ESR_EL1.read(ESR_EL1::EC);
    panic!(
        "unhandled exception ({}): EC {:#04x} ({}), ESR {:#010x}, ELR {:#x}, FAR {:#x}, SPSR {:#x}",
        KIND_NAMES[(kind & 15) as usize],
        ec,
        exception_class_name(ec),
        esr,
        frame.pc,
        FAR_EL1.get(),
        frame.spsr
    );
}
