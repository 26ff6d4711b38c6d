//! The ingress route table (§6.1–§6.3, hosts of §1.7): host matching, visibility, tag
//! hosts, tag header routing, and building traffic from Route objects.

use std::collections::BTreeMap;

use knserve_core::RevisionKey;
use knserve_core::api::{
    ObjectMeta, Route as RouteObject, RouteSpec, RouteStatus, RoutingConfig, TrafficTarget,
};
use knserve_core::config::{DomainConfig, FeaturesConfig, Flag, NetworkConfig};
use knserve_core::net::headers::{
    KNATIVE_SERVING_DEFAULT_ROUTE, KNATIVE_SERVING_NAMESPACE, KNATIVE_SERVING_REVISION,
    KNATIVE_SERVING_TAG,
};
use knserve_core::router::{
    BuildError, Decision, NoRoute, RouteTable, RouteTraffic, Router, Target, UnresolvedTarget,
    normalize_host,
};
use rand::{SeedableRng, rngs::SmallRng};

fn routing(domain: &str) -> RoutingConfig {
    RoutingConfig {
        network: NetworkConfig::default(),
        domain: DomainConfig {
            domains: BTreeMap::from([(domain.to_owned(), BTreeMap::new())]),
        },
    }
}

fn features(tag_header: Flag) -> FeaturesConfig {
    FeaturesConfig {
        tag_header_based_routing: tag_header,
        ..FeaturesConfig::default()
    }
}

/// `hello` in `default`: 100 % to hello-00002, tag `v1` → hello-00001 at 0 %.
fn hello() -> RouteTraffic {
    RouteTraffic::new(
        ObjectMeta::named("hello", "default"),
        vec![
            Target::new("hello-00002", 100),
            Target::new("hello-00001", 0).tagged("v1"),
        ],
    )
}

fn table_with(routes: Vec<RouteTraffic>, tag_header: Flag) -> RouteTable {
    let (table, errors) = RouteTable::build(&routing("example.com"), &features(tag_header), routes);
    assert_eq!(errors, vec![], "these routes build without problems");
    table
}

fn route(table: &RouteTable, host: &str, tag: Option<&str>) -> Result<Decision, NoRoute> {
    table.route(host, tag, &mut SmallRng::seed_from_u64(7))
}

fn revision_of(table: &RouteTable, host: &str) -> String {
    let decision = route(table, host, None).unwrap_or_else(|e| panic!("{host} routes: {e}"));
    decision.revision.name.to_string()
}

fn header<'a>(decision: &'a Decision, name: &http::HeaderName) -> Option<&'a str> {
    decision
        .headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.to_str().unwrap())
}

#[test]
fn the_external_host_comes_from_the_domain_template() {
    let table = table_with(vec![hello()], Flag::Disabled);
    assert_eq!(
        revision_of(&table, "hello.default.example.com"),
        "hello-00002"
    );
}

#[test]
fn every_cluster_local_form_of_the_route_answers() {
    let table = table_with(vec![hello()], Flag::Disabled);
    for host in [
        "hello.default",
        "hello.default.svc",
        "hello.default.svc.cluster.local",
    ] {
        assert_eq!(
            revision_of(&table, host),
            "hello-00002",
            "{host} is a cluster-local name"
        );
    }
}

#[test]
fn ports_case_and_a_trailing_dot_do_not_matter() {
    let table = table_with(vec![hello()], Flag::Disabled);
    for host in [
        "hello.default.example.com:80",
        "HELLO.Default.Example.COM",
        "Hello.default.svc:8080",
        "hello.default.example.com.",
    ] {
        assert_eq!(revision_of(&table, host), "hello-00002", "{host} matches");
    }
    assert_eq!(normalize_host("[::1]:8080"), "[::1]");
}

#[test]
fn a_tag_host_sends_everything_to_its_revision_even_at_zero_percent() {
    let table = table_with(vec![hello()], Flag::Disabled);
    for host in [
        "v1-hello.default.example.com",
        "v1-hello.default",
        "v1-hello.default.svc",
        "v1-hello.default.svc.cluster.local",
    ] {
        let weights = table.weights(host).expect("the tag host answers");
        assert_eq!(
            weights,
            vec![(RevisionKey::new("default", "hello-00001"), 100)],
            "{host} sends 100 % to the tag's revision"
        );
    }
}

#[test]
fn the_default_hosts_split_over_all_targets_tagged_or_not() {
    let route = RouteTraffic::new(
        ObjectMeta::named("hello", "default"),
        vec![
            Target::new("hello-00001", 30).tagged("old"),
            Target::new("hello-00002", 70),
        ],
    );
    let table = table_with(vec![route], Flag::Disabled);
    assert_eq!(
        table.weights("hello.default.example.com"),
        Some(vec![
            (RevisionKey::new("default", "hello-00001"), 30),
            (RevisionKey::new("default", "hello-00002"), 70),
        ]),
        "a tagged target keeps its share of the default traffic"
    );
}

