use std::{
    fmt,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use http::{
    HeaderMap, Request, Response, StatusCode, Uri, Version, header,
    uri::{Authority, Scheme},
};
use http_body_util::BodyExt;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use tracing::debug;

use super::{Body, BoxError, ConnectionHold, connect::PatientConnector};

/// A request extension naming the address [`Forward`] sends the request to, set by a
/// layer that picks one (the activator's load balancer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Destination(pub SocketAddr);

/// Why [`Forward`] could not get a response from the destination; answered with 502.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Neither the request nor the service named an address.
    #[error("no destination chosen for the request")]
    NoDestination,
    /// The request's path could not be joined to the destination.
    #[error("cannot build the upstream URI")]
    BadUri(#[source] http::Error),
    /// The request's own body could not be read from the client (a malformed chunk,
    /// a size past the limits, the client gone): the client's fault, answered 400 by
    /// [`serve`](super::serve) without naming the destination.
    #[error("cannot read the request body")]
    RequestBody(#[source] hyper_util::client::legacy::Error),
    /// Connecting or talking to the destination failed.
    #[error("error talking to {destination}")]
    Upstream {
        /// Where the request was going.
        destination: SocketAddr,
        /// What went wrong.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
}

impl ForwardError {
    /// Whether the request never left this process: the connection could not be made,
    /// so repeating it is safe even when it is not idempotent.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Upstream { source, .. } if source.is_connect())
    }

    /// How far the exchange got before it failed, when that makes the request safe to
    /// send elsewhere: [`Unanswered::NotSent`] for a connect failure (a pooled
    /// connection found closed before the request went out is retried by the client
    /// on a new connection, so it ends here too), [`Unanswered::NoResponse`] for a
    /// connection closed or reset before any byte of the response. `None` for anything
    /// else (a malformed response, an internal error), which is never retried.
    pub fn unanswered(&self) -> Option<Unanswered> {
        let Self::Upstream { source, .. } = self else {
            return None;
        };
        if source.is_connect() {
            return Some(Unanswered::NotSent);
        }
        let mut cause = std::error::Error::source(source);
        while let Some(error) = cause {
            if let Some(hyper) = error.downcast_ref::<hyper::Error>()
                && (hyper.is_incomplete_message() || hyper.is_canceled())
            {
                return Some(Unanswered::NoResponse);
            }
            if let Some(io) = error.downcast_ref::<std::io::Error>()
                && matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                )
            {
                return Some(Unanswered::NoResponse);
            }
            cause = error.source();
        }
        None
    }
}

/// How far a failed exchange with an upstream got, when nothing of its response
/// arrived. A response extension too: [`Dispatch`](super::Dispatch) puts it on the 502
/// it makes of an in-process hop's failure, so the caller can tell that 502 from one
/// the app sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unanswered {
    /// No byte of the request was written: the app never saw it.
    NotSent,
    /// The request was (perhaps partly) written, and the connection closed or reset
    /// before any byte of the response.
    NoResponse,
}

impl Unanswered {
    /// The stage recorded for `error`: a [`ForwardError`] anywhere in its chain.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(forward) = error.downcast_ref::<ForwardError>() {
                return forward.unanswered();
            }
            cause = error.source();
        }
        None
    }
}

/// The future of [`Forward`] (and of [`Dispatch`](super::Dispatch)).
pub type ForwardFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

/// The innermost service: sends the request to its destination over a keep-alive
/// connection pool and streams the response back.
///
/// The destination is the request's [`Destination`] extension when a layer set one,
/// otherwise the address given to [`Forward::to`]. The `Host` header is passed through
/// unchanged; hop-by-hop headers are removed both ways (RFC 9110 §7.6.1), except the
/// `Connection: upgrade` pair of an upgrade request, whose 101 answer turns into a
/// byte tunnel between the two connections. Whatever the request's [`ConnectionHold`]
/// holds lives until that tunnel closes.
#[derive(Clone)]
pub struct Forward {
    // Shared, not cloned per request: a `Client` clone copies several `Arc`s.
    client: Arc<Client<PatientConnector, Body>>,
    // The default address with its URI authority, formatted once.
    default: Option<(SocketAddr, Authority)>,
    h2c: bool,
}

impl Forward {
    /// A forwarder with at most `max_idle_per_host` idle connections kept per address,
    /// speaking HTTP/1.1, or cleartext HTTP/2 with prior knowledge when `h2c`.
    pub fn new(max_idle_per_host: usize, h2c: bool) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(90))
            .http2_only(h2c)
            .build(PatientConnector(connector));
        Self {
            client: Arc::new(client),
            default: None,
            h2c,
        }
    }

    /// Sends every request without a [`Destination`] to `address`.
    pub fn to(mut self, address: SocketAddr) -> Self {
        self.default = Some((address, authority(address)));
        self
    }
}

