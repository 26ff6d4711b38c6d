//! Loopback load benchmark: `knserve-queue` in front of an app, against the app
//! directly, at 1, 16 and 256 keep-alive connections (closed loop).
//!
//! Run with `cargo bench -p knserve-k8s --bench queue_load`. For the layout of
//! ref/perf-anchors §3.1 (the hop on its own core) run it as
//! `taskset -c 0 cargo bench -p knserve-k8s --bench queue_load`: the sidecar is then
//! started under `taskset -c 1` when `taskset` exists. `KNSERVE_BENCH_SECONDS` sets the
//! measured seconds per point (default 5), `KNSERVE_BENCH_CC` the sidecar's
//! containerConcurrency (default 0). Results go to stdout and to
//! `target/bench-results/queue_load.md`.

mod load;

use std::{
    fmt::Write as _,
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::Duration,
};

use http::{Request, Response};
use knserve_core::net::{self, Body, BoxError};
use tokio::net::TcpListener;

const CONNECTIONS: [usize; 3] = [1, 16, 256];

fn main() {
    let seconds: u64 = env_or("KNSERVE_BENCH_SECONDS", 5);
    let cc: u32 = env_or("KNSERVE_BENCH_CC", 0);
    let app = start_app();
    let mut queue = start_queue(app, cc);
    let queue_addr = read_address(&mut queue);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut report = String::new();
    let _ = writeln!(
        report,
        "knserve-queue vs direct, {seconds} s per point, containerConcurrency {cc}, hello body\n\n\
         | connections | target | rps | p50 µs | p99 µs | added p50 µs | added p99 µs | sidecar CPU µs/req | errors |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    for connections in CONNECTIONS {
        let warmup = Duration::from_secs(1);
        let measure = Duration::from_secs(seconds);
        let direct = runtime.block_on(load::run(app, "hello", "/", connections, warmup, measure));
        let before = load::cpu_time(queue.id()).unwrap_or_default();
        let proxied = runtime.block_on(load::run(
            queue_addr,
            "hello",
            "/",
            connections,
            warmup,
            measure,
        ));
        let cpu = load::cpu_time(queue.id())
            .unwrap_or_default()
            .saturating_sub(before);
        // The warm-up's requests are not counted, so CPU per request slightly overstates.
        let cpu_per_request = cpu.as_secs_f64() * 1e6 / proxied.ok.max(1) as f64;
        row(&mut report, connections, "direct", &direct, None, None);
        row(
            &mut report,
            connections,
            "knserve-queue",
            &proxied,
            Some(&direct),
            Some(cpu_per_request),
        );
    }
    let _ = queue.kill();
    let _ = queue.wait();
    print!("{report}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("queue_load.md"), &report);
}

fn row(
    report: &mut String,
    connections: usize,
    target: &str,
    run: &load::Run,
    baseline: Option<&load::Run>,
    cpu_per_request: Option<f64>,
) {
    let (p50, p99) = (run.quantile_us(0.5), run.quantile_us(0.99));
    let added = |q: f64, own: u32| {
        baseline.map_or(String::from("—"), |b| {
            format!("{}", i64::from(own) - i64::from(b.quantile_us(q)))
        })
    };
    let cpu = cpu_per_request.map_or(String::from("—"), |c| format!("{c:.1}"));
    let _ = writeln!(
        report,
        "| {connections} | {target} | {:.0} | {p50} | {p99} | {} | {} | {cpu} | {} |",
        run.rps(),
        added(0.5, p50),
        added(0.99, p99),
        run.errors
    );
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A hello app on its own thread and single-threaded runtime.
fn start_app() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("app runtime");
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
            let service = tower::service_fn(|_: Request<Body>| async {
                Ok::<_, BoxError>(Response::new(net::full("hello\n")))
            });
            let server = net::serve(listener, service).expect("serve app");
            tx.send(server.local_addr()).expect("send address");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("app address")
}

fn start_queue(app: SocketAddr, cc: u32) -> Child {
    let binary = env!("CARGO_BIN_EXE_knserve-queue");
    let pin = Command::new("taskset").arg("--version").output().is_ok();
    let mut command = if pin {
        let mut command = Command::new("taskset");
        command.args(["-c", "1", binary]);
        command
    } else {
        Command::new(binary)
    };
    command
        .env_clear()
        .envs([
            ("SERVING_NAMESPACE", "default"),
            ("SERVING_CONFIGURATION", "hello"),
            ("SERVING_REVISION", "hello-00001"),
            ("SERVING_POD", "hello-00001-deployment-0"),
            ("SERVING_POD_IP", "127.0.0.1"),
            ("QUEUE_SERVING_PORT", "0"),
            ("QUEUE_SERVING_TLS_PORT", "8112"),
            ("REVISION_TIMEOUT_SECONDS", "300"),
            ("SERVING_LOGGING_LEVEL", "warn"),
            ("KNSERVE_QUEUE_BIND", "127.0.0.1"),
            ("KNSERVE_QUEUE_ADMIN_PORT", "0"),
            ("KNSERVE_QUEUE_METRICS_PORT", "0"),
            ("KNSERVE_QUEUE_USER_METRICS_PORT", "0"),
        ])
        .env("USER_PORT", app.port().to_string())
        .env("CONTAINER_CONCURRENCY", cc.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start knserve-queue")
}

/// Reads the sidecar's `knserve-queue serving=ADDR …` line.
fn read_address(queue: &mut Child) -> SocketAddr {
    let stdout = queue.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read line");
    line.split_whitespace()
        .find_map(|field| field.strip_prefix("serving="))
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no serving address in {line:?}"))
}
