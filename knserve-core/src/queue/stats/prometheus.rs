//! The same numbers as the protobuf `Stat`, as Prometheus text (exposition format 0.0.4).

use crate::autoscaler::metrics::Stat;
use crate::net::exposition::{Exposition, Labels};

/// The gauges Knative's queue-proxy exports, with their help texts.
const GAUGES: [(&str, &str); 5] = [
    (
        "queue_requests_per_second",
        "Number of requests received since last Stat",
    ),
    (
        "queue_proxied_operations_per_second",
        "Number of proxied requests received since last Stat",
    ),
    (
        "queue_average_concurrent_requests",
        "Number of requests currently being handled by this pod",
    ),
    (
        "queue_average_proxied_concurrent_requests",
        "Number of proxied requests currently being handled by this pod",
    ),
    (
        "process_uptime",
        "The number of seconds that the process has been up",
    ),
];

/// Renders `stat` as Prometheus gauges, each carrying `labels` (Knative uses
/// `destination_namespace`, `destination_configuration`, `destination_revision` and
/// `destination_pod`). Label names must already be valid Prometheus names; values are
/// escaped.
pub fn prometheus_text(stat: &Stat, labels: &[(&str, &str)]) -> String {
    let mut out = Exposition::new();
    write_stat(&mut out, stat, &Labels::new(labels.iter().copied()));
    out.render()
}

/// Adds `stat`'s gauges, with `labels`, to `out`.
pub fn write_stat(out: &mut Exposition, stat: &Stat, labels: &Labels) {
    let values = [
        stat.request_count,
        stat.proxied_request_count,
        stat.average_concurrent_requests,
        stat.average_proxied_concurrent_requests,
        stat.process_uptime,
    ];
    for ((name, help), value) in GAUGES.iter().zip(values) {
        out.gauge(name, help, labels, value);
    }
}
