//! The IPC buffer: one per thread, 1024 bytes at a 1024-byte aligned address in its frame.

use crate::message::{MAX_EXTRA_CAPS, MAX_MESSAGE_LENGTH};
use core::sync::atomic::{AtomicPtr, Ordering};

#[repr(C, align(1024))]
pub struct IpcBuffer {
    pub tag: u64,
    pub msg: [u64; MAX_MESSAGE_LENGTH],
    pub user_data: u64,
    pub caps_or_badges: [u64; MAX_EXTRA_CAPS],
    pub receive_cnode: u64,
    pub receive_index: u64,
    pub receive_depth: u64,
}

const _: () = {
    assert!(core::mem::size_of::<IpcBuffer>() == 1024);
    assert!(core::mem::offset_of!(IpcBuffer, msg) == 8);
    assert!(core::mem::offset_of!(IpcBuffer, user_data) == 968);
    assert!(core::mem::offset_of!(IpcBuffer, caps_or_badges) == 976);
    assert!(core::mem::offset_of!(IpcBuffer, receive_cnode) == 1000);
    assert!(core::mem::offset_of!(IpcBuffer, receive_depth) == 1016);
};

static IPC_BUFFER: AtomicPtr<IpcBuffer> = AtomicPtr::new(core::ptr::null_mut());

/// Records where this thread's IPC buffer is (the runtime does this once, from BootInfo).
///
/// # Safety
/// `buffer` must be this thread's mapped, writable IPC buffer for the rest of its life.
pub unsafe fn set_ipc_buffer(buffer: *mut IpcBuffer) {
    IPC_BUFFER.store(buffer, Ordering::Relaxed);
}

/// This thread's IPC buffer. Panics if the runtime has not set it.
pub fn ipc_buffer() -> &'static mut IpcBuffer {
    let buffer = IPC_BUFFER.load(Ordering::Relaxed);
    assert!(!buffer.is_null(), "the IPC buffer is not set");
    // SAFETY: `set_ipc_buffer`'s contract: a live, mapped buffer owned by this thread, which
    // runs one flow of control.
    unsafe { &mut *buffer }
}
