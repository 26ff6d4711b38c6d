//! The autoscaler's in-memory state: one KPA decider and collector per revision, the
//! clock they are told, and the wake-ups that make a decision reach its PA.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use knserve_core::autoscaler::{
    Autoscaler, DeciderStatus, Kpa, ScalingParams, metrics::Stat, write_autoscaler_metrics,
};
use knserve_core::net::exposition::{Exposition, revision_labels};
use knserve_core::{RevisionKey, Timestamp};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

/// What `/metrics` shows of one revision besides its decider's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Gauges {
    /// The PA's `desiredScale` as last written.
    desired: Option<i32>,
    /// The PA's `actualScale` as last written.
    actual: Option<i32>,
    /// The PA's service and configuration labels, once known.
    owners: Option<(String, String)>,
}

#[derive(Debug, Default)]
struct Inner {
    kpa: Kpa<RevisionKey>,
    gauges: BTreeMap<RevisionKey, Gauges>,
}

/// Every revision's decider, behind one lock, with a monotonic clock whose epoch is
/// this value's creation.
///
/// A decision that changes (on [`tick`](Self::tick)) or a poke (a stat with demand for a
/// revision at zero, on [`record`](Self::record)) sends the revision's key on the wake
/// channel returned by [`new`](Self::new); the controller reconciles that PA.
#[derive(Debug)]
pub struct Deciders {
    inner: Mutex<Inner>,
    epoch: Instant,
    wake: mpsc::UnboundedSender<RevisionKey>,
}

impl Deciders {
    /// Empty deciders and the receiving end of their wake-ups.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<RevisionKey>) {
        let (wake, woken) = mpsc::unbounded_channel();
        let deciders = Self {
            inner: Mutex::default(),
            epoch: Instant::now(),
            wake,
        };
        (deciders, woken)
    }

    /// The machines' time: since this value was created.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_duration(self.epoch.elapsed())
    }

    /// Starts deciding for `revision` (or updates its parameters), with its ready pods
    /// and reachability.
    pub fn upsert(
        &self,
        revision: &RevisionKey,
        params: ScalingParams,
        ready: u32,
        reachable: bool,
    ) {
        let now = self.now();
        let mut inner = self.lock();
        inner.kpa.upsert(now, revision.clone(), params, ready);
        inner.kpa.observe(revision, ready, reachable);
        inner.gauges.entry(revision.clone()).or_default();
    }

    /// Stops deciding for `revision`; false if it was unknown.
    pub fn remove(&self, revision: &RevisionKey) -> bool {
        let mut inner = self.lock();
        inner.gauges.remove(revision);
        inner.kpa.remove(revision)
    }

    /// Keeps only the revisions `keep` says yes to (PAs deleted while this process
    /// was not looking); returns the removed ones.
    pub fn retain(&self, keep: impl Fn(&RevisionKey) -> bool) -> Vec<RevisionKey> {
        let mut inner = self.lock();
        let gone: Vec<RevisionKey> = inner.gauges.keys().filter(|k| !keep(k)).cloned().collect();
        for key in &gone {
            inner.kpa.remove(key);
            inner.gauges.remove(key);
        }
        gone
    }

    /// Records one stat for `revision`, deciding at once on a poke. False when the
    /// revision is not being scaled (the stat is dropped).
    pub fn record(&self, revision: &RevisionKey, stat: &Stat) -> bool {
        let now = self.now();
        let mut inner = self.lock();
        if inner.kpa.params(revision).is_none() {
            return false;
        }
        if inner.kpa.record(now, revision, stat) {
            debug!(%revision, "poked: deciding now");
            inner.kpa.decide(now, revision);
            let _ = self.wake.send(revision.clone());
        }
        true
    }

    /// Runs every decider once and wakes the PAs whose decision changed.
    pub fn tick(&self) {
        let now = self.now();
        let mut changed = Vec::new();
        self.lock().kpa.tick(now, &mut changed);
        for (revision, status) in changed {
            debug!(%revision, desired = ?status.desired, ebc = status.excess_burst_capacity, "scale decision");
            let _ = self.wake.send(revision);
        }
    }

    /// Asks for `revision`'s PA to be reconciled.
    pub fn wake(&self, revision: RevisionKey) {
        let _ = self.wake.send(revision);
    }

    /// The decider's latest status for `revision`.
    pub fn status(&self, revision: &RevisionKey) -> Option<DeciderStatus> {
        self.lock().kpa.status(revision)
    }

    /// Revisions whose pods are scraped (target burst capacity ≠ -1).
    pub fn scrape_targets(&self) -> Vec<RevisionKey> {
        let inner = self.lock();
        inner
            .gauges
            .keys()
            .filter(|k| {
                inner
                    .kpa
                    .params(k)
                    .is_some_and(ScalingParams::has_scrape_target)
            })
            .cloned()
            .collect()
    }

    /// Every revision being scaled.
    pub fn revisions(&self) -> HashSet<RevisionKey> {
        self.lock().gauges.keys().cloned().collect()
    }

    /// Notes what was last written to `revision`'s PA, for `/metrics`.
    pub fn set_scale(&self, revision: &RevisionKey, desired: Option<i32>, actual: Option<i32>) {
        let mut inner = self.lock();
        if inner.kpa.params(revision).is_some() {
            let gauges = inner.gauges.entry(revision.clone()).or_default();
            gauges.desired = desired;
            gauges.actual = actual;
        }
    }

    /// Notes the service and configuration `revision` belongs to (its PA's
    /// `serving.knative.dev/*` labels), which label its series in `/metrics`.
    pub fn set_owners(&self, revision: &RevisionKey, service: &str, configuration: &str) {
        if let Some(gauges) = self.lock().gauges.get_mut(revision) {
            gauges.owners = Some((service.to_owned(), configuration.to_owned()));
        }
    }

    /// The Prometheus text of `/metrics`: per revision, Knative's autoscaler gauges
    /// (see [`write_autoscaler_metrics`]), `autoscaler_requested_pods` and
    /// `autoscaler_actual_pods` being the PA's desired and actual scale as last written.
    pub fn render_metrics(&self) -> String {
        let inner = self.lock();
        let mut out = Exposition::new();
        for (key, gauges) in &inner.gauges {
            let Some(figures) = inner.kpa.figures(key) else {
                continue;
            };
            let (service, configuration) = gauges.owners.clone().unwrap_or_default();
            let labels = revision_labels(&key.namespace, &service, &configuration, &key.name);
            let requested = gauges.desired.map(i64::from);
            let actual = gauges.actual.map(i64::from);
            write_autoscaler_metrics(&mut out, &labels, &figures, requested, actual);
        }
        out.render()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every method leaves the machines consistent, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
