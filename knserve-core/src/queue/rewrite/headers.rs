//! The header rules of §4.6 as pure functions over a `HeaderMap`.

use std::net::Ipv6Addr;

use http::{HeaderMap, HeaderName, HeaderValue, header};

use crate::net::headers::{
    FORWARDED, K_ORIGINAL_HOST, KNATIVE_SERVING_DEFAULT_ROUTE, KNATIVE_SERVING_NAMESPACE,
    KNATIVE_SERVING_REVISION, KNATIVE_SERVING_TAG, X_FORWARDED_FOR, X_FORWARDED_HOST,
    X_FORWARDED_PROTO,
};

/// Tag label of a request that carries neither tag nor default-route header.
pub const TAG_DISABLED: &str = "kn:disabled";
/// Tag label of a request routed by default (no tag, default-route header present).
pub const TAG_DEFAULT: &str = "kn:default";
/// Tag label of a request whose tag matched nothing, so it fell back to the default.
pub const TAG_UNDEFINED: &str = "kn:undefined";

/// The headers [`rewrite_for_app`] reads: without any of them it changes nothing.
pub const REWRITE_INPUTS: [HeaderName; 6] = [
    X_FORWARDED_FOR,
    X_FORWARDED_HOST,
    X_FORWARDED_PROTO,
    K_ORIGINAL_HOST,
    KNATIVE_SERVING_REVISION,
    KNATIVE_SERVING_NAMESPACE,
];

/// Applies every rule of §4.6 on the way to the app: [`restore_host`],
/// [`add_forwarded`], and removal of `Knative-Serving-Revision` and
/// `Knative-Serving-Namespace`.
///
/// A request that carries none of [`REWRITE_INPUTS`] is left as it is after one pass
/// over its header names (the common case; each rule alone would hash and probe).
pub fn rewrite_for_app(headers: &mut HeaderMap) {
    if !headers.keys().any(|name| REWRITE_INPUTS.contains(name)) {
        return;
    }
    add_forwarded(headers);
    restore_host(headers);
    headers.remove(KNATIVE_SERVING_REVISION);
    headers.remove(KNATIVE_SERVING_NAMESPACE);
}

/// `K-Original-Host`, if present, becomes `Host` and is removed. Only the header
/// changes: the forwarder sets the URI authority to the app's address anyway.
pub fn restore_host(headers: &mut HeaderMap) {
    if let Some(original) = headers.remove(K_ORIGINAL_HOST) {
        headers.insert(header::HOST, original);
    }
}

/// Synthesises `Forwarded` from `X-Forwarded-For/-Host/-Proto` when it is absent and
/// any of them is present: `for=<first node>;host=<XFH>;proto=<XFP>`, then
/// `, for=<node>` per further node, IPv6 nodes as `"[addr]"`.
///
/// Choices where Knative leaves room: several `X-Forwarded-For` lines are one list (as
/// HTTP says), empty list items are skipped, and a header that is not visible ASCII
/// counts as absent. Only the first `-Host` and `-Proto` lines are used.
pub fn add_forwarded(headers: &mut HeaderMap) {
    if headers.contains_key(FORWARDED) {
        return;
    }
    if let Some(value) = forwarded_value(headers) {
        headers.insert(FORWARDED, value);
    }
}

fn forwarded_value(headers: &HeaderMap) -> Option<HeaderValue> {
    let nodes: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|node| !node.is_empty())
        .collect();
    let first = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let host = first(X_FORWARDED_HOST).filter(|h| !h.is_empty());
    let proto = first(X_FORWARDED_PROTO).filter(|p| !p.is_empty());
    let mut params: Vec<String> = Vec::new();
    if let Some(node) = nodes.first() {
        params.push(format!("for={}", forwarded_node(node)));
    }
    params.extend(host.map(|h| format!("host={h}")));
    params.extend(proto.map(|p| format!("proto={p}")));
    if params.is_empty() {
        return None;
    }
    let mut value = params.join(";");
    for node in nodes.iter().skip(1) {
        value.push_str(", for=");
        value.push_str(&forwarded_node(node));
    }
    HeaderValue::from_str(&value).ok()
}

/// RFC 7239 §6: an IPv6 node is bracketed and, as `[` is not a token character, quoted.
fn forwarded_node(node: &str) -> String {
    match node.parse::<Ipv6Addr>() {
        Ok(_) => format!("\"[{node}]\""),
        Err(_) => node.to_owned(),
    }
}

/// The route-tag label of a request's metrics (§4.6): [`TAG_DISABLED`] without a tag
/// or default-route header, [`TAG_DEFAULT`] with only the default-route header,
/// [`TAG_UNDEFINED`] with a tag and `Knative-Serving-Default-Route: true`, else the tag.
///
/// An empty header counts as absent (Knative reads headers with Go's `Get`); a tag
/// that is not text cannot be named, so it is [`TAG_UNDEFINED`].
pub fn route_tag_label(headers: &HeaderMap) -> &str {
    let present = |v: &&HeaderValue| !v.is_empty();
    let tag = headers.get(KNATIVE_SERVING_TAG).filter(present);
    let default_route = headers.get(KNATIVE_SERVING_DEFAULT_ROUTE).filter(present);
    match (tag, default_route) {
        (None, None) => TAG_DISABLED,
        (None, Some(_)) => TAG_DEFAULT,
        (Some(_), Some(route)) if route.as_bytes() == b"true" => TAG_UNDEFINED,
        (Some(tag), _) => tag.to_str().unwrap_or(TAG_UNDEFINED),
    }
}
