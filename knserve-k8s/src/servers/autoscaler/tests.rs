use std::collections::BTreeMap;

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions};
use knserve_core::autoscaler::ScalingParams;

use super::scrape::{SERVICE_NAME_LABEL, private_endpoints};
use super::*;

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
    let endpoints = private_endpoints(&slices);
    let key = RevisionKey::new("default", "hello-00001");
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
    let text = deciders.render_metrics();
    for line in [
        "knserve_autoscaler_desired_pods{namespace=\"default\",revision=\"hello-00001\"} 3",
        "knserve_autoscaler_actual_pods{namespace=\"default\",revision=\"hello-00001\"} 1",
        "knserve_autoscaler_panic_mode{namespace=\"default\",revision=\"hello-00001\"} 0",
        "# TYPE knserve_autoscaler_excess_burst_capacity gauge",
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
}
