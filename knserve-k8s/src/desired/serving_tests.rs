use super::*;
use knserve_core::api::keys::{CONFIGURATION_LABEL, ROUTING_STATE_LABEL, SERVICE_LABEL};
use knserve_core::reconcile::RevisionHealth;

const NOW: &str = "2026-11-22T10:00:00Z";
const LATER: &str = "2026-11-22T10:00:05Z";

const HELLO: &str = r#"
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: helloworld-go
  namespace: example
  uid: 6b1c3a52-0000-4000-8000-000000000001
  generation: 1
spec:
  template:
    spec:
      containers:
      - image: registry.cn-hangzhou.aliyuncs.com/knative-sample/helloworld-go:160e4dc8
        env:
        - name: TARGET
          value: "Go Sample v1"
"#;

fn hello() -> crd::Service {
    serde_yaml_ng::from_str(HELLO).expect("the sample parses as a kube Service")
}

fn config() -> ValidationConfig {
    ValidationConfig::default()
}

/// The Configuration as the API server returns it after the Service's apply.
fn stored_configuration(outcome: &ServiceOutcome) -> crd::Configuration {
    let mut configuration = outcome.children.clone().unwrap().0;
    configuration.metadata.uid = Some("6b1c3a52-0000-4000-8000-000000000002".into());
    configuration.metadata.generation = Some(1);
    configuration
}

fn stored_revision(revision: &crd::Revision) -> crd::Revision {
    let mut revision = revision.clone();
    revision.metadata.uid = Some("6b1c3a52-0000-4000-8000-000000000003".into());
    revision.metadata.generation = Some(1);
    revision
}

fn ready_revision(revision: &crd::Revision) -> crd::Revision {
    let mut revision = stored_revision(revision);
    let seen = RevisionObservation {
        health: RevisionHealth::Ready,
        actual_replicas: 1,
        desired_replicas: Some(1),
        active: Some(true),
    };
    revision.status = Some(revision_status(&revision, &seen, NOW));
    revision
}

#[test]
fn a_service_clobbers_its_configuration_and_route_with_owner_references() {
    let outcome = service(&hello(), None, None, &config(), NOW);
    let (configuration, route) = outcome.children.expect("a valid Service has children");
    for meta in [&configuration.metadata, &route.metadata] {
        assert_eq!(meta.name.as_deref(), Some("helloworld-go"));
        assert_eq!(meta.namespace.as_deref(), Some("example"));
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.name.as_str(), owner.controller),
            ("Service", "helloworld-go", Some(true)),
            "children are controlled by their Service so deletion cascades"
        );
        assert_eq!(owner.uid, "6b1c3a52-0000-4000-8000-000000000001");
        assert!(meta.uid.is_none(), "the API server assigns uids");
        assert_eq!(
            meta.labels
                .as_ref()
                .unwrap()
                .get(SERVICE_LABEL)
                .map(String::as_str),
            Some("helloworld-go")
        );
    }
    assert_eq!(
        route.spec.traffic[0].percent,
        Some(100),
        "traffic defaults to 100% latest"
    );
    let ready = find_condition(&outcome.status.conditions, READY).unwrap();
    assert_eq!(ready.status, ConditionStatus::Unknown);
    assert_eq!(ready.reason.as_deref(), Some(reconcile::OUT_OF_DATE));
}

#[test]
fn an_invalid_service_writes_no_children_and_names_the_field() {
    let mut bad = hello();
    bad.spec.template.spec.containers[0].image.clear();
    let outcome = service(&bad, None, None, &config(), NOW);
    assert!(
        outcome.children.is_none(),
        "nothing is built from an invalid spec"
    );
    let ready = find_condition(&outcome.status.conditions, READY).unwrap();
    assert_eq!(ready.status, ConditionStatus::False);
    assert_eq!(ready.reason.as_deref(), Some(INVALID_SPEC));
    let message = ready.message.as_deref().unwrap();
    assert!(
        message.contains("spec.template.spec.containers[0].image"),
        "the message names the field: {message}"
    );
}

