//! Running the shipped `knserve` binary for end-to-end tests: a server per test with
//! its own state directory and configuration, the CLI against it, and an HTTP client
//! for its ingress. Every process a test starts is stopped by PID when it ends.

#![allow(dead_code)]

pub mod jaeger;
pub mod prometheus;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use nix::{sys::signal::Signal, unistd::Pid};
use tokio::time::Instant;

/// Short windows so scaling happens within a test: the smallest stable window Knative
/// accepts (6 s), a 6 s grace period, no retention, fast restarts.
pub const FAST_CONFIG: &str = "\
config-autoscaler:
  stable-window: 6s
  panic-window-percentage: \"50\"
  scale-to-zero-grace-period: 6s
  scale-to-zero-pod-retention-period: 0s
knserve:
  restart-initial-backoff: 100ms
  restart-max-backoff: 400ms
  crash-loop-failures: \"3\"
";

/// The directory the workspace's binaries are built in (this test's `deps/` parent).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// A workspace binary, which `cargo test --workspace` builds.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace's binaries (cargo test --workspace builds them)",
        path.display()
    );
    path
}

/// A scratch directory removed at drop.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "knserve-e2e-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `knserve serve`.
#[derive(Debug)]
pub struct Knserve {
    child: Option<Child>,
    pub state: PathBuf,
    pub ingress: SocketAddr,
    pub admin: SocketAddr,
    pub dir: TempDir,
}

impl Knserve {
    /// Starts a server with `config` (YAML in config-map keys) in a new directory.
    pub async fn start(label: &str, config: &str) -> Self {
        let dir = TempDir::new(label);
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        Self::start_in(dir).await
    }

    /// Starts a server on an existing directory (its `state/` and `config.yaml`).
    pub async fn start_in(dir: TempDir) -> Self {
        let _ = std::fs::remove_file(dir.path().join("state/server.json"));
        Self::start_over(dir).await
    }

    /// Starts a server on an existing directory as it is, a stale `server.json`
    /// included; ready once `server.json` names the new server's pid.
    pub async fn start_over(dir: TempDir) -> Self {
        Self::start_under(dir, &[], &[]).await
    }

    /// Starts a server in a new directory with `args` added to `knserve serve`.
    pub async fn start_with_args(label: &str, config: &str, args: &[&str]) -> Self {
        let dir = TempDir::new(label);
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        Self::start_under(dir, &[], args).await
    }

    /// Starts a server in a new directory under `wrapper`, a command that execs the
    /// server in its place (e.g. `prlimit --nofile=1024:1024 --`), so the pid is the
    /// server's.
    pub async fn start_wrapped(label: &str, config: &str, wrapper: &[&str]) -> Self {
        let dir = TempDir::new(label);
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        Self::start_under(dir, wrapper, &[]).await
    }

