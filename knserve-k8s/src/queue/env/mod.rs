//! Knative's queue-proxy environment contract (spec §4.1), read into [`QueueEnv`].

use std::{net::IpAddr, time::Duration};

use knserve_core::{
    config::{Lookup, ObservabilityConfig, TracingConfig},
    duration::parse_duration,
};

/// A variable of the environment contract that is missing or holds a bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {rule} (got {value:?})")]
pub struct EnvError {
    /// The variable's name.
    pub variable: &'static str,
    /// The value it held (empty when missing).
    pub value: String,
    /// The rule it broke.
    pub rule: &'static str,
}

/// The settings the Knative controller gives a queue-proxy container through its
/// environment, plus knserve's own `KNSERVE_QUEUE_*` extensions.
///
/// Compatibility choices: the variables Knative marks required must be present, as in
/// Knative (an empty value is accepted where Knative accepts one); booleans accept Go's
/// `strconv.ParseBool` spellings; `QUEUE_SERVING_TLS_PORT` is required but TLS is not
/// served (no certificates are mounted on the paths this sidecar is run on).
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEnv {
    /// `SERVING_NAMESPACE`: the revision's namespace.
    pub namespace: String,
    /// `SERVING_SERVICE`: the owning Service, if any.
    pub service: Option<String>,
    /// `SERVING_CONFIGURATION`: the owning Configuration.
    pub configuration: String,
    /// `SERVING_REVISION`: the revision's name.
    pub revision: String,
    /// `SERVING_POD`: the pod name reported in autoscaler stats.
    pub pod: String,
    /// `SERVING_POD_IP`: the pod IP (request logs only).
    pub pod_ip: String,
    /// `QUEUE_SERVING_PORT`: the main proxy port (8012, or 8013 for h2c revisions); 0
    /// binds a free port. Every listening port accepts 0 the same way.
    pub serving_port: u16,
    /// `QUEUE_SERVING_TLS_PORT`: the TLS port (read, not served).
    pub tls_port: u16,
    /// `USER_PORT`: the app's port on 127.0.0.1.
    pub user_port: u16,
    /// `CONTAINER_CONCURRENCY`: the hard concurrency limit, 0 for none.
    pub container_concurrency: u32,
    /// `REVISION_TIMEOUT_SECONDS`: the total request timeout.
    pub timeout: Duration,
    /// `REVISION_RESPONSE_START_TIMEOUT_SECONDS`: time to the response headers; 0 = off.
    pub response_start_timeout: Option<Duration>,
    /// `REVISION_IDLE_TIMEOUT_SECONDS`: longest gap between writes; 0 = off.
    pub idle_timeout: Option<Duration>,
    /// `SERVING_READINESS_PROBE`: the user's probe(s) as JSON; `None` = always ready.
    pub readiness_probe: Option<String>,
    /// `SERVING_LOGGING_LEVEL`: `debug`, `info`, `warn`, `error` (Knative's zap levels).
    pub logging_level: String,
    /// `ENABLE_HTTP2_AUTO_DETECTION`: try h2c first when probing.
    pub http2_auto_detection: bool,
    /// `ENABLE_MULTI_CONTAINER_PROBES`: the probe JSON is a list.
    pub multi_container_probes: bool,
    /// `OBSERVABILITY_CONFIG` → `requestMetrics.protocol == "prometheus"`: serve the
    /// user-metrics port.
    pub prometheus_request_metrics: bool,
    /// `OBSERVABILITY_CONFIG` → `tracing` (`protocol`, `endpoint`, `samplingRate`, the
    /// JSON of Knative's `tracing.Config`): the queue-proxy's spans. Off when absent.
    pub tracing: TracingConfig,
    /// `KNSERVE_QUEUE_BIND`: the address every listener binds (default `0.0.0.0`, as
    /// Knative's sidecar; `127.0.0.1` keeps it on loopback).
    pub bind: IpAddr,
    /// `KNSERVE_QUEUE_ADMIN_PORT` (default 8022): `/wait-for-drain`.
    pub admin_port: u16,
    /// `KNSERVE_QUEUE_METRICS_PORT` (default 9090): autoscaler stats.
    pub metrics_port: u16,
    /// `KNSERVE_QUEUE_USER_METRICS_PORT` (default 9091): Prometheus request metrics.
    pub user_metrics_port: u16,
    /// `KNSERVE_QUEUE_DRAIN_QUIET_PERIOD` (Go duration, default `30s`): how long drain
    /// waits with no new request.
    pub drain_quiet_period: Duration,
}

impl QueueEnv {
    /// Reads the contract from the process environment.
    pub fn from_process() -> Result<Self, EnvError> {
        let vars: std::collections::HashMap<String, String> = std::env::vars().collect();
        Self::from_lookup(&vars)
    }

