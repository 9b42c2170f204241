//! The child's side: what a module program (a separate ELF its parent loaded, started through
//! `hmk_rt::module_entry!` with x0 = its [`ModuleInfo`] page) does with that page at the start
//! and when it has nothing left to do.

use crate::info::{MAX_SEATS, MODULE_NOTIFICATION, ModuleInfo};
use hm_bus::ClassSet;
use hm_bus::module::Member;
use hmk_sys::syscall;

/// A member for each of the module's buses, in seat order, each subscribed to
/// `info.subscribe`; `None` past the seats in use.
///
/// # Safety
/// `info` is the running module's own info page (`ModuleInfo::at` of its x0): its parent mapped
/// each seat's inbox at `seat.inbox` in this address space before starting the module, and only
/// this module reads them. Call it once per run: each inbox has one reader.
pub unsafe fn members(info: &ModuleInfo) -> [Option<Member>; MAX_SEATS] {
    core::array::from_fn(|k| {
        let seat = info.seats().get(k)?;
        // SAFETY: the caller's contract: the parent mapped this membership's inbox at
        // `seat.inbox` in this address space; only this member reads it.
        let member = unsafe { Member::new(seat.endpoint, seat.inbox as *mut u8) };
        let _ = member.subscribe(ClassSet::from_words(info.subscribe));
        Some(member)
    })
}

/// The running module's info page and a member for each of its buses (as [`members`]).
///
/// # Safety
/// `info` is the x0 the module was started with (its info page, mapped for its life), and this
/// is the only call of this run.
pub unsafe fn start(info: u64) -> (&'static ModuleInfo, [Option<Member>; MAX_SEATS]) {
    // SAFETY: the caller's contract: x0 is the module's info page.
    let info = unsafe { ModuleInfo::at(info) };
    // SAFETY: `info` is the module's own page, and this is the run's only call.
    (info, unsafe { members(info) })
}

/// Waits for the module's notification forever, dropping what arrives.
pub fn idle(members: &mut [Option<Member>]) -> ! {
    loop {
        syscall::wait(MODULE_NOTIFICATION);
        for member in members.iter_mut().flatten() {
            while member.take().is_some() {}
        }
    }
}
