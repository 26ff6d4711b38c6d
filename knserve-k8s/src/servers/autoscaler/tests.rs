use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};
use knserve_core::autoscaler::ScalingParams;

use super::scrape::{SERVICE_NAME_LABEL, private_endpoints};
use super::*;
use crate::crd::PodAutoscalerSpec;

#[test]
fn a_bad_config_value_keeps_the_previous_config_and_absence_means_defaults() {
    let (tx, rx) = watch::channel(AutoscalerConfig::default());
    let data = BTreeMap::from([("stable-window".to_owned(), "90s".to_owned())]);
    apply_config(&tx, Some(&data));
    assert_eq!(rx.borrow().stable_window, Duration::from_secs(90));

    let bad = BTreeMap::from([
        ("stable-window".to_owned(), "30s".to_owned()),
        ("max-scale-up-rate".to_owned(), "fast".to_owned()),
    ]);
    apply_config(&tx, Some(&bad));
    assert_eq!(
        rx.borrow().stable_window,
        Duration::from_secs(90),
        "a map with a bad value is rejected whole"
    );

    apply_config(&tx, None);
    assert_eq!(
        *rx.borrow(),
        AutoscalerConfig::default(),
        "no map means defaults"
    );
}

fn slice(namespace: &str, service: &str, endpoints: &[(&str, Option<bool>)]) -> Arc<EndpointSlice> {
    let mut slice = EndpointSlice::default();
    slice.metadata.namespace = Some(namespace.into());
    slice.metadata.labels = Some(BTreeMap::from([(
        SERVICE_NAME_LABEL.to_owned(),
        service.to_owned(),
    )]));
    slice.endpoints = Some(
        endpoints
            .iter()
            .map(|(ip, ready)| Endpoint {
                addresses: vec![(*ip).to_owned()],
                conditions: Some(EndpointConditions {
                    ready: *ready,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
    );
    Arc::new(slice)
}

#[test]
fn only_ready_addresses_of_private_services_are_scraped() {
    let slices = [
        slice(
            "default",
            "hello-00001-private",
            &[("10.0.0.1", Some(true)), ("10.0.0.2", Some(false))],
        ),
        slice(
            "default",
            "hello-00001-private",
            &[("10.0.0.3", None), ("10.0.0.1", Some(true))],
        ),
        slice("default", "hello-00001", &[("10.9.9.9", Some(true))]),
    ];
    let key = RevisionKey::new("default", "hello-00001");
    let endpoints = private_endpoints(&slices, [&key]);
    let ips: Vec<String> = endpoints[&key].iter().map(ToString::to_string).collect();
    assert_eq!(
        ips,
        ["10.0.0.1", "10.0.0.3"],
        "ready (or unspecified), deduplicated"
    );
    assert_eq!(
        endpoints.len(),
        1,
        "the public Service's slices are not pods"
    );
}

#[test]
fn a_long_revision_is_found_behind_its_shortened_private_service() {
    // 62 characters: `<rev>-private` passes 63 and is shortened with a hash.
    let revision = format!("{}-00001", "a".repeat(56));
    let private = crate::desired::sks::private_service_name(&revision);
    assert_ne!(private, format!("{revision}-private"));
    let slices = [slice("default", &private, &[("10.0.0.7", Some(true))])];
    let key = RevisionKey::new("default", revision.as_str());
    let endpoints = private_endpoints(&slices, [&key]);
    assert_eq!(
        endpoints[&key],
        ["10.0.0.7".parse::<std::net::IpAddr>().unwrap()]
    );
}

#[tokio::test]
async fn metrics_show_each_revisions_scale_and_decision() {
    let (deciders, _woken) = Deciders::new();
    let key = RevisionKey::new("default", "hello-00001");
    deciders.upsert(
        &key,
        ScalingParams::from_config(0, &AutoscalerConfig::default()),
        1,
        true,
    );
    deciders.set_scale(&key, Some(3), Some(1));
    deciders.set_owners(&key, "hello", "hello");
    let text = deciders.render_metrics();
    let labels = "{namespace_name=\"default\",service_name=\"hello\",configuration_name=\"hello\",revision_name=\"hello-00001\"}";
    for line in [
        format!("autoscaler_requested_pods{labels} 3"),
        format!("autoscaler_actual_pods{labels} 1"),
        format!("autoscaler_panic_mode{labels} 0"),
        format!("autoscaler_target_concurrency_per_pod{labels} 70"),
        "# TYPE autoscaler_excess_burst_capacity gauge".to_owned(),
    ] {
        assert!(text.contains(&line), "{line} in:\n{text}");
    }
}

fn pa() -> PodAutoscaler {
    let mut pa = PodAutoscaler::new(
        "hello-00001",
        PodAutoscalerSpec {
            container_concurrency: 0,
            scale_target_ref: ObjectReference {
                api_version: Some("apps/v1".into()),
                kind: Some("Deployment".into()),
                name: Some("hello-00001-deployment".into()),
                ..ObjectReference::default()
            },
            reachability: "Reachable".into(),
            protocol_type: "http1".into(),
        },
    );
    pa.metadata.namespace = Some("default".into());
    pa.metadata.uid = Some("pa-uid".into());
    pa.metadata.generation = Some(1);
    pa
}

/// A context over empty stores, with a client whose API server is never called.
fn context() -> controller::Context {
    let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
    let client = Client::try_from(config).unwrap();
    let (deciders, _woken) = Deciders::new();
    let (_, config) = watch::channel(AutoscalerConfig::default());
    let (deployments, _) = reflector::store();
    let (sks, _) = reflector::store();
    let tick = Duration::from_secs(2);
    controller::Context::new(client, Arc::new(deciders), config, deployments, sks, tick)
}

/// Steps `pa`'s machine as a reconcile does and starts its decider.
fn reconciled(ctx: &controller::Context, pa: &PodAutoscaler) -> RevisionKey {
    let revision = RevisionKey::new("default", "hello-00001");
    let config = AutoscalerConfig::default();
    let out = controller::decide(pa, ctx, &config, &revision);
    let params = out.params.expect("a KPA PA is scaled");
    ctx.deciders.upsert(&revision, params, 0, true);
    revision
}

#[tokio::test]
async fn a_deleted_pas_decider_and_machine_are_dropped_when_its_request_finds_no_object() {
    let ctx = context();
    let revision = reconciled(&ctx, &pa());
    assert!(ctx.has_machine(&revision) && ctx.deciders.status(&revision).is_some());

    let gone = ObjectRef::from_obj(&pa()).erase();
    settle(&ctx, Err(ControllerError::ObjectNotFound(Box::new(gone))));
    assert!(
        !ctx.has_machine(&revision),
        "a deleted PA's machine entry is removed"
    );
    assert!(
        ctx.deciders.status(&revision).is_none(),
        "a deleted PA's decider is removed"
    );
}

#[tokio::test]
async fn the_tick_sweep_drops_the_machines_of_pas_missing_from_the_store() {
    let ctx = context();
    let revision = reconciled(&ctx, &pa());
    assert!(ctx.retain(|_| true).is_empty(), "present PAs are kept");
    assert!(ctx.has_machine(&revision));
    assert_eq!(ctx.retain(|_| false), std::slice::from_ref(&revision));
    assert!(
        !ctx.has_machine(&revision),
        "a PA deleted unseen loses its machine on the sweep"
    );
}

#[test]
fn metrics_name_each_familys_help_and_type_once_for_any_number_of_revisions() {
    let (deciders, _woken) = Deciders::new();
    for name in ["hello-00001", "hello-00002", "bye-00001"] {
        let key = RevisionKey::new("default", name);
        let params = ScalingParams::from_config(0, &AutoscalerConfig::default());
        deciders.upsert(&key, params, 1, true);
        deciders.set_scale(&key, Some(1), Some(1));
    }
    let text = deciders.render_metrics();
    let mut seen = std::collections::HashMap::<&str, usize>::new();
    for line in text.lines().filter(|l| l.starts_with('#')) {
        *seen.entry(line).or_default() += 1;
    }
    assert_eq!(
        seen.len(),
        10,
        "five families before any decision with data, a HELP and a TYPE each:\n{text}"
    );
    assert!(
        seen.values().all(|n| *n == 1),
        "strict Prometheus parsers reject a repeated HELP/TYPE:\n{text}"
    );
    let samples = text
        .lines()
        .filter(|l| l.starts_with("autoscaler_requested_pods{"));
    assert_eq!(samples.count(), 3, "one sample per revision");
}
