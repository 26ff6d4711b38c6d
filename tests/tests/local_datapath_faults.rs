//! `knserve serve` end to end when the request path meets faults: an instance killed
//! under load while the activator is on the path, request bodies that break the
//! HTTP framing, and chunked bodies past the activator's waiting-bytes bound. Each test prints the figures it observed.

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use nix::{sys::signal::Signal, unistd::Pid};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use self::support::{FAST_CONFIG, Knserve, send, test_app_service};

/// Three instances, the activator always on the path (target-burst-capacity -1), and
/// an app that takes a few milliseconds per request, so requests are in flight on
/// the instance that is killed.
fn trio(name: &str) -> String {
    test_app_service(
        name,
        &[
            ("autoscaling.knative.dev/min-scale", "3"),
            ("autoscaling.knative.dev/target-burst-capacity", "-1"),
        ],
        &[("DELAY_MS", "5")],
        "",
    )
}

/// A server running [`trio`] as `name`, once its three instances are ready.
async fn start_trio(label: &str, name: &str) -> Knserve {
    let server = Knserve::start(label, FAST_CONFIG).await;
    server.apply("trio.yaml", &trio(name)).await;
    server
        .wait_instances(&format!("{name}-00001"), Duration::from_secs(60), |n| {
            n == 3
        })
        .await;
    server
}

/// The pids of the server's direct children (its instances' apps).
fn children(parent: u32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            fields.first() != Some(&"Z") && fields.get(1) == Some(&parent.to_string().as_str())
        })
        .collect()
}

/// Sends `request` as raw bytes to the ingress and reads the answer's status line
/// and body text (the connection is closed after the answer).
async fn raw(server: &Knserve, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(server.ingress).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
            if let Some(text) = std::str::from_utf8(&answer).ok()
                && let Some((head, body)) = text.split_once("\r\n\r\n")
                && head_complete(head, body)
            {
                break;
            }
        }
    });
    read.await.expect("an answer within 30 s");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// Whether the answer with `head` has all of its `Content-Length` body.
