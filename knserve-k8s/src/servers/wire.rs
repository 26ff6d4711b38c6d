//! The messages between the servers: what an activator reports to the autoscaler.
//!
//! Knative's activator streams protobuf over a websocket; ours POSTs JSON batches to
//! [`STATS_PATH`] on the autoscaler's [`AUTOSCALER_PORT`]. Both ends are knserve's own, so
//! the format is ours to choose; JSON keeps it inspectable with curl.

use knserve_core::RevisionKey;
use knserve_core::autoscaler::metrics::Stat;
use serde::{Deserialize, Serialize};

/// The autoscaler's stats endpoint: `POST` a JSON array of [`StatMessage`].
pub const STATS_PATH: &str = "/v1/stats";

/// The port the autoscaler serves [`STATS_PATH`] on (Knative's autoscaler uses 8080 for
/// its stats websocket).
pub const AUTOSCALER_PORT: u16 = 8080;

/// One [`Stat`] for one revision, on the wire. The receiver stamps the arrival time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatMessage {
    /// The revision's namespace.
    pub namespace: String,
    /// The revision's name.
    pub revision: String,
    /// The reporting pod.
    pub pod_name: String,
    /// Time-averaged in-flight requests over the report period.
    pub average_concurrent_requests: f64,
    /// The part of it that came through the activator.
    #[serde(default)]
    pub average_proxied_concurrent_requests: f64,
    /// Requests per second over the report period.
    #[serde(default)]
    pub request_count: f64,
    /// The part of it that came through the activator.
    #[serde(default)]
    pub proxied_request_count: f64,
    /// Seconds since the reporting process started.
    #[serde(default)]
    pub process_uptime: f64,
}

impl StatMessage {
    /// The message for `stat` about revision `key`.
    pub fn new(key: &RevisionKey, stat: &Stat) -> Self {
        Self {
            namespace: key.namespace.to_string(),
            revision: key.name.to_string(),
            pod_name: stat.pod_name.clone(),
            average_concurrent_requests: stat.average_concurrent_requests,
            average_proxied_concurrent_requests: stat.average_proxied_concurrent_requests,
            request_count: stat.request_count,
            proxied_request_count: stat.proxied_request_count,
            process_uptime: stat.process_uptime,
        }
    }

    /// The revision and the stat, timestamped on arrival (`timestamp: None`).
    pub fn into_parts(self) -> (RevisionKey, Stat) {
        let key = RevisionKey::new(self.namespace, self.revision);
        let stat = Stat {
            pod_name: self.pod_name,
            average_concurrent_requests: self.average_concurrent_requests,
            average_proxied_concurrent_requests: self.average_proxied_concurrent_requests,
            request_count: self.request_count,
            proxied_request_count: self.proxied_request_count,
            process_uptime: self.process_uptime,
            timestamp: None,
        };
        (key, stat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_survives_the_wire_except_its_timestamp() {
        let key = RevisionKey::new("default", "hello-00001");
        let stat = Stat {
            pod_name: "activator-1".into(),
            average_concurrent_requests: 3.5,
            request_count: 10.0,
            ..Stat::default()
        };
        let json = serde_json::to_string(&[StatMessage::new(&key, &stat)]).unwrap();
        let back: Vec<StatMessage> = serde_json::from_str(&json).unwrap();
        assert_eq!(back[0].clone().into_parts(), (key, stat));
    }
}
