//! Per-request cost of each request-path layer over a bare inner service, and of the
//! whole queue-proxy and activator stacks (without the network).
//!
//! Every iteration builds a request, sends it through a clone of the service with
//! `oneshot`, and reads the response body to its end, so the guards that ride in
//! bodies (in-flight counts, permits, timeout guards) run. `N` requests run inside one
//! `block_on` of a current-thread runtime (`iter_custom`), so the runtime's own entry
//! cost is not in the numbers. `layer/bare` is the baseline: the overhead of a layer is
//! its time minus the baseline's.
//!
//! Run with `cargo bench -p knserve-core --bench layers`.

use std::{hint::black_box, net::SocketAddr, sync::Arc, time::Duration};

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use knserve_core::{
    RevisionKey,
    activator::{
        Backends, Membership,
        handler::{HandlerLayer, RevisionInfo, RevisionTable},
        report,
        throttler::{RevisionTarget, ThrottleLayer, ThrottlerConfig, ThrottlerRegistry},
    },
    api::{ObjectMeta, RoutingConfig},
    config::{DomainConfig, FeaturesConfig},
    net::{
        Body, BoxError, empty, headers,
        metrics::{MetricsLayer, RequestMetrics},
    },
    queue::{
        drain::{DrainHandle, DrainLayer, Drainer, InFlight, TrackLayer},
        limit::ConcurrencyLimitLayer,
        readiness::Readiness,
        rewrite::RewriteLayer,
        stats::{StatsHandle, StatsLayer},
    },
    router::{Hop, RouteLayer, RouteTable, RouteTraffic, Target},
    timeout::{TimeoutLayer, TimeoutLimits},
};
use rand::{SeedableRng, rngs::SmallRng};
use tokio::{
    runtime::Runtime,
    sync::{mpsc, watch},
    time::Instant,
};
use tower::{Layer, Service, ServiceBuilder, ServiceExt, service_fn};

const HOST: &str = "hello.default.example.com";
const INSTANCE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8012);

/// The baseline: an empty 200.
async fn bare(_: Request<Body>) -> Result<Response<Body>, BoxError> {
    Ok(Response::new(empty()))
}

fn revision() -> RevisionKey {
    RevisionKey::new("default", "hello-00001")
}

/// A client request as the router or the queue-proxy sees it.
fn plain() -> Request<Body> {
    Request::builder()
        .uri("/")
        .header(header::HOST, HOST)
        .body(empty())
        .expect("a valid request")
}

/// A request as the router sends it to the activator: it names its revision.
fn named() -> Request<Body> {
    let mut request = plain();
    let headers = request.headers_mut();
    headers.insert(
        headers::KNATIVE_SERVING_NAMESPACE,
        "default".parse().expect("static"),
    );
    headers.insert(
        headers::KNATIVE_SERVING_REVISION,
        "hello-00001".parse().expect("static"),
    );
    request
}

/// A request after the activator's handler, for the report layer alone.
fn keyed() -> Request<Body> {
    let mut request = plain();
    request.extensions_mut().insert(revision());
    request
}

/// A request after the activator's handler, for the throttler alone.
fn targeted() -> Request<Body> {
    let mut request = plain();
    request.extensions_mut().insert(RevisionTarget {
        key: revision(),
        container_concurrency: 0,
    });
    request
}

/// One request through a clone of `service`, its body read to the end.
async fn one<S>(service: &S, request: Request<Body>) -> StatusCode
where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone,
{
    let response = service
        .clone()
        .oneshot(request)
        .await
        .expect("the bare service never fails");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("an empty body cannot fail");
    black_box(body);
    status
}

/// Benchmarks `service` as `name` in `group`, with requests from `make`.
fn run<S>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    runtime: &Runtime,
    name: &str,
    service: S,
    make: fn() -> Request<Body>,
) where
    S: Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone,
{
    let status = runtime.block_on(one(&service, make()));
    assert_eq!(
        status,
        StatusCode::OK,
        "{name}: the request must pass the layer to the inner service, not be answered"
    );
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(one(&service, make()).await);
                }
                start.elapsed()
            })
        });
    });
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// The queue-proxy's stack of knserve-k8s `queue/server.rs`, over `bare`.
fn queue_proxy(
    container_concurrency: u32,
) -> impl Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone {
    ServiceBuilder::new()
        .layer(DrainLayer::new(
            DrainHandle::new(Drainer::default()),
            Readiness::always(),
        ))
        .layer(TrackLayer::new(InFlight::new()))
        .layer(TimeoutLayer::queue_proxy(TimeoutLimits::default()))
        .layer(RewriteLayer)
        .layer(StatsLayer::new(stats()))
        .layer(ConcurrencyLimitLayer::for_container_concurrency(
            container_concurrency,
        ))
        .layer(MetricsLayer::new(metrics()))
        .service(service_fn(bare))
}

fn stats() -> StatsHandle {
    StatsHandle::new("hello-00001-deployment-abc", Duration::from_secs(1))
}

fn metrics() -> Arc<RequestMetrics> {
    RequestMetrics::new([
        ("namespace", "default"),
        ("configuration", "hello"),
        ("revision", "hello-00001"),
        ("pod", "hello-00001-deployment-abc"),
    ])
}

/// The senders that keep the activator's watch channels open.
type Channels = (
    watch::Sender<Backends>,
    watch::Sender<Membership>,
    watch::Sender<bool>,
);

