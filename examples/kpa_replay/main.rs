//! Replays a traffic trace through knserve's KPA autoscaler, so you can try autoscaler
//! settings on your own traffic before deploying them.
//!
//! Run with
//! ```text
//! cargo run -p knserve-examples --example kpa_replay -- examples/traces/burst.csv \
//!     --annotation autoscaling.knative.dev/target=10 --config stable-window=30s
//! ```
//!
//! Input: a CSV with header `t_ms,ready_pods,concurrency` (or `t_ms,ready_pods,rps`), one
//! row per second: the revision's total observed value and its ready instances then.
//! `--annotation KEY=VALUE` takes revision annotations (`autoscaling.knative.dev/...`, the
//! prefix may be left out), `--config KEY=VALUE` takes `config-autoscaler` keys, and
//! `--container-concurrency N` sets the revision's `containerConcurrency`.
//!
//! Output: a CSV `t_ms,desired,panic,ebc`, one row per decision tick (every 2 s of trace
//! time on the 2 s grid, the first at the first tick after the first sample): the desired
//! count before min/max bounds (-1 while the decider has no data yet), panic mode as 0/1,
//! and the excess burst capacity.
//!
//! Samples at a tick's own time are recorded before that tick decides.
//!
//! `--plot FILE.svg` (or `FILE.html`, a page embedding the SVG) also draws the replay:
//! the observed value and target × ready above, desired and ready instances below, on
//! one time axis, panic periods shaded and each fall of the desired count to zero marked.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use clap::Parser;
use knserve_core::Timestamp;
use knserve_core::autoscaler::annotations::{ALL, GROUP, METRIC};
use knserve_core::autoscaler::metrics::Stat;
use knserve_core::autoscaler::{
    Autoscaler, AutoscalingAnnotations, DEFAULT_PROGRESS_DEADLINE, Kpa, Metric, ScalingParams,
    TICK_INTERVAL,
};
use knserve_core::config::AutoscalerConfig;

mod plot;

use self::plot::Row;

#[derive(Debug, Parser)]
#[command(about = "Replay a traffic trace through the KPA autoscaler")]
struct Args {
    /// CSV trace: `t_ms,ready_pods,concurrency` or `t_ms,ready_pods,rps`.
    trace: PathBuf,
    /// A revision annotation, `autoscaling.knative.dev/KEY=VALUE` (repeatable).
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// A `config-autoscaler` key, `KEY=VALUE` (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// The revision's containerConcurrency (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    container_concurrency: u32,
    /// Also draw the replay into FILE: `.svg`, or `.html` embedding the SVG.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

/// One row of the trace.
#[derive(Debug, Clone, Copy)]
struct Sample {
    t_ms: u64,
    ready: u32,
    value: f64,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not an error.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The plot's format, from `--plot`'s extension.
#[derive(Debug, Clone, Copy)]
enum PlotFormat {
    Svg,
    Html,
}

fn plot_format(path: &std::path::Path) -> Result<PlotFormat> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => Ok(PlotFormat::Svg),
        Some("html") => Ok(PlotFormat::Html),
        _ => bail!(
            "--plot {}: the file must end in .svg or .html",
            path.display()
        ),
    }
}

fn run(args: Args) -> Result<()> {
    let config = parse_config(&args.config)?;
    let annotations = parse_annotations(&args.annotations)?;
    let plot = match &args.plot {
        Some(path) => Some((path, plot_format(path)?)),
        None => None,
    };
    let (metric, samples) = read_trace(&args.trace)?;
    let params = resolve(&annotations, &config, args.container_concurrency, &metric)?;
    let stdout = std::io::stdout();
    let rows = replay(&params, &samples, &mut stdout.lock())?;
    if let Some((path, format)) = plot {
        let name = args.trace.file_name().map_or_else(
            || args.trace.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let title = format!("kpa_replay {name}");
        let svg = plot::svg(&rows, &title, metric.name(), params.target_value)?;
        let text = match format {
            PlotFormat::Svg => svg,
            PlotFormat::Html => plot::html(&svg, &title),
        };
        std::fs::write(path, text)
            .with_context(|| format!("--plot {}: cannot write", path.display()))?;
    }
    Ok(())
}

fn split_pair(arg: &str, what: &str) -> Result<(String, String)> {
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| anyhow!("{what} {arg:?}: expected KEY=VALUE"))?;
    Ok((key.trim().to_owned(), value.to_owned()))
}

fn parse_config(pairs: &[String]) -> Result<AutoscalerConfig> {
    let mut data = HashMap::new();
    for pair in pairs {
        let (key, value) = split_pair(pair, "--config")?;
        if !AutoscalerConfig::KEYS.contains(&key.as_str()) {
            bail!(
                "--config {key}: unknown config-autoscaler key (known keys: {})",
                AutoscalerConfig::KEYS.join(", ")
            );
        }
        data.insert(key, value);
    }
    Ok(AutoscalerConfig::from_map(&data)?)
}

fn parse_annotations(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut annotations = BTreeMap::new();
    for pair in pairs {
        let (key, value) = split_pair(pair, "--annotation")?;
        let key = if key.contains('/') {
            key
        } else {
            format!("{GROUP}{key}")
        };
        if !ALL
            .iter()
            .any(|a| a.canonical == key || a.legacy == Some(key.as_str()))
        {
            bail!("--annotation {key}: unknown autoscaling annotation");
        }
        annotations.insert(key, value);
    }
    Ok(annotations)
}

