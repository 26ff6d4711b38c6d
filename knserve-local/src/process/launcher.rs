//! Spawning children that die with the server.
//!
//! Every child gets a parent-death signal (`PR_SET_PDEATHSIG`, SIGKILL): when the
//! server dies, even by SIGKILL, the kernel kills its apps, which would otherwise keep
//! running and keep their ports. The kernel sends that signal when the *thread* that
//! forked the child exits, not the process, so children are forked by one thread that
//! lives as long as the process: a Tokio worker may be retired (`block_in_place`, a
//! runtime shut down while the process goes on), and a blocking-pool thread exits
//! after ten idle seconds, killing every app it had started.

use std::{
    io,
    sync::{Mutex, PoisonError, mpsc},
};

use nix::{sys::signal::Signal, unistd::Pid};
use tokio::{process::Command, runtime::Handle, sync::oneshot};

type Reply = oneshot::Sender<io::Result<tokio::process::Child>>;

/// One spawn for the launcher thread: the command, the runtime the child is reaped
/// on, and where the result goes.
struct Job {
    command: Command,
    runtime: Handle,
    reply: Reply,
}

/// Spawns `command` so that the child is killed when this process dies. Must be
/// called within a Tokio runtime, which reaps the child.
pub(crate) async fn spawn(mut command: Command) -> io::Result<tokio::process::Child> {
    die_with_parent(&mut command);
    let (reply, result) = oneshot::channel();
    let job = Job {
        command,
        runtime: Handle::current(),
        reply,
    };
    send(job)?;
    result
        .await
        .map_err(|_| io::Error::other("the launcher thread is gone"))?
}

/// Hands `job` to the launcher thread, started at the first spawn and never stopped.
fn send(job: Job) -> io::Result<()> {
    static LAUNCHER: Mutex<Option<mpsc::Sender<Job>>> = Mutex::new(None);
    let mut launcher = LAUNCHER.lock().unwrap_or_else(PoisonError::into_inner);
    let sender = match &mut *launcher {
        Some(sender) => sender,
        empty @ None => empty.insert(start()?),
    };
    sender
        .send(job)
        .map_err(|_| io::Error::other("the launcher thread is gone"))
}

fn start() -> io::Result<mpsc::Sender<Job>> {
    let (sender, jobs) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("knserve-launcher".to_owned())
        .spawn(move || {
            for Job {
                mut command,
                runtime,
                reply,
            } in jobs
            {
                let _entered = runtime.enter();
                // A dropped receiver drops the child, whose kill_on_drop ends it.
                let _ = reply.send(command.spawn());
            }
        })?;
    Ok(sender)
}

/// Sets SIGKILL as the child's parent-death signal, between fork and exec.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    let parent = Pid::this();
    let hook = move || {
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(io::Error::from)?;
        // The server died before the signal was armed: the child is an orphan already.
        if nix::unistd::getppid() != parent {
            return Err(io::Error::from(nix::errno::Errno::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the hook runs in the child between fork and exec, where only
    // async-signal-safe code may run. It makes two system calls, prctl(2) and
    // getppid(2), and builds an io::Error from an errno, which does not allocate; it
    // takes no lock and touches no memory shared with other threads.
    unsafe {
        command.pre_exec(hook);
    }
}
