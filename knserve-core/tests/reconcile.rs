//! The control plane as pure functions (§1): apply a Service, observe its revisions,
//! read back the statuses Knative would show.

use std::collections::HashMap;

use knserve_core::ValidationErrors;
use knserve_core::api::condition_types::{
    ALL_TRAFFIC_ASSIGNED, CONFIGURATIONS_READY, READY, ROUTES_READY,
};
use knserve_core::api::keys::ROUTING_STATE_LABEL;
use knserve_core::api::{
    Condition, ConditionStatus, Resource, RoutingConfig, Service, TrafficTarget, ValidationConfig,
    find_condition, parse_yaml,
};
use knserve_core::config::DomainConfig;
use knserve_core::reconcile::{
    Applied, ApplyAction, ApplyContext, RevisionHealth, RevisionObservation, ServiceSet, apply,
    observe, observe_at,
};

const NOW: &str = "2026-01-02T03:04:05Z";

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn service_yaml(text: &str) -> Service {
    match parse_yaml(text).expect("manifest parses").remove(0) {
        Resource::Service(s) => s,
        other => panic!("expected a Service, got {other:?}"),
    }
}

/// A Service `x` (no namespace: defaulted) running `image`.
fn x(image: &str) -> Service {
    service_yaml(&format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n      - image: {image}\n"
    ))
}

fn routing() -> RoutingConfig {
    RoutingConfig {
        domain: DomainConfig::from_map([("example.com", "")]).expect("valid config-domain"),
        ..RoutingConfig::default()
    }
}

fn apply_with(
    previous: Option<&ServiceSet>,
    service: Service,
    taken: &dyn Fn(&str, &str) -> bool,
) -> Result<Applied, ValidationErrors> {
    let config = ValidationConfig::default();
    let ctx = ApplyContext {
        config: &config,
        now: NOW,
        name_taken: taken,
    };
    apply(previous, service, &ctx)
}

fn apply_ok(previous: Option<&ServiceSet>, service: Service) -> Applied {
    apply_with(previous, service, &|_, _| false).expect("the service is valid")
}

/// The backend's view: revisions listed are in that state, the others unknown.
fn observe_states(set: &mut ServiceSet, states: &[(&str, RevisionHealth)]) {
    let states: HashMap<String, RevisionHealth> = states
        .iter()
        .map(|(n, h)| ((*n).to_owned(), h.clone()))
        .collect();
    let seen = move |name: &str| {
        states.get(name).map(|health| RevisionObservation {
            health: health.clone(),
            actual_replicas: u32::from(*health == RevisionHealth::Ready),
            desired_replicas: Some(1),
            active: Some(*health == RevisionHealth::Ready),
        })
    };
    observe(set, &seen, &routing());
}

fn failed(reason: &str, message: &str) -> RevisionHealth {
    RevisionHealth::Failed {
        reason: reason.to_owned(),
        message: message.to_owned(),
    }
}

fn service_condition(set: &ServiceSet, type_: &str) -> Condition {
    let status = set.service.status.as_ref().expect("service has a status");
    find_condition(&status.conditions, type_)
        .cloned()
        .unwrap_or_else(|| panic!("service has {type_}"))
}

fn route_condition(set: &ServiceSet, type_: &str) -> Condition {
    let status = set.route.status.as_ref().expect("route has a status");
    find_condition(&status.conditions, type_)
        .cloned()
        .unwrap_or_else(|| panic!("route has {type_}"))
}

fn config_ready(set: &ServiceSet) -> Condition {
    let status = set
        .configuration
        .status
        .as_ref()
        .expect("configuration status");
    find_condition(&status.conditions, READY)
        .cloned()
        .expect("configuration Ready")
}

/// `(revision, percent, tag)` of the route's status traffic.
fn served(set: &ServiceSet) -> Vec<(String, i64, Option<String>)> {
    set.route
        .status
        .iter()
        .flat_map(|s| &s.traffic)
        .map(|t| (t.revision_name().to_owned(), t.percent(), t.tag.clone()))
        .collect()
}

fn one(name: &str) -> Vec<(String, i64, Option<String>)> {
    vec![(name.to_owned(), 100, None)]
}

