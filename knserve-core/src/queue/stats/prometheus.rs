//! The same numbers as the protobuf `Stat`, as Prometheus text (exposition format 0.0.4).

use std::fmt::Write;

use crate::autoscaler::metrics::Stat;

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
    let labels = render_labels(labels);
    let values = [
        stat.request_count,
        stat.proxied_request_count,
        stat.average_concurrent_requests,
        stat.average_proxied_concurrent_requests,
        stat.process_uptime,
    ];
    let mut out = String::new();
    for ((name, help), value) in GAUGES.iter().zip(values) {
        // Writing into a String cannot fail.
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{labels} {}\n",
            sample_value(value)
        );
    }
    out
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
        .collect();
    format!("{{{}}}", pairs.join(","))
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn sample_value(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        value.to_string()
    }
}
