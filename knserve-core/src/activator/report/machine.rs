//! The reporter machine: per-revision time-weighted concurrency and arrivals.

use std::{collections::HashMap, sync::Arc, time::Duration};

use crate::{RevisionKey, Timestamp, autoscaler::metrics::Stat};

/// The activator's request statistics for the autoscaler (spec §3.8).
///
/// States: a revision has an entry from its first request until a report finds it
/// with zero average concurrency. An entry integrates `concurrency × Δt` at every
/// in/out event and counts arrivals; [`report`](Self::report) cuts the period and
/// resets the integrals (current concurrency carries over).
///
/// Flow: [`request_in`](Self::request_in) on arrival — for a revision without an entry
/// it returns the *immediate signal* (concurrency 1, count 1) that pokes the autoscaler
/// to scale from zero; [`request_out`](Self::request_out) when the response ends;
/// [`report`](Self::report) every second.
///
/// Guarantees: the next report after an immediate signal subtracts that 1 from both
/// values (each floored at 0) so the request is not counted twice; proxied fields are
/// always 0 (the activator's stats are not "proxied", §8 note (f)); the pod name is
/// the activator's. The average is over the time since the entry was created or last
/// reported, as Knative's `RequestStats` does, so a revision first seen 0.1 s before a
/// report with one request in flight reports concurrency 1, not 0.1.
///
/// Deliberate difference: Knative drops an entry whenever its average was 0, even with
/// a request that arrived at the very instant of the report still in flight; this
/// machine also keeps entries whose current concurrency is above 0, so every
/// `request_out` finds the entry its `request_in` made.
#[derive(Debug, Clone)]
pub struct ConcurrencyReporter {
    pod_name: Arc<str>,
    revisions: HashMap<RevisionKey, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    concurrency: u32,
    /// ∫ concurrency dt over the period, in request-seconds.
    integral: f64,
    /// Time covered by `integral`.
    covered: Duration,
    last_event: Timestamp,
    arrivals: u32,
    /// The immediate signal was sent and must be subtracted from the next report.
    immediate_pending: bool,
}

impl Entry {
    fn new(now: Timestamp) -> Self {
        Self {
            concurrency: 0,
            integral: 0.0,
            covered: Duration::ZERO,
            last_event: now,
            arrivals: 0,
            immediate_pending: true,
        }
    }

    /// Integrates the current concurrency up to `now`; time going backwards adds
    /// nothing.
    fn advance(&mut self, now: Timestamp) {
        let elapsed = now.saturating_since(self.last_event);
        self.integral += f64::from(self.concurrency) * elapsed.as_secs_f64();
        self.covered += elapsed;
        self.last_event = self.last_event.max(now);
    }
    /// Ends the period at `now`: returns the reported concurrency and count (the
    /// immediate signal subtracted, floored at 0) and the raw average, and starts a new
    /// period with the current concurrency.
    fn cut(&mut self, now: Timestamp) -> (f64, f64, f64) {
        self.advance(now);
        let covered = self.covered.as_secs_f64();
        let average = if covered > 0.0 {
            self.integral / covered
        } else {
            0.0
        };
        let adjust = if self.immediate_pending { 1.0 } else { 0.0 };
        let count = f64::from(self.arrivals);
        *self = Self {
            concurrency: self.concurrency,
            immediate_pending: false,
            ..Self::new(now)
        };
        (
            (average - adjust).max(0.0),
            (count - adjust).max(0.0),
            average,
        )
    }
}

impl ConcurrencyReporter {
    /// A reporter whose stats carry `pod_name` (the activator's pod name).
    pub fn new(pod_name: impl Into<Arc<str>>) -> Self {
        Self {
            pod_name: pod_name.into(),
            revisions: HashMap::new(),
        }
    }

    /// Revisions with an entry.
    pub fn tracked(&self) -> usize {
        self.revisions.len()
    }

    /// Requests of `key` in flight now (0 when it has no entry).
    pub fn in_flight(&self, key: &RevisionKey) -> u32 {
        self.revisions.get(key).map_or(0, |e| e.concurrency)
    }

    /// A request for `key` arrived. Returns the immediate signal when `key` had no
    /// entry.
    pub fn request_in(&mut self, now: Timestamp, key: &RevisionKey) -> Option<Stat> {
        let (entry, created) = match self.revisions.get_mut(key) {
            Some(entry) => (entry, false),
            None => {
                let entry = self.revisions.entry(key.clone()).or_insert(Entry::new(now));
                (entry, true)
            }
        };
        entry.advance(now);
        entry.concurrency += 1;
        entry.arrivals += 1;
        created.then(|| self.stat(1.0, 1.0))
    }

    /// A request for `key` finished. Ignored when nothing of `key` is in flight.
    pub fn request_out(&mut self, now: Timestamp, key: &RevisionKey) {
        if let Some(entry) = self.revisions.get_mut(key) {
            entry.advance(now);
            entry.concurrency = entry.concurrency.saturating_sub(1);
        }
    }

    /// Cuts the period: one stat per tracked revision, sorted by key. Revisions whose
    /// average concurrency was 0 (and have nothing in flight) are then forgotten, so
    /// their next request sends the immediate signal again.
    pub fn report(&mut self, now: Timestamp) -> Vec<(RevisionKey, Stat)> {
        let mut cut = Vec::with_capacity(self.revisions.len());
        self.revisions.retain(|key, entry| {
            let (concurrency, count, average) = entry.cut(now);
            cut.push((key.clone(), concurrency, count));
            average > 0.0 || entry.concurrency > 0
        });
        cut.sort_by(|a, b| a.0.cmp(&b.0));
        cut.into_iter()
            .map(|(key, concurrency, count)| (key, self.stat(concurrency, count)))
            .collect()
    }

    fn stat(&self, concurrency: f64, count: f64) -> Stat {
        Stat {
            pod_name: self.pod_name.to_string(),
            average_concurrent_requests: concurrency,
            request_count: count,
            ..Stat::default()
        }
    }
}
