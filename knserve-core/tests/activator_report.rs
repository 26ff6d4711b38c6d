//! The activator's concurrency reporter (spec §3.8): the machine as tables, and the
//! layer and its worker with paused time.

use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use knserve_core::{
    RevisionKey, Timestamp,
    activator::report::{self, ConcurrencyReporter, REPORT_INTERVAL},
    autoscaler::metrics::Stat,
    net::{self, Body, ConnectionHold},
};
use tokio::sync::mpsc;
use tower::{Layer, Service, ServiceExt};
use tower_test::mock;

fn key(name: &str) -> RevisionKey {
    RevisionKey::new("default", name)
}

fn ms(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// `(revision name, average concurrency, request count)` of a report.
fn summary(report: &[(RevisionKey, Stat)]) -> Vec<(String, f64, f64)> {
    report
        .iter()
        .map(|(k, s)| {
            (
                k.name.to_string(),
                s.average_concurrent_requests,
                s.request_count,
            )
        })
        .collect()
}

#[test]
fn the_first_request_of_a_revision_sends_concurrency_one_at_once() {
    let mut reporter = ConcurrencyReporter::new("activator-0");
    let immediate = reporter
        .request_in(ms(100), &key("a"))
        .expect("a revision without an entry sends the immediate signal");
    assert_eq!(immediate.pod_name, "activator-0");
    assert_eq!(immediate.average_concurrent_requests, 1.0);
    assert_eq!(immediate.request_count, 1.0);
    assert_eq!(immediate.average_proxied_concurrent_requests, 0.0);
    assert_eq!(immediate.proxied_request_count, 0.0);
    assert_eq!(
        reporter.request_in(ms(200), &key("a")),
        None,
        "only the first request of an entry is immediate"
    );
    assert!(
        reporter.request_in(ms(200), &key("b")).is_some(),
        "entries are per revision"
    );
}

/// Requests `(in ms, out ms)`, then the expected `(concurrency, count)`.
type Row = (&'static [(u64, u64)], f64, f64);

#[test]
fn the_next_report_subtracts_the_immediate_signal() {
    // Each row: requests (in, out) in ms within the first second, then the reported
    // (concurrency, count) at 1 s.
    let table: [Row; 4] = [
        // One request the whole period: avg 1 − 1 = 0, count 1 − 1 = 0.
        (&[(0, 1000)], 0.0, 0.0),
        // Two overlapping for the whole period: 2 − 1, 2 − 1.
        (&[(0, 1000), (0, 1000)], 1.0, 1.0),
        // Half the period: 0.5 − 1 floors at 0.
        (&[(0, 500)], 0.0, 0.0),
        // Three requests, 0.5 s each, from t = 0: avg 1.5 − 1, count 3 − 1.
        (&[(0, 500), (0, 500), (0, 500)], 0.5, 2.0),
    ];
    for (requests, concurrency, count) in table {
        let mut reporter = ConcurrencyReporter::new("activator-0");
        for (i, &(start, _)) in requests.iter().enumerate() {
            let immediate = reporter.request_in(ms(start), &key("a"));
            assert_eq!(immediate.is_some(), i == 0, "{requests:?}");
        }
        for &(_, end) in requests {
            reporter.request_out(ms(end), &key("a"));
        }
        assert_eq!(
            summary(&reporter.report(ms(1000))),
            [("a".to_string(), concurrency, count)],
            "{requests:?}: the immediate 1 is subtracted, floored at 0"
        );
    }
}

#[test]
fn concurrency_is_time_weighted_and_carries_over_periods() {
    let mut reporter = ConcurrencyReporter::new("activator-0");
    reporter.request_in(ms(0), &key("a"));
    reporter.report(ms(1000));
    reporter.request_in(ms(1000), &key("a"));
    reporter.request_out(ms(1500), &key("a"));
    assert_eq!(
        summary(&reporter.report(ms(2000))),
        [("a".to_string(), 1.5, 1.0)],
        "A the whole second and B half of it average 1.5 with one arrival"
    );
    assert_eq!(
        summary(&reporter.report(ms(3000))),
        [("a".to_string(), 1.0, 0.0)],
        "the request still in flight carries over"
    );
}

#[test]
fn idle_revisions_are_reported_once_then_forgotten() {
    let mut reporter = ConcurrencyReporter::new("activator-0");
    reporter.request_in(ms(0), &key("a"));
    reporter.request_in(ms(0), &key("b"));
    reporter.request_out(ms(200), &key("a"));
    let first = reporter.report(ms(1000));
    assert_eq!(
        summary(&first),
        [("a".to_string(), 0.0, 0.0), ("b".to_string(), 0.0, 0.0)],
        "one stat per revision, sorted"
    );
    assert_eq!(reporter.tracked(), 2, "a averaged 0.2, b is in flight");
    let second = reporter.report(ms(2000));
    assert_eq!(
        summary(&second),
        [("a".to_string(), 0.0, 0.0), ("b".to_string(), 1.0, 0.0)]
    );
    assert_eq!(
        reporter.tracked(),
        1,
        "a averaged 0 and was dropped after reporting"
    );
    assert!(
        reporter.request_in(ms(2100), &key("a")).is_some(),
        "a dropped revision signals immediately again"
    );
}

#[test]
fn a_request_arriving_at_the_report_instant_keeps_its_entry() {
    let mut reporter = ConcurrencyReporter::new("activator-0");
    reporter.request_in(ms(1000), &key("a"));
    let report = reporter.report(ms(1000));
    assert_eq!(summary(&report), [("a".to_string(), 0.0, 0.0)]);
    assert_eq!(
        reporter.in_flight(&key("a")),
        1,
        "in-flight entries survive"
    );
    reporter.request_out(ms(1500), &key("a"));
    assert_eq!(reporter.in_flight(&key("a")), 0);
}

#[test]
fn an_unknown_request_out_changes_nothing() {
    let mut reporter = ConcurrencyReporter::new("activator-0");
    reporter.request_out(ms(10), &key("a"));
    assert_eq!(reporter.tracked(), 0);
    assert!(reporter.report(ms(1000)).is_empty());
}

type Mock = mock::Mock<Request<Body>, Response<Body>>;
type Handle = mock::Handle<Request<Body>, Response<Body>>;

fn layered(
    capacity: usize,
) -> (
    report::Report<Mock>,
    Handle,
    report::ReportWorker,
    mpsc::Receiver<(RevisionKey, Stat)>,
) {
    let (tx, rx) = mpsc::channel(capacity);
    let (layer, worker) = report::pair("activator-0", tx);
    let (service, handle) = mock::pair();
    (layer.layer(service), handle, worker, rx)
}

fn request_for(name: &str) -> Request<Body> {
    let mut request = Request::new(net::empty());
    request.extensions_mut().insert(key(name));
    request
}

#[tokio::test(start_paused = true)]
async fn the_layer_sends_the_immediate_stat_and_counts_until_the_body_ends() {
    let (service, mut handle, worker, mut rx) = layered(8);
    tokio::spawn(worker.run());
    let call = tokio::spawn(service.oneshot(request_for("a")));
    let (request, respond) = handle.next_request().await.expect("request forwarded");
    assert_eq!(
        request
            .extensions()
            .get::<ConnectionHold>()
            .map(ConnectionHold::len),
        Some(1),
        "a guard rides in the connection hold for upgrades"
    );
    drop(request);
    let (got, stat) = rx.try_recv().expect("immediate stat sent at once");
    assert_eq!(
        (got.name.as_ref(), stat.average_concurrent_requests),
        ("a", 1.0)
    );

    respond.send_response(Response::new(net::full("hello")));
    let response = call.await.unwrap().expect("response");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "hello");

    tokio::time::sleep(REPORT_INTERVAL - Duration::from_millis(500)).await;
    let (_, stat) = rx.recv().await.expect("periodic report");
    assert_eq!(
        stat.average_concurrent_requests, 0.0,
        "0.5 s in flight minus the immediate 1 floors at 0"
    );
    assert_eq!(stat.request_count, 0.0);
    tokio::time::sleep(REPORT_INTERVAL).await;
    assert!(
        rx.try_recv().is_err(),
        "the revision was dropped after a report with concurrency 0"
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_body_counts_the_request_out() {
    let (service, mut handle, worker, mut rx) = layered(8);
    tokio::spawn(worker.run());
    let call = tokio::spawn(service.oneshot(request_for("a")));
    let (_, respond) = handle.next_request().await.unwrap();
    respond.send_response(Response::new(net::full("x")));
    let response = call.await.unwrap().unwrap();
    rx.recv().await.expect("immediate");

    let (_, first) = rx.recv().await.expect("report at 1 s");
    assert_eq!(
        first.average_concurrent_requests, 0.0,
        "an unread body keeps the request in flight: 1 − the immediate 1"
    );
    tokio::time::sleep(REPORT_INTERVAL / 2).await;
    drop(response);
    let (_, second) = rx.recv().await.expect("report at 2 s");
    assert_eq!(
        second.average_concurrent_requests, 0.5,
        "dropping the body at 1.5 s counts the request out"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_stats_queue_drops_the_immediate_stat_without_blocking() {
    let (service, mut handle, _worker, mut rx) = layered(1);
    let mut service = service;
    for name in ["a", "b"] {
        let call = service.ready().await.unwrap().call(request_for(name));
        let (_, respond) = handle.next_request().await.unwrap();
        respond.send_response(Response::new(net::empty()));
        call.await
            .expect("the request is not held up by the full queue");
    }
    let (first, _) = rx.try_recv().unwrap();
    assert_eq!(first.name.as_ref(), "a");
    assert!(rx.try_recv().is_err(), "b's immediate stat was dropped");
}

#[tokio::test(start_paused = true)]
async fn requests_without_a_revision_pass_uncounted() {
    let (service, mut handle, _worker, mut rx) = layered(8);
    let call = tokio::spawn(service.oneshot(Request::new(net::empty())));
    let (request, respond) = handle.next_request().await.unwrap();
    assert!(request.extensions().get::<ConnectionHold>().is_none());
    respond.send_response(Response::new(net::empty()));
    call.await.unwrap().unwrap();
    assert!(rx.try_recv().is_err(), "nothing to report");
}

#[tokio::test(start_paused = true)]
async fn an_upgraded_connection_counts_until_its_hold_is_released() {
    let (service, mut handle, worker, mut rx) = layered(8);
    tokio::spawn(worker.run());
    let call = tokio::spawn(service.oneshot(request_for("ws")));
    let (request, respond) = handle.next_request().await.unwrap();
    let mut switching = Response::new(net::empty());
    *switching.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    respond.send_response(switching);
    drop(call.await.unwrap().unwrap());
    rx.recv().await.expect("immediate");

    // The forwarder would move the hold into the tunnel; the test keeps the request.
    let hold = request.extensions().get::<ConnectionHold>().cloned();
    drop(request);
    let (_, first) = rx.recv().await.expect("report at 1 s");
    assert_eq!(
        first.average_concurrent_requests, 0.0,
        "1 in flight for the whole second, minus the immediate 1"
    );
    let (_, second) = rx.recv().await.expect("report at 2 s");
    assert_eq!(
        second.average_concurrent_requests, 1.0,
        "the 101's body is gone but the tunnel still holds the request"
    );
    tokio::time::sleep(REPORT_INTERVAL / 4).await;
    drop(hold);
    let (_, third) = rx.recv().await.expect("report at 3 s");
    assert_eq!(
        third.average_concurrent_requests, 0.25,
        "closing the tunnel counts the request out"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// One step: a request in or out for revision 0..3, or a report, after `gap` ms.
    #[derive(Debug, Clone)]
    enum Op {
        In(u8),
        Out(u8),
        Report,
    }

    fn op() -> impl Strategy<Value = (u64, Op)> {
        let kind = prop_oneof![
            (0u8..3).prop_map(Op::In),
            (0u8..3).prop_map(Op::Out),
            Just(Op::Report),
        ];
        (0u64..700, kind)
    }

    proptest! {
        /// Every arrival is counted exactly once: by its immediate signal or by a
        /// report; and no reported value is ever negative.
        #[test]
        fn arrivals_are_counted_once_and_values_stay_non_negative(
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let mut reporter = ConcurrencyReporter::new("activator-0");
            let mut now = 0;
            let (mut arrivals, mut counted) = (0.0, 0.0);
            let mut in_flight = [0u32; 3];
            for (gap, op) in ops {
                now += gap;
                match op {
                    Op::In(r) => {
                        arrivals += 1.0;
                        in_flight[usize::from(r)] += 1;
                        if let Some(stat) = reporter.request_in(ms(now), &key(&r.to_string())) {
                            counted += stat.request_count;
                        }
                    }
                    Op::Out(r) if in_flight[usize::from(r)] > 0 => {
                        in_flight[usize::from(r)] -= 1;
                        reporter.request_out(ms(now), &key(&r.to_string()));
                    }
                    Op::Out(_) => {}
                    Op::Report => {
                        for (_, stat) in reporter.report(ms(now)) {
                            prop_assert!(stat.average_concurrent_requests >= 0.0);
                            prop_assert!(stat.request_count >= 0.0);
                            counted += stat.request_count;
                        }
                    }
                }
            }
            for (_, stat) in reporter.report(ms(now + 1000)) {
                counted += stat.request_count;
            }
            prop_assert_eq!(counted, arrivals, "immediate + reported counts = arrivals");
        }
    }
}
