//! `review` on Knative's helloworld-go sample and its broken variants.

use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
use serde_json::{Value, json};

use knserve_core::api::keys::{CREATOR_ANNOTATION, UPDATER_ANNOTATION};
use knserve_core::api::{Service, ValidationConfig};

use super::*;

const HELLOWORLD: &str = include_str!("../../../knserve-core/tests/data/helloworld-go.yaml");

fn helloworld() -> Value {
    serde_yaml_ng::from_str(HELLOWORLD).expect("the sample parses")
}

/// An AdmissionRequest as the API server sends it, from user `alice`.
fn request(
    operation: &str,
    kind: &str,
    object: Value,
    old: Value,
) -> AdmissionRequest<DynamicObject> {
    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "0c9a8d74-0000-4000-8000-000000000001",
            "kind": {"group": "serving.knative.dev", "version": "v1", "kind": kind},
            "resource": {"group": "serving.knative.dev", "version": "v1", "resource": "services"},
            "name": "helloworld-go",
            "namespace": "example",
            "operation": operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": object,
            "oldObject": old,
            "dryRun": false
        }
    });
    let review: AdmissionReview<DynamicObject> =
        serde_json::from_value(review).expect("a well-formed AdmissionReview");
    review.try_into().expect("the review carries a request")
}

fn create(object: Value) -> AdmissionRequest<DynamicObject> {
    request("CREATE", "Service", object, Value::Null)
}

/// The patch of an allowed response, as operations.
fn patch_of(response: &AdmissionResponse) -> Vec<PatchOp> {
    assert!(
        response.allowed,
        "expected allowed, got {:?}",
        response.result
    );
    response
        .patch
        .as_ref()
        .map(|bytes| serde_json::from_slice(bytes).expect("the patch is RFC 6902 JSON"))
        .unwrap_or_default()
}

fn mutate(request: &AdmissionRequest<DynamicObject>) -> Vec<PatchOp> {
    patch_of(&review(
        request,
        &ValidationConfig::default(),
        ReviewKind::Mutate,
    ))
}

fn validate(request: &AdmissionRequest<DynamicObject>) -> AdmissionResponse {
    review(request, &ValidationConfig::default(), ReviewKind::Validate)
}

/// `object` with `patch` applied.
fn patched(mut object: Value, patch: &[PatchOp]) -> Value {
    apply(&mut object, patch).expect("the patch applies to the object it was made for");
    object
}

/// The object as the API server would hand it back (via `DynamicObject`).
fn normalized(object: Value) -> Value {
    let dynamic: DynamicObject = serde_json::from_value(object).expect("a kube object");
    serde_json::to_value(dynamic).expect("serializes")
}

#[test]
fn the_defaulting_patch_turns_helloworld_into_the_defaulted_service() {
    let object = normalized(helloworld());
    let result = patched(object.clone(), &mutate(&create(object.clone())));

    let mut expected: Service = serde_json::from_value(object).expect("a Service");
    expected.set_defaults(&ValidationConfig::default().defaults);
    expected
        .metadata
        .annotations
        .insert(CREATOR_ANNOTATION.into(), "alice".into());
    expected
        .metadata
        .annotations
        .insert(UPDATER_ANNOTATION.into(), "alice".into());
    let result: Service = serde_json::from_value(result).expect("still a Service");
    assert_eq!(
        result, expected,
        "the patched object is the defaulted one with its creator"
    );
    let container = &result.spec.template.spec.containers[0];
    assert_eq!(
        container.name, "user-container",
        "the serving container gets its default name"
    );
    assert_eq!(
        result.spec.traffic.len(),
        1,
        "empty traffic becomes 100% on the latest revision"
    );
}

#[test]
fn defaulting_is_idempotent() {
    let object = normalized(helloworld());
    let once = patched(object.clone(), &mutate(&create(object)));
    assert_eq!(
        mutate(&create(once)),
        vec![],
        "a defaulted object needs no patch"
    );
}

#[test]
fn creator_annotations_are_added_to_an_existing_annotations_map() {
    let mut object = normalized(helloworld());
    object["metadata"]["annotations"] = json!({"team": "blue"});
    let ops = mutate(&create(object.clone()));
    assert!(
        ops.contains(&PatchOp::Add {
            path: "/metadata/annotations/serving.knative.dev~1creator".into(),
            value: json!("alice"),
        }),
        "the creator is added as one member, escaped per RFC 6901: {ops:?}"
    );
    let result = patched(object, &ops);
    assert_eq!(
        result["metadata"]["annotations"]["team"], "blue",
        "other annotations stay"
    );
}

#[test]
fn an_update_that_changes_the_spec_records_only_the_last_modifier() {
    let old = normalized(helloworld());
    let old = patched(old.clone(), &mutate(&create(old)));
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("example.com/hello:v2");
    let unchanged = mutate(&request("UPDATE", "Service", old.clone(), old.clone()));
    assert_eq!(
        unchanged,
        vec![],
        "an update without spec change keeps lastModifier"
    );

    let mut by_bob = request("UPDATE", "Service", new.clone(), old);
    by_bob.user_info.username = Some("bob".into());
    let result = patched(new, &mutate(&by_bob));
    let annotations = &result["metadata"]["annotations"];
    assert_eq!(
        annotations[UPDATER_ANNOTATION], "bob",
        "the updater is recorded"
    );
    assert_eq!(
        annotations[CREATOR_ANNOTATION], "alice",
        "the creator is kept"
    );
}

