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
