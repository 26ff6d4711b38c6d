//! `knserve serve` end to end, the container contract: the process an instance runs
//! gets its `command`, `args` and `env` with `$(VAR)` references expanded as the
//! kubelet expands them.

mod support;

use std::{os::unix::fs::PermissionsExt, time::Duration};

use self::support::{FAST_CONFIG, Knserve, output_text, test_app_service};

/// Polls `check` every 200 ms until it holds (true) or `within` has passed (false).
async fn until<F: Future<Output = bool>>(within: Duration, check: impl Fn() -> F) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    true
}

/// `yaml` (from [`test_app_service`]) with `args` on its container.
fn with_args(yaml: &str, args: &[&str]) -> String {
    let list: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    let marker = "        env:\n";
    yaml.replacen(
        marker,
        &format!("        args: [{}]\n{marker}", list.join(", ")),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_args_and_env_reach_the_app_with_their_references_expanded() {
    let server = Knserve::start("expansion", FAST_CONFIG).await;
    let env = [
        ("GREETING", "hello"),
        ("MESSAGE", "$(GREETING), $(TEST_SERVICE)"),
        ("ESCAPED", "$$(GREETING)"),
        ("FORWARD", "$(LATER)"),
        ("LATER", "later"),
        ("OWN_REVISION", "$(K_REVISION)"),
    ];
    let yaml = test_app_service("expand", &[], &env, "");
    let yaml = with_args(
        &yaml,
        &[
            "--port=$(PORT)",
            "--revision=$(K_REVISION)/$(K_SERVICE)",
            "--message=$(MESSAGE)",
            "$$(PORT)",
            "$(UNDEFINED)",
            "$(K_SERVICE",
        ],
    );
    server.apply("expand.yaml", &yaml).await;
    let host = "expand.default.example.com";

    let (status, _, port) = server.get(host, "/env/PORT").await;
    assert_eq!(status, 200, "the app started and answers: {port}");
    let port: u16 = port.parse().expect("PORT is a number");
    let (_, _, args) = server.get(host, "/args").await;
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        args,
        [
            format!("--port={port}").as_str(),
            "--revision=expand-00001/expand",
            "--message=hello, expand",
            "$(PORT)",
            "$(UNDEFINED)",
            "$(K_SERVICE",
        ],
        "args see the whole environment (PORT and K_* included); $$ escapes; an undefined \
         or unterminated reference is kept as written"
    );

    for (name, expected) in [
        ("MESSAGE", "hello, expand"),
        ("ESCAPED", "$(GREETING)"),
        ("FORWARD", "$(LATER)"),
        ("OWN_REVISION", "$(K_REVISION)"),
    ] {
        let (status, _, value) = server.get(host, &format!("/env/{name}")).await;
        assert_eq!(
            (status, value.as_str()),
            (200, expected),
            "{name}: an env value sees only the entries before it (Knative's variables \
             are appended after the container's)"
        );
    }
    server.stop().await;
}

/// A Service whose test app reads `LEVEL` from ConfigMap `app-config`, `TOKEN` from
/// Secret `app-secret`, every key of `app-config` with prefix `CFG_`, and an optional
/// key that exists nowhere.
fn service_reading_objects() -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: reader\nspec:\n  template:\n    spec:\n      containers:\n      - image: example.com/test-app:1\n        command: [\"{}\"]\n        envFrom:\n        - configMapRef: {{name: app-config}}\n          prefix: CFG_\n        env:\n        - name: LEVEL\n          valueFrom:\n            configMapKeyRef: {{name: app-config, key: level}}\n        - name: TOKEN\n          valueFrom:\n            secretKeyRef: {{name: app-secret, key: token}}\n        - name: MAYBE\n          valueFrom:\n            secretKeyRef: {{name: app-secret, key: absent, optional: true}}\n        - name: URL\n          value: \"https://$(TOKEN)@$(CFG_host)\"\n",
        support::binary("knserve-test-app").display()
    )
}

