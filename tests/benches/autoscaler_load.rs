//! The autoscaler under load, in simulated time (issue 6, ref/perf-anchors §4.6, §5.3):
//! CPU per 2-second decision tick over N revisions, memory per revision, and stat
//! messages decoded and recorded per second on one core.
//!
//! Run with `taskset -c 1 cargo bench -p knserve-tests --bench autoscaler_load -- --json OUT
//! [--quick] [--ticks T] [--revisions 1000,10000]`; `bench/autoscaler.py` runs it that way
//! and compares it with Knative's Go benchmarks.
//!
//! - **Ticks.** N revisions with 1–10 ready pods each; every pod reports one stat per
//!   simulated second into the [`Kpa`] (timestamp `None`, as the stats endpoint records
//!   them); every 2 simulated seconds one [`Autoscaler::tick`] over all revisions. A full
//!   stable window (60 s) is fed before the first measured tick. Each tick's thread CPU
//!   time (`/proc/thread-self/schedstat`, read after a `sched_yield` so the kernel has
//!   charged the running slice) and wall time are recorded; the reading's own cost,
//!   measured on empty intervals, is subtracted.
//! - **Memory.** A child process per N reads `VmRSS` before and after building N
//!   revisions (windows full), through the [`Kpa`] alone and through the server's
//!   [`Deciders`] (which add the `/metrics` gauges); the difference over N is the cost of
//!   one revision.
//! - **Ingestion.** Activator batches in the real wire format (a JSON array of
//!   [`StatMessage`], as `POST /v1/stats` receives it) decoded with `serde_json` and
//!   recorded: into the [`Kpa`], and through [`Deciders::record`] (lock, clock, lookup),
//!   the server's path minus HTTP. Also the queue-proxy scrape format (the protobuf
//!   `Stat`) decoded and recorded. Rates are messages per CPU second of this thread.

use std::fmt::Write as _;
use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::process::Command;
use std::time::Duration;

use knserve_core::autoscaler::metrics::Stat;
use knserve_core::autoscaler::{Autoscaler, DeciderStatus, Kpa, ScalingParams};
use knserve_core::config::AutoscalerConfig;
use knserve_core::queue::stats::{decode, encode};
use knserve_core::{RevisionKey, Timestamp};
use knserve_k8s::servers::autoscaler::Deciders;
use knserve_k8s::servers::wire::StatMessage;
use serde_json::{Value, json};
use tokio::time::Instant;

/// Seconds of stats fed before the first measured tick: one default stable window.
const HISTORY_SECS: u64 = 60;
/// Simulated seconds between two ticks (Knative's `tickInterval`).
const TICK_SECS: u64 = 2;
/// Where simulated time starts.
const START: Timestamp = Timestamp::from_secs(1_000_000);

fn main() {
    let args = Args::parse();
    if let Some((kind, count)) = &args.memory_child {
        println!("{}", memory_child(kind, *count));
        return;
    }
    let clock = CpuClock::open();
    let overhead = clock.overhead_ns();
    let mut report = String::new();
    let _ = writeln!(
        report,
        "autoscaler_load: {} ticks per N, reading overhead {overhead} ns (subtracted)",
        args.ticks
    );

    let mut ticks = Vec::new();
    for &count in &args.revisions {
        let result = tick_run(&clock, overhead, count, args.ticks);
        let _ = writeln!(
            report,
            "tick N={count:>6}: cpu p50 {:.1} µs p99 {:.1} µs mean {:.1} µs; wall p50 {:.1} µs; \
             {:.0} ns/revision; feed {:.0} ns/record",
            result["cpu_us"]["p50"].as_f64().unwrap_or_default(),
            result["cpu_us"]["p99"].as_f64().unwrap_or_default(),
            result["cpu_us"]["mean"].as_f64().unwrap_or_default(),
            result["wall_us"]["p50"].as_f64().unwrap_or_default(),
            result["cpu_ns_per_revision_p50"]
                .as_f64()
                .unwrap_or_default(),
            result["feed_cpu_ns_per_record"]
                .as_f64()
                .unwrap_or_default(),
        );
        ticks.push(result);
    }

    let mut memory = Vec::new();
    for kind in ["kpa", "deciders"] {
        for &count in &args.revisions {
            let result = memory_run(kind, count);
            let _ = writeln!(
                report,
                "memory {kind:<8} N={count:>6}: {:.0} B/revision (RSS {} → {} KiB)",
                result["bytes_per_revision"].as_f64().unwrap_or_default(),
                result["rss_before_kib"],
                result["rss_after_kib"],
            );
            memory.push(result);
        }
    }

    let ingest_seconds = if args.quick { 0.3 } else { 1.5 };
    let ingest = vec![
        ingest_json(&clock, 100, ingest_seconds, Sink::Kpa),
        ingest_json(&clock, 1024, ingest_seconds, Sink::Kpa),
        ingest_json(&clock, 100, ingest_seconds, Sink::Deciders),
        ingest_json(&clock, 100, ingest_seconds, Sink::DecodeOnly),
        ingest_protobuf(&clock, ingest_seconds, true),
        ingest_protobuf(&clock, ingest_seconds, false),
    ];
    for result in &ingest {
        let _ = writeln!(
            report,
            "ingest {:<40} {:>10.0} msg/s (cpu), {:.0} ns/msg, {} B/msg",
            result["name"].as_str().unwrap_or_default(),
            result["messages_per_cpu_s"].as_f64().unwrap_or_default(),
            result["cpu_ns_per_message"].as_f64().unwrap_or_default(),
            result["bytes_per_message"],
        );
    }

    let record = json!({
        "bench": "autoscaler_load",
        "quick": args.quick,
        "ticks_per_n": args.ticks,
        "tick_secs": TICK_SECS,
        "history_secs": HISTORY_SECS,
        "cpu_clock": "thread CPU time from /proc/thread-self/schedstat after sched_yield",
        "clock_overhead_ns": overhead,
        "affinity": affinity(),
        "tick": ticks,
        "memory": memory,
        "ingest": ingest,
    });
    print!("{report}");
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&record).expect("serialisable");
        std::fs::write(path, text + "\n").unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
}

