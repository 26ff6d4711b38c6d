//! The autoscaler's in-memory state: one KPA decider and collector per revision, the
//! clock they are told, and the wake-ups that make a decision reach its PA.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, PoisonError};

use knserve_core::autoscaler::{Autoscaler, DeciderStatus, Kpa, ScalingParams, metrics::Stat};
use knserve_core::{RevisionKey, Timestamp};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::debug;

/// What `/metrics` shows of one revision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Gauges {
    /// The PA's `desiredScale` as last written.
    desired: Option<i32>,
    /// The PA's `actualScale` as last written.
    actual: Option<i32>,
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
            inner
                .gauges
                .insert(revision.clone(), Gauges { desired, actual });
        }
    }

    /// The Prometheus text of `/metrics`: per revision, the PA's desired and actual
    /// scale, the decider's desired scale and burst capacity, and panic mode.
    pub fn render_metrics(&self) -> String {
        let inner = self.lock();
        let mut families: [(&str, &str, String); 5] = [
            (
                "knserve_autoscaler_desired_pods",
                "Scale the PA wants (status.desiredScale).",
                String::new(),
            ),
            (
                "knserve_autoscaler_actual_pods",
                "Ready pods (status.actualScale).",
                String::new(),
            ),
            (
                "knserve_autoscaler_decider_desired_pods",
                "The decider's latest desired scale, before bounds and the scale-to-zero gate.",
                String::new(),
            ),
            (
                "knserve_autoscaler_excess_burst_capacity",
                "Excess burst capacity; negative puts the activator in the path.",
                String::new(),
            ),
            (
                "knserve_autoscaler_panic_mode",
                "1 while the decider panics.",
                String::new(),
            ),
        ];
        for (key, gauges) in &inner.gauges {
            let labels = format!("namespace=\"{}\",revision=\"{}\"", key.namespace, key.name);
            let status = inner.kpa.status(key);
            let values = [
                gauges.desired.map(f64::from),
                gauges.actual.map(f64::from),
                status.and_then(|s| s.desired).map(f64::from),
                status.map(|s| f64::from(s.excess_burst_capacity)),
                inner.kpa.panicking(key).map(|p| if p { 1.0 } else { 0.0 }),
            ];
            for ((name, _, out), value) in families.iter_mut().zip(values) {
                if let Some(value) = value {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
        }
        let mut text = String::new();
        for (name, help, samples) in families {
            let _ = write!(text, "# HELP {name} {help}\n# TYPE {name} gauge\n{samples}");
        }
        text
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every method leaves the machines consistent, so a poisoned lock is usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
