//! One spawned process: its group, its output readers, and how it is ended.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::launcher;
use super::ledger::Ledger;
use super::logs::{LogBuffer, LogLine, Mark, Stream};
use super::spec::{ProcessSpec, SpawnError};
use super::status::ExitInfo;

/// How long output readers may take to reach end-of-file after the process exits.
const DRAIN: Duration = Duration::from_millis(200);
/// Longer lines are split, so a program writing without newlines cannot grow memory.
const MAX_LINE: u64 = 16 * 1024;

/// A running child in its own process group. Dropping it kills the whole group.
#[derive(Debug)]
pub(crate) struct Child {
    child: tokio::process::Child,
    group: Group,
    readers: Readers,
    started: Instant,
    mark: Mark,
    pid: u32,
    /// Where the process is recorded until its group is gone.
    ledger: Option<Ledger>,
}

impl Child {
    /// Resolves and spawns `spec`, with its output piped into `logs`; the child dies
    /// with this process ([`launcher`](super::launcher)) and is recorded in the
    /// spec's ledger, if any, until it is reaped.
    pub(crate) async fn spawn(spec: &ProcessSpec, logs: &LogBuffer) -> Result<Self, SpawnError> {
        let path = spec.resolve()?;
        let mut command = Command::new(&path);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &spec.working_dir {
            if !dir.is_dir() {
                return Err(SpawnError::WorkingDir { dir: dir.clone() });
            }
            command.current_dir(dir);
        }
        let mut child = launcher::spawn(command)
            .await
            .map_err(|cause| SpawnError::Spawn { path, cause })?;
        // The pid is known until the child is reaped, which has not happened yet.
        let pid = child.id().unwrap_or_default();
        let ledger = spec.ledger.clone().filter(|_| pid > 0);
        if let Some(ledger) = &ledger
            && let Err(error) = ledger.record(pid, &spec.name)
        {
            // Still run it: it dies with the server all the same; only a restart after
            // a crash would not find what it left behind.
            tracing::warn!(process = %spec.name, pid, %error, dir = %ledger.dir().display(), "could not record the process");
        }
        let mark = logs.mark();
        let name: Arc<str> = spec.name.as_str().into();
        let mut readers = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(read_lines(
                out,
                Stream::Stdout,
                logs.clone(),
                name.clone(),
            )));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(read_lines(
                err,
                Stream::Stderr,
                logs.clone(),
                name,
            )));
        }
        Ok(Self {
            child,
            // Never a group of 0: killpg(0) would signal the server's own group.
            group: Group(
                i32::try_from(pid)
                    .ok()
                    .filter(|&p| p > 0)
                    .map(Pid::from_raw),
            ),
            readers: Readers(readers),
            started: Instant::now(),
            mark,
            pid,
            ledger,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Where this process's output starts in the shared buffer.
    pub(crate) fn mark(&self) -> Mark {
        self.mark
    }

    pub(crate) fn ran_for(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits for the group leader to exit. Cancel-safe.
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// After the leader exited: kills what is left of its group (as a container's
    /// processes die with its init) and lets the readers catch up with the output.
    pub(crate) async fn finish(&mut self, status: io::Result<ExitStatus>) -> ExitInfo {
        self.group.signal(Signal::SIGKILL);
        self.group.disarm();
        self.forget();
        self.readers.drain().await;
        match status {
            Ok(status) => status.into(),
            Err(error) => {
                tracing::warn!(pid = self.pid, %error, "waiting for a process failed");
                ExitInfo::Code(-1)
            }
        }
    }

    /// SIGTERM to the group, then SIGKILL once `grace` has passed.
    pub(crate) async fn terminate(mut self, grace: Duration) -> ExitInfo {
        self.group.signal(Signal::SIGTERM);
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                tracing::debug!(pid = self.pid, ?grace, "grace period over; killing");
                self.group.signal(Signal::SIGKILL);
                self.child.wait().await
            }
        };
        self.finish(status).await
    }
}

impl Child {
    fn forget(&mut self) {
        if let Some(ledger) = self.ledger.take() {
            ledger.forget(self.pid);
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // The group gets SIGKILL as `group` drops, so its record can go.
        self.forget();
    }
}

/// The process group of a live leader; signals it, and kills it on drop.
#[derive(Debug)]
struct Group(Option<Pid>);

impl Group {
    fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.0 {
            // ESRCH: the group is already gone, which is what we wanted.
            let _ = killpg(pgid, signal);
        }
    }

    /// Once the leader is reaped its id may be reused; never signal it again.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// The output reader tasks; aborted on drop, in case a straggler keeps a pipe open.
#[derive(Debug)]
struct Readers(Vec<JoinHandle<()>>);

impl Readers {
    async fn drain(&mut self) {
        let all = async {
            // Popped once finished: a finished JoinHandle must not be polled again.
            while let Some(reader) = self.0.last_mut() {
                let _ = reader.await;
                self.0.pop();
            }
        };
        let _ = tokio::time::timeout(DRAIN, all).await;
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.0.iter().for_each(JoinHandle::abort);
    }
}

async fn read_lines(pipe: impl AsyncRead + Unpin, stream: Stream, logs: LogBuffer, name: Arc<str>) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        let text = String::from_utf8_lossy(&buf).into_owned();
        tracing::debug!(process = %name, ?stream, line = %text, "output");
        logs.push(LogLine { stream, text });
    }
}