#[test]
fn a_cluster_local_route_answers_only_cluster_local_hosts() {
    let mut route = hello();
    route.metadata.labels.insert(
        "networking.knative.dev/visibility".to_owned(),
        "cluster-local".to_owned(),
    );
    let table = table_with(vec![route], Flag::Disabled);
    assert!(route_fails(&table, "hello.default.example.com"));
    assert!(route_fails(&table, "v1-hello.default.example.com"));
    assert_eq!(
        revision_of(&table, "hello.default.svc.cluster.local"),
        "hello-00002"
    );
    assert_eq!(revision_of(&table, "v1-hello.default"), "hello-00001");
}

fn route_fails(table: &RouteTable, host: &str) -> bool {
    route(table, host, None).is_err()
}

#[test]
fn without_a_configured_domain_every_route_is_cluster_local() {
    let (table, errors) = RouteTable::build(
        &RoutingConfig::default(),
        &FeaturesConfig::default(),
        vec![hello()],
    );
    assert_eq!(errors, vec![]);
    let mut hosts: Vec<_> = table.hosts().collect();
    hosts.sort_unstable();
    assert_eq!(
        hosts,
        [
            "hello.default",
            "hello.default.svc",
            "hello.default.svc.cluster.local",
            "v1-hello.default",
            "v1-hello.default.svc",
            "v1-hello.default.svc.cluster.local",
        ],
        "the default domain svc.<cluster-domain> makes the route cluster-local"
    );
}

#[test]
fn an_unknown_host_is_no_route_naming_the_host() {
    let table = table_with(vec![hello()], Flag::Disabled);
    let error = route(&table, "Nope.Example.com:80", None).unwrap_err();
    assert_eq!(error.host, "nope.example.com");
    assert_eq!(error.to_string(), "no route for host \"nope.example.com\"");
}

#[test]
fn decisions_set_the_revision_and_namespace_headers() {
    let table = table_with(vec![hello()], Flag::Disabled);
    let decision = route(&table, "hello.default.example.com", None).unwrap();
    assert_eq!(
        header(&decision, &KNATIVE_SERVING_REVISION),
        Some("hello-00002")
    );
    assert_eq!(
        header(&decision, &KNATIVE_SERVING_NAMESPACE),
        Some("default")
    );
    assert_eq!(
        decision.headers.len(),
        2,
        "no tag headers while tag routing is off"
    );
}

#[test]
fn with_tag_routing_off_the_tag_header_is_ignored() {
    let table = table_with(vec![hello()], Flag::Disabled);
    let decision = route(&table, "hello.default.example.com", Some("v1")).unwrap();
    assert_eq!(decision.revision.name.as_ref(), "hello-00002");
}

#[test]
fn with_tag_routing_on_the_tag_header_picks_the_tags_revision() {
    let table = table_with(vec![hello()], Flag::Enabled);
    let decision = route(&table, "hello.default.example.com", Some("v1")).unwrap();
    assert_eq!(decision.revision.name.as_ref(), "hello-00001");
    assert_eq!(header(&decision, &KNATIVE_SERVING_DEFAULT_ROUTE), None);
    assert_eq!(
        header(&decision, &KNATIVE_SERVING_TAG),
        None,
        "the client's header stays"
    );
}

#[test]
fn with_tag_routing_on_an_unknown_tag_falls_through_to_the_default_route() {
    let table = table_with(vec![hello()], Flag::Enabled);
    for tag in [Some("v9"), None] {
        let decision = route(&table, "hello.default.example.com", tag).unwrap();
        assert_eq!(decision.revision.name.as_ref(), "hello-00002");
        assert_eq!(
            header(&decision, &KNATIVE_SERVING_DEFAULT_ROUTE),
            Some("true")
        );
    }
}

#[test]
fn with_tag_routing_on_a_tag_host_gets_the_tag_header() {
    let table = table_with(vec![hello()], Flag::Enabled);
    let decision = route(&table, "v1-hello.default.example.com", Some("other")).unwrap();
    assert_eq!(decision.revision.name.as_ref(), "hello-00001");
    assert_eq!(header(&decision, &KNATIVE_SERVING_TAG), Some("v1"));
    assert_eq!(header(&decision, &KNATIVE_SERVING_DEFAULT_ROUTE), None);
}

#[test]
fn allowed_does_not_turn_tag_routing_on() {
    let table = table_with(vec![hello()], Flag::Allowed);
    assert!(!table.tag_header_routing());
}