    /// Reads the contract from `env`; the first bad variable is the error.
    pub fn from_lookup(env: &impl Lookup) -> Result<Self, EnvError> {
        let env = Env(env);
        let read = Self {
            namespace: env.required("SERVING_NAMESPACE")?.to_owned(),
            service: env.optional("SERVING_SERVICE").map(str::to_owned),
            configuration: env.required("SERVING_CONFIGURATION")?.to_owned(),
            revision: env.required("SERVING_REVISION")?.to_owned(),
            pod: env.required("SERVING_POD")?.to_owned(),
            pod_ip: env.required("SERVING_POD_IP")?.to_owned(),
            serving_port: env.port("QUEUE_SERVING_PORT", None)?,
            tls_port: env.port("QUEUE_SERVING_TLS_PORT", None)?,
            user_port: env.port("USER_PORT", None)?,
            container_concurrency: env.container_concurrency()?,
            timeout: env.timeout()?,
            response_start_timeout: env.seconds("REVISION_RESPONSE_START_TIMEOUT_SECONDS")?,
            idle_timeout: env.seconds("REVISION_IDLE_TIMEOUT_SECONDS")?,
            readiness_probe: env
                .optional("SERVING_READINESS_PROBE")
                .filter(|v| !v.trim().is_empty())
                .map(str::to_owned),
            logging_level: env.logging_level()?,
            http2_auto_detection: env.boolean("ENABLE_HTTP2_AUTO_DETECTION")?,
            multi_container_probes: env.boolean("ENABLE_MULTI_CONTAINER_PROBES")?,
            prometheus_request_metrics: env.prometheus_request_metrics()?,
            tracing: env.tracing()?,
            bind: env.bind()?,
            admin_port: env.port("KNSERVE_QUEUE_ADMIN_PORT", Some(8022))?,
            metrics_port: env.port("KNSERVE_QUEUE_METRICS_PORT", Some(9090))?,
            user_metrics_port: env.port("KNSERVE_QUEUE_USER_METRICS_PORT", Some(9091))?,
            drain_quiet_period: env.drain_quiet_period()?,
        };
        if read.user_port == read.serving_port {
            return Err(error(
                "USER_PORT",
                &read.user_port.to_string(),
                "must differ from QUEUE_SERVING_PORT (the queue-proxy would proxy to itself)",
            ));
        }
        Ok(read)
    }
}

/// The longest timeout accepted, in seconds: Go's longest `time.Duration` (2^63 − 1
/// ns), all Knative itself can hold. Every deadline `now + timeout` then fits the
/// clock; a larger value would make every request panic computing its deadline.
pub const MAX_TIMEOUT_SECONDS: u64 = 9_223_372_036;

struct Env<'a, L: ?Sized>(&'a L);

