//! Defaulting as Knative's webhook applies it (§1.2, §1.6), and the injected environment.

use knserve_core::api::{
    Container, ContainerPort, EnvVar, IntOrString, ObjectMeta, Probe, Revision, RevisionSpec,
    RuntimeEnv, Service, ServiceSpec, TrafficTarget, VolumeMount, keys, parse_yaml,
};
use knserve_core::api::{HttpGetAction, Resource, Volume};
use knserve_core::config::DefaultsConfig;

fn defaulted(spec: RevisionSpec, config: &DefaultsConfig) -> RevisionSpec {
    let mut spec = spec;
    spec.set_defaults(&ObjectMeta::named("hello", "default"), config);
    spec
}

fn one_container() -> RevisionSpec {
    RevisionSpec {
        containers: vec![Container::with_image("example.com/hello")],
        ..RevisionSpec::default()
    }
}

#[test]
fn a_lone_unnamed_container_is_named_user_container() {
    let spec = defaulted(one_container(), &DefaultsConfig::default());
    assert_eq!(spec.containers[0].name, "user-container");
}

#[test]
fn several_unnamed_containers_are_numbered_around_taken_names() {
    let named = |name: &str| Container {
        name: name.into(),
        ..Container::with_image("x")
    };
    let spec = RevisionSpec {
        containers: vec![
            Container::with_image("a"),
            named("user-container-0"),
            Container::with_image("b"),
        ],
        ..RevisionSpec::default()
    };
    let spec = defaulted(spec, &DefaultsConfig::default());
    let names: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["user-container-1", "user-container-0", "user-container-2"],
        "unnamed containers skip user-supplied names"
    );
}

#[test]
fn the_container_name_template_renders_against_the_parent() {
    let config = DefaultsConfig {
        container_name_template: "{{.Name}}-app".into(),
        ..DefaultsConfig::default()
    };
    let spec = defaulted(one_container(), &config);
    assert_eq!(spec.containers[0].name, "hello-app");
}

#[test]
fn timeouts_concurrency_and_service_links_are_defaulted_from_config() {
    let table = [
        // (timeoutSeconds given, response-start default, idle default) → (timeout, start, idle)
        ((None, 300, 0), (300, None, None)),
        ((Some(0), 300, 0), (300, None, None)),
        ((Some(100), 300, 0), (100, None, None)),
        ((None, 120, 30), (300, Some(120), Some(30))),
        ((Some(60), 120, 30), (60, None, Some(30))),
    ];
    for ((timeout, start, idle), expected) in table {
        let config = DefaultsConfig {
            revision_response_start_timeout_seconds: start,
            revision_idle_timeout_seconds: idle,
            ..DefaultsConfig::default()
        };
        let spec = defaulted(
            RevisionSpec {
                timeout_seconds: timeout,
                ..one_container()
            },
            &config,
        );
        let got = (
            spec.timeout_seconds.unwrap(),
            spec.response_start_timeout_seconds,
            spec.idle_timeout_seconds,
        );
        assert_eq!(
            got, expected,
            "timeout {timeout:?}, start default {start}, idle default {idle}: defaults apply only below the timeout"
        );
        assert_eq!(spec.container_concurrency, Some(0));
        assert_eq!(spec.enable_service_links, Some(false));
    }
}

#[test]
fn the_serving_port_defaults_to_8080_when_absent_or_zero() {
    let spec = defaulted(one_container(), &DefaultsConfig::default());
    assert_eq!(spec.containers[0].ports[0].container_port, 8080);
    let mut zero = one_container();
    zero.containers[0].ports.push(ContainerPort::default());
    let spec = defaulted(zero, &DefaultsConfig::default());
    assert_eq!(spec.containers[0].ports.len(), 1);
    assert_eq!(spec.user_port(), 8080);
}

#[test]
fn the_readiness_probe_defaults_to_tcp_on_the_user_port() {
    let mut spec = one_container();
    spec.containers[0].ports.push(ContainerPort {
        container_port: 9000,
        ..ContainerPort::default()
    });
    let spec = defaulted(spec, &DefaultsConfig::default());
    let probe = spec.containers[0].readiness_probe.as_ref().unwrap();
    let port = probe.tcp_socket.as_ref().unwrap().port.clone();
    assert_eq!(port, Some(IntOrString::Int(9000)));
    assert_eq!(probe.success_threshold, Some(1));
    assert_eq!(
        probe.period_seconds, None,
        "no period means aggressive probing"
    );
    assert_eq!(probe.failure_threshold, None);
    assert_eq!(probe.timeout_seconds, None);
}

#[test]
fn a_probe_with_a_period_gets_kubernetes_thresholds_and_keeps_its_handler() {
    let mut spec = one_container();
    spec.containers[0].readiness_probe = Some(Probe {
        http_get: Some(HttpGetAction {
            path: Some("/health".into()),
            ..HttpGetAction::default()
        }),
        period_seconds: Some(5),
        ..Probe::default()
    });
    let spec = defaulted(spec, &DefaultsConfig::default());
    let probe = spec.containers[0].readiness_probe.as_ref().unwrap();
    assert!(probe.tcp_socket.is_none(), "a given handler is kept");
    assert_eq!(
        probe.http_get.as_ref().unwrap().port,
        Some(IntOrString::Int(8080))
    );
    assert_eq!(
        (
            probe.success_threshold,
            probe.failure_threshold,
            probe.timeout_seconds
        ),
        (Some(1), Some(3), Some(1))
    );
}

