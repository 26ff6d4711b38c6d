//! The examples' `service.yaml` files are valid Knative Services that run on both
//! backends: an `image` for Kubernetes and a bare `command` for knserve.

use knserve_core::api::{Container, Resource, Service, ValidationConfig, parse_yaml};

/// The one Service in `examples/<example>/service.yaml`.
fn service(example: &str) -> Service {
    let path = format!("{}/{example}/service.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let resources = parse_yaml(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    match <[Resource; 1]>::try_from(resources) {
        Ok([Resource::Service(service)]) => service,
        other => panic!("{path} holds exactly one Service, got {other:?}"),
    }
}

/// Validates `service` after defaulting, as Knative's webhook does (a Service as
/// written has no traffic block yet; defaulting routes 100% to the latest revision).
fn assert_valid(service: &Service) {
    let config = ValidationConfig::default();
    let mut defaulted = service.clone();
    defaulted.set_defaults(&config.defaults);
    if let Err(errors) = defaulted.validate(&config) {
        panic!(
            "{} is valid once defaulted: {errors}",
            service.metadata.name()
        );
    }
}

/// The single container, checked to run on both backends under the binary's name.
fn portable_container<'a>(service: &'a Service, binary: &str) -> &'a Container {
    let containers = &service.spec.template.spec.containers;
    assert_eq!(containers.len(), 1, "one serving container");
    let container = &containers[0];
    assert!(
        container
            .image
            .starts_with(&format!("ghcr.io/knserve/{binary}:")),
        "Kubernetes runs the image: {}",
        container.image
    );
    assert_eq!(
        container.command,
        [binary],
        "knserve runs the bare command found beside its own binary"
    );
    assert!(
        container.env.iter().all(|var| var.name != "PORT"),
        "PORT is injected by the platform and forbidden in the spec"
    );
    container
}

#[test]
fn simple_api_yaml_is_a_valid_service_keeping_the_seed_autoscaling_and_probe() {
    let service = service("simple-api");
    assert_eq!(service.metadata.name(), "simple-api");
    assert_eq!(service.metadata.namespace(), "default");
    assert_valid(&service);

    let annotations = &service.spec.template.metadata.annotations;
    for (key, value) in [
        ("minScale", "1"),
        ("maxScale", "100"),
        ("target", "5"),
        ("metric", "concurrency"),
        ("target-utilization-percentage", "70"),
    ] {
        let key = format!("autoscaling.knative.dev/{key}");
        assert_eq!(
            annotations.get(&key).map(String::as_str),
            Some(value),
            "{key} as in the seed manifest"
        );
    }

    let container = portable_container(&service, "simple-api");
    assert_eq!(container.ports.len(), 1);
    assert_eq!(container.ports[0].container_port, 8080);
    let probe_path = container
        .readiness_probe
        .as_ref()
        .and_then(|probe| probe.http_get.as_ref())
        .and_then(|get| get.path.as_deref());
    assert_eq!(
        probe_path,
        Some("/health"),
        "readiness is the health endpoint"
    );
}

#[test]
fn helloworld_yaml_is_a_valid_service_greeting_its_target() {
    let service = service("helloworld");
    assert_eq!(service.metadata.name(), "helloworld");
    assert_eq!(service.metadata.namespace(), "default");
    assert_valid(&service);

    let container = portable_container(&service, "helloworld");
    assert!(
        container.env.iter().any(|var| var.name == "TARGET"),
        "TARGET names who is greeted"
    );
}
