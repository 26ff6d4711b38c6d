//! The whole request path over loopback sockets: client → router → activator →
//! `knserve-queue` (a real process) → a real HTTP app. The revision starts with no
//! endpoints, so the first request waits in the activator — which pokes the
//! autoscaler at once — until an instance appears, passes its probe and takes it.
//! Then the router switches the revision to Serve and goes straight to the instance.

mod support;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use knserve_core::{
    RevisionKey,
    activator::{
        Backends, Membership,
        handler::{HandlerLayer, RevisionInfo, RevisionTable},
        probing::{Endpoints, ProberConfig, prober},
        report,
        throttler::{ThrottleLayer, ThrottlerConfig, ThrottlerRegistry},
    },
    api::{ObjectMeta, RoutingConfig},
    config::{DomainConfig, FeaturesConfig},
    net::{self, Forward},
    router::{Hop, Hops, RouteLayer, RouteTable, RouteTraffic, Target},
    timeout::{TimeoutLayer, TimeoutLimits},
};
use rand::{SeedableRng, rngs::SmallRng};
use tokio::{
    net::TcpListener,
    sync::{mpsc, watch},
};
use tower::ServiceBuilder;

use self::support::{app, knative_env, send, start, text};

const HOST: &str = "hello.default.example.com";

fn revision() -> RevisionKey {
    RevisionKey::new("default", "hello-00001")
}

fn route_table() -> Arc<RouteTable> {
    let routing = RoutingConfig {
        domain: DomainConfig {
            domains: [("example.com".to_owned(), Default::default())].into(),
        },
        ..RoutingConfig::default()
    };
    let route = RouteTraffic::new(
        ObjectMeta::named("hello", "default"),
        vec![Target::new("hello-00001", 100)],
    );
    let (table, errors) = RouteTable::build(&routing, &FeaturesConfig::default(), [route]);
    assert!(errors.is_empty(), "{errors:?}");
    Arc::new(table)
}

/// The activator's stack of §3.2, on a loopback listener.
struct Activator {
    address: SocketAddr,
    endpoints: watch::Sender<Endpoints>,
    stats: mpsc::Receiver<(RevisionKey, knserve_core::autoscaler::metrics::Stat)>,
    _server: net::ServeHandle,
    _control: (watch::Sender<Membership>, watch::Sender<bool>),
}

async fn activator(container_concurrency: u32) -> Activator {
    let table = RevisionTable::new();
    table.insert(
        revision(),
        RevisionInfo {
            container_concurrency,
            ..RevisionInfo::default()
        },
    );
    let registry = ThrottlerRegistry::with_seed(ThrottlerConfig::default(), 7);
    let (endpoints, endpoints_rx) = watch::channel(Endpoints::default());
    let (backends_tx, backends_rx) = watch::channel(Backends::default());
    let (membership_tx, membership_rx) = watch::channel(Membership::default());
    registry.upsert(
        revision(),
        container_concurrency,
        backends_rx,
        membership_rx,
    );
    tokio::spawn(prober(endpoints_rx, backends_tx, ProberConfig::default()));
    let (stats_tx, stats) = mpsc::channel(64);
    let (report, worker) = report::pair("activator-0", stats_tx);
    tokio::spawn(worker.run());
    let (draining_tx, draining) = watch::channel(false);
    let stack = ServiceBuilder::new()
        .layer(HandlerLayer::new(table, draining))
        .layer(report)
        .layer(TimeoutLayer::activator(TimeoutLimits::default()))
        .layer(ThrottleLayer::new(registry))
        .service(Forward::new(100, false));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = net::serve(listener, tower::util::BoxCloneService::new(stack)).unwrap();
    Activator {
        address: server.local_addr(),
        endpoints,
        stats,
        _server: server,
        _control: (membership_tx, draining_tx),
    }
}

/// The router's stack on a loopback listener, and the sender that keeps its table.
async fn router(hops: watch::Receiver<Hops>) -> (net::ServeHandle, watch::Sender<Arc<RouteTable>>) {
    let (tables_tx, tables) = watch::channel(route_table());
    let stack = ServiceBuilder::new()
        .layer(RouteLayer::new(tables, hops, SmallRng::seed_from_u64(1)))
        .service(Forward::new(100, false));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    (net::serve(listener, stack).unwrap(), tables_tx)
}

fn hops(hop: Hop) -> Hops {
    Arc::new([(revision(), hop)].into_iter().collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_at_zero_waits_in_the_activator_then_reaches_the_app_through_the_sidecar() {
    let mut activator = activator(1).await;
    let (hops_tx, hops_rx) = watch::channel(hops(Hop::Proxy(activator.address)));
    let (router, _table) = router(hops_rx).await;

    // Zero endpoints: the request waits in the activator.
    let first = tokio::spawn(send(router.local_addr(), "/", &[("host", HOST)]));
    let (key, poke) = tokio::time::timeout(Duration::from_secs(5), activator.stats.recv())
        .await
        .expect("the first request pokes the autoscaler at once")
        .unwrap();
    assert_eq!(key, revision());
    assert_eq!(
        (poke.average_concurrent_requests, poke.request_count),
        (1.0, 1.0)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!first.is_finished(), "with no endpoint the request waits");

    // One endpoint: an instance (sidecar + app) starts and is published.
    let app = app().await;
    let sidecar = start(knative_env(app.address.port(), 1));
    activator.endpoints.send_replace(Endpoints {
        ready: vec![sidecar.serving],
        ..Endpoints::default()
    });
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("the waiting request is served once the instance is healthy")
        .unwrap();
    let body = text(&body);
    assert_eq!(status, http::StatusCode::OK, "{body}");
    assert!(
        body.contains(&format!("host: {HOST}\n")),
        "the app sees the client's Host: {body}"
    );
    assert!(
        body.contains("k-proxy-request: activator\n"),
        "it came through the activator: {body}"
    );
    assert!(
        !body.contains("knative-serving-revision"),
        "internal headers stripped: {body}"
    );

    // Serve mode: the router goes straight to the instance.
    hops_tx.send_replace(hops(Hop::Serve(vec![sidecar.serving])));
    let (status, body) = send(router.local_addr(), "/", &[("host", HOST)]).await;
    let body = text(&body);
    assert_eq!(status, http::StatusCode::OK, "{body}");
    assert!(
        !body.contains("k-proxy-request"),
        "Serve mode bypasses the activator: {body}"
    );

    // An unknown host is the router's 404.
    let (status, body) = send(
        router.local_addr(),
        "/",
        &[("host", "nope.default.example.com")],
    )
    .await;
    assert_eq!(status, http::StatusCode::NOT_FOUND, "{}", text(&body));
}
