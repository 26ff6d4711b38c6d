//! `knserve serve` end to end, lifecycle: a failing app's reason on every surface, a
//! restart that keeps the applied Services, and the CLI's commands against a real server.

mod support;

use std::{path::Path, time::Duration};

use nix::{sys::signal::Signal, unistd::Pid};

use tokio::time::Instant;

use self::support::{FAST_CONFIG, Knserve, answering_revision, output_text, test_app_service};

/// `knserve <args>`: (success, stdout, stdout and stderr).
async fn run(server: &Knserve, args: &[&str]) -> (bool, String, String) {
    let output = server.cli(args).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success(), stdout, output_text(&output))
}

/// The table row whose first cell is `name`, as cells.
fn row<'a>(table: &'a str, name: &str) -> Option<Vec<&'a str>> {
    table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_exits_at_start_fails_its_apply_and_its_revision_names_exit_code_3() {
    let server = Knserve::start("crash", FAST_CONFIG).await;
    let file = server.dir.path().join("crash.yaml");
    let yaml = test_app_service("crash", &[], &[("EXIT_AT_START", "3")], "");
    std::fs::write(&file, yaml).unwrap();
    let started = Instant::now();
    let (ok, _, text) = run(
        &server,
        &[
            "apply",
            "-f",
            file.to_str().unwrap(),
            "--wait-timeout",
            "30s",
        ],
    )
    .await;
    assert!(!ok, "apply of a crashing app exits non-zero: {text}");
    // As kn does, apply prints the Service's condition: Knative's `RevisionFailed` with
    // the revision's message (the `ExitCode3` reason itself is on the revision).
    assert!(
        text.contains("RevisionFailed")
            && text.contains("crash-00001")
            && text.contains("exit status 3"),
        "apply names the failed revision and the container's exit status: {text}\n{}",
        server.log()
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a crash loop fails the apply before its wait timeout: {:?}",
        started.elapsed()
    );

    let (ok, stdout, text) = run(&server, &["get", "revisions"]).await;
    assert!(ok, "{text}");
    let cells = row(&stdout, "crash-00001").unwrap_or_default();
    assert!(
        cells.contains(&"False") && cells.contains(&"ExitCode3"),
        "the revision is listed not ready with reason ExitCode3:\n{stdout}"
    );

    let (ok, stdout, text) = run(&server, &["describe", "ksvc", "crash"]).await;
    assert!(ok, "{text}");
    assert!(
        stdout.contains("ExitCode3"),
        "describe names the exit reason of a revision that never became ready:\n{stdout}"
    );

    // The route was never programmed, yet a request is not a bare 404: it goes to the
    // failed revision through the activator and gets a 503 naming the reason, at once.
    let asked = Instant::now();
    let (status, _, body) = server.get("crash.default.example.com", "/").await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("ExitCode3"),
        "the 503 names the reason: {body}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "a known failure is answered without waiting: {:?}",
        asked.elapsed()
    );
}

/// The reason of a revision's `Ready` condition.
async fn ready_reason(server: &Knserve, revision: &str) -> Option<String> {
    let revisions = server.revisions().await;
    let revision = revisions
        .iter()
        .find(|r| r["metadata"]["name"] == revision)?;
    let conditions = revision["status"]["conditions"].as_array()?;
    let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
    ready["reason"].as_str().map(str::to_owned)
}

