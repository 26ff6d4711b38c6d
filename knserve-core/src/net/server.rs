use std::{convert::Infallible, future::Future, net::SocketAddr, pin::Pin, time::Duration};

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tower::{Service, ServiceExt, util::BoxCloneService};
use tracing::{debug, warn};

use super::{Body, BoxError, HttpService, text_response};

/// A request extension with the peer address of the connection the request came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteAddr(pub SocketAddr);

/// Servers wait this long for a request's headers (spec §7, "header read timeout").
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// A running accept loop started by [`serve`].
///
/// Dropping the handle leaves the server running; call [`shutdown`](Self::shutdown) to
/// stop it gracefully.
#[derive(Debug)]
pub struct ServeHandle {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl ServeHandle {
    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets every open connection finish the requests it has started
    /// (idle keep-alive connections are closed), and returns once all are done.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            warn!(%error, "server task failed");
        }
    }

    /// Stops accepting at once and abandons open connections.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// Serves `service` on `listener`: HTTP/1.1 (with upgrades) and cleartext HTTP/2 on the
/// same port, a one-minute header read timeout, and the peer address in a
/// [`RemoteAddr`] extension. A service error is answered with 502 and its text.
///
/// The caller binds the listener, so the choice of address — loopback in tests, a
/// Knative port in a pod — stays with the binary.
pub fn serve<S>(listener: TcpListener, service: S) -> std::io::Result<ServeHandle>
where
    S: Service<Request<Body>, Response = http::Response<Body>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let local_addr = listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    // Boxing here gives the accept loop one concrete type; generic `Send` bounds on
    // futures inside spawned tasks trip rustc's higher-ranked lifetime inference.
    let service = BoxCloneService::new(service);
    let task = tokio::spawn(accept_loop(listener, service, stopped));
    Ok(ServeHandle {
        local_addr,
        stop,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    service: HttpService,
    mut stopped: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let hyper_service =
            hyper::service::service_fn(move |request| handle(service.clone(), peer, request));
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), hyper_service)
            .into_owned();
        tokio::spawn(run_connection(graceful.watch(connection)));
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn run_connection<C, E>(connection: C)
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    if let Err(error) = connection.await {
        debug!(%error, "connection ended with an error");
    }
}

fn handle(
    service: HttpService,
    peer: SocketAddr,
    request: Request<hyper::body::Incoming>,
) -> impl Future<Output = Result<http::Response<Body>, Infallible>> + Send + 'static {
    let mut request = request.map(box_incoming);
    request.extensions_mut().insert(RemoteAddr(peer));
    let response: Pin<Box<dyn Future<Output = Result<_, BoxError>> + Send>> =
        Box::pin(service.oneshot(request));
    async move {
        Ok(match response.await {
            Ok(response) => response,
            Err(error) => {
                debug!(%error, "request failed");
                text_response(StatusCode::BAD_GATEWAY, error_chain(&*error))
            }
        })
    }
}

fn box_incoming(body: hyper::body::Incoming) -> Body {
    body.map_err(|error| -> BoxError { Box::new(error) })
        .boxed_unsync()
}

/// An error and its sources, joined with `: `.
pub(super) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
