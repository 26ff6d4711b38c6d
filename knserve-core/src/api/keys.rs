//! Label and annotation keys Knative stamps and reads (§1.1, §1.6, §1.7).

/// The API group of the serving resources.
pub const GROUP: &str = "serving.knative.dev";

/// Label on a Configuration, Route and Revision: the owning Service's name.
pub const SERVICE_LABEL: &str = "serving.knative.dev/service";
/// Label on a Configuration and Revision: the owning Service's uid.
pub const SERVICE_UID_LABEL: &str = "serving.knative.dev/serviceUID";
/// Label on a Revision: its Configuration's name.
pub const CONFIGURATION_LABEL: &str = "serving.knative.dev/configuration";
/// Label on a Revision: its Configuration's uid.
pub const CONFIGURATION_UID_LABEL: &str = "serving.knative.dev/configurationUID";
/// Label on a Revision: the Configuration generation that produced it.
pub const CONFIGURATION_GENERATION_LABEL: &str = "serving.knative.dev/configurationGeneration";
/// Label on a Revision's pods and deployment: the revision's name.
pub const REVISION_LABEL: &str = "serving.knative.dev/revision";
/// Label on a Revision's pods and deployment: the revision's uid.
pub const REVISION_UID_LABEL: &str = "serving.knative.dev/revisionUID";
/// Label on a Route's children (Ingress): the route's name.
pub const ROUTE_LABEL: &str = "serving.knative.dev/route";
/// Label on a Route's children: the route's namespace.
pub const ROUTE_NAMESPACE_LABEL: &str = "serving.knative.dev/routeNamespace";
/// Label on a Revision: `pending`, `active` or `reserve` ([`RoutingState`]).
pub const ROUTING_STATE_LABEL: &str = "serving.knative.dev/routingState";

/// Annotation on a Revision: when `routingState` last changed (RFC 3339, UTC).
pub const ROUTING_STATE_MODIFIED_ANNOTATION: &str = "serving.knative.dev/routingStateModified";
/// Annotation on a Revision: `true` (any case) keeps it from garbage collection.
pub const NO_GC_ANNOTATION: &str = "serving.knative.dev/no-gc";
/// Annotation on a Configuration: comma-separated names of the Routes referencing it.
pub const ROUTES_ANNOTATION: &str = "serving.knative.dev/routes";
/// Annotation: the user who created the object.
pub const CREATOR_ANNOTATION: &str = "serving.knative.dev/creator";
/// Annotation: the user who last changed the spec.
pub const UPDATER_ANNOTATION: &str = "serving.knative.dev/lastModifier";
/// Annotation on a Service or Route: a per-route gradual rollout duration (Go duration).
pub const ROLLOUT_DURATION_ANNOTATION: &str = "serving.knative.dev/rollout-duration";
/// Annotation on a revision template: how long a revision may take to become ready.
pub const PROGRESS_DEADLINE_ANNOTATION: &str = "serving.knative.dev/progress-deadline";
/// The prefix of the autoscaling annotations, which belong on `spec.template.metadata`.
pub const AUTOSCALING_ANNOTATION_PREFIX: &str = "autoscaling.knative.dev/";
/// The annotation `kubectl apply` keeps; not copied to children.
pub const LAST_APPLIED_CONFIGURATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Label on a Service, Route or placeholder Service choosing its visibility.
pub const VISIBILITY_LABEL: &str = "networking.knative.dev/visibility";
/// The legacy spelling of [`VISIBILITY_LABEL`], still honoured.
pub const VISIBILITY_LABEL_LEGACY: &str = "serving.knative.dev/visibility";
/// The only value of the visibility label: reachable from inside the cluster only.
pub const VISIBILITY_CLUSTER_LOCAL: &str = "cluster-local";

/// The values of [`ROUTING_STATE_LABEL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoutingState {
    /// Just created, not yet referenced by a Route.
    Pending,
    /// Referenced by a Route.
    Active,
    /// No longer referenced; may be scaled to zero and garbage collected.
    Reserve,
}

impl RoutingState {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Reserve => "reserve",
        }
    }

    /// The state a label value stands for.
    pub fn from_label(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "active" => Some(Self::Active),
            "reserve" => Some(Self::Reserve),
            _ => None,
        }
    }
}
