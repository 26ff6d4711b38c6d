//! Route → networking Ingress (spec §6.1).
//!
//! [`desired_ingress`] turns a Route whose `status.traffic` is already resolved (concrete
//! revision names, a URL per tag) into the `networking.internal.knative.dev` Ingress the
//! ingress server programs. Not modelled: gradual-rollout splits (§6.1 step 4), the
//! `tag-to-host` annotation and tag-header routing (feature off by default).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use knserve_core::api::{RoutingConfig, TrafficTarget, is_visibility_cluster_local, keys};
use knserve_core::config::{HttpProtocol, InvalidConfig, Lookup, NetworkConfig};

use super::revision::{InvalidInput, controller_ref, namespace_of};
use crate::crd::networking::{
    HeaderMatch, HttpIngressPath, HttpIngressRuleValue, IngressBackendSplit, IngressRule,
};
use crate::crd::{Ingress, IngressSpec, Route};

/// knserve's ingress class, used when neither the route nor `config-network` names one.
pub const DEFAULT_INGRESS_CLASS: &str = "knserve.ingress.networking.knative.dev";
/// The annotation (on the Route and the Ingress) naming the ingress class.
pub const INGRESS_CLASS_ANNOTATION: &str = "networking.knative.dev/ingress.class";
/// The Route annotation overriding `config-network` `http-protocol`.
pub const HTTP_PROTOCOL_ANNOTATION: &str = "networking.knative.dev/http-protocol";
/// The header naming the revision a split goes to.
pub const REVISION_HEADER: &str = "Knative-Serving-Revision";
/// The header naming the revision's namespace.
pub const NAMESPACE_HEADER: &str = "Knative-Serving-Namespace";
/// The header a client names a route's tag with, and the tag rules append (§6.3).
pub const TAG_HEADER: &str = "Knative-Serving-Tag";
/// The header the default path appends when tag-header routing is on.
pub const DEFAULT_ROUTE_HEADER: &str = "Knative-Serving-Default-Route";

/// The `config-network` settings an Ingress is built with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressSettings {
    /// Host templates, cluster domain (`cluster-domain`, default `cluster.local`).
    pub network: NetworkConfig,
    /// `ingress-class`, default [`DEFAULT_INGRESS_CLASS`] (not Knative's Istio class:
    /// knserve ships its own ingress).
    pub ingress_class: String,
    /// `config-features`' `tag-header-based-routing` is `Enabled` (spec §6.3).
    pub tag_header_routing: bool,
}

impl Default for IngressSettings {
    fn default() -> Self {
        Self {
            network: NetworkConfig::default(),
            ingress_class: DEFAULT_INGRESS_CLASS.to_owned(),
            tag_header_routing: false,
        }
    }
}

impl IngressSettings {
    /// Reads `config-network`'s data; an absent `ingress-class` is knserve's.
    ///
    /// # Errors
    /// A key that breaks its rule, named by [`NetworkConfig::from_map`].
    pub fn from_map(data: &(impl Lookup + ?Sized)) -> Result<Self, InvalidConfig> {
        let network = NetworkConfig::from_map(data)?;
        let ingress_class = match data.lookup("ingress-class").map(str::trim) {
            Some(class) if !class.is_empty() => class.to_owned(),
            _ => DEFAULT_INGRESS_CLASS.to_owned(),
        };
        Ok(Self {
            network,
            ingress_class,
            tag_header_routing: false,
        })
    }
}

