//! [`Route`]: the ingress driver around [`RouteTable`] and the per-revision [`Hop`]s.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use http::{HeaderMap, Request, Response, StatusCode, header};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use tokio::sync::watch;
use tower::{Layer, Service};
use tracing::debug;

use super::future::ResponseFuture;
use super::hop::{Hops, Unreachable};
use super::table::{NoRoute, RouteTable, Router};
use crate::net::headers::{INTERNAL, KNATIVE_SERVING_TAG, is_probe_user_agent, record_client_hop};
use crate::net::{Body, BoxError, Destination, RemoteAddr, text_response};

/// The ingress service: routes each client request to a revision and sends it to that
/// revision's next hop through the inner service (normally [`crate::net::Forward`]).
///
/// Per request:
/// 1. Client input that only Knative's own hops may produce is removed: every header in
///    [`INTERNAL`], and a User-Agent that [`is_probe_user_agent`] — the whole header is
///    dropped rather than rewritten, so the request reaches the app as one without a
///    User-Agent. A client can therefore neither pick a revision nor pass as a probe or
///    the activator. `Knative-Serving-Tag` is client input by design (§6.3) and stays.
///    The client's hop is recorded as an edge proxy records it
///    ([`record_client_hop`]: its address appended to `X-Forwarded-For`,
///    `X-Forwarded-Proto: http`), from the [`RemoteAddr`] the server adds.
/// 2. The Host header (or, for HTTP/2, the URI authority) is looked up in the current
///    table: an unknown host is answered 404 naming the host, a request without either
///    400.
/// 3. The decision's headers are set (`Knative-Serving-Revision`, `-Namespace`, and the
///    tag headers), and its [`crate::RevisionKey`] is added as a request extension for
///    the layers below.
/// 4. The revision's [`Hop`](super::Hop) gives the address, set as the
///    [`Destination`] extension; a revision with no hop, or in `Serve` with no
///    instances, is answered 503 naming the revision.
///
/// Both the table and the hops are read from watch channels on every request, so a new
/// table or an SKS mode switch applies to the next request without reconnecting.
///
/// Randomness (the weighted split and the instance pick) comes from a [`SmallRng`]
/// injected at construction: each service instance — the first, and every clone —
/// draws from its own stream, seeded from the injected generator and the instance's
/// number, so clones do not repeat each other's choices and a fixed seed gives a fixed
/// sequence per instance.
#[derive(Debug)]
pub struct Route<S> {
    inner: S,
    table: watch::Receiver<Arc<RouteTable>>,
    hops: watch::Receiver<Hops>,
    rng: SmallRng,
    streams: Streams,
}

/// Hands out one random stream per service instance.
#[derive(Debug, Clone)]
struct Streams {
    base: u64,
    next: Arc<AtomicU64>,
}

impl Streams {
    fn new(mut rng: SmallRng) -> Self {
        Self {
            base: rng.random(),
            next: Arc::new(AtomicU64::new(0)),
        }
    }

    fn stream(&self) -> SmallRng {
        let instance = self.next.fetch_add(1, Ordering::Relaxed);
        SmallRng::seed_from_u64(self.base.wrapping_add(instance))
    }
}

impl<S> Route<S> {
    /// Routes requests by the table on `table` to the hops on `hops`, then calls
    /// `inner`; `rng` seeds every random choice.
    pub fn new(
        inner: S,
        table: watch::Receiver<Arc<RouteTable>>,
        hops: watch::Receiver<Hops>,
        rng: SmallRng,
    ) -> Self {
        Self::with_streams(inner, table, hops, Streams::new(rng))
    }

    fn with_streams(
        inner: S,
        table: watch::Receiver<Arc<RouteTable>>,
        hops: watch::Receiver<Hops>,
        streams: Streams,
    ) -> Self {
        Self {
            inner,
            table,
            hops,
            rng: streams.stream(),
            streams,
        }
    }

