//! Pod trackers, subsetting and the load-balancing policies (spec §3.4, §3.5).

use std::net::SocketAddr;

use rand::Rng;

use crate::activator::{Membership, assign_slice};
use crate::queue::{Admission, Breaker};

/// The queue depth of a per-instance breaker (§7); unused in practice, since the
/// activator only ever tries to reserve a slot without waiting.
const POD_QUEUE_DEPTH: u32 = 10_000;

/// How a revision's requests are spread over its instances, chosen by
/// containerConcurrency (§3.4, switch points in §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// CC = 0: of two random instances, the one with fewer requests in flight.
    RandomChoiceOf2,
    /// CC 1..=3: the first instance, in address order, with a free slot.
    FirstAvailable,
    /// CC > 3: the next instance with a free slot after the last one picked.
    RoundRobin,
}

impl Policy {
    /// The policy Knative uses for `container_concurrency`.
    pub fn for_container_concurrency(container_concurrency: u32) -> Self {
        match container_concurrency {
            0 => Self::RandomChoiceOf2,
            1..=3 => Self::FirstAvailable,
            _ => Self::RoundRobin,
        }
    }
}

/// One instance: its breaker of `CC` slots when CC > 0 (only ever reserved without
/// waiting), or its weight (requests in flight) when CC = 0.
#[derive(Debug, Clone)]
struct PodTracker {
    address: SocketAddr,
    breaker: Option<Breaker>,
    weight: u32,
}

impl PodTracker {
    fn new(address: SocketAddr, container_concurrency: u32) -> Self {
        let breaker = (container_concurrency > 0).then(|| {
            Breaker::new(
                POD_QUEUE_DEPTH,
                container_concurrency,
                container_concurrency,
            )
        });
        Self {
            address,
            breaker,
            weight: 0,
        }
    }

    fn in_flight(&self) -> u32 {
        self.breaker
            .as_ref()
            .map_or(self.weight, Breaker::in_flight)
    }

    /// Takes a slot if one is free, never waiting (Knative's `Reserve`).
    fn try_reserve(&mut self) -> bool {
        match &mut self.breaker {
            Some(breaker) if breaker.in_flight() < breaker.capacity() => {
                breaker.enter(0) == Admission::Admitted
            }
            Some(_) => false,
            None => {
                self.weight += 1;
                true
            }
        }
    }

    fn release(&mut self) {
        match &mut self.breaker {
            Some(breaker) => {
                breaker.release();
            }
            None => self.weight = self.weight.saturating_sub(1),
        }
    }
}

/// The instances this activator sends a revision's requests to, and how it picks one.
///
/// States: `trackers` holds one tracker per healthy instance, sorted by `ip:port`
/// string; `assigned` are the positions of this activator's slice of them (§3.5);
/// `retired` keeps the trackers of instances that left while requests to them were
/// still in flight, so that an instance that comes back keeps its count (Knative
/// forgets it; keeping it is what guarantees the per-instance limit below). Flow:
/// [`update`](Self::update) on every backend or membership change,
/// [`pick`](Self::pick) for each admitted request, [`release`](Self::release) when it
/// ends. Guarantees: with CC > 0 no instance ever has more than CC requests in flight
/// from this balancer; `pick` returns only assigned instances.
#[derive(Debug, Clone)]
pub struct LoadBalancer {
    container_concurrency: u32,
    policy: Policy,
    trackers: Vec<PodTracker>,
    retired: Vec<PodTracker>,
    assigned: Vec<usize>,
    cursor: usize,
    membership: Membership,
}

impl LoadBalancer {
    /// A balancer with no instances, for `container_concurrency`.
    pub fn new(container_concurrency: u32) -> Self {
        Self {
            container_concurrency,
            policy: Policy::for_container_concurrency(container_concurrency),
            trackers: Vec::new(),
            retired: Vec::new(),
            assigned: Vec::new(),
            cursor: 0,
            membership: Membership::default(),
        }
    }

    /// The policy in use.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Healthy instances.
    pub fn ready(&self) -> usize {
        self.trackers.len()
    }

    /// The instances assigned to this activator, in `ip:port` string order.
    pub fn assigned(&self) -> Vec<SocketAddr> {
        self.assigned
            .iter()
            .map(|&at| self.trackers[at].address)
            .collect()
    }

    /// Requests in flight to `address` from this balancer (its weight when CC = 0).
    pub fn in_flight(&self, address: SocketAddr) -> u32 {
        self.tracker(address).map_or(0, PodTracker::in_flight)
    }

