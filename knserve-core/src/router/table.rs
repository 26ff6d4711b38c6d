//! [`RouteTable`]: Host (and tag header) to a revision, as the KIngress of §6.1 says.

use std::{borrow::Cow, collections::BTreeMap, collections::HashMap, sync::Arc};

use http::{HeaderName, HeaderValue};
use rand::Rng;
use tracing::debug;

use super::split::{BadName, Split, Splits};
use super::traffic::RouteTraffic;
use crate::RevisionKey;
use crate::api::{RoutingConfig, TemplateError};
use crate::config::{FeaturesConfig, Flag};
use crate::net::headers::{KNATIVE_SERVING_DEFAULT_ROUTE, KNATIVE_SERVING_TAG};

/// Chooses the revision a request goes to, from its Host and its `Knative-Serving-Tag`
/// header (§6.2, §6.3).
///
/// This is the ingress's only decision; everything after it (which instance, or the
/// activator) belongs to the revision. An implementation is pure: the same table, host,
/// tag and random draws give the same decision.
///
/// # Example
/// [`RouteTable`] is the implementation the ingress uses:
///
/// ```
/// use knserve_core::{
///     RevisionKey,
///     api::{ObjectMeta, RoutingConfig},
///     config::FeaturesConfig,
///     router::{RouteTable, RouteTraffic, Router, Target},
/// };
/// use rand::{SeedableRng, rngs::SmallRng};
///
/// let route = RouteTraffic::new(
///     ObjectMeta::named("hello", "default"),
///     vec![Target::new("hello-00001", 100)],
/// );
/// let (table, errors) =
///     RouteTable::build(&RoutingConfig::default(), &FeaturesConfig::default(), [route]);
/// assert!(errors.is_empty(), "{errors:?}");
///
/// let mut rng = SmallRng::seed_from_u64(7);
/// let decision = table.route("Hello.default.svc.cluster.local:80", None, &mut rng)?;
/// assert_eq!(decision.revision, RevisionKey::new("default", "hello-00001"));
/// assert!(table.route("nobody.example.com", None, &mut rng).is_err(), "404: no route");
/// # Ok::<_, knserve_core::router::NoRoute>(())
/// ```
pub trait Router {
    /// The revision for a request to `host` (any case, with or without `:port`)
    /// carrying `tag_header` as its `Knative-Serving-Tag` value, and the headers to set
    /// on the request before it goes upstream. Weighted splits draw from `rng`.
    fn route(
        &self,
        host: &str,
        tag_header: Option<&str>,
        rng: &mut impl Rng,
    ) -> Result<Decision, NoRoute>;
}

/// Where a request goes and what the ingress adds to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The chosen revision.
    pub revision: RevisionKey,
    /// Headers to set on the upstream request, replacing any of the same name:
    /// `Knative-Serving-Revision`, `Knative-Serving-Namespace` and, with tag header
    /// routing, `Knative-Serving-Default-Route: true` or `Knative-Serving-Tag: <tag>`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// No route answers the host; the router answers 404.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no route for host {host:?}")]
pub struct NoRoute {
    /// The host as looked up: port stripped, lowercased.
    pub host: String,
}

/// Why a route (or one of its hosts) was left out of a [`RouteTable`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The domain or tag template could not be rendered for the route; it is left out.
    #[error("route {route}: cannot render its hosts")]
    Template {
        /// The route, `namespace/name`.
        route: String,
        /// The template problem.
        #[source]
        source: TemplateError,
    },
    /// A revision or namespace name is not a valid header value; the route is left out.
    #[error("route {route}: name {name:?} cannot be sent in a header")]
    BadName {
        /// The route, `namespace/name`.
        route: String,
        /// The offending name.
        name: String,
    },
    /// No target of the route has a positive percent, so its default hosts are left
    /// out; its tag hosts still answer.
    #[error("route {route}: no target has a positive percent")]
    NoTraffic {
        /// The route, `namespace/name`.
        route: String,
    },
    /// Another route (or another name of the same route) already answers the host; the
    /// first in `namespace/name` order keeps it.
    #[error("host {host} of route {route} is already served by route {owner}")]
    HostTaken {
        /// The contested host.
        host: String,
        /// The route that lost it.
        route: String,
        /// The route that keeps it.
        owner: String,
    },
}

/// What one host answers: one traffic name (the default target or a tag) of a route.
#[derive(Debug)]
struct Rule {
    route: String,
    splits: Arc<Splits>,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// The route's own hosts, with each tag's splits for tag header routing.
    Default { tags: BTreeMap<String, Arc<Splits>> },
    /// A tag's hosts (`<tag>-<route>…`).
    Tag { tag: HeaderValue },
}

