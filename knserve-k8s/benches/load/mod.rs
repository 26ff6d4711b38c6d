//! A closed-loop HTTP/1.1 load generator over keep-alive loopback connections, and the
//! numbers a load run reports.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, sync::Barrier, time::Instant};

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct Run {
    /// Completed requests with a 2xx answer.
    pub ok: u64,
    /// Requests that failed or answered non-2xx.
    pub errors: u64,
    /// Wall time of the measured phase.
    pub elapsed: Duration,
    /// Per-request latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl Run {
    /// Completed requests per second.
    pub fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of latency, in microseconds.
    pub fn quantile_us(&self, q: f64) -> u32 {
        if self.latencies_us.is_empty() {
            return 0;
        }
        let rank = ((self.latencies_us.len() - 1) as f64 * q).round() as usize;
        self.latencies_us[rank]
    }
}

/// Runs `connections` closed-loop clients against `target` for `warmup` then
/// `duration`, each on its own keep-alive connection sending `GET path` with `host`.
pub async fn run(
    target: SocketAddr,
    host: &str,
    path: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Run {
    let barrier = Arc::new(Barrier::new(connections));
    let start = Instant::now() + Duration::from_millis(50) + warmup;
    let end = start + duration;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let barrier = barrier.clone();
        let host = host.to_owned();
        let path = path.to_owned();
        tasks.push(tokio::spawn(async move {
            client(target, &host, &path, barrier, start, end).await
        }));
    }
    let mut total = Run {
        ok: 0,
        errors: 0,
        elapsed: duration,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        let (ok, errors, latencies) = task.await.expect("client task");
        total.ok += ok;
        total.errors += errors;
        total.latencies_us.extend(latencies);
    }
    total.latencies_us.sort_unstable();
    total
}

async fn client(
    target: SocketAddr,
    host: &str,
    path: &str,
    barrier: Arc<Barrier>,
    start: Instant,
    end: Instant,
) -> (u64, u64, Vec<u32>) {
    let mut sender = connect(target).await;
    barrier.wait().await;
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::with_capacity(1 << 16));
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        let request = Request::get(path)
            .header(header::HOST, host)
            .body(Empty::<Bytes>::new())
            .expect("request");
        let answer = match sender.send_request(request).await {
            Ok(response) => {
                let success = response.status().is_success();
                let body = response.into_body().collect().await;
                success && body.is_ok()
            }
            Err(_) => false,
        };
        if sent < start {
            continue;
        }
        if answer {
            ok += 1;
            latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
        } else {
            errors += 1;
            sender = connect(target).await;
        }
    }
    (ok, errors, latencies)
}

async fn connect(target: SocketAddr) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    let stream = TcpStream::connect(target).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    sender
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // Linux reports in USER_HZ, 100 on every architecture we run on.
    Some(Duration::from_millis(ticks * 10))
}
