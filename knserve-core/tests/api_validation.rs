//! Admission rules (§1.2, §1.3, §1.6): each one broken alone, named by path and rule.

use knserve_core::api::{
    Configuration, ConfigurationSpec, Container, ContainerPort, EnvVar, ExecAction, IntOrString,
    ObjectMeta, Probe, Revision, Route, RouteSpec, Service, ServiceSpec, TcpSocketAction,
    TrafficTarget, ValidationConfig, Volume, VolumeMount,
};
use knserve_core::config::{DefaultsConfig, FeaturesConfig, Flag};
use knserve_core::{FieldError, ValidationErrors};

type Edit = fn(&mut Service);

fn service() -> Service {
    let mut svc = Service::new(
        ObjectMeta::named("hello", "default"),
        ServiceSpec::default(),
    );
    svc.spec.template.spec.containers = vec![Container::with_image("example.com/hello")];
    svc.set_defaults(&DefaultsConfig::default());
    svc
}

fn container(svc: &mut Service) -> &mut Container {
    &mut svc.spec.template.spec.containers[0]
}

fn probe(svc: &mut Service) -> &mut Probe {
    container(svc)
        .readiness_probe
        .as_mut()
        .expect("defaulted probe")
}

fn errors(result: Result<(), ValidationErrors>) -> Vec<FieldError> {
    result
        .err()
        .map(|e| e.errors().to_vec())
        .unwrap_or_default()
}

fn assert_has(errors: &[FieldError], path: &str, rule: &str, case: &str) {
    assert!(
        errors
            .iter()
            .any(|e| e.path == path && e.message.contains(rule)),
        "{case}: expected `{path}: …{rule}…`, got {errors:#?}"
    );
    let display = errors.iter().find(|e| e.path == path).unwrap().to_string();
    assert!(
        display.starts_with(&format!("{path}: ")),
        "message is `path: rule`: {display}"
    );
}

fn check_service_cases(cases: &[(&str, Edit, &str, &str)], config: &ValidationConfig) {
    for (case, edit, path, rule) in cases {
        let mut svc = service();
        edit(&mut svc);
        assert_has(&errors(svc.validate(config)), path, rule, case);
    }
}

#[test]
fn a_defaulted_sample_service_is_valid() {
    let config = ValidationConfig::default();
    assert_eq!(service().validate(&config), Ok(()));
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/traffic-split.yaml"
    ))
    .unwrap();
    let mut svc: Service = serde_yaml_ng::from_str(&text).unwrap();
    svc.set_defaults(&DefaultsConfig::default());
    assert_eq!(svc.validate(&config), Ok(()));
}