    async fn start_under(dir: TempDir, wrapper: &[&str], args: &[&str]) -> Self {
        let state = dir.path().join("state");
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary("knserve"));
                command
            }
            None => Command::new(binary("knserve")),
        };
        let mut child = command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--state-dir"])
            .arg(&state)
            .arg("--config")
            .arg(dir.path().join("config.yaml"))
            .args(args)
            .env("KNSERVE_LOG", "knserve_local=debug,knserve_core=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start knserve serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        let info = loop {
            if let Ok(text) = std::fs::read_to_string(state.join("server.json"))
                && let Ok(info) = serde_json::from_str::<serde_json::Value>(&text)
                && info["pid"] == child.id()
            {
                break info;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let log =
                    std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                panic!(
                    "knserve serve exited ({status}) before listening; if the binary is stale, run `cargo build --workspace --bins`:\n{log}"
                );
            }
            assert!(
                Instant::now() < deadline,
                "knserve serve did not write server.json"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let address = |key: &str| info[key].as_str().unwrap().parse().unwrap();
        Self {
            child: Some(child),
            ingress: address("ingress"),
            admin: address("admin"),
            state,
            dir,
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The server's exit status, if it has exited (without waiting).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Runs `knserve <args>` against this server.
    pub async fn cli(&self, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(binary("knserve"));
        command.arg("--state-dir").arg(&self.state).args(args);
        command.current_dir(self.dir.path());
        tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .expect("knserve CLI finished")
            .expect("knserve CLI ran")
    }

    /// Writes `yaml` to a file and applies it; panics with the output on failure.
    pub async fn apply(&self, name: &str, yaml: &str) -> String {
        let file = self.dir.path().join(name);
        std::fs::write(&file, yaml).unwrap();
        let output = self.cli(&["apply", "-f", file.to_str().unwrap()]).await;
        let text = output_text(&output);
        assert!(
            output.status.success(),
            "apply {name} failed:\n{text}\n{}",
            self.log()
        );
        text
    }

    /// `knserve get revisions -o json`, as JSON items.
    pub async fn revisions(&self) -> Vec<serde_json::Value> {
        let output = self.cli(&["get", "revisions", "-o", "json"]).await;
        assert!(output.status.success(), "{}", output_text(&output));
        let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// A revision's `status.actualReplicas` (ready instances).
    pub async fn ready_instances(&self, revision: &str) -> i64 {
        self.revisions()
            .await
            .iter()
            .find(|r| r["metadata"]["name"] == revision)
            .and_then(|r| r["status"]["actualReplicas"].as_i64())
            .unwrap_or(0)
    }

    /// Waits until `check` holds for a revision's ready instances.
    pub async fn wait_instances(
        &self,
        revision: &str,
        within: Duration,
        check: impl Fn(i64) -> bool,
    ) -> i64 {
        let deadline = Instant::now() + within;
        loop {
            let n = self.ready_instances(revision).await;
            if check(n) {
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "{revision} still has {n} ready instances after {within:?}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// One admin API request with the server's token: status, headers and body.
    pub async fn admin_request(
        &self,
        method: &str,
        path: &str,
        body: impl Into<Bytes>,
    ) -> (u16, http::HeaderMap, String) {
        admin_send(self.admin, &self.state, method, path, body.into()).await
    }

    /// GET `path` with `Host: host` through the ingress.
    pub async fn get(&self, host: &str, path: &str) -> (u16, http::HeaderMap, String) {
        send(self.ingress, host, path).await
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// Stops the server with SIGTERM and waits for it; returns the directory so a test
    /// can start another server on it.
    pub async fn stop(mut self) -> TempDir {
        self.terminate();
        let dir = TempDir(self.dir.0.clone());
        self.dir.0 = PathBuf::new();
        dir
    }

    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
            let deadline = std::time::Duration::from_secs(20);
            let started = std::time::SystemTime::now();
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if started.elapsed().unwrap_or_default() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Knserve {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Waits until `check` holds, up to `within`; whether it did.
pub async fn eventually(within: Duration, check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !check() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// Combined stdout and stderr of a CLI run.
pub fn output_text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// One request to the admin API at `admin` with the token in `state`: status, headers
/// and body text.
pub async fn admin_send(
    admin: SocketAddr,
    state: &Path,
    method: &str,
    path: &str,
    body: Bytes,
) -> (u16, http::HeaderMap, String) {
    let token = std::fs::read_to_string(state.join("admin-token")).unwrap();
    let request = http::Request::builder()
        .method(method)
        .uri(format!("http://{admin}{path}"))
        .header(
            http::header::AUTHORIZATION,
            format!("Bearer {}", token.trim()),
        )
        .body(Full::new(body))
        .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = tokio::time::timeout(Duration::from_secs(120), client.request(request))
        .await
        .expect("admin answers within 120 s")
        .expect("admin request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// Stops `child` by PID: SIGTERM, then SIGKILL if it has not exited within 10 s.
pub fn stop_child(child: &mut Child) {
    let pid = Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, Signal::SIGTERM);
    for _ in 0..200 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// One GET of `http://{address}{path}`: status and body, `None` while nothing answers
/// within 10 s (a server still starting).
pub async fn http_get(address: SocketAddr, path: &str) -> Option<(u16, String)> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::get(format!("http://{address}{path}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .ok()?
        .ok()?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A loopback address nothing listens on now (bound and released).
pub fn free_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// One GET through `address` with `Host: host`: status, headers and body text.
pub async fn send(address: SocketAddr, host: &str, path: &str) -> (u16, http::HeaderMap, String) {
    send_with(address, host, path, &[]).await
}

/// [`send`] with more request `headers`.
pub async fn send_with(
    address: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, http::HeaderMap, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request =
        http::Request::get(format!("http://{address}{path}")).header(http::header::HOST, host);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Full::new(Bytes::new())).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(60), client.request(request))
        .await
        .expect("response within 60 s")
        .expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

/// A Service running `knserve-test-app` with `env` and extra template annotations.
pub fn test_app_service(
    name: &str,
    annotations: &[(&str, &str)],
    env: &[(&str, &str)],
    extra_spec: &str,
) -> String {
    let mut yaml = format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\nspec:\n  template:\n    metadata:\n      annotations:\n        autoscaling.knative.dev/class: kpa.autoscaling.knative.dev\n"
    );
    for (key, value) in annotations {
        yaml.push_str(&format!("        {key}: \"{value}\"\n"));
    }
    yaml.push_str("    spec:\n");
    yaml.push_str(extra_spec);
    yaml.push_str(&format!(
        "      containers:\n      - image: example.com/test-app:1\n        command: [\"{}\"]\n        env:\n        - name: TEST_SERVICE\n          value: {name}\n",
        binary("knserve-test-app").display()
    ));
    for (key, value) in env {
        yaml.push_str(&format!(
            "        - name: {key}\n          value: \"{value}\"\n"
        ));
    }
    yaml
}

/// `yaml` (from [`test_app_service`]) with its template named `name` (a BYO revision
/// name, `spec.template.metadata.name`).
pub fn with_template_name(yaml: &str, name: &str) -> String {
    yaml.replacen(
        "    metadata:\n      annotations:\n",
        &format!("    metadata:\n      name: {name}\n      annotations:\n"),
        1,
    )
}

/// `yaml` (from [`test_app_service`]) with `spec.traffic` set to revision targets
/// `(revisionName, percent, tag)`; an empty tag is left out.
pub fn with_traffic(yaml: &str, targets: &[(&str, u32, &str)]) -> String {
    let mut yaml = format!("{yaml}  traffic:\n");
    for (revision, percent, tag) in targets {
        yaml.push_str(&format!(
            "  - revisionName: {revision}\n    percent: {percent}\n"
        ));
        if !tag.is_empty() {
            yaml.push_str(&format!("    tag: {tag}\n"));
        }
    }
    yaml
}

/// The revision that answered: the first word of a test-app body.
pub fn answering_revision(body: &str) -> &str {
    body.split_whitespace().next().unwrap_or("")
}

impl Knserve {
    /// Runs `knserve <args>` against this server from the directory `cwd`.
    pub async fn cli_in(&self, cwd: &Path, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(binary("knserve"));
        command.arg("--state-dir").arg(&self.state).args(args);
        command.current_dir(cwd);
        tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .expect("knserve CLI finished")
            .expect("knserve CLI ran")
    }
}
