//! The multi-revision KPA: one collector and decider per revision.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use super::Autoscaler;
use super::annotations::Metric;
use super::decider::{Decider, DeciderInput};
use super::exposition::DeciderFigures;
use super::metrics::{MetricCollector, NoData, Stat};
use super::params::ScalingParams;
use super::pod_autoscaler::DeciderStatus;
use crate::time::Timestamp;

/// How often the decider runs for every revision.
pub const TICK_INTERVAL: Duration = Duration::from_secs(2);

/// One revision's scaling state.
#[derive(Debug)]
struct Entry {
    params: ScalingParams,
    collector: MetricCollector,
    decider: Decider,
    ready: u32,
    reachable: bool,
    status: DeciderStatus,
    /// The stable and panic averages of the last decision, for metrics.
    averages: Option<(f64, f64)>,
}

impl Entry {
    fn new(now: Timestamp, params: ScalingParams, ready: u32) -> Self {
        Self {
            collector: MetricCollector::new(
                params.stable_window,
                params.panic_window,
                params.algorithm,
                params.has_scrape_target(),
            ),
            decider: Decider::new(now, ready, &params),
            status: DeciderStatus::initial(&params),
            params,
            ready,
            reachable: true,
            averages: None,
        }
    }

    fn update(&mut self, params: ScalingParams) {
        self.collector
            .update(params.stable_window, params.panic_window, params.algorithm);
        self.collector.set_scrape_target(params.has_scrape_target());
        self.decider.update(&params);
        self.params = params;
    }

    /// Runs the decider; returns true when the PA must be reconciled (desired changed,
    /// or the burst capacity changed sign).
    fn decide(&mut self, now: Timestamp) -> bool {
        let averages = match self.params.metric {
            Metric::Rps => self.collector.stable_and_panic_rps(now),
            _ => self.collector.stable_and_panic_concurrency(now),
        };
        let (stable, panic) = match averages {
            Ok(values) => values,
            Err(NoData) => return false, // keep the previous decision
        };
        self.averages = Some((stable, panic));
        let decision = self.decider.decide(
            now,
            &self.params,
            DeciderInput {
                ready: self.ready,
                reachable: self.reachable,
                stable,
                panic,
            },
        );
        let next = DeciderStatus {
            desired: Some(decision.desired),
            excess_burst_capacity: decision.excess_burst_capacity,
        };
        let changed = next.desired != self.status.desired
            || (next.excess_burst_capacity < 0) != (self.status.excess_burst_capacity < 0);
        self.status = next;
        changed
    }
}

/// Knative's KPA over many revisions, keyed by `K` (a namespace/name pair, say).
///
/// Flow: the backend [`upsert`](Autoscaler::upsert)s each revision with its
/// parameters, tells it ready counts and reachability as they change, and feeds stats
/// as they arrive (scraped from instances, pushed by activators); every
/// [`TICK_INTERVAL`] it calls [`tick`](Autoscaler::tick), which decides for every
/// revision and reports those whose PA must be reconciled. A stat with concurrency for a
/// revision whose last decision was zero asks for an immediate decision (a *poke*), so a
/// request arriving at zero does not wait for the next tick.
#[derive(Debug)]
pub struct Kpa<K> {
    // Boxed so the table's spare capacity holds pointers, not whole entries.
    revisions: HashMap<K, Box<Entry>>,
}

impl<K> Default for Kpa<K> {
    fn default() -> Self {
        Self {
            revisions: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> Kpa<K> {
    /// An autoscaler with no revisions.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of revisions being scaled.
    pub fn len(&self) -> usize {
        self.revisions.len()
    }

    /// Whether no revision is being scaled.
    pub fn is_empty(&self) -> bool {
        self.revisions.is_empty()
    }

    /// The parameters a revision is scaled with.
    pub fn params(&self, revision: &K) -> Option<&ScalingParams> {
        self.revisions.get(revision).map(|e| &e.params)
    }

    /// Whether a revision's decider is panicking.
    pub fn panicking(&self, revision: &K) -> Option<bool> {
        self.revisions.get(revision).map(|e| e.decider.panicking())
    }

    /// What a revision's decider last saw and decided, as its metrics show it.
    pub fn figures(&self, revision: &K) -> Option<DeciderFigures> {
        self.revisions.get(revision).map(|e| DeciderFigures {
            metric: e.params.metric.clone(),
            target: e.params.target_value,
            averages: e.averages,
            status: e.status,
            panicking: e.decider.panicking(),
        })
    }
}

impl<K: Eq + Hash + Clone> Autoscaler<K> for Kpa<K> {
    fn upsert(&mut self, now: Timestamp, revision: K, params: ScalingParams, ready: u32) {
        match self.revisions.get_mut(&revision) {
            Some(entry) => entry.update(params),
            None => {
                self.revisions
                    .insert(revision, Box::new(Entry::new(now, params, ready)));
            }
        }
    }

    fn remove(&mut self, revision: &K) -> bool {
        self.revisions.remove(revision).is_some()
    }

    fn observe(&mut self, revision: &K, ready: u32, reachable: bool) {
        if let Some(entry) = self.revisions.get_mut(revision) {
            entry.ready = ready;
            entry.reachable = reachable;
        }
    }

    fn record(&mut self, now: Timestamp, revision: &K, stat: &Stat) -> bool {
        let Some(entry) = self.revisions.get_mut(revision) else {
            return false;
        };
        entry.collector.record(now, stat);
        entry.status.desired == Some(0) && stat.average_concurrent_requests != 0.0
    }

    fn decide(&mut self, now: Timestamp, revision: &K) -> Option<DeciderStatus> {
        let entry = self.revisions.get_mut(revision)?;
        entry.decide(now);
        Some(entry.status)
    }

    fn tick(&mut self, now: Timestamp, changed: &mut Vec<(K, DeciderStatus)>) {
        for (key, entry) in &mut self.revisions {
            if entry.decide(now) {
                changed.push((key.clone(), entry.status));
            }
        }
    }

    fn status(&self, revision: &K) -> Option<DeciderStatus> {
        self.revisions.get(revision).map(|e| e.status)
    }
}
