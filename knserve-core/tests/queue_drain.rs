//! The queue-proxy's drain layer and in-flight tracker (spec §4.2 steps 3–4, §4.5),
//! with paused time.

use std::{pin::Pin, sync::Arc, time::Duration};

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use knserve_core::net::{Body, BoxError, ConnectionHold, full, headers};
use knserve_core::queue::drain::{
    DrainHandle, DrainLayer, Drainer, InFlight, MISSING_HASH, SHUTTING_DOWN, TrackLayer,
};
use knserve_core::queue::readiness::Readiness;
use proptest::prelude::*;
use tokio::time::{Instant, sleep, sleep_until};
use tower::{Layer, ServiceExt, service_fn, util::BoxCloneService};

const QUIET: Duration = Duration::from_secs(30);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

type Svc = BoxCloneService<Request<Body>, Response<Body>, BoxError>;

/// An app that answers `done` after `delay`.
fn app(delay: Duration) -> Svc {
    BoxCloneService::new(service_fn(move |_request: Request<Body>| async move {
        sleep(delay).await;
        Ok::<_, BoxError>(Response::new(full("done")))
    }))
}

fn stack(handle: &DrainHandle, delay: Duration) -> Svc {
    BoxCloneService::new(DrainLayer::new(handle.clone(), Readiness::always()).layer(app(delay)))
}

fn health_check() -> Request<Body> {
    Request::builder()
        .header(http::header::USER_AGENT, "kube-probe/1.30")
        .header(headers::K_NETWORK_PROBE, headers::PROBE_QUEUE)
        .body(full(""))
        .unwrap()
}

fn probe(value: &str, hash: Option<&str>) -> Request<Body> {
    let mut request = Request::builder().header(headers::K_NETWORK_PROBE, value);
    if let Some(hash) = hash {
        request = request.header(headers::K_NETWORK_HASH, hash);
    }
    request.body(full("")).unwrap()
}

fn plain() -> Request<Body> {
    Request::new(full(""))
}

fn send(
    service: &Svc,
    request: Request<Body>,
) -> impl Future<Output = (StatusCode, String)> + Send + 'static {
    // Boxed at once: rustc cannot prove the bare `Oneshot` future `Send` for every
    // lifetime of the boxed error type (see `net::serve`).
    let call: Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>> =
        Box::pin(service.clone().oneshot(request));
    async move { answer(call.await.expect("a response")).await }
}