#[test]
fn metadata_rules_name_the_field() {
    let cases: [(&str, Edit, &str, &str); 7] = [
        (
            "name not DNS-1035",
            |s| s.metadata.name = Some("Hello".into()),
            "metadata.name",
            "DNS-1035",
        ),
        (
            "name too long",
            |s| s.metadata.name = Some("a".repeat(64)),
            "metadata.name",
            "at most 63",
        ),
        (
            "no name",
            |s| s.metadata.name = None,
            "metadata.name",
            "is required",
        ),
        (
            "bad generateName",
            |s| {
                s.metadata.name = None;
                s.metadata.generate_name = Some("9lives-".into());
            },
            "metadata.generateName",
            "DNS-1035",
        ),
        (
            "autoscaling annotation on the service (rule 6)",
            |s| {
                s.metadata
                    .annotations
                    .insert("autoscaling.knative.dev/min-scale".into(), "1".into());
            },
            "metadata.annotations[autoscaling.knative.dev/min-scale]",
            "spec.template.metadata.annotations",
        ),
        (
            "rollout-duration not whole seconds (rule 8)",
            |s| {
                s.metadata
                    .annotations
                    .insert("serving.knative.dev/rollout-duration".into(), "1.5s".into());
            },
            "metadata.annotations[serving.knative.dev/rollout-duration]",
            "whole number of seconds",
        ),
        (
            "bad visibility label",
            |s| {
                s.metadata
                    .labels
                    .insert("networking.knative.dev/visibility".into(), "public".into());
            },
            "metadata.labels[networking.knative.dev/visibility]",
            "cluster-local",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
}

#[test]
fn duration_annotations_reject_negative_and_malformed_values() {
    let cases: [(&str, Edit, &str, &str); 2] = [
        (
            "negative rollout-duration",
            |s| {
                s.metadata
                    .annotations
                    .insert("serving.knative.dev/rollout-duration".into(), "-1s".into());
            },
            "metadata.annotations[serving.knative.dev/rollout-duration]",
            "must not be negative",
        ),
        (
            "malformed progress-deadline",
            |s| {
                s.spec.template.metadata.annotations.insert(
                    "serving.knative.dev/progress-deadline".into(),
                    "soon".into(),
                );
            },
            "spec.template.metadata.annotations[serving.knative.dev/progress-deadline]",
            "Go duration",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
}

#[test]
fn autoscaling_annotations_on_the_template_are_checked_by_the_autoscaler_rules() {
    let mut svc = service();
    svc.spec
        .template
        .metadata
        .annotations
        .insert("autoscaling.knative.dev/min-scale".into(), "-3".into());
    let found = errors(svc.validate(&ValidationConfig::default()));
    assert!(
        found
            .iter()
            .any(|e| e.path
                == "spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]"),
        "autoscaler errors land under spec.template.metadata: {found:#?}"
    );
}

#[test]
fn byo_revision_names_follow_the_parent() {
    let cases: [(&str, Edit, &str, &str); 2] = [
        (
            "template name without the parent prefix",
            |s| s.spec.template.metadata.name = Some("other-v1".into()),
            "spec.template.metadata.name",
            "must start with",
        ),
        (
            "template name with generateName",
            |s| {
                s.metadata.name = None;
                s.metadata.generate_name = Some("hello-".into());
                s.spec.template.metadata.name = Some("hello-v1".into());
            },
            "spec.template.metadata.name",
            "generateName",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
}

#[test]
fn traffic_rules_name_the_target() {
    let target = |revision: &str, percent: i64| TrafficTarget {
        revision_name: Some(revision.into()),
        percent: Some(percent),
        latest_revision: Some(false),
        ..TrafficTarget::default()
    };
    let set = |s: &mut Service, traffic: Vec<TrafficTarget>| s.spec.traffic = traffic;
    let cases: [(&str, Edit, &str, &str); 8] = [
        (
            "percent above 100 (rule 1)",
            |s| s.spec.traffic[0].percent = Some(120),
            "spec.traffic[0].percent",
            "must be between 0 and 100, got 120",
        ),
        (
            "sum not 100 (rule 1)",
            |s| s.spec.traffic[0].percent = Some(90),
            "spec.traffic",
            "must sum to 100, got 90",
        ),
        (
            "configurationName in a Service (rule 2)",
            |s| s.spec.traffic[0].configuration_name = Some("hello".into()),
            "spec.traffic[0].configurationName",
            "must not be set in a Service",
        ),
        (
            "invalid revision name (rule 2)",
            |s| {
                s.spec.traffic = vec![TrafficTarget {
                    revision_name: Some("Bad_".into()),
                    percent: Some(100),
                    ..TrafficTarget::default()
                }]
            },
            "spec.traffic[0].revisionName",
            "valid Kubernetes name",
        ),
        (
            "latestRevision true with a revision (rule 3)",
            |s| {
                s.spec.traffic[0].revision_name = Some("hello-00001".into());
                s.spec.traffic[0].latest_revision = Some(true);
            },
            "spec.traffic[0].latestRevision",
            "must not be true when revisionName is set",
        ),
        (
            "latestRevision false without a revision (rule 3)",
            |s| s.spec.traffic[0].latest_revision = Some(false),
            "spec.traffic[0].latestRevision",
            "must not be false unless revisionName is set",
        ),
        (
            "tag not DNS-1035 (rule 4)",
            |s| s.spec.traffic[0].tag = Some("V1".into()),
            "spec.traffic[0].tag",
            "DNS-1035",
        ),
        (
            "url in spec (rule 5)",
            |s| s.spec.traffic[0].url = Some("http://x".into()),
            "spec.traffic[0].url",
            "status only",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
    let mut svc = service();
    set(&mut svc, vec![target("hello-a", 50), target("hello-b", 50)]);
    svc.spec.traffic[0].tag = Some("blue".into());
    svc.spec.traffic[1].tag = Some("blue".into());
    assert_has(
        &errors(svc.validate(&ValidationConfig::default())),
        "spec.traffic[1].tag",
        "must be unique",
        "duplicate tag (rule 4)",
    );
}

#[test]
fn a_route_needs_exactly_one_of_revision_and_configuration_and_a_full_split() {
    let route = |traffic: Vec<TrafficTarget>| {
        Route::new(
            ObjectMeta::named("hello", "default"),
            RouteSpec {
                traffic,
                ..RouteSpec::default()
            },
        )
    };
    let both = TrafficTarget {
        revision_name: Some("hello-00001".into()),
        configuration_name: Some("hello".into()),
        percent: Some(100),
        ..TrafficTarget::default()
    };
    let found = errors(route(vec![both]).validate());
    assert_has(
        &found,
        "spec.traffic[0].revisionName",
        "got both",
        "both names",
    );
    let neither = TrafficTarget {
        percent: Some(100),
        ..TrafficTarget::default()
    };
    assert_has(
        &errors(route(vec![neither]).validate()),
        "spec.traffic[0].revisionName",
        "got neither",
        "no name",
    );
    assert_has(
        &errors(route(vec![]).validate()),
        "spec.traffic",
        "must sum to 100, got 0",
        "empty route traffic",
    );
    let mut annotated = route(vec![TrafficTarget {
        configuration_name: Some("hello".into()),
        percent: Some(100),
        ..TrafficTarget::default()
    }]);
    assert_eq!(annotated.validate(), Ok(()));
    annotated
        .metadata
        .annotations
        .insert("autoscaling.knative.dev/target".into(), "5".into());
    assert_has(
        &errors(annotated.validate()),
        "metadata.annotations[autoscaling.knative.dev/target]",
        "spec.template",
        "route rule 6",
    );
}

#[test]
fn container_rules_name_the_container_field() {
    let cases: [(&str, Edit, &str, &str); 12] = [
        (
            "no image",
            |s| container(s).image.clear(),
            "spec.template.spec.containers[0].image",
            "is required",
        ),
        (
            "bad name",
            |s| container(s).name = "App_1".into(),
            "spec.template.spec.containers[0].name",
            "DNS-1123",
        ),
        (
            "two ports",
            |s| {
                container(s).ports.push(ContainerPort {
                    container_port: 9000,
                    ..ContainerPort::default()
                })
            },
            "spec.template.spec.containers[0].ports",
            "at most one port",
        ),
        (
            "reserved port",
            |s| container(s).ports[0].container_port = 8012,
            "spec.template.spec.containers[0].ports[0].containerPort",
            "8012 is a reserved port",
        ),
        (
            "port out of range",
            |s| container(s).ports[0].container_port = 70000,
            "spec.template.spec.containers[0].ports[0].containerPort",
            "between 0 and 65535",
        ),
        (
            "bad port name",
            |s| container(s).ports[0].name = "grpc".into(),
            "spec.template.spec.containers[0].ports[0].name",
            "\"http1\" or \"h2c\"",
        ),
        (
            "udp port",
            |s| container(s).ports[0].protocol = Some("UDP".into()),
            "spec.template.spec.containers[0].ports[0].protocol",
            "must be TCP",
        ),
        (
            "hostPort",
            |s| {
                container(s).ports[0]
                    .extra
                    .insert("hostPort".into(), 80.into());
            },
            "spec.template.spec.containers[0].ports[0].hostPort",
            "must not be set",
        ),
        (
            "reserved env",
            |s| container(s).env.push(EnvVar::new("K_SERVICE", "x")),
            "spec.template.spec.containers[0].env[0].name",
            "\"K_SERVICE\" is a reserved environment variable",
        ),
        (
            "PORT env",
            |s| container(s).env.push(EnvVar::new("PORT", "1")),
            "spec.template.spec.containers[0].env[0].name",
            "\"PORT\" is a reserved",
        ),
        (
            "mount of an unknown volume",
            |s| {
                container(s).volume_mounts.push(VolumeMount {
                    name: "data".into(),
                    mount_path: "/data".into(),
                    ..VolumeMount::default()
                })
            },
            "spec.template.spec.containers[0].volumeMounts[0].name",
            "must name a volume",
        ),
        (
            "fieldRef env without the feature",
            |s| {
                container(s).env.push(EnvVar {
                    name: "NODE".into(),
                    value_from: Some(
                        serde_json::json!({"fieldRef": {"fieldPath": "spec.nodeName"}}),
                    ),
                    ..EnvVar::default()
                })
            },
            "spec.template.spec.containers[0].env[0].valueFrom.fieldRef",
            "kubernetes.podspec-fieldref",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
}

#[test]
fn a_sidecar_may_set_port_but_not_the_k_variables() {
    let mut svc = service();
    let spec = &mut svc.spec.template.spec;
    let mut sidecar = Container::with_image("proxy");
    sidecar.name = "proxy".into();
    sidecar.env = vec![EnvVar::new("PORT", "9000"), EnvVar::new("K_REVISION", "x")];
    spec.containers.push(sidecar);
    let found = errors(svc.validate(&ValidationConfig::default()));
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_has(
        &found,
        "spec.template.spec.containers[1].env[1].name",
        "\"K_REVISION\" is a reserved",
        "sidecar env",
    );
}

#[test]
fn revision_spec_rules_use_the_configured_limits() {
    let cases: [(&str, Edit, &str, &str); 9] = [
        (
            "no containers",
            |s| s.spec.template.spec.containers.clear(),
            "spec.template.spec.containers",
            "is required",
        ),
        (
            "concurrency above the limit",
            |s| s.spec.template.spec.container_concurrency = Some(1001),
            "spec.template.spec.containerConcurrency",
            "between 0 and 1000, got 1001",
        ),
        (
            "negative concurrency",
            |s| s.spec.template.spec.container_concurrency = Some(-1),
            "spec.template.spec.containerConcurrency",
            "between 0 and 1000",
        ),
        (
            "timeout above the max",
            |s| s.spec.template.spec.timeout_seconds = Some(601),
            "spec.template.spec.timeoutSeconds",
            "between 0 and 600, got 601",
        ),
        (
            "response start above the timeout",
            |s| s.spec.template.spec.response_start_timeout_seconds = Some(301),
            "spec.template.spec.responseStartTimeoutSeconds",
            "between 0 and timeoutSeconds (300)",
        ),
        (
            "idle above the timeout",
            |s| s.spec.template.spec.idle_timeout_seconds = Some(500),
            "spec.template.spec.idleTimeoutSeconds",
            "between 0 and timeoutSeconds (300)",
        ),
        (
            "two serving containers",
            |s| {
                let mut second = Container::with_image("b");
                second.name = "b".into();
                second.ports.push(ContainerPort {
                    container_port: 9000,
                    ..ContainerPort::default()
                });
                s.spec.template.spec.containers.push(second);
            },
            "spec.template.spec.containers[1].ports",
            "only one container may declare a port",
        ),
        (
            "several containers, no port",
            |s| {
                s.spec.template.spec.containers[0].ports.clear();
                s.spec.template.spec.containers[0].readiness_probe = None;
                let mut second = Container::with_image("b");
                second.name = "b".into();
                s.spec.template.spec.containers.push(second);
            },
            "spec.template.spec.containers",
            "one container must declare the serving port",
        ),
        (
            "duplicate container names",
            |s| {
                let mut second = Container::with_image("b");
                second.name = "user-container".into();
                s.spec.template.spec.containers.push(second);
            },
            "spec.template.spec.containers[1].name",
            "duplicate container name",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
    let strict = ValidationConfig {
        defaults: DefaultsConfig {
            allow_container_concurrency_zero: false,
            ..DefaultsConfig::default()
        },
        ..ValidationConfig::default()
    };
    let cases: [(&str, Edit, &str, &str); 1] = [(
        "zero concurrency when not allowed",
        |s| s.spec.template.spec.container_concurrency = Some(0),
        "spec.template.spec.containerConcurrency",
        "between 1 and 1000, got 0",
    )];
    check_service_cases(&cases, &strict);
}

#[test]
fn probe_rules_follow_knatives_period_semantics() {
    let cases: [(&str, Edit, &str, &str); 8] = [
        (
            "aggressive probe with a timeout",
            |s| probe(s).timeout_seconds = Some(2),
            "spec.template.spec.containers[0].readinessProbe.timeoutSeconds",
            "must not be set when periodSeconds is 0",
        ),
        (
            "aggressive probe with a failure threshold",
            |s| probe(s).failure_threshold = Some(2),
            "spec.template.spec.containers[0].readinessProbe.failureThreshold",
            "must not be set when periodSeconds is 0",
        ),
        (
            "periodic probe without a timeout",
            |s| {
                probe(s).period_seconds = Some(5);
                probe(s).failure_threshold = Some(3);
            },
            "spec.template.spec.containers[0].readinessProbe.timeoutSeconds",
            "at least 1 when periodSeconds is set",
        ),
        (
            "zero success threshold",
            |s| probe(s).success_threshold = Some(0),
            "spec.template.spec.containers[0].readinessProbe.successThreshold",
            "at least 1",
        ),
        (
            "two handlers",
            |s| {
                probe(s).exec = Some(ExecAction {
                    command: vec!["true".into()],
                    ..ExecAction::default()
                })
            },
            "spec.template.spec.containers[0].readinessProbe",
            "exactly one of httpGet, tcpSocket, exec, grpc, got tcpSocket, exec",
        ),
        (
            "no handler",
            |s| container(s).liveness_probe = Some(Probe::default()),
            "spec.template.spec.containers[0].livenessProbe",
            "got none",
        ),
        (
            "probe of another port",
            |s| {
                probe(s).tcp_socket = Some(TcpSocketAction {
                    port: Some(IntOrString::Int(9999)),
                    ..TcpSocketAction::default()
                })
            },
            "spec.template.spec.containers[0].readinessProbe.tcpSocket.port",
            "must be the container port (8080), got 9999",
        ),
        (
            "probe of another port name",
            |s| {
                probe(s).tcp_socket = Some(TcpSocketAction {
                    port: Some(IntOrString::String("admin".into())),
                    ..TcpSocketAction::default()
                })
            },
            "spec.template.spec.containers[0].readinessProbe.tcpSocket.port",
            "must name the container port",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
    let mut svc = service();
    probe(&mut svc).tcp_socket = None;
    probe(&mut svc).exec = Some(ExecAction::default());
    assert_has(
        &errors(svc.validate(&ValidationConfig::default())),
        "spec.template.spec.containers[0].readinessProbe.exec.command",
        "is required",
        "exec without command",
    );
}

#[test]
fn gated_features_are_rejected_until_enabled() {
    let cases: [(&str, Edit, &str, &str); 5] = [
        (
            "affinity",
            |s| {
                s.spec
                    .template
                    .spec
                    .extra
                    .insert("affinity".into(), serde_json::json!({}));
            },
            "spec.template.spec.affinity",
            "kubernetes.podspec-affinity",
        ),
        (
            "init containers",
            |s| {
                s.spec
                    .template
                    .spec
                    .init_containers
                    .push(Container::with_image("init"))
            },
            "spec.template.spec.initContainers",
            "kubernetes.podspec-init-containers",
        ),
        (
            "persistent volume claims",
            |s| {
                s.spec.template.spec.volumes.push(Volume {
                    name: "data".into(),
                    source: [(
                        "persistentVolumeClaim".to_owned(),
                        serde_json::json!({"claimName": "c"}),
                    )]
                    .into(),
                })
            },
            "spec.template.spec.volumes[0].persistentVolumeClaim",
            "kubernetes.podspec-persistent-volume-claim",
        ),
        (
            "a volume with two sources",
            |s| {
                s.spec.template.spec.volumes.push(Volume {
                    name: "data".into(),
                    source: [
                        ("emptyDir".to_owned(), serde_json::json!({})),
                        ("secret".to_owned(), serde_json::json!({})),
                    ]
                    .into(),
                })
            },
            "spec.template.spec.volumes[0]",
            "exactly one volume source, got 2",
        ),
        (
            "sidecar probes",
            |s| {
                let mut sidecar = Container::with_image("p");
                sidecar.name = "p".into();
                sidecar.readiness_probe = Some(Probe::default());
                s.spec.template.spec.containers.push(sidecar);
            },
            "spec.template.spec.containers[1].readinessProbe",
            "multi-container-probing",
        ),
    ];
    check_service_cases(&cases, &ValidationConfig::default());
    let enabled = ValidationConfig {
        features: FeaturesConfig {
            podspec_affinity: Flag::Enabled,
            ..FeaturesConfig::default()
        },
        ..ValidationConfig::default()
    };
    let mut svc = service();
    svc.spec
        .template
        .spec
        .extra
        .insert("affinity".into(), serde_json::json!({}));
    assert_eq!(
        svc.validate(&enabled),
        Ok(()),
        "enabled flags admit the field"
    );
    let single = ValidationConfig {
        features: FeaturesConfig {
            multi_container: Flag::Disabled,
            ..FeaturesConfig::default()
        },
        ..ValidationConfig::default()
    };
    let cases: [(&str, Edit, &str, &str); 1] = [(
        "two containers without multi-container",
        |s| {
            let mut sidecar = Container::with_image("p");
            sidecar.name = "p".into();
            s.spec.template.spec.containers.push(sidecar);
        },
        "spec.template.spec.containers",
        "multi-container to be enabled, got 2",
    )];
    check_service_cases(&cases, &single);
}

#[test]
fn all_problems_are_reported_together() {
    let mut svc = service();
    svc.metadata.name = Some("Bad".into());
    container(&mut svc).image.clear();
    svc.spec.traffic[0].percent = Some(50);
    let found = errors(svc.validate(&ValidationConfig::default()));
    let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "metadata.name",
            "spec.template.spec.containers[0].image",
            "spec.traffic"
        ]
    );
}

#[test]
fn a_revision_spec_is_immutable_but_its_metadata_is_not() {
    let svc = service();
    let config = ValidationConfig::default();
    let old = Revision::new(
        ObjectMeta::named("hello-00001", "default"),
        svc.spec.template.spec.clone(),
    );
    let mut relabeled = old.clone();
    relabeled.metadata.labels.insert("x".into(), "y".into());
    assert_eq!(relabeled.validate_update(&old, &config), Ok(()));
    let mut changed = old.clone();
    changed.spec.timeout_seconds = Some(10);
    changed.spec.containers[0].image = "other".into();
    let found = errors(changed.validate_update(&old, &config));
    let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["spec.containers", "spec.timeoutSeconds"]);
    assert!(found[0].message.contains("is immutable"));
}

#[test]
fn a_configuration_update_must_rename_a_byo_revision_when_the_template_changes() {
    let config = ValidationConfig::default();
    let mut old = Configuration::new(
        ObjectMeta::named("hello", "default"),
        ConfigurationSpec::default(),
    );
    old.spec.template = service().spec.template;
    old.spec.template.metadata.name = Some("hello-v1".into());
    assert_eq!(old.validate(&config), Ok(()));
    let mut new = old.clone();
    new.spec.template.spec.timeout_seconds = Some(30);
    assert_has(
        &errors(new.validate_update(&old, &config)),
        "spec.template.metadata.name",
        "must change when the template changes",
        "configuration",
    );
    let mut svc_old = service();
    svc_old.spec.template.metadata.name = Some("hello-v1".into());
    let mut svc_new = svc_old.clone();
    container(&mut svc_new).image = "example.com/hello:2".into();
    assert_has(
        &errors(svc_new.validate_update(&svc_old, &config)),
        "spec.template.metadata.name",
        "must change",
        "service",
    );
}

#[test]
fn a_revision_carries_its_own_autoscaling_annotations() {
    let config = ValidationConfig::default();
    let mut revision = Revision::new(
        ObjectMeta::named("hello-00001", "default"),
        service().spec.template.spec,
    );
    revision
        .metadata
        .annotations
        .insert("autoscaling.knative.dev/min-scale".into(), "2".into());
    assert_eq!(revision.validate(&config), Ok(()), "allowed on a revision");
    revision.metadata.name = Some("hello_00001".into());
    assert_has(
        &errors(revision.validate(&config)),
        "metadata.name",
        "DNS-1035",
        "revision name",
    );
}
