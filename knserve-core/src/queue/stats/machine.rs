//! The request-stats accumulator (§4.7) as a pure machine.

use std::time::Duration;

use crate::autoscaler::metrics::Stat;
use crate::time::Timestamp;

/// One pod's request statistics between two reports.
///
/// States: `concurrency` requests are in flight now (`proxied_concurrency` of them came
/// through the activator); since the last report the machine has integrated
/// concurrency × time and counted arrivals. Flow: [`request_in`](Self::request_in) and
/// [`request_out`](Self::request_out) on every event, [`report`](Self::report) once per
/// period. A report divides the integrals by the time since the previous report, divides
/// the arrival counts by the nominal period (per second, as Knative does, even when the
/// driver's tick drifts), resets the accumulators and keeps the current concurrency.
///
/// Guarantees: averages are never negative; an event whose `now` is earlier than the
/// previous one integrates nothing (time does not run backwards); an `out` without a
/// matching `in` cannot push concurrency below zero.
#[derive(Debug, Clone)]
pub struct RequestStats {
    period_secs: f64,
    period_start: Timestamp,
    last_change: Timestamp,
    concurrency: u64,
    proxied_concurrency: u64,
    integral: f64,
    proxied_integral: f64,
    arrivals: u64,
    proxied_arrivals: u64,
}

/// What a [`RequestStats::report`] measured over one period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Report {
    /// Time-averaged requests in flight.
    pub average_concurrency: f64,
    /// Time-averaged requests in flight that came through the activator.
    pub average_proxied_concurrency: f64,
    /// Arrivals per second of the nominal period.
    pub request_count: f64,
    /// Proxied arrivals per second of the nominal period.
    pub proxied_request_count: f64,
}

impl RequestStats {
    /// An idle accumulator starting at `now`, reporting arrivals per `period` (Knative:
    /// 1 s). A zero period reports raw arrival counts rather than dividing by zero.
    pub fn new(now: Timestamp, period: Duration) -> Self {
        let period_secs = period.as_secs_f64();
        Self {
            period_secs: if period_secs > 0.0 { period_secs } else { 1.0 },
            period_start: now,
            last_change: now,
            concurrency: 0,
            proxied_concurrency: 0,
            integral: 0.0,
            proxied_integral: 0.0,
            arrivals: 0,
            proxied_arrivals: 0,
        }
    }

    /// Requests in flight now.
    pub fn concurrency(&self) -> u64 {
        self.concurrency
    }

    /// Proxied requests in flight now.
    pub fn proxied_concurrency(&self) -> u64 {
        self.proxied_concurrency
    }

    /// A request arrived; `proxied` when the activator forwarded it.
    pub fn request_in(&mut self, now: Timestamp, proxied: bool) {
        self.integrate(now);
        self.concurrency += 1;
        self.arrivals += 1;
        if proxied {
            self.proxied_concurrency += 1;
            self.proxied_arrivals += 1;
        }
    }

    /// A request finished; `proxied` as it was when it arrived.
    pub fn request_out(&mut self, now: Timestamp, proxied: bool) {
        self.integrate(now);
        self.concurrency = self.concurrency.saturating_sub(1);
        if proxied {
            self.proxied_concurrency = self.proxied_concurrency.saturating_sub(1);
        }
    }

    /// Cuts the report for the time since the previous one and starts the next period.
    ///
    /// With no time elapsed the averages are 0, as in Knative.
    pub fn report(&mut self, now: Timestamp) -> Report {
        self.integrate(now);
        let elapsed = self
            .last_change
            .saturating_since(self.period_start)
            .as_secs_f64();
        let average = |integral: f64| {
            if elapsed > 0.0 {
                integral / elapsed
            } else {
                0.0
            }
        };
        let report = Report {
            average_concurrency: average(self.integral),
            average_proxied_concurrency: average(self.proxied_integral),
            request_count: self.arrivals as f64 / self.period_secs,
            proxied_request_count: self.proxied_arrivals as f64 / self.period_secs,
        };
        self.period_start = self.last_change;
        self.integral = 0.0;
        self.proxied_integral = 0.0;
        self.arrivals = 0;
        self.proxied_arrivals = 0;
        report
    }

    fn integrate(&mut self, now: Timestamp) {
        if now <= self.last_change {
            return;
        }
        let dt = now.saturating_since(self.last_change).as_secs_f64();
        self.integral += self.concurrency as f64 * dt;
        self.proxied_integral += self.proxied_concurrency as f64 * dt;
        self.last_change = now;
    }
}

impl Report {
    /// The [`Stat`] a queue-proxy publishes for this report. The timestamp is left
    /// unset: the collector stamps a stat when it arrives (§2.5).
    pub fn into_stat(self, pod_name: impl Into<String>, process_uptime: Duration) -> Stat {
        Stat {
            pod_name: pod_name.into(),
            average_concurrent_requests: self.average_concurrency,
            average_proxied_concurrent_requests: self.average_proxied_concurrency,
            request_count: self.request_count,
            proxied_request_count: self.proxied_request_count,
            process_uptime: process_uptime.as_secs_f64(),
            timestamp: None,
        }
    }
}
