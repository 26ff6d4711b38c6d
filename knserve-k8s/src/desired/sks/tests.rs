//! The helloworld-go revision's SKS in each situation of §5.2 and §5.4.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use knserve_core::api::{ConditionStatus, find_condition};
use knserve_core::autoscaler::SksMode;

use super::*;
use crate::crd::ServerlessServiceSpec;

const NOW: &str = "2026-01-01T00:00:10Z";

fn sks(mode: &str, activators: i32) -> ServerlessService {
    let mut sks = ServerlessService::new(
        "helloworld-go-00001",
        ServerlessServiceSpec {
            mode: mode.to_owned(),
            object_ref: ObjectReference {
                api_version: Some("apps/v1".into()),
                kind: Some("Deployment".into()),
                name: Some("helloworld-go-00001-deployment".into()),
                ..ObjectReference::default()
            },
            protocol_type: "http1".to_owned(),
            num_activators: activators,
        },
    );
    sks.metadata.namespace = Some("example".into());
    sks.metadata.uid = Some("5c5c0000-0000-4000-8000-000000000001".into());
    sks.metadata.generation = Some(1);
    sks.metadata.labels = Some(
        [(
            "serving.knative.dev/revision".to_owned(),
            "helloworld-go-00001".to_owned(),
        )]
        .into(),
    );
    sks
}

fn endpoint(ip: &str, ready: Option<bool>) -> Endpoint {
    Endpoint {
        addresses: vec![ip.to_owned()],
        conditions: Some(EndpointConditions {
            ready,
            ..EndpointConditions::default()
        }),
        ..Endpoint::default()
    }
}

fn ips(slice: &EndpointSlice) -> Vec<String> {
    slice
        .endpoints
        .iter()
        .flatten()
        .map(|e| e.addresses[0].clone())
        .collect()
}

fn pods() -> Vec<Endpoint> {
    vec![
        endpoint("10.1.0.5", Some(true)),
        endpoint("10.1.0.6", Some(true)),
    ]
}

fn activators() -> Vec<Endpoint> {
    (1..=5)
        .map(|i| endpoint(&format!("10.2.0.{i}"), Some(true)))
        .collect()
}

fn condition(desired: &DesiredSks, type_: &str) -> ConditionStatus {
    find_condition(&desired.status.conditions, type_)
        .map(|c| c.status)
        .unwrap_or_default()
}

#[test]
fn serve_mode_with_ready_pods_points_the_public_slice_at_the_pods() {
    let desired = desired_sks(&sks("Serve", 2), &pods(), &activators(), NOW).expect("builds");
    assert_eq!(desired.mode, SksMode::Serve);
    assert_eq!(ips(&desired.public_endpoints), ["10.1.0.5", "10.1.0.6"]);
    assert_eq!(condition(&desired, "Ready"), ConditionStatus::True);
    assert_eq!(
        condition(&desired, ENDPOINTS_POPULATED),
        ConditionStatus::True
    );
    assert_eq!(
        condition(&desired, ACTIVATOR_ENDPOINTS_POPULATED),
        ConditionStatus::False,
        "pods serve and spec.mode is Serve"
    );
    assert_eq!(
        desired.status.service_name.as_deref(),
        Some("helloworld-go-00001")
    );
    assert_eq!(
        desired.status.private_service_name.as_deref(),
        Some("helloworld-go-00001-private")
    );
}

#[test]
fn proxy_mode_uses_the_activator_subset() {
    let desired = desired_sks(&sks("Proxy", 2), &pods(), &activators(), NOW).expect("builds");
    assert_eq!(desired.mode, SksMode::Proxy);
    let chosen = ips(&desired.public_endpoints);
    assert_eq!(chosen.len(), 2, "numActivators of them");
    let all: Vec<String> = activators()
        .iter()
        .map(|e| e.addresses[0].clone())
        .collect();
    let expected = choose_subset(&all, 2, "helloworld-go-00001");
    assert_eq!(
        chosen
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>(),
        expected
    );
    assert_eq!(
        condition(&desired, ACTIVATOR_ENDPOINTS_POPULATED),
        ConditionStatus::True
    );
}

#[test]
fn no_ready_pods_forces_proxy_and_leaves_ready_unknown() {
    let not_ready = vec![endpoint("10.1.0.5", Some(false))];
    let desired = desired_sks(
        &sks("Serve", 2),
        &ready_endpoints(&[slice(not_ready)]),
        &activators(),
        NOW,
    )
    .expect("builds");
    assert_eq!(desired.mode, SksMode::Proxy, "nothing to serve with");
    assert_eq!(ips(&desired.public_endpoints).len(), 2);
    let ready = find_condition(&desired.status.conditions, "Ready").expect("Ready");
    assert_eq!(ready.status, ConditionStatus::Unknown);
    assert_eq!(ready.reason.as_deref(), Some("NoHealthyBackends"));
    assert_eq!(
        condition(&desired, ACTIVATOR_ENDPOINTS_POPULATED),
        ConditionStatus::True
    );
}

#[test]
fn no_activators_forces_serve() {
    let desired = desired_sks(&sks("Proxy", 2), &pods(), &[], NOW).expect("builds");
    assert_eq!(desired.mode, SksMode::Serve, "no activator available");
    assert_eq!(ips(&desired.public_endpoints), ["10.1.0.5", "10.1.0.6"]);
}

