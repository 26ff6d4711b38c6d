//! The queue-proxy's request statistics (§4.7): the accumulator, the `Stat` wire
//! format, the Prometheus text and the stats layer.

use std::time::Duration;

use knserve_core::Timestamp;
use knserve_core::autoscaler::metrics::Stat;
use knserve_core::queue::stats::{DecodeError, RequestStats, decode, encode, prometheus_text};
use proptest::prelude::*;

fn ms(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn a_whole_second_and_a_half_second_average_to_one_and_a_half() {
    let mut stats = RequestStats::new(ms(0), SECOND);
    stats.request_in(ms(0), false);
    let first = stats.report(ms(1000));
    assert_eq!(first.average_concurrency, 1.0);
    assert_eq!(first.request_count, 1.0);

    stats.request_in(ms(1250), false);
    stats.request_out(ms(1750), false);
    let second = stats.report(ms(2000));
    assert_eq!(
        second.average_concurrency, 1.5,
        "A in flight the whole second plus B for half of it"
    );
    assert_eq!(
        second.request_count, 1.0,
        "only B arrived within the second; A's concurrency carried over"
    );
}

#[test]
fn both_arrivals_within_the_second_count_two() {
    let mut stats = RequestStats::new(ms(0), SECOND);
    stats.request_in(ms(0), false);
    stats.request_in(ms(0), false);
    stats.request_out(ms(500), false);
    let report = stats.report(ms(1000));
    assert_eq!(report.average_concurrency, 1.5);
    assert_eq!(report.request_count, 2.0);
    assert_eq!(stats.concurrency(), 1, "concurrency carries over a report");
}

#[test]
fn proxied_requests_count_in_both_totals() {
    let mut stats = RequestStats::new(ms(0), SECOND);
    stats.request_in(ms(0), true);
    stats.request_in(ms(0), false);
    stats.request_out(ms(500), true);
    let report = stats.report(ms(1000));
    assert_eq!(report.average_concurrency, 1.5);
    assert_eq!(report.average_proxied_concurrency, 0.5);
    assert_eq!(report.request_count, 2.0);
    assert_eq!(report.proxied_request_count, 1.0);
    assert_eq!(stats.proxied_concurrency(), 0);
}

#[test]
fn arrivals_are_per_second_of_the_nominal_period() {
    let mut stats = RequestStats::new(ms(0), Duration::from_secs(2));
    for _ in 0..4 {
        stats.request_in(ms(100), false);
    }
    assert_eq!(stats.report(ms(2000)).request_count, 2.0);
    let mut raw = RequestStats::new(ms(0), Duration::ZERO);
    raw.request_in(ms(0), false);
    assert_eq!(
        raw.report(ms(1000)).request_count,
        1.0,
        "a zero period reports raw counts instead of dividing by zero"
    );
}

#[test]
fn accumulators_reset_after_a_report() {
    let mut stats = RequestStats::new(ms(0), SECOND);
    stats.request_in(ms(0), true);
    stats.request_out(ms(1000), true);
    stats.report(ms(1000));
    let idle = stats.report(ms(2000));
    assert_eq!(idle.average_concurrency, 0.0);
    assert_eq!(idle.request_count, 0.0);
    assert_eq!(idle.proxied_request_count, 0.0);
}

#[test]
fn unmatched_outs_and_backward_time_do_not_go_negative() {
    let mut stats = RequestStats::new(ms(1000), SECOND);
    stats.request_out(ms(1000), true);
    assert_eq!(
        stats.concurrency(),
        0,
        "an out without an in saturates at zero"
    );
    stats.request_in(ms(1500), false);
    stats.request_in(ms(900), false);
    let report = stats.report(ms(2000));
    assert_eq!(
        report.average_concurrency, 1.0,
        "a late event counts from the latest time seen: 2 requests over the last half second"
    );
    assert_eq!(
        stats.report(ms(2000)).average_concurrency,
        0.0,
        "no time elapsed: averages are 0"
    );
}

#[test]
fn a_report_becomes_a_stat_with_pod_name_and_uptime() {
    let mut stats = RequestStats::new(ms(0), SECOND);
    stats.request_in(ms(0), false);
    let stat = stats
        .report(ms(1000))
        .into_stat("pod-a", Duration::from_millis(12_500));
    assert_eq!(
        stat,
        Stat {
            pod_name: "pod-a".into(),
            average_concurrent_requests: 1.0,
            request_count: 1.0,
            process_uptime: 12.5,
            ..Stat::default()
        }
    );
}

fn full_stat() -> Stat {
    Stat {
        pod_name: "pod-a".into(),
        average_concurrent_requests: 1.5,
        average_proxied_concurrent_requests: 0.5,
        request_count: 2.0,
        proxied_request_count: 1.0,
        process_uptime: 10.0,
        timestamp: Some(Timestamp::from_duration(Duration::from_nanos(300))),
    }
}

#[rustfmt::skip]
const FULL_STAT_BYTES: [u8; 55] = [
    0x0a, 0x05, b'p', b'o', b'd', b'-', b'a',
    0x11, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f, // 1.5
    0x19, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f, // 0.5
    0x21, 0, 0, 0, 0, 0, 0, 0x00, 0x40, // 2.0
    0x29, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, // 1.0
    0x31, 0, 0, 0, 0, 0, 0, 0x24, 0x40, // 10.0
    0x38, 0xac, 0x02, // 300
];

#[test]
fn encoding_matches_hand_computed_bytes() {
    assert_eq!(encode(&full_stat()), FULL_STAT_BYTES);
    assert_eq!(
        encode(&Stat {
            pod_name: "p".into(),
            ..Stat::default()
        }),
        [0x0a, 0x01, b'p'],
        "proto3 leaves default fields out"
    );
    assert!(encode(&Stat::default()).is_empty());
}

#[test]
fn decoding_reads_hand_computed_bytes() {
    assert_eq!(decode(&FULL_STAT_BYTES), Ok(full_stat()));
    assert_eq!(decode(&[]), Ok(Stat::default()));
}

#[test]
fn decoding_skips_unknown_fields_and_keeps_the_last_value() {
    let bytes = [
        0x48, 0x96, 0x01, // field 9 varint
        0x51, 1, 2, 3, 4, 5, 6, 7, 8, // field 10 fixed64
        0x5a, 0x02, b'x', b'y', // field 11 bytes
        0x65, 1, 2, 3, 4, // field 12 fixed32
        0x0a, 0x01, b'a', 0x0a, 0x01, b'b', // pod_name twice
    ];
    assert_eq!(
        decode(&bytes),
        Ok(Stat {
            pod_name: "b".into(),
            ..Stat::default()
        })
    );
}

#[test]
fn malformed_input_is_an_error() {
    let cases: [(&[u8], DecodeError); 9] = [
        (&[0x0a, 0x05, b'a'], DecodeError::Truncated),
        (&[0x11, 0, 0], DecodeError::Truncated),
        (&[0x38], DecodeError::Truncated),
        (&[0x38, 0x80], DecodeError::Truncated),
        (
            &[0x08, 0x01],
            DecodeError::WrongWireType {
                field: 1,
                wire_type: 0,
            },
        ),
        (&[0x00], DecodeError::InvalidKey(0)),
        (&[0x0b], DecodeError::InvalidKey(0x0b)),
        (&[0x0a, 0x01, 0xff], DecodeError::InvalidUtf8),
        (
            &[
                0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
            DecodeError::NegativeTimestamp(-1),
        ),
    ];
    for (bytes, error) in cases {
        assert_eq!(decode(bytes), Err(error), "{bytes:02x?}");
    }
    assert_eq!(
        decode(&[
            0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02
        ]),
        Err(DecodeError::VarintOverflow),
        "a varint holds 64 bits at most"
    );
    assert_eq!(
        decode(&[
            0x38, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00
        ]),
        Err(DecodeError::VarintOverflow),
        "a varint is ten bytes at most"
    );
}

#[test]
fn prometheus_text_carries_every_number_with_escaped_labels() {
    let text = prometheus_text(
        &full_stat(),
        &[
            ("destination_pod", "pod-a"),
            ("destination_revision", "a\"b"),
        ],
    );
    let labels = r#"{destination_pod="pod-a",destination_revision="a\"b"}"#;
    for line in [
        format!("queue_requests_per_second{labels} 2"),
        format!("queue_proxied_operations_per_second{labels} 1"),
        format!("queue_average_concurrent_requests{labels} 1.5"),
        format!("queue_average_proxied_concurrent_requests{labels} 0.5"),
        format!("process_uptime{labels} 10"),
        "# TYPE queue_requests_per_second gauge".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    assert_eq!(
        text.lines().count(),
        15,
        "HELP, TYPE and a sample per gauge"
    );
    assert!(prometheus_text(&Stat::default(), &[]).contains("\nprocess_uptime 0\n"));
}

fn any_stat() -> impl Strategy<Value = Stat> {
    (
        ".{0,40}",
        prop::array::uniform5(any::<u64>().prop_map(f64::from_bits)),
        prop::option::of(1..=i64::MAX as u64),
    )
        .prop_map(|(pod_name, d, nanos)| Stat {
            pod_name,
            average_concurrent_requests: d[0],
            average_proxied_concurrent_requests: d[1],
            request_count: d[2],
            proxied_request_count: d[3],
            process_uptime: d[4],
            timestamp: nanos.map(|n| Timestamp::from_duration(Duration::from_nanos(n))),
        })
}

fn bits(stat: &Stat) -> (String, [u64; 5], Option<Timestamp>) {
    let d = [
        stat.average_concurrent_requests,
        stat.average_proxied_concurrent_requests,
        stat.request_count,
        stat.proxied_request_count,
        stat.process_uptime,
    ];
    (stat.pod_name.clone(), d.map(f64::to_bits), stat.timestamp)
}

proptest! {
    #[test]
    fn every_stat_survives_a_round_trip(stat in any_stat()) {
        let decoded = decode(&encode(&stat)).expect("an encoded stat decodes");
        prop_assert_eq!(bits(&decoded), bits(&stat), "decode inverts encode bit for bit");
    }

    #[test]
    fn arbitrary_bytes_decode_or_fail_without_panicking(
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        if let Ok(stat) = decode(&bytes) {
            let again = decode(&encode(&stat)).expect("a decoded stat re-encodes");
            prop_assert_eq!(bits(&again), bits(&stat));
        }
    }
}

mod layer {
    use std::time::Duration;

    use http::{Request, Response, StatusCode};
    use http_body_util::BodyExt;
    use knserve_core::net::{Body, ConnectionHold, empty, full};
    use tokio::time::advance;
    use tokio_test::assert_ready_ok;
    use tokio_test::task::spawn;
    use tower::{Layer, Service, ServiceExt};
    use tower_test::mock::{self, Handle, Mock};

    use knserve_core::queue::stats::{
        PROTOBUF_CONTENT_TYPE, Stats, StatsHandle, StatsLayer, decode, reporter,
    };

    type App = Mock<Request<Body>, Response<Body>>;

    fn counted() -> (
        Stats<App>,
        Handle<Request<Body>, Response<Body>>,
        StatsHandle,
    ) {
        let (app, handle) = mock::pair();
        let stats = StatsHandle::new("pod-a", Duration::from_secs(1));
        (StatsLayer::new(stats.clone()).layer(app), handle, stats)
    }

    fn request(headers: &[(&str, &str)]) -> Request<Body> {
        let mut builder = Request::builder();
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(empty()).expect("valid request")
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_counts_until_its_body_is_done() {
        let (mut service, mut app, stats) = counted();
        let mut a = spawn(service.ready().await.expect("ready").call(request(&[])));
        let (_, reply_a) = app.next_request().await.expect("A reaches the app");
        advance(Duration::from_millis(250)).await;
        let mut b = spawn(service.ready().await.expect("ready").call(request(&[])));
        let (_, reply_b) = app.next_request().await.expect("B reaches the app");
        reply_a.send_response(Response::new(full("a")));
        let body_a = assert_ready_ok!(a.poll()).into_body();
        reply_b.send_response(Response::new(empty()));
        advance(Duration::from_millis(500)).await;
        drop(assert_ready_ok!(b.poll()));
        assert_eq!(
            stats.concurrency(),
            1,
            "B is out, A's body is still streaming"
        );
        advance(Duration::from_millis(250)).await;
        let stat = stats.report(stats.now());
        assert_eq!(
            stat.average_concurrent_requests, 1.5,
            "A the whole second and B for half of it"
        );
        assert_eq!(stat.request_count, 2.0);
        assert_eq!(stat.process_uptime, 1.0);
        let collected = body_a.collect().await.expect("body").to_bytes();
        assert_eq!(&collected[..], b"a");
        assert_eq!(stats.concurrency(), 0, "the end of A's body counts it out");
    }

    #[tokio::test(start_paused = true)]
    async fn proxied_requests_are_counted_as_proxied_and_probes_not_at_all() {
        let (mut service, mut app, stats) = counted();
        let _proxied = service
            .ready()
            .await
            .expect("ready")
            .call(request(&[("k-proxy-request", "activator")]));
        let _probe = service
            .ready()
            .await
            .expect("ready")
            .call(request(&[("user-agent", "kube-probe/1.30")]));
        let _both = (app.next_request().await, app.next_request().await);
        advance(Duration::from_secs(1)).await;
        let stat = stats.report(stats.now());
        assert_eq!(stat.request_count, 1.0, "the kubelet probe is not counted");
        assert_eq!(stat.proxied_request_count, 1.0);
        assert_eq!(stat.average_proxied_concurrent_requests, 1.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_or_dropped_request_counts_out() {
        let (mut service, mut app, stats) = counted();
        let mut failing = spawn(service.ready().await.expect("ready").call(request(&[])));
        let abandoned = service.ready().await.expect("ready").call(request(&[]));
        let (_, reply) = app.next_request().await.expect("reaches the app");
        drop(app.next_request().await);
        assert_eq!(stats.concurrency(), 2);
        reply.send_error("app failed");
        assert!(failing.poll().is_ready());
        drop(abandoned);
        assert_eq!(
            stats.concurrency(),
            0,
            "an error and a dropped call both count out"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_upgraded_connection_counts_until_it_closes() {
        let (mut service, mut app, stats) = counted();
        let mut call = spawn(service.ready().await.expect("ready").call(request(&[])));
        let (mut seen, reply) = app.next_request().await.expect("reaches the app");
        let hold = seen
            .extensions_mut()
            .remove::<ConnectionHold>()
            .expect("the count is shared with the connection hold");
        let mut switching = Response::new(empty());
        *switching.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        reply.send_response(switching);
        drop(assert_ready_ok!(call.poll()));
        assert_eq!(stats.concurrency(), 1, "the websocket is still open");
        drop(hold);
        assert_eq!(stats.concurrency(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_reporter_publishes_a_report_every_second() {
        let (mut service, mut app, stats) = counted();
        assert_eq!(
            decode(&collect(stats.metrics_response()).await),
            Ok(super::Stat {
                pod_name: "pod-a".into(),
                ..super::Stat::default()
            }),
            "before the first report the stat only carries the pod name"
        );
        let worker = tokio::spawn(reporter(stats.clone(), Duration::from_secs(1)));
        let _call = service.ready().await.expect("ready").call(request(&[]));
        let _seen = app.next_request().await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let first = stats.latest();
        assert_eq!((first.request_count, first.process_uptime), (1.0, 1.0));
        tokio::time::sleep(Duration::from_secs(1)).await;
        let second = stats.latest();
        assert_eq!(second.request_count, 0.0, "counts reset each period");
        assert_eq!(
            second.average_concurrent_requests, 1.0,
            "concurrency carries over"
        );
        assert_eq!(second.process_uptime, 2.0);
        let response = stats.metrics_response();
        assert_eq!(response.headers()["content-type"], PROTOBUF_CONTENT_TYPE);
        assert_eq!(decode(&collect(response).await), Ok(second));
        worker.abort();
    }

    async fn collect(response: Response<Body>) -> Vec<u8> {
        let body = response.into_body().collect().await.expect("body");
        body.to_bytes().to_vec()
    }
}

#[derive(Debug, Clone)]
enum Event {
    In { after_ms: u64, proxied: bool },
    Out { after_ms: u64, proxied: bool },
    Report { after_ms: u64 },
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        3 => (0u64..400, any::<bool>()).prop_map(|(after_ms, proxied)| Event::In { after_ms, proxied }),
        2 => (0u64..400, any::<bool>()).prop_map(|(after_ms, proxied)| Event::Out { after_ms, proxied }),
        1 => (0u64..1500).prop_map(|after_ms| Event::Report { after_ms }),
    ]
}

proptest! {
    #[test]
    fn reports_match_a_brute_force_integral(events in prop::collection::vec(event(), 1..80)) {
        let mut stats = RequestStats::new(ms(0), SECOND);
        let (mut now, mut since_report) = (0u64, 0u64);
        // The model: concurrency per millisecond of the current period, and arrivals.
        let (mut c, mut p) = (0u64, 0u64);
        let (mut area, mut proxied_area, mut arrivals) = (0u64, 0u64, 0u64);
        for event in events {
            let after_ms = match &event {
                Event::In { after_ms, .. } | Event::Out { after_ms, .. } | Event::Report { after_ms } => *after_ms,
            };
            area += c * after_ms;
            proxied_area += p * after_ms;
            now += after_ms;
            since_report += after_ms;
            match event {
                Event::In { proxied, .. } => {
                    stats.request_in(ms(now), proxied);
                    c += 1;
                    p += u64::from(proxied);
                    arrivals += 1;
                }
                // Only requests that are in go out, proxied as they came in.
                Event::Out { proxied, .. } if (if proxied { p } else { c - p }) > 0 => {
                    stats.request_out(ms(now), proxied);
                    c -= 1;
                    p -= u64::from(proxied);
                }
                Event::Out { .. } => {}
                Event::Report { .. } => {
                    let report = stats.report(ms(now));
                    let expect = |area: u64| if since_report > 0 { area as f64 / since_report as f64 } else { 0.0 };
                    prop_assert!((report.average_concurrency - expect(area)).abs() < 1e-9,
                        "average {} is the integral over the period {}", report.average_concurrency, expect(area));
                    prop_assert!((report.average_proxied_concurrency - expect(proxied_area)).abs() < 1e-9);
                    prop_assert!(report.average_proxied_concurrency <= report.average_concurrency + 1e-9);
                    prop_assert_eq!(report.request_count, arrivals as f64);
                    (area, proxied_area, arrivals, since_report) = (0, 0, 0, 0);
                }
            }
            prop_assert_eq!(stats.concurrency(), c);
            prop_assert_eq!(stats.proxied_concurrency(), p);
        }
    }
}