/// A throttler registry with the revision at `container_concurrency` and one healthy
/// backend. Must be called inside the runtime.
fn registry(container_concurrency: u32) -> (ThrottlerRegistry, Channels) {
    let registry = ThrottlerRegistry::with_seed(ThrottlerConfig::default(), 7);
    let (backends, backends_rx) = watch::channel(Backends::healthy(vec![INSTANCE]));
    let (membership, membership_rx) = watch::channel(Membership::default());
    registry.upsert(
        revision(),
        container_concurrency,
        backends_rx,
        membership_rx,
    );
    let (draining, _) = watch::channel(false);
    (registry, (backends, membership, draining))
}

/// The activator's report layer, with its worker and a stats consumer running in the
/// runtime, as in the activator (immediate stats are sent, not dropped on a full
/// queue). Must be called inside the runtime.
fn report_layer() -> report::ReportLayer {
    let (stats, mut received) = mpsc::channel(64);
    let (layer, worker) = report::pair("activator-0", stats);
    tokio::spawn(worker.run());
    tokio::spawn(async move { while received.recv().await.is_some() {} });
    layer
}

fn handler_layer(container_concurrency: u32, draining: &watch::Sender<bool>) -> HandlerLayer {
    let table = RevisionTable::new();
    let info = RevisionInfo {
        container_concurrency,
        ..RevisionInfo::default()
    };
    table.insert(revision(), info);
    HandlerLayer::new(table, draining.subscribe())
}

/// The activator's stack of knserve-k8s `tests/data_path.rs`, over `bare`.
fn activator(
    container_concurrency: u32,
) -> (
    impl Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone,
    Channels,
) {
    let (registry, channels) = registry(container_concurrency);
    let stack = ServiceBuilder::new()
        .layer(handler_layer(container_concurrency, &channels.2))
        .layer(report_layer())
        .layer(TimeoutLayer::activator(TimeoutLimits::default()))
        .layer(ThrottleLayer::new(registry))
        .service(service_fn(bare));
    (stack, channels)
}

fn route_layer() -> (
    RouteLayer,
    watch::Sender<Arc<RouteTable>>,
    watch::Sender<knserve_core::router::Hops>,
) {
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
    assert!(
        errors.is_empty(),
        "the benchmark's route is valid: {errors:?}"
    );
    let (tables, tables_rx) = watch::channel(Arc::new(table));
    let hops = Arc::new(
        [(revision(), Hop::Serve(vec![INSTANCE]))]
            .into_iter()
            .collect(),
    );
    let (hops, hops_rx) = watch::channel(hops);
    let layer = RouteLayer::new(tables_rx, hops_rx, SmallRng::seed_from_u64(1));
    (layer, tables, hops)
}

fn layers(c: &mut Criterion) {
    let runtime = runtime();
    let _entered = runtime.enter();
    let inner = service_fn(bare);
    let mut group = c.benchmark_group("layer");
    let rt = &runtime;
    run(&mut group, rt, "bare", inner, plain);
    let drain = DrainLayer::new(DrainHandle::new(Drainer::default()), Readiness::always());
    run(&mut group, rt, "drain", drain.layer(inner), plain);
    run(
        &mut group,
        rt,
        "track",
        TrackLayer::new(InFlight::new()).layer(inner),
        plain,
    );
    let timeout = TimeoutLayer::queue_proxy(TimeoutLimits::default());
    run(&mut group, rt, "timeout", timeout.layer(inner), plain);
    run(&mut group, rt, "rewrite", RewriteLayer.layer(inner), plain);
    run(
        &mut group,
        rt,
        "stats",
        StatsLayer::new(stats()).layer(inner),
        plain,
    );
    for cc in [0, 10] {
        let limit = ConcurrencyLimitLayer::for_container_concurrency(cc);
        run(
            &mut group,
            rt,
            &format!("limit-cc{cc}"),
            limit.layer(inner),
            plain,
        );
    }
    run(
        &mut group,
        rt,
        "metrics",
        MetricsLayer::new(metrics()).layer(inner),
        plain,
    );
    let (draining, _) = watch::channel(false);
    run(
        &mut group,
        rt,
        "handler",
        handler_layer(0, &draining).layer(inner),
        named,
    );
    run(&mut group, rt, "report", report_layer().layer(inner), keyed);
    for cc in [0, 10] {
        let (registry, _channels) = registry(cc);
        let throttle = ThrottleLayer::new(registry).layer(inner);
        run(
            &mut group,
            rt,
            &format!("throttle-cc{cc}"),
            throttle,
            targeted,
        );
    }
    let (route, _tables, _hops) = route_layer();
    run(&mut group, rt, "route", route.layer(inner), plain);
    group.finish();
}

fn stacks(c: &mut Criterion) {
    let runtime = runtime();
    let _entered = runtime.enter();
    let mut group = c.benchmark_group("stack");
    let rt = &runtime;
    run(&mut group, rt, "bare", service_fn(bare), plain);
    run(&mut group, rt, "queue-proxy", queue_proxy(0), plain);
    run(&mut group, rt, "queue-proxy-cc10", queue_proxy(10), plain);
    let (activator_cc0, _channels) = activator(0);
    run(&mut group, rt, "activator", activator_cc0, named);
    let (activator_cc10, _channels) = activator(10);
    run(&mut group, rt, "activator-cc10", activator_cc10, named);
    group.finish();
}

criterion_group!(benches, layers, stacks);
criterion_main!(benches);
