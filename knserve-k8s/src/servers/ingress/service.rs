//! [`IngressRouter`]: the request path of the ingress — probes, Host routing, split
//! and endpoint choice — in front of [`knserve_core::net::Forward`].

use std::{
    future::Future,
    hash::{BuildHasher, RandomState},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use knserve_core::net::{
    Body, BoxError, Destination, RemoteAddr, UpstreamH2c,
    headers::{self, INTERNAL, is_probe_user_agent, record_client_hop},
    text_response,
};
use tokio::sync::watch;
use tower::{Layer, Service};
use tracing::debug;

use super::state::Snapshot;
use super::table::{Listener, NoRoute};

/// A stream of random numbers: SplitMix64, seeded per service instance. Enough for a
/// uniform split and endpoint choice; not for anything secret.
#[derive(Debug, Clone)]
pub struct Draws(u64);

impl Draws {
    /// A stream starting from `seed` (fixed seeds give fixed sequences, for tests).
    pub fn from_seed(seed: u64) -> Self {
        Self(seed)
    }

    /// A stream seeded from the process's hash-map randomness and a counter, so every
    /// call gives a different one.
    pub fn fresh() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self(RandomState::new().hash_one(n))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Why the ingress answers a request itself.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// `K-Network-Probe: probe` without a `K-Network-Hash`.
    #[error("a probe request must contain a non-empty \"K-Network-Hash\" header")]
    MissingHash,
    /// Neither a Host header nor a URI authority.
    #[error("the request names no host (no Host header and no URI authority)")]
    NoHost,
    /// No rule answers the host and path.
    #[error(transparent)]
    NoRoute(#[from] NoRoute),
    /// The chosen split's Service has no ready endpoint.
    #[error("revision {revision} has no ready endpoints (service {service})")]
    NoEndpoints {
        /// `namespace/revision` of the split.
        revision: String,
        /// `namespace/name` of its Service.
        service: String,
    },
}

impl Refusal {
    fn into_response(self) -> Response<Body> {
        let status = match self {
            Self::MissingHash | Self::NoHost => StatusCode::BAD_REQUEST,
            Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::NoEndpoints { .. } => StatusCode::SERVICE_UNAVAILABLE,
        };
        text_response(status, self.to_string())
    }
}

/// The ingress service. Per request:
/// 1. Client-sent internal headers ([`INTERNAL`]) and probe User-Agents are removed,
///    except on a hash probe (`K-Network-Probe: probe`), which keeps its
///    `K-Network-Probe` and `K-Network-Hash` (400 without a hash).
/// 2. Host (or URI authority), path and headers pick a rule among those the listener
///    serves ([`Listener`]: `ClusterLocal` rules only on the internal one); the split
///    is drawn by weight. Unknown host or path: 404. No Host: 400.
/// 3. A hash probe is routed like any request, as Knative's ingresses route it (its
///    `InsertProbe` rules): with `K-Network-Hash: override` the hash becomes that of
///    the KIngress whose rule answered ([`ingress_hash`](super::ingress_hash)), any
///    other hash is kept. The backend's hop (queue-proxy, activator, or Knative's
///    probe handler) answers it by echoing the hash, so the prober learns both that
///    the path reaches a backend and which version of the KIngress routed it.
/// 4. The split's Service's ready endpoints (from the current [`Snapshot`]) give the
///    address, chosen uniformly; none: 503 naming the revision.
/// 5. The path's and the split's `appendHeaders` are set, the path's `rewriteHost`
///    replaces the Host, and the address becomes the
///    [`Destination`] of the inner service; a backend whose Service port speaks h2c
///    (named `h2c`, or `appProtocol: kubernetes.io/h2c`) also gets [`UpstreamH2c`], so
///    the request reaches it as HTTP/2 whatever protocol the client spoke.
///
/// No timeout and no retry: revision deadlines are enforced downstream (§6.2).
#[derive(Debug)]
pub struct IngressRouter<S> {
    inner: S,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    listener: Listener,
    draws: Draws,
}

impl<S: Clone> Clone for IngressRouter<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            snapshots: self.snapshots.clone(),
            listener: self.listener,
            draws: Draws::fresh(),
        }
    }
}

