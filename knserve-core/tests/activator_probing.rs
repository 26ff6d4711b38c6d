//! Backend probing (spec §3.6): the tracker machine as tables, and the prober against
//! real loopback servers.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use http::{Request, Response, StatusCode};
use knserve_core::{
    activator::{
        Backends,
        probing::{Endpoints, ProbeTracker, ProberConfig, prober},
    },
    net::{self, Body, BoxError, headers},
};
use tokio::{net::TcpListener, sync::watch};
use tower::service_fn;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|a| addr(a)).collect()
}

fn endpoints(ready: &[&str], not_ready: &[&str]) -> Endpoints {
    Endpoints {
        ready: addrs(ready),
        not_ready: addrs(not_ready),
        failure: None,
    }
}

const A: &str = "10.0.0.1:8012";
const B: &str = "10.0.0.2:8012";
const C: &str = "10.0.0.10:8012";

#[test]
fn every_listed_address_not_yet_healthy_is_probed_in_string_order() {
    let mut tracker = ProbeTracker::new(false);
    tracker.set_endpoints(&endpoints(&[B, A], &[C]));
    assert_eq!(
        tracker.to_probe(),
        addrs(&[C, A, B]),
        "sorted as ip:port strings: \"10.0.0.10:\" before \"10.0.0.1:\""
    );
    tracker.probed(addr(A), true);
    assert_eq!(
        tracker.to_probe(),
        addrs(&[C, B]),
        "healthy ones are not probed again"
    );
    assert_eq!(tracker.healthy(), addrs(&[A]));
}

#[test]
fn probe_results_follow_the_readiness_rules() {
    // (require orchestrator readiness, address listed ready?, probe passed,
    //  healthy afterwards, rule)
    let table = [
        (
            false,
            true,
            true,
            true,
            "a ready address that passes is healthy",
        ),
        (
            false,
            true,
            false,
            false,
            "a failed probe leaves it unhealthy",
        ),
        (
            false,
            false,
            true,
            true,
            "probe optimisation: a not-ready pass is accepted",
        ),
        (
            true,
            false,
            true,
            false,
            "readiness required: not-ready is never accepted",
        ),
        (
            true,
            true,
            true,
            true,
            "readiness required: ready and passed is healthy",
        ),
    ];
    for (require_ready, ready, passed, healthy, rule) in table {
        let mut tracker = ProbeTracker::new(require_ready);
        let listed = if ready {
            endpoints(&[A], &[])
        } else {
            endpoints(&[], &[A])
        };
        tracker.set_endpoints(&listed);
        tracker.probed(addr(A), passed);
        assert_eq!(tracker.healthy().contains(&addr(A)), healthy, "{rule}");
    }
}

#[test]
fn not_ready_addresses_are_not_probed_when_readiness_is_required() {
    let mut tracker = ProbeTracker::new(true);
    tracker.set_endpoints(&endpoints(&[A], &[B]));
    assert_eq!(tracker.to_probe(), addrs(&[A]));
    tracker.set_endpoints(&endpoints(&[A, B], &[]));
    assert_eq!(tracker.to_probe(), addrs(&[A, B]), "B is probed once ready");
}

#[test]
fn an_address_turning_not_ready_is_dropped_and_probed_again() {
    let mut tracker = ProbeTracker::new(false);
    tracker.set_endpoints(&endpoints(&[A, B], &[]));
    tracker.probed(addr(A), true);
    tracker.probed(addr(B), true);
    assert!(
        tracker.set_endpoints(&endpoints(&[B], &[A])),
        "the healthy set shrank"
    );
    assert_eq!(
        tracker.healthy(),
        addrs(&[B]),
        "ready → not-ready leaves the set"
    );
    assert_eq!(tracker.to_probe(), addrs(&[A]), "and is probed again");
    tracker.probed(addr(A), true);
    assert_eq!(
        tracker.healthy(),
        addrs(&[A, B]),
        "a passing re-probe brings it back"
    );
}

#[test]
fn an_address_accepted_while_not_ready_stays_healthy_as_it_turns_ready() {
    let mut tracker = ProbeTracker::new(false);
    tracker.set_endpoints(&endpoints(&[], &[A]));
    tracker.probed(addr(A), true);
    assert!(
        !tracker.set_endpoints(&endpoints(&[], &[A])),
        "still not ready: kept"
    );
    assert!(
        !tracker.set_endpoints(&endpoints(&[A], &[])),
        "now ready: kept"
    );
    assert_eq!(tracker.healthy(), addrs(&[A]));
    assert!(tracker.to_probe().is_empty());
}

#[test]
fn vanished_addresses_are_dropped_and_late_results_ignored() {
    let mut tracker = ProbeTracker::new(false);
    tracker.set_endpoints(&endpoints(&[A, B], &[]));
    tracker.probed(addr(A), true);
    tracker.set_endpoints(&endpoints(&[B], &[]));
    assert!(tracker.healthy().is_empty(), "A vanished");
    assert!(
        !tracker.probed(addr(A), true),
        "a result for a vanished address changes nothing"
    );
    assert!(tracker.healthy().is_empty());
}

#[test]
fn zero_endpoints_mean_no_backends() {
    let mut tracker = ProbeTracker::new(false);
    tracker.set_endpoints(&endpoints(&[A], &[]));
    tracker.probed(addr(A), true);
    tracker.set_endpoints(&Endpoints::default());
    assert_eq!(tracker.backends(), Backends::default());
    assert!(tracker.to_probe().is_empty());
}

