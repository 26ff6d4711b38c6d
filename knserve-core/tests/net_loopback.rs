//! `net::serve` and `net::Forward` over real loopback sockets: a proxied request, an
//! unreachable upstream, and a websocket-style upgrade tunnel.

use std::{net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::{
    client::legacy::Client,
    rt::{TokioExecutor, TokioIo},
};
use knserve_core::net::{
    self, Body, BoxError, ConnectionHold, Destination, Dispatch, Forward, LocalPeers,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tower::{ServiceExt, service_fn};

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

/// An app that answers `method path host` for ordinary requests and echoes bytes on an
/// upgraded connection.
async fn app() -> net::ServeHandle {
    let service = service_fn(|mut request: Request<Body>| async move {
        if request.headers().contains_key(header::UPGRADE) {
            let upgrade = hyper::upgrade::on(&mut request);
            tokio::spawn(async move {
                let mut io = TokioIo::new(upgrade.await.unwrap());
                let mut buf = [0u8; 64];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
            let mut response = Response::new(net::empty());
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            response
                .headers_mut()
                .insert(header::UPGRADE, "echo".parse().unwrap());
            response
                .headers_mut()
                .insert(header::CONNECTION, "upgrade".parse().unwrap());
            return Ok::<_, BoxError>(response);
        }
        let host = request.headers().get(header::HOST).cloned();
        let text = format!("{} {} {:?}", request.method(), request.uri(), host);
        Ok(Response::new(net::full(text)))
    });
    net::serve(listener().await, service).unwrap()
}

fn client() -> Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn get(proxy: SocketAddr, path: &str) -> (StatusCode, String) {
    let request = Request::get(format!("http://{proxy}{path}"))
        .header(header::HOST, "hello.default.example.com")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client().request(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn a_request_is_forwarded_with_its_path_and_host() {
    let app = app().await;
    let proxy = net::serve(
        listener().await,
        Forward::new(10, false).to(app.local_addr()),
    )
    .unwrap();
    let (status, body) = get(proxy.local_addr(), "/echo?x=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"GET /echo?x=1 Some("hello.default.example.com")"#);
    proxy.shutdown().await;
    app.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_answered_with_502_naming_it() {
    let closed = listener().await.local_addr().unwrap();
    let proxy = net::serve(listener().await, Forward::new(10, false).to(closed)).unwrap();
    let (status, body) = get(proxy.local_addr(), "/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(
        body.contains(&closed.to_string()),
        "the 502 body names the upstream: {body}"
    );
    proxy.shutdown().await;
}

/// Upgrades a connection to `proxy` (the app echoes), checks bytes flow both ways and
/// that `guard` has `open` counts while the tunnel is open and `closed` once it closes.
async fn echo_through_an_upgrade(proxy: SocketAddr, guard: &Arc<()>, open: usize, closed: usize) {
    let mut stream = TcpStream::connect(proxy).await.unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0u8; 1024];
    let n = stream.read(&mut head).await.unwrap();
    let head = String::from_utf8_lossy(&head[..n]).to_string();
    assert!(
        head.starts_with("HTTP/1.1 101"),
        "the 101 passes through: {head}"
    );
    stream.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    stream.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping", "bytes flow both ways through the tunnel");
    assert_eq!(
        Arc::strong_count(guard),
        open,
        "the hold lives while the tunnel is open"
    );
    drop(stream);
    for _ in 0..100 {
        if Arc::strong_count(guard) == closed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        Arc::strong_count(guard),
        closed,
        "closing the tunnel drops the hold"
    );
}

#[tokio::test]
async fn an_upgraded_connection_is_tunnelled_and_held_until_it_closes() {
    let app = app().await;
    let guard = Arc::new(());
    let held = Arc::clone(&guard);
    let forward = Forward::new(10, false).to(app.local_addr());
    let proxy_service = service_fn(move |mut request: Request<Body>| {
        ConnectionHold::attach(request.extensions_mut(), held.clone());
        let mut forward = forward.clone();
        async move { tower::Service::call(&mut forward, request).await }
    });
    let proxy = net::serve(listener().await, proxy_service).unwrap();

    // One count here, one in the proxy service, one in the open tunnel.
    echo_through_an_upgrade(proxy.local_addr(), &guard, 3, 2).await;
    proxy.shutdown().await;
    app.abort();
}

#[tokio::test]
async fn h2c_clients_are_served_on_the_same_port() {
    let app = app().await;
    let proxy = net::serve(
        listener().await,
        Forward::new(10, false).to(app.local_addr()),
    )
    .unwrap();
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let request = Request::get(format!("http://{}/h2", proxy.local_addr()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(
        response.version(),
        http::Version::HTTP_2,
        "prior-knowledge h2c is accepted"
    );
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let expected = format!("GET /h2 Some(\"{}\")", proxy.local_addr());
    assert_eq!(
        body,
        expected.as_str(),
        "the app sees the HTTP/2 authority as its Host"
    );
    proxy.shutdown().await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_streamed_body_is_passed_on_chunk_by_chunk_without_buffering() {
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let released = Arc::new(std::sync::Mutex::new(Some(released)));
    let service = service_fn(move |_: Request<Body>| {
        let released = released.lock().unwrap().take().expect("one request");
        async move {
            let chunks = futures_util::stream::unfold(0, move |step| async move {
                match step {
                    0 => Some((Ok::<_, BoxError>(Frame::data(Bytes::from("first"))), 1)),
                    _ => None,
                }
            });
            let tail = futures_util::stream::once(async move {
                released.await.ok();
                Ok::<_, BoxError>(Frame::data(Bytes::from("second")))
            });
            use futures_util::StreamExt;
            let body = StreamBody::new(chunks.chain(tail));
            Ok::<_, BoxError>(Response::new(BodyExt::boxed_unsync(body)))
        }
    });
    let app = net::serve(listener().await, service).unwrap();
    let proxy = net::serve(
        listener().await,
        Forward::new(10, false).to(app.local_addr()),
    )
    .unwrap();

    let request = Request::get(format!("http://{}/", proxy.local_addr()))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut body = client().request(request).await.unwrap().into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(
        first, "first",
        "the first chunk arrives while the app still holds the rest"
    );
    release.send(()).unwrap();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(rest, "second");
    proxy.shutdown().await;
    app.abort();
}

/// A front proxy that sends everything to `peer` through a `Dispatch` over `peers`.
fn dispatch_front(peers: &LocalPeers, peer: SocketAddr) -> net::HttpService {
    let dispatch = Dispatch::new(peers.clone(), Forward::new(10, false));
    net::HttpService::new(
        tower::ServiceBuilder::new()
            .map_request(move |mut request: Request<Body>| {
                request.extensions_mut().insert(Destination(peer));
                request
            })
            .service(dispatch),
    )
}

/// Whether a connection is waiting on `listener` (within 100 ms).
async fn connection_waiting(listener: &TcpListener) -> bool {
    tokio::time::timeout(std::time::Duration::from_millis(100), listener.accept())
        .await
        .is_ok()
}

#[tokio::test]
async fn a_registered_peer_is_called_in_process_and_through_its_socket_once_unregistered() {
    let app = app().await;
    // The peer's own listener: bound, never served, so a request that crossed it would
    // sit there unanswered.
    let peer_listener = listener().await;
    let peer = peer_listener.local_addr().unwrap();
    let peers = LocalPeers::new();
    let stack = net::HttpService::new(Forward::new(10, false).to(app.local_addr()));
    let registration = peers.register(peer, stack);
    let front = net::serve(listener().await, dispatch_front(&peers, peer)).unwrap();

    let (status, body) = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        get(front.local_addr(), "/echo?x=1"),
    )
    .await
    .expect("answered in-process, not left waiting on the peer's unserved socket");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body, "GET /echo?x=1 Some(\"hello.default.example.com\")",
        "the app sees the path and the Host the client sent"
    );
    assert!(
        !connection_waiting(&peer_listener).await,
        "the registered peer is not reached over its socket"
    );

    drop(registration);
    let socket_path = tokio::spawn(get(front.local_addr(), "/"));
    assert!(
        connection_waiting(&peer_listener).await,
        "once unregistered, the peer is reached through its socket again"
    );
    socket_path.abort();
    front.abort();
    app.abort();
}

#[tokio::test]
async fn a_peer_error_is_answered_with_502_as_its_server_would() {
    let peers = LocalPeers::new();
    let peer = listener().await.local_addr().unwrap();
    let failing = net::HttpService::new(service_fn(|_: Request<Body>| async {
        Err::<Response<Body>, BoxError>("the peer failed".into())
    }));
    let _registration = peers.register(peer, failing);
    let front = net::serve(listener().await, dispatch_front(&peers, peer)).unwrap();
    let (status, body) = get(front.local_addr(), "/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body, "the peer failed");
    front.shutdown().await;
}

#[tokio::test]
async fn an_upgrade_through_two_in_process_hops_is_one_tunnel_holding_both_hops_guards() {
    let app = app().await;
    let peers = LocalPeers::new();
    let guard = Arc::new(());
    // Two in-process hops, like the activator and a queue-proxy: each attaches a guard
    // to the connection's hold; the second forwards to the app.
    let hop = |inner: net::HttpService, held: Arc<()>| {
        net::HttpService::new(service_fn(move |mut request: Request<Body>| {
            ConnectionHold::attach(request.extensions_mut(), held.clone());
            inner.clone().oneshot(request)
        }))
    };
    let second_address = listener().await.local_addr().unwrap();
    let first_address = listener().await.local_addr().unwrap();
    let second = hop(
        net::HttpService::new(Forward::new(10, false).to(app.local_addr())),
        guard.clone(),
    );
    let first = hop(dispatch_front(&peers, second_address), guard.clone());
    let _second = peers.register(second_address, second);
    let _first = peers.register(first_address, first);
    let front = net::serve(listener().await, dispatch_front(&peers, first_address)).unwrap();

    // The test's count, each hop's captured one, and the two in the tunnel's hold.
    echo_through_an_upgrade(front.local_addr(), &guard, 5, 3).await;
    front.shutdown().await;
    app.abort();
}