#[test]
fn a_configuration_stamps_its_first_revision_once() {
    let outcome = service(&hello(), None, None, &config(), NOW);
    let configuration = stored_configuration(&outcome);
    let none = BTreeSet::new();
    let first = super::configuration(&configuration, &[], &none, &|_| false, &config(), NOW);
    let revision = first.new_revision.expect("generation 1 stamps a revision");
    assert_eq!(
        revision.metadata.name.as_deref(),
        Some("helloworld-go-00001")
    );
    let labels = revision.metadata.labels.clone().unwrap();
    assert_eq!(
        labels.get(CONFIGURATION_LABEL).map(String::as_str),
        Some("helloworld-go")
    );
    assert_eq!(
        labels.get(SERVICE_LABEL).map(String::as_str),
        Some("helloworld-go")
    );
    assert_eq!(
        first.status.latest_created_revision_name.as_deref(),
        Some("helloworld-go-00001")
    );

    let owned = [stored_revision(&revision)];
    let again = super::configuration(&configuration, &owned, &none, &|_| false, &config(), NOW);
    assert!(again.new_revision.is_none(), "one revision per generation");
    assert_eq!(
        again.status.latest_ready_revision_name, None,
        "not ready yet"
    );
}

#[test]
fn a_ready_revision_becomes_latest_ready_and_referenced_ones_turn_active() {
    let outcome = service(&hello(), None, None, &config(), NOW);
    let configuration = stored_configuration(&outcome);
    let none = BTreeSet::new();
    let first = super::configuration(&configuration, &[], &none, &|_| false, &config(), NOW);
    let owned = [ready_revision(&first.new_revision.unwrap())];
    let referenced = BTreeSet::from(["helloworld-go-00001".to_owned()]);
    let next = super::configuration(
        &configuration,
        &owned,
        &referenced,
        &|_| false,
        &config(),
        LATER,
    );
    assert_eq!(
        next.status.latest_ready_revision_name.as_deref(),
        Some("helloworld-go-00001")
    );
    let ready = find_condition(&next.status.conditions, READY).unwrap();
    assert_eq!(ready.status, ConditionStatus::True);
    assert!(
        next.relabel.is_empty(),
        "a Service's first revision is active from the start"
    );
}

#[test]
fn a_revision_no_route_references_any_more_goes_to_reserve() {
    let outcome = service(&hello(), None, None, &config(), NOW);
    let mut configuration = stored_configuration(&outcome);
    let none = BTreeSet::new();
    let first = super::configuration(&configuration, &[], &none, &|_| false, &config(), NOW);
    let rev1 = ready_revision(&first.new_revision.unwrap());
    assert_eq!(
        rev1.metadata.labels.as_ref().unwrap()[ROUTING_STATE_LABEL],
        "active",
        "the Configuration is already named by its Route"
    );
    configuration.metadata.generation = Some(2);
    configuration.spec.template.spec.containers[0].image = "example.com/hello:v2".into();
    let next = super::configuration(&configuration, &[rev1], &none, &|_| false, &config(), LATER);
    let rev2 = next.new_revision.expect("generation 2 stamps a revision");
    assert_eq!(rev2.metadata.name.as_deref(), Some("helloworld-go-00002"));
    let (labels, annotations) = &next.relabel["helloworld-go-00001"];
    assert_eq!(
        labels.get(ROUTING_STATE_LABEL).map(String::as_str),
        Some("reserve")
    );
    assert_eq!(
        annotations
            .get(keys::ROUTING_STATE_MODIFIED_ANNOTATION)
            .map(String::as_str),
        Some(LATER)
    );
}

#[test]
fn a_revision_name_held_by_another_configuration_fails_the_configuration() {
    let mut byo = hello();
    byo.spec.template.metadata.name = Some("helloworld-go-mine".into());
    let outcome = service(&byo, None, None, &config(), NOW);
    let configuration = stored_configuration(&outcome);
    let taken = |name: &str| name == "helloworld-go-mine";
    let next = super::configuration(
        &configuration,
        &[],
        &BTreeSet::new(),
        &taken,
        &config(),
        NOW,
    );
    assert!(next.new_revision.is_none());
    let ready = find_condition(&next.status.conditions, READY).unwrap();
    assert_eq!(ready.status, ConditionStatus::False);
    assert_eq!(ready.reason.as_deref(), Some(reconcile::REVISION_FAILED));
}

