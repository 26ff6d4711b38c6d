//! `config-observability`: what knserve reads of it, the tracing keys.

use super::{InvalidConfig, Lookup, Parser};

/// How spans leave the process (`tracing-protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TracingProtocol {
    /// `none`: no spans are recorded (the default). Trace context still passes through
    /// every hop untouched.
    #[default]
    None,
    /// `grpc`: OTLP over gRPC. Knative accepts it; knserve refuses it when the exporter
    /// is built (see [`crate::trace::Tracing::start`]).
    Grpc,
    /// `http/protobuf`: OTLP over HTTP, protobuf-encoded, POSTed to `tracing-endpoint`.
    HttpProtobuf,
    /// `stdout`: every span written to standard output; every trace is sampled.
    Stdout,
}

impl TracingProtocol {
    /// The value as written in the config map.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
            Self::Stdout => "stdout",
        }
    }
}

/// The tracing keys of `config-observability`, as Knative's
/// `knative.dev/pkg/observability/tracing` reads and validates them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TracingConfig {
    /// `tracing-protocol`: `none` (default), `grpc`, `http/protobuf` or `stdout`.
    pub protocol: TracingProtocol,
    /// `tracing-endpoint`: the collector's URL, such as
    /// `http://otel-collector:4318/v1/traces`; required by `grpc` and `http/protobuf`,
    /// refused by `none` and `stdout`. Used exactly as written (no path is added), as
    /// Knative's OTLP exporter uses it.
    pub endpoint: String,
    /// `tracing-sampling-rate`: the share of new traces recorded, 0 to 1 (default 0).
    /// As in Knative, 1 records every request and 0 none, whatever the caller's
    /// `traceparent` says; a rate between them records that share of the traces that
    /// start here and follows the caller's sampled flag for the others.
    pub sampling_rate: f64,
}

impl TracingConfig {
    /// Whether spans are recorded at all.
    pub fn enabled(&self) -> bool {
        self.protocol != TracingProtocol::None
    }
}

/// What knserve reads of `config-observability`. Its other keys (metrics protocols,
/// request logs, profiling) are ignored, as Knative ignores keys it does not know.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservabilityConfig {
    /// The tracing keys.
    pub tracing: TracingConfig,
}

impl ObservabilityConfig {
    /// The map's name.
    pub const NAME: &'static str = "config-observability";
    /// The keys read.
    pub const KEYS: &'static [&'static str] = &[
        "tracing-protocol",
        "tracing-endpoint",
        "tracing-sampling-rate",
    ];

    /// Parses and validates the map as Knative's `tracing.NewFromMap` does; each error
    /// names the key and the rule.
    pub fn from_map<L: Lookup + ?Sized>(data: &L) -> Result<Self, InvalidConfig> {
        let p = Parser::new(Self::NAME, data);
        let protocol = match p.string("tracing-protocol", "none").as_str() {
            "none" => TracingProtocol::None,
            "grpc" => TracingProtocol::Grpc,
            "http/protobuf" => TracingProtocol::HttpProtobuf,
            "stdout" => TracingProtocol::Stdout,
            other => {
                return Err(p.invalid(
                    "tracing-protocol",
                    other,
                    "must be none, grpc, http/protobuf or stdout",
                ));
            }
        };
        let endpoint = p.string("tracing-endpoint", "");
        match protocol {
            TracingProtocol::Grpc | TracingProtocol::HttpProtobuf if endpoint.is_empty() => {
                return Err(p.invalid(
                    "tracing-endpoint",
                    "",
                    format!("must be set for tracing-protocol {}", protocol.as_str()),
                ));
            }
            TracingProtocol::None | TracingProtocol::Stdout if !endpoint.is_empty() => {
                return Err(p.invalid(
                    "tracing-endpoint",
                    endpoint,
                    format!("must not be set for tracing-protocol {}", protocol.as_str()),
                ));
            }
            _ => {}
        }
        let sampling_rate = p.float("tracing-sampling-rate", 0.0)?;
        // `!(0..=1).contains` also refuses NaN, which Go's comparisons let through
        // (and which its sampler would then treat as "never"); refusing it names the
        // mistake instead.
        if !(0.0..=1.0).contains(&sampling_rate) {
            return Err(p.invalid(
                "tracing-sampling-rate",
                p.raw("tracing-sampling-rate").unwrap_or_default(),
                "must be between 0 and 1",
            ));
        }
        Ok(Self {
            tracing: TracingConfig {
                protocol,
                endpoint,
                sampling_rate,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ObservabilityConfig, InvalidConfig> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ObservabilityConfig::from_map(&map)
    }

    #[test]
    fn defaults_are_knatives() {
        let config = parse(&[("metrics-protocol", "prometheus")]).unwrap();
        assert_eq!(config.tracing.protocol, TracingProtocol::None);
        assert_eq!(config.tracing.endpoint, "");
        assert_eq!(config.tracing.sampling_rate, 0.0);
        assert!(!config.tracing.enabled());
    }

    #[test]
    fn reads_an_otlp_http_collector() {
        let config = parse(&[
            ("tracing-protocol", "http/protobuf"),
            ("tracing-endpoint", " http://collector:4318/v1/traces "),
            ("tracing-sampling-rate", "0.25"),
        ])
        .unwrap();
        assert_eq!(config.tracing.protocol, TracingProtocol::HttpProtobuf);
        assert_eq!(config.tracing.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(config.tracing.sampling_rate, 0.25);
    }

    #[test]
    fn refusals_name_the_key_and_rule() {
        for (pairs, key, rule) in [
            (
                &[("tracing-protocol", "zipkin")][..],
                "tracing-protocol",
                "must be none, grpc, http/protobuf or stdout",
            ),
            (
                &[("tracing-protocol", "grpc")][..],
                "tracing-endpoint",
                "must be set for tracing-protocol grpc",
            ),
            (
                &[("tracing-endpoint", "http://c:4318")][..],
                "tracing-endpoint",
                "must not be set for tracing-protocol none",
            ),
            (
                &[
                    ("tracing-protocol", "stdout"),
                    ("tracing-sampling-rate", "1.5"),
                ][..],
                "tracing-sampling-rate",
                "must be between 0 and 1",
            ),
            (
                &[("tracing-sampling-rate", "-0.1")][..],
                "tracing-sampling-rate",
                "must be between 0 and 1",
            ),
            (
                &[("tracing-sampling-rate", "half")][..],
                "tracing-sampling-rate",
                "must be a number",
            ),
        ] {
            let error = parse(pairs).unwrap_err();
            assert_eq!(error.map, "config-observability");
            assert_eq!(error.key, key, "{pairs:?}");
            assert_eq!(error.rule, rule, "{pairs:?}");
        }
    }
}
