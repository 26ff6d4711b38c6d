//! Sends the activator's stats to the autoscaler: JSON arrays of
//! [`StatMessage`] POSTed to its `/v1/stats` (see [`crate::servers::wire`]).

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::Full;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use knserve_core::{RevisionKey, autoscaler::metrics::Stat};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::servers::wire::StatMessage;

/// The most stats sent in one POST.
const MAX_BATCH: usize = 1024;
/// How long one POST may take before it is abandoned.
const POST_TIMEOUT: Duration = Duration::from_secs(5);

/// Posts every stat received on `stats` to `url`, batching whatever is already
/// queued: the report worker's one-second batch goes as one POST, the first-request
/// "poke" (§3.8) on its own, at once. Failures are logged and the stats dropped, as
/// Knative's activator does. Returns when every sender is gone.
pub async fn send_stats(mut stats: mpsc::Receiver<(RevisionKey, Stat)>, url: Uri) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    while let Some(first) = stats.recv().await {
        let mut batch = vec![StatMessage::new(&first.0, &first.1)];
        while batch.len() < MAX_BATCH {
            match stats.try_recv() {
                Ok((key, stat)) => batch.push(StatMessage::new(&key, &stat)),
                Err(_) => break,
            }
        }
        post(&client, &url, &batch).await;
    }
}

async fn post(client: &Client<HttpConnector, Full<Bytes>>, url: &Uri, batch: &[StatMessage]) {
    let body = match serde_json::to_vec(batch) {
        Ok(body) => body,
        Err(error) => return warn!(%error, "cannot encode stats"),
    };
    let request = Request::post(url.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)));
    let request = match request {
        Ok(request) => request,
        Err(error) => return warn!(%error, %url, "cannot build the stats request"),
    };
    match tokio::time::timeout(POST_TIMEOUT, client.request(request)).await {
        Ok(Ok(response)) if response.status().is_success() => {
            debug!(stats = batch.len(), "stats sent");
        }
        Ok(Ok(response)) => warn!(status = %response.status(), %url, "autoscaler refused stats"),
        Ok(Err(error)) => warn!(%error, %url, "cannot send stats"),
        Err(_) => warn!(%url, "sending stats timed out"),
    }
}
