//! The tracer provider: sampler, exporter and the OTLP client on hyper.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use opentelemetry_http::{HttpClient, HttpError};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::{
    Resource,
    trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider},
};

use super::{Shared, Tracing};
use crate::config::{TracingConfig, TracingProtocol};

/// How long one export may take before it is given up (Knative's OTLP default).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long spans wait in the batch before they are sent. Shorter than the SDK's 5 s
/// so a trace shows up in the collector about as soon as its request is answered.
const BATCH_DELAY: Duration = Duration::from_secs(1);
/// The largest collector answer read (the SDK's own clients' limit).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Why the tracer could not be built; names the `config-observability` key.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `tracing-protocol: grpc`.
    #[error(
        "config-observability: tracing-protocol \"grpc\" is not supported by knserve; use \"http/protobuf\" (OTLP over HTTP, which collectors serve on port 4318)"
    )]
    Grpc,
    /// The endpoint is not a plain `http://` URL.
    #[error("config-observability: tracing-endpoint {endpoint:?} {rule}")]
    Endpoint {
        /// As written.
        endpoint: String,
        /// What is wrong with it.
        rule: &'static str,
    },
    /// No Tokio runtime to run the exporter's requests on.
    #[error("tracing: the exporter must be started inside a Tokio runtime")]
    NoRuntime,
    /// The exporter refused its settings.
    #[error("config-observability: tracing-endpoint: {0}")]
    Exporter(String),
}

pub(super) fn start(config: &TracingConfig, service_name: &str) -> Result<Tracing, StartError> {
    let exporter_processor = match config.protocol {
        TracingProtocol::None => return Ok(Tracing::disabled()),
        TracingProtocol::Grpc => return Err(StartError::Grpc),
        TracingProtocol::Stdout => {
            BatchSpanProcessor::builder(opentelemetry_stdout::SpanExporter::default())
                .with_batch_config(batch_config())
                .build()
        }
        TracingProtocol::HttpProtobuf => {
            let endpoint = http_endpoint(&config.endpoint)?;
            let handle =
                tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(OtlpClient::new(handle))
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(endpoint.to_string())
                .with_timeout(EXPORT_TIMEOUT)
                .build()
                .map_err(|e| StartError::Exporter(e.to_string()))?;
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batch_config())
                .build()
        }
    };
    let provider = SdkTracerProvider::builder()
        .with_span_processor(exporter_processor)
        .with_sampler(sampler(config))
        .with_resource(
            Resource::builder()
                .with_service_name(service_name.to_owned())
                .build(),
        )
        .build();
    Ok(Tracing(Some(Arc::new(Shared::new(provider)))))
}

fn batch_config() -> opentelemetry_sdk::trace::BatchConfig {
    BatchConfigBuilder::default()
        .with_scheduled_delay(BATCH_DELAY)
        .build()
}

/// Knative's sampler (`tracing.sampleFor`): `stdout` and a rate of 1 or more record
/// every trace and a rate of 0 none, whatever the caller's `traceparent` says; a rate
/// in between follows the caller's sampled flag and records that share of the traces
/// that start here.
pub(super) fn sampler(config: &TracingConfig) -> Sampler {
    let rate = config.sampling_rate;
    if config.protocol == TracingProtocol::Stdout || rate >= 1.0 {
        Sampler::AlwaysOn
    } else if rate <= 0.0 {
        Sampler::AlwaysOff
    } else {
        Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(rate)))
    }
}

/// The endpoint as a URI, if it is one the exporter can reach.
fn http_endpoint(endpoint: &str) -> Result<Uri, StartError> {
    let refuse = |rule| StartError::Endpoint {
        endpoint: endpoint.to_owned(),
        rule,
    };
    if !endpoint.contains("://") {
        return Err(refuse(
            "must be an http:// URL such as http://127.0.0.1:4318/v1/traces (without a scheme Knative would use https)",
        ));
    }
    let uri: Uri = endpoint
        .parse()
        .map_err(|_| refuse("must be a URL such as http://127.0.0.1:4318/v1/traces"))?;
    match uri.scheme_str() {
        Some("http") if uri.authority().is_some() => Ok(uri),
        Some("https") => Err(refuse(
            "is https, which knserve's exporter does not speak; use an http:// collector",
        )),
        _ => Err(refuse(
            "must be an http:// URL such as http://127.0.0.1:4318/v1/traces (without a scheme Knative would use https)",
        )),
    }
}

/// The OTLP exporter's HTTP client: hyper's, its requests spawned on the Tokio
/// runtime the tracer was built in, so the SDK's batch thread (which has no runtime)
/// only waits for them.
#[derive(Debug, Clone)]
struct OtlpClient {
    handle: tokio::runtime::Handle,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl OtlpClient {
    fn new(handle: tokio::runtime::Handle) -> Self {
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { handle, client }
    }
}

// The trait is declared with `async_trait`; this is its expansion, written out.
impl HttpClient for OtlpClient {
    fn send_bytes<'client, 'future>(
        &'client self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'future>>
    where
        'client: 'future,
        Self: 'future,
    {
        let client = self.client.clone();
        let exchange = async move {
            let (parts, body) = request.into_parts();
            let response = client
                .request(Request::from_parts(parts, Full::new(body)))
                .await?;
            let (parts, body) = response.into_parts();
            let limited = http_body_util::Limited::new(body, MAX_ANSWER_BYTES);
            let body = limited.collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        let task = self.handle.spawn(exchange);
        Box::pin(async move { task.await? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(protocol: TracingProtocol, rate: f64) -> TracingConfig {
        TracingConfig {
            protocol,
            endpoint: String::new(),
            sampling_rate: rate,
        }
    }

    #[test]
    fn sampler_is_knatives() {
        let http = TracingProtocol::HttpProtobuf;
        assert!(matches!(sampler(&config(http, 1.0)), Sampler::AlwaysOn));
        assert!(matches!(sampler(&config(http, 0.0)), Sampler::AlwaysOff));
        assert!(matches!(
            sampler(&config(TracingProtocol::Stdout, 0.0)),
            Sampler::AlwaysOn
        ));
        assert!(matches!(
            sampler(&config(http, 0.5)),
            Sampler::ParentBased(_)
        ));
    }

    #[test]
    fn endpoints_must_be_plain_http() {
        assert!(http_endpoint("http://127.0.0.1:4318/v1/traces").is_ok());
        for (endpoint, words) in [
            ("https://collector:4318/v1/traces", "is https"),
            ("collector:4318/v1/traces", "without a scheme"),
            ("http://not a url", "must be a URL"),
        ] {
            let error = http_endpoint(endpoint).unwrap_err().to_string();
            assert!(error.contains("tracing-endpoint"), "{error}");
            assert!(error.contains(words), "{endpoint}: {error}");
        }
    }

    #[test]
    fn grpc_and_none() {
        let error = start(&config(TracingProtocol::Grpc, 1.0), "t").unwrap_err();
        assert!(error.to_string().contains("tracing-protocol \"grpc\""));
        let off = start(&config(TracingProtocol::None, 1.0), "t").unwrap();
        assert!(!off.is_enabled());
    }
}
