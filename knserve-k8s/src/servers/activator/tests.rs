//! The activator state's reading of Revisions and EndpointSlices.

use std::net::IpAddr;

use knserve_core::{
    RevisionKey,
    activator::{Membership, handler::RevisionTable, throttler::ThrottlerConfig},
};
use kube::runtime::watcher::Event;
use serde_json::json;

use super::*;
use crate::desired::sks::private_service_name;

fn revision(spec: serde_json::Value) -> Revision {
    serde_json::from_value(json!({
        "metadata": { "name": "hello-00001", "namespace": "default" },
        "spec": spec,
    }))
    .unwrap()
}

fn slice(service: &str, ips: &[&str]) -> EndpointSlice {
    let endpoints: Vec<_> = ips.iter().map(|ip| json!({ "addresses": [ip] })).collect();
    serde_json::from_value(json!({
        "metadata": { "name": format!("{service}-x"), "namespace": "default",
            "labels": { "kubernetes.io/service-name": service } },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{ "name": "http", "port": 8012 }],
    }))
    .unwrap()
}

#[test]
fn revision_settings_default_to_unlimited_concurrency_and_300_seconds() {
    let info = revision_info(&revision(json!({ "containers": [] })));
    assert_eq!(info.container_concurrency, 0);
    assert_eq!(info.timeout.as_secs(), 300);
    let info = revision_info(&revision(json!({
        "containers": [], "containerConcurrency": 4, "timeoutSeconds": 60, "idleTimeoutSeconds": 0,
    })));
    assert_eq!(
        (info.container_concurrency, info.timeout.as_secs()),
        (4, 60)
    );
    assert_eq!(info.idle_timeout, None, "an idle timeout of 0 is none");
}

#[tokio::test]
async fn membership_is_this_activators_place_among_the_public_addresses() {
    let own: IpAddr = "10.0.0.9".parse().unwrap();
    let mut state = ActivatorState::new(
        RevisionTable::new(),
        ThrottlerRegistry::new(ThrottlerConfig::default()),
        Some(own),
        ProberConfig::default(),
    );
    let key = RevisionKey::new("default", "hello-00001");
    state.apply(ActivatorEvent::Revision(Event::Apply(revision(
        json!({ "containers": [] }),
    ))));
    state.apply(ActivatorEvent::EndpointSlice(Event::Apply(slice(
        "hello-00001",
        &["10.0.0.10", "10.0.0.9", "10.0.0.1"],
    ))));
    assert_eq!(
        state.membership_of(&key),
        Membership {
            index: Some(2),
            activators: 3
        },
        "addresses sort as strings: 10.0.0.1, 10.0.0.10, 10.0.0.9"
    );
    state.apply(ActivatorEvent::EndpointSlice(Event::Apply(slice(
        "hello-00001-private",
        &["10.1.0.1"],
    ))));
    let endpoints = state.endpoints_of(&key);
    assert_eq!(
        endpoints.ready,
        ["10.1.0.1:8012".parse().unwrap()],
        "pods come from the private slices"
    );
}

#[tokio::test]
async fn a_long_revisions_pods_come_from_its_shortened_private_service() {
    let mut state = ActivatorState::new(
        RevisionTable::new(),
        ThrottlerRegistry::new(ThrottlerConfig::default()),
        None,
        ProberConfig::default(),
    );
    // `<rev>-private` would pass 63 characters, so the controller shortens it with a hash.
    let name = format!("{}-00001", "a".repeat(56));
    let private = private_service_name(&name);
    assert_ne!(private, format!("{name}-private"));
    state.apply(ActivatorEvent::EndpointSlice(Event::Apply(slice(
        &private,
        &["10.1.0.2"],
    ))));
    let endpoints = state.endpoints_of(&RevisionKey::new("default", name.as_str()));
    assert_eq!(endpoints.ready, ["10.1.0.2:8012".parse().unwrap()]);
}