/// The ingress's routing rules for a set of routes: host → traffic name → weighted
/// revisions (§6.1–§6.3). Built once per change of routes or config; immutable, so a
/// driver shares it behind an `Arc` on a watch channel.
///
/// Hosts per traffic name (the route, and `<tag>-<route>` by the tag template):
/// - always the cluster-local names `<n>.<ns>`, `<n>.<ns>.svc`,
///   `<n>.<ns>.svc.<cluster-domain>`;
/// - for a route whose visibility is external, also the host of the domain template
///   under the route's domain. A cluster-local route (by label, or because its domain
///   is `svc.<cluster-domain>`) answers only the cluster-local names.
///
/// The route's hosts split by the targets' percents (all targets, tagged or not, as in
/// Knative); a tag's hosts send everything to the tag's revision, even at 0 %.
/// Hosts are matched case-insensitively, without port and trailing dot.
///
/// Tag header routing (`tag-header-based-routing: enabled`; `allowed` counts as off,
/// as in Knative): on a route's own hosts, `Knative-Serving-Tag: <tag>` naming one of
/// its tags picks that tag's revision; any other request takes the default split and
/// gets `Knative-Serving-Default-Route: true`. Requests to a tag host get
/// `Knative-Serving-Tag: <tag>`.
#[derive(Debug, Default)]
pub struct RouteTable {
    hosts: HashMap<String, Arc<Rule>>,
    tag_header_routing: bool,
}

impl RouteTable {
    /// The table for `routes` under `routing` and `features`, and the problems that left
    /// routes or hosts out. Routes are added in `namespace/name` order, so a contested
    /// host goes to the first.
    pub fn build(
        routing: &RoutingConfig,
        features: &FeaturesConfig,
        routes: impl IntoIterator<Item = RouteTraffic>,
    ) -> (Self, Vec<BuildError>) {
        let mut routes: Vec<_> = routes.into_iter().collect();
        routes.sort_by(|a, b| {
            let (a, b) = (&a.metadata, &b.metadata);
            (a.namespace(), a.name()).cmp(&(b.namespace(), b.name()))
        });
        let mut table = Self {
            hosts: HashMap::new(),
            tag_header_routing: features.tag_header_based_routing == Flag::Enabled,
        };
        let mut errors = Vec::new();
        for route in &routes {
            if let Err(error) = table.add(routing, route, &mut errors) {
                errors.push(error);
            }
        }
        (table, errors)
    }

    /// Adds the rules of one route; an error leaves the whole route out.
    fn add(
        &mut self,
        routing: &RoutingConfig,
        route: &RouteTraffic,
        errors: &mut Vec<BuildError>,
    ) -> Result<(), BuildError> {
        let id = route.id();
        let bad_name = |BadName(name)| BuildError::BadName {
            route: id.clone(),
            name,
        };
        let namespace = route.metadata.namespace();
        let weights = route
            .targets
            .iter()
            .map(|t| (t.revision.as_str(), t.percent));
        let default = Arc::new(Splits::new(namespace, weights).map_err(bad_name)?);
        let mut tags = BTreeMap::new();
        for target in &route.targets {
            let Some(tag) = target.tag.as_deref() else {
                continue;
            };
            let splits = tag_splits(route, tag).map_err(bad_name)?;
            tags.entry(tag.to_owned())
                .or_insert_with(|| Arc::new(splits));
        }
        let mut rules = Vec::new();
        for (tag, splits) in &tags {
            let tag_value =
                HeaderValue::from_str(tag).map_err(|_| bad_name(BadName(tag.clone())))?;
            let kind = Kind::Tag { tag: tag_value };
            rules.push((Some(tag.as_str()), splits.clone(), kind));
        }
        if default.total() == 0 {
            errors.push(BuildError::NoTraffic { route: id.clone() });
        } else {
            rules.push((None, default, Kind::Default { tags: tags.clone() }));
        }
        let cluster_local = routing.is_cluster_local(&route.metadata);
        let mut placed = Vec::new();
        for (tag, splits, kind) in rules {
            let hosts = hosts_of(routing, route, tag, cluster_local).map_err(|source| {
                BuildError::Template {
                    route: id.clone(),
                    source,
                }
            })?;
            let route = id.clone();
            placed.push((
                hosts,
                Arc::new(Rule {
                    route,
                    splits,
                    kind,
                }),
            ));
        }
        for (hosts, rule) in placed {
            self.insert(hosts, &rule, errors);
        }
        Ok(())
    }