#[test]
fn the_defaulted_helloworld_is_allowed() {
    let object = normalized(helloworld());
    let defaulted = patched(object.clone(), &mutate(&create(object)));
    let response = validate(&create(defaulted));
    assert!(
        response.allowed,
        "a valid ksvc is admitted: {:?}",
        response.result
    );
    assert_eq!(response.warnings, None, "nothing to warn about");
}

#[test]
fn a_container_without_an_image_is_denied_naming_the_field() {
    let mut object = helloworld();
    object["spec"]["template"]["spec"]["containers"][0]["image"] = json!("");
    let response = validate(&create(object));
    assert!(!response.allowed, "an image is required");
    assert_eq!(response.result.code, 400, "denials are bad requests");
    assert!(
        response
            .result
            .message
            .contains("spec.template.spec.containers[0].image: is required"),
        "the message names the field from the object's root: {}",
        response.result.message
    );
}

#[test]
fn an_unknown_field_is_denied_naming_it_as_the_api_server_would() {
    let mut object = normalized(helloworld());
    object["spec"]["template"]["spec"]["containerconcurrency"] = json!(1);
    object["spec"]["template"]["spec"]["containers"][0]["imagePullpolicy"] = json!("Always");
    let defaulted = patched(object.clone(), &mutate(&create(object)));
    let response = validate(&create(defaulted));
    assert!(
        !response.allowed,
        "a misspelt field is refused, not dropped"
    );
    let message = &response.result.message;
    for path in [
        "spec.template.spec.containerconcurrency: unknown field",
        "spec.template.spec.containers[0].imagePullpolicy: unknown field",
    ] {
        assert!(message.contains(path), "the denial names {path}: {message}");
    }
}

#[test]
fn a_revision_spec_update_is_denied_but_a_label_change_is_allowed() {
    let revision = json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {"name": "helloworld-go-00001", "namespace": "example"},
        "spec": {"containers": [{"image": "example.com/hello:v1"}]}
    });
    let mut changed = revision.clone();
    changed["spec"]["containers"][0]["image"] = json!("example.com/hello:v2");
    let response = validate(&request("UPDATE", "Revision", changed, revision.clone()));
    assert!(!response.allowed, "a revision's spec is immutable");
    assert!(
        response.result.message.contains("spec: is immutable"),
        "Knative reports a changed revision spec once, at spec: {}",
        response.result.message
    );

    let mut labelled = revision.clone();
    labelled["metadata"]["labels"] = json!({"team": "blue"});
    let response = validate(&request("UPDATE", "Revision", labelled, revision));
    assert!(
        response.allowed,
        "metadata may change: {:?}",
        response.result
    );
}

#[test]
fn delete_is_allowed_without_an_object() {
    let delete = request("DELETE", "Service", Value::Null, normalized(helloworld()));
    for kind in [ReviewKind::Mutate, ReviewKind::Validate] {
        let response = review(&delete, &ValidationConfig::default(), kind);
        assert!(response.allowed, "DELETE is never denied ({kind:?})");
        assert_eq!(response.patch, None, "DELETE is never patched ({kind:?})");
    }
}

#[test]
fn an_object_that_does_not_decode_is_denied_naming_the_path() {
    let mut object = helloworld();
    object["spec"]["template"]["spec"]["containers"] = json!("nope");
    for kind in [ReviewKind::Mutate, ReviewKind::Validate] {
        let response = review(&create(object.clone()), &ValidationConfig::default(), kind);
        assert!(!response.allowed, "a shapeless object is denied ({kind:?})");
        let message = &response.result.message;
        assert!(
            message.starts_with(
                "object Service does not decode: spec.template.spec.containers: invalid type"
            ),
            "the message names the serde path: {message}"
        );
    }
}

#[test]
fn kinds_outside_serving_are_denied() {
    let mut pod = create(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}));
    pod.kind.group = String::new();
    pod.kind.kind = "Pod".into();
    let response = validate(&pod);
    assert!(
        !response.allowed,
        "the webhook only admits serving.knative.dev kinds"
    );
    assert!(
        response.result.message.contains("unhandled kind"),
        "{}",
        response.result.message
    );
}

#[test]
fn unknown_autoscaling_annotations_are_warned_about() {
    let mut object = helloworld();
    object["spec"]["template"]["metadata"] =
        json!({"annotations": {"autoscaling.knative.dev/colour": "blue"}});
    // `/validation` sees the object after `/defaulting`, which adds the traffic.
    object["spec"]["traffic"] = json!([{"latestRevision": true, "percent": 100}]);
    let response = validate(&create(object));
    assert!(
        response.allowed,
        "an unknown annotation does not deny: {:?}",
        response.result
    );
    let warnings = response.warnings.unwrap_or_default();
    assert_eq!(
        warnings.len(),
        1,
        "one warning per unknown key: {warnings:?}"
    );
    assert!(
        warnings[0]
            .starts_with("spec.template.metadata.annotations.autoscaling.knative.dev/colour:"),
        "the warning names the annotation: {warnings:?}"
    );
}