/// The Ingress of `route` (spec §6.1): for the default name and then each tag in sorted
/// order, a `ClusterLocal` rule (`<n>.<ns>`, `<n>.<ns>.svc`, `<n>.<ns>.svc.<domain>`)
/// and, unless the route is cluster-local, an `ExternalIP` rule for the host of its URL
/// (`status.url`, or the tag's `url`). Each rule's splits go to the revisions' public
/// Services, port 81 when `is_h2c(revision)` else 80, with the revision and namespace
/// headers; a name with a single revision gets 100%.
///
/// With tag-header routing on (§6.3, as Knative's `MakeIngressSpec`), each rule of the
/// default name gets, before its path, one path per tag that takes requests carrying
/// `Knative-Serving-Tag: <tag>` to the tag's revision, and its own path appends
/// `Knative-Serving-Default-Route: true`; each tag's rules append
/// `Knative-Serving-Tag: <tag>`.
///
/// Choices: a URL whose host is one of the cluster-local hosts (no domain configured)
/// adds no `ExternalIP` rule; a name whose URL is not known yet gets only its
/// `ClusterLocal` rule.
///
/// # Errors
/// A route without name, namespace or uid, with no resolved traffic, or with a target
/// that has no revision name or a tag the tag template cannot render.
pub fn desired_ingress(
    route: &Route,
    settings: &IngressSettings,
    is_h2c: &dyn Fn(&str) -> bool,
) -> Result<Ingress, InvalidInput> {
    let name = route
        .metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| InvalidInput::new("metadata.name", "the route must have a name"))?;
    let namespace = namespace_of(route)?;
    let status = route.status.as_ref();
    let traffic: &[TrafficTarget] = status.map(|s| s.traffic.as_slice()).unwrap_or_default();
    if traffic.is_empty() {
        return Err(InvalidInput::new(
            "status.traffic",
            "must be resolved to revisions before the ingress is built",
        ));
    }
    let cluster_local = route
        .metadata
        .labels
        .as_ref()
        .is_some_and(is_visibility_cluster_local);
    let routing = RoutingConfig {
        network: settings.network.clone(),
        ..RoutingConfig::default()
    };
    let mut rules = Vec::new();
    let names = traffic_names(traffic)?;
    for (tag, targets) in &names {
        let host_name = routing
            .traffic_name(&name, (!tag.is_empty()).then_some(tag.as_str()))
            .map_err(|_| {
                InvalidInput::new("status.traffic.tag", "the tag template cannot render it")
            })?;
        let mut http = paths(targets, &namespace, is_h2c);
        if settings.tag_header_routing {
            tag_header_paths(&mut http, tag, &names, &namespace, is_h2c);
        }
        let local_hosts = routing.cluster_local_hosts(&host_name, &namespace).to_vec();
        let url = if tag.is_empty() {
            status.and_then(|s| s.url.clone())
        } else {
            targets.iter().find_map(|t| t.url.clone())
        };
        let external = url
            .as_deref()
            .map(url_host)
            .filter(|h| !cluster_local && !h.is_empty() && !local_hosts.iter().any(|l| l == h));
        rules.push(rule(local_hosts, "ClusterLocal", http.clone()));
        if let Some(host) = external {
            rules.push(rule(vec![host.to_owned()], "ExternalIP", http));
        }
    }
    ingress(route, name, namespace, settings, rules)
}

/// Tag-header routing on the rules of traffic name `tag` (§6.3).
fn tag_header_paths(
    http: &mut HttpIngressRuleValue,
    tag: &str,
    names: &BTreeMap<String, Vec<TrafficTarget>>,
    namespace: &str,
    is_h2c: &dyn Fn(&str) -> bool,
) {
    let Some(own) = http.paths.first_mut() else {
        return;
    };
    if !tag.is_empty() {
        own.append_headers
            .insert(TAG_HEADER.to_owned(), tag.to_owned());
        return;
    }
    own.append_headers
        .insert(DEFAULT_ROUTE_HEADER.to_owned(), "true".to_owned());
    let tagged = names
        .iter()
        .filter(|(name, _)| !name.is_empty())
        .flat_map(|(name, targets)| {
            paths(targets, namespace, is_h2c)
                .paths
                .into_iter()
                .map(|path| HttpIngressPath {
                    headers: [(
                        TAG_HEADER.to_owned(),
                        HeaderMatch {
                            exact: name.clone(),
                        },
                    )]
                    .into(),
                    ..path
                })
        });
    http.paths.splice(0..0, tagged.collect::<Vec<_>>());
}

fn ingress(
    route: &Route,
    name: String,
    namespace: String,
    settings: &IngressSettings,
    rules: Vec<IngressRule>,
) -> Result<Ingress, InvalidInput> {
    let route_annotations = route.metadata.annotations.clone().unwrap_or_default();
    let class = route_annotations
        .get(INGRESS_CLASS_ANNOTATION)
        .cloned()
        .unwrap_or_else(|| settings.ingress_class.clone());
    let http_option = match route_annotations
        .get(HTTP_PROTOCOL_ANNOTATION)
        .map(String::as_str)
    {
        Some(p) if p.eq_ignore_ascii_case("redirected") => "Redirected",
        Some(_) => "Enabled",
        None => match settings.network.http_protocol {
            // KIngress has no "Disabled" HTTP option; knserve keeps plain HTTP served.
            HttpProtocol::Enabled | HttpProtocol::Disabled => "Enabled",
            HttpProtocol::Redirected => "Redirected",
        },
    };
    let mut annotations: BTreeMap<String, String> = route_annotations
        .into_iter()
        .filter(|(k, _)| k != keys::LAST_APPLIED_CONFIGURATION)
        .collect();
    annotations.insert(INGRESS_CLASS_ANNOTATION.to_owned(), class);
    let mut labels = route.metadata.labels.clone().unwrap_or_default();
    labels.insert(keys::ROUTE_LABEL.to_owned(), name.clone());
    labels.insert(keys::ROUTE_NAMESPACE_LABEL.to_owned(), namespace.clone());
    let mut ingress = Ingress::new(
        &name,
        IngressSpec {
            tls: Vec::new(),
            rules,
            http_option: http_option.to_owned(),
        },
    );
    ingress.metadata = ObjectMeta {
        name: Some(name),
        namespace: Some(namespace),
        labels: Some(labels),
        annotations: Some(annotations),
        owner_references: Some(vec![controller_ref(route)?]),
        ..ObjectMeta::default()
    };
    Ok(ingress)
}

