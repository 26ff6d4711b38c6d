use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    pin::{Pin, pin},
    sync::{
        Arc, LazyLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
    task::JoinHandle,
    time::Instant,
};
use tower::{Service, ServiceExt, util::BoxCloneService};
use tracing::{debug, warn};

use super::{
    Body, BoxError, ForwardError, HttpService, guard_response,
    pressure::{self, SharedWarnLimiter},
    text_response,
};

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
/// [`RemoteAddr`] extension. A service error is answered with 502 and its text — 503
/// naming the limit when it came from running out of descriptors or memory.
///
/// Running low on descriptors is survived, not spun on: at the process's connection cap
/// ([`pressure::set_connection_limit`]) or on `EMFILE` from accept, every server sheds
/// its idle keep-alive connections and this one pauses 10–100 ms before accepting
/// again, warning at most once a second.
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

/// At most one warning about accepting per this period, for the whole process: its
/// servers meet the descriptor limit and the connection cap together.
const ACCEPT_WARN_PERIOD: Duration = Duration::from_secs(1);

static ACCEPT_WARNINGS: LazyLock<SharedWarnLimiter> =
    LazyLock::new(|| SharedWarnLimiter::new(ACCEPT_WARN_PERIOD));

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
    // Each connection task holds a clone; `recv` below returns once all are gone.
    let (open, mut all_closed) = mpsc::channel::<()>(1);
    let mut pauses = pressure::SHORT_PAUSES;
    loop {
        if pressure::at_connection_limit() {
            let pause = pauses.pause();
            at_limit(pause);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stopped.changed() => break,
            }
            continue;
        }
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) if peer_gone(&error) => {
                    debug!(%error, "a connection ended before it was accepted");
                    continue;
                }
                Err(error) => {
                    let pause = pauses.pause();
                    accept_failed(&error, pause);
                    tokio::time::sleep(pause).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        pauses.reset();
        let signals = Signals {
            stop: stopped.clone(),
            shed: pressure::shed_requests(),
            in_flight: Arc::new(Activity::default()),
            _open: (open.clone(), pressure::OpenConnection::count()),
        };
        spawn_connection(&builder, stream, peer, service.clone(), signals);
    }
    drop(listener);
    drop(open);
    let _ = all_closed.recv().await;
}

/// Serves one accepted connection on its own task.
fn spawn_connection(
    builder: &auto::Builder<TokioExecutor>,
    stream: TcpStream,
    peer: SocketAddr,
    service: HttpService,
    signals: Signals,
) {
    let _ = stream.set_nodelay(true);
    let counted = signals.in_flight.clone();
    let hyper_service = hyper::service::service_fn(move |request| {
        handle(service.clone(), peer, counted.clone(), request)
    });
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), hyper_service)
        .into_owned();
    tokio::spawn(run_connection(connection, signals, |c| {
        c.graceful_shutdown()
    }));
}

/// Whether an accept error concerns only the connection being accepted (its client
/// gave up): the next accept may go ahead at once.
fn peer_gone(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// Out of descriptors: every server of the process gives back its idle connections,
/// and this loop pauses for `pause` instead of spinning on a listener that stays
/// readable. Any other error of the listener (out of memory, or unknown) is paused
/// over the same way. Warned at most once per [`ACCEPT_WARN_PERIOD`].
fn accept_failed(error: &std::io::Error, pause: Duration) {
    let out_of_descriptors = pressure::is_out_of_descriptors(error);
    if out_of_descriptors {
        pressure::shed_idle_connections();
    }
    if let Some(suppressed) = ACCEPT_WARNINGS.check(Instant::now()) {
        warn!(%error, out_of_descriptors, ?pause, suppressed, "accept failed; pausing (idle keep-alive connections are closed when out of descriptors)");
    }
}

/// The servers hold as many connections as the cap allows: idle ones are shed and
/// this loop pauses for `pause`, leaving new clients in the kernel's backlog.
fn at_limit(pause: Duration) {
    pressure::shed_idle_connections();
    if let Some(suppressed) = ACCEPT_WARNINGS.check(Instant::now()) {
        warn!(
            open = pressure::open_connections(),
            limit = pressure::connection_limit(),
            ?pause,
            suppressed,
            "connection limit reached (kept below the open-files limit); closing idle keep-alive connections, new clients wait"
        );
    }
}

/// What a connection task watches besides its connection.
struct Signals {
    /// The server is stopping: finish what is in flight, then close.
    stop: watch::Receiver<bool>,
    /// Descriptors ran low: close if idle.
    shed: watch::Receiver<u64>,
    /// What the connection is doing.
    in_flight: Arc<Activity>,
    /// Dropped when the task ends: how the accept loop knows every connection closed,
    /// and the process-wide count of open connections.
    _open: (mpsc::Sender<()>, pressure::OpenConnection),
}

/// Drives one connection until it ends. On server stop it shuts down gracefully (hyper
/// closes it once the request in flight, if any, is answered); on a shed request it
/// does so only while no request is in flight — an idle keep-alive connection is the
/// one to give back, a busy one is left to finish and keep its client.
async fn run_connection<C, E>(connection: C, mut signals: Signals, shutdown: fn(Pin<&mut C>))
where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut connection = pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(error) = ended {
                    debug!(%error, "connection ended with an error");
                }
                return;
            }
            Ok(()) = signals.stop.changed(), if !closing => {
                closing = true;
                shutdown(connection.as_mut());
            }
            Ok(()) = signals.shed.changed(), if !closing => {
                if signals.in_flight.is_idle_keep_alive() {
                    debug!("closing an idle keep-alive connection: out of descriptors");
                    closing = true;
                    shutdown(connection.as_mut());
                }
            }
        }
    }
}