/// `aHVudGVyMg==` is `hunter2`.
const OBJECTS: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-config\ndata:\n  level: debug\n  host: db.local\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: app-secret\ndata:\n  token: aHVudGVyMg==\nstringData:\n  other: plain\n";

/// The reason and message of a revision's `Ready` condition.
async fn ready_condition(server: &Knserve, revision: &str) -> (String, String) {
    let revisions = server.revisions().await;
    let ready = revisions
        .iter()
        .find(|r| r["metadata"]["name"] == revision)
        .and_then(|r| r["status"]["conditions"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .find(|c| c["type"] == "Ready")
        .unwrap_or_default();
    let text = |key: &str| ready[key].as_str().unwrap_or_default().to_owned();
    (text("reason"), text("message"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_reads_config_maps_and_secrets_and_a_missing_one_fails_the_revision_until_applied() {
    let server = Knserve::start("envfrom", FAST_CONFIG).await;
    let file = server.dir.path().join("reader.yaml");
    std::fs::write(&file, service_reading_objects()).unwrap();
    let output = server
        .cli(&["apply", "-f", file.to_str().unwrap(), "--no-wait"])
        .await;
    assert!(output.status.success(), "{}", output_text(&output));

    let failed = until(Duration::from_secs(20), || async {
        ready_condition(&server, "reader-00001").await.0 == "CreateContainerConfigError"
    })
    .await;
    let (reason, message) = ready_condition(&server, "reader-00001").await;
    assert!(
        failed && message == "configmap \"app-config\" not found",
        "a missing ConfigMap fails the revision with the kubelet's reason and message: {reason}: {message}\n{}",
        server.log()
    );
    let describe = output_text(&server.cli(&["describe", "ksvc", "reader"]).await);
    let table = output_text(&server.cli(&["get", "revisions"]).await);
    assert!(
        describe.contains("CreateContainerConfigError")
            && describe.contains("app-config")
            && table.contains("CreateContainerConfigError"),
        "describe and get show the reason and the object: {describe}\n{table}"
    );

    let applied = server.apply("objects.yaml", OBJECTS).await;
    assert!(
        applied.contains("ConfigMap") && applied.contains("Secret"),
        "apply reports the objects: {applied}"
    );
    let host = "reader.default.example.com";
    let ready = until(Duration::from_secs(30), || async {
        server.get(host, "/env/TOKEN").await.0 == 200
    })
    .await;
    assert!(
        ready,
        "the revision starts once its objects exist\n{}",
        server.log()
    );
    for (name, expected) in [
        ("LEVEL", "debug"),
        ("TOKEN", "hunter2"),
        ("CFG_level", "debug"),
        ("CFG_host", "db.local"),
        ("URL", "https://hunter2@db.local"),
    ] {
        let (status, _, value) = server.get(host, &format!("/env/{name}")).await;
        assert_eq!((status, value.as_str()), (200, expected), "{name}");
    }
    let (status, _, _) = server.get(host, "/env/MAYBE").await;
    assert_eq!(
        status, 404,
        "a missing optional key leaves the variable unset"
    );

    let stored = server.dir.path().join("state/env-objects.json");
    let mode = std::fs::metadata(&stored)
        .expect("objects stored")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "Secrets are stored owner-only");
    for args in [
        &["get", "revisions", "-o", "json"][..],
        &["get", "ksvc", "-o", "yaml"],
        &["describe", "ksvc", "reader"],
        &["get", "revisions"],
    ] {
        let text = output_text(&server.cli(args).await);
        assert!(
            !text.contains("hunter2") && !text.contains("aHVudGVyMg"),
            "{args:?} never prints a Secret's value: {text}"
        );
    }

    let dir = server.stop().await;
    let server = Knserve::start_in(dir).await;
    let back = until(Duration::from_secs(30), || async {
        server.get(host, "/env/TOKEN").await.2 == "hunter2"
    })
    .await;
    assert!(
        back,
        "a restarted server still has the Secret\n{}",
        server.log()
    );
    server.stop().await;
}
