//! Admission as Knative v0.50's webhook judges it: defaults, then the API server's
//! metadata checks, then validation (verdicts checked against Knative's own code).

use knserve_core::api::{Resource, ValidationConfig, parse_yaml};

fn manifest(meta: &str, template_meta: &str, spec: &str) -> String {
    format!(
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n{meta}\nspec:\n  template:\n{template_meta}\n    spec:\n      containers:\n      - image: example.com/hello\n{spec}\n"
    )
}

/// The paths of the errors admitting `yaml` as a create gives (empty when accepted).
fn admit(yaml: &str) -> Vec<String> {
    let mut resource = parse_yaml(yaml).expect("decodes").remove(0);
    match resource.admit(None, Some("admin"), &ValidationConfig::default()) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| e.path).collect(),
    }
}

#[test]
fn names_and_generate_names_are_judged_as_knative_and_the_api_server_do() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("  generateName: hello-", "", &[]),
        ("  generateName: 1-", "", &["metadata.name"]),
        (
            "  name: hello\n  generateName: Hello-",
            "",
            &["metadata.generateName"],
        ),
        (&*format!("  generateName: {}-", "a".repeat(63)), "", &[]),
        (
            "  generateName: hello-",
            "    metadata:\n      name: hello-v1",
            &["spec.template.metadata.name"],
        ),
        (
            "  name: hello\n  generateName: hello-",
            "    metadata:\n      name: hello-v1",
            &[],
        ),
        (
            "  name: hello",
            "    metadata:\n      generateName: Bad-",
            &["spec.template.metadata.generateName"],
        ),
    ];
    for (meta, template, want) in cases {
        assert_eq!(
            admit(&manifest(meta, template, "")),
            *want,
            "{meta} / {template}"
        );
    }
}

#[test]
fn annotations_and_labels_follow_knative() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "  name: hello\n  labels:\n    networking.knative.dev/visibility: public",
            "",
            &[],
        ),
        (
            "  name: hello\n  labels:\n    serving.knative.dev/service: x",
            "",
            &[],
        ),
        (
            "  name: hello",
            "    metadata:\n      annotations:\n        networking.knative.dev/foo: x",
            &["spec.template.metadata.annotations.networking.knative.dev/foo"],
        ),
        (
            "  name: hello",
            "    metadata:\n      annotations:\n        networking.knative.dev/ingress-class: x",
            &[],
        ),
        (
            "  name: hello\n  annotations:\n    networking.knative.dev/foo: x",
            "",
            &[],
        ),
        (
            "  name: hello",
            "    metadata:\n      annotations:\n        queue.sidecar.serving.knative.dev/resource-percentage: \"200\"",
            &[
                "spec.template.metadata.annotations.[queue.sidecar.serving.knative.dev/resource-percentage]",
            ],
        ),
        (
            "  name: hello",
            "    metadata:\n      annotations:\n        queue.sidecar.serving.knative.dev/cpu-resource-request: lots",
            &[
                "spec.template.metadata.annotations.[queue.sidecar.serving.knative.dev/cpu-resource-request]",
            ],
        ),
        (
            "  name: hello\n  annotations:\n    autoscaling.knative.dev.x/y: \"1\"",
            "",
            &["metadata.annotations.autoscaling.knative.dev.x/y"],
        ),
        (
            "  name: hello",
            "    metadata:\n      annotations:\n        serving.knative.dev/progress-deadline: -5s",
            &["spec.template.metadata.annotations.serving.knative.dev/progress-deadline"],
        ),
        (
            "  name: hello\n  annotations:\n    serving.knative.dev/rolloutDuration: 1.5s",
            "",
            &["metadata.annotations.serving.knative.dev/rolloutDuration"],
        ),
        (
            "  name: hello",
            "    metadata:\n      annotations:\n        autoscaling.knative.dev/target: NaN",
            &[],
        ),
    ];
    for (meta, template, want) in cases {
        assert_eq!(
            admit(&manifest(meta, template, "")),
            *want,
            "{meta} / {template}"
        );
    }
}

#[test]
fn traffic_tags_follow_knative() {
    let empty = "  traffic:\n  - latestRevision: true\n    percent: 100\n    tag: \"\"";
    assert_eq!(
        admit(&manifest("  name: hello", "", empty)),
        Vec::<String>::new()
    );
    let dup = "  traffic:\n  - latestRevision: true\n    percent: 50\n    tag: a\n  - latestRevision: true\n    percent: 50\n    tag: a";
    let mut paths = admit(&manifest("  name: hello", "", dup));
    paths.sort();
    assert_eq!(paths, ["spec.traffic[0].tag", "spec.traffic[1].tag"]);
}

#[test]
fn an_explicit_zero_response_start_timeout_is_kept_and_timeouts_are_unbounded() {
    let yaml = manifest("  name: hello", "", "").replace(
        "    spec:\n",
        "    spec:\n      responseStartTimeoutSeconds: 0\n      idleTimeoutSeconds: -4\n",
    );
    let mut resource = parse_yaml(&yaml).unwrap().remove(0);
    resource
        .admit(None, None, &ValidationConfig::default())
        .expect("Knative v0.50 bounds neither");
    let Resource::Service(service) = resource else {
        unreachable!()
    };
    assert_eq!(
        service.spec.template.spec.response_start_timeout_seconds,
        Some(0),
        "0 turns the timer off and is kept"
    );
    let yaml = manifest("  name: hello", "", "");
    let Resource::Service(defaulted) = ({
        let mut r = parse_yaml(&yaml).unwrap().remove(0);
        r.admit(None, None, &ValidationConfig::default()).unwrap();
        r
    }) else {
        unreachable!()
    };
    assert_eq!(
        defaulted.spec.template.spec.response_start_timeout_seconds, None,
        "the 300s default is not below the 300s timeout, so it stays unset"
    );
}

#[test]
fn an_update_keeps_the_creator_and_the_revision_spec() {
    let yaml = manifest("  name: hello", "", "");
    let mut old = parse_yaml(&yaml).unwrap().remove(0);
    old.admit(None, Some("admin"), &ValidationConfig::default())
        .unwrap();
    assert_eq!(
        old.metadata().annotation("serving.knative.dev/creator"),
        Some("admin")
    );
    let mut new = parse_yaml(&yaml).unwrap().remove(0);
    let errors = new
        .admit(Some(&old), Some("admin"), &ValidationConfig::default())
        .expect_err("the manifest dropped the creator annotation");
    assert_eq!(
        errors.errors()[0].path,
        "metadata.annotations.serving.knative.dev/creator"
    );
    let mut same = old.clone();
    assert_eq!(
        same.admit(Some(&old), Some("admin"), &ValidationConfig::default()),
        Ok(())
    );
}

#[test]
fn an_invalid_tag_is_reported_where_knative_puts_it() {
    let traffic = "  traffic:\n  - latestRevision: true\n    percent: 100\n    tag: A";
    assert_eq!(
        admit(&manifest("  name: hello", "", traffic)),
        ["spec.traffic.tag[0]"],
        "Knative's ErrInvalidArrayValue puts the index after the field"
    );
}