    /// Routes `request` in place, or gives the answer that ends it here.
    fn direct(&mut self, request: &mut Request<Body>) -> Result<(), Refusal> {
        strip_client_headers(request.headers_mut());
        let peer = request.extensions().get::<RemoteAddr>().map(|a| a.0.ip());
        record_client_hop(request.headers_mut(), peer);
        let host = request_host(request).ok_or(Refusal::NoHost)?;
        let tag = request
            .headers()
            .get(KNATIVE_SERVING_TAG)
            .and_then(|v| v.to_str().ok());
        let table = self.table.borrow().clone();
        let decision = table.route(&host, tag, &mut self.rng)?;
        let revision = decision.revision;
        let (address, mode) = {
            let hops = self.hops.borrow();
            let hop = hops
                .get(&revision)
                .ok_or_else(|| Unreachable::NoHop(revision.clone()))?;
            let address = hop
                .pick(&mut self.rng)
                .ok_or_else(|| Unreachable::NoInstances(revision.clone()))?;
            (address, hop.mode())
        };
        debug!(%host, %revision, %address, mode, "routing request");
        for (name, value) in decision.headers {
            request.headers_mut().insert(name, value);
        }
        request.extensions_mut().insert(revision);
        request.extensions_mut().insert(Destination(address));
        Ok(())
    }
}

/// Why the router answers a request itself instead of forwarding it.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("the request names no host (no Host header and no URI authority)")]
    NoHost,
    #[error(transparent)]
    NoRoute(#[from] NoRoute),
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
}

impl Refusal {
    fn into_response(self) -> Response<Body> {
        let status = match self {
            Self::NoHost => StatusCode::BAD_REQUEST,
            Self::NoRoute(_) => StatusCode::NOT_FOUND,
            Self::Unreachable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        text_response(status, self.to_string())
    }
}

/// Removes what a client must not send: the [`INTERNAL`] headers and probe
/// User-Agents.
fn strip_client_headers(headers: &mut HeaderMap) {
    // Clients rarely send any: one pass over the names, removals only when needed.
    if headers.keys().any(|name| INTERNAL.contains(name)) {
        for name in &INTERNAL {
            headers.remove(name);
        }
    }
    if is_probe_user_agent(headers) {
        headers.remove(header::USER_AGENT);
    }
}

/// The Host header, else the URI's authority (HTTP/2 carries `:authority` there).
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

impl<S: Clone> Clone for Route<S> {
    fn clone(&self) -> Self {
        Self::with_streams(
            self.inner.clone(),
            self.table.clone(),
            self.hops.clone(),
            self.streams.clone(),
        )
    }
}

impl<S> Service<Request<Body>> for Route<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        match self.direct(&mut request) {
            Ok(()) => ResponseFuture::forwarded(self.inner.call(request)),
            Err(refusal) => {
                debug!(%refusal, "answered by the router");
                ResponseFuture::answered(refusal.into_response())
            }
        }
    }
}

/// Wraps a service in [`Route`]; every service it makes (and every clone of those)
/// draws from its own random stream.
#[derive(Debug, Clone)]
pub struct RouteLayer {
    table: watch::Receiver<Arc<RouteTable>>,
    hops: watch::Receiver<Hops>,
    streams: Streams,
}

impl RouteLayer {
    /// Routes by the table on `table` to the hops on `hops`; `rng` seeds every random
    /// choice.
    pub fn new(
        table: watch::Receiver<Arc<RouteTable>>,
        hops: watch::Receiver<Hops>,
        rng: SmallRng,
    ) -> Self {
        Self {
            table,
            hops,
            streams: Streams::new(rng),
        }
    }
}

impl<S> Layer<S> for RouteLayer {
    type Service = Route<S>;

    fn layer(&self, inner: S) -> Route<S> {
        Route::with_streams(
            inner,
            self.table.clone(),
            self.hops.clone(),
            self.streams.clone(),
        )
    }
}