fn revision_names(set: &ServiceSet) -> Vec<&str> {
    set.revisions.iter().map(|r| r.metadata.name()).collect()
}

fn routing_state<'a>(set: &'a ServiceSet, name: &str) -> &'a str {
    set.revisions
        .iter()
        .find(|r| r.metadata.name() == name)
        .and_then(|r| r.metadata.label(ROUTING_STATE_LABEL))
        .unwrap_or_else(|| panic!("{name} has a routingState"))
}

/// `x` created and its first revision observed Ready.
fn ready_x() -> ServiceSet {
    let mut set = apply_ok(None, x("example.com/app:v1")).set;
    observe_states(&mut set, &[("x-00001", RevisionHealth::Ready)]);
    set
}

#[test]
fn creating_a_service_stamps_out_one_revision_and_is_ready_once_it_is() {
    let applied = apply_ok(None, x("example.com/app:v1"));
    assert_eq!(applied.action, ApplyAction::Created);
    assert_eq!(applied.new_revision.as_deref(), Some("x-00001"));
    let mut set = applied.set;
    assert_eq!(
        revision_names(&set),
        ["x-00001"],
        "one revision per generation"
    );
    assert_eq!(
        set.service.metadata.namespace(),
        "default",
        "namespace defaults"
    );
    assert_eq!(set.service.metadata.generation, Some(1));
    assert_eq!(set.configuration.metadata.name(), "x");
    assert_eq!(set.route.metadata.name(), "x");
    assert_eq!(
        routing_state(&set, "x-00001"),
        "pending",
        "pending at creation"
    );

    observe_states(&mut set, &[("x-00001", RevisionHealth::Deploying)]);
    assert_eq!(
        service_condition(&set, READY).status,
        ConditionStatus::Unknown
    );
    assert!(
        served(&set).is_empty(),
        "nothing is routed before a revision is ready"
    );
    let assigned = route_condition(&set, ALL_TRAFFIC_ASSIGNED);
    assert_eq!(assigned.reason.as_deref(), Some("RevisionMissing"));

    observe_states(&mut set, &[("x-00001", RevisionHealth::Ready)]);
    assert_eq!(service_condition(&set, READY).status, ConditionStatus::True);
    let status = set.service.status.clone().expect("status");
    assert_eq!(status.url.as_deref(), Some("http://x.default.example.com"));
    assert_eq!(
        status.address.and_then(|a| a.url).as_deref(),
        Some("http://x.default.svc.cluster.local")
    );
    assert_eq!(
        status.latest_ready_revision_name.as_deref(),
        Some("x-00001")
    );
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(served(&set), one("x-00001"));
    assert_eq!(
        status.traffic[0].latest_revision,
        Some(true),
        "latestRevision kept"
    );
    assert_eq!(
        routing_state(&set, "x-00001"),
        "active",
        "routed revisions are active"
    );
}

#[test]
fn a_template_change_keeps_traffic_on_the_old_revision_until_the_new_one_is_ready() {
    let set = ready_x();
    let applied = apply_ok(Some(&set), x("example.com/app:v2"));
    assert_eq!(applied.action, ApplyAction::Configured);
    assert_eq!(applied.new_revision.as_deref(), Some("x-00002"));
    let mut set = applied.set;
    assert_eq!(set.service.metadata.generation, Some(2));
    assert_eq!(revision_names(&set), ["x-00001", "x-00002"]);

    observe_states(
        &mut set,
        &[
            ("x-00001", RevisionHealth::Ready),
            ("x-00002", RevisionHealth::Deploying),
        ],
    );
    assert_eq!(
        served(&set),
        one("x-00001"),
        "traffic stays until 00002 is ready"
    );
    assert_eq!(config_ready(&set).status, ConditionStatus::Unknown);
    assert_eq!(
        service_condition(&set, READY).status,
        ConditionStatus::Unknown
    );
    let status = set.service.status.clone().expect("status");
    assert_eq!(
        status.latest_created_revision_name.as_deref(),
        Some("x-00002")
    );
    assert_eq!(
        status.latest_ready_revision_name.as_deref(),
        Some("x-00001")
    );

    observe_states(
        &mut set,
        &[
            ("x-00001", RevisionHealth::Ready),
            ("x-00002", RevisionHealth::Ready),
        ],
    );
    assert_eq!(
        served(&set),
        one("x-00002"),
        "traffic moves once 00002 is ready"
    );
    assert_eq!(service_condition(&set, READY).status, ConditionStatus::True);
    assert_eq!(
        routing_state(&set, "x-00001"),
        "reserve",
        "unrouted revisions are reserve"
    );
    assert_eq!(routing_state(&set, "x-00002"), "active");
}

