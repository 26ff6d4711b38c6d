//! The throttler as a tower service over a mock backend, with paused time: requests
//! wait for backends, each waiting bound refuses with its message, a failure fails the
//! waiters, and the revision token and instance slot come back when the response ends.

use std::{net::SocketAddr, time::Duration};

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use knserve_core::RevisionKey;
use knserve_core::activator::throttler::{
    RevisionTarget, Throttle, ThrottleLayer, ThrottlerConfig, ThrottlerLoad, ThrottlerRegistry,
};
use knserve_core::activator::{Backends, Membership};
use knserve_core::net::{self, Body, BoxError, ConnectionHold, Destination};
use tokio::{sync::watch, task::JoinHandle};
use tower::{Layer, ServiceExt};
use tower_test::mock;

type Mock = mock::Mock<Request<Body>, Response<Body>>;
type Handle = mock::Handle<Request<Body>, Response<Body>>;

fn key() -> RevisionKey {
    RevisionKey::new("default", "hello-00001")
}

fn pod(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, i], 8012))
}

/// A throttled mock backend for `default/hello-00001` and the channels feeding it.
struct Rig {
    service: Throttle<Mock>,
    backend: Handle,
    backends: watch::Sender<Backends>,
    membership: watch::Sender<Membership>,
    registry: ThrottlerRegistry,
    container_concurrency: u32,
}

impl Rig {
    fn new(container_concurrency: u32, config: ThrottlerConfig, pods: &[SocketAddr]) -> Self {
        let (mock, backend) = mock::pair();
        let registry = ThrottlerRegistry::with_seed(config, 1);
        let (backends, backends_rx) = watch::channel(Backends::healthy(pods.to_vec()));
        let (membership, membership_rx) = watch::channel(Membership::default());
        registry.upsert(key(), container_concurrency, backends_rx, membership_rx);
        let service = ThrottleLayer::new(registry.clone()).layer(mock);
        Self {
            service,
            backend,
            backends,
            membership,
            registry,
            container_concurrency,
        }
    }

    fn request(&self, body: Body) -> Request<Body> {
        let mut request = Request::new(body);
        request.extensions_mut().insert(RevisionTarget {
            key: key(),
            container_concurrency: self.container_concurrency,
        });
        request
    }

    /// Sends a request with `body` in a task.
    fn send(&self, body: Body) -> JoinHandle<Result<Response<Body>, BoxError>> {
        let request = self.request(body);
        tokio::spawn(self.service.clone().oneshot(request))
    }

    fn load(&self) -> ThrottlerLoad {
        self.registry
            .load(&key())
            .expect("the revision is throttled")
    }

    /// The next request the backend gets within a second, and its reply handle.
    async fn forwarded(&mut self) -> Option<(Request<Body>, mock::SendResponse<Response<Body>>)> {
        tokio::time::timeout(Duration::from_secs(1), self.backend.next_request())
            .await
            .ok()
            .flatten()
    }
}

/// The default bounds with at most `limit` bytes waiting.
fn byte_bound(limit: u64) -> ThrottlerConfig {
    ThrottlerConfig {
        max_waiting_bytes: limit,
        ..ThrottlerConfig::default()
    }
}

/// Lets spawned tasks run until they block.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