async fn answer(response: Response<Body>) -> (StatusCode, String) {
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Starts a drain; the task's output is when it finished.
fn spawn_drain(handle: &DrainHandle) -> tokio::task::JoinHandle<Instant> {
    let handle = handle.clone();
    tokio::spawn(async move {
        handle.drain().await;
        Instant::now()
    })
}

#[tokio::test(start_paused = true)]
async fn draining_fails_health_checks_at_once() {
    let handle = DrainHandle::default();
    let service = stack(&handle, secs(0));
    assert_eq!(
        send(&service, health_check()).await,
        (StatusCode::OK, "queue".into())
    );
    let start = Instant::now();
    let drained = spawn_drain(&handle);
    tokio::task::yield_now().await;
    assert_eq!(
        send(&service, health_check()).await,
        (StatusCode::SERVICE_UNAVAILABLE, SHUTTING_DOWN.into()),
        "health checks fail as soon as the drain starts"
    );
    let queue_probe = probe(headers::PROBE_QUEUE, None);
    assert_eq!(
        send(&service, queue_probe).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        drained.await.unwrap() - start,
        QUIET,
        "no request: drained after 30 s"
    );
    assert_eq!(
        send(&service, health_check()).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test(start_paused = true)]
async fn each_request_pushes_the_drain_out_by_the_quiet_period() {
    let handle = DrainHandle::default();
    let service = stack(&handle, secs(0));
    let start = Instant::now();
    let drained = spawn_drain(&handle);
    sleep(secs(10)).await;
    assert_eq!(
        send(&service, plain()).await,
        (StatusCode::OK, "done".into())
    );
    sleep(secs(25)).await;
    assert_eq!(send(&service, plain()).await.0, StatusCode::OK);
    let second_drain = spawn_drain(&handle);
    assert_eq!(
        drained.await.unwrap() - start,
        secs(65),
        "35 s + 30 s quiet"
    );
    assert_eq!(
        second_drain.await.unwrap() - start,
        secs(65),
        "all waiters return together"
    );
}

#[tokio::test(start_paused = true)]
async fn health_checks_do_not_push_the_drain_out() {
    let handle = DrainHandle::default();
    let service = stack(&handle, secs(0));
    let start = Instant::now();
    let drained = spawn_drain(&handle);
    sleep(secs(20)).await;
    send(&service, health_check()).await;
    send(&service, probe(headers::PROBE_HASH, Some("h"))).await;
    assert_eq!(
        drained.await.unwrap() - start,
        QUIET,
        "probes are not traffic"
    );
}

#[tokio::test(start_paused = true)]
async fn the_hash_probe_echoes_its_hash() {
    let handle = DrainHandle::default();
    let service = stack(&handle, secs(0));
    let response = service
        .clone()
        .oneshot(probe(headers::PROBE_HASH, Some("abc123")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[headers::K_NETWORK_HASH], "abc123");
    assert_eq!(
        send(&service, probe(headers::PROBE_HASH, None)).await,
        (StatusCode::BAD_REQUEST, MISSING_HASH.into()),
        "a hash probe needs a hash"
    );
    let _drain = spawn_drain(&handle);
    tokio::task::yield_now().await;
    let draining = send(&service, probe(headers::PROBE_HASH, Some("abc123"))).await;
    assert_eq!(
        draining.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "503 while draining"
    );
}

#[tokio::test(start_paused = true)]
async fn unknown_probe_values_and_health_checks_without_queue_are_400() {
    let service = stack(&DrainHandle::default(), secs(0));
    assert_eq!(
        send(&service, probe("bogus", None)).await,
        (
            StatusCode::BAD_REQUEST,
            "unexpected probe header value: bogus".into()
        )
    );
    let bare_kubelet = Request::builder()
        .header(http::header::USER_AGENT, "kube-probe/1.30")
        .body(full(""))
        .unwrap();
    assert_eq!(
        send(&service, bare_kubelet).await,
        (
            StatusCode::BAD_REQUEST,
            "unexpected probe header value: ".into()
        ),
        "the readiness handler requires K-Network-Probe: queue"
    );
}

#[tokio::test(start_paused = true)]
async fn reset_makes_health_checks_pass_and_releases_waiters() {
    let handle = DrainHandle::default();
    let service = stack(&handle, secs(0));
    let start = Instant::now();
    let drained = spawn_drain(&handle);
    sleep(secs(5)).await;
    handle.reset();
    assert_eq!(
        drained.await.unwrap() - start,
        secs(5),
        "a reset releases the waiter"
    );
    assert_eq!(
        send(&service, health_check()).await.0,
        StatusCode::OK,
        "healthy again"
    );
    let again = spawn_drain(&handle);
    assert_eq!(
        again.await.unwrap() - start,
        secs(35),
        "a new drain starts afresh"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_in_flight_survives_the_drain() {
    let handle = DrainHandle::default();
    let service = stack(&handle, secs(100));
    let request = tokio::spawn({
        let service = service.clone();
        async move { send(&service, plain()).await }
    });
    tokio::task::yield_now().await;
    let start = Instant::now();
    let drained = spawn_drain(&handle);
    assert_eq!(drained.await.unwrap() - start, QUIET);
    assert_eq!(
        request.await.unwrap(),
        (StatusCode::OK, "done".into()),
        "never dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn in_flight_counts_until_the_body_ends_and_while_a_hold_lives() {
    let in_flight = InFlight::new();
    let service = TrackLayer::new(in_flight.clone()).layer(app(secs(5)));
    let call = tokio::spawn(service.clone().oneshot(plain()));
    tokio::task::yield_now().await;
    assert_eq!(in_flight.count(), 1, "counted from the call");
    let response = call.await.unwrap().unwrap();
    assert_eq!(in_flight.count(), 1, "counted until the body ends");
    response.into_body().collect().await.unwrap();
    assert_eq!(in_flight.count(), 0);

    // An upgraded connection: the inner service keeps the hold (as Forward's tunnel does).
    let kept = Arc::new(std::sync::Mutex::new(None));
    let upgrade = TrackLayer::new(in_flight.clone()).layer(service_fn({
        let kept = kept.clone();
        move |mut request: Request<Body>| {
            *kept.lock().unwrap() = request.extensions_mut().remove::<ConnectionHold>();
            async { Ok::<_, BoxError>(Response::new(full(""))) }
        }
    }));
    let response = upgrade.oneshot(plain()).await.unwrap();
    response.into_body().collect().await.unwrap();
    assert_eq!(in_flight.count(), 1, "the tunnel still holds the request");
    let waiter = tokio::spawn({
        let in_flight = in_flight.clone();
        async move { in_flight.idle().await }
    });
    sleep(secs(1)).await;
    assert!(!waiter.is_finished(), "idle waits for the tunnel");
    kept.lock().unwrap().take();
    waiter.await.unwrap();
    assert_eq!(in_flight.count(), 0);
}

/// When a drain started at `drain` with these request arrivals completes.
fn expected_drained_at(drain: u64, arrivals: &[u64]) -> u64 {
    let quiet = QUIET.as_millis() as u64;
    let mut sorted = arrivals.to_vec();
    sorted.sort_unstable();
    sorted
        .into_iter()
        .filter(|a| *a >= drain)
        .fold(
            drain + quiet,
            |end, a| if a < end { a + quiet } else { end },
        )
}

/// Runs the schedule; returns when the drain finished and every request's answer.
fn run_schedule(drain: u64, requests: &[(u64, u64)]) -> (u64, Vec<(StatusCode, String)>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let start = Instant::now();
        let handle = DrainHandle::new(Drainer::new(QUIET));
        let in_flight = InFlight::new();
        let calls: Vec<_> = requests
            .iter()
            .map(|&(arrival, duration)| {
                let service = BoxCloneService::new(
                    TrackLayer::new(in_flight.clone())
                        .layer(stack(&handle, Duration::from_millis(duration))),
                );
                tokio::spawn(async move {
                    sleep_until(start + Duration::from_millis(arrival)).await;
                    send(&service, plain()).await
                })
            })
            .collect();
        let handle2 = handle.clone();
        let drained = tokio::spawn(async move {
            sleep_until(start + Duration::from_millis(drain)).await;
            handle2.drain().await;
            Instant::now()
        });
        let drained_at = (drained.await.unwrap() - start).as_millis() as u64;
        let mut answers = Vec::new();
        for call in calls {
            answers.push(call.await.unwrap());
        }
        in_flight.idle().await;
        (drained_at, answers)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_admitted_request_completes_and_the_drain_waits_for_the_last_quiet_period(
        drain in 0u64..90_000,
        requests in prop::collection::vec((0u64..120_000, 0u64..60_000), 0..20),
    ) {
        let (drained_at, answers) = run_schedule(drain, &requests);
        let arrivals: Vec<u64> = requests.iter().map(|r| r.0).collect();
        prop_assert_eq!(
            drained_at,
            expected_drained_at(drain, &arrivals),
            "the drain ends a quiet period after the last request seen while draining"
        );
        for answer in answers {
            prop_assert_eq!(answer, (StatusCode::OK, "done".to_owned()), "no request is dropped");
        }
    }
}

#[tokio::test]
async fn a_health_check_fails_while_the_app_is_not_ready() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let probe = r#"{"tcpSocket":{},"periodSeconds":1}"#;
    let readiness = Readiness::from_env_json(probe, port).unwrap();
    let layer = DrainLayer::new(DrainHandle::default(), readiness);
    let service = BoxCloneService::new(layer.layer(app(secs(0))));
    let (status, _) = send(&service, health_check()).await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the user probe decides"
    );
}