impl fmt::Debug for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forward")
            .field(
                "default",
                &self.default.as_ref().map(|(address, _)| address),
            )
            .finish_non_exhaustive()
    }
}

impl tower::Service<Request<Body>> for Forward {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ForwardFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let client = self.client.clone();
        let (default, h2c) = (self.default.clone(), self.h2c);
        Box::pin(async move {
            forward(client, default, h2c, request)
                .await
                .map_err(Into::into)
        })
    }
}

async fn forward(
    client: Arc<Client<PatientConnector, Body>>,
    default: Option<(SocketAddr, Authority)>,
    h2c: bool,
    mut request: Request<Body>,
) -> Result<Response<Body>, ForwardError> {
    let (destination, authority) = match request.extensions().get::<Destination>() {
        Some(&Destination(address)) => (address, authority(address)),
        None => default.ok_or(ForwardError::NoDestination)?,
    };
    let upgrade = wants_upgrade(request.headers());
    let hold = request.extensions_mut().remove::<ConnectionHold>();
    let downstream = upgrade.then(|| hyper::upgrade::on(&mut request));
    // The URI's authority is replaced by the destination below (the client adds that
    // as the Host of a request that has none).
    fill_host(&mut request);
    *request.uri_mut() = upstream_uri(authority, request.uri()).map_err(ForwardError::BadUri)?;
    // The upstream leg speaks its own protocol whatever the client spoke.
    *request.version_mut() = if h2c {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    strip_hop_by_hop(request.headers_mut(), upgrade);
    let mut response = client.request(request).await.map_err(|source| {
        if failed_reading_request_body(&source) {
            ForwardError::RequestBody(source)
        } else {
            ForwardError::Upstream {
                destination,
                source,
            }
        }
    })?;
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS;
    match downstream {
        Some(downstream) if switching => {
            let upstream = hyper::upgrade::on(&mut response);
            tokio::spawn(tunnel(downstream, upstream, hold));
        }
        _ => strip_hop_by_hop(response.headers_mut(), false),
    }
    Ok(response.map(|body| body.map_err(BoxError::from).boxed_unsync()))
}

/// Whether the client failed because the request body it was sending returned an
/// error: hyper reports that as a user error carrying the body's error as its source
/// (its other user errors carry none).
fn failed_reading_request_body(error: &hyper_util::client::legacy::Error) -> bool {
    let mut cause = std::error::Error::source(error);
    while let Some(error) = cause {
        if let Some(hyper) = error.downcast_ref::<hyper::Error>() {
            return hyper.is_user() && std::error::Error::source(hyper).is_some();
        }
        cause = error.source();
    }
    false
}

/// Copies bytes both ways between the client's and the app's upgraded connections.
async fn tunnel(
    downstream: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    hold: Option<ConnectionHold>,
) {
    let (downstream, upstream) = match tokio::try_join!(downstream, upstream) {
        Ok(pair) => pair,
        Err(error) => {
            debug!(%error, "upgrade failed");
            return;
        }
    };
    let mut downstream = TokioIo::new(downstream);
    let mut upstream = TokioIo::new(upstream);
    let copied = tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await;
    debug!(?copied, "upgraded connection closed");
    drop(hold);
}

/// The URI authority of a socket address (`127.0.0.1:8080`, `[::1]:8080`).
pub(super) fn authority(address: SocketAddr) -> Authority {
    Authority::try_from(address.to_string())
        .expect("a formatted socket address is a valid URI authority")
}

/// Gives a request without a `Host` header one: the URI's authority (an HTTP/2 request
/// names its host there).
fn fill_host(request: &mut Request<Body>) {
    if request.headers().contains_key(header::HOST) {
        return;
    }
    let Some(authority) = request.uri().authority() else {
        return;
    };
    if let Ok(host) = header::HeaderValue::from_str(authority.as_str()) {
        request.headers_mut().insert(header::HOST, host);
    }
}

/// `http://{authority}{path and query}`, reusing the request's parsed path.
fn upstream_uri(authority: Authority, uri: &Uri) -> Result<Uri, http::Error> {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority);
    parts.path_and_query = Some(
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")),
    );
    Ok(Uri::from_parts(parts)?)
}

pub(super) fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
}

/// The headers that are hop-by-hop whatever `Connection` says.
fn is_hop_by_hop(name: &header::HeaderName) -> bool {
    name == header::CONNECTION
        || name == header::UPGRADE
        || name == header::TE
        || name == header::TRAILER
        || name == header::TRANSFER_ENCODING
        || name == header::PROXY_AUTHORIZATION
        || name == header::PROXY_AUTHENTICATE
        || name.as_str() == "keep-alive"
        || name.as_str() == "proxy-connection"
}

