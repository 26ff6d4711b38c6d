//! `knserve-queue` as a real process, refusing at start an environment it cannot serve
//! with: a timeout too long for any deadline (every request used to panic) and an app
//! port equal to its own serving port (it used to proxy to itself until it ran out of
//! descriptors).

mod support;

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
};

use self::support::binary;

/// A complete environment of Knative's contract on loopback, with `overrides`.
fn env(overrides: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("SERVING_NAMESPACE", "default"),
        ("SERVING_CONFIGURATION", "hello"),
        ("SERVING_REVISION", "hello-00001"),
        ("SERVING_POD", "hello-00001-deployment-0"),
        ("SERVING_POD_IP", "127.0.0.1"),
        ("QUEUE_SERVING_PORT", "0"),
        ("QUEUE_SERVING_TLS_PORT", "8112"),
        ("USER_PORT", "8080"),
        ("CONTAINER_CONCURRENCY", "0"),
        ("REVISION_TIMEOUT_SECONDS", "300"),
        ("KNSERVE_QUEUE_BIND", "127.0.0.1"),
        ("KNSERVE_QUEUE_ADMIN_PORT", "0"),
        ("KNSERVE_QUEUE_METRICS_PORT", "0"),
        ("KNSERVE_QUEUE_USER_METRICS_PORT", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (key, value) in overrides {
        env.retain(|(k, _)| k != key);
        env.push(((*key).to_owned(), (*value).to_owned()));
    }
    env
}

/// Runs the sidecar with `env`, expecting it to exit within 10 s: its exit code and
/// stderr.
async fn refused(env: Vec<(String, String)>) -> (Option<i32>, String) {
    let mut command = Command::new(binary("knserve-queue"));
    command
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(10), command.output())
        .await
        .expect("knserve-queue exits at once on a bad environment")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    )
}

#[tokio::test]
async fn the_base_environment_starts_the_sidecar() {
    let mut child = Command::new(binary("knserve-queue"))
        .env_clear()
        .envs(env(&[]))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    tokio::time::timeout(Duration::from_secs(10), stdout.read_line(&mut line))
        .await
        .expect("the sidecar prints its addresses")
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let _ = child.wait().await;
    assert!(
        !line.trim().is_empty(),
        "the environment the other tests alter is a valid one"
    );
}

#[tokio::test]
async fn a_timeout_no_deadline_can_hold_is_refused_by_name() {
    for seconds in ["9223372036854775808", "18446744073709551615", "9223372037"] {
        let (code, stderr) = refused(env(&[("REVISION_TIMEOUT_SECONDS", seconds)])).await;
        println!("REVISION_TIMEOUT_SECONDS={seconds}: exit {code:?}, {stderr}");
        assert_eq!(code, Some(1), "refused at start: {stderr}");
        assert!(
            stderr.contains("REVISION_TIMEOUT_SECONDS") && stderr.contains("9223372036"),
            "the error names the variable and the largest value accepted: {stderr}"
        );
    }
    let (code, stderr) = refused(env(&[(
        "REVISION_IDLE_TIMEOUT_SECONDS",
        "9223372036854775807",
    )]))
    .await;
    assert_eq!(code, Some(1), "refused at start: {stderr}");
    assert!(stderr.contains("REVISION_IDLE_TIMEOUT_SECONDS"), "{stderr}");
}

#[tokio::test]
async fn a_user_port_equal_to_the_serving_port_is_refused_by_name() {
    let (code, stderr) = refused(env(&[
        ("QUEUE_SERVING_PORT", "8012"),
        ("USER_PORT", "8012"),
    ]))
    .await;
    println!("USER_PORT=QUEUE_SERVING_PORT=8012: exit {code:?}, {stderr}");
    assert_eq!(code, Some(1), "refused at start: {stderr}");
    assert!(
        stderr.contains("USER_PORT") && stderr.contains("QUEUE_SERVING_PORT"),
        "the error names both variables: {stderr}"
    );
}
