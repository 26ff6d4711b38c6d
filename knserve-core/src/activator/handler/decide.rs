//! The handler's rules as pure functions of the request head.

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, header};

use super::{RevisionInfo, RevisionTable};
use crate::{
    RevisionKey,
    activator::throttler::RevisionTarget,
    net::{Body, headers, text_response},
    timeout::TimeoutLimits,
};

/// What the handler does with a request (spec §3.2 steps 1–4).
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Answer it here; it never reaches the layers inside.
    Answer(Answer),
    /// Forward it to `key`, whose settings are `info`.
    Forward {
        /// The revision the request is for.
        key: RevisionKey,
        /// That revision's settings.
        info: RevisionInfo,
    },
}

/// The answers the handler gives itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A kubelet health check while healthy: 200.
    Healthy,
    /// A kubelet health check while draining: 500.
    Draining,
    /// A hash probe: 200 echoing its `K-Network-Hash`.
    HashEcho(HeaderValue),
    /// A hash probe without a hash: 400.
    MissingHash,
    /// `K-Network-Probe: activator`: 200 `activator`.
    Identity,
    /// Any other non-empty `K-Network-Probe`: 400.
    BadProbe(String),
    /// Neither headers nor Host name a revision: 404.
    NoRevision,
    /// The named revision is not in the table: 404.
    UnknownRevision(RevisionKey),
}

impl Answer {
    /// The response for this answer.
    pub fn into_response(self) -> Response<Body> {
        const ENDPOINT: &str = "Error getting active endpoint";
        match self {
            Self::Healthy => text_response(StatusCode::OK, ""),
            Self::Draining => text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "activator is shutting down",
            ),
            Self::HashEcho(hash) => {
                let mut response = text_response(StatusCode::OK, "");
                response.headers_mut().insert(headers::K_NETWORK_HASH, hash);
                response
            }
            Self::MissingHash => text_response(
                StatusCode::BAD_REQUEST,
                "a probe request must contain a non-empty \"K-Network-Hash\" header",
            ),
            Self::Identity => text_response(StatusCode::OK, headers::PROBE_ACTIVATOR),
            Self::BadProbe(value) => text_response(
                StatusCode::BAD_REQUEST,
                format!("unexpected probe header value: {value:?}"),
            ),
            Self::NoRevision => text_response(
                StatusCode::NOT_FOUND,
                format!("{ENDPOINT}: the request names no revision"),
            ),
            Self::UnknownRevision(key) => text_response(
                StatusCode::NOT_FOUND,
                format!("{ENDPOINT}: revision {key} not found"),
            ),
        }
    }
}

/// Decides what to do with a request whose head is `headers` and `uri`.
///
/// In order: kubelet health checks (200, or 500 while `draining`); hash probes; the
/// activator identity probe and bad probe values; then the revision from
/// `Knative-Serving-Namespace` + `Knative-Serving-Revision`, or from a Host of the
/// shape `<revision>.<namespace>.svc.<cluster_domain>[:port]`, looked up in `table`.
/// A request naming no revision at all is answered 404 like an unknown one: the
/// activator has nowhere to send it. (Knative's 500 for "other lookup failures" has no
/// counterpart: the table lookup cannot fail.)
pub fn decide(
    headers: &HeaderMap,
    uri: &Uri,
    draining: bool,
    table: &RevisionTable,
    cluster_domain: &str,
) -> Verdict {
    if headers::is_kubelet_probe(headers) {
        return Verdict::Answer(if draining {
            Answer::Draining
        } else {
            Answer::Healthy
        });
    }
    match headers::network_probe(headers) {
        Some(headers::PROBE_HASH) => return Verdict::Answer(hash_probe(headers)),
        Some(headers::PROBE_ACTIVATOR) => return Verdict::Answer(Answer::Identity),
        Some("") | None => {}
        Some(other) => return Verdict::Answer(Answer::BadProbe(other.to_owned())),
    }
    let Some(key) = revision_from_headers(headers).or_else(|| {
        original_host(headers, uri).and_then(|h| revision_from_host(h, cluster_domain))
    }) else {
        return Verdict::Answer(Answer::NoRevision);
    };
    match table.get(&key) {
        Some(info) => Verdict::Forward { key, info },
        None => Verdict::Answer(Answer::UnknownRevision(key)),
    }
}