impl<S> IngressRouter<S> {
    /// Routes requests that came in on `listener` by the snapshots on `snapshots`,
    /// drawing from `draws`.
    pub fn new(
        inner: S,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        listener: Listener,
        draws: Draws,
    ) -> Self {
        Self {
            inner,
            snapshots,
            listener,
            draws,
        }
    }

    fn direct(&mut self, request: &mut Request<Body>) -> Result<(), Refusal> {
        let probe_hash = hash_probe(request.headers())?;
        strip_client_headers(request.headers_mut());
        let peer = request.extensions().get::<RemoteAddr>().map(|a| a.0.ip());
        record_client_hop(request.headers_mut(), peer);
        let host = request_host(request).ok_or(Refusal::NoHost)?;
        let snapshot = self.snapshots.borrow().clone();
        let path = request.uri().path();
        let decision = snapshot.table.route(
            &host,
            path,
            request.headers(),
            self.listener,
            self.draws.next_u64(),
        )?;
        let backend = decision.backend;
        let addresses = snapshot.addresses(&backend.target);
        if addresses.is_empty() {
            let service = &backend.target.service;
            return Err(Refusal::NoEndpoints {
                revision: backend.revision.clone(),
                service: format!("{}/{}", service.namespace, service.name),
            });
        }
        let index = self.draws.next_u64() % addresses.len() as u64;
        let address = addresses[usize::try_from(index).unwrap_or(0)];
        debug!(%host, revision = %backend.revision, %address, "routing request");
        let headers = request.headers_mut();
        for (name, value) in decision.path_headers.iter().chain(&backend.headers) {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(host) = decision.rewrite_host {
            headers.insert(header::HOST, host.clone());
        }
        if let Some(hash) = probe_hash {
            let hash = if hash == headers::HASH_OVERRIDE {
                decision.hash.clone()
            } else {
                hash
            };
            headers.insert(
                headers::K_NETWORK_PROBE,
                HeaderValue::from_static(headers::PROBE_HASH),
            );
            headers.insert(headers::K_NETWORK_HASH, hash);
        }
        if snapshot.is_h2c(&backend.target) {
            request.extensions_mut().insert(UpstreamH2c);
        }
        request.extensions_mut().insert(Destination(address));
        Ok(())
    }
}

/// A hash probe's hash (`None` for any other request); a hash probe without one is
/// refused as Knative's probe handler refuses it.
fn hash_probe(headers: &HeaderMap) -> Result<Option<HeaderValue>, Refusal> {
    if headers::network_probe(headers) != Some(headers::PROBE_HASH) {
        return Ok(None);
    }
    match headers.get(headers::K_NETWORK_HASH) {
        Some(hash) if !hash.is_empty() => Ok(Some(hash.clone())),
        _ => Err(Refusal::MissingHash),
    }
}

fn strip_client_headers(headers: &mut HeaderMap) {
    for name in &INTERNAL {
        headers.remove(name);
    }
    if is_probe_user_agent(headers) {
        headers.remove(header::USER_AGENT);
    }
}

fn request_host(request: &Request<Body>) -> Option<String> {
    let from_header = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| !h.is_empty());
    from_header
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .map(str::to_owned)
}

impl<S> Service<Request<Body>> for IngressRouter<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        match self.direct(&mut request) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(refusal) => {
                debug!(%refusal, "answered by the ingress");
                Box::pin(std::future::ready(Ok(refusal.into_response())))
            }
        }
    }
}

/// Wraps a service in [`IngressRouter`]; each service made draws its own numbers.
#[derive(Debug, Clone)]
pub struct IngressLayer {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    listener: Listener,
}

impl IngressLayer {
    /// Routes requests that came in on `listener` by the snapshots on `snapshots`.
    pub fn new(snapshots: watch::Receiver<Arc<Snapshot>>, listener: Listener) -> Self {
        Self {
            snapshots,
            listener,
        }
    }
}

impl<S> Layer<S> for IngressLayer {
    type Service = IngressRouter<S>;

    fn layer(&self, inner: S) -> IngressRouter<S> {
        IngressRouter::new(inner, self.snapshots.clone(), self.listener, Draws::fresh())
    }
}
