//! Header names of the request path (spec §6.4) and the probe classifications that use
//! them (§3.1, §4.2).

use std::net::IpAddr;

use http::{HeaderMap, HeaderName, HeaderValue};

/// Set by the ingress per split: the revision a request is for.
pub const KNATIVE_SERVING_REVISION: HeaderName =
    HeaderName::from_static("knative-serving-revision");
/// Set by the ingress per split: the namespace of that revision.
pub const KNATIVE_SERVING_NAMESPACE: HeaderName =
    HeaderName::from_static("knative-serving-namespace");
/// Tag header routing (§6.3), and the queue-proxy's metrics tag label.
pub const KNATIVE_SERVING_TAG: HeaderName = HeaderName::from_static("knative-serving-tag");
/// Marks the default route when tag header routing is on (§6.3).
pub const KNATIVE_SERVING_DEFAULT_ROUTE: HeaderName =
    HeaderName::from_static("knative-serving-default-route");
/// The client's Host, kept by the activator while Host names the instance.
pub const K_ORIGINAL_HOST: HeaderName = HeaderName::from_static("k-original-host");
/// `activator` on requests the activator forwards; the queue-proxy counts them as proxied.
pub const K_PROXY_REQUEST: HeaderName = HeaderName::from_static("k-proxy-request");
/// Probe kind: `probe` (hash probe), `queue` (readiness), `activator` (identity).
pub const K_NETWORK_PROBE: HeaderName = HeaderName::from_static("k-network-probe");
/// The hash a hash probe expects echoed.
pub const K_NETWORK_HASH: HeaderName = HeaderName::from_static("k-network-hash");
/// Asks a mesh not to load balance (pod addressability through a mesh).
pub const K_PASSTHROUGH_LB: HeaderName = HeaderName::from_static("k-passthrough-lb");
/// Legacy kubelet probe marker.
pub const K_KUBELET_PROBE: HeaderName = HeaderName::from_static("k-kubelet-probe");
/// RFC 7239 `Forwarded`, synthesised by the queue-proxy from `X-Forwarded-*`.
pub const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
/// De-facto `X-Forwarded-For`.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// De-facto `X-Forwarded-Proto`.
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
/// De-facto `X-Forwarded-Host`.
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// `K-Proxy-Request` value set by the activator.
pub const PROXY_REQUEST_ACTIVATOR: &str = "activator";
/// `K-Network-Probe` value of a hash probe.
pub const PROBE_HASH: &str = "probe";
/// `K-Network-Hash` value a hash probe sends to an ingress to have it fill in the hash
/// of the KIngress that routes the request.
pub const HASH_OVERRIDE: &str = "override";
/// `K-Network-Probe` value of a queue-proxy readiness check.
pub const PROBE_QUEUE: &str = "queue";
/// `K-Network-Probe` value of an activator identity probe.
pub const PROBE_ACTIVATOR: &str = "activator";

/// User-Agent prefix of kubelet probes.
pub const KUBE_PROBE_USER_AGENT_PREFIX: &str = "kube-probe/";
/// User-Agent of the activator's backend probes.
pub const ACTIVATOR_PROBE_USER_AGENT: &str = "Knative-Activator-Probe";
/// User-Agent of the autoscaler's probes.
pub const AUTOSCALING_PROBE_USER_AGENT: &str = "Knative-Autoscaling-Probe";
/// User-Agent of the queue-proxy's own probes.
pub const QUEUE_PROXY_PROBE_USER_AGENT: &str = "Knative-Queue-Proxy-Probe";
/// User-Agent of the ingress prober.
pub const INGRESS_PROBE_USER_AGENT: &str = "Knative-Ingress-Probe";

/// Headers only Knative's own hops may set. A router facing clients removes them from
/// every incoming request, so a client can neither pick a revision nor pass as a probe
/// or as the activator.
pub const INTERNAL: [HeaderName; 8] = [
    KNATIVE_SERVING_REVISION,
    KNATIVE_SERVING_NAMESPACE,
    KNATIVE_SERVING_DEFAULT_ROUTE,
    K_ORIGINAL_HOST,
    K_PROXY_REQUEST,
    K_NETWORK_PROBE,
    K_NETWORK_HASH,
    K_KUBELET_PROBE,
];