/// Removes the headers that describe one connection rather than the message.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none: one pass over the names instead of nine removals,
    // each a hash and probe (this ran three times per request on the activator path).
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<header::HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| header::HeaderName::try_from(token.trim()).ok())
        .filter(|name| !(keep_upgrade && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::PROXY_AUTHORIZATION,
        header::PROXY_AUTHENTICATE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    if !keep_upgrade {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed_but_an_upgrade_keeps_its_pair() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, "upgrade, x-private".parse().unwrap());
        headers.insert(header::UPGRADE, "websocket".parse().unwrap());
        headers.insert("x-private", "1".parse().unwrap());
        headers.insert("keep-alive", "timeout=5".parse().unwrap());
        headers.insert("x-end-to-end", "1".parse().unwrap());
        assert!(wants_upgrade(&headers));

        let mut upgrade = headers.clone();
        strip_hop_by_hop(&mut upgrade, true);
        assert!(upgrade.contains_key(header::UPGRADE));
        assert!(upgrade.contains_key(header::CONNECTION));
        assert!(!upgrade.contains_key("x-private"));

        strip_hop_by_hop(&mut headers, false);
        assert!(!headers.contains_key(header::UPGRADE));
        assert!(!headers.contains_key(header::CONNECTION));
        assert!(!headers.contains_key("keep-alive"));
        assert!(
            headers.contains_key("x-end-to-end"),
            "end-to-end headers pass"
        );
    }

    #[test]
    fn the_upstream_uri_keeps_path_and_query() {
        let uri: Uri = "/echo?x=1".parse().unwrap();
        let address: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(
            upstream_uri(authority(address), &uri).unwrap(),
            "http://127.0.0.1:8080/echo?x=1"
        );
    }

    #[test]
    fn the_upstream_uri_brackets_ipv6_and_defaults_the_path_to_root() {
        let address: SocketAddr = "[::1]:9000".parse().unwrap();
        let absolute: Uri = "http://example.com".parse().unwrap();
        assert_eq!(
            upstream_uri(authority(address), &absolute).unwrap(),
            "http://[::1]:9000/"
        );
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_removed_and_plain_messages_are_untouched() {
        for name in [
            "connection",
            "upgrade",
            "te",
            "trailer",
            "transfer-encoding",
            "proxy-authorization",
            "proxy-authenticate",
            "keep-alive",
            "proxy-connection",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::HeaderName::from_static(name), "x".parse().unwrap());
            headers.insert("x-end-to-end", "1".parse().unwrap());
            strip_hop_by_hop(&mut headers, false);
            assert!(!headers.contains_key(name), "{name} is removed");
            assert!(headers.contains_key("x-end-to-end"), "next to {name}");
        }
        let mut plain = HeaderMap::new();
        plain.insert(header::HOST, "example.com".parse().unwrap());
        plain.append("x-many", "1".parse().unwrap());
        plain.append("x-many", "2".parse().unwrap());
        let before = plain.clone();
        strip_hop_by_hop(&mut plain, false);
        assert_eq!(plain, before);
    }
}

/// A request extension: the destination speaks cleartext HTTP/2 only (a Service port
/// named `h2c`, or with `appProtocol: kubernetes.io/h2c`), so [`ProtocolForward`] sends
/// the request as h2c with prior knowledge whatever protocol its client spoke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamH2c;

/// Two [`Forward`]s, HTTP/1.1 and h2c, built once; each request picks one, by one of
/// two rules fixed at construction:
/// - `follow_client`: h2c when the request arrived over HTTP/2 (Knative's queue-proxy
///   `NewProxyAutoTransport`: an app serving h2c sees the protocol its client spoke);
/// - otherwise: h2c when the request carries [`UpstreamH2c`] (the ingress, by the
///   backend Service's port).
///
/// HTTP/1.1 otherwise. Each rule reads only what it needs (the version, or the
/// extensions map), so the queue-proxy's per-request cost is one comparison.
#[derive(Clone, Debug)]
pub struct ProtocolForward {
    http1: Forward,
    h2c: Forward,
    follow_client: bool,
}

impl ProtocolForward {
    /// Both forwarders, each keeping at most `max_idle_per_host` idle connections per
    /// address.
    pub fn new(max_idle_per_host: usize, follow_client: bool) -> Self {
        Self {
            http1: Forward::new(max_idle_per_host, false),
            h2c: Forward::new(max_idle_per_host, true),
            follow_client,
        }
    }

    /// Sends requests without a [`Destination`] to `address` (see [`Forward::to`]).
    pub fn to(self, address: SocketAddr) -> Self {
        Self {
            http1: self.http1.to(address),
            h2c: self.h2c.to(address),
            follow_client: self.follow_client,
        }
    }
}

impl tower::Service<Request<Body>> for ProtocolForward {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ForwardFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let h2c = if self.follow_client {
            request.version() == http::Version::HTTP_2
        } else {
            request.extensions().get::<UpstreamH2c>().is_some()
        };
        if h2c {
            self.h2c.call(request)
        } else {
            self.http1.call(request)
        }
    }
}
