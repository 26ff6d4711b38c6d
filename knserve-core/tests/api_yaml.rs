//! Reading and writing Knative YAML: round trips without loss, and clear errors.

use knserve_core::api::{ParseProblem, Resource, Service, parse_yaml};

const SAMPLES: [&str; 4] = [
    "helloworld-go.yaml",
    "simple-api.yaml",
    "traffic-split.yaml",
    "everything.yaml",
];

fn data(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Every document of `text` as plain JSON values (what "no field lost" is checked against).
fn documents_as_json(text: &str) -> Vec<serde_json::Value> {
    text.split("\n---\n")
        .map(|doc| serde_yaml_ng::from_str::<serde_json::Value>(doc).expect("sample is YAML"))
        .filter(|v| !v.is_null())
        .collect()
}

#[test]
fn every_sample_round_trips_to_equal_resources() {
    for name in SAMPLES {
        let parsed = parse_yaml(&data(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!parsed.is_empty(), "{name} has resources");
        let written: Vec<String> = parsed
            .iter()
            .map(|r| serde_yaml_ng::to_string(r).expect("serializes"))
            .collect();
        let reparsed = parse_yaml(&written.join("---\n")).expect("written YAML parses");
        assert_eq!(parsed, reparsed, "{name}: parse → write → parse is stable");
    }
}

#[test]
fn no_field_is_lost_including_uninterpreted_ones() {
    for name in SAMPLES {
        let text = data(name);
        let parsed = parse_yaml(&text).expect("sample parses");
        let written: Vec<serde_json::Value> = parsed
            .iter()
            .map(|r| serde_json::to_value(r).expect("serializes"))
            .collect();
        assert_eq!(
            written,
            documents_as_json(&text),
            "{name}: serialized output holds exactly the input's fields"
        );
    }
}

#[test]
fn uninterpreted_fields_land_in_extra_maps() {
    let resources = parse_yaml(&data("everything.yaml")).expect("parses");
    let Resource::Service(svc) = &resources[0] else {
        panic!("first document is a Service");
    };
    assert!(svc.metadata.extra.contains_key("managedFields"));
    assert!(svc.spec.template.spec.extra.contains_key("nodeSelector"));
    let app = &svc.spec.template.spec.containers[0];
    assert!(app.extra.contains_key("securityContext"));
    assert_eq!(app.resources.requests["cpu"].0, "100m");
    let kinds: Vec<&str> = resources.iter().map(Resource::kind).collect();
    assert_eq!(kinds, ["Service", "Configuration", "Revision", "Route"]);
}

#[test]
fn fields_kubernetes_does_not_know_are_refused_all_together() {
    let text = data("everything.yaml")
        .replacen(
            "    controller: false\n",
            "    controller: false\n    someFutureField: x\n",
            1,
        )
        .replacen(
            "spec:\n  template:",
            "spec:\n  futureSpecField: {nested: [1]}\n  template:",
            1,
        );
    let err = parse_yaml(&text).unwrap_err();
    let paths: Vec<_> = err.problems().filter_map(ParseProblem::path).collect();
    assert_eq!(
        paths,
        [
            "metadata.ownerReferences[0].someFutureField",
            "spec.futureSpecField"
        ],
        "every unknown field is reported, in Kubernetes' order: {err}"
    );
    assert!(
        matches!(err.problem, ParseProblem::UnknownField { line: 24, .. }),
        "{err}"
    );
}

#[test]
fn a_resource_serializes_with_api_version_and_kind_and_nothing_empty() {
    let svc: Service = serde_yaml_ng::from_str(&data("helloworld-go.yaml")).expect("parses");
    let json = serde_json::to_value(&svc).expect("serializes");
    assert_eq!(json["apiVersion"], "serving.knative.dev/v1");
    assert_eq!(json["kind"], "Service");
    assert!(json.get("status").is_none(), "absent status stays absent");
    assert!(
        json["spec"].get("traffic").is_none(),
        "empty traffic is omitted"
    );
}

#[test]
fn empty_documents_and_comments_are_skipped_but_counted() {
    let text = format!("# header\n---\n---\n{}", data("helloworld-go.yaml"));
    let resources = parse_yaml(&text).expect("parses");
    assert_eq!(resources.len(), 1);
    let bad = "---\n---\napiVersion: v1\nkind: ConfigMap\n";
    let err = parse_yaml(bad).unwrap_err();
    assert_eq!(
        err.document, 1,
        "the comment-only preamble is not a document: {err}"
    );
}

#[test]
fn an_unknown_kind_names_the_document_and_the_kind() {
    let text = format!(
        "{}---\napiVersion: serving.knative.dev/v1\nkind: Ingress\nmetadata: {{name: x}}\n",
        data("helloworld-go.yaml")
    );
    let err = parse_yaml(&text).unwrap_err();
    assert_eq!(err.document, 1);
    assert_eq!(err.problem, ParseProblem::Kind("Ingress".into()));
    assert!(
        err.to_string().starts_with("documents[1] (line 16): kind:"),
        "{err}"
    );
}

#[test]
fn a_wrong_api_version_is_rejected() {
    let err = parse_yaml("apiVersion: serving.knative.dev/v1alpha1\nkind: Service\n").unwrap_err();
    assert_eq!(
        err.problem,
        ParseProblem::ApiVersion("serving.knative.dev/v1alpha1".into())
    );
    assert!(err.to_string().contains("apiVersion: must be"), "{err}");
}

#[test]
fn a_bad_field_names_its_path_and_absolute_line() {
    let text = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: a}\n---\n\
        apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: b}\nspec:\n  template:\n    spec:\n      containerConcurrency: lots\n";
    let err = parse_yaml(text).unwrap_err();
    assert_eq!(err.document, 1);
    let message = err.to_string();
    assert!(
        message.contains("spec.template.spec.containerConcurrency: invalid type"),
        "{message}"
    );
    assert!(
        message.contains("line 11"),
        "line is counted from the input's start: {message}"
    );
}

#[test]
fn non_mappings_and_broken_yaml_are_errors_not_panics() {
    let err = parse_yaml("- a\n- b\n").unwrap_err();
    assert_eq!(err.problem, ParseProblem::NotAMapping);
    let err = parse_yaml("apiVersion: [unclosed\n").unwrap_err();
    assert!(matches!(err.problem, ParseProblem::Yaml(_)), "{err}");
}

#[test]
fn a_resource_deserializes_by_kind_from_json() {
    let json = r#"{"apiVersion":"serving.knative.dev/v1","kind":"Route","metadata":{"name":"r"}}"#;
    let resource: Resource = serde_json::from_str(json).expect("parses");
    assert_eq!(resource.kind(), "Route");
    assert_eq!(resource.name(), "r");
    let err =
        serde_json::from_str::<Resource>(r#"{"apiVersion":"serving.knative.dev/v1","kind":"Pod"}"#)
            .unwrap_err();
    assert!(err.to_string().contains("kind: must be one of"), "{err}");
}
