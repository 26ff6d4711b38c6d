//! Prometheus request metrics: a [`Histogram`], and [`RequestMetrics`] with the layer
//! that feeds it.

use std::{
    fmt::{self, Write as _},
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use tokio::time::Instant;

use super::{Body, BoxError};

/// Latency bucket bounds in seconds, as Prometheus client libraries default them.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A cumulative histogram of durations with fixed bucket bounds, updated without locks.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `bounds` (seconds, ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|bound| seconds <= *bound) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        let micros = u64::try_from(value.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Relaxed);
    }

    /// How many observations were recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Appends the histogram in Prometheus text format; `labels` is either empty or a
    /// comma-separated `key="value"` list.
    pub fn render(&self, out: &mut String, name: &str, help: &str, labels: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(self.buckets.iter()) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count();
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braces = |labels: &str| {
            if labels.is_empty() {
                String::new()
            } else {
                format!("{{{labels}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {sum}", braces(labels));
        let _ = writeln!(out, "{name}_count{} {count}", braces(labels));
    }
}

/// Counts of answered requests by status code and their latency to the response
/// headers, rendered as Prometheus text with constant labels (namespace, revision…).
#[derive(Debug)]
pub struct RequestMetrics {
    labels: String,
    codes: Box<[AtomicU64]>,
    latency: Histogram,
    in_flight: AtomicU64,
}

/// Status codes are counted in one slot each up to this bound.
const CODES: usize = 600;

impl RequestMetrics {
    /// Metrics with `labels` (name, value) on every series. Values are escaped.
    pub fn new<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Arc<Self> {
        let labels = labels
            .into_iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect::<Vec<_>>()
            .join(",");
        Arc::new(Self {
            labels,
            codes: (0..CODES).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::new(&DEFAULT_BUCKETS),
            in_flight: AtomicU64::new(0),
        })
    }

    /// Records an answered request.
    pub fn record(&self, status: u16, latency: Duration) {
        if let Some(slot) = self.codes.get(usize::from(status)) {
            slot.fetch_add(1, Relaxed);
        }
        self.latency.observe(latency);
    }

    /// How many requests were answered with `status`.
    pub fn count(&self, status: u16) -> u64 {
        self.codes
            .get(usize::from(status))
            .map_or(0, |slot| slot.load(Relaxed))
    }

    /// The metrics in Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let labels = &self.labels;
        let sep = if labels.is_empty() { "" } else { "," };
        out.push_str("# HELP knserve_requests_total Requests answered, by status code.\n");
        out.push_str("# TYPE knserve_requests_total counter\n");
        for (code, slot) in self.codes.iter().enumerate() {
            let count = slot.load(Relaxed);
            if count > 0 {
                let class = code / 100;
                let _ = writeln!(
                    out,
                    "knserve_requests_total{{{labels}{sep}code=\"{code}\",code_class=\"{class}xx\"}} {count}"
                );
            }
        }
        self.latency.render(
            &mut out,
            "knserve_request_duration_seconds",
            "Time from a request's arrival to its response headers.",
            labels,
        );
        out.push_str(
            "# HELP knserve_requests_in_flight Requests waiting for their response headers.\n",
        );
        out.push_str("# TYPE knserve_requests_in_flight gauge\n");
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(
            out,
            "knserve_requests_in_flight{braces} {}",
            self.in_flight.load(Relaxed)
        );
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Wraps services with [`Metered`].
#[derive(Clone, Debug)]
pub struct MetricsLayer {
    metrics: Arc<RequestMetrics>,
}

impl MetricsLayer {
    /// A layer recording into `metrics`.
    pub fn new(metrics: Arc<RequestMetrics>) -> Self {
        Self { metrics }
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = Metered<S>;

    fn layer(&self, inner: S) -> Metered<S> {
        Metered {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

/// Records each request's status and time to response headers; an error from the
/// inner service counts as 502, the answer the server gives it.
#[derive(Clone, Debug)]
pub struct Metered<S> {
    inner: S,
    metrics: Arc<RequestMetrics>,
}

impl<S> tower::Service<Request<Body>> for Metered<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = MeteredFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        self.metrics.in_flight.fetch_add(1, Relaxed);
        MeteredFuture {
            inner: Box::pin(self.inner.call(request)),
            metrics: Some(self.metrics.clone()),
            start: Instant::now(),
        }
    }
}

/// The future of [`Metered`].
pub struct MeteredFuture<F> {
    inner: Pin<Box<F>>,
    metrics: Option<Arc<RequestMetrics>>,
    start: Instant,
}

impl<F> fmt::Debug for MeteredFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeteredFuture")
            .field("start", &self.start)
            .finish()
    }
}

impl<F> Future for MeteredFuture<F>
where
    F: Future<Output = Result<Response<Body>, BoxError>>,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let output = std::task::ready!(self.inner.as_mut().poll(cx));
        if let Some(metrics) = self.metrics.take() {
            let status = output.as_ref().map_or(502, |r| r.status().as_u16());
            metrics.record(status, self.start.elapsed());
            metrics.in_flight.fetch_sub(1, Relaxed);
        }
        Poll::Ready(output)
    }
}

impl<F> Drop for MeteredFuture<F> {
    fn drop(&mut self) {
        // A request abandoned before its headers (client gone) leaves the gauge.
        if let Some(metrics) = self.metrics.take() {
            metrics.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_renders_cumulative_buckets_sum_and_count() {
        static BOUNDS: [f64; 2] = [0.1, 1.0];
        let histogram = Histogram::new(&BOUNDS);
        histogram.observe(Duration::from_millis(50));
        histogram.observe(Duration::from_millis(500));
        histogram.observe(Duration::from_secs(3));
        let mut out = String::new();
        histogram.render(
            &mut out,
            "cold_start_seconds",
            "Cold starts.",
            "revision=\"r\"",
        );
        assert!(out.contains("cold_start_seconds_bucket{revision=\"r\",le=\"0.1\"} 1\n"));
        assert!(out.contains("cold_start_seconds_bucket{revision=\"r\",le=\"1\"} 2\n"));
        assert!(out.contains("cold_start_seconds_bucket{revision=\"r\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("cold_start_seconds_sum{revision=\"r\"} 3.55\n"));
        assert!(out.contains("cold_start_seconds_count{revision=\"r\"} 3\n"));
    }

    #[test]
    fn request_counts_are_labelled_by_code_and_class() {
        let metrics = RequestMetrics::new([("revision", "hello-00001"), ("pod", "a\"b")]);
        metrics.record(200, Duration::from_millis(3));
        metrics.record(200, Duration::from_millis(3));
        metrics.record(503, Duration::from_millis(1));
        let text = metrics.render();
        assert!(text.contains(
            "knserve_requests_total{revision=\"hello-00001\",pod=\"a\\\"b\",code=\"200\",code_class=\"2xx\"} 2\n"
        ), "{text}");
        assert!(text.contains("code=\"503\",code_class=\"5xx\"} 1\n"));
        assert!(text.contains(
            "knserve_request_duration_seconds_count{revision=\"hello-00001\",pod=\"a\\\"b\"} 3\n"
        ));
        assert!(text.contains("knserve_requests_in_flight{"));
    }
}