/// The targets of each traffic name: `""` has every target, each tag its own; sorted by
/// name (so `""` first).
fn traffic_names(
    traffic: &[TrafficTarget],
) -> Result<BTreeMap<String, Vec<TrafficTarget>>, InvalidInput> {
    let mut names: BTreeMap<String, Vec<TrafficTarget>> = BTreeMap::new();
    for (i, target) in traffic.iter().enumerate() {
        if target.revision_name().is_empty() {
            return Err(InvalidInput::new(
                format!("status.traffic[{i}].revisionName"),
                "must name the resolved revision",
            ));
        }
        names.entry(String::new()).or_default().push(target.clone());
        if !target.tag().is_empty() {
            names
                .entry(target.tag().to_owned())
                .or_default()
                .push(target.clone());
        }
    }
    Ok(names)
}

/// One path with a split per revision (percents of the same revision summed, zero
/// shares dropped, a lone revision at 100%).
fn paths(
    targets: &[TrafficTarget],
    namespace: &str,
    is_h2c: &dyn Fn(&str) -> bool,
) -> HttpIngressRuleValue {
    let mut shares: Vec<(String, i64)> = Vec::new();
    for target in targets {
        let revision = target.revision_name();
        match shares.iter_mut().find(|(r, _)| r == revision) {
            Some((_, percent)) => *percent += target.percent(),
            None => shares.push((revision.to_owned(), target.percent())),
        }
    }
    if shares.len() == 1 {
        shares[0].1 = 100;
    }
    let splits = shares
        .into_iter()
        .filter(|(_, percent)| *percent > 0)
        .map(|(revision, percent)| IngressBackendSplit {
            service_namespace: namespace.to_owned(),
            service_port: IntOrString::Int(if is_h2c(&revision) { 81 } else { 80 }),
            percent: i32::try_from(percent).unwrap_or(100),
            append_headers: [
                (REVISION_HEADER.to_owned(), revision.clone()),
                (NAMESPACE_HEADER.to_owned(), namespace.to_owned()),
            ]
            .into(),
            service_name: revision,
        })
        .collect();
    HttpIngressRuleValue {
        paths: vec![HttpIngressPath {
            splits,
            ..HttpIngressPath::default()
        }],
    }
}

fn rule(hosts: Vec<String>, visibility: &str, http: HttpIngressRuleValue) -> IngressRule {
    IngressRule {
        hosts,
        visibility: visibility.to_owned(),
        http: Some(http),
    }
}

/// The host of a URL: between `://` and the first `/`, `:` (port) or `?`.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.split(':').next().unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// helloworld-go's Route as the Route reconciler resolves it: 80% to revision 2,
    /// 20% to revision 1 under the tag `v1`.
    const ROUTE: &str = r#"
apiVersion: serving.knative.dev/v1
kind: Route
metadata:
  name: helloworld-go
  namespace: example
  uid: 7d4f0a5e-0000-4000-8000-0000000000b0
  labels:
    serving.knative.dev/service: helloworld-go
spec:
  traffic:
  - latestRevision: true
    percent: 80
  - revisionName: helloworld-go-00001
    percent: 20
    tag: v1
status:
  url: http://helloworld-go.example.example.com
  traffic:
  - revisionName: helloworld-go-00002
    latestRevision: true
    percent: 80
  - revisionName: helloworld-go-00001
    latestRevision: false
    percent: 20
    tag: v1
    url: http://v1-helloworld-go.example.example.com