#[test]
fn an_endpoints_failure_reaches_the_backends() {
    let mut tracker = ProbeTracker::new(false);
    tracker.set_endpoints(&Endpoints {
        failure: Some("container crash loop".into()),
        ..Endpoints::default()
    });
    assert_eq!(tracker.backends(), Backends::failed("container crash loop"));
    tracker.set_endpoints(&endpoints(&[A], &[]));
    assert_eq!(
        tracker.backends().failure,
        None,
        "the failure clears with it"
    );
}

/// A queue-proxy stand-in: answers its first `failures` probes 503, then `body`.
async fn backend(failures: usize, body: &'static str) -> (net::ServeHandle, Arc<AtomicUsize>) {
    let probes = Arc::new(AtomicUsize::new(0));
    let seen = probes.clone();
    let service = service_fn(move |request: Request<Body>| {
        let seen = seen.clone();
        async move {
            let is_probe = request.uri().path() == "/healthz"
                && headers::network_probe(request.headers()) == Some("queue")
                && request.headers().get("user-agent").unwrap() == "Knative-Activator-Probe";
            assert!(is_probe, "probe shape: {request:?}");
            let n = seen.fetch_add(1, Ordering::SeqCst);
            Ok::<_, BoxError>(if n < failures {
                net::text_response(StatusCode::SERVICE_UNAVAILABLE, "not yet")
            } else {
                Response::new(net::full(body))
            })
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    (net::serve(listener, service).unwrap(), probes)
}

#[tokio::test]
async fn an_instance_that_starts_answering_is_published_healthy() {
    let (server, probes) = backend(3, "queue").await;
    let good = server.local_addr();
    let (endpoints_tx, endpoints_rx) = watch::channel(Endpoints::default());
    let (backends_tx, mut backends_rx) = watch::channel(Backends::default());
    let task = tokio::spawn(prober(endpoints_rx, backends_tx, ProberConfig::default()));

    endpoints_tx.send_replace(Endpoints {
        not_ready: vec![good],
        ..Endpoints::default()
    });
    let healthy = tokio::time::timeout(
        Duration::from_secs(5),
        backends_rx.wait_for(|b| !b.healthy.is_empty()),
    )
    .await
    .expect("healthy within 5 s")
    .unwrap()
    .clone();
    assert_eq!(healthy, Backends::healthy(vec![good]));
    assert_eq!(
        probes.load(Ordering::SeqCst),
        4,
        "three refusals, then the passing probe; no probes after"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        probes.load(Ordering::SeqCst),
        4,
        "a healthy address is not re-probed"
    );

    endpoints_tx.send_replace(Endpoints::default());
    backends_rx
        .wait_for(|b| b.healthy.is_empty())
        .await
        .expect("zero endpoints publish no backends");
    drop(endpoints_tx);
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the prober ends with its endpoints source")
        .unwrap();
}

#[tokio::test]
async fn a_wrong_body_or_a_dead_address_never_becomes_healthy() {
    let (server, probes) = backend(0, "queue-proxy").await;
    let wrong = server.local_addr();
    let dead = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let (_endpoints_tx, endpoints_rx) = watch::channel(Endpoints {
        ready: vec![wrong, dead],
        ..Endpoints::default()
    });
    let (backends_tx, backends_rx) = watch::channel(Backends::default());
    tokio::spawn(prober(endpoints_rx, backends_tx, ProberConfig::default()));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(backends_rx.borrow().healthy.is_empty(), "neither passes");
    let rounds = probes.load(Ordering::SeqCst);
    assert!(
        (3..=7).contains(&rounds),
        "rounds repeat every 200 ms while unhealthy: {rounds} in 1.1 s"
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    fn pool() -> Vec<SocketAddr> {
        (1..=4).map(|i| addr(&format!("10.0.0.{i}:8012"))).collect()
    }

    /// An endpoints update (each address absent, ready or not ready) or a probe result.
    #[derive(Debug, Clone)]
    enum Step {
        Endpoints([u8; 4]),
        Probe(usize, bool),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            prop::array::uniform4(0u8..3).prop_map(Step::Endpoints),
            (0usize..4, any::<bool>()).prop_map(|(i, ok)| Step::Probe(i, ok)),
        ]
    }

    proptest! {
        /// The healthy set only ever holds listed addresses that passed a probe, holds
        /// not-ready ones only with the probe optimisation on, and is never probed.
        #[test]
        fn the_healthy_set_holds_only_listed_addresses_that_passed(
            require_ready in any::<bool>(),
            steps in proptest::collection::vec(step(), 0..60),
        ) {
            let pool = pool();
            let mut tracker = ProbeTracker::new(require_ready);
            let mut listed = Endpoints::default();
            let mut passed = std::collections::HashSet::new();
            for step in steps {
                match step {
                    Step::Endpoints(states) => {
                        listed = Endpoints::default();
                        for (address, state) in pool.iter().zip(states) {
                            match state {
                                1 => listed.ready.push(*address),
                                2 => listed.not_ready.push(*address),
                                _ => {}
                            }
                        }
                        tracker.set_endpoints(&listed);
                        passed.retain(|a| listed.ready.contains(a) || listed.not_ready.contains(a));
                    }
                    Step::Probe(i, ok) => {
                        if ok {
                            passed.insert(pool[i]);
                        }
                        tracker.probed(pool[i], ok);
                    }
                }
                let probe = tracker.to_probe();
                for address in tracker.healthy() {
                    prop_assert!(passed.contains(&address), "{address} never passed");
                    prop_assert!(
                        listed.ready.contains(&address)
                            || (!require_ready && listed.not_ready.contains(&address)),
                        "{address} is not eligible"
                    );
                    prop_assert!(!probe.contains(&address), "healthy {address} is re-probed");
                }
            }
        }
    }
}
