//! The timeout layer (spec §3.7, §4.2 step 7) with paused time: each limit before the
//! response headers (504) and after them (a truncated body).

use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use knserve_core::net::{Body, BoxError, full};
use knserve_core::timeout::{Expired, TimedOut, TimeoutLayer, TimeoutLimits};
use tokio::time::{Instant, sleep};
use tower::{Layer, ServiceExt, service_fn};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// An app that answers `hello` after `delay`.
fn slow_app(
    delay: Duration,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = BoxError,
    Future = impl Future<Output = Result<Response<Body>, BoxError>> + Send,
> + Clone {
    service_fn(move |_request: Request<Body>| async move {
        sleep(delay).await;
        Ok::<_, BoxError>(Response::new(full("hello")))
    })
}

/// A body sending `chunks` chunks, waiting `gap` before each.
fn dripping_body(chunks: usize, gap: Duration) -> Body {
    let frames = stream::unfold(0, move |sent| async move {
        if sent == chunks {
            return None;
        }
        sleep(gap).await;
        let frame: Result<Frame<Bytes>, BoxError> = Ok(Frame::data(Bytes::from_static(b"x")));
        Some((frame, sent + 1))
    });
    StreamBody::new(frames).boxed_unsync()
}

/// Reads a body to its end; returns the bytes received and the error it ended with.
async fn drain_body(mut body: Body) -> (usize, Option<BoxError>) {
    let mut received = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => received += frame.data_ref().map_or(0, Bytes::len),
            Err(error) => return (received, Some(error)),
        }
    }
    (received, None)
}

async fn text(body: Body) -> String {
    let bytes = body.collect().await.expect("body").to_bytes();
    String::from_utf8(bytes.to_vec()).expect("utf-8")
}

fn timed_out(error: Option<BoxError>) -> Option<Expired> {
    error.and_then(|e| e.downcast_ref::<TimedOut>().map(|t| t.0))
}

#[tokio::test(start_paused = true)]
async fn an_app_slower_than_the_total_limit_gets_a_504_at_the_limit() {
    let service =
        TimeoutLayer::queue_proxy(TimeoutLimits::total(secs(10))).layer(slow_app(secs(60)));
    let start = Instant::now();
    let response = service.oneshot(Request::new(full(""))).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        start.elapsed(),
        secs(10),
        "the total limit counts from arrival"
    );
    assert_eq!(text(response.into_body()).await, "request timeout");
}

#[tokio::test(start_paused = true)]
async fn a_response_in_time_passes_through_untouched() {
    let service =
        TimeoutLayer::queue_proxy(TimeoutLimits::total(secs(10))).layer(slow_app(secs(9)));
    let response = service.oneshot(Request::new(full(""))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response.into_body()).await, "hello");
}

#[tokio::test(start_paused = true)]
async fn no_headers_by_the_response_start_limit_is_a_504() {
    let limits = TimeoutLimits::total(secs(300)).with_response_start(secs(5));
    let service = TimeoutLayer::activator(limits).layer(slow_app(secs(60)));
    let start = Instant::now();
    let response = service.oneshot(Request::new(full(""))).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(start.elapsed(), secs(5), "response start limit fires first");
    assert_eq!(
        text(response.into_body()).await,
        "activator request timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_limit_applies_before_the_headers_too() {
    let limits = TimeoutLimits::total(secs(300)).with_idle(secs(3));
    let service = TimeoutLayer::queue_proxy(limits).layer(slow_app(secs(60)));
    let start = Instant::now();
    let response = service.oneshot(Request::new(full(""))).await.unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        start.elapsed(),
        secs(3),
        "arrival counts as the first write"
    );
}

#[tokio::test(start_paused = true)]
async fn a_body_dripping_slower_than_the_idle_limit_ends_with_the_timeout_message() {
    let limits = TimeoutLimits::total(secs(300)).with_idle(secs(2));
    let steady_app = service_fn(|_request: Request<Body>| async {
        Ok::<_, BoxError>(Response::new(dripping_body(5, secs(1))))
    });
    let steady = TimeoutLayer::queue_proxy(limits).layer(steady_app);
    let response = steady.oneshot(Request::new(full(""))).await.unwrap();
    let (received, error) = drain_body(response.into_body()).await;
    assert_eq!(received, 5, "chunks within the idle limit all arrive");
    assert!(error.is_none(), "a body that keeps writing is not cut");

    let slow_app = service_fn(|_request: Request<Body>| async {
        Ok::<_, BoxError>(Response::new(dripping_body(5, secs(3))))
    });
    let service = TimeoutLayer::queue_proxy(limits).layer(slow_app);
    let start = Instant::now();
    let response = service.oneshot(Request::new(full(""))).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "headers were already sent"
    );
    let body = text(response.into_body()).await;
    assert_eq!(
        body, "request timeout",
        "the first chunk comes after the idle limit; the body ends with the message, cleanly"
    );
    assert_eq!(start.elapsed(), secs(2));
}

