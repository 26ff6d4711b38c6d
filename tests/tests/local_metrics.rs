//! `knserve serve`'s `/metrics` read by the real Prometheus tools: `promtool check
//! metrics` accepts the exposition, and a real `prometheus` scraping the admin listener
//! with the admin token stores per-revision series under Knative's labels.

mod support;

use std::time::Duration;

use bytes::Bytes;

use knserve_tests::promtool_check;

use self::support::prometheus::Prometheus;
use self::support::{FAST_CONFIG, Knserve, admin_send, test_app_service};

const HOST: &str = "metered.default.example.com";
const REQUESTS: u64 = 7;

/// The sum of the samples of `family` whose labels contain every one of `labels`.
fn sum_of(text: &str, family: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{family}{{")))
        .filter(|line| labels.iter().all(|label| line.contains(label)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_admin_metrics_and_finds_each_revisions_requests() {
    let server = Knserve::start("metrics", FAST_CONFIG).await;
    let yaml = test_app_service(
        "metered",
        &[("autoscaling.knative.dev/min-scale", "1")],
        &[],
        "",
    );
    server.apply("metered.yaml", &yaml).await;
    for _ in 0..REQUESTS {
        let (status, _, body) = server.get(HOST, "/").await;
        assert_eq!(status, 200, "{body}");
    }

    let (status, _, text) =
        admin_send(server.admin, &server.state, "GET", "/metrics", Bytes::new()).await;
    assert_eq!(status, 200);
    promtool_check(&text);
    let revision = [
        r#"namespace_name="default""#,
        r#"service_name="metered""#,
        r#"configuration_name="metered""#,
        r#"revision_name="metered-00001""#,
    ];
    let ok = [&revision[..], &[r#"response_code="200""#]].concat();
    assert_eq!(
        sum_of(&text, "revision_request_count_total", &ok),
        REQUESTS as f64,
        "every request is counted once, under its revision's labels:\n{text}"
    );
    assert_eq!(
        sum_of(&text, "autoscaler_requested_pods", &revision),
        1.0,
        "min-scale 1 asks for one instance:\n{text}"
    );

    assert!(
        text.lines()
            .any(|l| l.starts_with("activator_request_concurrency{")
                && l.contains(r#"revision_name="metered-00001""#)),
        "the activator's concurrency is labelled by revision:\n{text}"
    );

    let token = std::fs::read_to_string(server.state.join("admin-token")).unwrap();
    let prometheus = Prometheus::scraping(server.admin, token.trim());
    let query = r#"sum by (revision_name) (revision_request_count_total{revision_name="metered-00001",response_code_class="2xx"})"#;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let answer = loop {
        let answer = prometheus.query(query).await;
        if let Some((200, body)) = &answer
            && body.contains("metered-00001")
        {
            break body.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "prometheus stored no series of the revision within 60 s (last answer {answer:?});\nlog:\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let result = &answer["data"]["result"][0];
    assert_eq!(
        result["metric"]["revision_name"], "metered-00001",
        "{answer}"
    );
    assert_eq!(
        result["value"][1],
        REQUESTS.to_string(),
        "Prometheus holds the count the exposition showed: {answer}"
    );

    grafana_board_queries_answer(&prometheus).await;
    drop(prometheus);
}

/// Every query of the Grafana board shipped for Kubernetes
/// (`knserve-k8s/grafana/knserve-scaling.json`) is valid PromQL to a real Prometheus and,
/// over the same families `knserve serve` exposes, returns the revision's series; the
/// RPS panel's queries return none for this concurrency-scaled revision. Grafana's
/// `$namespace`, `$revision` and `$__rate_interval` are put in as Grafana would.
async fn grafana_board_queries_answer(prometheus: &Prometheus) {
    let board: serde_json::Value = serde_json::from_str(include_str!(
        "../../knserve-k8s/grafana/knserve-scaling.json"
    ))
    .expect("the Grafana board is JSON");
    let mut queries: Vec<String> = Vec::new();
    for variable in board["templating"]["list"].as_array().unwrap() {
        // `label_values(METRIC, LABEL)` lists LABEL's values of METRIC: the metric's series.
        let definition = variable["definition"].as_str().unwrap();
        let inner = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.rsplit_once(','))
            .map(|(metric, _)| metric.to_owned())
            .unwrap_or_else(|| panic!("a label_values query: {definition}"));
        queries.push(inner);
    }
    for panel in board["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queries.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    assert!(queries.len() >= 10, "the board has its panels: {queries:?}");
    for query in queries {
        let promql = query
            .replace("$namespace", "default")
            .replace("$revision", "metered-00001")
            .replace("$__rate_interval", "1m");
        let expect_series = !promql.contains("requests_per_second");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let answer = prometheus.query(&promql).await;
            if let Some((status, body)) = &answer {
                assert_eq!(*status, 200, "{promql}: {body}");
                let body: serde_json::Value = serde_json::from_str(body).unwrap();
                assert_eq!(body["status"], "success", "{promql}: {body}");
                let series = body["data"]["result"].as_array().map_or(0, Vec::len);
                if (series > 0) == expect_series {
                    break;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the board's query {promql} should return {} (last answer {answer:?})",
                if expect_series {
                    "the revision's series"
                } else {
                    "no series"
                }
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
