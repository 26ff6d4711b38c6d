//! The breaker layer (§4.4) over a mock app, with paused time.

use std::collections::BTreeMap;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use knserve_core::net::{Body, ConnectionHold, empty, full};
use knserve_core::queue::limit::{ConcurrencyLimit, ConcurrencyLimitLayer, Limiter, QUEUE_FULL};
use proptest::prelude::*;
use tokio_test::task::{Spawn, spawn};
use tokio_test::{assert_pending, assert_ready_ok};
use tower::{Layer, Service};
use tower_test::mock::{self, Handle, Mock, SendResponse};

type App = Mock<Request<Body>, Response<Body>>;
type AppHandle = Handle<Request<Body>, Response<Body>>;
type Limited = ConcurrencyLimit<App>;
type Pending = Spawn<<Limited as Service<Request<Body>>>::Future>;

fn limited(cc: u32) -> (Limited, AppHandle, Option<Limiter>) {
    let (app, handle) = mock::pair();
    let layer = ConcurrencyLimitLayer::for_container_concurrency(cc);
    let limiter = layer.limiter().cloned();
    (layer.layer(app), handle, limiter)
}

fn request(id: usize) -> Request<Body> {
    Request::builder()
        .header("x-id", id)
        .body(empty())
        .expect("valid request")
}

fn probe() -> Request<Body> {
    Request::builder()
        .header("user-agent", "kube-probe/1.30")
        .body(empty())
        .expect("valid request")
}