fn head_complete(head: &str, body: &str) -> bool {
    head.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .is_some_and(|length| body.len() >= length)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_one_of_three_instances_under_twenty_clients_fails_no_request() {
    let server = start_trio("kill-one", "trio").await;
    let host = "trio.default.example.com";
    let (status, _, body) = server.get(host, "/").await;
    assert_eq!(status, 200, "the revision answers before the fault: {body}");
    let apps = children(server.pid());
    assert_eq!(apps.len(), 3, "three instance processes: {apps:?}");

    let stop = Arc::new(AtomicBool::new(false));
    let ingress = server.ingress;
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let (status, _, body) = support::send(ingress, host, "/").await;
                    statuses.push((status, body));
                }
                statuses
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    nix::sys::signal::kill(Pid::from_raw(apps[0]), Signal::SIGKILL).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut failed = Vec::new();
    for client in clients {
        for (status, body) in client.await.unwrap() {
            total += 1;
            if status != 200 {
                failed.push((status, body));
            }
        }
    }
    println!(
        "kill one of three under 20 clients: {total} requests, {} not 200",
        failed.len()
    );
    assert!(total >= 100, "the load ran: {total} requests");
    assert!(
        failed.is_empty(),
        "a request that failed on the killed instance before it answered goes to another one; {} of {total} failed: {:?}\n{}",
        failed.len(),
        &failed[..failed.len().min(5)],
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_size_overflow_is_the_clients_error_and_names_nothing_internal() {
    let server = start_trio("chunk-overflow", "overflow").await;
    let request = b"POST / HTTP/1.1\r\nHost: overflow.default.example.com\r\n\
        Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
        ffffffffffffffffffff\r\nx\r\n0\r\n\r\n";
    let (status, answer) = raw(&server, request).await;
    println!("chunk-size overflow: {status}\n{answer}");
    assert_eq!(
        status, 400,
        "a request body the client framed wrongly is a 400: {answer}"
    );
    assert!(
        !answer.contains("127.0.0.1") && !answer.contains("talking to"),
        "the answer names no internal address: {answer}"
    );
}

/// A chunked POST to `host` of `chunks` chunks of `size` bytes each, closing after.
fn chunked_post(host: &str, chunks: usize, size: usize) -> Vec<u8> {
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n"
    )
    .into_bytes();
    for _ in 0..chunks {
        request.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        request.extend(std::iter::repeat_n(b'x', size));
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_past_the_waiting_bytes_bound_gets_503_and_the_server_keeps_serving() {
    let config = format!("{FAST_CONFIG}  activator-max-waiting-bytes: \"1024\"\n");
    let server = Knserve::start("chunk-bound", &config).await;
    let yaml = test_app_service(
        "busy",
        &[
            ("autoscaling.knative.dev/min-scale", "1"),
            ("autoscaling.knative.dev/max-scale", "1"),
            ("autoscaling.knative.dev/target-burst-capacity", "-1"),
        ],
        &[("DELAY_MS", "3000")],
        "      containerConcurrency: 1\n",
    );
    server.apply("busy.yaml", &yaml).await;
    server
        .wait_instances("busy-00001", Duration::from_secs(60), |n| n == 1)
        .await;
    let host = "busy.default.example.com";

    // One slow request holds the only slot; the chunked ones that follow must wait.
    let ingress = server.ingress;
    let slow = tokio::spawn(async move { send(ingress, host, "/").await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, answer) = raw(&server, &chunked_post(host, 4, 512)).await;
    println!("2048 chunked bytes while busy, bound 1024: {status}\n{answer}");
    assert_eq!(
        status, 503,
        "a waiting chunked body past the bound is refused: {answer}"
    );
    assert!(
        answer.contains("pending request bytes full") && answer.contains("limit 1024"),
        "the answer names the buffered bytes and the bound: {answer}"
    );
    assert!(
        !slow.is_finished(),
        "the refusal came while the revision was busy"
    );

    // Within the bound, a chunked body waits and is forwarded once the slot frees.
    let (status, answer) = raw(&server, &chunked_post(host, 2, 100)).await;
    println!("200 chunked bytes while busy: {status}\n{answer}");
    assert_eq!(
        status, 200,
        "a chunked body within the bound is served: {answer}"
    );
    let (status, _, body) = slow.await.expect("no panic");
    assert_eq!(
        status, 200,
        "the request holding the slot is served: {body}"
    );
    let (status, _, body) = server.get(host, "/").await;
    assert_eq!(
        status,
        200,
        "the server keeps serving: {body}\n{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_container_concurrency_1_waiting_is_bounded_by_count_and_by_the_revision_timeout() {
    // Knative's activator lets 10,000 requests wait per revision; the bound is set to
    // 20 here so that a test can pass it, and the revision timeout to 3 s.
    let config = format!("{FAST_CONFIG}  activator-max-waiting: \"20\"\n");
    let server = Knserve::start("wait-bound", &config).await;
    let yaml = test_app_service(
        "single",
        &[
            ("autoscaling.knative.dev/min-scale", "1"),
            ("autoscaling.knative.dev/max-scale", "1"),
            ("autoscaling.knative.dev/target-burst-capacity", "-1"),
        ],
        &[("DELAY_MS", "400")],
        "      containerConcurrency: 1\n      timeoutSeconds: 3\n",
    );
    server.apply("single.yaml", &yaml).await;
    server
        .wait_instances("single-00001", Duration::from_secs(60), |n| n == 1)
        .await;
    let host = "single.default.example.com";

    let started = tokio::time::Instant::now();
    let clients: Vec<_> = (0..120)
        .map(|_| {
            let ingress = server.ingress;
            tokio::spawn(async move {
                let (status, _, body) = send(ingress, host, "/").await;
                (status, body, started.elapsed())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for client in clients {
        answers.push(client.await.expect("no panic"));
    }
    let count = |code: u16| answers.iter().filter(|(s, _, _)| *s == code).count();
    let (ok, full, timed_out) = (count(200), count(503), count(504));
    let slowest = answers.iter().map(|(_, _, t)| *t).max().unwrap_or_default();
    println!(
        "120 clients at containerConcurrency 1, 400 ms per request, max-waiting 20, \
         timeout 3 s: {ok} x 200, {full} x 503, {timed_out} x 504, last answer after {slowest:?}"
    );
    assert_eq!(
        ok + full + timed_out,
        answers.len(),
        "only 200, 503 and 504: {answers:?}"
    );
    for (status, body, _) in &answers {
        match status {
            503 => assert!(
                body.contains("pending request queue full"),
                "a 503 names the full queue: {body}"
            ),
            504 => assert!(
                body.contains("activator request timeout"),
                "a 504 names the activator's timeout: {body}"
            ),
            _ => {}
        }
    }
    assert!(ok >= 2, "requests that reach the slot are served: {ok}");
    assert!(
        full >= 120 - 21 - ok,
        "past 20 waiting (and one in flight), the rest are refused at once: {full} x 503"
    );
    assert!(
        timed_out >= 1,
        "requests still waiting at the revision timeout get 504"
    );
    assert!(
        slowest < Duration::from_secs(6),
        "nobody waits much past the 3 s revision timeout: {slowest:?}"
    );
    let (status, _, body) = server.get(host, "/").await;
    assert_eq!(status, 200, "the server keeps serving: {body}");
}
