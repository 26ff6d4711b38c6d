//! The connector of [`Forward`](super::Forward): hyper-util's, patient when the
//! process is out of descriptors.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::Instant;
use tower::Service;
use tracing::debug;

use super::pressure;

/// How long a connect refused for want of descriptors is retried before the request
/// fails (with a 503 naming the limit).
const PATIENCE: Duration = Duration::from_secs(1);

type Inner = HttpConnector;
type Connection = <Inner as Service<Uri>>::Response;
type ConnectError = <Inner as Service<Uri>>::Error;

/// [`HttpConnector`], retrying for up to [`PATIENCE`] (pauses of 10–100 ms) a connect
/// refused with `EMFILE` or `ENFILE`: nothing has been sent yet, so waiting is safe, and under a burst the
/// descriptors of requests finishing come back within milliseconds. Each refusal asks
/// every server of the process to shed its idle keep-alive connections.
#[derive(Clone, Debug)]
pub(super) struct PatientConnector(pub(super) Inner);

impl Service<Uri> for PatientConnector {
    type Response = Connection;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Connection, ConnectError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut inner = self.0.clone();
        Box::pin(async move {
            let deadline = Instant::now() + PATIENCE;
            let mut pauses = pressure::SHORT_PAUSES;
            loop {
                let error = match inner.call(uri.clone()).await {
                    Err(error) if out_of_descriptors(&error) => error,
                    other => return other,
                };
                let pause = pauses.pause();
                if Instant::now() + pause > deadline {
                    return Err(error);
                }
                debug!(%uri, %error, ?pause, "connect refused for want of descriptors; retrying");
                pressure::shed_idle_connections();
                tokio::time::sleep(pause).await;
            }
        })
    }
}

fn out_of_descriptors(error: &ConnectError) -> bool {
    pressure::exhaustion_in(error).is_some_and(pressure::is_out_of_descriptors)
}
