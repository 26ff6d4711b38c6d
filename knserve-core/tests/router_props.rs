//! Invariants of the router (§6.2, §6.4) over random inputs: client-supplied internal
//! headers never reach upstream, and weighted splits follow their percents.

use std::{collections::HashMap, sync::Arc};

use http::{HeaderName, HeaderValue, Request, Response, header};
use knserve_core::RevisionKey;
use knserve_core::api::{ObjectMeta, RoutingConfig};
use knserve_core::config::{DomainConfig, FeaturesConfig, Flag};
use knserve_core::net::headers::{
    INTERNAL, KNATIVE_SERVING_DEFAULT_ROUTE, KNATIVE_SERVING_NAMESPACE, KNATIVE_SERVING_REVISION,
    is_probe_user_agent,
};
use knserve_core::net::{Body, empty};
use knserve_core::router::{Hop, Route, RouteTable, RouteTraffic, Router, Target};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::SmallRng};
use tokio::sync::watch;
use tower_test::mock::{self, Mock, Spawn};

const HOST: &str = "hello.default.example.com";

fn routing() -> RoutingConfig {
    RoutingConfig {
        domain: DomainConfig {
            domains: [("example.com".to_owned(), Default::default())].into(),
        },
        ..RoutingConfig::default()
    }
}

fn features(tag_routing: bool) -> FeaturesConfig {
    FeaturesConfig {
        tag_header_based_routing: if tag_routing {
            Flag::Enabled
        } else {
            Flag::Disabled
        },
        ..FeaturesConfig::default()
    }
}

type Inner = Mock<Request<Body>, Response<Body>>;
type InnerHandle = mock::Handle<Request<Body>, Response<Body>>;

/// A router over `hello` (100 % to hello-00002, tag v1 → hello-00001), both revisions
/// served directly.
fn router(tag_routing: bool) -> (Spawn<Route<Inner>>, InnerHandle) {
    let route = RouteTraffic::new(
        ObjectMeta::named("hello", "default"),
        vec![
            Target::new("hello-00002", 100),
            Target::new("hello-00001", 0).tagged("v1"),
        ],
    );
    let table = RouteTable::build(&routing(), &features(tag_routing), [route]).0;
    let instance = "127.0.0.1:8012".parse().unwrap();
    let hops: HashMap<_, _> = ["hello-00001", "hello-00002"]
        .into_iter()
        .map(|name| {
            (
                RevisionKey::new("default", name),
                Hop::Serve(vec![instance]),
            )
        })
        .collect();
    let (_, tables) = watch::channel(Arc::new(table));
    let (_, hops) = watch::channel(Arc::new(hops));
    let rng = SmallRng::seed_from_u64(1);
    let (inner, handle) = mock::pair();
    (Spawn::new(Route::new(inner, tables, hops, rng)), handle)
}

fn internal_headers() -> impl Strategy<Value = Vec<(HeaderName, Vec<String>)>> {
    let values = proptest::collection::vec("[ -~]{0,24}", 0..3);
    proptest::collection::vec(values, INTERNAL.len())
        .prop_map(|values| INTERNAL.iter().cloned().zip(values).collect())
}

fn user_agent() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("kube-probe/1.30".to_owned())),
        Just(Some("Knative-Activator-Probe".to_owned())),
        Just(Some("Knative-Ingress-Probe".to_owned())),
        "[ -~]{0,24}".prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_router_never_forwards_a_client_supplied_internal_header(
        spoofed in internal_headers(),
        agent in user_agent(),
        tag in prop::option::of(prop_oneof![Just("v1".to_owned()), "[a-z0-9]{1,8}"]),
        tag_routing in any::<bool>(),
    ) {
        let (mut service, mut handle) = router(tag_routing);
        let mut request = Request::get("/").header(header::HOST, HOST);
        for (name, values) in &spoofed {
            for value in values {
                request = request.header(name, value.as_str());
            }
        }
        if let Some(agent) = &agent {
            request = request.header(header::USER_AGENT, agent.as_str());
        }
        if let Some(tag) = &tag {
            request = request.header("knative-serving-tag", tag.as_str());
        }
        prop_assert!(service.poll_ready().is_ready());
        let _response = service.call(request.body(empty()).unwrap());
        let Some((upstream, _send)) = handle.poll_request().ready_or_none() else {
            return Err(TestCaseError::fail("the request was forwarded"));
        };
        let by_tag = tag_routing && tag.as_deref() == Some("v1");
        let revision = if by_tag { "hello-00001" } else { "hello-00002" };
        let mut expected = HashMap::from([
            (KNATIVE_SERVING_REVISION, revision),
            (KNATIVE_SERVING_NAMESPACE, "default"),
        ]);
        if tag_routing && !by_tag {
            expected.insert(KNATIVE_SERVING_DEFAULT_ROUTE, "true");
        }
        for name in &INTERNAL {
            let seen: Vec<&HeaderValue> = upstream.headers().get_all(name).iter().collect();
            let seen: Vec<&[u8]> = seen.into_iter().map(HeaderValue::as_bytes).collect();
            match expected.get(name) {
                Some(value) => prop_assert_eq!(seen, vec![value.as_bytes()],
                    "{} carries only the router's value", name),
                None => prop_assert!(seen.is_empty(), "{} from the client is removed: {:?}", name, seen),
            }
        }
        prop_assert!(!is_probe_user_agent(upstream.headers()), "no client passes as a probe");
    }
}

/// The ready value of a poll, or `None` when pending.
trait ReadyOrNone<T> {
    fn ready_or_none(self) -> Option<T>;
}

impl<T> ReadyOrNone<T> for std::task::Poll<Option<T>> {
    fn ready_or_none(self) -> Option<T> {
        match self {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => None,
        }
    }
}

/// 1 to 8 weights summing to 100 (some may be 0).
fn weights() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(0..=100u32, 0..8).prop_map(|mut cuts| {
        cuts.push(0);
        cuts.push(100);
        cuts.sort_unstable();
        cuts.windows(2).map(|w| w[1] - w[0]).collect()
    })
}

const REQUESTS: u32 = 100_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn a_weighted_split_lands_within_one_point_of_each_percent(
        weights in weights(),
        seed in any::<u64>(),
    ) {
        prop_assert_eq!(weights.iter().sum::<u32>(), 100);
        let targets = weights
            .iter()
            .enumerate()
            .map(|(i, w)| Target::new(format!("hello-{i:05}"), *w))
            .collect();
        let route = RouteTraffic::new(ObjectMeta::named("hello", "default"), targets);
        let (table, _) = RouteTable::build(&routing(), &features(false), [route]);
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut counts: HashMap<Arc<str>, u32> = HashMap::new();
        for _ in 0..REQUESTS {
            let decision = table.route(HOST, None, &mut rng).unwrap();
            *counts.entry(decision.revision.name).or_default() += 1;
        }
        for (i, weight) in weights.iter().enumerate() {
            let count = counts.get(format!("hello-{i:05}").as_str()).copied().unwrap_or(0);
            let share = f64::from(count) * 100.0 / f64::from(REQUESTS);
            prop_assert!(
                (share - f64::from(*weight)).abs() <= 1.0,
                "revision {} with {}% got {:.2}% of {} requests", i, weight, share, REQUESTS
            );
        }
    }
}
