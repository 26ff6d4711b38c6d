//! `knserve serve` stopping: a second SIGTERM while it drains (waiting for a request in
//! flight) forces the exit, and an
//! admin listener reachable from other hosts is warned about. Each test prints the
//! figures it observed.

mod support;

use std::time::Duration;

use nix::{sys::signal::Signal, unistd::Pid};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    time::Instant,
};

use self::support::{FAST_CONFIG, Knserve, test_app_service};

/// The children of `pid` (every thread's).
fn children(pid: u32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|s| s != "Z"))
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_while_draining_forces_the_exit() {
    let mut server = Knserve::start("second-signal", FAST_CONFIG).await;
    let yaml = test_app_service(
        "slow",
        &[("autoscaling.knative.dev/min-scale", "1")],
        &[("DELAY_MS", "60000")],
        "",
    );
    server.apply("slow.yaml", &yaml).await;
    server
        .wait_instances("slow-00001", Duration::from_secs(30), |n| n == 1)
        .await;
    let apps = children(server.pid());
    assert!(!apps.is_empty(), "the app runs as the server's child");
    // A request that takes a minute: draining waits for it.
    let ingress = server.ingress;
    let in_flight = tokio::spawn(async move {
        let mut stream = tokio::net::TcpStream::connect(ingress).await.unwrap();
        let request = "GET / HTTP/1.1\r\nHost: slow.default.example.com\r\n\r\n";
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = Pid::from_raw(server.pid() as i32);

    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        server.exited().is_none(),
        "the first SIGTERM drains: the server waits for the request in flight\n{}",
        server.log()
    );

    let second = Instant::now();
    nix::sys::signal::kill(pid, Signal::SIGTERM).unwrap();
    let status = loop {
        if let Some(status) = server.exited() {
            break status;
        }
        assert!(
            second.elapsed() < Duration::from_secs(3),
            "a second SIGTERM ends the server at once\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = second.elapsed();
    let deadline = Instant::now() + Duration::from_secs(5);
    while apps.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left: Vec<_> = apps.iter().filter(|&&p| alive(p)).collect();
    println!(
        "second SIGTERM while draining: exited ({status}) after {took:?}; apps left: {left:?}"
    );
    assert!(
        !status.success(),
        "a forced exit is not a clean one: {status}"
    );
    assert!(
        server.log().contains("second signal while draining"),
        "the log says why it exited\n{}",
        server.log()
    );
    assert!(left.is_empty(), "the apps die with the server: {left:?}");
    in_flight.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_listener_on_a_non_loopback_address_is_warned_about() {
    const WARNING: &str = "--admin-listen is not a loopback address";
    let open =
        Knserve::start_with_args("admin-open", FAST_CONFIG, &["--admin-listen", "0.0.0.0:0"]).await;
    let loopback = Knserve::start("admin-loopback", FAST_CONFIG).await;
    println!(
        "--admin-listen 0.0.0.0:0: {:?}",
        open.log().lines().find(|l| l.contains(WARNING))
    );
    assert!(
        open.log().contains(WARNING),
        "a non-loopback admin listener is warned about\n{}",
        open.log()
    );
    assert!(
        !loopback.log().contains(WARNING),
        "the default loopback admin listener is not\n{}",
        loopback.log()
    );
}