async fn answer(sent: JoinHandle<Result<Response<Body>, BoxError>>) -> (StatusCode, String) {
    let response = sent
        .await
        .expect("no panic")
        .expect("an answer, not an error");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn destination(request: &Request<Body>) -> Option<SocketAddr> {
    request.extensions().get::<Destination>().map(|d| d.0)
}

#[tokio::test(start_paused = true)]
async fn requests_wait_at_zero_backends_and_go_when_one_appears() {
    let mut rig = Rig::new(1, ThrottlerConfig::default(), &[]);
    let sent = rig.send(net::empty());
    assert!(
        rig.forwarded().await.is_none(),
        "no backend: the request waits"
    );
    assert_eq!(rig.load().waiting, 1);
    rig.backends.send_replace(Backends::healthy(vec![pod(1)]));
    let (request, reply) = rig
        .forwarded()
        .await
        .expect("forwarded once a backend exists");
    assert_eq!(
        destination(&request),
        Some(pod(1)),
        "sent to the new backend"
    );
    reply.send_response(net::text_response(StatusCode::OK, "hello"));
    assert_eq!(answer(sent).await, (StatusCode::OK, "hello".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn the_response_body_ending_gives_the_slot_to_the_next_waiter() {
    let mut rig = Rig::new(1, ThrottlerConfig::default(), &[pod(1)]);
    let first = rig.send(net::empty());
    let (request, reply) = rig.forwarded().await.expect("capacity 1 admits one");
    drop(request);
    let second = rig.send(net::empty());
    assert!(rig.forwarded().await.is_none(), "CC 1: the second waits");
    reply.send_response(net::text_response(StatusCode::OK, "first"));
    let response = first.await.expect("no panic").expect("answer");
    assert_eq!(rig.load().in_flight, 1, "the body has not ended yet");
    response.into_body().collect().await.expect("body");
    let (request, reply) = rig.forwarded().await.expect("the token passed on");
    assert_eq!(destination(&request), Some(pod(1)));
    reply.send_response(net::text_response(StatusCode::OK, "second"));
    assert_eq!(answer(second).await.1, "second");
}

#[tokio::test(start_paused = true)]
async fn dropping_the_response_body_releases_the_slot() {
    let mut rig = Rig::new(1, ThrottlerConfig::default(), &[pod(1)]);
    let first = rig.send(net::empty());
    let (request, reply) = rig.forwarded().await.expect("admitted");
    drop(request);
    reply.send_response(net::text_response(StatusCode::OK, "unread"));
    let response = first.await.expect("no panic").expect("answer");
    assert_eq!(rig.load().in_flight, 1);
    drop(response);
    assert_eq!(
        rig.load().in_flight,
        0,
        "a dropped body gives back the token"
    );
}

#[tokio::test(start_paused = true)]
async fn an_upgraded_connection_holds_the_slot_until_its_hold_is_dropped() {
    let mut rig = Rig::new(1, ThrottlerConfig::default(), &[pod(1)]);
    let sent = rig.send(net::empty());
    let (mut request, reply) = rig.forwarded().await.expect("admitted");
    let hold: ConnectionHold = request
        .extensions_mut()
        .remove()
        .expect("a hold is attached");
    assert_eq!(hold.len(), 1);
    drop(request);
    reply.send_response(Response::new(net::empty()));
    drop(sent.await.expect("no panic").expect("answer"));
    assert_eq!(rig.load().in_flight, 1, "the tunnel is still open");
    drop(hold);
    assert_eq!(rig.load().in_flight, 0, "the tunnel closed");
}

#[tokio::test(start_paused = true)]
async fn a_waiter_that_gives_up_leaves_the_queue() {
    let rig = Rig::new(1, ThrottlerConfig::default(), &[]);
    let sent = rig.send(net::full("abc"));
    settle().await;
    assert_eq!((rig.load().waiting, rig.load().waiting_bytes), (1, 3));
    sent.abort();
    settle().await;
    assert_eq!(
        (rig.load().waiting, rig.load().waiting_bytes),
        (0, 0),
        "cancelled"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_with_the_count_and_revision() {
    let config = ThrottlerConfig {
        max_waiting: 2,
        ..ThrottlerConfig::default()
    };
    let rig = Rig::new(1, config, &[]);
    let _waiting = [rig.send(net::empty()), rig.send(net::empty())];
    settle().await;
    let refused = answer(rig.send(net::empty())).await;
    let message = "pending request queue full for revision default/hello-00001 (2 waiting)";
    assert_eq!(
        refused,
        (StatusCode::SERVICE_UNAVAILABLE, message.to_owned())
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_bodies_past_the_byte_bound_are_refused() {
    let rig = Rig::new(1, byte_bound(10), &[]);
    let _waiting = rig.send(net::full("0123456"));
    settle().await;
    let (status, text) = answer(rig.send(net::full("0123"))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "7 + 4 bytes > 10");
    assert_eq!(
        text,
        "pending request bytes full for revision default/hello-00001 \
         (7 bytes waiting, 4 in this request, limit 10)"
    );
    let mut declared = rig.request(net::empty());
    declared
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, 4.into());
    let fits = tokio::spawn(rig.service.clone().oneshot(rig.request(net::full("012"))));
    settle().await;
    assert_eq!(rig.load().waiting_bytes, 10, "7 + 3 fits");
    drop(fits);
}

#[tokio::test(start_paused = true)]
async fn a_content_length_counts_when_the_body_size_is_unknown() {
    let rig = Rig::new(1, byte_bound(10), &[]);
    let stream = http_body_util::StreamBody::new(futures_util::stream::empty::<
        Result<http_body::Frame<bytes::Bytes>, BoxError>,
    >());
    let mut request = rig.request(BodyExt::boxed_unsync(stream));
    request
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, 11.into());
    let (status, text) = answer(tokio::spawn(rig.service.clone().oneshot(request))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("11 in this request"), "{text}");
}

/// A streamed body of unknown length (as a chunked request's) made of `chunks`, then
/// never ending when `open`, so that nothing but the throttler's reading moves it.
fn chunked(chunks: &'static [&'static str], open: bool) -> Body {
    use futures_util::StreamExt;
    let frames = futures_util::stream::iter(
        chunks
            .iter()
            .map(|chunk| Ok::<_, BoxError>(http_body::Frame::data(bytes::Bytes::from(*chunk)))),
    );
    let rest = futures_util::stream::pending().take(usize::from(open));
    BodyExt::boxed_unsync(http_body_util::StreamBody::new(frames.chain(rest)))
}

#[tokio::test(start_paused = true)]
async fn a_waiting_chunked_body_past_the_byte_bound_is_refused() {
    let rig = Rig::new(1, byte_bound(10), &[]);
    let _waiting = rig.send(net::full("0123"));
    settle().await;
    let sent = rig.send(chunked(&["abc", "def", "ghi"], true));
    let (status, text) = tokio::time::timeout(Duration::from_secs(1), answer(sent))
        .await
        .expect("refused while waiting, not left waiting");
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "4 declared + 3 + 3 read fit in 10, the third chunk does not"
    );
    assert_eq!(
        text,
        "pending request bytes full for revision default/hello-00001 \
         (4 bytes waiting, 9 in this request, limit 10)"
    );
    assert_eq!(
        (rig.load().waiting, rig.load().waiting_bytes),
        (1, 4),
        "the refused request's bytes are released"
    );
}

#[tokio::test(start_paused = true)]
async fn a_waiting_chunked_body_within_the_bound_is_counted_then_forwarded_intact() {
    let mut rig = Rig::new(1, byte_bound(10), &[]);
    let sent = rig.send(chunked(&["abc", "defg"], false));
    settle().await;
    assert_eq!(
        (rig.load().waiting, rig.load().waiting_bytes),
        (1, 7),
        "the body read while waiting counts"
    );
    rig.backends.send_replace(Backends::healthy(vec![pod(1)]));
    let (request, reply) = rig
        .forwarded()
        .await
        .expect("forwarded once a backend exists");
    assert_eq!(rig.load().waiting_bytes, 0, "released on leaving the queue");
    let body = request
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(
        &body[..],
        b"abcdefg",
        "every chunk reaches the instance in order"
    );
    reply.send_response(net::text_response(StatusCode::OK, "done"));
    assert_eq!(answer(sent).await, (StatusCode::OK, "done".to_owned()));
}

#[tokio::test(start_paused = true)]
async fn a_chunked_body_admitted_at_once_is_not_read() {
    let mut rig = Rig::new(1, byte_bound(1), &[pod(1)]);
    let _sent = rig.send(chunked(&["more than one byte"], true));
    let (request, _reply) = rig.forwarded().await.expect("capacity: forwarded at once");
    let mut body = request.into_body();
    let frame = body.frame().await.expect("a frame").expect("no error");
    assert_eq!(
        frame.into_data().ok().as_deref(),
        Some(&b"more than one byte"[..]),
        "the instance reads the body itself; nothing was taken from it"
    );
    assert_eq!(rig.load().waiting_bytes, 0);
}

#[tokio::test(start_paused = true)]
async fn a_request_waiting_past_the_wait_bound_gets_504() {
    let config = ThrottlerConfig {
        max_wait: Some(Duration::from_secs(2)),
        ..ThrottlerConfig::default()
    };
    let rig = Rig::new(1, config, &[]);
    let started = tokio::time::Instant::now();
    let (status, text) = answer(rig.send(net::empty())).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        text,
        "request waited longer than 2s for capacity of revision default/hello-00001"
    );
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(2),
        "refused at the bound"
    );
    assert_eq!(rig.load().waiting, 0);
}

#[tokio::test(start_paused = true)]
async fn a_failure_fails_waiters_and_new_requests_until_backends_change() {
    let mut rig = Rig::new(1, ThrottlerConfig::default(), &[]);
    let waiting = rig.send(net::empty());
    settle().await;
    rig.backends
        .send_replace(Backends::failed("crash loop back-off"));
    let message = "revision default/hello-00001 cannot become ready: crash loop back-off";
    let failed = (StatusCode::SERVICE_UNAVAILABLE, message.to_owned());
    assert_eq!(answer(waiting).await, failed, "the waiter fails at once");
    assert_eq!(
        answer(rig.send(net::empty())).await,
        failed,
        "new requests too"
    );
    rig.backends.send_replace(Backends::healthy(vec![pod(2)]));
    let sent = rig.send(net::empty());
    let (request, reply) = rig.forwarded().await.expect("backends changed");
    assert_eq!(destination(&request), Some(pod(2)));
    reply.send_response(net::text_response(StatusCode::OK, "ok"));
    assert_eq!(answer(sent).await.0, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn membership_changes_reassign_capacity() {
    let pods: Vec<SocketAddr> = (0..20).map(pod).collect();
    let rig = Rig::new(10, ThrottlerConfig::default(), &pods);
    assert_eq!(rig.load().capacity, 200, "a lone activator uses every pod");
    for (index, capacity) in [(0, 70), (1, 70), (2, 60)] {
        rig.membership.send_replace(Membership {
            index: Some(index),
            activators: 3,
        });
        settle().await;
        assert_eq!(rig.load().capacity, capacity, "activator {index} of 3");
    }
}

#[tokio::test(start_paused = true)]
async fn removing_a_revision_refuses_its_waiters_and_unknown_revisions_get_503() {
    let rig = Rig::new(1, ThrottlerConfig::default(), &[]);
    let waiting = rig.send(net::empty());
    settle().await;
    assert!(rig.registry.remove(&key()));
    let (status, text) = answer(waiting).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(text.contains("the revision was removed"), "{text}");
    let (status, text) = answer(rig.send(net::empty())).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(text, "revision default/hello-00001 has no throttler yet");
}

#[tokio::test(start_paused = true)]
async fn a_request_without_a_target_is_a_wiring_error() {
    let rig = Rig::new(1, ThrottlerConfig::default(), &[pod(1)]);
    let response = rig
        .service
        .clone()
        .oneshot(Request::new(net::empty()))
        .await;
    let response = response.expect("an answer");
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test(start_paused = true)]
async fn cc_zero_spreads_requests_over_backends_without_waiting() {
    let mut rig = Rig::new(0, ThrottlerConfig::default(), &[pod(1), pod(2)]);
    let sent: Vec<_> = (0..4).map(|_| rig.send(net::empty())).collect();
    let mut destinations = Vec::new();
    let mut replies = Vec::new();
    for _ in 0..4 {
        let (request, reply) = rig.forwarded().await.expect("unlimited: all go");
        destinations.push(destination(&request).expect("a destination"));
        replies.push(reply);
    }
    destinations.sort();
    assert_eq!(
        destinations,
        [pod(1), pod(1), pod(2), pod(2)],
        "P2C balances the weights"
    );
    drop((sent, replies));
}

/// §3.7 lists both a 503 (the request's context deadline exceeded while it waited)
/// and a 504 (the activator's timeout handler). knserve answers 504 `activator request
/// timeout` deliberately, as Knative's client sees it: the timeout handler writes
/// first. With the throttler's own wait bound at the same instant, the throttler's
/// refusal is a 504 too, so whichever future completes first the status is the same.
#[tokio::test(start_paused = true)]
async fn a_request_waiting_past_the_revision_timeout_gets_504_whichever_bound_fires_first() {
    use knserve_core::timeout::{TimeoutLayer, TimeoutLimits};
    let limit = Duration::from_secs(10);
    for max_wait in [None, Some(limit), Some(limit - Duration::from_millis(1))] {
        let config = ThrottlerConfig {
            max_wait,
            ..ThrottlerConfig::default()
        };
        let rig = Rig::new(1, config, &[]);
        let service =
            TimeoutLayer::activator(TimeoutLimits::total(limit)).layer(rig.service.clone());
        let sent = tokio::spawn(service.oneshot(rig.request(net::empty())));
        let (status, body) = answer(sent).await;
        assert_eq!(
            status,
            StatusCode::GATEWAY_TIMEOUT,
            "throttler bound {max_wait:?}: waiting past the timeout is a 504 ({body})"
        );
    }
}
