//! The per-revision throttler as a pure machine (spec §3.3).

use std::{collections::BTreeMap, net::SocketAddr, sync::Arc};

use rand::Rng;
use tracing::debug;

use super::{LoadBalancer, MAX_CAPACITY, Refusal, ThrottlerConfig, capacity};
use crate::RevisionKey;
use crate::activator::{Backends, Membership};
use crate::queue::{Admission, Breaker, WaiterId};

/// What became of a request that entered the throttler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// It holds a revision token: [`pick`](Throttler::pick) an instance for it.
    Admitted,
    /// It waits; a later step names it in a [`Wake`].
    Queued(WaiterId),
    /// It is refused at once.
    Refused(Refusal),
}

/// What a step decided for a waiting request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wake {
    /// It now holds a revision token: pick an instance for it.
    Admitted,
    /// It is refused (the revision failed).
    Refused(Refusal),
}

/// One revision's throttler: the revision breaker, the waiting bounds and the load
/// balancer over this activator's instances.
///
/// States: the breaker's tokens (`capacity` of §3.3, recomputed on each
/// [`update`](Self::update)); the waiters, each with its declared body bytes or the
/// bytes of its streamed body read while it waits ([`buffer`](Self::buffer)); the
/// balancer's instances; and the failure reason, if the control side reported one.
/// Flow: [`enter`](Self::enter) → `Admitted` | `Queued(id)` | `Refused`; an admitted
/// request [`pick`](Self::pick)s an instance and, when it ends,
/// [`release`](Self::release)s it; a waiter that gives up is
/// [`cancel`](Self::cancel)led; steps that free capacity return [`Wake`]s.
///
/// Guarantees: at most `capacity` requests hold tokens; waiters are woken oldest first;
/// at most `max_waiting` wait and their declared and buffered bytes stay within
/// `max_waiting_bytes`; while a failure is reported nothing waits and nothing enters.
/// The CC = 0 "infinite" breaker is the same breaker, binary: capacity 0 with no
/// instance, `2^31 − 1` with any. Its queue, unlimited in Knative, is bounded here too.
#[derive(Debug, Clone)]
pub struct Throttler {
    revision: RevisionKey,
    config: ThrottlerConfig,
    container_concurrency: u32,
    breaker: Breaker,
    balancer: LoadBalancer,
    failure: Option<Arc<str>>,
    waiters: BTreeMap<WaiterId, u64>,
    waiting_bytes: u64,
    next_id: WaiterId,
}

impl Throttler {
    /// A throttler for `revision` with no instances yet: everything waits.
    pub fn new(revision: RevisionKey, container_concurrency: u32, config: ThrottlerConfig) -> Self {
        Self {
            breaker: Breaker::new(config.max_waiting, MAX_CAPACITY, 0),
            revision,
            config,
            container_concurrency,
            balancer: LoadBalancer::new(container_concurrency),
            failure: None,
            waiters: BTreeMap::new(),
            waiting_bytes: 0,
            next_id: 0,
        }
    }

    /// The revision this throttles.
    pub fn revision(&self) -> &RevisionKey {
        &self.revision
    }

    /// The bounds in force.
    pub fn config(&self) -> &ThrottlerConfig {
        &self.config
    }

    /// The revision's containerConcurrency.
    pub fn container_concurrency(&self) -> u32 {
        self.container_concurrency
    }

    /// The revision breaker's capacity.
    pub fn capacity(&self) -> u32 {
        self.breaker.capacity()
    }

    /// Requests holding revision tokens.
    pub fn in_flight(&self) -> u32 {
        self.breaker.in_flight()
    }

    /// Requests waiting.
    pub fn waiting(&self) -> usize {
        self.breaker.waiting()
    }

    /// Body bytes the waiting requests declared or hold in memory.
    pub fn waiting_bytes(&self) -> u64 {
        self.waiting_bytes
    }

    /// The load balancer.
    pub fn balancer(&self) -> &LoadBalancer {
        &self.balancer
    }

    /// New instances or a new place among the activators: reassigns the slice,
    /// recomputes the capacity, and wakes the waiters a raise admits — or, when
    /// `backends` reports a failure, refuses every waiter.
    pub fn update(&mut self, backends: &Backends, membership: Membership) -> Vec<(WaiterId, Wake)> {
        self.balancer.update(&backends.healthy, membership);
        let assigned = self.balancer.assigned().len();
        let capacity = capacity(self.container_concurrency, self.balancer.ready(), assigned);
        self.failure.clone_from(&backends.failure);
        debug!(revision = %self.revision, ready = self.balancer.ready(), assigned, capacity,
            failed = self.failure.is_some(), "throttler update");
        let mut wakes = self.refuse_waiters();
        let admitted = self.breaker.set_capacity(capacity);
        wakes.extend(self.wake(admitted));
        wakes
    }

    /// A request forwarded to `instance` failed before the instance answered: frees its
    /// slot there and takes the instance out of the set until the next
    /// [`update`](Self::update) lists it again; the capacity follows.
    pub fn eject(&mut self, instance: SocketAddr) -> Vec<(WaiterId, Wake)> {
        self.balancer.release(instance);
        if !self.balancer.eject(instance) {
            return Vec::new();
        }
        let assigned = self.balancer.assigned().len();
        let capacity = capacity(self.container_concurrency, self.balancer.ready(), assigned);
        debug!(revision = %self.revision, %instance, capacity, "instance ejected after a failed forward");
        let admitted = self.breaker.set_capacity(capacity);
        self.wake(admitted)
    }

