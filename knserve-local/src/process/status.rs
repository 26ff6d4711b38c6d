//! What a supervised process is doing, as published on its `watch` channel.

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitInfo {
    /// It exited with this status code.
    Code(i32),
    /// It was killed by this signal number.
    Signal(i32),
}

impl ExitInfo {
    /// The Knative-style reason for a container termination: `ExitCode1`, `Signal9`.
    pub fn reason(&self) -> String {
        match self {
            Self::Code(code) => format!("ExitCode{code}"),
            Self::Signal(signal) => format!("Signal{signal}"),
        }
    }
}

impl From<ExitStatus> for ExitInfo {
    /// A status that is neither an exit nor a kill (a stopped process, which `wait`
    /// does not report) is shown as `Code(-1)`.
    fn from(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Code(code),
            (None, Some(signal)) => Self::Signal(signal),
            (None, None) => Self::Code(-1),
        }
    }
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(code) => write!(f, "exit status {code}"),
            Self::Signal(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// The state of a supervised process. `attempt` counts starts from 1, spawn failures
/// included; `failures` counts consecutive failures (see
/// [`RestartPolicy`](super::RestartPolicy)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessStatus {
    /// The program is being resolved and spawned.
    Starting {
        /// Which start this is.
        attempt: u32,
    },
    /// The process is running (it may not be ready: probing is the caller's job).
    Running {
        /// The process id, which is also its process group id.
        pid: u32,
        /// Which start this is.
        attempt: u32,
    },
    /// The process exited on its own (any status, even 0, is a failure) and will be
    /// restarted.
    Exited {
        /// How it exited.
        exit: ExitInfo,
        /// Consecutive failures, this one included.
        failures: u32,
        /// The back-off before the next start. Always `Some` today (every exit is
        /// restarted, as with `restartPolicy: Always`); `None` would mean no restart
        /// follows.
        restarting_in: Option<Duration>,
        /// Whether the failures reached the policy's crash-loop threshold.
        crash_loop: bool,
        /// The last few lines the process wrote (stdout and stderr interleaved).
        last_output: Vec<String>,
    },
    /// The program could not be found or spawned; retried with the same back-off as a
    /// crash. A spawn refused for want of descriptors, memory or processes is not
    /// reported here: it stays [`Starting`](Self::Starting) and is retried on its own
    /// back-off, never counting towards a crash loop.
    SpawnFailed {
        /// Why, naming the program (and the directories searched when not found).
        error: String,
        /// Consecutive failures, this one included.
        failures: u32,
        /// Whether the failures reached the policy's crash-loop threshold.
        crash_loop: bool,
    },
    /// Stopped on request; no restart follows.
    Stopped,
}

impl ProcessStatus {
    /// The pid while the process is running.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Self::Running { pid, .. } => Some(*pid),
            _ => None,
        }
    }

    /// Whether the failures reached the crash-loop threshold.
    pub fn is_crash_loop(&self) -> bool {
        match self {
            Self::Exited { crash_loop, .. } | Self::SpawnFailed { crash_loop, .. } => *crash_loop,
            _ => false,
        }
    }
}
