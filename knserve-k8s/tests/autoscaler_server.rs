//! The autoscaler server without a cluster: activators' stats over a real loopback
//! socket feeding the deciders, and the pod scraper against a real in-process
//! `knserve-queue` sidecar.

mod support;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use knserve_core::RevisionKey;
use knserve_core::autoscaler::ScalingParams;
use knserve_core::autoscaler::metrics::{SCRAPER_POD_NAME, Stat};
use knserve_core::config::AutoscalerConfig;
use knserve_core::net;
use knserve_k8s::queue::{QueueEnv, QueueProxy};
use knserve_k8s::servers::autoscaler::scrape::{scrape_client, scrape_pod, scrape_revision};
use knserve_k8s::servers::autoscaler::{Deciders, metrics_service, stats_service};
use knserve_k8s::servers::wire::{STATS_PATH, StatMessage};
use tokio::net::TcpListener;

use knserve_tests::promtool_check;

use self::support::{app, knative_env, send};

async fn request(method: Method, url: &str, body: &str) -> (StatusCode, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = client.request(request).await.expect("request");
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn posted_stats_reach_the_revisions_decider_and_wake_its_pa() {
    let (deciders, mut woken) = Deciders::new();
    let deciders = Arc::new(deciders);
    let revision = RevisionKey::new("default", "hello-00001");
    let params = ScalingParams::from_config(0, &AutoscalerConfig::default());
    deciders.upsert(&revision, params, 0, true);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = net::serve(listener, stats_service(deciders.clone())).unwrap();
    let url = format!("http://{}{STATS_PATH}", server.local_addr());

    let stat = Stat {
        pod_name: "activator-0".into(),
        average_concurrent_requests: 140.0,
        request_count: 10.0,
        ..Stat::default()
    };
    let unknown = RevisionKey::new("default", "gone-00001");
    let body = serde_json::to_string(&[
        StatMessage::new(&revision, &stat),
        StatMessage::new(&unknown, &stat),
    ])
    .unwrap();
    let (status, text) = request(Method::POST, &url, &body).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a stat for an unknown revision is ignored: {text}"
    );

    deciders.tick();
    let decided = deciders
        .status(&revision)
        .expect("the revision has a decider");
    assert_eq!(
        decided.desired,
        Some(2),
        "140 concurrent requests at target 70 (100 × 70 %) want 2 pods"
    );
    assert_eq!(
        woken.try_recv().ok(),
        Some(revision),
        "the changed decision wakes the PA"
    );
    assert!(
        deciders.status(&unknown).is_none(),
        "no decider is made up for an unknown revision"
    );
}

#[tokio::test]
async fn a_bad_stats_body_is_answered_400_naming_the_problem() {
    let (deciders, _woken) = Deciders::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = net::serve(listener, stats_service(Arc::new(deciders))).unwrap();
    let url = format!("http://{}{STATS_PATH}", server.local_addr());

    let (status, text) = request(Method::POST, &url, r#"[{"namespace":"default"}]"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.contains("missing field `revision`"),
        "names the field: {text}"
    );

    let (status, text) = request(Method::POST, &url, "not json").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.starts_with("invalid stats:"), "{text}");

    let (status, _) = request(Method::GET, &url, "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "stats are POSTed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scraper_reads_a_real_sidecars_stat_and_skips_a_pod_it_cannot_reach() {
    let app = app().await;
    let env: HashMap<String, String> = knative_env(app.address.port(), 0).into_iter().collect();
    let sidecar = QueueProxy::start(&QueueEnv::from_lookup(&env).unwrap())
        .await
        .unwrap();
    let addresses = sidecar.addresses();
    for _ in 0..5 {
        send(addresses.serving, "/", &[]).await;
    }
    // The sidecar cuts a report every second.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let client = scrape_client();
    let stat = scrape_pod(&client, addresses.metrics, Duration::from_secs(1))
        .await
        .expect("the sidecar's stat decodes");
    assert_eq!(stat.pod_name, "hello-00001-deployment-0");
    assert!(stat.process_uptime > 0.0, "uptime is reported: {stat:?}");

    // 127.0.0.2 is loopback too, but the sidecar listens on 127.0.0.1 only.
    let ready = [
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
    ];
    let port = addresses.metrics.port();
    let revision = scrape_revision(&client, &ready, port, 0, Duration::from_secs(1))
        .await
        .expect("one pod answered");
    assert_eq!(revision.pod_name, SCRAPER_POD_NAME);
    let single = scrape_pod(&client, addresses.metrics, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(
        single.process_uptime > 0.5,
        "a second has passed: {single:?}"
    );
    assert!(
        (revision.process_uptime - 2.0 * single.process_uptime).abs() < 0.2,
        "the unreachable pod is skipped, not counted as idle: the answer stands for both \
         ({} vs 2 × {})",
        revision.process_uptime,
        single.process_uptime
    );

    let unreachable = [IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))];
    assert_eq!(
        scrape_revision(&client, &unreachable, port, 0, Duration::from_secs(1)).await,
        None,
        "no answer is no sample, never a zero"
    );
    sidecar.terminate().await;
}

#[tokio::test]
async fn the_metrics_port_serves_every_revisions_figures_in_an_exposition_promtool_accepts() {
    let (deciders, _woken) = Deciders::new();
    let deciders = Arc::new(deciders);
    let params = ScalingParams::from_config(0, &AutoscalerConfig::default());
    for name in ["hello-00001", "hello-00002"] {
        let revision = RevisionKey::new("default", name);
        deciders.upsert(&revision, params.clone(), 2, true);
        deciders.set_owners(&revision, "hello", "hello");
        deciders.set_scale(&revision, Some(2), Some(2));
        let stat = Stat {
            pod_name: "activator-0".into(),
            average_concurrent_requests: 250.0,
            request_count: 10.0,
            ..Stat::default()
        };
        assert!(deciders.record(&revision, &stat));
    }
    deciders.tick();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = net::serve(listener, metrics_service(deciders)).unwrap();
    let url = format!("http://{}/metrics", server.local_addr());

    let (status, text) = request(Method::GET, &url, "").await;
    assert_eq!(status, StatusCode::OK);
    promtool_check(&text);
    let labels = r#"{namespace_name="default",service_name="hello",configuration_name="hello",revision_name="hello-00002"}"#;
    for line in [
        format!("autoscaler_stable_request_concurrency{labels} 250"),
        format!("autoscaler_panic_request_concurrency{labels} 250"),
        format!("autoscaler_target_concurrency_per_pod{labels} 70"),
        format!("autoscaler_desired_pods{labels} 4"),
        format!("autoscaler_panic_mode{labels} 1"),
    ] {
        assert!(
            text.contains(&line),
            "250 concurrent requests at target 100 × 70 % utilization want ⌈250 / 70⌉ pods, and 2 pods panic: {line} in\n{text}"
        );
    }
}