fn user_agent(headers: &HeaderMap) -> &str {
    headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A kubelet probe: User-Agent `kube-probe/…` or a `K-Kubelet-Probe` header (§6.4).
pub fn is_kubelet_probe(headers: &HeaderMap) -> bool {
    user_agent(headers).starts_with(KUBE_PROBE_USER_AGENT_PREFIX)
        || headers.contains_key(K_KUBELET_PROBE)
}

/// A health check the queue-proxy's drainer answers itself (§4.2 step 3): a kubelet
/// probe, or the activator's or autoscaler's probe.
pub fn is_health_check(headers: &HeaderMap) -> bool {
    let agent = user_agent(headers);
    is_kubelet_probe(headers)
        || agent.starts_with(ACTIVATOR_PROBE_USER_AGENT)
        || agent.starts_with(AUTOSCALING_PROBE_USER_AGENT)
}

/// The `K-Network-Probe` value, if the header is present (empty when not UTF-8).
pub fn network_probe(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(K_NETWORK_PROBE)
        .map(|v| v.to_str().unwrap_or(""))
}

/// A request the activator forwarded (`K-Proxy-Request: activator`).
pub fn is_proxied(headers: &HeaderMap) -> bool {
    headers
        .get(K_PROXY_REQUEST)
        .is_some_and(|v| v.as_bytes() == PROXY_REQUEST_ACTIVATOR.as_bytes())
}

/// Whether a User-Agent is one only Knative's own probers send; a router facing
/// clients treats such a client as an ordinary one (see [`INTERNAL`]).
pub fn is_probe_user_agent(headers: &HeaderMap) -> bool {
    let agent = user_agent(headers);
    agent.starts_with(KUBE_PROBE_USER_AGENT_PREFIX)
        || [
            ACTIVATOR_PROBE_USER_AGENT,
            AUTOSCALING_PROBE_USER_AGENT,
            QUEUE_PROXY_PROBE_USER_AGENT,
            INGRESS_PROBE_USER_AGENT,
        ]
        .iter()
        .any(|probe| agent.starts_with(probe))
}

/// Records the hop from a client to a router facing clients, as an edge proxy (Envoy
/// with `use_remote_address`, Knative's Kourier and Istio gateways) does: the peer's
/// address is appended to `X-Forwarded-For` (a list the client may have started), and
/// `X-Forwarded-Proto` is set to `http`, the scheme of the connection the request came
/// on. The client's own `X-Forwarded-Proto` is replaced rather than trusted: a router
/// listening in plain HTTP cannot vouch for `https`. The queue-proxy then builds
/// `Forwarded` from these (spec §6.4), so an app always sees who called it.
pub fn record_client_hop(headers: &mut HeaderMap, peer: Option<IpAddr>) {
    if let Some(peer) = peer {
        let value = match headers.get(X_FORWARDED_FOR).map(HeaderValue::to_str) {
            Some(Ok(list)) if !list.trim().is_empty() => format!("{list}, {peer}"),
            _ => peer.to_string(),
        };
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(X_FORWARDED_FOR, value);
        }
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &str, value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::try_from(name).unwrap(), value.parse().unwrap());
        headers
    }

    #[test]
    fn probes_are_recognised_by_user_agent_or_legacy_header() {
        assert!(is_kubelet_probe(&with("user-agent", "kube-probe/1.30")));
        assert!(is_kubelet_probe(&with("k-kubelet-probe", "queue")));
        assert!(!is_kubelet_probe(&with("user-agent", "curl/8")));
        assert!(is_health_check(&with(
            "user-agent",
            "Knative-Activator-Probe"
        )));
        assert!(is_health_check(&with(
            "user-agent",
            "Knative-Autoscaling-Probe"
        )));
        assert!(!is_health_check(&with(
            "user-agent",
            "Knative-Ingress-Probe"
        )));
        assert!(is_probe_user_agent(&with(
            "user-agent",
            "Knative-Ingress-Probe"
        )));
    }

    #[test]
    fn only_the_activator_value_marks_a_request_proxied() {
        assert!(is_proxied(&with("k-proxy-request", "activator")));
        assert!(!is_proxied(&with("k-proxy-request", "other")));
        assert_eq!(
            network_probe(&with("k-network-probe", "queue")),
            Some("queue")
        );
        assert_eq!(network_probe(&HeaderMap::new()), None);
    }
}
