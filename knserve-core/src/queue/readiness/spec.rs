//! Probe specs: what to probe, and how patiently.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use http::{HeaderName, HeaderValue};

use crate::api::{IntOrString, Probe};

/// Why a probe cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// `SERVING_READINESS_PROBE` is not a probe or a list of probes.
    #[error("SERVING_READINESS_PROBE is not a probe or a JSON array of probes: {0}")]
    Json(serde_json::Error),
    /// The probe sets no handler (`httpGet`, `tcpSocket`, `grpc` or `exec`).
    #[error("the readiness probe has no handler")]
    NoHandler,
    /// The probe names a port outside 1–65535.
    #[error("the readiness probe port {0} is out of range")]
    BadPort(i64),
    /// An `httpHeaders` entry is not a valid header.
    #[error("the readiness probe header {0:?} is not a valid HTTP header")]
    BadHeader(String),
}

/// What one probe attempt does. The host is always 127.0.0.1: the probe is re-homed
/// from the user container to the queue-proxy in the same pod (§4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAction {
    /// `GET path` with the user's headers; 200–399 passes.
    Http {
        /// Where to connect.
        address: SocketAddr,
        /// The request path, starting with `/`.
        path: String,
        /// The user's `httpHeaders`.
        headers: Vec<(HeaderName, HeaderValue)>,
    },
    /// A TCP connect that passes when it succeeds.
    Tcp {
        /// Where to connect.
        address: SocketAddr,
    },
}

/// One readiness probe as the queue-proxy runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// What an attempt does.
    pub action: ProbeAction,
    /// The user's `timeoutSeconds` (at least 1 s): the limit of a non-aggressive attempt.
    pub timeout: Duration,
    /// The user's `periodSeconds`; zero asks for aggressive probing.
    pub period: Duration,
    /// Consecutive passes an aggressive check needs (at least 1).
    pub success_threshold: u32,
}

impl ProbeSpec {
    /// The queue-proxy's version of `probe`, for an app listening on `user_port`.
    ///
    /// Choices, after Knative: the host is forced to 127.0.0.1; a port that is unset,
    /// or given by name (Knative only lets a probe name the user's own port), is the
    /// user port. An `exec` probe stays with kubelet and becomes a TCP probe of the
    /// user port here. Two simplifications: a `grpc` probe is a TCP connect to its
    /// port (no gRPC health client in this crate), and an `HTTPS` `httpGet` is a TCP
    /// connect too (no TLS client).
    pub fn from_probe(probe: &Probe, user_port: u16) -> Result<Self, ProbeError> {
        Ok(Self {
            action: action(probe, user_port)?,
            timeout: Duration::from_secs(positive(probe.timeout_seconds).unwrap_or(1)),
            period: Duration::from_secs(positive(probe.period_seconds).unwrap_or(0)),
            success_threshold: positive(probe.success_threshold).map_or(1, |n| n as u32),
        })
    }

    /// A TCP probe of `user_port` in aggressive mode.
    pub fn tcp(user_port: u16) -> Self {
        Self {
            action: ProbeAction::Tcp {
                address: loopback(user_port),
            },
            timeout: Duration::from_secs(1),
            period: Duration::ZERO,
            success_threshold: 1,
        }
    }

    /// Whether the spec asks for aggressive probing (`periodSeconds` 0).
    pub fn is_aggressive(&self) -> bool {
        self.period.is_zero()
    }
}

/// Parses `SERVING_READINESS_PROBE`: one probe object or a JSON array of them (one per
/// container, all of which must pass). Blank means no probe.
pub fn parse_serving_readiness_probe(
    json: &str,
    user_port: u16,
) -> Result<Vec<ProbeSpec>, ProbeError> {
    let json = json.trim();
    let probes: Vec<Probe> = if json.is_empty() {
        Vec::new()
    } else if json.starts_with('[') {
        serde_json::from_str(json).map_err(ProbeError::Json)?
    } else {
        vec![serde_json::from_str(json).map_err(ProbeError::Json)?]
    };
    probes
        .iter()
        .map(|probe| ProbeSpec::from_probe(probe, user_port))
        .collect()
}

