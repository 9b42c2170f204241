//! The control protocol: how a module its system description grants `control` (the shell)
//! asks its parent about the modules the parent supervises and has it stop, start and restart
//! them. The parent serves it on the endpoint its children's faults come to, under a badge of
//! its own ([`CONTROL_BADGE`]), so one `Recv` takes both. Modules are named by their index in
//! the parent's plan (the directory of every info page maps names to indices).
//!
//! Requests are Calls: label [`LIST`], [`STOP`], [`START`] or [`RESTART`], word 0 the module's
//! index. The reply's label is [`OK`] or an [`Refusal`]; a LIST reply carries a [`Status`].

use hmk_sys::invocation::CPtr;
use hmk_sys::ipc_buffer::ipc_buffer;
use hmk_sys::message::MessageInfo;
use hmk_sys::syscall::{self, Registers};

/// The badge bit of a control capability (fault badges are plan index + 1, far below it).
pub const CONTROL_BADGE: u64 = 1 << 40;

/// Request labels.
pub const LIST: u64 = 1;
pub const STOP: u64 = 2;
pub const START: u64 = 3;
pub const RESTART: u64 = 4;

/// Reply label: done.
pub const OK: u64 = 0;

/// Why the parent refused a request (the reply's label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No module has that index.
    NoSuchModule = 1,
    /// The module is not in a state the request applies to (start a running one, stop one
    /// that does not run).
    WrongState = 2,
    /// A kernel invocation the request needed failed (the module is left stopped).
    Failed = 3,
    /// An unknown label.
    UnknownRequest = 4,
}

impl Refusal {
    pub fn from_label(label: u64) -> Option<Refusal> {
        [Refusal::NoSuchModule, Refusal::WrongState, Refusal::Failed, Refusal::UnknownRequest]
            .into_iter()
            .find(|r| *r as u64 == label)
    }

    pub fn text(self) -> &'static str {
        match self {
            Refusal::NoSuchModule => "no such module",
            Refusal::WrongState => "not in a state for that",
            Refusal::Failed => "the parent's kernel invocation failed",
            Refusal::UnknownRequest => "unknown request",
        }
    }
}

/// A module's state as its parent sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Running = 0,
    /// Stopped by a STOP request.
    Stopped = 1,
    /// It failed and its restart policy left it stopped.
    Failed = 2,
    /// Its setup failed at boot (or its program is missing): it never ran.
    Absent = 3,
}

impl State {
    pub fn from_word(word: u64) -> Option<State> {
        [State::Running, State::Stopped, State::Failed, State::Absent].into_iter().find(|s| *s as u64 == word)
    }

    pub fn text(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Stopped => "stopped",
            State::Failed => "failed",
            State::Absent => "absent",
        }
    }
}

/// What a LIST reply says about one module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub state: State,
    /// Restarts since boot (by its policy or by request).
    pub restarts: u64,
    pub priority: u64,
    pub budget_us: u64,
    pub period_us: u64,
    /// CPU time its scheduling context has consumed since boot, in microseconds.
    pub consumed_us: u64,
    /// RAM its parent gave it (image, stack, info page, inboxes, DMA and shared pages), bytes.
    pub memory_bytes: u64,
    /// How many modules the parent supervises (indices 0..modules).
    pub modules: u64,
}

/// Words of a LIST reply.
pub const STATUS_WORDS: usize = 8;

impl Status {
    pub fn to_words(&self) -> [u64; STATUS_WORDS] {
        [
            self.state as u64,
            self.restarts,
            self.priority,
            self.budget_us,
            self.period_us,
            self.consumed_us,
            self.memory_bytes,
            self.modules,
        ]
    }

    pub fn from_words(words: &[u64]) -> Option<Status> {
        let words: &[u64; STATUS_WORDS] = words.get(..STATUS_WORDS)?.try_into().ok()?;
        Some(Status {
            state: State::from_word(words[0])?,
            restarts: words[1],
            priority: words[2],
            budget_us: words[3],
            period_us: words[4],
            consumed_us: words[5],
            memory_bytes: words[6],
            modules: words[7],
        })
    }
}

/// Why a control request did not do what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlError {
    /// The parent refused.
    Refused(Refusal),
    /// The Call itself failed (no control capability) or the reply made no sense.
    Kernel(Option<hmk_sys::Error>),
}

impl core::fmt::Display for ControlError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            ControlError::Refused(refusal) => f.write_str(refusal.text()),
            ControlError::Kernel(Some(error)) => write!(f, "the call to the parent failed ({error:?})"),
            ControlError::Kernel(None) => f.write_str("the parent's reply made no sense"),
        }
    }
}

/// A module's capability to its parent's control service.
#[derive(Clone, Copy, Debug)]
pub struct Control(pub CPtr);

impl Control {
    /// Calls the parent; returns the reply's first [`STATUS_WORDS`] words when its label is OK.
    fn call(self, label: u64, index: u16) -> Result<[u64; STATUS_WORDS], ControlError> {
        if self.0 == 0 {
            return Err(ControlError::Kernel(Some(hmk_sys::Error::InvalidCapability)));
        }
        let request = Registers {
            cap_or_badge: self.0,
            info: MessageInfo::new(label, 0, 0, 1),
            mrs: [u64::from(index), 0, 0, 0],
        };
        let reply = syscall::call(request);
        match reply.info.label() {
            OK => {
                let buffer = ipc_buffer();
                Ok(core::array::from_fn(|i| if i < 4 { reply.mrs[i] } else { buffer.msg[i] }))
            }
            other => Err(Refusal::from_label(other).map_or(ControlError::Kernel(None), ControlError::Refused)),
        }
    }

    /// The status of module `index`.
    pub fn status(self, index: u16) -> Result<Status, ControlError> {
        let words = self.call(LIST, index)?;
        Status::from_words(&words).ok_or(ControlError::Kernel(None))
    }

    pub fn stop(self, index: u16) -> Result<(), ControlError> {
        self.call(STOP, index).map(drop)
    }

    pub fn start(self, index: u16) -> Result<(), ControlError> {
        self.call(START, index).map(drop)
    }

    pub fn restart(self, index: u16) -> Result<(), ControlError> {
        self.call(RESTART, index).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_round_trip() {
        let status = Status {
            state: State::Failed,
            restarts: 3,
            priority: 140,
            budget_us: 1000,
            period_us: 10_000,
            consumed_us: 123_456,
            memory_bytes: 80 * 1024,
            modules: 9,
        };
        assert_eq!(Status::from_words(&status.to_words()), Some(status));
        let mut words = status.to_words();
        words[0] = 7;
        assert_eq!(Status::from_words(&words), None, "an unknown state is refused");
        assert_eq!(Status::from_words(&words[..4]), None, "a short reply is refused");
    }

    #[test]
    fn refusals_by_label() {
        for refusal in [Refusal::NoSuchModule, Refusal::WrongState, Refusal::Failed, Refusal::UnknownRequest] {
            assert_eq!(Refusal::from_label(refusal as u64), Some(refusal));
        }
        assert_eq!(Refusal::from_label(OK), None);
        assert_eq!(Refusal::from_label(99), None);
    }
}
