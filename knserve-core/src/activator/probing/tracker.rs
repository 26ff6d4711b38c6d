//! The probe tracker machine: which addresses to probe and which are healthy.

use std::{collections::HashSet, net::SocketAddr, sync::Arc};

use crate::activator::Backends;

/// A revision's private-service endpoints as the orchestrator lists them (spec §3.6),
/// `ip:port` with the backend port of the revision's protocol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Addresses the orchestrator considers ready.
    pub ready: Vec<SocketAddr>,
    /// Addresses that exist but are not ready yet (or any more).
    pub not_ready: Vec<SocketAddr>,
    /// Why no instance will become ready (crash loop, failed deployment), when known;
    /// carried through to [`Backends::failure`].
    pub failure: Option<Arc<str>>,
}

/// Probing state for one revision (spec §3.6).
///
/// States per address: *unknown* (listed, not yet passed a probe) and *healthy*
/// (passed). Flow: [`set_endpoints`](Self::set_endpoints) on every endpoints change;
/// [`to_probe`](Self::to_probe) names the addresses to probe this round;
/// [`probed`](Self::probed) records each result; [`backends`](Self::backends) is what
/// to publish.
///
/// Rules: every listed address not yet healthy is probed. A ready address that passes
/// becomes healthy. A not-ready address that passes becomes healthy too (the *probe
/// optimisation* that makes cold starts fast) unless the revision requires
/// orchestrator readiness (exec readiness probe, startup probes), in which case
/// not-ready addresses are not probed at all until they turn ready. An address that
/// moves from ready to not-ready leaves the healthy set and is probed again; a
/// vanished address is dropped; no endpoints means no backends. A healthy address is
/// not probed again while it stays listed.
#[derive(Debug, Clone, Default)]
pub struct ProbeTracker {
    require_ready: bool,
    ready: HashSet<SocketAddr>,
    not_ready: HashSet<SocketAddr>,
    healthy: HashSet<SocketAddr>,
    failure: Option<Arc<str>>,
}

impl ProbeTracker {
    /// A tracker with no endpoints; `require_ready` turns the probe optimisation off.
    pub fn new(require_ready: bool) -> Self {
        Self {
            require_ready,
            ..Self::default()
        }
    }

    /// The orchestrator's endpoints changed. Returns whether the healthy set shrank.
    ///
    /// An address listed as both ready and not ready counts as ready.
    pub fn set_endpoints(&mut self, endpoints: &Endpoints) -> bool {
        let ready: HashSet<SocketAddr> = endpoints.ready.iter().copied().collect();
        let not_ready: HashSet<SocketAddr> = endpoints
            .not_ready
            .iter()
            .copied()
            .filter(|a| !ready.contains(a))
            .collect();
        let before = self.healthy.len();
        let was_ready = std::mem::replace(&mut self.ready, ready);
        self.not_ready = not_ready;
        self.healthy.retain(|address| {
            self.ready.contains(address)
                || (self.not_ready.contains(address) && !was_ready.contains(address))
        });
        self.failure.clone_from(&endpoints.failure);
        self.healthy.len() < before
    }

    /// The addresses to probe now, sorted as `ip:port` strings.
    pub fn to_probe(&self) -> Vec<SocketAddr> {
        let mut due: Vec<SocketAddr> = self
            .ready
            .iter()
            .chain(self.not_ready.iter().filter(|_| !self.require_ready))
            .filter(|address| !self.healthy.contains(address))
            .copied()
            .collect();
        sort(&mut due);
        due
    }

    /// A probe of `address` passed or failed. Returns whether the healthy set grew.
    /// Results for addresses no longer probed (vanished meanwhile) are ignored.
    pub fn probed(&mut self, address: SocketAddr, passed: bool) -> bool {
        let eligible = self.ready.contains(&address)
            || (!self.require_ready && self.not_ready.contains(&address));
        passed && eligible && self.healthy.insert(address)
    }

    /// The healthy addresses, sorted as `ip:port` strings.
    pub fn healthy(&self) -> Vec<SocketAddr> {
        let mut healthy: Vec<SocketAddr> = self.healthy.iter().copied().collect();
        sort(&mut healthy);
        healthy
    }

    /// What to publish for the throttler: the healthy set and the endpoints' failure.
    pub fn backends(&self) -> Backends {
        Backends {
            healthy: self.healthy(),
            failure: self.failure.clone(),
        }
    }
}

fn sort(addresses: &mut [SocketAddr]) {
    addresses.sort_by_cached_key(ToString::to_string);
}
