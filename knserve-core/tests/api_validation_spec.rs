//! Admission rules (§1.2) on containers, ports, env, probes and gated pod fields: each
//! one broken alone, named by path and rule.

mod api_support;

use api_support::{Edit, assert_has, check_service_cases, container, errors, probe, service};
use knserve_core::api::{
    Container, ContainerPort, EnvVar, ExecAction, IntOrString, Probe, TcpSocketAction,
    ValidationConfig, Volume, VolumeMount,
};
use knserve_core::config::{DefaultsConfig, FeaturesConfig, Flag};

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
            "the queue-proxy's name",
            |s| container(s).name = "queue-proxy".into(),
            "spec.template.spec.containers[0].name",
            "\"queue-proxy\" is a reserved container name",
        ),
        (
            "two ports",
            |s| {
                container(s).ports.push(ContainerPort {
                    container_port: 9000,
                    ..ContainerPort::default()
                })
            },
            "spec.template.spec.containers[*].ports",
            "only a single port is allowed across all containers, got 2",
        ),
        (
            "reserved port",
            |s| container(s).ports[0].container_port = 8012,
            "spec.template.spec.containers[0].ports.containerPort",
            "8012 is a reserved port",
        ),
        (
            "port out of range",
            |s| container(s).ports[0].container_port = 70000,
            "spec.template.spec.containers[0].ports.containerPort",
            "between 0 and 65535",
        ),
        (
            "bad port name",
            |s| container(s).ports[0].name = "grpc".into(),
            "spec.template.spec.containers[0].ports",
            "\"http1\" or \"h2c\"",
        ),
        (
            "udp port",
            |s| container(s).ports[0].protocol = Some("UDP".into()),
            "spec.template.spec.containers[0].ports.protocol",
            "must be TCP",
        ),
        (
            "hostPort",
            |s| {
                container(s).ports[0]
                    .extra
                    .insert("hostPort".into(), 80.into());
            },
            "spec.template.spec.containers[0].ports.hostPort",
            "must not set the field(s)",
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
    let cases: [(&str, Edit, &str, &str); 7] = [
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
            "two serving containers",
            |s| {
                let mut second = Container::with_image("example.com/sidecar");
                second.name = "b".into();
                second.ports.push(ContainerPort {
                    container_port: 9000,
                    ..ContainerPort::default()
                });
                s.spec.template.spec.containers.push(second);
            },
            "spec.template.spec.containers[*].ports",
            "only a single port is allowed across all containers, got 2",
        ),
        (
            "several containers, no port",
            |s| {
                s.spec.template.spec.containers[0].ports.clear();
                s.spec.template.spec.containers[0].readiness_probe = None;
                let mut second = Container::with_image("example.com/sidecar");
                second.name = "b".into();
                s.spec.template.spec.containers.push(second);
            },
            "spec.template.spec.containers[*].ports",
            "one container must declare the serving port",
        ),
        (
            "duplicate container names",
            |s| {
                let mut second = Container::with_image("example.com/sidecar");
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
                probe(s).timeout_seconds = Some(-1);
            },
            "spec.template.spec.containers[0].readinessProbe.timeoutSeconds",
            "must be at least 1, got -1",
        ),
        (
            "zero success threshold",
            |s| probe(s).success_threshold = Some(-1),
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
            "spec.template.spec.containers[0].readinessProbe.exec",
            "exactly one of httpGet, tcpSocket, exec, grpc, got tcpSocket, exec",
        ),
        (
            "no handler",
            |s| container(s).liveness_probe = Some(Probe::default()),
            "spec.template.spec.containers[0].livenessProbe.httpGet",
            "got none",
        ),
        (
            "probe port number written as a string",
            |s| {
                probe(s).tcp_socket = Some(TcpSocketAction {
                    port: Some(IntOrString::String("8080".into())),
                    ..TcpSocketAction::default()
                })
            },
            "spec.template.spec.containers[0].readinessProbe.tcpSocket.port",
            "must name the container port (\"http\"), got \"8080\"",
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
    // Knative checks neither an exec probe's command nor a numeric probe port (it
    // probes the serving port whatever number is written).
    let mut svc = service();
    probe(&mut svc).tcp_socket = None;
    probe(&mut svc).exec = Some(ExecAction::default());
    container(&mut svc).liveness_probe = Some(Probe {
        tcp_socket: Some(TcpSocketAction {
            port: Some(IntOrString::Int(9999)),
            ..TcpSocketAction::default()
        }),
        ..Probe::default()
    });
    assert_eq!(svc.validate(&ValidationConfig::default()), Ok(()));
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
            "spec.template.spec.volumes[0].secret",
            "exactly one volume source, got secret, emptyDir",
        ),
        (
            "sidecar probes",
            |s| {
                let mut sidecar = Container::with_image("example.com/proxy");
                sidecar.name = "p".into();
                sidecar.readiness_probe = Some(Probe {
                    tcp_socket: Some(TcpSocketAction::default()),
                    ..Probe::default()
                });
                s.spec.template.spec.containers.push(sidecar);
            },
            "spec.template.spec.containers[1].readinessProbe.tcpSocket",
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
            let mut sidecar = Container::with_image("example.com/proxy");
            sidecar.name = "p".into();
            s.spec.template.spec.containers.push(sidecar);
        },
        "spec.template.spec.containers",
        "multi-container to be enabled, got 2",
    )];
    check_service_cases(&cases, &single);
}