#[test]
fn a_failed_new_revision_leaves_traffic_on_the_old_one_and_surfaces_its_reason() {
    let mut set = apply_ok(Some(&ready_x()), x("example.com/app:broken")).set;
    let message = "Container failed with: exit status 1";
    observe_states(
        &mut set,
        &[
            ("x-00001", RevisionHealth::Ready),
            ("x-00002", failed("ExitCode1", message)),
        ],
    );
    assert_eq!(
        served(&set),
        one("x-00001"),
        "the previous revision keeps serving"
    );
    let rev = set.revisions[1].status.clone().expect("revision status");
    let rev_ready = find_condition(&rev.conditions, READY).expect("revision Ready");
    assert_eq!(rev_ready.status, ConditionStatus::False);
    assert_eq!(rev_ready.reason.as_deref(), Some("ExitCode1"));

    let config = config_ready(&set);
    assert_eq!(config.status, ConditionStatus::False);
    assert_eq!(config.reason.as_deref(), Some("RevisionFailed"));
    assert!(
        config.message.as_deref().unwrap_or("").contains(message),
        "{config:?}"
    );
    let configs = service_condition(&set, CONFIGURATIONS_READY);
    assert_eq!(
        (configs.status, configs.reason),
        (config.status, config.reason.clone())
    );
    let ready = service_condition(&set, READY);
    assert_eq!(ready.status, ConditionStatus::False);
    assert_eq!(
        ready.message, config.message,
        "the service copies the message"
    );
    assert_eq!(
        service_condition(&set, ROUTES_READY).status,
        ConditionStatus::True
    );
    let status = set.service.status.clone().expect("status");
    assert_eq!(
        status.latest_ready_revision_name.as_deref(),
        Some("x-00001")
    );
}

#[test]
fn a_traffic_only_change_creates_no_revision() {
    let set = ready_x();
    let mut svc = x("example.com/app:v1");
    svc.spec.traffic = vec![
        TrafficTarget {
            latest_revision: Some(true),
            percent: Some(100),
            ..TrafficTarget::default()
        },
        TrafficTarget {
            revision_name: Some("x-00001".to_owned()),
            percent: Some(0),
            tag: Some("pinned".to_owned()),
            ..TrafficTarget::default()
        },
    ];
    let applied = apply_ok(Some(&set), svc);
    assert_eq!(applied.action, ApplyAction::Configured);
    assert_eq!(applied.new_revision, None);
    let mut set = applied.set;
    assert_eq!(revision_names(&set), ["x-00001"]);
    assert_eq!(
        set.service.metadata.generation,
        Some(2),
        "the service's spec changed"
    );
    assert_eq!(
        set.configuration.metadata.generation,
        Some(1),
        "the template did not"
    );
    observe_states(&mut set, &[("x-00001", RevisionHealth::Ready)]);
    let traffic = set.route.status.clone().expect("route status").traffic;
    assert_eq!(traffic.len(), 2, "{traffic:?}");
    assert_eq!(
        traffic[1].url.as_deref(),
        Some("http://pinned-x.default.example.com")
    );
    assert_eq!(service_condition(&set, READY).status, ConditionStatus::True);
}

