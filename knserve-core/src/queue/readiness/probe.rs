//! Running a probe: one attempt over the network, and the attempt loop.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, task::JoinHandle, time::Instant};
use tracing::debug;

use super::{Attempts, Next, ProbeAction, ProbeSpec};
use crate::net::BoxError;
use crate::time::Timestamp;

/// The User-Agent of the queue-proxy's HTTP probes: kubelet's prefix, so an app that
/// treats kubelet probes specially treats these the same (§4.3).
pub const PROBE_USER_AGENT: &str = "kube-probe/knserve-queue";

/// Runs `spec` until [`Attempts`] decides; aggressive or a single attempt.
pub(super) async fn run(spec: &ProbeSpec, aggressive: bool) -> bool {
    let epoch = Instant::now();
    let now = || Timestamp::from_duration(epoch.elapsed());
    let mut attempts = Attempts::new(spec, aggressive, now());
    loop {
        let passed = tokio::time::timeout(attempts.attempt_timeout(), attempt(&spec.action))
            .await
            .unwrap_or(false);
        match attempts.record(now(), passed) {
            Next::Ready => return true,
            Next::NotReady => return false,
            Next::RetryAt(at) => tokio::time::sleep_until(epoch + at.since_epoch()).await,
        }
    }
}

/// One attempt: whether the app answered as the probe wants.
async fn attempt(action: &ProbeAction) -> bool {
    let result = match action {
        ProbeAction::Tcp { address } => TcpStream::connect(address)
            .await
            .map(|_| true)
            .map_err(BoxError::from),
        ProbeAction::Http {
            address,
            path,
            headers,
        } => http_get(*address, path, headers).await,
    };
    result.unwrap_or_else(|error| {
        debug!(%error, "readiness probe attempt failed");
        false
    })
}

/// Aborts the connection task when the attempt ends or is cancelled by its timeout.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn http_get(
    address: SocketAddr,
    path: &str,
    headers: &[(HeaderName, HeaderValue)],
) -> Result<bool, BoxError> {
    let stream = TcpStream::connect(address).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let _connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let mut request = Request::get(path)
        .header(header::HOST, address.to_string())
        .header(header::USER_AGENT, PROBE_USER_AGENT)
        .body(Empty::<Bytes>::new())?;
    for (name, value) in headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    debug!(status, "readiness probe answered");
    Ok((200..400).contains(&status))
}
