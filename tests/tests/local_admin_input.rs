//! `knserve serve` end to end, the admin API's input bounds: bodies nested too deep,
//! with too many documents or too large are refused naming the rule (by the server
//! and by `knserve validate` without one), a valid apply still works afterwards, and a
//! ready Service keeps answering through the ingress while such bodies are refused.
//! Each test prints the figures it observed.

mod support;

use std::process::Command;

use tokio::{task::JoinSet, time::Instant};

use self::support::{
    FAST_CONFIG, Knserve, TempDir, admin_send, binary, output_text, test_app_service,
};

/// The most bytes the admin API and `knserve validate` read.
const LIMIT: usize = 4 << 20;

/// One pathological input and what refuses it.
struct Case {
    name: &'static str,
    body: String,
    status: u16,
    /// Every one of these is in the message.
    rule: &'static [&'static str],
}

/// 150 mappings nested by indentation.
fn deep_block() -> String {
    (0..150)
        .map(|d| format!("{}a:\n", "  ".repeat(d)))
        .collect()
}

/// 2000 Service documents.
fn many_documents(count: usize) -> String {
    vec![test_app_service("many", &[], &[], ""); count].join("---\n")
}

/// About 200 KB of flow mappings, each inside the last.
fn nested_200k() -> String {
    "{a: ".repeat(50_000)
}

/// A valid Service padded with a comment to one byte past the limit.
fn over_the_limit() -> String {
    let service = test_app_service("big", &[], &[], "");
    let padding = LIMIT + 1 - service.len() - 2;
    format!("{service}#{}\n", "x".repeat(padding))
}

fn cases() -> Vec<Case> {
    const DEPTH: &[&str] = &[
        "documents[0]",
        "nesting deeper than 100 levels",
        "at most 100 nested mappings and sequences",
    ];
    vec![
        Case {
            name: "150 levels of block nesting",
            body: deep_block(),
            status: 400,
            rule: DEPTH,
        },
        Case {
            name: "2000 documents",
            body: many_documents(2000),
            status: 400,
            rule: &["documents[1000]", "too many documents: at most 1000"],
        },
        Case {
            name: "one byte over 4 MiB",
            body: over_the_limit(),
            status: 413,
            rule: &["larger than the limit of 4 MiB (4194304 bytes)"],
        },
        Case {
            name: "200 KB of flow nesting",
            body: nested_200k(),
            status: 400,
            rule: DEPTH,
        },
    ]
}

fn names_rule(text: &str, rule: &[&str]) -> bool {
    rule.iter().all(|part| text.contains(part))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pathological_bodies_are_refused_naming_the_rule_and_a_valid_apply_still_works() {
    let server = Knserve::start("admin-input", FAST_CONFIG).await;
    for case in cases() {
        assert!(case.body.len() > 10_000, "{} is a large body", case.name);
        for path in ["/v1/apply", "/v1/validate"] {
            let (status, _, body) = server.admin_request("POST", path, case.body.clone()).await;
            println!(
                "{path} {} ({} bytes): {status} {body}",
                case.name,
                case.body.len()
            );
            assert!(
                status == case.status && names_rule(&body, case.rule),
                "{path} refuses {} with {} naming {:?}: {status} {body}",
                case.name,
                case.status,
                case.rule
            );
        }
    }
    let file = server.dir.path().join("many.yaml");
    std::fs::write(&file, many_documents(2000)).unwrap();
    let output = server
        .cli(&["validate", "-f", file.to_str().unwrap()])
        .await;
    let text = output_text(&output);
    assert!(
        !output.status.success() && names_rule(&text, &["documents[1000]", "at most 1000"]),
        "knserve validate reports the server's refusal: {text}"
    );
    let applied = server
        .apply(
            "ok.yaml",
            &test_app_service("ok", &[("autoscaling.knative.dev/min-scale", "1")], &[], ""),
        )
        .await;
    println!("valid apply afterwards: {applied}");
    let (status, _, body) = server.get("ok.default.example.com", "/").await;
    assert_eq!(
        status, 200,
        "the Service applied afterwards answers: {body}"
    );
    let (status, _, services) = server.admin_request("GET", "/v1/services", "").await;
    assert!(
        status == 200 && !services.contains("\"many\"") && !services.contains("\"big\""),
        "nothing of a refused body was applied: {services}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_without_a_server_refuses_the_same_inputs_with_the_same_messages() {
    let dir = TempDir::new("validate-local");
    for case in cases() {
        let file = dir.path().join("input.yaml");
        std::fs::write(&file, &case.body).unwrap();
        let output = Command::new(binary("knserve"))
            .arg("--state-dir")
            .arg(dir.path().join("no-server"))
            .args(["validate", "-f"])
            .arg(&file)
            .output()
            .expect("knserve validate ran");
        let text = output_text(&output);
        println!("validate {} without a server: {text}", case.name);
        assert!(
            !output.status.success() && names_rule(&text, case.rule),
            "knserve validate refuses {} naming {:?}: {text}",
            case.name,
            case.rule
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_service_keeps_answering_while_two_pathological_bodies_are_sent_at_once() {
    let server = Knserve::start("admin-stall", FAST_CONFIG).await;
    let service = test_app_service(
        "ready",
        &[("autoscaling.knative.dev/min-scale", "1")],
        &[],
        "",
    );
    server.apply("ready.yaml", &service).await;
    let host = "ready.default.example.com";
    let (status, _, body) = server.get(host, "/").await;
    assert_eq!(status, 200, "the Service is ready: {body}");

    let mut bodies = JoinSet::new();
    for case in [cases().swap_remove(1), cases().swap_remove(3)] {
        let (admin, state) = (server.admin, server.state.clone());
        bodies.spawn(async move {
            let body = case.body.clone().into();
            let (status, _, text) = admin_send(admin, &state, "POST", "/v1/apply", body).await;
            (case, (status, text))
        });
    }
    let (mut answers, mut slowest) = (Vec::new(), std::time::Duration::ZERO);
    loop {
        let sent = Instant::now();
        let (status, _, _) = server.get(host, "/").await;
        slowest = slowest.max(sent.elapsed());
        answers.push(status);
        if bodies.is_empty() {
            break;
        }
        while let Some(done) = bodies.try_join_next() {
            let (case, (status, body)) = done.expect("admin request task");
            println!("concurrent {}: {status} {body}", case.name);
            assert!(
                status == case.status && names_rule(&body, case.rule),
                "{} is refused with {} naming {:?} while the ingress serves: {status} {body}",
                case.name,
                case.status,
                case.rule
            );
        }
    }
    println!(
        "ingress during two pathological bodies: {} requests, slowest {slowest:?}",
        answers.len()
    );
    assert!(
        answers.iter().all(|&s| s == 200),
        "every ingress request to the ready Service is answered 200: {answers:?}"
    );
}