    fn insert(&mut self, hosts: Vec<String>, rule: &Arc<Rule>, errors: &mut Vec<BuildError>) {
        for host in hosts {
            match self.hosts.get(&host) {
                Some(owner) => errors.push(BuildError::HostTaken {
                    host,
                    route: rule.route.clone(),
                    owner: owner.route.clone(),
                }),
                None => {
                    self.hosts.insert(host, rule.clone());
                }
            }
        }
    }

    /// Every host the table answers, lowercased, in no particular order.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.keys().map(String::as_str)
    }

    /// The revisions `host` splits its traffic between (ignoring tag headers) with their
    /// weights, or `None` when no route answers it.
    pub fn weights(&self, host: &str) -> Option<Vec<(RevisionKey, u32)>> {
        let rule = self.hosts.get(normalize_host(host).as_ref())?;
        Some(
            rule.splits
                .revisions()
                .map(|(key, weight)| (key.clone(), weight))
                .collect(),
        )
    }

    /// Whether `tag-header-based-routing` is on for this table.
    pub fn tag_header_routing(&self) -> bool {
        self.tag_header_routing
    }
}

impl Router for RouteTable {
    fn route(
        &self,
        host: &str,
        tag_header: Option<&str>,
        rng: &mut impl Rng,
    ) -> Result<Decision, NoRoute> {
        let host = normalize_host(host);
        let no_route = || NoRoute {
            host: host.clone().into_owned(),
        };
        let rule = self.hosts.get(host.as_ref()).ok_or_else(no_route)?;
        let (splits, extra) = match &rule.kind {
            Kind::Default { tags } if self.tag_header_routing => {
                match tag_header.and_then(|tag| tags.get(tag)) {
                    Some(splits) => (splits, None),
                    None => (
                        &rule.splits,
                        Some((
                            KNATIVE_SERVING_DEFAULT_ROUTE,
                            HeaderValue::from_static("true"),
                        )),
                    ),
                }
            }
            Kind::Tag { tag } if self.tag_header_routing => {
                (&rule.splits, Some((KNATIVE_SERVING_TAG, tag.clone())))
            }
            Kind::Default { .. } | Kind::Tag { .. } => (&rule.splits, None),
        };
        let split = splits.pick(rng).ok_or_else(no_route)?;
        debug!(%host, revision = %split.key, "routed");
        Ok(decision(split, extra))
    }
}

fn decision(split: &Split, extra: Option<(HeaderName, HeaderValue)>) -> Decision {
    use crate::net::headers::{KNATIVE_SERVING_NAMESPACE, KNATIVE_SERVING_REVISION};
    let mut headers = vec![
        (KNATIVE_SERVING_REVISION, split.revision.clone()),
        (KNATIVE_SERVING_NAMESPACE, split.namespace.clone()),
    ];
    headers.extend(extra);
    Decision {
        revision: split.key.clone(),
        headers,
    }
}

/// A tag's splits: its single revision at 100 % (§6.1 step 3). Validation keeps tags
/// unique, so several revisions under one tag only come from a bad status; they split
/// by their percents, or equally when those are all 0.
fn tag_splits(route: &RouteTraffic, tag: &str) -> Result<Splits, BadName> {
    let namespace = route.metadata.namespace();
    let targets: Vec<_> = route
        .targets
        .iter()
        .filter(|t| t.tag.as_deref() == Some(tag))
        .collect();
    let Some(first) = targets.first() else {
        return Splits::new(namespace, []);
    };
    if targets.iter().all(|t| t.revision == first.revision) {
        return Splits::new(namespace, [(first.revision.as_str(), 100)]);
    }
    let splits = Splits::new(
        namespace,
        targets.iter().map(|t| (t.revision.as_str(), t.percent)),
    )?;
    if splits.total() > 0 {
        return Ok(splits);
    }
    Splits::new(namespace, targets.iter().map(|t| (t.revision.as_str(), 1)))
}

fn hosts_of(
    routing: &RoutingConfig,
    route: &RouteTraffic,
    tag: Option<&str>,
    cluster_local: bool,
) -> Result<Vec<String>, TemplateError> {
    let name = routing.traffic_name(route.metadata.name(), tag)?;
    let mut hosts = routing
        .cluster_local_hosts(&name, route.metadata.namespace())
        .to_vec();
    if !cluster_local {
        hosts.push(routing.host(&route.metadata, tag)?);
    }
    for host in &mut hosts {
        *host = normalize_host(host).into_owned();
    }
    hosts.sort();
    hosts.dedup();
    Ok(hosts)
}

/// `host` as the table keys it: without `:port` (kept for bracketed IPv6 literals),
/// without a trailing dot, lowercased.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let host = host.trim();
    let host = if host.starts_with('[') {
        host.split_once(']')
            .map_or(host, |(ip, _)| &host[..=ip.len()])
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}