    /// A request arrives declaring `body_bytes` of body.
    pub fn enter(&mut self, body_bytes: u64) -> Entry {
        if let Some(refusal) = self.refusal(body_bytes) {
            return Entry::Refused(refusal);
        }
        let id = self.next_id;
        self.next_id += 1;
        match self.breaker.enter(id) {
            Admission::Admitted => Entry::Admitted,
            Admission::Queued => {
                self.waiters.insert(id, body_bytes);
                self.waiting_bytes += body_bytes;
                Entry::Queued(id)
            }
            Admission::Full => Entry::Refused(self.queue_full()),
        }
    }

    /// Picks an instance for a request holding a token and reserves its slot; `None`
    /// when no assigned instance has one (release the token and enter again, §3.3).
    pub fn pick(&mut self, rng: &mut impl Rng) -> Option<SocketAddr> {
        self.balancer.pick(rng)
    }

    /// A request holding a token ended, forwarded to `instance` if one was picked:
    /// frees both, and wakes the waiter that takes the token.
    pub fn release(&mut self, instance: Option<SocketAddr>) -> Vec<(WaiterId, Wake)> {
        if let Some(instance) = instance {
            self.balancer.release(instance);
        }
        let next = self.breaker.release();
        self.wake(next.into_iter().collect())
    }

    /// A waiter read `bytes` more of its streamed body into memory (a body of unknown
    /// length counts nothing on [`enter`](Self::enter)): they count against
    /// `max_waiting_bytes` until it leaves the queue. Past the bound it is cancelled
    /// and refused. A request that no longer waits counts nothing more.
    pub fn buffer(&mut self, id: WaiterId, bytes: u64) -> Result<(), Refusal> {
        let Some(held) = self.waiters.get(&id).copied() else {
            return Ok(());
        };
        let limit = self.config.max_waiting_bytes;
        if self.waiting_bytes.saturating_add(bytes) > limit {
            let refusal = Refusal::BytesFull {
                revision: self.revision.clone(),
                buffered: self.waiting_bytes - held,
                request: held.saturating_add(bytes),
                limit,
            };
            self.cancel(id);
            return Err(refusal);
        }
        self.waiters.insert(id, held + bytes);
        self.waiting_bytes += bytes;
        Ok(())
    }

    /// A waiter gave up; false if it no longer waits (it was woken first).
    pub fn cancel(&mut self, id: WaiterId) -> bool {
        let cancelled = self.breaker.cancel(id);
        if cancelled {
            self.forget(id);
        }
        cancelled
    }

    /// A waiter reached the wait bound: cancels it and returns its refusal; `None` if it
    /// was woken first (it then goes on).
    pub fn time_out(&mut self, id: WaiterId) -> Option<Refusal> {
        let limit = self.config.max_wait?;
        self.cancel(id).then(|| Refusal::WaitedTooLong {
            revision: self.revision.clone(),
            limit,
        })
    }

    /// Why a request declaring `body_bytes` may not enter, if it may not.
    fn refusal(&self, body_bytes: u64) -> Option<Refusal> {
        if let Some(reason) = &self.failure {
            return Some(Refusal::Failed {
                revision: self.revision.clone(),
                reason: reason.clone(),
            });
        }
        let would_wait =
            self.breaker.waiting() > 0 || self.breaker.in_flight() >= self.breaker.capacity();
        if !would_wait {
            return None;
        }
        if self.breaker.waiting() >= self.config.max_waiting as usize {
            return Some(self.queue_full());
        }
        let limit = self.config.max_waiting_bytes;
        (self.waiting_bytes.saturating_add(body_bytes) > limit).then(|| Refusal::BytesFull {
            revision: self.revision.clone(),
            buffered: self.waiting_bytes,
            request: body_bytes,
            limit,
        })
    }

    fn queue_full(&self) -> Refusal {
        Refusal::QueueFull {
            revision: self.revision.clone(),
            waiting: self.breaker.waiting(),
        }
    }

    fn refuse_waiters(&mut self) -> Vec<(WaiterId, Wake)> {
        let Some(reason) = self.failure.clone() else {
            return Vec::new();
        };
        let refusal = Refusal::Failed {
            revision: self.revision.clone(),
            reason,
        };
        let ids: Vec<WaiterId> = self.waiters.keys().copied().collect();
        ids.into_iter()
            .filter(|&id| self.cancel(id))
            .map(|id| (id, Wake::Refused(refusal.clone())))
            .collect()
    }

    fn wake(&mut self, admitted: Vec<WaiterId>) -> Vec<(WaiterId, Wake)> {
        admitted
            .into_iter()
            .map(|id| {
                self.forget(id);
                (id, Wake::Admitted)
            })
            .collect()
    }

    fn forget(&mut self, id: WaiterId) {
        if let Some(bytes) = self.waiters.remove(&id) {
            self.waiting_bytes -= bytes;
        }
    }
}
