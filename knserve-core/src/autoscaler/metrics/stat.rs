//! One sample of a revision's load (§2.5, §4.7).

use crate::time::Timestamp;

/// One report from a queue-proxy, an activator or the scraper.
///
/// "Proxied" fields count the requests that came through the activator, which reports
/// them itself; the collector subtracts them so they are not counted twice.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stat {
    /// The reporting pod (`service-scraper` for an extrapolated scrape).
    pub pod_name: String,
    /// Time-averaged in-flight requests over the report period.
    pub average_concurrent_requests: f64,
    /// The part of `average_concurrent_requests` that came through the activator.
    pub average_proxied_concurrent_requests: f64,
    /// Requests per second over the report period.
    pub request_count: f64,
    /// The part of `request_count` that came through the activator.
    pub proxied_request_count: f64,
    /// Seconds since the reporting process started.
    pub process_uptime: f64,
    /// When the stat was taken; `None` means "when it arrived".
    pub timestamp: Option<Timestamp>,
}

impl Stat {
    /// The concurrency sample the windows record: concurrency minus proxied concurrency.
    pub fn concurrency_sample(&self) -> f64 {
        self.average_concurrent_requests - self.average_proxied_concurrent_requests
    }

    /// The rps sample the windows record: requests minus proxied requests.
    pub fn rps_sample(&self) -> f64 {
        self.request_count - self.proxied_request_count
    }
}
