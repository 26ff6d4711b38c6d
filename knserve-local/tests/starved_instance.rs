//! An instance started while the server is out of descriptors: the start is retried
//! as transient and the revision is never marked failed; it becomes ready once
//! descriptors are free again. Alone in its test binary, since it lowers the
//! open-files limit of the whole test process.

use std::time::Duration;

use knserve_local::{
    runtime::NotReady,
    server::{ServeOptions, Server},
};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tokio::time::Instant;

/// One instance of an app serving HTTP on `$PORT`.
const SERVICE: &str = r#"
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: starved, namespace: default}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/min-scale: "1"
    spec:
      containers:
      - image: python
        command: [sh, -c, 'exec python3 -m http.server --bind 127.0.0.1 "$PORT"']
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_cannot_start_for_want_of_descriptors_is_retried_and_its_revision_never_fails()
 {
    let server = Server::start(ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    // Every descriptor number below the limit is taken: binding the instance's
    // listener fails with EMFILE.
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    setrlimit(Resource::RLIMIT_NOFILE, open.saturating_sub(2), hard).unwrap();
    let applied = server.runtime().apply_yaml(SERVICE, false);
    let starved_for = Duration::from_millis(1500);
    let while_starved = server
        .runtime()
        .wait_ready("default", "starved", starved_for)
        .await;
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).unwrap();
    applied.expect("the apply itself needs no descriptor without a state directory");
    assert!(
        matches!(while_starved, Err(NotReady::Timeout(_))),
        "out of descriptors, the revision waits — it is neither ready nor failed: {while_starved:?}"
    );
    let freed = Instant::now();
    let ready = server
        .runtime()
        .wait_ready("default", "starved", Duration::from_secs(15))
        .await;
    println!(
        "out of descriptors for {starved_for:?}: not failed; ready {:?} after descriptors were freed",
        freed.elapsed()
    );
    assert!(
        ready.is_ok(),
        "the start is retried and succeeds once descriptors are free: {ready:?}"
    );
    server.shutdown().await;
}