fn id_of(request: &Request<Body>) -> usize {
    request.headers()["x-id"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("every test request has an x-id")
}

/// Calls the layer, after `poll_ready` as tower requires.
fn send(service: &mut Limited, request: Request<Body>) -> Pending {
    assert_ready_ok!(spawn(()).enter(|cx, _| service.poll_ready(cx)));
    spawn(service.call(request))
}

/// The next request the app received, if any, without waiting.
fn received(handle: &mut AppHandle) -> Option<(Request<Body>, SendResponse<Response<Body>>)> {
    match handle.poll_request() {
        std::task::Poll::Ready(request) => request,
        std::task::Poll::Pending => None,
    }
}

async fn status_and_text(response: Response<Body>) -> (StatusCode, String) {
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(start_paused = true)]
async fn cc_one_admits_one_queues_ten_and_refuses_the_twelfth() {
    let (mut service, mut handle, limiter) = limited(1);
    let limiter = limiter.expect("CC 1 has a breaker");
    let mut pending: Vec<Pending> = (0..12).map(|id| send(&mut service, request(id))).collect();
    let refused = assert_ready_ok!(pending[11].poll());
    assert_eq!(
        status_and_text(refused).await,
        (StatusCode::SERVICE_UNAVAILABLE, QUEUE_FULL.to_owned()),
        "the 12th concurrent request gets 503"
    );
    for waiting in &mut pending[1..11] {
        assert_pending!(waiting.poll(), "requests 2 to 11 wait");
    }
    let (first, _reply) = received(&mut handle).expect("the first request reaches the app");
    assert_eq!(id_of(&first), 0);
    assert!(
        received(&mut handle).is_none(),
        "only CC requests reach the app"
    );
    assert_eq!((limiter.in_flight(), limiter.waiting()), (1, 10));
}

#[tokio::test(start_paused = true)]
async fn a_finished_response_wakes_the_oldest_waiter() {
    let (mut service, mut handle, _) = limited(1);
    let mut pending: Vec<Pending> = (0..4).map(|id| send(&mut service, request(id))).collect();
    let (_, reply) = received(&mut handle).expect("request 0 reaches the app");
    reply.send_response(Response::new(full("done")));
    for waiting in &mut pending[1..] {
        assert_pending!(waiting.poll());
    }
    let response = assert_ready_ok!(pending[0].poll());
    assert!(
        !pending[1].is_woken(),
        "the token is held until the body is done"
    );
    drop(response);
    assert!(pending[1].is_woken(), "the oldest waiter is woken");
    assert!(!pending[2].is_woken(), "and only the oldest");
    for waiting in &mut pending[1..] {
        assert_pending!(waiting.poll());
    }
    let (next, _reply) = received(&mut handle).expect("a waiter reaches the app");
    assert_eq!(id_of(&next), 1, "waiters are admitted oldest first");
    assert!(received(&mut handle).is_none(), "one token, one request");
}

#[tokio::test(start_paused = true)]
async fn the_token_returns_when_the_body_ends_before_it_is_dropped() {
    let (mut service, mut handle, limiter) = limited(1);
    let limiter = limiter.expect("breaker");
    let mut first = send(&mut service, request(0));
    let (_, reply) = received(&mut handle).expect("reaches the app");
    reply.send_response(Response::new(full("body")));
    let mut body = assert_ready_ok!(first.poll()).into_body();
    assert_eq!(
        limiter.in_flight(),
        1,
        "the token is held while the body streams"
    );
    let frame = body.frame().await.expect("one frame").expect("data");
    assert_eq!(frame.into_data().ok().as_deref(), Some(&b"body"[..]));
    assert_eq!(limiter.in_flight(), 0, "the last frame returns the token");
}

#[tokio::test(start_paused = true)]
async fn an_app_error_returns_the_token() {
    let (mut service, mut handle, limiter) = limited(1);
    let limiter = limiter.expect("breaker");
    let mut first = send(&mut service, request(0));
    let (_, reply) = received(&mut handle).expect("reaches the app");
    reply.send_error("app failed");
    let error = first.poll();
    assert!(
        matches!(error, std::task::Poll::Ready(Err(_))),
        "the error passes through"
    );
    assert_eq!(limiter.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_frees_its_slot() {
    let (mut service, _handle, limiter) = limited(1);
    let limiter = limiter.expect("breaker");
    let mut pending: Vec<Pending> = (0..11).map(|id| send(&mut service, request(id))).collect();
    drop(pending.remove(5));
    assert_eq!(limiter.waiting(), 9, "the dropped waiter left the queue");
    let mut twelfth = send(&mut service, request(11));
    assert_pending!(
        twelfth.poll(),
        "the freed slot lets the 12th wait instead of 503"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_above_cancels_the_wait() {
    let (mut service, _handle, limiter) = limited(1);
    let limiter = limiter.expect("breaker");
    let _first = send(&mut service, request(0));
    assert_ready_ok!(spawn(()).enter(|cx, _| service.poll_ready(cx)));
    let waited = tokio::time::timeout(Duration::from_secs(5), service.call(request(1))).await;
    assert!(waited.is_err(), "the request waited until its timeout");
    assert_eq!(
        limiter.waiting(),
        0,
        "a timed-out waiter leaves no slot behind"
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiter_dropped_after_its_token_arrived_hands_the_token_back() {
    let (mut service, mut handle, limiter) = limited(1);
    let limiter = limiter.expect("breaker");
    let first = send(&mut service, request(0));
    let second = send(&mut service, request(1));
    let app_side = received(&mut handle).expect("request 0 reaches the app");
    // The client goes away: the call and the app's work on it are dropped.
    drop((first, app_side));
    assert_eq!(limiter.in_flight(), 1, "the token went to the waiter");
    drop(second);
    assert_eq!(
        limiter.in_flight(),
        0,
        "the waiter never used it and gave it back"
    );
    let mut third = send(&mut service, request(2));
    assert_pending!(third.poll());
    assert_eq!(
        id_of(&received(&mut handle).expect("admitted at once").0),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn kubelet_probes_bypass_a_full_breaker() {
    let (mut service, mut handle, _) = limited(1);
    let _pending: Vec<Pending> = (0..11).map(|id| send(&mut service, request(id))).collect();
    let _probe = send(&mut service, probe());
    let (_, _reply) = received(&mut handle).expect("request 0");
    let (probe, _reply) = received(&mut handle).expect("the probe reaches the app");
    assert!(probe.headers().contains_key("user-agent"));
}

#[tokio::test(start_paused = true)]
async fn zero_container_concurrency_passes_everything_through() {
    let (mut service, mut handle, limiter) = limited(0);
    assert!(limiter.is_none(), "CC 0 has no breaker");
    let _pending: Vec<Pending> = (0..50).map(|id| send(&mut service, request(id))).collect();
    for id in 0..50 {
        let (request, _reply) = received(&mut handle).expect("every request reaches the app");
        assert_eq!(id_of(&request), id);
    }
}

#[tokio::test(start_paused = true)]
async fn an_upgraded_connection_keeps_its_token_until_it_closes() {
    let (mut service, mut handle, limiter) = limited(1);
    let limiter = limiter.expect("breaker");
    let mut first = send(&mut service, request(0));
    let (mut app_request, reply) = received(&mut handle).expect("reaches the app");
    let hold = app_request
        .extensions_mut()
        .remove::<ConnectionHold>()
        .expect("the token is shared with the connection hold");
    assert_eq!(hold.len(), 1);
    let mut switching = Response::new(empty());
    *switching.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    reply.send_response(switching);
    drop(assert_ready_ok!(first.poll()));
    assert_eq!(limiter.in_flight(), 1, "the tunnel still holds the token");
    drop(hold);
    assert_eq!(limiter.in_flight(), 0, "closing the tunnel returns it");
}

#[derive(Debug, Clone)]
enum Op {
    Arrive,
    Complete(usize),
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::Arrive),
        3 => (0usize..8).prop_map(Op::Complete),
        1 => (0usize..16).prop_map(Op::Cancel),
    ]
}

/// The outer futures not yet answered, and the requests the app is working on.
struct World {
    service: Limited,
    handle: AppHandle,
    outstanding: BTreeMap<usize, Pending>,
    at_app: BTreeMap<usize, SendResponse<Response<Body>>>,
}

impl World {
    /// Polls every outstanding future until the app receives nothing new.
    fn settle(&mut self) {
        loop {
            let mut answered = vec![];
            for (id, future) in &mut self.outstanding {
                if let std::task::Poll::Ready(result) = future.poll() {
                    let response = result.expect("the mock app does not fail");
                    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
                    answered.push(*id);
                }
            }
            for id in answered {
                self.outstanding.remove(&id);
            }
            let Some((request, reply)) = received(&mut self.handle) else {
                return;
            };
            self.at_app.insert(id_of(&request), reply);
        }
    }
}

proptest! {
    #[test]
    fn the_app_never_sees_more_than_cc_requests_at_once(
        cc in 1u32..4,
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let (service, handle, limiter) = limited(cc);
        let limiter = limiter.expect("breaker");
        let mut world = World { service, handle, outstanding: BTreeMap::new(), at_app: BTreeMap::new() };
        for (next_id, op) in ops.into_iter().enumerate() {
            match op {
                Op::Arrive => {
                    let future = send(&mut world.service, request(next_id));
                    world.outstanding.insert(next_id, future);
                }
                Op::Complete(i) => {
                    if let Some(id) = world.at_app.keys().nth(i).copied() {
                        let reply = world.at_app.remove(&id).expect("listed");
                        reply.send_response(Response::new(full("ok")));
                        let mut future = world.outstanding.remove(&id).expect("answered once");
                        drop(assert_ready_ok!(future.poll()));
                    }
                }
                Op::Cancel(i) => {
                    if let Some(id) = world.outstanding.keys().nth(i).copied() {
                        world.outstanding.remove(&id);
                        // Dropping the call drops the app's work with it.
                        world.at_app.remove(&id);
                    }
                }
            }
            world.settle();
            prop_assert!(world.at_app.len() <= cc as usize, "{} at the app over CC {}", world.at_app.len(), cc);
            prop_assert_eq!(limiter.in_flight() as usize, world.at_app.len(), "tokens match the app's work");
            if world.at_app.len() < cc as usize {
                prop_assert_eq!(limiter.waiting(), 0, "no request waits while a token is free");
            }
            prop_assert!(limiter.waiting() <= 10 * cc as usize);
        }
    }
}
