use serde_json::json;

use super::*;
use crate::cli::fixtures::{CREATED, ready_service, revision, route};

#[test]
fn kinds_accept_kn_aliases_and_reject_others_listing_the_allowed() {
    for alias in ["ksvc", "service", "services", "kservice", "KSVC"] {
        assert_eq!(
            ResourceKind::parse(alias),
            Ok(ResourceKind::Service),
            "{alias}"
        );
    }
    for alias in ["revision", "revisions", "rev"] {
        assert_eq!(
            ResourceKind::parse(alias),
            Ok(ResourceKind::Revision),
            "{alias}"
        );
    }
    assert_eq!(ResourceKind::parse("routes"), Ok(ResourceKind::Route));
    let err = ResourceKind::parse("pods").expect_err("pods are not a knserve kind");
    assert!(
        err.to_string().contains("\"pods\"") && err.to_string().contains("ksvc"),
        "the error names the value and the allowed ones: {err}"
    );
}

#[test]
fn output_formats_are_yaml_or_json() {
    assert_eq!(OutputFormat::parse(None), Ok(OutputFormat::Table));
    assert_eq!(OutputFormat::parse(Some("yaml")), Ok(OutputFormat::Yaml));
    assert_eq!(OutputFormat::parse(Some("JSON")), Ok(OutputFormat::Json));
    let err = OutputFormat::parse(Some("wide")).expect_err("wide is not supported");
    assert_eq!(
        err.to_string(),
        "unknown output format \"wide\": expected one of yaml, json"
    );
}

#[test]
fn service_table_shows_url_latest_age_and_conditions() {
    let table = services_table(
        &[ready_service()],
        Scope::Namespace("default"),
        CREATED + 90,
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "NAME",
            "URL",
            "LATEST",
            "AGE",
            "CONDITIONS",
            "READY",
            "REASON"
        ]
    );
    assert_eq!(
        lines[1],
        "hello   http://hello.default.example.com   hello-00001   90s   3 OK / 3     True"
    );
}

#[test]
fn all_namespaces_adds_a_leading_namespace_column() {
    let table = routes_table(&[route()], Scope::All);
    assert_eq!(
        table,
        "NAMESPACE   NAME    URL                              READY\n\
         other       hello   http://hello.other.example.com   Unknown\n"
    );
}

#[test]
fn revision_table_takes_traffic_and_tags_from_the_service() {
    let mut svc = ready_service();
    svc.status.as_mut().expect("status").traffic = serde_json::from_value(json!([
        {"revisionName": "hello-00001", "percent": 80},
        {"revisionName": "hello-00002", "percent": 20, "tag": "canary"},
        {"revisionName": "hello-00001", "percent": 0, "tag": "stable"},
    ]))
    .expect("traffic is valid");
    let failing = json!([{"type": "Ready", "status": "False", "reason": "ExitCode1",
                          "message": "container exited"}]);
    let revs = [
        revision("hello-00002", "2", failing),
        revision(
            "hello-00001",
            "1",
            json!([{"type": "Ready", "status": "True"}]),
        ),
    ];
    let table = revisions_table(&revs, &[svc], Scope::Namespace("default"), CREATED + 5);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| {
            l.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        rows[0],
        [
            "hello-00002",
            "hello",
            "20%",
            "canary",
            "2",
            "5s",
            "0 OK / 1",
            "False",
            "ExitCode1 : container exited"
        ]
    );
    assert_eq!(
        rows[1],
        [
            "hello-00001",
            "hello",
            "80%",
            "stable",
            "1",
            "5s",
            "1 OK / 1",
            "True"
        ]
    );
}

#[test]
fn objects_print_as_a_kn_list_in_yaml_and_json() {
    let yaml = render_objects(ResourceKind::Route, OutputFormat::Yaml, &[route()])
        .expect("routes serialize");
    assert!(yaml.contains("kind: RouteList"), "{yaml}");
    assert!(
        yaml.contains("url: http://hello.other.example.com"),
        "{yaml}"
    );
    let json = render_objects(ResourceKind::Route, OutputFormat::Json, &[route()])
        .expect("routes serialize");
    let value: serde_json::Value = serde_json::from_str(&json).expect("output is JSON");
    assert_eq!(value["items"][0]["metadata"]["name"], "hello");
    assert_eq!(value["apiVersion"], "serving.knative.dev/v1");
}
