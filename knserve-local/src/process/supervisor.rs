//! The supervising task and its handle.

use std::time::Duration;

use knserve_core::net::pressure::{self, Doubling, SharedWarnLimiter};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use super::backoff::{Backoff, RestartPolicy};
use super::child::Child;
use super::logs::LogBuffer;
use super::spec::{ProcessSpec, SpawnError};
use super::status::{ExitInfo, ProcessStatus};

/// Lines of output carried in [`ProcessStatus::Exited`].
pub const LAST_OUTPUT_LINES: usize = 5;

/// A process kept running by a background task, restarted with back-off whenever it
/// exits or cannot be spawned (kubelet's `restartPolicy: Always`), until [`stop`].
///
/// Dropping the handle without [`stop`] aborts the task, which kills the process group
/// with SIGKILL (no grace).
///
/// [`stop`]: Supervised::stop
#[derive(Debug)]
pub struct Supervised {
    status: watch::Receiver<ProcessStatus>,
    logs: LogBuffer,
    stop: Option<oneshot::Sender<Duration>>,
    task: Option<JoinHandle<Option<ExitInfo>>>,
}

impl Supervised {
    /// Spawns the supervising task, which starts the process at once.
    ///
    /// # Panics
    /// Outside a Tokio runtime (as `tokio::spawn` does).
    pub fn start(spec: ProcessSpec, policy: RestartPolicy) -> Self {
        Self::start_sharing_warnings(spec, policy, SharedWarnLimiter::new(STARVED_WARN_PERIOD))
    }

    /// [`start`](Self::start), with the warnings about spawns refused for want of
    /// resources limited together with those of other processes (a revision's
    /// instances share one limiter).
    ///
    /// # Panics
    /// Outside a Tokio runtime (as `tokio::spawn` does).
    pub fn start_sharing_warnings(
        spec: ProcessSpec,
        policy: RestartPolicy,
        warnings: SharedWarnLimiter,
    ) -> Self {
        let (status_tx, status) = watch::channel(ProcessStatus::Starting { attempt: 1 });
        let (stop_tx, stop) = oneshot::channel();
        let logs = LogBuffer::new();
        let worker = Worker {
            spec,
            backoff: Backoff::new(policy),
            status: status_tx,
            logs: logs.clone(),
            stop,
            attempt: 0,
            starved: pressure::START_PAUSES,
            warnings,
        };
        Self {
            status,
            logs,
            stop: Some(stop_tx),
            task: Some(tokio::spawn(worker.run())),
        }
    }

    /// The status, updated on every start, exit and stop.
    pub fn status(&self) -> watch::Receiver<ProcessStatus> {
        self.status.clone()
    }

    /// The output of every run so far (the last [`LOG_CAPACITY`](super::LOG_CAPACITY)
    /// lines).
    pub fn logs(&self) -> LogBuffer {
        self.logs.clone()
    }

    /// Stops for good: SIGTERM to the process group, SIGKILL after `grace`. Returns how
    /// the process exited, or `None` when none was running (waiting for a back-off,
    /// which is cut short at once).
    pub async fn stop(mut self, grace: Duration) -> Option<ExitInfo> {
        if let Some(stop) = self.stop.take() {
            // Err: the task is gone (it panicked); awaiting it below says so.
            let _ = stop.send(grace);
        }
        let task = self.task.take()?;
        task.await.ok().flatten()
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The supervising task's state.
#[derive(Debug)]
struct Worker {
    spec: ProcessSpec,
    backoff: Backoff,
    status: watch::Sender<ProcessStatus>,
    logs: LogBuffer,
    /// The grace period, once stop is requested; a dropped sender means no grace.
    stop: oneshot::Receiver<Duration>,
    attempt: u32,
    /// The pauses after spawns refused for want of resources.
    starved: Doubling,
    /// Limits the warnings about such spawns.
    warnings: SharedWarnLimiter,
}

/// At most one warning per period about spawns refused for want of resources.
pub(crate) const STARVED_WARN_PERIOD: Duration = Duration::from_secs(1);

/// How one run ended.
enum Outcome {
    /// It exited on its own; restart after this delay.
    Exited(Duration),
    /// Stop was requested while it ran.
    Stopped(ExitInfo),
}

impl Worker {
    async fn run(mut self) -> Option<ExitInfo> {
        loop {
            self.attempt += 1;
            self.status.send_replace(ProcessStatus::Starting {
                attempt: self.attempt,
            });
            let delay = match Child::spawn(&self.spec, &self.logs).await {
                Err(error) if error.is_resource_exhaustion() => self.spawn_starved(&error),
                Err(error) => self.spawn_failed(&error),
                Ok(child) => match self.supervise(child).await {
                    Outcome::Exited(delay) => delay,
                    Outcome::Stopped(exit) => return self.stopped(Some(exit)),
                },
            };
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = &mut self.stop => return self.stopped(None),
            }
        }
    }

    /// Out of descriptors, memory or processes: not the program's fault, so no failure
    /// is counted (no crash loop, the status stays `Starting`); idle client
    /// connections are shed and the spawn is retried with its own back-off.
    fn spawn_starved(&mut self, error: &SpawnError) -> Duration {
        let delay = self.starved.pause();
        pressure::shed_idle_connections();
        if let Some(suppressed) = self.warnings.check(tokio::time::Instant::now()) {
            tracing::warn!(process = %self.spec.name, %error, retrying_in = ?delay, suppressed, "process could not be started for want of resources; retrying");
        }
        delay
    }

    fn spawn_failed(&mut self, error: &SpawnError) -> Duration {
        let failure = self.backoff.on_failure(None);
        tracing::warn!(
            process = %self.spec.name,
            %error,
            failures = failure.failures,
            restarting_in = ?failure.delay,
            "process could not be started"
        );
        self.status.send_replace(ProcessStatus::SpawnFailed {
            error: error.to_string(),
            failures: failure.failures,
            crash_loop: failure.crash_loop,
        });
        failure.delay
    }

    async fn supervise(&mut self, mut child: Child) -> Outcome {
        self.starved.reset();
        let pid = child.pid();
        tracing::debug!(process = %self.spec.name, pid, attempt = self.attempt, "process started");
        self.status.send_replace(ProcessStatus::Running {
            pid,
            attempt: self.attempt,
        });
        let status = tokio::select! {
            status = child.wait() => status,
            grace = &mut self.stop => {
                return Outcome::Stopped(child.terminate(grace.unwrap_or_default()).await);
            }
        };
        let ran_for = child.ran_for();
        let exit = child.finish(status).await;
        let failure = self.backoff.on_failure(Some(ran_for));
        tracing::warn!(
            process = %self.spec.name,
            pid,
            %exit,
            failures = failure.failures,
            restarting_in = ?failure.delay,
            "process exited"
        );
        self.status.send_replace(ProcessStatus::Exited {
            exit,
            failures: failure.failures,
            restarting_in: Some(failure.delay),
            crash_loop: failure.crash_loop,
            last_output: self.logs.tail_since(child.mark(), LAST_OUTPUT_LINES),
        });
        Outcome::Exited(failure.delay)
    }

    fn stopped(&self, exit: Option<ExitInfo>) -> Option<ExitInfo> {
        tracing::debug!(process = %self.spec.name, exit = ?exit, "process stopped");
        self.status.send_replace(ProcessStatus::Stopped);
        exit
    }
}
