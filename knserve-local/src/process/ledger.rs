//! A record of every running process on disk, so that a server restarted after a crash
//! stops what the previous run left behind.
//!
//! Each process is one file, `<pid>.json`, holding its pid, its session and its start
//! time as `/proc/<pid>/stat` gives it (clock ticks since boot). The file is written
//! when the process starts and removed once it is reaped. [`Ledger::reap`] reads the
//! files a previous run left: a process is stopped only if its start time is the
//! recorded one, so a pid the kernel has since given to another program is never
//! signalled.

use std::{
    fs, io,
    os::unix::fs::DirBuilderExt,
    path::{Path, PathBuf},
    time::Duration,
};

use nix::{
    sys::signal::{Signal, kill, killpg},
    unistd::Pid,
};
use serde::{Deserialize, Serialize};

/// How long [`Ledger::reap`] waits for the processes it killed to be gone.
const REAP_WAIT: Duration = Duration::from_secs(5);

/// The directory of process records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ledger {
    dir: PathBuf,
}

/// One recorded process: the leader of its own process group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    pid: i32,
    /// Field 22 of `/proc/<pid>/stat`: when it started, in clock ticks since boot.
    start_time: u64,
    /// Its session, which the members of its group share.
    session: i32,
    /// The instance it ran, for logs.
    name: String,
}

/// What `/proc/<pid>/stat` says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    state: char,
    group: i32,
    session: i32,
    start_time: u64,
}

impl Ledger {
    /// Records in `dir` (created at the first record).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records a just-spawned group leader.
    pub(crate) fn record(&self, pid: u32, name: &str) -> io::Result<()> {
        let pid = i32::try_from(pid).map_err(io::Error::other)?;
        let stat = read_stat(pid)?;
        let record = Record {
            pid,
            start_time: stat.start_time,
            session: stat.session,
            name: name.to_owned(),
        };
        let json = serde_json::to_vec(&record).map_err(io::Error::other)?;
        if !self.dir.is_dir() {
            // Owner only, as the state directory's check at the next start wants.
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&self.dir)
                .or_else(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(e),
                })?;
        }
        let file = self.file(pid);
        let temporary = file.with_extension("json.tmp");
        let written = fs::write(&temporary, json).and_then(|()| fs::rename(&temporary, &file));
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written
    }

    /// Forgets a process that was reaped.
    pub(crate) fn forget(&self, pid: u32) {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = fs::remove_file(self.file(pid));
        }
    }

    /// Stops every process a previous run recorded and left running — the group
    /// leader if it is still the recorded process, and what is left of its group (same
    /// group and session, started no earlier than the leader) if it is gone — waits
    /// for them to be gone, and removes the records. Returns how many it stopped.
    pub async fn reap(&self) -> usize {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut killed = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let record = fs::read(&path)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).ok());
            if let Some(record) = record {
                killed.extend(stop_leftovers(&record));
            }
            let _ = fs::remove_file(&path);
        }
        wait_gone(&killed).await;
        killed.len()
    }

    fn file(&self, pid: i32) -> PathBuf {
        self.dir.join(format!("{pid}.json"))
    }
}

/// SIGKILL to the record's process and its group; returns the pids signalled.
fn stop_leftovers(record: &Record) -> Vec<(i32, u64)> {
    let leader = read_stat(record.pid).ok().filter(|s| s.state != 'Z');
    let members: Vec<(i32, u64)> = match leader {
        Some(stat) if stat.start_time == record.start_time => {
            // The leader is the recorded process, so the group is its group.
            let _ = killpg(Pid::from_raw(record.pid), Signal::SIGKILL);
            vec![(record.pid, stat.start_time)]
        }
        // The pid belongs to another program now; it and its group are not ours.
        Some(_) => Vec::new(),
        None => group_members(record),
    };
    for &(pid, _) in &members {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    if !members.is_empty() {
        tracing::warn!(
            instance = %record.name,
            pid = record.pid,
            processes = members.len(),
            "stopped processes a previous server left running"
        );
    }
    members
}

/// The live processes still in the group of a recorded leader that is gone. A group
/// id cannot be given to a new group while any member of the old one lives; the
/// session and start time rule out a group created after the old one ended.
fn group_members(record: &Record) -> Vec<(i32, u64)> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid).ok()?)))
        .filter(|(_, s)| {
            s.group == record.pid
                && s.session == record.session
                && s.start_time >= record.start_time
                && s.state != 'Z'
        })
        .map(|(pid, s)| (pid, s.start_time))
        .collect()
}

/// Polls until every killed process is gone (or a zombie, which holds no port).
async fn wait_gone(killed: &[(i32, u64)]) {
    let deadline = tokio::time::Instant::now() + REAP_WAIT;
    let alive = |&(pid, start): &(i32, u64)| {
        read_stat(pid).is_ok_and(|s| s.state != 'Z' && s.start_time == start)
    };
    while killed.iter().any(alive) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn read_stat(pid: i32) -> io::Result<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text)
        .ok_or_else(|| io::Error::other(format!("/proc/{pid}/stat: unexpected format")))
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may
/// hold spaces and parentheses itself, so fields are counted after the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (field 3) is index 0, so field N is index N - 3.
    Some(Stat {
        state: fields.first()?.chars().next()?,
        group: fields.get(5 - 3)?.parse().ok()?,
        session: fields.get(6 - 3)?.parse().ok()?,
        start_time: fields.get(22 - 3)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let text =
            "4242 (a (b) c) S 1 4242 4100 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                state: 'S',
                group: 4242,
                session: 4100,
                start_time: 987_654
            })
        );
        assert_eq!(parse_stat("4242 (x) S 1"), None, "a short line is refused");
    }

    #[test]
    fn this_process_reads_as_itself() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let stat = read_stat(pid).unwrap();
        assert!(stat.start_time > 0, "a start time in ticks since boot");
    }
}