#[test]
fn traffic_split_waits_for_a_missing_named_revision_and_gives_tags_urls() {
    let manifest = service_yaml(&data("traffic-split.yaml"));
    let mut set = apply_ok(None, manifest.clone()).set;
    assert_eq!(revision_names(&set), ["hello-v2"], "the BYO name is used");
    observe_states(&mut set, &[("hello-v2", RevisionHealth::Ready)]);
    let assigned = route_condition(&set, ALL_TRAFFIC_ASSIGNED);
    assert_eq!(assigned.status, ConditionStatus::False);
    assert_eq!(assigned.reason.as_deref(), Some("RevisionMissing"));
    assert!(
        assigned
            .message
            .as_deref()
            .unwrap_or("")
            .contains("hello-v1")
    );
    assert!(served(&set).is_empty(), "no partial programming");
    let routes = service_condition(&set, ROUTES_READY);
    assert_eq!(
        routes.reason.as_deref(),
        Some("RevisionMissing"),
        "{routes:?}"
    );

    // Stamp out hello-v1 (a different template under the v1 name), same traffic.
    let mut v1 = manifest;
    v1.spec.template.metadata.name = Some("hello-v1".to_owned());
    v1.spec.template.spec.containers[0].image = "example.com/hello:v1".to_owned();
    let applied = apply_ok(Some(&set), v1);
    assert_eq!(applied.new_revision.as_deref(), Some("hello-v1"));
    let mut set = applied.set;
    let both = [
        ("hello-v1", RevisionHealth::Ready),
        ("hello-v2", RevisionHealth::Ready),
    ];
    observe_states(&mut set, &both);
    let tag = |t: &str| Some(t.to_owned());
    assert_eq!(
        served(&set),
        vec![
            ("hello-v1".to_owned(), 80, tag("blue")),
            ("hello-v2".to_owned(), 20, tag("green")),
            ("hello-v1".to_owned(), 0, tag("latest")),
        ],
        "latest resolves to the latest ready revision, hello-v1"
    );
    let urls: Vec<_> = set
        .route
        .status
        .clone()
        .expect("status")
        .traffic
        .into_iter()
        .map(|t| t.url)
        .collect();
    assert_eq!(
        urls,
        [
            tag("http://blue-hello.default.example.com"),
            tag("http://green-hello.default.example.com"),
            tag("http://latest-hello.default.example.com"),
        ]
    );
    assert_eq!(service_condition(&set, READY).status, ConditionStatus::True);
}

#[test]
fn reapplying_the_same_manifest_is_unchanged() {
    let set = ready_x();
    let applied = apply_ok(Some(&set), x("example.com/app:v1"));
    assert_eq!(applied.action, ApplyAction::Unchanged);
    assert_eq!(applied.new_revision, None);
    assert_eq!(applied.set, set, "the set is returned as it was");
}

#[test]
fn keeping_a_byo_name_while_changing_the_template_is_rejected_naming_the_field() {
    let manifest = service_yaml(&data("traffic-split.yaml"));
    let set = apply_ok(None, manifest.clone()).set;
    let mut changed = manifest;
    changed.spec.template.spec.containers[0].image = "example.com/hello:v3".to_owned();
    let errors = apply_with(Some(&set), changed, &|_, _| false).expect_err("name must change");
    assert!(
        errors
            .errors()
            .iter()
            .any(|e| e.path == "spec.template.metadata.name"),
        "the error names the field: {errors}"
    );
}

#[test]
fn an_invalid_service_is_rejected_with_field_paths() {
    let mut svc = x("example.com/app:v1");
    svc.spec.template.spec.timeout_seconds = Some(100_000);
    let errors = apply_with(None, svc, &|_, _| false).expect_err("timeout above the maximum");
    assert!(
        errors
            .errors()
            .iter()
            .any(|e| e.path.starts_with("spec.template.spec.timeoutSeconds")),
        "{errors}"
    );
}

#[test]
fn a_byo_name_taken_by_another_service_fails_the_configuration_and_the_routes() {
    let set = ready_x();
    let mut svc = x("example.com/app:v2");
    svc.spec.template.metadata.name = Some("x-mine".to_owned());
    let applied = apply_with(Some(&set), svc, &|ns, name| {
        ns == "default" && name == "x-mine"
    })
    .expect("valid");
    assert_eq!(applied.new_revision, None, "no revision is stamped out");
    let mut set = applied.set;
    observe_states(&mut set, &[("x-00001", RevisionHealth::Ready)]);
    assert_eq!(config_ready(&set).reason.as_deref(), Some("RevisionFailed"));
    let routes = service_condition(&set, ROUTES_READY);
    assert_eq!(routes.status, ConditionStatus::False);
    assert_eq!(routes.reason.as_deref(), Some("RevisionNameTaken"));
    assert_eq!(
        served(&set),
        one("x-00001"),
        "the route is not reprogrammed"
    );
}