"#;

    fn route() -> Route {
        serde_yaml_ng::from_str(ROUTE).expect("the sample route parses")
    }

    fn build(route: &Route) -> Ingress {
        desired_ingress(route, &IngressSettings::default(), &|_| false).expect("builds")
    }

    fn splits(rule: &IngressRule) -> Vec<(String, i32)> {
        let path = &rule.http.as_ref().expect("http").paths[0];
        path.splits
            .iter()
            .map(|s| (s.service_name.clone(), s.percent))
            .collect()
    }

    #[test]
    fn each_traffic_name_gets_a_cluster_local_and_an_external_rule_in_sorted_order() {
        let ingress = build(&route());
        let rules = &ingress.spec.rules;
        let summary: Vec<(&str, &str)> = rules
            .iter()
            .map(|r| (r.visibility.as_str(), r.hosts[0].as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("ClusterLocal", "helloworld-go.example"),
                ("ExternalIP", "helloworld-go.example.example.com"),
                ("ClusterLocal", "v1-helloworld-go.example"),
                ("ExternalIP", "v1-helloworld-go.example.example.com"),
            ]
        );
        assert_eq!(
            rules[0].hosts,
            [
                "helloworld-go.example",
                "helloworld-go.example.svc",
                "helloworld-go.example.svc.cluster.local"
            ]
        );
    }

    #[test]
    fn the_default_name_splits_and_a_tag_gets_its_revision_at_100() {
        let ingress = build(&route());
        let rules = &ingress.spec.rules;
        assert_eq!(
            splits(&rules[0]),
            [
                ("helloworld-go-00002".to_owned(), 80),
                ("helloworld-go-00001".to_owned(), 20)
            ]
        );
        assert_eq!(
            splits(&rules[1]),
            splits(&rules[0]),
            "same splits on both visibilities"
        );
        assert_eq!(
            splits(&rules[2]),
            [("helloworld-go-00001".to_owned(), 100)],
            "a tag URL always reaches its revision"
        );
        let split = &rules[0].http.as_ref().expect("http").paths[0].splits[0];
        assert_eq!(split.service_namespace, "example");
        assert_eq!(split.service_port, IntOrString::Int(80));
        assert_eq!(split.append_headers[REVISION_HEADER], "helloworld-go-00002");
        assert_eq!(split.append_headers[NAMESPACE_HEADER], "example");
    }

    #[test]
    fn a_tag_with_zero_percent_still_gets_100_on_its_own_host() {
        let mut route = route();
        let status = route.status.as_mut().expect("status");
        status.traffic[0].percent = Some(100);
        status.traffic[1].percent = Some(0);
        let ingress = build(&route);
        let rules = &ingress.spec.rules;
        assert_eq!(splits(&rules[0]), [("helloworld-go-00002".to_owned(), 100)]);
        assert_eq!(splits(&rules[2]), [("helloworld-go-00001".to_owned(), 100)]);
    }

    #[test]
    fn h2c_revisions_are_reached_on_port_81() {
        let ingress = desired_ingress(&route(), &IngressSettings::default(), &|rev| {
            rev == "helloworld-go-00001"
        })
        .expect("builds");
        let split = |i: usize| {
            ingress.spec.rules[0].http.as_ref().expect("http").paths[0].splits[i]
                .service_port
                .clone()
        };
        assert_eq!(
            (split(0), split(1)),
            (IntOrString::Int(80), IntOrString::Int(81))
        );
    }

    #[test]
    fn a_cluster_local_route_has_no_external_rules() {
        let mut route = route();
        route.metadata.labels.get_or_insert_default().insert(
            "networking.knative.dev/visibility".into(),
            "cluster-local".into(),
        );
        let ingress = build(&route);
        assert!(
            ingress
                .spec
                .rules
                .iter()
                .all(|r| r.visibility == "ClusterLocal")
        );
        assert_eq!(ingress.spec.rules.len(), 2);
    }

    #[test]
    fn a_url_under_the_cluster_domain_adds_no_external_rule() {
        let mut route = route();
        let status = route.status.as_mut().expect("status");
        status.url = Some("http://helloworld-go.example.svc.cluster.local".into());
        let ingress = build(&route);
        assert_eq!(ingress.spec.rules[0].visibility, "ClusterLocal");
        assert_eq!(
            ingress.spec.rules[1].visibility, "ClusterLocal",
            "the tag's rules follow"
        );
    }

    #[test]
    fn class_labels_owner_and_http_option_are_set() {
        let ingress = build(&route());
        let meta = &ingress.metadata;
        assert_eq!(meta.name.as_deref(), Some("helloworld-go"));
        let annotations = meta.annotations.as_ref().expect("annotations");
        assert_eq!(annotations[INGRESS_CLASS_ANNOTATION], DEFAULT_INGRESS_CLASS);
        let labels = meta.labels.as_ref().expect("labels");
        assert_eq!(labels["serving.knative.dev/route"], "helloworld-go");
        assert_eq!(labels["serving.knative.dev/routeNamespace"], "example");
        let owner = &meta.owner_references.as_ref().expect("owner")[0];
        assert_eq!(
            (owner.kind.as_str(), owner.block_owner_deletion),
            ("Route", Some(true))
        );
        assert_eq!(ingress.spec.http_option, "Enabled");
        let mut annotated = route();
        annotated
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(
                INGRESS_CLASS_ANNOTATION.into(),
                "kourier.ingress.networking.knative.dev".into(),
            );
        let ingress = build(&annotated);
        let annotations = ingress.metadata.annotations.expect("annotations");
        assert_eq!(
            annotations[INGRESS_CLASS_ANNOTATION], "kourier.ingress.networking.knative.dev",
            "the route's class wins"
        );
    }

    #[test]
    fn config_network_sets_the_class_and_cluster_domain() {
        let data: BTreeMap<String, String> = [
            (
                "ingress-class".to_owned(),
                "contour.ingress.networking.knative.dev".to_owned(),
            ),
            ("cluster-domain".to_owned(), "corp.internal".to_owned()),
        ]
        .into();
        let settings = IngressSettings::from_map(&data).expect("valid");
        let ingress = desired_ingress(&route(), &settings, &|_| false).expect("builds");
        assert_eq!(
            ingress.spec.rules[0].hosts[2],
            "helloworld-go.example.svc.corp.internal"
        );
        let empty = IngressSettings::from_map(&BTreeMap::new()).expect("valid");
        assert_eq!(
            empty.ingress_class, DEFAULT_INGRESS_CLASS,
            "knserve's class by default"
        );
    }

    #[test]
    fn unresolved_traffic_is_an_error_naming_the_field() {
        let mut route = route();
        route.status = None;
        let err = desired_ingress(&route, &IngressSettings::default(), &|_| false)
            .expect_err("no traffic");
        assert_eq!(err.field, "status.traffic");
        let mut route = self::route();
        route.status.as_mut().expect("status").traffic[1].revision_name = None;
        let err = desired_ingress(&route, &IngressSettings::default(), &|_| false)
            .expect_err("no revision");
        assert_eq!(err.field, "status.traffic[1].revisionName");
    }

    #[test]
    fn url_hosts_drop_scheme_port_and_path() {
        assert_eq!(
            url_host("http://a.b.example.com:8080/x?y"),
            "a.b.example.com"
        );
        assert_eq!(url_host("https://a.example.com"), "a.example.com");
        assert_eq!(url_host("a.example.com/path"), "a.example.com");
    }

    /// §6.3 with the feature on, as Knative's `MakeIngressSpec` writes it: the default
    /// name's rules (both visibilities) first take `Knative-Serving-Tag: v1` to the
    /// tag's revision, then split as before with `Knative-Serving-Default-Route: true`;
    /// the tag's rules append `Knative-Serving-Tag: v1`.
    #[test]
    fn tag_header_routing_adds_a_path_per_tag_before_the_default_one() {
        let settings = IngressSettings {
            tag_header_routing: true,
            ..IngressSettings::default()
        };
        let ingress = desired_ingress(&route(), &settings, &|_| false).expect("builds");
        let rules = &ingress.spec.rules;
        assert_eq!(rules.len(), 4, "{rules:#?}");
        for rule in &rules[..2] {
            let paths = &rule.http.as_ref().expect("http").paths;
            assert_eq!(paths.len(), 2, "{paths:#?}");
            assert_eq!(paths[0].headers[TAG_HEADER].exact, "v1");
            assert_eq!(
                paths[0]
                    .splits
                    .iter()
                    .map(|s| (s.service_name.as_str(), s.percent))
                    .collect::<Vec<_>>(),
                [("helloworld-go-00001", 100)]
            );
            assert!(paths[1].headers.is_empty());
            assert_eq!(paths[1].append_headers[DEFAULT_ROUTE_HEADER], "true");
            assert_eq!(paths[1].splits.len(), 2, "the default split stays");
        }
        for rule in &rules[2..] {
            let paths = &rule.http.as_ref().expect("http").paths;
            assert_eq!(paths.len(), 1);
            assert_eq!(paths[0].append_headers[TAG_HEADER], "v1");
        }
        let off = build(&route());
        assert!(
            off.spec.rules.iter().all(|r| {
                let paths = &r.http.as_ref().expect("http").paths;
                paths.len() == 1 && !paths[0].append_headers.contains_key(TAG_HEADER)
            }),
            "off by default: one path per rule, no tag headers"
        );
    }
}
