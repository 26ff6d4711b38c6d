//! Supervised local processes: one per instance of a process-backed revision.
//!
//! [`Supervised::start`] runs a [`ProcessSpec`] (a revision's first container's
//! `command`, `args`, `env` and `workingDir`, with `PORT` chosen by the caller) in its
//! own process group, which dies with this process (a parent-death signal; a
//! [`Ledger`] records it so a restart after a crash can stop what its group left
//! behind), keeps its output in a [`LogBuffer`], and restarts it after every
//! exit with the back-off of a [`RestartPolicy`] — kubelet's `restartPolicy: Always`,
//! with `CrashLoopBackOff` reported as `crash_loop`. Progress is published as a
//! [`ProcessStatus`] on a `watch` channel. Readiness probing and routing are the
//! caller's.
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//! use knserve_local::process::{ProcessSpec, RestartPolicy, Supervised};
//!
//! let spec = ProcessSpec {
//!     program: "simple-api".into(),
//!     env: vec![("PORT".into(), "8081".into())],
//!     name: "default/hello-00001-1".into(),
//!     ..ProcessSpec::default()
//! };
//! let process = Supervised::start(spec, RestartPolicy::default());
//! let mut status = process.status();
//! status.changed().await.ok();
//! println!("{:?}", *status.borrow());
//! process.stop(Duration::from_secs(30)).await;
//! # }
//! ```

mod backoff;
mod child;
mod launcher;
mod ledger;
mod logs;
mod spec;
mod status;
mod supervisor;

pub use backoff::{Backoff, Failure, InvalidPolicy, RestartPolicy};
pub use ledger::Ledger;
pub use logs::{LOG_CAPACITY, LogBuffer, LogLine, Stream};
pub use spec::{ProcessSpec, SpawnError};
pub use status::{ExitInfo, ProcessStatus};
pub(crate) use supervisor::STARVED_WARN_PERIOD;
pub use supervisor::{LAST_OUTPUT_LINES, Supervised};
