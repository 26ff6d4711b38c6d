use super::*;
use crate::api::{ObjectMeta, Revision, RevisionSpec};

#[test]
fn a_revision_without_a_name_or_namespace_is_refused_naming_the_field() {
    for (name, namespace, field) in [
        ("", "default", "metadata.name"),
        ("hello-00001", "", "metadata.namespace"),
    ] {
        let revision = Revision::new(ObjectMeta::named(name, namespace), RevisionSpec::default());
        let error = revision_key(&revision).expect_err("an incomplete revision has no key");
        assert!(
            matches!(error, OrchestratorError::MissingField { field: f } if f == field),
            "the error names {field}: {error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("Revision {field} must be set to name its workload")
        );
    }
}

#[test]
fn a_named_revision_is_keyed_by_namespace_and_name() {
    let revision = Revision::new(
        ObjectMeta::named("hello-00001", "default"),
        RevisionSpec::default(),
    );
    assert_eq!(
        revision_key(&revision).unwrap(),
        crate::RevisionKey::new("default", "hello-00001")
    );
}

#[test]
fn a_failure_prints_reason_then_message_as_the_activator_answers_it() {
    let health = RevisionHealth::Failed {
        reason: "ExitCode1".to_owned(),
        message: "the app exited".to_owned(),
    };
    let failure = Failure::of(&health).expect("a failed health reports a failure");
    assert_eq!(
        &*failure.to_endpoints_failure(),
        "ExitCode1: the app exited"
    );
    assert_eq!(
        Failure::of(&RevisionHealth::Ready),
        None,
        "a ready workload has no failure"
    );
}
