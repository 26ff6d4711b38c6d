//! The `Autoscaler` seam: what a backend asks of an autoscaler.

use super::metrics::Stat;
use super::params::ScalingParams;
use super::pod_autoscaler::DeciderStatus;
use crate::time::Timestamp;

/// Decides how many instances each revision wants, from the stats it is fed.
///
/// A pure state machine: every method that depends on time takes `now`; nothing reads a
/// clock, spawns or awaits. The backend drives it: it registers revisions, reports their
/// ready counts and reachability, feeds stats, calls [`tick`](Self::tick) every
/// [`TICK_INTERVAL`](super::TICK_INTERVAL), and hands each changed status to the
/// revision's [`PodAutoscaler`](super::PodAutoscaler) to apply.
///
/// # Example
/// [`Kpa`](super::Kpa), Knative's pod autoscaler, with one revision at the default
/// target of 100 concurrent requests per instance:
///
/// ```
/// use knserve_core::{
///     Timestamp,
///     autoscaler::{Autoscaler, Kpa, ScalingParams, metrics::Stat},
///     config::AutoscalerConfig,
/// };
///
/// let mut kpa = Kpa::new();
/// let params = ScalingParams::from_config(0, &AutoscalerConfig::default());
/// kpa.upsert(Timestamp::from_secs(0), "hello-00001", params, 1);
/// let busy = Stat { average_concurrent_requests: 140.0, ..Stat::default() };
/// for t in 0..4 {
///     kpa.record(Timestamp::from_secs(t), &"hello-00001", &busy);
/// }
/// let mut changed = Vec::new();
/// kpa.tick(Timestamp::from_secs(4), &mut changed);
/// assert_eq!(changed.len(), 1, "the first decision is a change");
/// assert_eq!(changed[0].1.desired, Some(2), "140 concurrent requests need 2 instances");
/// ```
pub trait Autoscaler<K> {
    /// Starts scaling `revision` with `ready` instances ready, or applies changed
    /// parameters to a revision already known (its windows keep their data).
    fn upsert(&mut self, now: Timestamp, revision: K, params: ScalingParams, ready: u32);

    /// Stops scaling `revision`; false if it was unknown.
    fn remove(&mut self, revision: &K) -> bool;

    /// Records the revision's ready instances and whether a route can reach it.
    fn observe(&mut self, revision: &K, ready: u32, reachable: bool);

    /// Records one stat (from an instance scrape or an activator push). Returns true
    /// when the revision should be decided at once (a *poke*: demand at zero).
    fn record(&mut self, now: Timestamp, revision: &K, stat: &Stat) -> bool;

    /// Decides for one revision now (after a poke); `None` if it is unknown.
    fn decide(&mut self, now: Timestamp, revision: &K) -> Option<DeciderStatus>;

    /// Decides for every revision; pushes onto `changed` those whose PA must be
    /// reconciled (desired count changed, or excess burst capacity changed sign).
    fn tick(&mut self, now: Timestamp, changed: &mut Vec<(K, DeciderStatus)>);

    /// The last status of a revision's decider.
    fn status(&self, revision: &K) -> Option<DeciderStatus>;
}
