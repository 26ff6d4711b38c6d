//! In-process hops: a request whose [`Destination`] is a service of this same process
//! is handed to that service as a tower call instead of crossing a loopback socket.
//!
//! The local backend runs the ingress router, the activator and every instance's
//! queue-proxy in one process, each on its own loopback listener. Sent over those
//! sockets, a request through the activator is parsed and written three times before
//! it reaches the app. [`Dispatch`] keeps the listeners (anything outside the process
//! still reaches each hop on its port) but calls the next hop's stack directly when it
//! is registered in [`LocalPeers`], so only the last leg, to the app, is a socket.
//!
//! The receiving stack sees the request as its server would have given it:
//!
//! - origin-form URI (`/path?query`), HTTP/1.1, the `Host` header kept (filled from the
//!   URI's authority, else from the destination, when the request has none — as the
//!   HTTP client would have sent it);
//! - hop-by-hop headers removed, except the `Connection: upgrade` pair of an upgrade;
//! - fresh extensions: only the connection's pending upgrade and its
//!   [`ConnectionHold`] travel on, so one tunnel joins the client to the app and the
//!   guards of every hop live until it closes. Nothing else a layer of the previous
//!   hop attached (its revision, its chosen destination) leaks into the next. There is
//!   no [`RemoteAddr`](super::RemoteAddr): an in-process hop has no peer socket.
//!
//! And the caller sees what the server would have answered: a service error becomes
//! the 502 that [`serve`](super::serve) writes (marked with an [`Unanswered`] response
//! extension when the callee's own upstream failed before answering, so that the
//! activator can send the request to another instance), hop-by-hop response headers are
//! removed except on a 101. So a failure inside the next hop is a response, never a
//! connect error — just as over the socket once the connection was made.
//!
//! Dropping a peer's [`PeerGuard`] sends the requests that follow through its socket again: a
//! hop being shut down is removed first, so callers then get its listener's refusal
//! (a connect error, which the activator retries elsewhere) exactly as before.

use std::{
    collections::HashMap,
    fmt,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
};