fn handle(
    service: HttpService,
    peer: SocketAddr,
    in_flight: Arc<Activity>,
    request: Request<hyper::body::Incoming>,
) -> impl Future<Output = Result<http::Response<Body>, Infallible>> + Send + 'static {
    let mut request = request.map(box_incoming);
    request.extensions_mut().insert(RemoteAddr(peer));
    let busy = Busy::new(in_flight);
    let response: Pin<Box<dyn Future<Output = Result<_, BoxError>> + Send>> =
        Box::pin(service.oneshot(request));
    async move {
        let response = match response.await {
            Ok(response) => response,
            Err(error) => error_response(&*error),
        };
        Ok(guard_response(response, busy))
    }
}

/// What a connection is doing, as its shedding decision needs it.
#[derive(Debug, Default)]
struct Activity {
    /// Requests whose response has not ended.
    in_flight: AtomicUsize,
    /// Requests it has received so far.
    received: AtomicUsize,
}

impl Activity {
    /// Whether it is an idle keep-alive connection: it served a request and waits for
    /// the next. One just accepted is not — its first request may be on the wire, and
    /// closing it would reset it; it is either served soon or dropped by the header
    /// read timeout.
    fn is_idle_keep_alive(&self) -> bool {
        self.received.load(Ordering::Acquire) > 0 && self.in_flight.load(Ordering::Acquire) == 0
    }
}

/// Counts a request on its connection from its arrival until its response body ends
/// (or is dropped): while any is counted, the connection is not idle.
struct Busy(Arc<Activity>);

impl Busy {
    fn new(activity: Arc<Activity>) -> Self {
        activity.received.fetch_add(1, Ordering::AcqRel);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

fn box_incoming(body: hyper::body::Incoming) -> Body {
    body.map_err(|error| -> BoxError { Box::new(error) })
        .boxed_unsync()
}

/// How a service error is answered: 503 naming the limit when the process ran out of
/// descriptors or memory (a transient condition a client may retry); 400 naming only
/// the cause when the client's own request body could not be read (a malformed or
/// overflowing chunk size); else 502 with the error's text.
pub(super) fn error_response(error: &(dyn std::error::Error + 'static)) -> http::Response<Body> {
    debug!(%error, "request failed");
    if let Some(cause) = pressure::exhaustion_in(error) {
        // Only the OS error: the rest of the chain names internal addresses.
        return text_response(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "server out of resources ({cause}; open files are limited by RLIMIT_NOFILE); retry later"
            ),
        );
    }
    if let Some(cause) = request_body_error(error) {
        // Only the body's own error: the rest of the chain names internal addresses.
        return text_response(
            StatusCode::BAD_REQUEST,
            format!("malformed request body: {cause}"),
        );
    }
    text_response(StatusCode::BAD_GATEWAY, error_chain(error))
}

/// The innermost cause of a [`ForwardError::RequestBody`] in `error`'s chain.
fn request_body_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(ForwardError::RequestBody(_)) = error.downcast_ref::<ForwardError>() {
            let mut innermost = error;
            while let Some(next) = innermost.source() {
                innermost = next;
            }
            return Some(innermost);
        }
        cause = error.source();
    }
    None
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