/// The parameters, with the trace's metric column standing in for an absent `metric`.
fn resolve(
    annotations: &BTreeMap<String, String>,
    config: &AutoscalerConfig,
    container_concurrency: u32,
    trace_metric: &Metric,
) -> Result<ScalingParams> {
    let parsed = AutoscalingAnnotations::parse(annotations, config).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| format!("--annotation {e}")).collect();
        anyhow!(lines.join("\n"))
    })?;
    let metric = parsed.metric.clone().unwrap_or(Metric::Concurrency);
    if METRIC.get(annotations).is_some() && metric != *trace_metric {
        bail!(
            "--annotation {}={}: the trace's third column is {}",
            METRIC.canonical,
            metric.name(),
            trace_metric.name()
        );
    }
    let parsed = AutoscalingAnnotations {
        metric: Some(trace_metric.clone()),
        ..parsed
    };
    Ok(ScalingParams::resolve(
        &parsed,
        container_concurrency,
        config,
        DEFAULT_PROGRESS_DEADLINE,
    ))
}

fn read_trace(path: &PathBuf) -> Result<(Metric, Vec<Sample>)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let name = path.display();
    let header = reader
        .headers()
        .with_context(|| format!("{name}: line 1: cannot read the header"))?;
    let metric = match header.iter().collect::<Vec<_>>().as_slice() {
        ["t_ms", "ready_pods", "concurrency"] => Metric::Concurrency,
        ["t_ms", "ready_pods", "rps"] => Metric::Rps,
        other => bail!(
            "{name}: line 1: header must be t_ms,ready_pods,concurrency or t_ms,ready_pods,rps, got {:?}",
            other.join(",")
        ),
    };
    let mut samples: Vec<Sample> = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("{name}: malformed row"))?;
        let line = record.position().map_or(0, csv::Position::line);
        let sample =
            parse_row(&record, metric.name()).with_context(|| format!("{name}: line {line}"))?;
        if let Some(last) = samples.last() {
            if sample.t_ms <= last.t_ms {
                bail!(
                    "{name}: line {line}: t_ms must increase, got {} after {}",
                    sample.t_ms,
                    last.t_ms
                );
            }
        }
        samples.push(sample);
    }
    if samples.is_empty() {
        bail!("{name}: the trace has no rows");
    }
    Ok((metric, samples))
}

fn parse_row(record: &csv::StringRecord, metric: &str) -> Result<Sample> {
    if record.len() != 3 {
        bail!(
            "expected 3 columns (t_ms, ready_pods, {metric}), got {}",
            record.len()
        );
    }
    let t_ms = record[0].parse::<u64>().map_err(|_| {
        anyhow!(
            "t_ms: must be a whole number of milliseconds ≥ 0, got {:?}",
            &record[0]
        )
    })?;
    let ready = record[1].parse::<u32>().map_err(|_| {
        anyhow!(
            "ready_pods: must be a whole number ≥ 0, got {:?}",
            &record[1]
        )
    })?;
    let value = record[2]
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| anyhow!("{metric}: must be a number ≥ 0, got {:?}", &record[2]))?;
    Ok(Sample { t_ms, ready, value })
}

/// Feeds the samples to the autoscaler and writes one row per decision tick; returns
/// the ticks with what the trace showed at each.
fn replay(params: &ScalingParams, samples: &[Sample], out: &mut impl Write) -> Result<Vec<Row>> {
    const REVISION: &str = "trace";
    let tick_ms = TICK_INTERVAL.as_millis() as u64;
    let first = samples[0];
    let last_ms = samples[samples.len() - 1].t_ms;
    let mut kpa = Kpa::new();
    kpa.upsert(
        Timestamp::from_millis(first.t_ms),
        REVISION,
        params.clone(),
        first.ready,
    );
    writeln!(out, "t_ms,desired,panic,ebc")?;
    let mut rows = Vec::new();
    let mut seen = first;
    let mut pending = samples.iter().peekable();
    let mut tick = (first.t_ms / tick_ms + 1) * tick_ms;
    while tick <= last_ms {
        let mut ready = None;
        while let Some(sample) = pending.next_if(|s| s.t_ms <= tick) {
            let at = Timestamp::from_millis(sample.t_ms);
            kpa.record(at, &REVISION, &stat(params, sample.value, at));
            ready = Some(sample.ready);
            seen = *sample;
        }
        if let Some(ready) = ready {
            kpa.observe(&REVISION, ready, true);
        }
        let status = kpa
            .decide(Timestamp::from_millis(tick), &REVISION)
            .context("the revision is registered")?;
        let desired = status.desired.map_or(-1, i64::from);
        let panic = u8::from(kpa.panicking(&REVISION).unwrap_or(false));
        writeln!(
            out,
            "{tick},{desired},{panic},{}",
            status.excess_burst_capacity
        )?;
        rows.push(Row {
            t_ms: tick,
            value: seen.value,
            ready: seen.ready,
            desired: status.desired,
            panic: panic == 1,
        });
        tick += tick_ms;
    }
    Ok(rows)
}

/// The stat an instance scrape would report for a whole-revision value.
fn stat(params: &ScalingParams, value: f64, at: Timestamp) -> Stat {
    let mut stat = Stat {
        timestamp: Some(at),
        ..Stat::default()
    };
    match params.metric {
        Metric::Rps => stat.request_count = value,
        _ => stat.average_concurrent_requests = value,
    }
    stat
}
