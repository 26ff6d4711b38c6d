//! The autoscaler's per-revision figures under the names Knative's autoscaler exports
//! them (`autoscaler_*`), written by every backend's `/metrics`.

use super::annotations::Metric;
use super::pod_autoscaler::DeciderStatus;
use crate::net::exposition::{Exposition, Labels};

/// What one revision's decider last saw and decided ([`Kpa::figures`](super::Kpa::figures)).
#[derive(Debug, Clone, PartialEq)]
pub struct DeciderFigures {
    /// The scaling metric.
    pub metric: Metric,
    /// The target per instance, in the metric's unit.
    pub target: f64,
    /// The stable- and panic-window averages (revision total) of the last decision;
    /// `None` before the first decision with data.
    pub averages: Option<(f64, f64)>,
    /// The last decision.
    pub status: DeciderStatus,
    /// Whether the decider is in panic mode.
    pub panicking: bool,
}

/// Adds one revision's autoscaler gauges to `out`: the decider's figures, and, where
/// the backend knows them, the scale it asked for (`requested`) and the ready
/// instances (`actual`). A figure not known yet (no decision with data) is left out,
/// as Knative leaves it unrecorded.
///
/// Concurrency-scaled revisions report `autoscaler_{stable,panic}_request_concurrency`
/// and `autoscaler_target_concurrency_per_pod`; RPS-scaled ones
/// `autoscaler_{stable,panic}_requests_per_second` and
/// `autoscaler_target_requests_per_second`, as in Knative.
pub fn write_autoscaler_metrics(
    out: &mut Exposition,
    labels: &Labels,
    figures: &DeciderFigures,
    requested: Option<i64>,
    actual: Option<i64>,
) {
    if let Some(desired) = figures.status.desired {
        out.gauge(
            "autoscaler_desired_pods",
            "Number of pods autoscaler wants to allocate",
            labels,
            f64::from(desired),
        );
    }
    if let Some(requested) = requested {
        let help = "Number of pods autoscaler requested from Kubernetes";
        out.gauge("autoscaler_requested_pods", help, labels, requested as f64);
    }
    if let Some(actual) = actual {
        let help = "Number of pods that are allocated currently";
        out.gauge("autoscaler_actual_pods", help, labels, actual as f64);
    }
    out.gauge(
        "autoscaler_excess_burst_capacity",
        "Excess burst capacity; negative puts the activator in the path",
        labels,
        f64::from(figures.status.excess_burst_capacity),
    );
    let panic = if figures.panicking { 1.0 } else { 0.0 };
    let help = "1 if autoscaler is in panic mode, 0 otherwise";
    out.gauge("autoscaler_panic_mode", help, labels, panic);
    let names = match figures.metric {
        Metric::Rps => [
            (
                "autoscaler_stable_requests_per_second",
                "Requests per second of the revision (all pods) averaged over the stable window",
            ),
            (
                "autoscaler_panic_requests_per_second",
                "Requests per second of the revision (all pods) averaged over the panic window",
            ),
            (
                "autoscaler_target_requests_per_second",
                "The desired requests-per-second for each pod",
            ),
        ],
        _ => [
            (
                "autoscaler_stable_request_concurrency",
                "Concurrent requests of the revision (all pods) averaged over the stable window",
            ),
            (
                "autoscaler_panic_request_concurrency",
                "Concurrent requests of the revision (all pods) averaged over the panic window",
            ),
            (
                "autoscaler_target_concurrency_per_pod",
                "The desired number of concurrent requests for each pod",
            ),
        ],
    };
    if let Some((stable, panic)) = figures.averages {
        out.gauge(names[0].0, names[0].1, labels, stable);
        out.gauge(names[1].0, names[1].1, labels, panic);
    }
    out.gauge(names[2].0, names[2].1, labels, figures.target);
}
