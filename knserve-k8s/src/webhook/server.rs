//! The HTTPS server: `/defaulting`, `/validation` (AdmissionReview JSON) and `/healthz`.
//!
//! HTTP/1.1 and HTTP/2 (ALPN) over rustls. The serving certificate is read from a
//! [`CertStore`] on every handshake, so a renewal takes effect without a restart; the
//! cluster settings are read from a `watch` channel on every review.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use knserve_core::api::ValidationConfig;

use super::certs::{CertError, WebhookCerts, provider};
use super::review::{ReviewKind, review};

/// Largest AdmissionReview body read (the API server's own request limit is 3 MiB).
pub const MAX_BODY_BYTES: usize = 8 << 20;
/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The serving certificate, swapped in place when it is renewed.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    /// A store serving `certs`.
    pub fn new(certs: &WebhookCerts) -> Result<Arc<Self>, CertError> {
        let key = certs.certified_key(&provider())?;
        Ok(Arc::new(Self {
            current: RwLock::new(Arc::new(key)),
        }))
    }

    /// Serves `certs` from the next handshake on.
    pub fn replace(&self, certs: &WebhookCerts) -> Result<(), CertError> {
        let key = Arc::new(certs.certified_key(&provider())?);
        match self.current.write() {
            Ok(mut current) => *current = key,
            Err(poisoned) => *poisoned.into_inner() = key,
        }
        Ok(())
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match self.current.read() {
            Ok(key) => Some(Arc::clone(&key)),
            Err(poisoned) => Some(Arc::clone(&poisoned.into_inner())),
        }
    }
}

/// The rustls configuration: TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`.
pub fn tls_config(certs: Arc<CertStore>) -> Result<Arc<ServerConfig>, CertError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A running webhook server (the form tests start); stops when dropped.
#[derive(Debug)]
pub struct Serving {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` and serves in a background task; no cluster needed.
pub async fn start(
    addr: SocketAddr,
    certs: Arc<CertStore>,
    config: watch::Receiver<ValidationConfig>,
) -> anyhow::Result<Serving> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let tls = tls_config(certs)?;
    let task = tokio::spawn(serve(listener, tls, config));
    Ok(Serving { addr, task })
}

/// Accepts connections on `listener` forever, each served on its own task.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    config: watch::Receiver<ValidationConfig>,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(%error, "webhook accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (acceptor, config) = (acceptor.clone(), config.clone());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(error)) => return debug!(%peer, %error, "webhook TLS handshake failed"),
                Err(_) => return debug!(%peer, "webhook TLS handshake timed out"),
            };
            let service = service_fn(move |request| handle(request, config.clone()));
            let builder = auto::Builder::new(TokioExecutor::new());
            if let Err(error) = builder
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(%peer, %error, "webhook connection ended");
            }
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    config: watch::Receiver<ValidationConfig>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let kind = match (request.method(), request.uri().path()) {
        (&Method::GET, "/healthz") => return Ok(reply(StatusCode::OK, "text/plain", "ok")),
        (&Method::POST, "/defaulting") => ReviewKind::Mutate,
        (&Method::POST, "/validation") => ReviewKind::Validate,
        _ => return Ok(reply(StatusCode::NOT_FOUND, "text/plain", "not found")),
    };
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            let message = format!("reading the AdmissionReview: {error}");
            let (status, body) = invalid(&message);
            return Ok(reply(status, "application/json", body));
        }
    };
    let (status, body) = answer(&body, &config.borrow(), kind);
    Ok(reply(status, "application/json", body))
}

/// The HTTP answer to one AdmissionReview body: 200 with the response review, or 400
/// with an `invalid` review naming what is wrong with the body.
pub fn answer(body: &[u8], config: &ValidationConfig, kind: ReviewKind) -> (StatusCode, Vec<u8>) {
    let review_in: AdmissionReview<DynamicObject> = match serde_json::from_slice(body) {
        Ok(review_in) => review_in,
        Err(error) => return invalid(&format!("decoding the AdmissionReview: {error}")),
    };
    let request: AdmissionRequest<DynamicObject> = match review_in.try_into() {
        Ok(request) => request,
        Err(_) => return invalid("the AdmissionReview carries no request"),
    };
    let response = review(&request, config, kind);
    debug!(
        uid = %request.uid,
        kind = %request.kind.kind,
        name = %request.name,
        allowed = response.allowed,
        "admission review"
    );
    encode(StatusCode::OK, response)
}

fn invalid(message: &str) -> (StatusCode, Vec<u8>) {
    let mut response = AdmissionResponse::invalid(message);
    response.result.code = 400;
    encode(StatusCode::BAD_REQUEST, response)
}

fn encode(status: StatusCode, response: AdmissionResponse) -> (StatusCode, Vec<u8>) {
    match serde_json::to_vec(&response.into_review()) {
        Ok(body) => (status, body),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, Vec::new()),
    }
}

fn reply(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