    /// Takes the new set of healthy instances and this activator's place among the
    /// activators: keeps the trackers (and counts) of instances still present, adds the
    /// new ones, resets every per-instance breaker to CC, and reassigns the slice.
    pub fn update(&mut self, healthy: &[SocketAddr], membership: Membership) {
        let mut addresses = healthy.to_vec();
        addresses.sort_by_cached_key(ToString::to_string);
        addresses.dedup();
        let mut old: Vec<PodTracker> = std::mem::take(&mut self.trackers);
        old.append(&mut self.retired);
        for address in addresses {
            let tracker = match old.iter().position(|t| t.address == address) {
                Some(at) => old.swap_remove(at),
                None => PodTracker::new(address, self.container_concurrency),
            };
            self.trackers.push(tracker);
        }
        self.retired = old.into_iter().filter(|t| t.in_flight() > 0).collect();
        for tracker in &mut self.trackers {
            if let Some(breaker) = &mut tracker.breaker {
                breaker.set_capacity(self.container_concurrency);
            }
        }
        self.membership = membership;
        self.assign();
    }

    /// Takes `address` out of the instances picked from, as if it had left: a
    /// request to it failed before it answered. It comes back with the next
    /// [`update`](Self::update) that lists it, which the prober publishes once it has
    /// probed it healthy. False if it was not in the set.
    pub fn eject(&mut self, address: SocketAddr) -> bool {
        let Some(at) = self.trackers.iter().position(|t| t.address == address) else {
            return false;
        };
        let tracker = self.trackers.remove(at);
        if tracker.in_flight() > 0 {
            self.retired.push(tracker);
        }
        self.assign();
        true
    }

    fn assign(&mut self) {
        self.assigned = assign_slice(
            self.trackers.len(),
            self.membership.index,
            self.membership.activators,
            self.container_concurrency,
        );
    }

    /// Picks an assigned instance and reserves a slot on it (or adds to its weight);
    /// `None` if no assigned instance has a free slot.
    pub fn pick(&mut self, rng: &mut impl Rng) -> Option<SocketAddr> {
        let at = match self.policy {
            Policy::RandomChoiceOf2 => self.random_choice_of_2(rng),
            Policy::FirstAvailable => self.first_available(),
            Policy::RoundRobin => self.round_robin(),
        }?;
        Some(self.trackers[at].address)
    }

    /// A request to `address` ended: frees its slot (or lowers its weight).
    pub fn release(&mut self, address: SocketAddr) {
        if let Some(tracker) = self.trackers.iter_mut().find(|t| t.address == address) {
            tracker.release();
            return;
        }
        if let Some(at) = self.retired.iter().position(|t| t.address == address) {
            self.retired[at].release();
            if self.retired[at].in_flight() == 0 {
                self.retired.swap_remove(at);
            }
        }
    }

    fn tracker(&self, address: SocketAddr) -> Option<&PodTracker> {
        self.trackers
            .iter()
            .chain(&self.retired)
            .find(|t| t.address == address)
    }

    /// One target → it; two → both; more → two distinct uniform indices. The lower
    /// weight wins, a tie is a coin flip; the winner's weight goes up.
    fn random_choice_of_2(&mut self, rng: &mut impl Rng) -> Option<usize> {
        let targets = self.assigned.len();
        let (first, second) = match targets {
            0 => return None,
            1 => {
                let only = self.assigned[0];
                self.trackers[only].weight += 1;
                return Some(only);
            }
            2 => (0, 1),
            _ => {
                let first = rng.random_range(0..targets);
                let second = rng.random_range(0..targets - 1);
                (first, if second >= first { second + 1 } else { second })
            }
        };
        let (pick, alternative) = (self.assigned[first], self.assigned[second]);
        let (weight, other) = (
            self.trackers[pick].weight,
            self.trackers[alternative].weight,
        );
        let chosen = if weight > other || (weight == other && rng.random::<bool>()) {
            alternative
        } else {
            pick
        };
        self.trackers[chosen].weight += 1;
        Some(chosen)
    }

    fn first_available(&mut self) -> Option<usize> {
        let trackers = &mut self.trackers;
        self.assigned
            .iter()
            .copied()
            .find(|&at| trackers[at].try_reserve())
    }

    /// Scans from the cursor (reset to 0 when the list shrank below it), wrapping; the
    /// cursor moves to the slot after the pick.
    fn round_robin(&mut self) -> Option<usize> {
        let targets = self.assigned.len();
        if self.cursor >= targets {
            self.cursor = 0;
        }
        for offset in 0..targets {
            let slot = (self.cursor + offset) % targets;
            let at = self.assigned[slot];
            if self.trackers[at].try_reserve() {
                self.cursor = slot + 1;
                return Some(at);
            }
        }
        None
    }
}