#[test]
fn a_route_is_ready_only_once_its_ingress_is() {
    let outcome = service(&hello(), None, None, &config(), NOW);
    let mut configuration = stored_configuration(&outcome);
    let none = BTreeSet::new();
    let first = super::configuration(&configuration, &[], &none, &|_| false, &config(), NOW);
    let revisions = [ready_revision(&first.new_revision.unwrap())];
    let next = super::configuration(
        &configuration,
        &revisions,
        &none,
        &|_| false,
        &config(),
        NOW,
    );
    configuration.status = Some(next.status);
    let mut route = outcome.children.unwrap().1;
    route.metadata.generation = Some(1);
    let routing = RoutingConfig::default();
    let configurations = [configuration];

    let status = route_status(&route, &configurations, &revisions, None, &routing, NOW);
    assert_eq!(status.traffic.len(), 1);
    assert_eq!(
        status.traffic[0].revision_name.as_deref(),
        Some("helloworld-go-00001")
    );
    let ingress_ready = find_condition(&status.conditions, INGRESS_READY).unwrap();
    assert_eq!(ingress_ready.status, ConditionStatus::Unknown);
    assert_eq!(
        find_condition(&status.conditions, READY).unwrap().status,
        ConditionStatus::Unknown,
        "Ready waits for the Ingress"
    );
    assert!(
        status
            .url
            .as_deref()
            .unwrap()
            .starts_with("http://helloworld-go.example.")
    );

    let mut ingress = crd::Ingress::new("helloworld-go", Default::default());
    ingress.metadata.generation = Some(1);
    let mut ingress_status = crd::IngressStatus {
        observed_generation: Some(1),
        ..Default::default()
    };
    ingress_status
        .conditions
        .push(condition(READY, ConditionStatus::True, None, None));
    ingress.status = Some(ingress_status);
    let status = route_status(
        &route,
        &configurations,
        &revisions,
        Some(&ingress),
        &routing,
        NOW,
    );
    assert_eq!(
        find_condition(&status.conditions, READY).unwrap().status,
        ConditionStatus::True
    );
}

/// Knative's Service reconciler reads the Route after updating it, so a traffic change
/// makes RoutesReady wait; a Route seen from before this pass's apply (its old spec
/// Ready at its own generation) must not make the Service Ready with the old traffic.
#[test]
fn a_service_whose_traffic_changed_waits_for_the_route_to_take_it() {
    let first = service(&hello(), None, None, &config(), NOW);
    let mut configuration = stored_configuration(&first);
    configuration.status = Some(
        serde_json::from_value(serde_json::json!({
            "observedGeneration": 1,
            "latestCreatedRevisionName": "helloworld-go-00001",
            "latestReadyRevisionName": "helloworld-go-00001",
            "conditions": [{ "type": "Ready", "status": "True" }],
        }))
        .unwrap(),
    );
    let mut route = first.children.clone().unwrap().1;
    route.metadata.generation = Some(1);
    route.status = Some(
        serde_json::from_value(serde_json::json!({
            "observedGeneration": 1,
            "conditions": [{ "type": "Ready", "status": "True" }],
            "traffic": [{ "revisionName": "helloworld-go-00001", "latestRevision": true, "percent": 100 }],
        }))
        .unwrap(),
    );
    let routes_ready = |outcome: &ServiceOutcome| {
        find_condition(&outcome.status.conditions, condition_types::ROUTES_READY)
            .unwrap()
            .status
    };
    let settled = service(&hello(), Some(&configuration), Some(&route), &config(), NOW);
    assert_eq!(routes_ready(&settled), ConditionStatus::True);

    let mut split = hello();
    split.metadata.generation = Some(2);
    let mut spec = serde_json::to_value(&split.spec).unwrap();
    spec["traffic"] = serde_json::json!([
        { "tag": "blue", "revisionName": "helloworld-go-00001", "percent": 50 },
        { "tag": "green", "latestRevision": true, "percent": 50 },
    ]);
    split.spec = serde_json::from_value(spec).unwrap();
    let changed = service(&split, Some(&configuration), Some(&route), &config(), NOW);
    assert_eq!(
        routes_ready(&changed),
        ConditionStatus::Unknown,
        "the Route seen still has the old traffic: {:?}",
        changed.status.conditions
    );
    assert_ne!(
        find_condition(&changed.status.conditions, READY)
            .unwrap()
            .status,
        ConditionStatus::True
    );
}
