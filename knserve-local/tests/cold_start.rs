//! A cold start through the real path (ingress → activator → queue-proxy → a child
//! process) reports its phases in `Server-Timing`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use knserve_local::{
    config::ServerConfig,
    runtime::datapath::COLD_START_PHASES,
    server::{ServeOptions, Server},
};

/// An app that takes 200 ms to start, then serves HTTP on `$PORT`.
const SERVICE: &str = r#"
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: slow, namespace: default}
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/initial-scale: "0"
        autoscaling.knative.dev/min-scale: "0"
    spec:
      containers:
      - image: python
        command: [sh, -c, 'sleep 0.2; exec python3 -m http.server --bind 127.0.0.1 "$PORT"']
"#;

/// The app's sleep before it starts listening, in milliseconds.
const APP_SLEEP_MS: f64 = 200.0;

/// GET / on `slow`: the status and the `Server-Timing` values as `(name, ms)`.
async fn get(ingress: std::net::SocketAddr) -> (u16, Vec<(String, f64)>) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = http::Request::get(format!("http://{ingress}/"))
        .header("host", "slow.default.example.com")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.request(request).await.expect("response");
    let status = response.status().as_u16();
    let timings = response
        .headers()
        .get_all("server-timing")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|item| {
            let (name, dur) = item.trim().split_once(";dur=").expect("name;dur=ms");
            (name.to_owned(), dur.parse().expect("milliseconds"))
        })
        .collect();
    response.into_body().collect().await.unwrap();
    (status, timings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_reports_each_phase_and_the_phases_add_up_to_at_most_the_total() {
    let config =
        ServerConfig::parse("config-autoscaler:\n  allow-zero-initial-scale: \"true\"\n").unwrap();
    let server = Server::start(ServeOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        config,
        ..ServeOptions::default()
    })
    .await
    .unwrap();
    server.runtime().apply_yaml(SERVICE, false).unwrap();
    server
        .runtime()
        .wait_ready("default", "slow", Duration::from_secs(20))
        .await
        .expect("an initial scale of 0 is ready at once");

    let (status, timings) = get(server.ingress_address()).await;
    assert_eq!(status, 200, "the request at zero is served");
    let names: Vec<&str> = timings.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<&str> = std::iter::once("cold-start")
        .chain(COLD_START_PHASES)
        .collect();
    assert_eq!(
        names, expected,
        "the total, then every phase of a process start, in order"
    );
    let total = timings[0].1;
    let phase = |name: &str| timings.iter().find(|(n, _)| n == name).unwrap().1;
    let sum: f64 = COLD_START_PHASES.iter().map(|p| phase(p)).sum();
    // Each value is rounded to 0.1 ms.
    assert!(
        sum <= total + 0.05 * COLD_START_PHASES.len() as f64,
        "the phases ({sum} ms) never add up to more than the total ({total} ms): {timings:?}"
    );
    assert!(
        phase("scale") < 500.0,
        "a revision created at zero is decided at its first request, not at the next 2 s tick: {timings:?}"
    );
    assert!(
        phase("ready") >= APP_SLEEP_MS,
        "the app's own start is in `ready`: {timings:?}"
    );
    assert!(
        phase("route") < 45.0,
        "the activator forwards within a few ms of the probe passing, not a probe period later: {timings:?}"
    );

    let (status, timings) = get(server.ingress_address()).await;
    assert_eq!(status, 200);
    assert!(
        timings.is_empty(),
        "a warm request is not timed as a cold start: {timings:?}"
    );
    server.shutdown().await;
}