#[test]
fn a_contested_host_stays_with_the_first_route_by_namespace_and_name() {
    let first = hello();
    let second = RouteTraffic::new(
        ObjectMeta::named("v1-hello", "default"),
        vec![Target::new("other-00001", 100)],
    );
    let (table, errors) = RouteTable::build(
        &routing("example.com"),
        &features(Flag::Disabled),
        vec![second, first],
    );
    assert_eq!(
        revision_of(&table, "v1-hello.default.example.com"),
        "hello-00001"
    );
    assert_eq!(
        errors.len(),
        4,
        "each of the 4 hosts of v1-hello is reported: {errors:?}"
    );
    assert!(matches!(
        &errors[0],
        BuildError::HostTaken { route, owner, .. } if route == "default/v1-hello" && owner == "default/hello"
    ));
}

#[test]
fn a_route_without_positive_percents_keeps_only_its_tag_hosts() {
    let route = RouteTraffic::new(
        ObjectMeta::named("hello", "default"),
        vec![Target::new("hello-00001", 0).tagged("v1")],
    );
    let (table, errors) = RouteTable::build(
        &routing("example.com"),
        &features(Flag::Disabled),
        vec![route],
    );
    assert_eq!(
        errors,
        vec![BuildError::NoTraffic {
            route: "default/hello".to_owned()
        }]
    );
    assert!(route_fails(&table, "hello.default.example.com"));
    assert_eq!(
        revision_of(&table, "v1-hello.default.example.com"),
        "hello-00001"
    );
}

#[test]
fn a_custom_domain_template_names_the_external_host() {
    let mut config = routing("example.com");
    config.network.domain_template = "{{.Name}}-{{.Namespace}}.{{.Domain}}".to_owned();
    let (table, errors) = RouteTable::build(&config, &features(Flag::Disabled), vec![hello()]);
    assert_eq!(errors, vec![]);
    assert_eq!(
        revision_of(&table, "hello-default.example.com"),
        "hello-00002"
    );
    assert_eq!(
        revision_of(&table, "v1-hello-default.example.com"),
        "hello-00001"
    );
    assert!(route_fails(&table, "hello.default.example.com"));
}

#[test]
fn a_route_with_a_broken_template_is_left_out_and_reported() {
    let mut config = routing("example.com");
    config.network.domain_template = "{{.Name}}.{{.Oops}}".to_owned();
    let (table, errors) = RouteTable::build(&config, &features(Flag::Disabled), vec![hello()]);
    assert_eq!(table.hosts().count(), 0);
    assert!(
        matches!(&errors[..], [BuildError::Template { route, .. }] if route == "default/hello")
    );
}

fn target(revision: Option<&str>, configuration: Option<&str>, percent: i64) -> TrafficTarget {
    TrafficTarget {
        revision_name: revision.map(str::to_owned),
        configuration_name: configuration.map(str::to_owned),
        percent: Some(percent),
        ..TrafficTarget::default()
    }
}

#[test]
fn route_objects_use_their_status_traffic() {
    let mut object = RouteObject::new(
        ObjectMeta::named("hello", "default"),
        RouteSpec {
            traffic: vec![target(None, Some("hello"), 100)],
            ..RouteSpec::default()
        },
    );
    object.status = Some(RouteStatus {
        traffic: vec![target(Some("hello-00003"), None, 100)],
        ..RouteStatus::default()
    });
    let traffic = RouteTraffic::from_route(&object).unwrap();
    assert_eq!(traffic.targets, vec![Target::new("hello-00003", 100)]);
}

#[test]
fn route_objects_without_status_need_revision_names_in_spec() {
    let spec = |targets| RouteSpec {
        traffic: targets,
        ..RouteSpec::default()
    };
    let meta = ObjectMeta::named("hello", "default");
    let named = RouteObject::new(
        meta.clone(),
        spec(vec![target(Some("hello-00001"), None, 100)]),
    );
    assert_eq!(
        RouteTraffic::from_route(&named).unwrap().targets,
        vec![Target::new("hello-00001", 100)]
    );
    let by_config = RouteObject::new(meta, spec(vec![target(None, Some("hello"), 100)]));
    assert_eq!(
        RouteTraffic::from_route(&by_config).unwrap_err(),
        UnresolvedTarget {
            route: "default/hello".to_owned(),
            index: 0,
            configuration: "hello".to_owned()
        }
    );
    let resolved = RouteTraffic::from_spec(&by_config, |c| {
        (c == "hello").then(|| "hello-00004".to_owned())
    });
    assert_eq!(
        resolved.unwrap().targets,
        vec![Target::new("hello-00004", 100)]
    );
}
