//! Container probes (Kubernetes `Probe`) and the ports they name.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::meta::Extra;

/// A readiness, liveness or startup probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    /// Probe by running a command in the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    /// Probe with an HTTP GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    /// Probe by opening a TCP connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    /// Probe with the gRPC health protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAction>,
    /// Delay before the first probe, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay_seconds: Option<i32>,
    /// Per-probe timeout, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    /// Interval between probes, in seconds; 0 is Knative's aggressive probing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<i32>,
    /// Consecutive successes to count as passing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<i32>,
    /// Consecutive failures to count as failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<i32>,
    /// Uninterpreted fields (`terminationGracePeriodSeconds`).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Probe {
    /// `periodSeconds`, 0 when unset.
    pub fn period(&self) -> i32 {
        self.period_seconds.unwrap_or(0)
    }

    /// The names of the handlers set (`httpGet`, `tcpSocket`, `exec`, `grpc`).
    pub fn handlers(&self) -> Vec<&'static str> {
        [
            ("httpGet", self.http_get.is_some()),
            ("tcpSocket", self.tcp_socket.is_some()),
            ("exec", self.exec.is_some()),
            ("grpc", self.grpc.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// `exec`: a command whose exit code is the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecAction {
    /// The command line.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `httpGet`: a GET whose 2xx/3xx status passes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpGetAction {
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The port, by number or by the container port's name; unset means the user port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// The host to connect to (the pod IP when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `HTTP` or `HTTPS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// Uninterpreted fields (`httpHeaders`).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `tcpSocket`: a TCP connect that passes when it succeeds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpSocketAction {
    /// The port, by number or name; unset means the user port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<IntOrString>,
    /// The host to connect to (the pod IP when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `grpc`: a gRPC health check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GrpcAction {
    /// The port; 0 means the user port.
    #[serde(default)]
    pub port: i32,
    /// The service name passed in the health request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Uninterpreted fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A port given by number or by name (Kubernetes `IntOrString`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A number.
    Int(i32),
    /// A name (or a number written as a string).
    String(String),
}

impl IntOrString {
    /// The number, when it is one (or a string of digits, as Kubernetes reads it).
    pub fn as_int(&self) -> Option<i32> {
        match self {
            Self::Int(n) => Some(*n),
            Self::String(s) => s.parse().ok(),
        }
    }

    /// True for `0` or `""`, which Knative reads as "the user port".
    pub fn is_unset(&self) -> bool {
        match self {
            Self::Int(n) => *n == 0,
            Self::String(s) => s.is_empty(),
        }
    }
}

impl fmt::Display for IntOrString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::String(s) => f.write_str(s),
        }
    }
}
