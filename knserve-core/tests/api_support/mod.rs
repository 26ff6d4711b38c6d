//! Helpers shared by the validation tests.

#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]

use knserve_core::api::{Container, ObjectMeta, Probe, Service, ServiceSpec, ValidationConfig};
use knserve_core::config::DefaultsConfig;
use knserve_core::{FieldError, ValidationErrors};

pub type Edit = fn(&mut Service);

pub fn service() -> Service {
    let mut svc = Service::new(
        ObjectMeta::named("hello", "default"),
        ServiceSpec::default(),
    );
    svc.spec.template.spec.containers = vec![Container::with_image("example.com/hello")];
    svc.set_defaults(&DefaultsConfig::default());
    svc
}

pub fn container(svc: &mut Service) -> &mut Container {
    &mut svc.spec.template.spec.containers[0]
}

pub fn probe(svc: &mut Service) -> &mut Probe {
    container(svc)
        .readiness_probe
        .as_mut()
        .expect("defaulted probe")
}

pub fn errors(result: Result<(), ValidationErrors>) -> Vec<FieldError> {
    result
        .err()
        .map(|e| e.errors().to_vec())
        .unwrap_or_default()
}

pub fn assert_has(errors: &[FieldError], path: &str, rule: &str, case: &str) {
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

pub fn check_service_cases(cases: &[(&str, Edit, &str, &str)], config: &ValidationConfig) {
    for (case, edit, path, rule) in cases {
        let mut svc = service();
        edit(&mut svc);
        assert_has(&errors(svc.validate(config)), path, rule, case);
    }
}
