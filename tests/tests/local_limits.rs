//! `knserve serve` end to end at a limit of 1024 open files (`prlimit --nofile=1024:1024`,
//! which also caps the hard limit the server raises its soft limit to): a burst of
//! 2,000 concurrent requests at zero, and a new client while 900 idle keep-alive
//! connections are open. Each test prints the figures it observed.

mod support;

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::Instant,
};

use self::support::{FAST_CONFIG, Knserve, test_app_service};

/// The server's open-files limit in these tests.
const NOFILE: &str = "--nofile=1024:1024";

/// [`FAST_CONFIG`], allowing a revision to start at zero instances.
fn config() -> String {
    FAST_CONFIG.replace(
        "config-autoscaler:\n",
        "config-autoscaler:\n  allow-zero-initial-scale: \"true\"\n",
    )
}

/// This test process opens a few thousand connections: its soft limit goes to its
/// hard one (the server's is set apart, by `prlimit`).
fn raise_own_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    assert!(
        hard >= 4096,
        "the test client needs more than 4096 descriptors (hard limit {hard})"
    );
}

/// A response read off a connection: status and body.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: String,
}

/// Sends `GET /` with `Host: host` on `stream` and reads one response (its body by
/// `content-length`, else to the end), leaving the connection open.
async fn exchange(stream: &mut TcpStream, host: &str, close: bool) -> std::io::Result<Answer> {
    let connection = if close { "close" } else { "keep-alive" };
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: {connection}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::new();
    let mut chunk = [0; 4096];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let mut body = buf[head_end..].to_vec();
    match length {
        Some(length) => {
            while body.len() < length {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                body.extend_from_slice(&chunk[..n]);
            }
        }
        None => {
            stream.read_to_end(&mut body).await?;
        }
    }
    Ok(Answer {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// One request on a new connection, closed after the response.
async fn get_once(address: SocketAddr, host: &str) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(address).await?;
    exchange(&mut stream, host, true).await
}

/// Server log lines containing `needle`.
fn log_lines(server: &Knserve, needle: &str) -> usize {
    std::fs::read_to_string(server.dir.path().join("server.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_1024_descriptors_a_burst_of_2000_at_zero_gets_only_200s_or_503s_naming_the_limit() {
    raise_own_limit();
    let server = Knserve::start_wrapped("fd-burst", &config(), &["prlimit", NOFILE, "--"]).await;
    let yaml = test_app_service(
        "burst",
        &[("autoscaling.knative.dev/initial-scale", "0")],
        &[("DELAY_MS", "200")],
        "",
    );
    server.apply("burst.yaml", &yaml).await;
    assert_eq!(
        server.ready_instances("burst-00001").await,
        0,
        "the burst starts at zero"
    );
    let started = Instant::now();
    let requests: Vec<_> = (0..2000)
        .map(|_| {
            let address = server.ingress;
            tokio::spawn(async move {
                let sent = Instant::now();
                let answer = tokio::time::timeout(
                    Duration::from_secs(90),
                    get_once(address, "burst.default.example.com"),
                )
                .await;
                (answer, sent.elapsed())
            })
        })
        .collect();
    let (mut ok, mut limited, mut slowest) = (0, 0, Duration::ZERO);
    let mut sample = String::new();
    let mut other = Vec::new();
    for request in requests {
        let (answer, took) = request.await.unwrap();
        slowest = slowest.max(took);
        match answer {
            Ok(Ok(Answer { status: 200, .. })) => ok += 1,
            Ok(Ok(Answer { status: 503, body })) if body.contains("RLIMIT_NOFILE") => {
                limited += 1;
                sample = body;
            }
            Ok(Ok(answer)) => other.push(format!("{} {}", answer.status, answer.body.trim())),
            Ok(Err(error)) => other.push(error.to_string()),
            Err(_) => other.push("no answer within 90 s".to_owned()),
        }
    }
    let warnings = log_lines(&server, "for want of resources");
    println!(
        "burst of 2000 at zero, 1024 descriptors: {ok} × 200, {limited} × 503 naming RLIMIT_NOFILE, {} other, in {:?} (slowest {slowest:?}); {warnings} start warnings; {} accept/limit warnings",
        other.len(),
        started.elapsed(),
        log_lines(&server, "connection limit reached") + log_lines(&server, "accept failed"),
    );
    if !sample.is_empty() {
        println!("a 503: {}", sample.trim());
    }
    assert!(
        other.is_empty(),
        "every request gets 200 or a 503 naming the limit: {:?}",
        &other[..other.len().min(5)]
    );
    assert!(ok > 0, "the revision starts and serves");
    assert_eq!(
        log_lines(&server, "revision failing") + log_lines(&server, "InstanceStartFailed"),
        0,
        "running out of descriptors never marks the revision failed:\n{}",
        server.log()
    );
    let burst_seconds = started.elapsed().as_secs() as usize + 1;
    assert!(
        warnings <= burst_seconds + 1,
        "start warnings are limited to one per second for the revision: {warnings} in {burst_seconds} s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_1024_descriptors_a_new_client_is_served_within_1s_while_900_idle_connections_are_open()
{
    raise_own_limit();
    let server = Knserve::start_wrapped("fd-idle", &config(), &["prlimit", NOFILE, "--"]).await;
    let yaml = test_app_service(
        "idle",
        &[("autoscaling.knative.dev/min-scale", "1")],
        &[],
        "",
    );
    server.apply("idle.yaml", &yaml).await;
    let host = "idle.default.example.com";
    let mut idle = Vec::new();
    for _ in 0..900 {
        let mut stream = TcpStream::connect(server.ingress).await.unwrap();
        let answer = exchange(&mut stream, host, false).await.unwrap();
        assert_eq!(answer.status, 200, "{}", answer.body);
        idle.push(stream);
    }
    let sent = Instant::now();
    let answer = get_once(server.ingress, host).await.unwrap();
    let first = sent.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.body);

    // 300 more clients that connect and stay silent push the server past its cap on
    // connections (a tenth of the limit is kept for instances and apps): it sheds idle
    // keep-alive connections — not these, which it has not accepted yet.
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(server.ingress).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(5), get_once(server.ingress, host))
        .await
        .expect("an answer within 5 s")
        .unwrap();
    let second = sent.elapsed();
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut shed = 0;
    for stream in &mut idle {
        let mut byte = [0; 1];
        if let Ok(Ok(0)) =
            tokio::time::timeout(Duration::from_millis(1), stream.read(&mut byte)).await
        {
            shed += 1;
        }
    }
    println!(
        "1024 descriptors, 900 idle keep-alive connections: a new client served in {first:?}; with 300 more silent connections, in {second:?}, {shed} idle connections shed"
    );
    assert!(
        first < Duration::from_secs(1),
        "a new client is served within 1 s beside 900 idle connections: {first:?}"
    );
    assert!(
        second < Duration::from_secs(1),
        "a new client is served within 1 s once the connection cap is reached: {second:?}\n{}",
        server.log()
    );
    assert!(
        shed > 0,
        "reaching the cap sheds idle keep-alive connections\n{}",
        server.log()
    );
}