fn hash_probe(headers: &HeaderMap) -> Answer {
    match headers.get(headers::K_NETWORK_HASH) {
        Some(hash) if !hash.is_empty() => Answer::HashEcho(hash.clone()),
        _ => Answer::MissingHash,
    }
}

fn revision_from_headers(headers: &HeaderMap) -> Option<RevisionKey> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    let name = text(headers::KNATIVE_SERVING_REVISION)?;
    let namespace = text(headers::KNATIVE_SERVING_NAMESPACE)?;
    Some(RevisionKey::new(namespace, name))
}

/// The request's authority: its Host header, or the URI's (HTTP/2).
fn original_host<'a>(headers: &'a HeaderMap, uri: &'a Uri) -> Option<&'a str> {
    match headers.get(header::HOST) {
        Some(host) => host.to_str().ok(),
        None => uri.authority().map(|a| a.as_str()),
    }
}

/// The revision a Host `<revision>.<namespace>.svc.<cluster_domain>[:port]` names
/// (case-insensitive, a trailing dot allowed).
pub fn revision_from_host(host: &str, cluster_domain: &str) -> Option<RevisionKey> {
    let host = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let domain = cluster_domain.trim_matches('.').to_ascii_lowercase();
    let prefix = host.strip_suffix(&format!(".svc.{domain}"))?;
    let (name, namespace) = prefix.split_once('.')?;
    let valid = |label: &str| !label.is_empty() && !label.contains('.');
    (valid(name) && valid(namespace)).then(|| RevisionKey::new(namespace, name))
}

/// The outgoing changes of §3.7 on a request the handler forwards, and the
/// extensions the layers inside read.
///
/// The client's Host moves to `K-Original-Host` (unless that is already set) and
/// `Host` is removed: the forwarder sets the URI to the chosen instance and hyper's
/// client then writes that as the Host. `K-Proxy-Request: activator` is set; the
/// revision headers and any client-sent `K-Network-Hash` are removed.
///
/// Extensions inserted: the [`RevisionKey`], the [`RevisionInfo`], the throttler's
/// [`RevisionTarget`] and the revision's [`TimeoutLimits`] for the timeout layer.
pub fn rewrite(request: &mut Request<Body>, key: RevisionKey, info: RevisionInfo) {
    let host = match request.headers_mut().remove(header::HOST) {
        Some(host) => Some(host),
        None => request
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok()),
    };
    let headers = request.headers_mut();
    if let Some(host) = host {
        headers.entry(headers::K_ORIGINAL_HOST).or_insert(host);
    }
    headers.insert(
        headers::K_PROXY_REQUEST,
        HeaderValue::from_static(headers::PROXY_REQUEST_ACTIVATOR),
    );
    headers.remove(headers::KNATIVE_SERVING_REVISION);
    headers.remove(headers::KNATIVE_SERVING_NAMESPACE);
    headers.remove(headers::K_NETWORK_HASH);
    let extensions = request.extensions_mut();
    extensions.insert(RevisionTarget {
        key: key.clone(),
        container_concurrency: info.container_concurrency,
    });
    let mut limits = TimeoutLimits::total(info.timeout);
    if let Some(limit) = info.response_start_timeout {
        limits = limits.with_response_start(limit);
    }
    if let Some(limit) = info.idle_timeout {
        limits = limits.with_idle(limit);
    }
    extensions.insert(limits);
    extensions.insert(key);
    extensions.insert(info);
}
