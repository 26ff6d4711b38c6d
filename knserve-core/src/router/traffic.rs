//! A route's resolved traffic: the part of a `Route` the router needs (§1.6).

use crate::api::{self, ObjectMeta, TrafficTarget};

/// One resolved traffic target: a concrete revision, its share and its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The tag, addressable as `<tag>-<route>`; `None` for an untagged target.
    pub tag: Option<String>,
    /// The revision's name (`hello-00002`), in the route's namespace.
    pub revision: String,
    /// The share of the route's default traffic, in percent (0..=100).
    pub percent: u32,
}

impl Target {
    /// A target sending `percent` of the route's traffic to `revision`.
    pub fn new(revision: impl Into<String>, percent: u32) -> Self {
        Self {
            tag: None,
            revision: revision.into(),
            percent,
        }
    }

    /// The same target, addressable by `tag`.
    pub fn tagged(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }
}

/// A route as the router sees it: its metadata (name, namespace, and the labels and
/// annotations the host templates may read) and its resolved targets.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteTraffic {
    /// The route's metadata.
    pub metadata: ObjectMeta,
    /// The resolved targets, in the route's order.
    pub targets: Vec<Target>,
}

/// A traffic target that does not name a revision and could not be resolved to one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "route {route}: traffic[{index}] names no revision (configuration {configuration:?} has no latest ready revision)"
)]
pub struct UnresolvedTarget {
    /// The route, `namespace/name`.
    pub route: String,
    /// The target's index in the list it came from.
    pub index: usize,
    /// The target's `configurationName` (`""` when unset).
    pub configuration: String,
}

impl RouteTraffic {
    /// The route `metadata` with `targets`.
    pub fn new(metadata: ObjectMeta, targets: Vec<Target>) -> Self {
        Self { metadata, targets }
    }

    /// The traffic a `Route` object programs.
    ///
    /// `status.traffic` when the status is present and lists targets: the controller
    /// has resolved every target there to a concrete `revisionName`. Otherwise (a route
    /// no controller has reconciled yet, as in a local runtime) `spec.traffic`, whose
    /// targets must then all name a revision: a `configurationName` target cannot be
    /// resolved without the Configuration, so it is an [`UnresolvedTarget`] — use
    /// [`RouteTraffic::from_spec`] to resolve it.
    pub fn from_route(route: &api::Route) -> Result<Self, UnresolvedTarget> {
        match route.status.as_ref().filter(|s| !s.traffic.is_empty()) {
            Some(status) => resolve(&route.metadata, &status.traffic, |_| None),
            None => Self::from_spec(route, |_| None),
        }
    }

    /// The traffic of `route.spec.traffic`, resolving each `configurationName` target
    /// with `latest_ready` (configuration name → its `latestReadyRevisionName`).
    pub fn from_spec(
        route: &api::Route,
        latest_ready: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, UnresolvedTarget> {
        resolve(&route.metadata, &route.spec.traffic, latest_ready)
    }

    /// The route's `namespace/name`, as errors and logs print it.
    pub fn id(&self) -> String {
        format!("{}/{}", self.metadata.namespace(), self.metadata.name())
    }
}

fn resolve(
    metadata: &ObjectMeta,
    traffic: &[TrafficTarget],
    latest_ready: impl Fn(&str) -> Option<String>,
) -> Result<RouteTraffic, UnresolvedTarget> {
    let targets = traffic
        .iter()
        .enumerate()
        .map(|(index, target)| {
            let revision = match target.revision_name() {
                "" => latest_ready(target.configuration_name()),
                name => Some(name.to_owned()),
            };
            let revision = revision.ok_or_else(|| UnresolvedTarget {
                route: format!("{}/{}", metadata.namespace(), metadata.name()),
                index,
                configuration: target.configuration_name().to_owned(),
            })?;
            Ok(Target {
                tag: target.tag.clone().filter(|t| !t.is_empty()),
                revision,
                // Validation keeps percents in 0..=100; clamp rather than trust it.
                percent: u32::try_from(target.percent().clamp(0, 100)).unwrap_or(0),
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(RouteTraffic::new(metadata.clone(), targets))
}
