//! The prober: drives a [`ProbeTracker`] with real probes.

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use futures_util::future::join_all;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use tokio::{sync::watch, time::Instant};
use tracing::debug;

use super::{Endpoints, ProbeTracker};
use crate::{activator::Backends, net::headers};

/// How the prober probes one revision's instances (spec §3.6, §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProberConfig {
    /// Time allowed for all probes of one round (`PROBE_TIMEOUT`, 300 ms).
    pub timeout: Duration,
    /// Time from the start of one round to the next while some address is not
    /// healthy (`PROBE_FREQUENCY`, 200 ms).
    pub period: Duration,
    /// The revision needs orchestrator readiness as well as a passed probe (exec
    /// readiness probe, startup probes): no probe optimisation.
    pub require_ready: bool,
}

impl Default for ProberConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(300),
            period: Duration::from_millis(200),
            require_ready: false,
        }
    }
}

/// The most of a probe answer read: enough for `queue`.
const PROBE_BODY_LIMIT: usize = 64;

type ProbeClient = Client<HttpConnector, Empty<Bytes>>;

/// Probes a revision's instances and publishes the healthy ones.
///
/// Reads endpoints from `endpoints`, probes every address not yet healthy with
/// `GET http://addr/healthz` (`K-Network-Probe: queue`, `User-Agent:
/// Knative-Activator-Probe`; passing means 200 with body exactly `queue`), repeats the
/// rounds every `config.period` while some address is unhealthy, and sends
/// [`Backends`] on `backends` whenever they change. Returns when the endpoints sender
/// is dropped or nobody watches the backends any more.
pub async fn prober(
    mut endpoints: watch::Receiver<Endpoints>,
    backends: watch::Sender<Backends>,
    config: ProberConfig,
) {
    let client = probe_client();
    let mut tracker = ProbeTracker::new(config.require_ready);
    loop {
        tracker.set_endpoints(&endpoints.borrow_and_update());
        publish(&backends, tracker.backends());
        let due = tracker.to_probe();
        let next_round = Instant::now() + config.period;
        if !due.is_empty() {
            let deadline = Instant::now() + config.timeout;
            for (address, passed) in probe_round(&client, due, deadline).await {
                if tracker.probed(address, passed) {
                    debug!(%address, "backend passed its probe");
                }
            }
            publish(&backends, tracker.backends());
        }
        if backends.is_closed() {
            return;
        }
        let wait_for_change = tracker.to_probe().is_empty();
        tokio::select! {
            changed = endpoints.changed() => if changed.is_err() { return },
            () = tokio::time::sleep_until(next_round), if !wait_for_change => {}
            () = backends.closed() => return,
        }
    }
}

fn probe_client() -> ProbeClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    // Probes stop once an address is healthy; idle connections would only linger.
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build(connector)
}

fn publish(backends: &watch::Sender<Backends>, next: Backends) {
    backends.send_if_modified(|current| {
        if *current == next {
            return false;
        }
        debug!(healthy = next.healthy.len(), failure = ?next.failure, "backends changed");
        *current = next;
        true
    });
}

/// Probes every address at once; a probe unanswered at `deadline` failed.
async fn probe_round(
    client: &ProbeClient,
    addresses: Vec<SocketAddr>,
    deadline: Instant,
) -> Vec<(SocketAddr, bool)> {
    let probes = addresses.into_iter().map(|address| async move {
        let passed = tokio::time::timeout_at(deadline, probe(client, address))
            .await
            .unwrap_or(false);
        (address, passed)
    });
    join_all(probes).await
}

/// One probe: 200 with body exactly `queue`.
async fn probe(client: &ProbeClient, address: SocketAddr) -> bool {
    let request = Request::get(format!("http://{address}/healthz"))
        .header(headers::K_NETWORK_PROBE, headers::PROBE_QUEUE)
        .header(header::USER_AGENT, headers::ACTIVATOR_PROBE_USER_AGENT)
        .body(Empty::new());
    let Ok(request) = request else { return false };
    let response = match client.request(request).await {
        Ok(response) => response,
        Err(error) => {
            debug!(%address, %error, "probe failed");
            return false;
        }
    };
    if response.status() != StatusCode::OK {
        debug!(%address, status = %response.status(), "probe refused");
        return false;
    }
    match Limited::new(response.into_body(), PROBE_BODY_LIMIT)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes() == headers::PROBE_QUEUE.as_bytes(),
        Err(error) => {
            debug!(%address, %error, "probe body unreadable");
            false
        }
    }
}
