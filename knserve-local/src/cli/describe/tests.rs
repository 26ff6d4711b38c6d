use serde_json::json;

use super::*;
use crate::cli::fixtures::{CREATED, ready_service, revision};

fn failing_service() -> Service {
    let mut svc = ready_service();
    let status = svc.status.as_mut().expect("fixture has a status");
    status.latest_created_revision_name = Some("hello-00002".into());
    status.conditions = serde_json::from_value(json!([
        {"type": "ConfigurationsReady", "status": "False", "reason": "RevisionFailed",
         "message": "Revision \"hello-00002\" failed with message: exit status 3.",
         "lastTransitionTime": "2024-03-01T00:00:30Z"},
        {"type": "Ready", "status": "False", "reason": "RevisionFailed",
         "lastTransitionTime": "2024-03-01T00:00:30Z"},
    ]))
    .expect("conditions are valid");
    svc
}

fn crashed_revision() -> Revision {
    revision(
        "hello-00002",
        "2",
        json!([
            {"type": "Ready", "status": "False", "reason": "ExitCode3"},
            {"type": "ContainerHealthy", "status": "False", "reason": "ExitCode3",
             "message": "Container failed with: panicked at main.rs:3"},
            {"type": "ResourcesAvailable", "status": "True"},
        ]),
    )
}

#[test]
fn entries_are_the_traffic_targets_then_an_untargeted_latest_revision() {
    let entries = revision_entries(&failing_service());
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["hello-00001", "hello-00002"]);
    assert!(entries[0].target.is_some());
    assert!(
        entries[1].target.is_none(),
        "the failed revision gets no traffic"
    );
    assert_eq!(
        revision_entries(&ready_service()).len(),
        1,
        "a latest revision with traffic is listed once"
    );
}

#[test]
fn a_crashed_revision_shows_its_failing_condition_reason_and_message() {
    let entry = RevisionEntry {
        name: "hello-00002".into(),
        target: None,
    };
    let text = describe_revision(&entry, Some(&crashed_revision()), CREATED + 60);
    assert_eq!(
        text,
        "        hello-00002 [2] (60s)\n\
         \x20       Image:     hello\n\
         \x20       Ready:     False\n\
         \x20       Replicas:  1/2\n\
         \x20       Error:     ContainerHealthy: ExitCode3: Container failed with: panicked at main.rs:3\n"
    );
}

#[test]
fn the_description_has_header_revisions_and_conditions() {
    let svc = failing_service();
    let entries = revision_entries(&svc);
    let revisions = [
        revision(
            "hello-00001",
            "1",
            json!([{"type": "Ready", "status": "True"}]),
        ),
        crashed_revision(),
    ];
    let text = describe_service(&svc, &entries, &revisions, CREATED + 90);
    assert!(text.starts_with(
        "Name:       hello\nNamespace:  default\nAge:        90s\nURL:        http://hello.default.example.com\n"
    ), "{text}");
    assert!(
        text.contains("  100%  @latest (hello-00001) [1] (90s)\n"),
        "{text}"
    );
    assert!(
        !text.contains("hello-00001 [1] (90s)\n        Error"),
        "a ready revision has no error"
    );
    assert!(
        text.contains("Error:     ContainerHealthy: ExitCode3"),
        "{text}"
    );
    let conditions = text
        .split("Conditions:\n")
        .nth(1)
        .expect("has a conditions block");
    assert_eq!(
        conditions,
        "  OK   TYPE                  AGE   REASON\n\
         \x20 !!   Ready                 60s   RevisionFailed\n\
         \x20 !!   ConfigurationsReady   60s   RevisionFailed: Revision \"hello-00002\" failed with message: exit status 3.\n",
        "Ready first, each with its age since the last transition"
    );
}

#[test]
fn a_revision_that_cannot_be_fetched_is_marked_not_found() {
    let entries = revision_entries(&ready_service());
    let text = describe_revision(&entries[0], None, CREATED);
    assert_eq!(text, "  100%  @latest (hello-00001) (not found)\n");
}
