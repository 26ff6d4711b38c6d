//! What the dashboard ([`crate::admin`], `GET /dashboard`) polls: one snapshot of every
//! revision's scale, load and answers, and the latest cold starts.
//!
//! A snapshot holds the figures of one instant; the page keeps the history it charts.
//! Answer counts are totals since the revision's current instances started (an
//! instance's counts leave with it at scale-down), so the page charts their increase
//! per second and reads a decrease as none.

use std::collections::BTreeMap;

use knserve_core::api::{ConditionStatus, condition_types, find_condition};
use knserve_core::autoscaler::Metric;
use serde::Serialize;

use super::datapath::ColdStartRecord;

/// The dashboard's snapshot (`GET /v1/dashboard`).
#[derive(Debug, Clone, Serialize)]
pub struct Dashboard {
    /// When it was taken, Unix time in milliseconds.
    pub now_unix_ms: u64,
    /// Every revision of every Service, by namespace, Service and name.
    pub revisions: Vec<RevisionPanel>,
    /// The latest cold starts, newest first.
    pub cold_starts: Vec<ColdStartRecord>,
}

/// One revision's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RevisionPanel {
    /// The revision's namespace.
    pub namespace: String,
    /// Its Service.
    pub service: String,
    /// Its name.
    pub name: String,
    /// Its `Ready` condition's status.
    pub ready_condition: ConditionStatus,
    /// Instances that pass their readiness probe.
    pub ready: u32,
    /// Instances the PodAutoscaler asked for (Knative's requested pods).
    pub requested: u32,
    /// What the decider wants, before min/max bounds; `None` before its first decision
    /// with data, and for revisions the KPA does not scale.
    pub desired: Option<u32>,
    /// `concurrency` or `rps`: the metric the figures below are in.
    pub metric: &'static str,
    /// The target per instance.
    pub target: Option<f64>,
    /// The stable-window average (all instances); `None` before the first decision.
    pub stable: Option<f64>,
    /// The panic-window average (all instances).
    pub panic: Option<f64>,
    /// Whether the decider is in panic mode.
    pub panicking: bool,
    /// Requests in the activator for the revision: forwarded or waiting.
    pub activator_requests: u64,
    /// Answers by status, summed over the current instances.
    pub answers: BTreeMap<u16, u64>,
}

impl super::Runtime {
    /// The dashboard's snapshot of this instant.
    pub fn dashboard(&self) -> Dashboard {
        let now_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let cold_starts = self.inner.activator.cold_starts.recent();
        let state = self.inner.lock();
        let mut revisions = Vec::new();
        for ((namespace, service), entry) in &state.services {
            for revision in &entry.set.revisions {
                let key =
                    knserve_core::RevisionKey::new(namespace.as_str(), revision.metadata.name());
                let ready_condition = revision
                    .status
                    .as_ref()
                    .and_then(|s| find_condition(&s.conditions, condition_types::READY))
                    .map_or(ConditionStatus::Unknown, |c| c.status);
                let mut panel = RevisionPanel {
                    namespace: namespace.clone(),
                    service: service.clone(),
                    name: revision.metadata.name().to_owned(),
                    ready_condition,
                    ready: 0,
                    requested: 0,
                    desired: None,
                    metric: "concurrency",
                    target: None,
                    stable: None,
                    panic: None,
                    panicking: false,
                    activator_requests: 0,
                    answers: BTreeMap::new(),
                };
                if let Some(rt) = state.revisions.get(&key) {
                    panel.ready = u32::try_from(rt.ready_addresses().len()).unwrap_or(u32::MAX);
                    panel.requested = rt.target;
                    for instance in &rt.instances {
                        for (code, count) in instance.metrics().counts() {
                            *panel.answers.entry(code).or_default() += count;
                        }
                    }
                }
                if let Some(load) = self.inner.activator.registry.load(&key) {
                    panel.activator_requests = u64::from(load.in_flight) + load.waiting as u64;
                }
                if let Some(figures) = state.kpa.figures(&key) {
                    panel.metric = match figures.metric {
                        Metric::Rps => "rps",
                        _ => "concurrency",
                    };
                    panel.target = Some(figures.target);
                    panel.desired = figures.status.desired;
                    panel.stable = figures.averages.map(|(stable, _)| stable);
                    panel.panic = figures.averages.map(|(_, panic)| panic);
                    panel.panicking = figures.panicking;
                }
                revisions.push(panel);
            }
        }
        Dashboard {
            now_unix_ms,
            revisions,
            cold_starts,
        }
    }
}