/// A body that declared its length cannot take the message: it is cut short.
#[tokio::test(start_paused = true)]
async fn a_body_of_declared_length_is_cut_off_by_the_idle_limit() {
    let app = service_fn(|_request: Request<Body>| async {
        let frames = stream::unfold(false, |sent| async move {
            if sent {
                return None;
            }
            sleep(secs(3)).await;
            let frame: Result<Frame<Bytes>, BoxError> =
                Ok(Frame::data(Bytes::from_static(b"late")));
            Some((frame, true))
        });
        let body = LengthBody(StreamBody::new(frames).boxed_unsync(), 4);
        Ok::<_, BoxError>(Response::new(body.boxed_unsync()))
    });
    let limits = TimeoutLimits::total(secs(300)).with_idle(secs(2));
    let service = TimeoutLayer::queue_proxy(limits).layer(app);
    let response = service.oneshot(Request::new(full(""))).await.unwrap();
    let (received, error) = drain_body(response.into_body()).await;
    assert_eq!(
        received, 0,
        "nothing is appended to a body of declared length"
    );
    assert_eq!(
        timed_out(error),
        Some(Expired::Idle),
        "it ends with the idle error"
    );
}

/// A body that declares its length (as `Content-Length` does) around a stream.
struct LengthBody(Body, u64);

impl http_body::Body for LengthBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        std::pin::Pin::new(&mut self.0).poll_frame(cx)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.1)
    }
}

#[tokio::test(start_paused = true)]
async fn the_total_limit_ends_a_body_that_keeps_writing_with_the_message() {
    let app = service_fn(|_request: Request<Body>| async {
        Ok::<_, BoxError>(Response::new(dripping_body(100, secs(1))))
    });
    let limits = TimeoutLimits::total(secs(10)).with_idle(secs(2));
    let service = TimeoutLayer::queue_proxy(limits).layer(app);
    let start = Instant::now();
    let response = service.oneshot(Request::new(full(""))).await.unwrap();
    let body = text(response.into_body()).await;
    assert_eq!(start.elapsed(), secs(10));
    let chunks = body.strip_suffix("request timeout").unwrap_or_else(|| {
        panic!("the total limit ends the body with Knative's message: {body:?}")
    });
    assert!(
        chunks.bytes().all(|b| b == b'x') && (9..=10).contains(&chunks.len()),
        "chunks before the limit arrive: {body:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn waiting_inside_the_inner_service_counts_toward_the_total() {
    let (mock, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let service = TimeoutLayer::queue_proxy(TimeoutLimits::total(secs(10))).layer(mock);
    let call = tokio::spawn(service.oneshot(Request::new(full(""))));
    // The inner service (a queue, say) holds the request for 8 s, then the app takes 4.
    let (_request, respond) = handle
        .next_request()
        .await
        .expect("request reaches the inner service");
    sleep(secs(8)).await;
    let app = tokio::spawn(async move {
        sleep(secs(4)).await;
        respond.send_response(Response::new(full("late")));
    });
    let response = call.await.unwrap().unwrap();
    assert_eq!(
        response.status(),
        StatusCode::GATEWAY_TIMEOUT,
        "8 s queued + 4 s > 10 s"
    );
    app.await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_limits_extension_overrides_the_layer_for_one_request() {
    let layer = TimeoutLayer::activator(TimeoutLimits::total(secs(300)));
    let mut request = Request::new(full(""));
    request
        .extensions_mut()
        .insert(TimeoutLimits::total(secs(2)));
    let start = Instant::now();
    let response = layer
        .layer(slow_app(secs(60)))
        .oneshot(request)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(start.elapsed(), secs(2), "the revision's own limit applies");
}

mod guard_properties {
    use std::time::Duration;

    use knserve_core::Timestamp;
    use knserve_core::timeout::{TimeoutGuard, TimeoutLimits};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_limit_expires_exactly_at_the_next_deadline(
            total in 1u64..20_000,
            start in proptest::option::of(1u64..20_000),
            idle in proptest::option::of(1u64..20_000),
            headers in proptest::option::of(0u64..20_000),
            writes in prop::collection::vec(0u64..20_000, 0..10),
            probe in 0u64..30_000,
        ) {
            let ms = Duration::from_millis;
            let mut limits = TimeoutLimits::total(ms(total));
            limits.response_start = start.map(ms);
            limits.idle = idle.map(ms);
            let mut guard = TimeoutGuard::new(Timestamp::ZERO, limits);
            let mut events: Vec<(u64, bool)> = writes.iter().map(|w| (*w, false)).collect();
            events.extend(headers.map(|h| (h, true)));
            events.sort_unstable();
            for (at, is_headers) in events {
                // A driver only reports writes while no limit has expired.
                if guard.expired(Timestamp::from_millis(at)).is_some() {
                    break;
                }
                if is_headers {
                    guard.headers_started(Timestamp::from_millis(at));
                } else {
                    guard.wrote(Timestamp::from_millis(at));
                }
            }
            let now = Timestamp::from_millis(probe);
            prop_assert_eq!(
                guard.expired(now).is_some(),
                now >= guard.next_deadline(),
                "a limit has expired exactly when the next deadline has passed"
            );
            prop_assert!(guard.next_deadline() <= Timestamp::from_millis(total), "the total caps every deadline");
        }
    }
}
