//! Prometheus request metrics: a [`Histogram`], and [`RequestMetrics`] with the layer
//! that feeds it.

use std::{
    fmt,
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

use super::exposition::{Exposition, Kind, Labels};
use super::{Body, BoxError};

/// Latency bucket bounds in seconds, as Prometheus client libraries default them.
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bucket bounds of `revision_request_latencies`, in milliseconds, as Knative's
/// queue-proxy declares them.
pub const REVISION_LATENCY_BUCKETS_MS: [f64; 26] = [
    5.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 150.0, 200.0, 250.0, 300.0, 350.0, 400.0, 450.0,
    500.0, 600.0, 700.0, 800.0, 900.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0, 100000.0,
];

/// A cumulative histogram of durations with fixed bucket bounds, updated without locks.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Units of `bounds` in one second: 1 for seconds, 1000 for milliseconds.
    per_second: f64,
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// An empty histogram over `bounds` (seconds, ascending).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self::with_unit(bounds, 1.0)
    }

    /// An empty histogram over `bounds` (ascending) in a unit of which one second holds
    /// `per_second` (1000 for milliseconds); sums are rendered in that unit too.
    pub fn with_unit(bounds: &'static [f64], per_second: f64) -> Self {
        Self {
            bounds,
            per_second,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, value: Duration) {
        let scaled = value.as_secs_f64() * self.per_second;
        if let Some(i) = self.bounds.iter().position(|bound| scaled <= *bound) {
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

    /// Adds the histogram's samples to family `name` of `out`.
    pub fn write(
        &self,
        out: &mut Exposition,
        name: &'static str,
        help: &'static str,
        labels: &Labels,
    ) {
        let family = (name, Kind::Histogram, help);
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(self.buckets.iter()) {
            cumulative += bucket.load(Relaxed);
            let le = labels.with("le", &bound.to_string());
            out.sample(family, "_bucket", &le, cumulative as f64);
        }
        let count = self.count() as f64;
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6 * self.per_second;
        out.sample(family, "_bucket", &labels.with("le", "+Inf"), count);
        out.sample(family, "_sum", labels, sum);
        out.sample(family, "_count", labels, count);
    }
}

/// Counts of answered requests by status code and their latency to the response
/// headers, with constant labels (namespace, revision…), under the names Knative's
/// queue-proxy gives them: `revision_request_count_total` (Knative's
/// `revision_request_count` with the `_total` a Prometheus counter's name ends in) and
/// `revision_request_latencies` (milliseconds).
#[derive(Debug)]
pub struct RequestMetrics {
    labels: Labels,
    codes: Box<[AtomicU64]>,
    latency: Histogram,
    in_flight: AtomicU64,
}

/// Status codes are counted in one slot each up to this bound.
const CODES: usize = 600;

impl RequestMetrics {
    /// Metrics with `labels` (name, value) on every series. Values are escaped.
    pub fn new<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> Arc<Self> {
        Self::with_labels(Labels::new(labels))
    }

    /// Metrics with `labels` on every series.
    pub fn with_labels(labels: Labels) -> Arc<Self> {
        Arc::new(Self {
            labels,
            codes: (0..CODES).map(|_| AtomicU64::new(0)).collect(),
            latency: Histogram::with_unit(&REVISION_LATENCY_BUCKETS_MS, 1000.0),
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

    /// Every status answered at least once, with its count, by status.
    pub fn counts(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.codes.iter().enumerate().filter_map(|(code, slot)| {
            let count = slot.load(Relaxed);
            (count > 0).then(|| (u16::try_from(code).unwrap_or(u16::MAX), count))
        })
    }

    /// Adds these metrics' samples to `out`.
    pub fn write(&self, out: &mut Exposition) {
        const COUNT: &str = "revision_request_count_total";
        const COUNT_HELP: &str =
            "The number of requests that are routed to queue-proxy, by response code.";
        out.declare(COUNT, Kind::Counter, COUNT_HELP);
        for (code, count) in self.counts() {
            let code = code.to_string();
            let class = format!("{}xx", &code[..1]);
            let labels = self
                .labels
                .with("response_code", &code)
                .with("response_code_class", &class);
            out.counter(COUNT, COUNT_HELP, &labels, count);
        }
        self.latency.write(
            out,
            "revision_request_latencies",
            "The response time in millisecond, from a request's arrival to its response headers.",
            &self.labels,
        );
        out.gauge(
            "knserve_requests_in_flight",
            "Requests waiting for their response headers.",
            &self.labels,
            self.in_flight.load(Relaxed) as f64,
        );
    }

    /// These metrics alone, in Prometheus text.
    pub fn render(&self) -> String {
        let mut out = Exposition::new();
        self.write(&mut out);
        out.render()
    }
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
        let mut out = Exposition::new();
        let labels = Labels::new([("revision", "r")]);
        histogram.write(&mut out, "cold_start_seconds", "Cold starts.", &labels);
        let out = out.render();
        assert!(
            out.contains("# TYPE cold_start_seconds histogram\n"),
            "{out}"
        );
        assert!(out.contains("cold_start_seconds_bucket{revision=\"r\",le=\"0.1\"} 1\n"));
        assert!(out.contains("cold_start_seconds_bucket{revision=\"r\",le=\"1\"} 2\n"));
        assert!(out.contains("cold_start_seconds_bucket{revision=\"r\",le=\"+Inf\"} 3\n"));
        assert!(out.contains("cold_start_seconds_sum{revision=\"r\"} 3.55\n"));
        assert!(out.contains("cold_start_seconds_count{revision=\"r\"} 3\n"));
    }

    #[test]
    fn request_counts_are_labelled_by_code_and_class_and_latencies_are_in_milliseconds() {
        let metrics = RequestMetrics::new([("revision_name", "hello-00001"), ("pod_name", "a\"b")]);
        metrics.record(200, Duration::from_millis(3));
        metrics.record(200, Duration::from_millis(3));
        metrics.record(503, Duration::from_millis(7));
        let text = metrics.render();
        assert!(text.contains(
            "revision_request_count_total{revision_name=\"hello-00001\",pod_name=\"a\\\"b\",response_code=\"200\",response_code_class=\"2xx\"} 2\n"
        ), "{text}");
        assert!(text.contains("response_code=\"503\",response_code_class=\"5xx\"} 1\n"));
        assert!(
            text.contains("le=\"5\"} 2\n"),
            "3 ms falls in the 5 ms bucket: {text}"
        );
        assert!(text.contains("le=\"10\"} 3\n"), "{text}");
        assert!(text.contains(
            "revision_request_latencies_sum{revision_name=\"hello-00001\",pod_name=\"a\\\"b\"} 13\n"
        ), "{text}");
        assert!(text.contains("knserve_requests_in_flight{"));
    }
}