#[test]
fn a_traffic_target_naming_another_services_revision_is_not_owned() {
    let set = ready_x();
    let mut svc = x("example.com/app:v1");
    svc.spec.traffic = vec![TrafficTarget {
        revision_name: Some("y-00001".to_owned()),
        percent: Some(100),
        ..TrafficTarget::default()
    }];
    let mut set = apply_with(Some(&set), svc, &|_, name| name == "y-00001")
        .expect("valid")
        .set;
    observe_states(&mut set, &[("x-00001", RevisionHealth::Ready)]);
    let assigned = route_condition(&set, ALL_TRAFFIC_ASSIGNED);
    assert_eq!(assigned.reason.as_deref(), Some("RevisionNotOwned"));
    assert_eq!(served(&set), one("x-00001"), "the previous traffic is kept");
}

#[test]
fn real_manifests_get_urls_from_their_namespace_and_visibility() {
    let mut set = apply_ok(None, service_yaml(&data("helloworld-go.yaml"))).set;
    observe_states(&mut set, &[("helloworld-go-00001", RevisionHealth::Ready)]);
    let url = set.service.status.clone().and_then(|s| s.url);
    assert_eq!(
        url.as_deref(),
        Some("http://helloworld-go.example.example.com")
    );

    let mut local = x("example.com/app:v1");
    local.metadata.labels.insert(
        "networking.knative.dev/visibility".to_owned(),
        "cluster-local".to_owned(),
    );
    let mut set = apply_ok(None, local).set;
    observe_states(&mut set, &[("x-00001", RevisionHealth::Ready)]);
    let url = set.service.status.clone().and_then(|s| s.url);
    assert_eq!(url.as_deref(), Some("http://x.default.svc.cluster.local"));
}

#[test]
fn unknown_autoscaling_annotations_are_warnings() {
    let mut svc = service_yaml(&data("simple-api.yaml"));
    svc.spec.template.metadata.annotations.insert(
        "autoscaling.knative.dev/no-such-knob".to_owned(),
        "1".to_owned(),
    );
    let applied = apply_ok(None, svc);
    assert_eq!(applied.warnings.len(), 1, "{:?}", applied.warnings);
    assert!(
        applied.warnings[0]
            .starts_with("spec.template.metadata.annotations.autoscaling.knative.dev/no-such-knob")
    );
}

#[test]
fn revisions_carry_their_lineage_labels() {
    let set = ready_x();
    let meta = &set.revisions[0].metadata;
    assert_eq!(meta.label("serving.knative.dev/configuration"), Some("x"));
    assert_eq!(meta.label("serving.knative.dev/service"), Some("x"));
    assert_eq!(
        meta.label("serving.knative.dev/configurationGeneration"),
        Some("1")
    );
    assert_eq!(
        meta.controller().map(|o| o.kind.as_str()),
        Some("Configuration")
    );
    assert_eq!(
        set.configuration
            .metadata
            .label("serving.knative.dev/service"),
        Some("x")
    );
    assert_eq!(
        set.route.metadata.controller().map(|o| o.name.as_str()),
        Some("x")
    );
}