use futures_util::FutureExt;
use http::{Extensions, HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use tower::{Service, ServiceExt};

use super::{
    Body, BoxError, ConnectionHold, Destination, Forward, HttpService, Unanswered,
    forward::{ForwardFuture, authority, strip_hop_by_hop, wants_upgrade},
    server::error_response,
};

/// The services of this process that also listen on a loopback address, by that
/// address: where [`Dispatch`] calls instead of connecting. Cloning shares the table.
#[derive(Clone, Default)]
pub struct LocalPeers(Arc<Mutex<Table>>);

#[derive(Default)]
struct Table {
    /// By address: the registration's id, the service, and the address as a `Host`
    /// value (formatted once here, not per request).
    peers: HashMap<SocketAddr, (u64, HttpService, HeaderValue)>,
    next: u64,
}

impl LocalPeers {
    /// A table with no peers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests for `address` are given to `service` (the same stack its listener
    /// serves) until the returned guard is dropped; then they go through the socket
    /// again. Registering an address again replaces its service, and the earlier
    /// guard then leaves the new one in place.
    pub fn register(&self, address: SocketAddr, service: HttpService) -> PeerGuard {
        let mut table = self.lock();
        table.next += 1;
        let id = table.next;
        let host = HeaderValue::try_from(authority(address).as_str())
            .expect("a formatted socket address is a valid header value");
        table.peers.insert(address, (id, service, host));
        PeerGuard {
            peers: self.clone(),
            address,
            id,
        }
    }

    /// Whether `address` is served in-process.
    pub fn contains(&self, address: SocketAddr) -> bool {
        self.lock().peers.contains_key(&address)
    }

    fn get(&self, address: SocketAddr) -> Option<(HttpService, HeaderValue)> {
        self.lock()
            .peers
            .get(&address)
            .map(|(_, service, host)| (service.clone(), host.clone()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // A map of services: no invariant a panicking holder could break.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps a peer registered in [`LocalPeers`]; dropping it unregisters the peer.
#[must_use = "the peer is unregistered when the guard is dropped"]
pub struct PeerGuard {
    peers: LocalPeers,
    address: SocketAddr,
    id: u64,
}

impl Drop for PeerGuard {
    fn drop(&mut self) {
        let mut table = self.peers.lock();
        if table
            .peers
            .get(&self.address)
            .is_some_and(|(id, _, _)| *id == self.id)
        {
            table.peers.remove(&self.address);
        }
    }
}

impl fmt::Debug for PeerGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerGuard")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for LocalPeers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut peers: Vec<SocketAddr> = self.lock().peers.keys().copied().collect();
        peers.sort();
        f.debug_tuple("LocalPeers").field(&peers).finish()
    }
}

/// [`Forward`], except that a request whose [`Destination`] is in [`LocalPeers`] is
/// called in-process (the callee sees the request as its server would have given it).
/// Requests without a `Destination` go to the `Forward`'s own default.
#[derive(Clone, Debug)]
pub struct Dispatch {
    peers: LocalPeers,
    forward: Forward,
}

impl Dispatch {
    /// Calls the peers in `peers` in-process and sends everything else with `forward`.
    pub fn new(peers: LocalPeers, forward: Forward) -> Self {
        Self { peers, forward }
    }
}

impl Service<Request<Body>> for Dispatch {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ForwardFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let peer = match request.extensions().get::<Destination>() {
            Some(&Destination(address)) => self.peers.get(address),
            None => None,
        };
        match peer {
            // A combinator, not an `async` block: a block holding the boxed service
            // trips rustc's higher-ranked lifetime inference on `Send`.
            Some((peer, host)) => Box::pin(peer.oneshot(local_request(request, host)).map(answer)),
            None => self.forward.call(request),
        }
    }
}

/// The peer's result as its server would have written it.
fn answer(result: Result<Response<Body>, BoxError>) -> Result<Response<Body>, BoxError> {
    Ok(match result {
        Ok(mut response) => {
            if response.status() != StatusCode::SWITCHING_PROTOCOLS {
                strip_hop_by_hop(response.headers_mut(), false);
            }
            response
        }
        Err(error) => {
            let mut response = error_response(&*error);
            if let Some(stage) = Unanswered::of(&*error) {
                response.extensions_mut().insert(stage);
            }
            response
        }
    })
}

/// `request` as the server of the peer would have received it; `host` is the peer's
/// address as a `Host` value, the one a client connecting to it would write.
fn local_request(mut request: Request<Body>, host: HeaderValue) -> Request<Body> {
    if !request.headers().contains_key(header::HOST) {
        let host = request
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .unwrap_or(host);
        request.headers_mut().insert(header::HOST, host);
    }
    let (mut parts, body) = request.into_parts();
    let upgrade = wants_upgrade(&parts.headers);
    strip_hop_by_hop(&mut parts.headers, upgrade);
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        parts.uri = parts
            .uri
            .path_and_query()
            .cloned()
            .map_or_else(|| Uri::from_static("/"), Uri::from);
    }
    parts.version = Version::HTTP_11;
    let mut extensions = Extensions::new();
    if let Some(upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() {
        extensions.insert(upgrade);
    }
    if let Some(hold) = parts.extensions.remove::<ConnectionHold>() {
        extensions.insert(hold);
    }
    parts.extensions = extensions;
    Request::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address() -> SocketAddr {
        "127.0.0.1:9000".parse().unwrap()
    }

    fn host() -> HeaderValue {
        HeaderValue::from_static("127.0.0.1:9000")
    }

    #[test]
    fn the_peer_sees_origin_form_http11_its_host_and_no_hop_by_hop_headers() {
        let mut request = Request::get("http://hello.example.com/a/b?x=1")
            .version(Version::HTTP_2)
            .header("keep-alive", "timeout=5")
            .header("x-end-to-end", "1")
            .body(super::super::empty())
            .unwrap();
        request.extensions_mut().insert(Destination(address()));
        let local = local_request(request, host());
        assert_eq!(local.uri(), "/a/b?x=1");
        assert_eq!(local.version(), Version::HTTP_11);
        assert_eq!(local.headers()[header::HOST], "hello.example.com");
        assert!(!local.headers().contains_key("keep-alive"));
        assert_eq!(local.headers()["x-end-to-end"], "1");
        assert!(
            local.extensions().get::<Destination>().is_none(),
            "the previous hop's choice does not leak"
        );
    }

    #[test]
    fn without_host_or_authority_the_destination_is_the_host() {
        let request = Request::get("/").body(super::super::empty()).unwrap();
        let local = local_request(request, host());
        assert_eq!(local.headers()[header::HOST], "127.0.0.1:9000");
        assert_eq!(local.uri(), "/");
    }

    #[test]
    fn a_guard_unregisters_its_own_registration_only() {
        let peers = LocalPeers::new();
        let service = || {
            HttpService::new(tower::service_fn(|_: Request<Body>| async {
                Ok::<_, BoxError>(Response::new(super::super::empty()))
            }))
        };
        let first = peers.register(address(), service());
        let second = peers.register(address(), service());
        drop(first);
        assert!(peers.contains(address()), "the later registration stays");
        drop(second);
        assert!(!peers.contains(address()));
    }

    #[test]
    fn an_upgrade_keeps_its_pair_and_the_hold_travels_on() {
        let mut request = Request::get("/ws")
            .header(header::HOST, "h")
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "websocket")
            .body(super::super::empty())
            .unwrap();
        ConnectionHold::attach(request.extensions_mut(), Arc::new(()));
        let local = local_request(request, host());
        assert_eq!(local.headers()[header::UPGRADE], "websocket");
        assert_eq!(local.headers()[header::CONNECTION], "Upgrade");
        assert_eq!(local.extensions().get::<ConnectionHold>().unwrap().len(), 1);
    }
}
