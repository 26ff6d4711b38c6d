//! Reachability (spec §2.12): whether a route can send a revision traffic.

/// A revision's reachability, as the PA's `spec.reachability`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Reachability {
    /// A route references the revision (`routingState: active`).
    Reachable,
    /// No route references it (`routingState: reserve`), or it cannot run: min-scale,
    /// initial scale, the scale-down rate and delay and last-instance retention are
    /// ignored, so it may drop to zero at once.
    Unreachable,
    /// Not known yet (`routingState: pending` or absent); treated as reachable.
    #[default]
    Unknown,
}

impl Reachability {
    /// The reachability of a revision from its `serving.knative.dev/routingState` label
    /// and its health: a revision whose resources or container failed while it wants
    /// instances and has none ready is unreachable whatever routes say.
    pub fn of_revision(
        routing_state: Option<&str>,
        failed: bool,
        wants_instances: bool,
        ready: u32,
    ) -> Self {
        if failed && wants_instances && ready == 0 {
            return Self::Unreachable;
        }
        match routing_state {
            Some("active") => Self::Reachable,
            Some("reserve") => Self::Unreachable,
            _ => Self::Unknown,
        }
    }

    /// Whether the autoscaler treats the revision as reachable (anything but Unreachable).
    pub fn is_reachable(self) -> bool {
        self != Self::Unreachable
    }
}