/// A Service whose app serves until `marker` exists, then exits 3 at every start.
fn breakable_service(name: &str, marker: &Path) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n  template:\n    spec:\n      containers:\n      - image: example.com/test-app:1\n        command: [\"/bin/sh\"]\n        args: [\"-c\", \"if [ -e {} ]; then echo broken >&2; exit 3; fi; exec {}\"]\n",
        marker.display(),
        support::binary("knserve-test-app").display()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_for_a_revision_whose_instances_crash_loop_get_503_naming_the_exit_code() {
    let server = Knserve::start("breaks", FAST_CONFIG).await;
    let marker = server.dir.path().join("broken");
    server
        .apply("breaks.yaml", &breakable_service("breaks", &marker))
        .await;
    let host = "breaks.default.example.com";
    let (status, _, body) = server.get(host, "/").await;
    assert_eq!(status, 200, "{body}");

    // From now on the app exits 3 at start; kill the running one (the PID it answered).
    std::fs::write(&marker, "").unwrap();
    let pid: i32 = body.split_whitespace().nth(1).unwrap().parse().unwrap();
    nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL).unwrap();

    // Until the revision is failed (a request sent in the instant between the kill and
    // its exit being seen meets a refused connection: 502, as in Knative).
    let deadline = Instant::now() + Duration::from_secs(15);
    while ready_reason(&server, "breaks-00001").await.as_deref() != Some("ExitCode3") {
        assert!(
            Instant::now() < deadline,
            "the crash loop fails the revision with ExitCode3 within 15 s\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let asked = Instant::now();
    let (status, _, body) = server.get(host, "/").await;
    assert_eq!(
        status,
        503,
        "a request for a failed revision for a crash-looping revision gets 503: {body}\n{}",
        server.log()
    );
    assert!(
        body.contains("ExitCode3"),
        "the 503 names why the revision failed: {body}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "the 503 comes well before the revision timeout: {:?}",
        asked.elapsed()
    );
    let (ok, stdout, text) = run(&server, &["describe", "ksvc", "breaks"]).await;
    assert!(ok, "{text}");
    assert!(
        stdout.contains("ExitCode3"),
        "describe shows the revision's reason:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_keeps_the_applied_services_and_their_revisions() {
    let server = Knserve::start("restart", FAST_CONFIG).await;
    for name in ["alpha", "beta"] {
        let yaml = test_app_service(name, &[], &[], "");
        server.apply(&format!("{name}.yaml"), &yaml).await;
    }
    let names = |revisions: Vec<serde_json::Value>| {
        let mut names: Vec<String> = revisions
            .iter()
            .map(|r| {
                let meta = &r["metadata"];
                format!("{} uid={}", meta["name"], meta["uid"])
            })
            .collect();
        names.sort();
        names
    };
    let before = names(server.revisions().await);
    assert!(
        before.len() == 2
            && before[0].starts_with("\"alpha-00001\" uid=\"")
            && before[1].starts_with("\"beta-00001\" uid=\""),
        "one revision each, with a uid: {before:?}"
    );

    let dir = server.stop().await;
    let server = Knserve::start_in(dir).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, stdout, text) = run(&server, &["get", "ksvc"]).await;
        assert!(ok, "get ksvc after a restart: {text}");
        let ready = ["alpha", "beta"]
            .iter()
            .all(|name| row(&stdout, name).is_some_and(|cells| cells.contains(&"True")));
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "both Services are listed Ready after a restart:\n{stdout}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for name in ["alpha", "beta"] {
        let (status, _, body) = server
            .get(&format!("{name}.default.example.com"), "/")
            .await;
        assert_eq!(status, 200, "{name} is served after a restart: {body}");
        assert_eq!(answering_revision(&body), format!("{name}-00001"));
    }
    assert_eq!(
        names(server.revisions().await),
        before,
        "a restart keeps the revisions (same names and uids) and creates none"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_lists_describes_shows_logs_and_deletes_a_service() {
    let server = Knserve::start("cli", FAST_CONFIG).await;
    server
        .apply("cli.yaml", &test_app_service("cli", &[], &[], ""))
        .await;
    let host = "cli.default.example.com";
    let (status, _, body) = server.get(host, "/hello").await;
    assert_eq!(status, 200, "{body}");

    let table = |args: &'static [&'static str]| {
        let server = &server;
        async move {
            let (ok, stdout, text) = run(server, args).await;
            assert!(ok, "knserve {args:?}: {text}");
            stdout
        }
    };
    let services = table(&["get", "ksvc"]).await;
    let cells = row(&services, "cli").unwrap_or_default();
    assert!(
        cells.contains(&"http://cli.default.example.com")
            && cells.contains(&"cli-00001")
            && cells.contains(&"True"),
        "get ksvc lists the URL, latest revision and Ready:\n{services}"
    );
    let revisions = table(&["get", "revisions"]).await;
    let cells = row(&revisions, "cli-00001").unwrap_or_default();
    assert!(
        cells.contains(&"cli") && cells.contains(&"100%") && cells.contains(&"True"),
        "get revisions lists the service, its traffic and Ready:\n{revisions}"
    );
    let routes = table(&["get", "routes"]).await;
    let cells = row(&routes, "cli").unwrap_or_default();
    assert_eq!(
        cells,
        ["cli", "http://cli.default.example.com", "True"],
        "get routes: NAME URL READY:\n{routes}"
    );

    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&table(&["get", "ksvc", "-o", "yaml"]).await).unwrap();
    assert_eq!(yaml["kind"].as_str(), Some("ServiceList"));
    assert_eq!(yaml["items"][0]["metadata"]["name"].as_str(), Some("cli"));
    let json: serde_json::Value =
        serde_json::from_str(&table(&["get", "routes", "-o", "json"]).await).unwrap();
    assert_eq!(json["kind"], "RouteList");
    assert_eq!(
        json["items"][0]["status"]["url"],
        "http://cli.default.example.com"
    );
    let json: serde_json::Value =
        serde_json::from_str(&table(&["get", "revisions", "-o", "json"]).await).unwrap();
    assert_eq!(json["items"][0]["metadata"]["name"], "cli-00001");

    let described = table(&["describe", "ksvc", "cli"]).await;
    for expected in [
        "Name:",
        "cli",
        "http://cli.default.example.com",
        "cli-00001",
        "100%",
    ] {
        assert!(
            described.contains(expected),
            "describe shows {expected}:\n{described}"
        );
    }
    let logs = table(&["logs", "cli-00001"]).await;
    assert!(
        logs.lines()
            .any(|l| l.starts_with("cli-00001-") && l.ends_with("stdout GET /hello in_flight=1")),
        "logs shows the app's output per instance and stream:\n{logs}"
    );

    let deleted = table(&["delete", "ksvc", "cli"]).await;
    assert!(deleted.contains("'cli' successfully deleted"), "{deleted}");
    let (status, _, body) = server.get(host, "/").await;
    assert_eq!(
        status, 404,
        "a deleted Service's host is not routed: {body}"
    );
    let services = table(&["get", "ksvc"]).await;
    assert!(
        row(&services, "cli").is_none(),
        "a deleted Service is not listed:\n{services}"
    );
    let (ok, _, text) = run(&server, &["describe", "ksvc", "cli"]).await;
    assert!(
        !ok && text.contains("not found"),
        "describe of a deleted Service: {text}"
    );
}

const TOO_CONCURRENT: &str = "      containerConcurrency: 5000\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_files_are_refused_whole_naming_the_field_and_the_admin_api_needs_the_token() {
    let server = Knserve::start("invalid", FAST_CONFIG).await;
    let dir = server.dir.path();
    let good = test_app_service("first", &[], &[], "");
    let bad = test_app_service("second", &[], &[], TOO_CONCURRENT);
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let (good_file, bad_file) = (write("good.yaml", &good), write("bad.yaml", &bad));
    let both_file = write("both.yaml", &format!("{good}---\n{bad}"));
    let field = "spec.template.spec.containerConcurrency";

    let (ok, stdout, text) = run(&server, &["validate", "-f", &good_file]).await;
    assert!(ok, "a valid file validates: {text}");
    assert!(stdout.contains("Service default/first: valid"), "{text}");
    let (ok, _, text) = run(&server, &["validate", "-f", &bad_file]).await;
    assert!(!ok, "an invalid file fails validation: {text}");
    assert!(
        text.contains(field) && text.contains("must be between") && text.contains("5000"),
        "validate names the field path, the rule and the value: {text}"
    );

    let (ok, _, text) = run(&server, &["apply", "-f", &both_file]).await;
    assert!(!ok, "a file with an invalid document is refused: {text}");
    assert!(text.contains(field), "apply names the field: {text}");
    let (ok, stdout, text) = run(&server, &["get", "ksvc", "-o", "json"]).await;
    assert!(ok, "{text}");
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(0),
        "nothing of a refused file is applied, not even its valid first document:\n{stdout}"
    );

    let (status, _, body) = support::send(server.admin, "admin", "/v1/services").await;
    assert_eq!(
        status, 401,
        "the admin API refuses a request without the token: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helloworld_example_applies_from_the_repository_root_and_answers() {
    let server = Knserve::start("hello", FAST_CONFIG).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let output = server
        .cli_in(&root, &["apply", "-f", "examples/helloworld/service.yaml"])
        .await;
    assert!(
        output.status.success(),
        "apply of the example: {}\n{}",
        output_text(&output),
        server.log()
    );
    let (status, _, body) = server.get("helloworld.default.example.com", "/").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.trim_end(), "Hello knserve!");
}