/// The command line.
#[derive(Debug)]
struct Args {
    json: Option<String>,
    quick: bool,
    ticks: usize,
    revisions: Vec<usize>,
    memory_child: Option<(String, usize)>,
}

impl Args {
    fn parse() -> Self {
        let mut args = Self {
            json: None,
            quick: false,
            ticks: 0,
            revisions: Vec::new(),
            memory_child: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            match arg.as_str() {
                "--json" => args.json = it.next(),
                "--quick" => args.quick = true,
                "--ticks" => args.ticks = number(it.next()),
                "--revisions" => {
                    args.revisions = it
                        .next()
                        .unwrap_or_default()
                        .split(',')
                        .map(|n| number(Some(n.to_owned())))
                        .collect();
                }
                "--memory-child" => {
                    let kind = it.next().unwrap_or_default();
                    args.memory_child = Some((kind, number(it.next())));
                }
                // `cargo bench` passes `--bench`; libtest's other flags mean nothing here.
                _ => {}
            }
        }
        if args.ticks == 0 {
            args.ticks = if args.quick { 100 } else { 150 };
        }
        if args.revisions.is_empty() {
            args.revisions = if args.quick {
                vec![1_000]
            } else {
                vec![1_000, 10_000]
            };
        }
        args
    }
}

fn number(arg: Option<String>) -> usize {
    let arg = arg.unwrap_or_default();
    arg.replace('_', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a number: {arg:?}"))
}

/// This thread's CPU time in nanoseconds, exact to the call: `sched_yield` makes the
/// kernel charge the running slice before `/proc/thread-self/schedstat` is read (its
/// first field, `sum_exec_runtime`, is otherwise only updated at scheduler ticks).
#[derive(Debug)]
struct CpuClock {
    file: File,
}

impl CpuClock {
    fn open() -> Self {
        let file = File::open("/proc/thread-self/schedstat")
            .expect("/proc/thread-self/schedstat (Linux with schedstats)");
        Self { file }
    }

    fn now_ns(&self) -> u64 {
        std::thread::yield_now();
        let mut buf = [0u8; 128];
        let n = self.file.read_at(&mut buf, 0).expect("read schedstat");
        let text = std::str::from_utf8(&buf[..n]).expect("schedstat is ASCII");
        text.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .expect("schedstat's first field")
    }

    /// The median CPU time of an empty interval: what one reading adds to a measurement.
    fn overhead_ns(&self) -> u64 {
        let mut samples: Vec<u64> = (0..200)
            .map(|_| {
                let a = self.now_ns();
                let b = self.now_ns();
                b - a
            })
            .collect();
        samples.sort_unstable();
        samples[samples.len() / 2]
    }
}

/// One simulated revision: its key and how many pods report for it.
#[derive(Debug)]
struct Revision {
    key: RevisionKey,
    pods: u32,
    base: f64,
}

fn population(count: usize) -> Vec<Revision> {
    (0..count)
        .map(|i| Revision {
            key: RevisionKey::new(
                format!("namespace-{}", i % 50),
                format!("service-{i:05}-00001"),
            ),
            pods: (i % 10) as u32 + 1,
            base: ((i * 7) % 100) as f64 / 10.0,
        })
        .collect()
}

/// Scaling parameters as the server derives them from the defaults; container
/// concurrency 0, 10 and 20 in turn.
fn params(i: usize, config: &AutoscalerConfig) -> ScalingParams {
    ScalingParams::from_config((i % 3) as u32 * 10, config)
}

/// A pod's concurrency at second `s`: a per-revision level, a slow wave, and every 17th
/// revision a 5× burst for 10 s out of every 170 s (so some deciders panic and change).
fn load(revision: &Revision, index: usize, pod: u32, s: u64) -> f64 {
    let wave = 1.0 + 0.3 * (((s + u64::from(pod)) % 20) as f64 / 10.0 - 1.0);
    let burst = if (s / 10 + index as u64) % 17 == 0 {
        5.0
    } else {
        1.0
    };
    revision.base * wave * burst
}

fn build_kpa(revisions: &[Revision]) -> Kpa<RevisionKey> {
    let config = AutoscalerConfig::default();
    let mut kpa = Kpa::new();
    for (i, revision) in revisions.iter().enumerate() {
        kpa.upsert(
            START,
            revision.key.clone(),
            params(i, &config),
            revision.pods,
        );
        kpa.observe(&revision.key, revision.pods, true);
    }
    kpa
}

/// Every pod of every revision reports once for second `s`; returns the records made.
fn feed_second(kpa: &mut Kpa<RevisionKey>, revisions: &[Revision], s: u64, stat: &mut Stat) -> u64 {
    let now = START + Duration::from_secs(s);
    let mut records = 0;
    for (i, revision) in revisions.iter().enumerate() {
        for pod in 0..revision.pods {
            let concurrency = load(revision, i, pod, s);
            stat.average_concurrent_requests = concurrency;
            stat.request_count = concurrency * 20.0;
            stat.process_uptime = s as f64;
            kpa.record(now, &revision.key, stat);
            records += 1;
        }
    }
    records
}

fn tick_run(clock: &CpuClock, overhead: u64, count: usize, ticks: usize) -> Value {
    let revisions = population(count);
    let mut kpa = build_kpa(&revisions);
    let mut stat = Stat {
        pod_name: "service-00000-00001-deployment-85d4b7d859-gspjs".into(),
        ..Stat::default()
    };
    for s in 0..HISTORY_SECS {
        feed_second(&mut kpa, &revisions, s, &mut stat);
    }
    let mut changed: Vec<(RevisionKey, DeciderStatus)> = Vec::with_capacity(count);
    let mut cpu_ns = Vec::with_capacity(ticks);
    let mut wall_ns = Vec::with_capacity(ticks);
    let mut changed_total = 0usize;
    let mut feed_cpu = 0u64;
    let mut records = 0u64;
    let process_before = process_cpu_ticks();
    let mut s = HISTORY_SECS;
    for _ in 0..ticks {
        let feed_start = clock.now_ns();
        for _ in 0..TICK_SECS {
            records += feed_second(&mut kpa, &revisions, s, &mut stat);
            s += 1;
        }
        feed_cpu += clock.now_ns() - feed_start;
        let now = START + Duration::from_secs(s);
        changed.clear();
        let cpu_start = clock.now_ns();
        let wall_start = Instant::now();
        kpa.tick(now, &mut changed);
        let wall = wall_start.elapsed();
        let cpu = clock.now_ns() - cpu_start;
        changed_total += changed.len();
        cpu_ns.push(cpu.saturating_sub(overhead));
        wall_ns.push(wall.as_nanos() as u64);
        black_box(&changed);
    }
    let process_ticks = process_cpu_ticks() - process_before;
    let cpu = summary(&cpu_ns);
    json!({
        "revisions": count,
        "pods": revisions.iter().map(|r| u64::from(r.pods)).sum::<u64>(),
        "ticks": ticks,
        "stats_per_tick": records / ticks as u64,
        "cpu_us": cpu,
        "wall_us": summary(&wall_ns),
        "cpu_ns_per_revision_p50": cpu["p50"].as_f64().unwrap_or_default() * 1e3 / count as f64,
        "changed_per_tick_mean": changed_total as f64 / ticks as f64,
        "feed_cpu_ns_per_record": feed_cpu as f64 / records as f64,
        "process_cpu_s_whole_phase": process_ticks as f64 / 100.0,
        "samples_cpu_ns": cpu_ns,
        "samples_wall_ns": wall_ns,
    })
}

/// p50, p99, mean, min and max in microseconds.
fn summary(ns: &[u64]) -> Value {
    let mut sorted = ns.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64 / 1e3;
    let mean = sorted.iter().sum::<u64>() as f64 / sorted.len() as f64 / 1e3;
    json!({
        "p50": at(0.5),
        "p99": at(0.99),
        "mean": mean,
        "min": at(0.0),
        "max": at(1.0),
    })
}

/// utime + stime of this process in clock ticks (USER_HZ, 100 on Linux).
fn process_cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name may hold spaces; the fields after its closing parenthesis are fixed.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `comm`.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn affinity() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Runs this binary again as `--memory-child KIND N`, so each figure starts from a fresh
/// heap.
fn memory_run(kind: &str, count: usize) -> Value {
    let exe = std::env::current_exe().expect("current_exe");
    let output = Command::new(exe)
        .args(["--memory-child", kind, &count.to_string()])
        .output()
        .expect("run the memory child");
    assert!(
        output.status.success(),
        "memory child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the memory child's JSON")
}

fn memory_child(kind: &str, count: usize) -> Value {
    let config = AutoscalerConfig::default();
    let mut stat = Stat {
        pod_name: "service-00000-00001-deployment-85d4b7d859-gspjs".into(),
        ..Stat::default()
    };
    // The population (keys) is built before the first reading: the server holds a key per
    // revision in its caches anyway; the Kpa's own clone of it shares the Arc'd strings.
    let revisions = population(count);
    let before = rss_kib();
    let held: Box<dyn std::any::Any> = match kind {
        "kpa" => {
            let mut kpa = build_kpa(&revisions);
            for s in 0..HISTORY_SECS {
                feed_second(&mut kpa, &revisions, s, &mut stat);
            }
            Box::new(kpa)
        }
        "deciders" => {
            let (deciders, woken) = Deciders::new();
            for (i, revision) in revisions.iter().enumerate() {
                deciders.upsert(&revision.key, params(i, &config), revision.pods, true);
                stat.average_concurrent_requests = revision.base;
                deciders.record(&revision.key, &stat);
            }
            deciders.tick();
            Box::new((deciders, woken))
        }
        other => panic!("unknown memory kind {other:?}"),
    };
    let after = rss_kib();
    black_box(&held);
    json!({
        "kind": kind,
        "revisions": count,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "bytes_per_revision": (after.saturating_sub(before) * 1024) as f64 / count as f64,
    })
}

/// Where decoded activator stats go.
#[derive(Debug, Clone, Copy)]
enum Sink {
    /// Decoded only.
    DecodeOnly,
    /// Recorded into a `Kpa` (simulated time).
    Kpa,
    /// Recorded through the server's `Deciders` (lock, real clock, lookup).
    Deciders,
}

/// Revisions the ingestion benches spread their stats over.
const INGEST_REVISIONS: usize = 10_000;

/// Activator batches of `batch` messages for distinct revisions, as `POST /v1/stats`
/// bodies.
fn activator_batches(revisions: &[Revision], batch: usize) -> Vec<Vec<u8>> {
    revisions
        .chunks(batch)
        .enumerate()
        .map(|(n, chunk)| {
            let messages: Vec<StatMessage> = chunk
                .iter()
                .enumerate()
                .map(|(i, revision)| {
                    let stat = Stat {
                        pod_name: format!("activator-7d9c8b5f6d-{:05}", n % 3),
                        average_concurrent_requests: revision.base + i as f64 * 0.01,
                        average_proxied_concurrent_requests: revision.base,
                        request_count: 120.0 + i as f64,
                        proxied_request_count: 120.0,
                        process_uptime: 3_600.25,
                        timestamp: None,
                    };
                    StatMessage::new(&revision.key, &stat)
                })
                .collect();
            serde_json::to_vec(&messages).expect("serialisable")
        })
        .collect()
}

fn ingest_json(clock: &CpuClock, batch: usize, seconds: f64, sink: Sink) -> Value {
    let revisions = population(INGEST_REVISIONS);
    let bodies = activator_batches(&revisions, batch);
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let per_round = INGEST_REVISIONS as u64;
    let mut kpa = build_kpa(&revisions);
    let (deciders, _woken) = Deciders::new();
    if matches!(sink, Sink::Deciders) {
        let config = AutoscalerConfig::default();
        for (i, revision) in revisions.iter().enumerate() {
            deciders.upsert(&revision.key, params(i, &config), revision.pods, true);
        }
    }
    let mut messages = 0u64;
    let mut recorded = 0u64;
    let mut second = HISTORY_SECS;
    let cpu_start = clock.now_ns();
    let wall_start = Instant::now();
    while wall_start.elapsed().as_secs_f64() < seconds {
        let now = START + Duration::from_secs(second);
        for body in &bodies {
            // What the stats endpoint does with a body: decode, split, record.
            let decoded: Vec<StatMessage> = serde_json::from_slice(body).expect("valid batch");
            for message in decoded {
                match sink {
                    Sink::DecodeOnly => {
                        black_box(&message);
                    }
                    Sink::Kpa => {
                        let (revision, stat) = message.into_parts();
                        kpa.record(now, &revision, &stat);
                        recorded += 1;
                    }
                    Sink::Deciders => {
                        let (revision, stat) = message.into_parts();
                        recorded += u64::from(deciders.record(&revision, &stat));
                    }
                }
            }
        }
        messages += per_round;
        second += 1;
    }
    let wall = wall_start.elapsed();
    let cpu = clock.now_ns() - cpu_start;
    assert!(
        matches!(sink, Sink::DecodeOnly) || recorded == messages,
        "every stat must reach a known revision ({recorded} of {messages})"
    );
    let name = match sink {
        Sink::DecodeOnly => format!("json batch {batch}: decode only"),
        Sink::Kpa => format!("json batch {batch}: decode + Kpa::record"),
        Sink::Deciders => format!("json batch {batch}: decode + Deciders::record"),
    };
    let measured = Measured {
        messages,
        bytes_per_message: bytes / INGEST_REVISIONS,
        cpu_ns: cpu,
        wall,
    };
    measured.record(&name, "json", batch, &format!("{sink:?}"))
}

/// One ingestion run's totals.
#[derive(Debug)]
struct Measured {
    messages: u64,
    bytes_per_message: usize,
    cpu_ns: u64,
    wall: Duration,
}

impl Measured {
    fn record(&self, name: &str, format: &str, batch: usize, sink: &str) -> Value {
        let cpu_s = self.cpu_ns as f64 / 1e9;
        json!({
            "name": name,
            "format": format,
            "batch": batch,
            "sink": sink,
            "messages": self.messages,
            "bytes_per_message": self.bytes_per_message,
            "cpu_s": cpu_s,
            "wall_s": self.wall.as_secs_f64(),
            "messages_per_cpu_s": self.messages as f64 / cpu_s,
            "messages_per_wall_s": self.messages as f64 / self.wall.as_secs_f64(),
            "cpu_ns_per_message": self.cpu_ns as f64 / self.messages as f64,
        })
    }
}

/// The queue-proxy scrape format: one protobuf `Stat` per pod, decoded (and recorded).
fn ingest_protobuf(clock: &CpuClock, seconds: f64, record: bool) -> Value {
    let revisions = population(INGEST_REVISIONS);
    let bodies: Vec<Vec<u8>> = revisions
        .iter()
        .map(|revision| {
            encode(&Stat {
                pod_name: format!("{}-deployment-85d4b7d859-gspjs", revision.key.name),
                average_concurrent_requests: revision.base + 2.3,
                average_proxied_concurrent_requests: 1.2,
                request_count: 122.0,
                proxied_request_count: 12.0,
                process_uptime: 12.2,
                timestamp: None,
            })
        })
        .collect();
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let mut kpa = build_kpa(&revisions);
    let mut messages = 0u64;
    let mut second = HISTORY_SECS;
    let cpu_start = clock.now_ns();
    let wall_start = Instant::now();
    while wall_start.elapsed().as_secs_f64() < seconds {
        let now = START + Duration::from_secs(second);
        for (revision, body) in revisions.iter().zip(&bodies) {
            let stat = decode(body).expect("valid stat");
            if record {
                kpa.record(now, &revision.key, &stat);
            } else {
                black_box(&stat);
            }
        }
        messages += INGEST_REVISIONS as u64;
        second += 1;
    }
    let wall = wall_start.elapsed();
    let cpu = clock.now_ns() - cpu_start;
    let name = if record {
        "protobuf scrape: decode + Kpa::record"
    } else {
        "protobuf scrape: decode only"
    };
    let measured = Measured {
        messages,
        bytes_per_message: bytes / INGEST_REVISIONS,
        cpu_ns: cpu,
        wall,
    };
    let sink = if record { "Kpa" } else { "DecodeOnly" };
    measured.record(name, "protobuf", 1, sink)
}