impl<L: Lookup + ?Sized> Env<'_, L> {
    fn optional(&self, variable: &str) -> Option<&str> {
        self.0.lookup(variable)
    }

    fn required(&self, variable: &'static str) -> Result<&str, EnvError> {
        self.0
            .lookup(variable)
            .ok_or_else(|| error(variable, "", "required variable is missing"))
    }

    fn port(&self, variable: &'static str, default: Option<u16>) -> Result<u16, EnvError> {
        let value = match (self.0.lookup(variable), default) {
            (Some(value), _) => value,
            (None, Some(default)) => return Ok(default),
            (None, None) => return Err(error(variable, "", "required variable is missing")),
        };
        // A listening port of 0 asks the OS for a free one (the sidecar prints what it
        // bound); the app's port must be a real one.
        let zero_allowed = variable != "USER_PORT";
        match value.trim().parse::<u16>() {
            Ok(0) if !zero_allowed => Err(error(variable, value, "must be a port in 1..=65535")),
            Ok(port) => Ok(port),
            Err(_) => Err(error(variable, value, "must be a port in 1..=65535")),
        }
    }

    fn container_concurrency(&self) -> Result<u32, EnvError> {
        const VAR: &str = "CONTAINER_CONCURRENCY";
        let value = self.required(VAR)?;
        value
            .trim()
            .parse::<u32>()
            .map_err(|_| error(VAR, value, "must be a whole number ≥ 0 (0 = unlimited)"))
    }

    fn timeout(&self) -> Result<Duration, EnvError> {
        const VAR: &str = "REVISION_TIMEOUT_SECONDS";
        let value = self.required(VAR)?;
        match value.trim().parse::<u64>() {
            Ok(seconds) if (1..=MAX_TIMEOUT_SECONDS).contains(&seconds) => {
                Ok(Duration::from_secs(seconds))
            }
            _ => Err(error(
                VAR,
                value,
                "must be a whole number of seconds in 1..=9223372036 (the longest duration Knative can hold)",
            )),
        }
    }

    fn seconds(&self, variable: &'static str) -> Result<Option<Duration>, EnvError> {
        let Some(value) = self.optional(variable) else {
            return Ok(None);
        };
        if value.trim().is_empty() {
            return Ok(None);
        }
        match value.trim().parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(seconds) if seconds <= MAX_TIMEOUT_SECONDS => Ok(Some(Duration::from_secs(seconds))),
            _ => Err(error(
                variable,
                value,
                "must be a whole number of seconds in 0..=9223372036 (the longest duration Knative can hold)",
            )),
        }
    }

    /// Go's `strconv.ParseBool`, which Knative's envconfig uses.
    fn boolean(&self, variable: &'static str) -> Result<bool, EnvError> {
        match self.optional(variable).map(str::trim) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(other) => Err(error(variable, other, "must be true or false")),
        }
    }

    fn logging_level(&self) -> Result<String, EnvError> {
        const VAR: &str = "SERVING_LOGGING_LEVEL";
        let value = self.optional(VAR).unwrap_or("").trim();
        match value {
            "" => Ok("info".to_owned()),
            "debug" | "info" | "warn" | "error" => Ok(value.to_owned()),
            "dpanic" | "panic" | "fatal" => Ok("error".to_owned()),
            other => Err(error(VAR, other, "must be debug, info, warn or error")),
        }
    }

    fn prometheus_request_metrics(&self) -> Result<bool, EnvError> {
        const VAR: &str = "OBSERVABILITY_CONFIG";
        let Some(value) = self.optional(VAR).filter(|v| !v.trim().is_empty()) else {
            return Ok(false);
        };
        let config: serde_json::Value =
            serde_json::from_str(value).map_err(|_| error(VAR, value, "must be a JSON object"))?;
        let protocol = config
            .pointer("/requestMetrics/protocol")
            .and_then(serde_json::Value::as_str);
        Ok(protocol == Some("prometheus"))
    }

    /// The `tracing` object of `OBSERVABILITY_CONFIG`, validated as Knative validates
    /// `config-observability`'s tracing keys.
    fn tracing(&self) -> Result<TracingConfig, EnvError> {
        const VAR: &str = "OBSERVABILITY_CONFIG";
        let Some(value) = self.optional(VAR).filter(|v| !v.trim().is_empty()) else {
            return Ok(TracingConfig::default());
        };
        let config: serde_json::Value =
            serde_json::from_str(value).map_err(|_| error(VAR, value, "must be a JSON object"))?;
        let Some(tracing) = config.get("tracing").filter(|t| !t.is_null()) else {
            return Ok(TracingConfig::default());
        };
        let wrong = || {
            error(
                VAR,
                value,
                "tracing must hold protocol (none, grpc, http/protobuf or stdout), an endpoint exactly when the protocol is grpc or http/protobuf, and a samplingRate between 0 and 1",
            )
        };
        let mut map = std::collections::BTreeMap::new();
        for (field, key) in [
            ("protocol", "tracing-protocol"),
            ("endpoint", "tracing-endpoint"),
        ] {
            match tracing.get(field) {
                None | Some(serde_json::Value::Null) => {}
                Some(serde_json::Value::String(s)) => {
                    map.insert(key.to_owned(), s.clone());
                }
                Some(_) => return Err(wrong()),
            }
        }
        match tracing.get("samplingRate") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Number(n)) => {
                map.insert("tracing-sampling-rate".to_owned(), n.to_string());
            }
            Some(_) => return Err(wrong()),
        }
        ObservabilityConfig::from_map(&map)
            .map(|c| c.tracing)
            .map_err(|_| wrong())
    }

    fn bind(&self) -> Result<IpAddr, EnvError> {
        const VAR: &str = "KNSERVE_QUEUE_BIND";
        match self.optional(VAR) {
            None => Ok(IpAddr::from([0, 0, 0, 0])),
            Some(value) => value
                .trim()
                .parse()
                .map_err(|_| error(VAR, value, "must be an IP address")),
        }
    }

    fn drain_quiet_period(&self) -> Result<Duration, EnvError> {
        const VAR: &str = "KNSERVE_QUEUE_DRAIN_QUIET_PERIOD";
        match self.optional(VAR) {
            None => Ok(Duration::from_secs(30)),
            Some(value) => parse_duration(value.trim())
                .map_err(|_| error(VAR, value, "must be a Go duration such as 30s")),
        }
    }
}

fn error(variable: &'static str, value: &str, rule: &'static str) -> EnvError {
    EnvError {
        variable,
        value: value.to_owned(),
        rule,
    }
}

#[cfg(test)]
mod tests;
