//! `knserve serve` end to end, progress deadline: an app that never becomes ready is
//! failed at its deadline with Knative's `ProgressDeadlineExceeded`, its process is
//! stopped, and requests for it get a 503 naming the deadline.

mod support;

use std::{path::Path, time::Duration};

use tokio::time::Instant;

use self::support::{FAST_CONFIG, Knserve, eventually, output_text};

/// A Service whose app writes its pid to `pid_file` and then never listens, with
/// `annotations` on its template. (`$$$$` reaches the shell as `$$`: `$$` escapes `$`
/// in args, as on a node.)
fn silent_service(name: &str, pid_file: &Path, annotations: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  template:\n    metadata:\n      annotations:\n        autoscaling.knative.dev/class: kpa.autoscaling.knative.dev\n{annotations}    spec:\n      containers:\n      - image: example.com/silent:1\n        command: [\"/bin/sh\"]\n        args: [\"-c\", \"echo $$$$ > {}; exec sleep 600\"]\n",
        pid_file.display()
    )
}

/// The same Service running `knserve-test-app`, which becomes ready at once.
fn answering_service(name: &str, annotations: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  template:\n    metadata:\n      annotations:\n        autoscaling.knative.dev/class: kpa.autoscaling.knative.dev\n{annotations}    spec:\n      containers:\n      - image: example.com/test-app:1\n        command: [\"{}\"]\n",
        support::binary("knserve-test-app").display()
    )
}

const TWO_SECONDS: &str = "        serving.knative.dev/progress-deadline: \"2s\"\n";

/// `knserve <args>`: (success, stdout, stdout and stderr).
async fn run(server: &Knserve, args: &[&str]) -> (bool, String, String) {
    let output = server.cli(args).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), stdout, output_text(&output))
}

/// A revision's condition of `type_` as JSON, from `knserve get revisions -o json`.
async fn condition(server: &Knserve, revision: &str, type_: &str) -> serde_json::Value {
    let revisions = server.revisions().await;
    let conditions = revisions
        .iter()
        .find(|r| r["metadata"]["name"] == revision)
        .map(|r| r["status"]["conditions"].clone())
        .unwrap_or_default();
    conditions
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == type_).cloned())
        .unwrap_or_default()
}

/// Whether process `pid` is gone (or a zombie nobody will run again).
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// The pid the app wrote, if it has.
fn written_pid(pid_file: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(pid_file).ok()?;
    text.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_never_listens_fails_at_its_progress_deadline_and_is_stopped() {
    let server = Knserve::start("deadline", FAST_CONFIG).await;
    let pid_file = server.dir.path().join("silent.pid");
    let file = server.dir.path().join("silent.yaml");
    std::fs::write(&file, silent_service("silent", &pid_file, TWO_SECONDS)).unwrap();
    let applied = Instant::now();
    let (ok, _, text) = run(
        &server,
        &["apply", "-f", file.to_str().unwrap(), "--no-wait"],
    )
    .await;
    assert!(ok, "{text}");

    // A request made at once waits in the activator for the revision, and is refused
    // when the deadline passes — not when its own 300 s timeout would.
    let (status, _, body) = server.get("silent.default.example.com", "/").await;
    let answered = applied.elapsed();
    assert_eq!(status, 503, "{body}\n{}", server.log());
    assert!(
        body.contains("ProgressDeadlineExceeded") && body.contains("progress deadline of 2s"),
        "the 503 names the progress deadline: {body}"
    );
    assert!(
        answered >= Duration::from_secs(2),
        "the revision is not failed before its 2 s deadline: answered after {answered:?}"
    );
    assert!(
        answered < Duration::from_secs(30),
        "the waiting request is refused at the deadline, not at its 300 s timeout: {answered:?}"
    );

    let asked = Instant::now();
    let (status, _, body) = server.get("silent.default.example.com", "/").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("ProgressDeadlineExceeded"), "{body}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "a later request is refused without waiting: {:?}",
        asked.elapsed()
    );

    let resources = condition(&server, "silent-00001", "ResourcesAvailable").await;
    assert_eq!(resources["status"], "False", "{resources}");
    assert_eq!(
        resources["reason"], "ProgressDeadlineExceeded",
        "{resources}"
    );
    assert!(
        resources["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Initial scale was never achieved")),
        "Knative's message: {resources}"
    );
    let ready = condition(&server, "silent-00001", "Ready").await;
    assert_eq!(
        ready["status"], "False",
        "the revision is not ready: {ready}"
    );
    assert_eq!(ready["reason"], "ProgressDeadlineExceeded", "{ready}");

    let (ok, stdout, text) = run(&server, &["get", "revisions"]).await;
    assert!(ok, "{text}");
    let row = stdout
        .lines()
        .find(|line| line.starts_with("silent-00001"))
        .unwrap_or_default();
    assert!(
        row.contains("False") && row.contains("ProgressDeadlineExceeded"),
        "the revision is listed not ready with the reason:\n{stdout}"
    );
    let (ok, stdout, text) = run(&server, &["describe", "ksvc", "silent"]).await;
    assert!(ok, "{text}");
    assert!(
        stdout.contains("Initial scale was never achieved"),
        "describe gives the message:\n{stdout}"
    );

    let pid = written_pid(&pid_file).expect("the app started and wrote its pid");
    assert!(
        eventually(Duration::from_secs(15), || process_gone(pid)).await,
        "the app (pid {pid}) is stopped once its revision missed the deadline\n{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_deployment_sets_the_deadline_and_a_new_revision_starts_afresh() {
    let config = format!("{FAST_CONFIG}config-deployment:\n  progress-deadline: 2s\n");
    let server = Knserve::start("deadline-config", &config).await;
    let pid_file = server.dir.path().join("silent.pid");
    let file = server.dir.path().join("silent.yaml");
    std::fs::write(&file, silent_service("silent", &pid_file, "")).unwrap();
    let waiting = [
        "apply",
        "-f",
        file.to_str().unwrap(),
        "--wait-timeout",
        "60s",
    ];
    let (ok, _, text) = run(&server, &waiting).await;
    assert!(!ok, "apply of an app that never listens fails: {text}");
    assert!(
        text.contains("silent-00001") && text.contains("Initial scale was never achieved"),
        "apply names the revision and why, under config-deployment's 2 s: {text}\n{}",
        server.log()
    );

    // The same Service with an app that answers: a new revision with a deadline of its
    // own, which it meets; long after that deadline it is still ready.
    server
        .apply("answering.yaml", &answering_service("silent", ""))
        .await;
    let ready = condition(&server, "silent-00002", "Ready").await;
    assert_eq!(ready["status"], "True", "{ready}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, _, body) = server.get("silent.default.example.com", "/").await;
    assert_eq!(
        status,
        200,
        "the new revision serves: {body}\n{}",
        server.log()
    );
    let ready = condition(&server, "silent-00002", "Ready").await;
    assert_eq!(
        ready["status"], "True",
        "a revision that reached its initial scale is not failed by its deadline: {ready}"
    );
}