#[test]
fn observe_at_stamps_transition_times() {
    let mut set = apply_ok(None, x("example.com/app:v1")).set;
    let seen = |_: &str| {
        Some(RevisionObservation {
            health: RevisionHealth::Ready,
            actual_replicas: 1,
            desired_replicas: Some(1),
            active: Some(true),
        })
    };
    observe_at(&mut set, &seen, &routing(), "2026-01-02T03:05:00Z");
    let ready = service_condition(&set, READY);
    assert_eq!(
        ready.last_transition_time.as_deref(),
        Some("2026-01-02T03:05:00Z")
    );
    let status = set.revisions[0].status.clone().expect("status");
    assert_eq!(
        (status.actual_replicas, status.desired_replicas),
        (Some(1), Some(1))
    );
}
mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        /// Apply `x` with image number `image` and traffic variant `traffic`.
        Apply { image: u8, traffic: u8 },
        /// Observe with the healths of the revisions, by position (cycled).
        Observe(Vec<u8>),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u8..3, 0u8..3).prop_map(|(image, traffic)| Step::Apply { image, traffic }),
            prop::collection::vec(0u8..3, 1..4).prop_map(Step::Observe),
        ]
    }

    fn target(revision: Option<&str>, percent: i64, tag: Option<&str>) -> TrafficTarget {
        TrafficTarget {
            revision_name: revision.map(str::to_owned),
            latest_revision: Some(revision.is_none()),
            percent: Some(percent),
            tag: tag.map(str::to_owned),
            ..TrafficTarget::default()
        }
    }

    fn manifest(image: u8, traffic: u8) -> Service {
        let mut svc = x(&format!("example.com/app:v{image}"));
        svc.spec.traffic = match traffic {
            0 => vec![],
            1 => vec![
                target(None, 50, None),
                target(Some("x-00001"), 50, Some("first")),
            ],
            _ => vec![target(None, 100, Some("latest")), target(None, 0, None)],
        };
        svc
    }

    fn health(code: u8) -> RevisionHealth {
        match code {
            0 => RevisionHealth::Deploying,
            1 => RevisionHealth::Ready,
            _ => failed("ExitCode1", "exit status 1"),
        }
    }

    fn is_ready(set: &ServiceSet, name: &str) -> bool {
        set.revisions.iter().any(|r| {
            r.metadata.name() == name
                && r.status.as_ref().is_some_and(|s| {
                    find_condition(&s.conditions, READY).is_some_and(Condition::is_true)
                })
        })
    }

    fn check_invariants(before: &ServiceSet, after: &ServiceSet, observed: bool) {
        let generation = |s: &ServiceSet| s.service.metadata.generation.unwrap_or(0);
        assert!(
            generation(after) >= generation(before),
            "generation only grows"
        );
        assert!(
            after.revisions.len() >= before.revisions.len(),
            "revisions are never removed"
        );
        for (name, _, _) in served(after) {
            assert!(
                after.revisions.iter().any(|r| r.metadata.name() == name),
                "status traffic names an existing revision: {name}"
            );
        }
        let traffic = served(after);
        if !traffic.is_empty() {
            let total: i64 = traffic.iter().map(|t| t.1).sum();
            assert_eq!(total, 100, "programmed traffic sums to 100: {traffic:?}");
        }
        let assigned = after
            .route
            .status
            .as_ref()
            .and_then(|s| find_condition(&s.conditions, ALL_TRAFFIC_ASSIGNED).cloned());
        if observed && assigned.is_some_and(|c| c.is_true()) {
            for (name, _, _) in traffic {
                assert!(
                    is_ready(after, &name),
                    "traffic is only assigned to Ready {name}"
                );
            }
        }
        let latest_ready = |s: &ServiceSet| {
            s.configuration
                .status
                .as_ref()
                .and_then(|c| c.latest_ready_revision_name.clone())
        };
        if let (Some(old), Some(new)) = (latest_ready(before), latest_ready(after)) {
            assert!(new >= old, "latest ready only moves forward: {old} → {new}");
        }
        if observed && latest_ready(after) != latest_ready(before) {
            let new = latest_ready(after).expect("moved to a revision");
            assert!(
                is_ready(after, &new),
                "latest ready {new} is Ready when chosen"
            );
        }
    }

    proptest! {
        #[test]
        fn generations_and_revisions_only_grow_and_traffic_goes_only_to_ready_revisions(
            steps in prop::collection::vec(step(), 1..25),
        ) {
            let mut set = apply_ok(None, manifest(0, 0)).set;
            for step in steps {
                let before = set.clone();
                let observed = match step {
                    Step::Apply { image, traffic } => {
                        set = apply_ok(Some(&set), manifest(image, traffic)).set;
                        false
                    }
                    Step::Observe(codes) => {
                        let states: Vec<(String, RevisionHealth)> = set
                            .revisions
                            .iter()
                            .enumerate()
                            .map(|(i, r)| (r.metadata.name().to_owned(), health(codes[i % codes.len()])))
                            .collect();
                        let refs: Vec<(&str, RevisionHealth)> =
                            states.iter().map(|(n, h)| (n.as_str(), h.clone())).collect();
                        observe_states(&mut set, &refs);
                        true
                    }
                };
                check_invariants(&before, &set, observed);
            }
        }
    }
}
