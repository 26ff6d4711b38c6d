//! Supervised local processes, on real `sh` processes.

use std::path::PathBuf;
use std::time::Duration;

use knserve_local::process::{
    ExitInfo, LogBuffer, LogLine, ProcessSpec, ProcessStatus, RestartPolicy, Stream, Supervised,
};
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};

/// How long any awaited condition may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(5);

fn sh(name: &str, script: &str) -> ProcessSpec {
    ProcessSpec {
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        name: format!("test/{name}"),
        ..ProcessSpec::default()
    }
}

fn fast_policy() -> RestartPolicy {
    RestartPolicy {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        reset_after: Duration::from_secs(10),
        crash_loop_after: 3,
    }
}

/// A fresh directory for this test binary and `tag`.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("knserve-process-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir.canonicalize().expect("canonical temp dir")
}

fn write_script(path: &std::path::Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

async fn wait_status(
    status: &mut watch::Receiver<ProcessStatus>,
    what: &str,
    mut pred: impl FnMut(&ProcessStatus) -> bool,
) -> ProcessStatus {
    let found = match timeout(PATIENCE, status.wait_for(|s| pred(s))).await {
        Ok(Ok(found)) => Some(found.clone()),
        Ok(Err(_)) => panic!("status channel closed while waiting for {what}"),
        Err(_) => None,
    };
    found.unwrap_or_else(|| {
        panic!(
            "timed out waiting for {what}; status is {:?}",
            *status.borrow()
        )
    })
}

/// Waits until the buffer holds a line with `text`, and returns every line.
async fn wait_line(logs: &LogBuffer, text: &str) -> Vec<LogLine> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let lines = logs.tail(usize::MAX);
        if lines.iter().any(|l| l.text == text) {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {text:?} in {lines:?}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

fn texts(lines: &[LogLine], stream: Stream) -> Vec<&str> {
    lines
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.text.as_str())
        .collect()
}

/// Gone, or a zombie nobody has reaped yet (a container's pid 1 may not reap
/// reparented grandchildren): either way it no longer runs.
fn is_gone(pid: i32) -> bool {
    if kill(Pid::from_raw(pid), None) == Err(Errno::ESRCH) {
        return true;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

async fn wait_gone(pid: i32) {
    let deadline = Instant::now() + PATIENCE;
    while !is_gone(pid) {
        assert!(
            Instant::now() < deadline,
            "process {pid} must be killed when its handle is dropped"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn env_and_working_dir_reach_the_child_on_top_of_the_parent_environment() {
    let dir = temp_dir("env");
    let mut spec = sh(
        "env",
        r#"echo "port=$PORT"; echo "home=$HOME"; echo "path=$PATH"; echo "pwd=$(pwd)"; echo done; sleep 30"#,
    );
    spec.env = vec![
        ("PORT".into(), "18081".into()),
        ("HOME".into(), "/spec-home".into()),
    ];
    spec.working_dir = Some(dir.clone());
    let process = Supervised::start(spec, fast_policy());

    let lines = wait_line(&process.logs(), "done").await;
    let parent_path = std::env::var("PATH").unwrap_or_default();
    assert_eq!(
        texts(&lines, Stream::Stdout),
        [
            "port=18081".to_owned(),
            "home=/spec-home".to_owned(),
            format!("path={parent_path}"),
            format!("pwd={}", dir.display()),
            "done".to_owned(),
        ],
        "spec.env is set (and wins over the parent's), the parent's environment is inherited, \
         and the child runs in working_dir"
    );
    process.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn output_lines_land_in_the_buffer_with_their_stream() {
    let process = Supervised::start(
        sh(
            "streams",
            "echo out1; echo err1 >&2; echo out2; echo err2 >&2; sleep 30",
        ),
        fast_policy(),
    );
    let logs = process.logs();
    wait_line(&logs, "out2").await;
    let lines = wait_line(&logs, "err2").await;
    assert_eq!(
        texts(&lines, Stream::Stdout),
        ["out1", "out2"],
        "stdout lines, in order"
    );
    assert_eq!(
        texts(&lines, Stream::Stderr),
        ["err1", "err2"],
        "stderr lines, in order"
    );
    process.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn an_exiting_program_is_restarted_with_growing_back_off_until_crash_loop() {
    let process = Supervised::start(
        sh("crash", "echo starting; echo boom >&2; exit 3"),
        fast_policy(),
    );
    let mut status = process.status();
    let mut exits = Vec::new();
    let started = Instant::now();
    while exits.len() < 3 {
        let exited = wait_status(&mut status, "an exit", |s| {
            matches!(s, ProcessStatus::Exited { .. })
        })
        .await;
        exits.push(exited);
        if exits.len() < 3 {
            wait_status(&mut status, "a restart", |s| {
                !matches!(s, ProcessStatus::Exited { .. })
            })
            .await;
        }
    }
    let elapsed = started.elapsed();

    let mut delays = Vec::new();
    for (n, exit) in exits.iter().enumerate() {
        let ProcessStatus::Exited {
            exit,
            failures,
            restarting_in,
            crash_loop,
            last_output,
        } = exit
        else {
            unreachable!("only exits were collected");
        };
        assert_eq!(
            exit.reason(),
            "ExitCode3",
            "the reason is Knative's ExitCode<n>"
        );
        assert_eq!(exit.to_string(), "exit status 3");
        assert_eq!(
            *failures as usize,
            n + 1,
            "failures count consecutive exits"
        );
        assert_eq!(
            *crash_loop,
            n + 1 >= 3,
            "crash_loop from the third consecutive failure"
        );
        let mut output = last_output.clone();
        output.sort();
        assert_eq!(
            output,
            ["boom", "starting"],
            "last_output holds this run's lines only"
        );
        delays.push(restarting_in.expect("an exit while not stopping is restarted"));
    }
    let ms = Duration::from_millis;
    assert_eq!(
        delays,
        [ms(100), ms(200), ms(400)],
        "the back-off doubles from initial_backoff"
    );
    assert!(
        elapsed >= ms(300),
        "the restarts waited out the back-off, took {elapsed:?}"
    );
    assert!(
        process.logs().tail(usize::MAX).len() >= 6,
        "the buffer keeps the output of every run"
    );
    assert_eq!(
        process.stop(Duration::from_secs(1)).await,
        None,
        "no process was running"
    );
}

#[tokio::test]
async fn a_clean_exit_is_a_failure_too() {
    let process = Supervised::start(sh("clean", "exit 0"), fast_policy());
    let exited = wait_status(&mut process.status(), "an exit", |s| {
        matches!(s, ProcessStatus::Exited { .. })
    })
    .await;
    assert!(
        matches!(
            exited,
            ProcessStatus::Exited {
                exit: ExitInfo::Code(0),
                failures: 1,
                restarting_in: Some(_),
                ..
            }
        ),
        "a process that exits 0 is restarted like a crash: {exited:?}"
    );
    process.stop(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_missing_program_reports_spawn_failed_naming_it_and_is_retried() {
    let spec = ProcessSpec {
        program: "knserve-no-such-program".into(),
        search_path: vec!["/nonexistent-a".into(), "/nonexistent-b".into()],
        name: "test/missing".into(),
        ..ProcessSpec::default()
    };
    let process = Supervised::start(spec, fast_policy());
    let failed = wait_status(
        &mut process.status(),
        "a crash loop",
        ProcessStatus::is_crash_loop,
    )
    .await;
    let ProcessStatus::SpawnFailed {
        error, failures, ..
    } = failed
    else {
        panic!("a missing program is SpawnFailed, got {failed:?}");
    };
    assert_eq!(
        error, "knserve-no-such-program: not found in PATH or /nonexistent-a, /nonexistent-b",
        "the error names the program and the directories searched"
    );
    assert_eq!(
        failures, 3,
        "spawn failures count and are retried with back-off"
    );
}

#[tokio::test]
async fn a_bare_program_is_found_in_search_path_after_path() {
    let dir = temp_dir("search");
    let program = format!("knserve-test-hello-{}", std::process::id());
    write_script(&dir.join(&program), "echo found-me; sleep 30");
    let spec = ProcessSpec {
        program,
        search_path: vec!["/nonexistent".into(), dir],
        name: "test/search".into(),
        ..ProcessSpec::default()
    };
    // A just-written script may briefly be ETXTBSY if another test forks meanwhile;
    // the supervisor retries, so waiting for the output is enough.
    let process = Supervised::start(spec, fast_policy());
    wait_line(&process.logs(), "found-me").await;
    process.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_relative_program_path_is_resolved_against_working_dir() {
    let dir = temp_dir("relative");
    std::fs::create_dir_all(dir.join("bin")).expect("create bin");
    write_script(&dir.join("bin/app"), "echo relative-ok; sleep 30");
    let spec = ProcessSpec {
        program: "./bin/app".into(),
        working_dir: Some(dir),
        name: "test/relative".into(),
        ..ProcessSpec::default()
    };
    let process = Supervised::start(spec, fast_policy());
    wait_line(&process.logs(), "relative-ok").await;
    process.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn stop_sends_sigterm_and_returns_how_the_process_exited() {
    let process = Supervised::start(
        sh(
            "term",
            "trap 'echo got-term; exit 0' TERM; echo ready; sleep 30",
        ),
        fast_policy(),
    );
    let logs = process.logs();
    let mut status = process.status();
    wait_line(&logs, "ready").await;
    let started = Instant::now();
    let exit = process.stop(Duration::from_secs(5)).await;
    assert_eq!(
        exit,
        Some(ExitInfo::Code(0)),
        "the TERM trap ran and exited 0"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no need to wait out the grace period"
    );
    assert!(
        texts(&logs.tail(10), Stream::Stdout).contains(&"got-term"),
        "SIGTERM was delivered"
    );
    assert_eq!(
        *status.borrow_and_update(),
        ProcessStatus::Stopped,
        "status is Stopped after stop"
    );
}

#[tokio::test]
async fn stop_kills_with_sigkill_after_the_grace_period_when_term_is_ignored() {
    let process = Supervised::start(
        sh(
            "ignore",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ),
        fast_policy(),
    );
    wait_line(&process.logs(), "ready").await;
    let grace = Duration::from_millis(300);
    let started = Instant::now();
    let exit = process.stop(grace).await;
    let elapsed = started.elapsed();
    assert_eq!(
        exit,
        Some(ExitInfo::Signal(9)),
        "SIGKILL ends a process that ignores SIGTERM"
    );
    assert_eq!(exit.map(|e| e.reason()).as_deref(), Some("Signal9"));
    assert!(
        elapsed >= grace && elapsed < grace + Duration::from_secs(1),
        "SIGKILL is sent once the grace period is over, took {elapsed:?}"
    );
}

#[tokio::test]
async fn stopping_during_back_off_is_immediate() {
    let policy = RestartPolicy {
        initial_backoff: Duration::from_secs(10),
        ..fast_policy()
    };
    let process = Supervised::start(sh("backoff", "exit 1"), policy);
    let mut status = process.status();
    wait_status(&mut status, "an exit", |s| {
        matches!(s, ProcessStatus::Exited { .. })
    })
    .await;
    let started = Instant::now();
    assert_eq!(
        process.stop(Duration::from_secs(5)).await,
        None,
        "nothing was running"
    );
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "stop does not wait out the back-off"
    );
    assert_eq!(*status.borrow_and_update(), ProcessStatus::Stopped);
}

#[tokio::test]
async fn dropping_the_handle_kills_the_process_and_its_group() {
    let process = Supervised::start(
        sh("drop", "sleep 30 & echo \"child=$!\"; wait"),
        fast_policy(),
    );
    let mut status = process.status();
    let running = wait_status(&mut status, "running", |s| s.pid().is_some()).await;
    let pid = i32::try_from(running.pid().expect("running")).expect("pid fits i32");
    let lines = timeout(PATIENCE, async {
        loop {
            let lines = process.logs().tail(10);
            if let Some(line) = lines.iter().find_map(|l| l.text.strip_prefix("child=")) {
                return line.to_owned();
            }
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the script prints its background child's pid");
    let grandchild: i32 = lines.parse().expect("a pid");
    assert!(
        !is_gone(pid) && !is_gone(grandchild),
        "both run before the drop"
    );

    drop(process);
    wait_gone(pid).await;
    wait_gone(grandchild).await;
}