fn positive(value: Option<i32>) -> Option<u64> {
    value.filter(|v| *v > 0).map(|v| v as u64)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn action(probe: &Probe, user_port: u16) -> Result<ProbeAction, ProbeError> {
    if let Some(http) = &probe.http_get {
        let address = loopback(port(http.port.as_ref(), user_port)?);
        if http
            .scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("https"))
        {
            return Ok(ProbeAction::Tcp { address });
        }
        let path = http.path.as_deref().unwrap_or("/");
        return Ok(ProbeAction::Http {
            address,
            path: if path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/{path}")
            },
            headers: http_headers(http.extra.get("httpHeaders"))?,
        });
    }
    let port = if let Some(tcp) = &probe.tcp_socket {
        port(tcp.port.as_ref(), user_port)?
    } else if let Some(grpc) = &probe.grpc {
        port(Some(&IntOrString::Int(grpc.port)), user_port)?
    } else if probe.exec.is_some() {
        user_port
    } else {
        return Err(ProbeError::NoHandler);
    };
    Ok(ProbeAction::Tcp {
        address: loopback(port),
    })
}

fn port(port: Option<&IntOrString>, user_port: u16) -> Result<u16, ProbeError> {
    match port {
        None => Ok(user_port),
        Some(port) if port.is_unset() => Ok(user_port),
        Some(port) => match port.as_int() {
            None => Ok(user_port),
            Some(n) => u16::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ProbeError::BadPort(i64::from(n))),
        },
    }
}

fn http_headers(
    value: Option<&serde_json::Value>,
) -> Result<Vec<(HeaderName, HeaderValue)>, ProbeError> {
    let Some(entries) = value else {
        return Ok(Vec::new());
    };
    let entries = entries
        .as_array()
        .ok_or_else(|| ProbeError::BadHeader(entries.to_string()))?;
    entries
        .iter()
        .map(|entry| {
            let text = |key: &str| entry.get(key).and_then(serde_json::Value::as_str);
            let name = text("name").unwrap_or_default();
            let value = text("value").unwrap_or_default();
            let bad = || ProbeError::BadHeader(name.to_owned());
            Ok((
                HeaderName::try_from(name).map_err(|_| bad())?,
                HeaderValue::try_from(value).map_err(|_| bad())?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Vec<ProbeSpec>, ProbeError> {
        parse_serving_readiness_probe(json, 8080)
    }

    #[test]
    fn an_http_probe_goes_to_loopback_on_the_user_port_with_its_headers() {
        let specs = parse(
            r#"{"httpGet":{"path":"healthz","host":"10.0.0.1","port":0,
                "httpHeaders":[{"name":"X-Custom","value":"yes"}]},
                "periodSeconds":5,"timeoutSeconds":3,"successThreshold":2}"#,
        )
        .unwrap();
        let [spec] = specs.as_slice() else {
            panic!("one probe: {specs:?}")
        };
        assert_eq!(
            spec.action,
            ProbeAction::Http {
                address: "127.0.0.1:8080".parse().unwrap(),
                path: "/healthz".into(),
                headers: vec![(
                    HeaderName::from_static("x-custom"),
                    HeaderValue::from_static("yes")
                )],
            },
            "host forced to 127.0.0.1, port to the user port"
        );
        assert_eq!(spec.timeout, Duration::from_secs(3));
        assert_eq!(spec.period, Duration::from_secs(5));
        assert_eq!(spec.success_threshold, 2);
        assert!(!spec.is_aggressive());
    }

    #[test]
    fn a_named_port_is_kept_and_exec_becomes_a_tcp_probe_of_the_user_port() {
        let specs =
            parse(r#"[{"tcpSocket":{"port":9000}},{"exec":{"command":["true"]}}]"#).unwrap();
        assert_eq!(specs.len(), 2, "an array gives one spec per probe");
        assert_eq!(
            specs[0].action,
            ProbeAction::Tcp {
                address: "127.0.0.1:9000".parse().unwrap()
            }
        );
        assert_eq!(
            specs[1],
            ProbeSpec::tcp(8080),
            "exec → TCP of the user port, aggressive"
        );
    }

    #[test]
    fn bad_probes_are_errors_that_name_the_problem() {
        let json = parse("{not json").unwrap_err();
        assert!(matches!(json, ProbeError::Json(_)));
        assert!(
            json.to_string().contains("SERVING_READINESS_PROBE"),
            "{json}"
        );
        assert!(matches!(parse("{}").unwrap_err(), ProbeError::NoHandler));
        assert!(matches!(
            parse(r#"{"tcpSocket":{"port":70000}}"#).unwrap_err(),
            ProbeError::BadPort(70000)
        ));
        let header = parse(r#"{"httpGet":{"httpHeaders":[{"name":"bad name","value":"x"}]}}"#);
        assert!(matches!(header.unwrap_err(), ProbeError::BadHeader(name) if name == "bad name"));
        assert!(parse("  ").unwrap().is_empty(), "blank means no probe");
    }
}
