//! The next hop per revision: its instances or the activator (§5.2, §5.4).

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use rand::Rng;

use crate::RevisionKey;

/// Where a revision's requests go next, as the SKS mode says (§5.2): its public
/// endpoints are either the revision's instances or an activator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hop {
    /// SKS `Serve`: straight to one of the revision's ready instances (their
    /// queue-proxies), chosen uniformly at random per request — like kube-proxy in
    /// front of the public Service, and with no shared counter between clones.
    Serve(Vec<SocketAddr>),
    /// SKS `Proxy`: through the activator at this address, which holds the request
    /// until the revision has capacity.
    Proxy(SocketAddr),
}

/// The hops of every revision, published whole on a watch channel by the control side
/// whenever a revision's SKS mode or endpoints change.
pub type Hops = Arc<HashMap<RevisionKey, Hop>>;

impl Hop {
    /// The address for one request: a random instance, or the activator; `None` for
    /// `Serve` with no instances.
    pub fn pick(&self, rng: &mut impl Rng) -> Option<SocketAddr> {
        match self {
            Self::Proxy(activator) => Some(*activator),
            Self::Serve(instances) if instances.is_empty() => None,
            Self::Serve(instances) => instances.get(rng.random_range(0..instances.len())).copied(),
        }
    }

    /// `serve` or `proxy`, for logs.
    pub fn mode(&self) -> &'static str {
        match self {
            Self::Serve(_) => "serve",
            Self::Proxy(_) => "proxy",
        }
    }
}

/// Why a routed request has nowhere to go; the router answers 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    /// No hop is published for the revision yet.
    #[error("revision {0} is not reachable: neither its instances nor an activator are known")]
    NoHop(RevisionKey),
    /// The revision is in `Serve` mode with an empty instance list.
    #[error("revision {0} has no ready instances")]
    NoInstances(RevisionKey),
}