#[test]
fn only_the_serving_container_gets_a_default_probe_and_port() {
    let mut spec = RevisionSpec {
        containers: vec![
            Container::with_image("sidecar"),
            Container::with_image("app"),
        ],
        ..RevisionSpec::default()
    };
    spec.containers[1].ports.push(ContainerPort {
        container_port: 8888,
        ..ContainerPort::default()
    });
    let spec = defaulted(spec, &DefaultsConfig::default());
    assert!(spec.containers[0].readiness_probe.is_none());
    assert!(spec.containers[0].ports.is_empty());
    assert!(spec.containers[1].readiness_probe.is_some());
}

#[test]
fn mounts_of_non_writable_volumes_are_forced_read_only() {
    let volume = |name: &str, source: &str| Volume {
        name: name.into(),
        source: [(source.to_owned(), serde_json::json!({}))].into(),
    };
    let mount = |name: &str| VolumeMount {
        name: name.into(),
        mount_path: format!("/{name}"),
        ..VolumeMount::default()
    };
    let mut spec = one_container();
    spec.volumes = vec![volume("scratch", "emptyDir"), volume("conf", "configMap")];
    spec.containers[0].volume_mounts = vec![mount("scratch"), mount("conf")];
    let spec = defaulted(spec, &DefaultsConfig::default());
    let mounts = &spec.containers[0].volume_mounts;
    assert_eq!(mounts[0].read_only, None, "emptyDir stays writable");
    assert_eq!(mounts[1].read_only, Some(true), "configMap is read-only");
}

#[test]
fn resource_requests_and_limits_are_defaulted_without_overriding() {
    let config = DefaultsConfig {
        revision_cpu_request: Some("100m".into()),
        revision_memory_limit: Some("256Mi".into()),
        ..DefaultsConfig::default()
    };
    let mut spec = one_container();
    spec.containers[0]
        .resources
        .requests
        .insert("cpu".into(), knserve_core::api::Quantity("1".into()));
    let spec = defaulted(spec, &config);
    let resources = &spec.containers[0].resources;
    assert_eq!(resources.requests["cpu"].0, "1", "the user's value wins");
    assert_eq!(resources.limits["memory"].0, "256Mi");
}

#[test]
fn traffic_targets_default_latest_revision_and_percent() {
    let table = [
        (None, None, Some(true), Some(0)),
        (Some("hello-00001"), None, Some(false), Some(0)),
        (Some("hello-00001"), Some(true), Some(true), Some(0)),
    ];
    for (revision, latest, want_latest, want_percent) in table {
        let mut target = TrafficTarget {
            revision_name: revision.map(str::to_owned),
            latest_revision: latest,
            ..TrafficTarget::default()
        };
        target.set_defaults();
        assert_eq!(
            target.latest_revision, want_latest,
            "latestRevision = revisionName empty"
        );
        assert_eq!(target.percent, want_percent, "percent defaults to 0");
    }
}

#[test]
fn a_service_with_no_traffic_sends_everything_to_the_latest_revision() {
    let mut svc = Service::new(
        ObjectMeta::named("hello", "default"),
        ServiceSpec::default(),
    );
    svc.spec.template.spec = one_container();
    svc.set_defaults(&DefaultsConfig::default());
    assert_eq!(
        svc.spec.traffic,
        [TrafficTarget {
            latest_revision: Some(true),
            percent: Some(100),
            ..TrafficTarget::default()
        }]
    );
    assert!(
        svc.spec.traffic[0].configuration_name.is_none(),
        "stays implied"
    );
    let route = svc.make_route();
    assert_eq!(
        route.spec.traffic[0].configuration_name.as_deref(),
        Some("hello")
    );
    assert_eq!(route.metadata.label(keys::SERVICE_LABEL), Some("hello"));
    assert_eq!(
        svc.make_configuration().metadata.controller().unwrap().kind,
        "Service"
    );
}

#[test]
fn the_simple_api_sample_defaults_like_knative() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/simple-api.yaml"
    ))
    .unwrap();
    let Resource::Service(mut svc) = parse_yaml(&text).unwrap().remove(0) else {
        panic!("a Service");
    };
    svc.set_defaults(&DefaultsConfig::default());
    let spec = &svc.spec.template.spec;
    assert_eq!(spec.containers[0].name, "user-container");
    assert_eq!(spec.timeout_seconds, Some(300));
    assert_eq!(
        spec.response_start_timeout_seconds, None,
        "300 is not below 300"
    );
    let probe = spec.containers[0].readiness_probe.as_ref().unwrap();
    assert_eq!(
        probe.http_get.as_ref().unwrap().path.as_deref(),
        Some("/health")
    );
    assert_eq!(svc.spec.traffic[0].percent, Some(100));
}

#[test]
fn the_runtime_env_names_revision_configuration_service_and_port() {
    let mut meta = ObjectMeta::named("hello-00001", "default");
    meta.labels
        .insert(keys::CONFIGURATION_LABEL.into(), "hello".into());
    meta.labels
        .insert(keys::SERVICE_LABEL.into(), "hello".into());
    let revision = Revision::new(meta, one_container());
    let env = RuntimeEnv::for_revision(&revision);
    let user = [EnvVar::new("TARGET", "world")];
    let serving = env.apply(&user, true);
    let pairs: Vec<(&str, &str)> = serving
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_deref().unwrap()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("TARGET", "world"),
            ("PORT", "8080"),
            ("K_REVISION", "hello-00001"),
            ("K_CONFIGURATION", "hello"),
            ("K_SERVICE", "hello"),
        ]
    );
    assert!(
        env.vars(false).iter().all(|v| v.name != "PORT"),
        "sidecars do not get PORT"
    );
}
