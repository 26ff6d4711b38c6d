//! A process started while this process is out of descriptors: the spawn is retried
//! as transient — no failure counted, no crash loop — and the process runs once
//! descriptors are free again. Alone in its test binary, since it lowers the open-files
//! limit of the whole test process.

use std::time::Duration;

use knserve_local::process::{ProcessSpec, ProcessStatus, RestartPolicy, Supervised};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tokio::time::{Instant, timeout};

#[tokio::test]
async fn a_spawn_refused_for_want_of_descriptors_is_retried_without_counting_a_failure() {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    let spec = ProcessSpec {
        program: "sh".into(),
        args: vec!["-c".into(), "exec sleep 30".into()],
        name: "test/starved".into(),
        ..ProcessSpec::default()
    };
    let policy = RestartPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        reset_after: Duration::from_secs(10),
        crash_loop_after: 2,
    };
    // Every descriptor number below the limit is taken: the spawn's pipes fail with
    // EMFILE.
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    setrlimit(Resource::RLIMIT_NOFILE, open.saturating_sub(2), hard).unwrap();
    let process = Supervised::start(spec, policy);
    let mut status = process.status();
    let starved_for = Duration::from_millis(600);
    let until = Instant::now() + starved_for;
    let mut seen = Vec::new();
    while Instant::now() < until {
        seen.push(status.borrow_and_update().clone());
        let _ = timeout(Duration::from_millis(20), status.changed()).await;
    }
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    let running = timeout(
        Duration::from_secs(5),
        status.wait_for(|s| matches!(s, ProcessStatus::Running { .. })),
    )
    .await
    .expect("the process runs once descriptors are free")
    .unwrap()
    .clone();
    let attempts = match running {
        ProcessStatus::Running { attempt, .. } => attempt,
        _ => 0,
    };
    let failures = seen
        .iter()
        .filter(|s| !matches!(s, ProcessStatus::Starting { .. }))
        .count();
    println!(
        "out of descriptors for {starved_for:?}: {attempts} attempts, {} statuses seen, {failures} of them failures",
        seen.len()
    );
    assert!(
        seen.iter()
            .all(|s| matches!(s, ProcessStatus::Starting { .. })),
        "a spawn refused for want of descriptors is neither a failure nor a crash loop: {seen:?}"
    );
    assert!(
        attempts > 2,
        "the spawn was retried while starved: {attempts} attempts"
    );
    let exit = process.stop(Duration::from_secs(1)).await;
    assert!(exit.is_some(), "the process ran until stopped");
}
