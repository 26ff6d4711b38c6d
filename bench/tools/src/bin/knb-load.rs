//! The benchmark's load generator: one thread, HTTP/1.1 keep-alive connections.
//!
//! Closed loop, a fixed number of requests (the callgrind gate):
//!   `knb-load --addr A --path / --connections 1 --requests N`
//! Open loop at a fixed rate (added latency; wrk2-style):
//!   `knb-load --addr A --path / --connections 16 --rate R --seconds S --warmup W`
//! Each connection sends on its own schedule (rate R / connections). Latency is measured
//! from the scheduled send time when the connection was behind schedule (so a slow
//! answer delays and penalises the requests queued behind it: no coordinated omission),
//! and from the actual send time when it was on time (so the 1 ms timer wheel's wake-up
//! slop is not charged to the system under test). Prints one JSON object.

use std::{fmt::Write as _, net::SocketAddr, time::Duration};

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use knserve_bench_tools::{Args, fail, runtime};
use tokio::{net::TcpStream, time::Instant};

#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    non2xx: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.non2xx += other.non2xx;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
    }
}

fn main() {
    let args = Args::from_env();
    let addr = args.addr("addr", None);
    let path: String = args.get("path", Some("/".to_owned()));
    let connections: usize = args.get("connections", Some(1));
    let requests: u64 = args.get("requests", Some(0));
    let rate: f64 = args.get("rate", Some(0.0));
    let seconds: f64 = args.get("seconds", Some(5.0));
    let warmup: f64 = args.get("warmup", Some(1.0));
    if connections == 0 || (requests == 0 && rate <= 0.0) {
        fail("need --connections ≥ 1 and either --requests N or --rate R");
    }
    let (tally, elapsed) = runtime().block_on(async move {
        let mut tasks = Vec::new();
        let launched = Instant::now();
        let begin = Instant::now() + Duration::from_millis(100);
        let start = begin + Duration::from_secs_f64(warmup);
        let end = start + Duration::from_secs_f64(seconds);
        for k in 0..connections {
            let path = path.clone();
            let share = requests / connections as u64
                + u64::from((k as u64) < requests % connections as u64);
            tasks.push(tokio::spawn(async move {
                if rate > 0.0 {
                    let interval = Duration::from_secs_f64(connections as f64 / rate);
                    let first = begin + interval.mul_f64(k as f64 / connections as f64);
                    open(addr, &path, first, interval, start, end).await
                } else {
                    closed(addr, &path, share).await
                }
            }));
        }
        let mut tally = Tally::default();
        for task in tasks {
            tally.merge(task.await.unwrap_or_default());
        }
        let elapsed = if rate > 0.0 {
            end - start
        } else {
            launched.elapsed()
        };
        (tally, elapsed)
    });
    print!("{}", report(tally, elapsed, rate));
}

async fn connect(addr: SocketAddr) -> Option<SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    Some(sender)
}

/// A usable connection: the current one, or a new one when the server closed it
/// between requests (nginx closes keep-alive connections after `keepalive_requests`;
/// like wrk, that is a reconnect, not an error).
async fn ensure(addr: SocketAddr, sender: &mut Option<SendRequest<Empty<Bytes>>>) {
    if let Some(s) = sender.as_mut()
        && !s.is_closed()
        && s.ready().await.is_ok()
    {
        return;
    }
    *sender = connect(addr).await;
}

/// One request; `Some(status is 2xx)` or `None` on a transport error.
async fn once(sender: &mut SendRequest<Empty<Bytes>>, path: &str) -> Option<bool> {
    let request = Request::get(path)
        .header(header::HOST, "hello.default.example.com")
        .body(Empty::new())
        .ok()?;
    let response = sender.send_request(request).await.ok()?;
    let success = response.status().is_success();
    response.into_body().collect().await.ok()?;
    Some(success)
}

async fn closed(addr: SocketAddr, path: &str, requests: u64) -> Tally {
    let mut tally = Tally::default();
    let mut sender = connect(addr).await;
    for _ in 0..requests {
        ensure(addr, &mut sender).await;
        let Some(s) = sender.as_mut() else {
            tally.errors += 1;
            sender = connect(addr).await;
            continue;
        };
        let sent = Instant::now();
        match once(s, path).await {
            Some(success) => {
                tally.latencies_us.push(micros(sent.elapsed()));
                if success {
                    tally.ok += 1
                } else {
                    tally.non2xx += 1
                }
            }
            None => {
                tally.errors += 1;
                sender = connect(addr).await;
            }
        }
    }
    tally
}

async fn open(
    addr: SocketAddr,
    path: &str,
    first: Instant,
    interval: Duration,
    start: Instant,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut sender = connect(addr).await;
    let mut scheduled = first;
    while scheduled < end {
        let behind = Instant::now() >= scheduled;
        if !behind {
            tokio::time::sleep_until(scheduled).await;
        }
        let sent = if behind { scheduled } else { Instant::now() };
        ensure(addr, &mut sender).await;
        let outcome = match sender.as_mut() {
            Some(s) => once(s, path).await,
            None => None,
        };
        if scheduled >= start {
            match outcome {
                Some(true) => tally.ok += 1,
                Some(false) => tally.non2xx += 1,
                None => tally.errors += 1,
            }
            if outcome.is_some() {
                tally.latencies_us.push(micros(sent.elapsed()));
            }
        }
        if outcome.is_none() {
            sender = connect(addr).await;
        }
        scheduled += interval;
    }
    tally
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

fn report(mut tally: Tally, elapsed: Duration, rate: f64) -> String {
    tally.latencies_us.sort_unstable();
    let l = &tally.latencies_us;
    let q = |q: f64| {
        if l.is_empty() {
            0
        } else {
            l[((l.len() - 1) as f64 * q).round() as usize]
        }
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "{{\"ok\":{},\"non2xx\":{},\"errors\":{},\"elapsed_s\":{:.3},\"offered_rps\":{rate},\
         \"achieved_rps\":{:.1},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{},\"hist\":{}}}",
        tally.ok,
        tally.non2xx,
        tally.errors,
        elapsed.as_secs_f64(),
        (tally.ok + tally.non2xx) as f64 / elapsed.as_secs_f64(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(0.999),
        l.last().copied().unwrap_or(0),
        histogram(l)
    );
    out.push('\n');
    out
}

/// Log-spaced histogram (8 buckets per power of two) as `[[upper_us, count], …]`,
/// empty buckets left out: the raw distribution, small enough for the JSON record.
fn histogram(sorted: &[u32]) -> String {
    let mut out = String::from("[");
    let mut i = 0;
    let mut upper = 1.0_f64;
    while i < sorted.len() {
        upper *= 2f64.powf(0.125);
        let bound = upper.ceil() as u32;
        let n = sorted[i..].partition_point(|&v| v <= bound);
        if n > 0 {
            if out.len() > 1 {
                out.push(',');
            }
            let _ = write!(out, "[{bound},{n}]");
            i += n;
        }
    }
    out.push(']');
    out
}
