//! Test objects with statuses, written as the server's JSON.

use knserve_core::api::{Revision, Route, Service};
use serde_json::json;

/// 2024-03-01T00:00:00Z.
pub const CREATED: i64 = 1_709_251_200;

pub fn ready_service() -> Service {
    serde_json::from_value(json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "default", "generation": 1,
                     "creationTimestamp": "2024-03-01T00:00:00Z"},
        "spec": {"template": {"spec": {"containers": [{"image": "hello"}]}}},
        "status": {
            "observedGeneration": 1,
            "url": "http://hello.default.example.com",
            "latestCreatedRevisionName": "hello-00001",
            "latestReadyRevisionName": "hello-00001",
            "traffic": [{"revisionName": "hello-00001", "latestRevision": true, "percent": 100}],
            "conditions": [
                {"type": "ConfigurationsReady", "status": "True"},
                {"type": "Ready", "status": "True"},
                {"type": "RoutesReady", "status": "True"}
            ]
        }
    }))
    .expect("fixture service is valid")
}

pub fn service_with_conditions(
    generation: i64,
    observed: i64,
    conditions: serde_json::Value,
) -> Service {
    let mut svc = ready_service();
    svc.metadata.generation = Some(generation);
    let status = svc.status.as_mut().expect("fixture has a status");
    status.observed_generation = Some(observed);
    status.conditions = serde_json::from_value(conditions).expect("conditions are valid");
    svc
}

pub fn revision(name: &str, generation: &str, conditions: serde_json::Value) -> Revision {
    serde_json::from_value(json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {
            "name": name, "namespace": "default",
            "creationTimestamp": "2024-03-01T00:00:00Z",
            "labels": {
                "serving.knative.dev/service": "hello",
                "serving.knative.dev/configurationGeneration": generation
            }
        },
        "spec": {"containers": [{"image": "hello"}]},
        "status": {"conditions": conditions, "actualReplicas": 1, "desiredReplicas": 2}
    }))
    .expect("fixture revision is valid")
}

pub fn route() -> Route {
    serde_json::from_value(json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Route",
        "metadata": {"name": "hello", "namespace": "other"},
        "status": {"url": "http://hello.other.example.com",
                   "conditions": [{"type": "Ready", "status": "Unknown"}]}
    }))
    .expect("fixture route is valid")
}