#[test]
fn zero_activators_requested_means_all_of_them() {
    let desired = desired_sks(&sks("Proxy", 0), &pods(), &activators(), NOW).expect("builds");
    assert_eq!(ips(&desired.public_endpoints).len(), 5);
}

fn slice(endpoints: Vec<Endpoint>) -> EndpointSlice {
    EndpointSlice {
        metadata: ObjectMeta::default(),
        address_type: "IPv4".into(),
        endpoints: Some(endpoints),
        ports: None,
    }
}

#[test]
fn ready_endpoints_keeps_ready_and_unset_and_drops_duplicates() {
    let slices = [
        slice(vec![
            endpoint("10.0.0.3", None),
            endpoint("10.0.0.1", Some(true)),
        ]),
        slice(vec![
            endpoint("10.0.0.2", Some(false)),
            endpoint("10.0.0.1", Some(true)),
        ]),
    ];
    let ready: Vec<String> = ready_endpoints(&slices)
        .into_iter()
        .map(|e| e.addresses[0].clone())
        .collect();
    assert_eq!(
        ready,
        ["10.0.0.1", "10.0.0.3"],
        "unset ready counts as ready"
    );
}

#[test]
fn the_public_slice_keeps_only_the_serving_port_and_names_its_service() {
    let desired = desired_sks(&sks("Serve", 2), &pods(), &activators(), NOW).expect("builds");
    let slice = &desired.public_endpoints;
    assert_eq!(slice.metadata.name.as_deref(), Some("helloworld-go-00001"));
    let labels = slice.metadata.labels.as_ref().expect("labels");
    assert_eq!(labels[SERVICE_NAME_LABEL], "helloworld-go-00001");
    assert_eq!(
        labels[ENDPOINT_SLICE_MANAGED_BY_LABEL],
        ENDPOINT_SLICE_MANAGER
    );
    let ports = slice.ports.as_ref().expect("ports");
    assert_eq!(ports.len(), 1);
    assert_eq!(
        (ports[0].name.as_deref(), ports[0].port),
        (Some("http"), Some(8012))
    );
    assert_eq!(slice.address_type, "IPv4");
    let owner = &slice.metadata.owner_references.as_ref().expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("ServerlessService", Some(true))
    );
}

#[test]
fn the_services_have_the_right_selectors_and_ports() {
    let desired = desired_sks(&sks("Serve", 2), &pods(), &activators(), NOW).expect("builds");
    let private = desired.private_service.spec.as_ref().expect("spec");
    assert_eq!(
        desired.private_service.metadata.name.as_deref(),
        Some("helloworld-go-00001-private")
    );
    let selector = private.selector.as_ref().expect("a selector");
    assert_eq!(
        selector["serving.knative.dev/revision"],
        "helloworld-go-00001"
    );
    let private_ports: Vec<i32> = private.ports.iter().flatten().map(|p| p.port).collect();
    assert_eq!(private_ports, [80, 443, 9090, 9091]);
    let public = desired.public_service.spec.as_ref().expect("spec");
    assert!(
        public.selector.is_none(),
        "the public Service has no selector"
    );
    let http = &public.ports.as_ref().expect("ports")[0];
    assert_eq!((http.name.as_deref(), http.port), (Some("http"), 80));
    let labels = desired
        .public_service
        .metadata
        .labels
        .as_ref()
        .expect("labels");
    assert_eq!(labels[SERVICE_TYPE_LABEL], "Public");
}

#[test]
fn an_h2c_sks_serves_http2_on_81_and_8013() {
    let mut h2c = sks("Serve", 2);
    h2c.spec.protocol_type = "h2c".into();
    let desired = desired_sks(&h2c, &pods(), &activators(), NOW).expect("builds");
    let port = &desired.public_endpoints.ports.as_ref().expect("ports")[0];
    assert_eq!(
        (port.name.as_deref(), port.port),
        (Some("http2"), Some(8013))
    );
    let public = &desired
        .public_service
        .spec
        .as_ref()
        .expect("spec")
        .ports
        .as_ref()
        .expect("ports")[0];
    assert_eq!((public.name.as_deref(), public.port), (Some("http2"), 81));
}

#[test]
fn transition_times_are_kept_while_a_status_holds() {
    let mut sks = sks("Serve", 2);
    let first = desired_sks(&sks, &pods(), &activators(), "2026-01-01T00:00:00Z").expect("builds");
    sks.status = Some(first.status);
    let again = desired_sks(&sks, &pods(), &activators(), NOW).expect("builds");
    let ready = find_condition(&again.status.conditions, "Ready").expect("Ready");
    assert_eq!(
        ready.last_transition_time.as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
    sks.status = Some(again.status);
    let lost = desired_sks(&sks, &[], &activators(), NOW).expect("builds");
    let ready = find_condition(&lost.status.conditions, "Ready").expect("Ready");
    assert_eq!(
        ready.last_transition_time.as_deref(),
        Some(NOW),
        "a change moves the time"
    );
}

#[test]
fn a_bad_mode_or_missing_uid_is_an_error_naming_the_field() {
    let err = desired_sks(&sks("Sometimes", 2), &pods(), &activators(), NOW).expect_err("mode");
    assert_eq!(err.field, "spec.mode");
    let mut no_uid = sks("Serve", 2);
    no_uid.metadata.uid = None;
    let err = desired_sks(&no_uid, &pods(), &activators(), NOW).expect_err("uid");
    assert_eq!(err.field, "metadata.uid");
}
