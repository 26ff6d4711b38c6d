//! A real Jaeger (v1.75.0 all-in-one, built by `scripts/jaeger.sh` from the Go module
//! proxy; `.ci/run` builds it) on loopback: OTLP over HTTP in, the query API out, traces
//! kept in memory. Stopped by PID when dropped.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command},
    time::Duration,
};

use super::{TempDir, free_address, http_get, stop_child};

/// A running `jaeger`.
#[derive(Debug)]
pub struct Jaeger {
    child: Child,
    /// Where its OTLP/HTTP receiver listens.
    pub otlp: SocketAddr,
    /// Where its query API (`/api/traces/<id>`) listens.
    pub query: SocketAddr,
    dir: TempDir,
}

/// The binary, built (or found in the cache) by `scripts/jaeger.sh build`.
fn binary() -> PathBuf {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/jaeger.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg("build")
        .output()
        .expect("bash runs scripts/jaeger.sh");
    assert!(
        output.status.success(),
        "scripts/jaeger.sh build failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("the script prints the path")
            .trim(),
    )
}

impl Jaeger {
    /// Starts one on free loopback ports and waits until its query API answers.
    pub async fn start() -> Self {
        let dir = TempDir::new("jaeger");
        let (otlp, query, grpc) = (free_address(), free_address(), free_address());
        let config = format!(
            "service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: {query}
    grpc:
      endpoint: {grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      http:
        endpoint: {otlp}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"
        );
        let config_file = dir.path().join("jaeger.yaml");
        std::fs::write(&config_file, config).unwrap();
        let log = std::fs::File::create(dir.path().join("jaeger.log")).unwrap();
        let child = Command::new(binary())
            .arg("--config")
            .arg(&config_file)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("jaeger runs");
        let jaeger = Self {
            child,
            otlp,
            query,
            dir,
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while jaeger.get("/api/services").await.is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "jaeger's query API answers within 60 s:\n{}",
                jaeger.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        jaeger
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("jaeger.log")).unwrap_or_default()
    }

    /// The trace `id` (32 hex digits) as the query API returns it (`data[0]`), once it
    /// holds at least `spans` spans; `None` if it does not within `within`.
    pub async fn trace(
        &self,
        id: &str,
        spans: usize,
        within: Duration,
    ) -> Option<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = None;
        while tokio::time::Instant::now() < deadline {
            if let Some((200, body)) = self.get(&format!("/api/traces/{id}")).await {
                let value: serde_json::Value = serde_json::from_str(&body).unwrap();
                let trace = value["data"][0].clone();
                let count = trace["spans"].as_array().map_or(0, Vec::len);
                if count >= spans {
                    return Some(trace);
                }
                last = Some(trace);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!("trace {id} so far: {last:?}");
        None
    }

    async fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.query, path).await
    }
}

impl Drop for Jaeger {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}
