//! Scraping the revisions' pods (spec §2.5): the ready addresses of each revision's
//! private Service, a sample of them asked for their queue sidecar's stat, the answers
//! extrapolated to the whole revision.
//!
//! Choices:
//! - The stat is fetched as the sidecar's protobuf (`Accept: application/protobuf`,
//!   Knative's format), decoded with [`knserve_core::queue::stats::decode`].
//! - **A pod that cannot be scraped is skipped**: it counts as no data, never as zero
//!   load, and the pods that answered stand for the whole revision (their sum is
//!   scaled by ready / answered). If none answers, the revision gets no sample this
//!   round. Knative instead retries other pods and drops the whole round when fewer
//!   than the sample size answer; skipping keeps one slow pod from blinding the
//!   autoscaler while never reading a failure as idleness.
//! - The sample is taken in address order rotated by the round number (no random
//!   source is needed, and over rounds every pod is asked).
//! - Each GET has a timeout of one scrape interval, so a round never overruns the next.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use knserve_core::RevisionKey;
use knserve_core::autoscaler::metrics::{Stat, extrapolate, sample_size};
use knserve_core::queue::stats::{DecodeError, PROTOBUF_CONTENT_TYPE, decode};
use kube::runtime::reflector::Store;
use tracing::{debug, trace};

use super::Deciders;
use crate::desired::sks::private_service_name;

/// The label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The largest stat body read (Knative's limit is 336 bytes; a long pod name is allowed).
const MAX_STAT_BODY: usize = 4096;

/// The HTTP client the scraper uses (keep-alive on, as Knative's direct pod scraping).
pub type ScrapeClient = Client<HttpConnector, Empty<Bytes>>;

/// A new [`ScrapeClient`].
pub fn scrape_client() -> ScrapeClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// Why one pod's stat could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The request failed (refused, reset, …).
    #[error("GET {address}/metrics failed")]
    Request {
        /// The pod's metrics address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: hyper_util::client::legacy::Error,
    },
    /// No answer within the timeout.
    #[error("GET {0}/metrics timed out")]
    Timeout(SocketAddr),
    /// A non-2xx answer.
    #[error("GET {address}/metrics answered {status}")]
    Status {
        /// The pod's metrics address.
        address: SocketAddr,
        /// The status it answered.
        status: StatusCode,
    },
    /// The answer is not a protobuf stat.
    #[error(
        "GET {address}/metrics answered content type {content_type:?}, not {PROTOBUF_CONTENT_TYPE}"
    )]
    ContentType {
        /// The pod's metrics address.
        address: SocketAddr,
        /// The content type it sent.
        content_type: String,
    },
    /// The body could not be read within its limit of 4096 bytes.
    #[error("reading the stat from {0} failed or exceeded 4096 bytes")]
    Body(SocketAddr),
    /// The body is not a `Stat` message.
    #[error("the stat from {address} does not decode")]
    Decode {
        /// The pod's metrics address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: DecodeError,
    },
}

/// Reads one pod's stat from `GET http://<address>/metrics`.
pub async fn scrape_pod(
    client: &ScrapeClient,
    address: SocketAddr,
    timeout: Duration,
) -> Result<Stat, ScrapeError> {
    let request = Request::get(format!("http://{address}/metrics"))
        .header(header::ACCEPT, PROTOBUF_CONTENT_TYPE)
        .body(Empty::new())
        .map_err(|_| ScrapeError::Body(address))?;
    let fetch = async {
        let response = client
            .request(request)
            .await
            .map_err(|source| ScrapeError::Request { address, source })?;
        let status = response.status();
        if !status.is_success() {
            return Err(ScrapeError::Status { address, status });
        }
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        if !content_type.starts_with(PROTOBUF_CONTENT_TYPE) {
            return Err(ScrapeError::ContentType {
                address,
                content_type,
            });
        }
        let body = Limited::new(response.into_body(), MAX_STAT_BODY)
            .collect()
            .await
            .map_err(|_| ScrapeError::Body(address))?
            .to_bytes();
        decode(&body).map_err(|source| ScrapeError::Decode { address, source })
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| ScrapeError::Timeout(address))?
}

/// Scrapes a sample of `ready` pods and extrapolates to all of them; `None` when there
/// are no ready pods or none answered. `round` rotates which pods are asked.
pub async fn scrape_revision(
    client: &ScrapeClient,
    ready: &[IpAddr],
    port: u16,
    round: usize,
    timeout: Duration,
) -> Option<Stat> {
    let population = ready.len();
    let n = sample_size(population);
    if n == 0 {
        return None;
    }
    let start = round % population;
    let sample = ready.iter().cycle().skip(start).take(n);
    let answers =
        join_all(sample.map(|ip| scrape_pod(client, SocketAddr::new(*ip, port), timeout))).await;
    let stats: Vec<Stat> = answers
        .into_iter()
        .filter_map(|answer| {
            answer
                .map_err(|error| debug!(%error, "pod not scraped; skipped"))
                .ok()
        })
        .collect();
    extrapolate(&stats, population)
}

/// The ready addresses behind the private Service of each of `revisions`, by revision.
///
/// The private Service is named as the controller names it
/// ([`private_service_name`]: `<rev>-private`, shortened with a hash past 63
/// characters), so the revision is looked up by that name rather than recovered by
/// stripping a suffix, which a shortened name no longer carries.
pub fn private_endpoints<'a>(
    slices: &[Arc<EndpointSlice>],
    revisions: impl IntoIterator<Item = &'a RevisionKey>,
) -> BTreeMap<RevisionKey, Vec<IpAddr>> {
    let by_service: BTreeMap<(&str, String), &RevisionKey> = revisions
        .into_iter()
        .map(|r| ((&*r.namespace, private_service_name(&r.name)), r))
        .collect();
    let mut out: BTreeMap<RevisionKey, Vec<IpAddr>> = BTreeMap::new();
    for slice in slices {
        let service = slice
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SERVICE_NAME_LABEL));
        let namespace = slice.metadata.namespace.as_deref().unwrap_or_default();
        let Some(revision) = service.and_then(|s| by_service.get(&(namespace, s.clone())).copied())
        else {
            continue;
        };
        let addresses = out.entry(revision.clone()).or_default();
        for endpoint in slice.endpoints.iter().flatten() {
            // A missing `ready` means ready (the API's documented default).
            let ready = endpoint.conditions.as_ref().and_then(|c| c.ready) != Some(false);
            if ready {
                addresses.extend(
                    endpoint
                        .addresses
                        .iter()
                        .filter_map(|a| a.parse::<IpAddr>().ok()),
                );
            }
        }
    }
    for addresses in out.values_mut() {
        addresses.sort_unstable();
        addresses.dedup();
    }
    out
}

/// One scrape round: every scraped revision's pods, in parallel, recorded.
pub(super) async fn scrape_round(
    deciders: &Deciders,
    slices: &Store<EndpointSlice>,
    client: &ScrapeClient,
    port: u16,
    round: usize,
    timeout: Duration,
) {
    let targets = deciders.scrape_targets();
    let endpoints = private_endpoints(&slices.state(), &targets);
    let scrapes = targets.iter().filter_map(|revision| {
        let ready = endpoints.get(revision)?;
        Some(async move {
            let stat = scrape_revision(client, ready, port, round, timeout).await;
            (revision, stat)
        })
    });
    for (revision, stat) in join_all(scrapes).await {
        match stat {
            Some(stat) => {
                trace!(%revision, concurrency = stat.average_concurrent_requests, "scraped");
                deciders.record(revision, &stat);
            }
            None => trace!(%revision, "no sample this round"),
        }
    }
}
