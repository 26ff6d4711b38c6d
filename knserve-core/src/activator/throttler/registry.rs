//! The revisions the activator throttles, each watching its backends and membership.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use rand::{SeedableRng, rngs::SmallRng};
use tokio::{sync::watch, task::JoinHandle};
use tracing::debug;

use super::{Throttler, ThrottlerConfig, revision::Revision};
use crate::RevisionKey;
use crate::activator::{Backends, Membership};

/// A revision throttler's counts, for reports and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlerLoad {
    /// The revision breaker's capacity.
    pub capacity: u32,
    /// Requests holding revision tokens.
    pub in_flight: u32,
    /// Requests waiting for one.
    pub waiting: usize,
    /// Body bytes the waiting requests declared.
    pub waiting_bytes: u64,
}

/// The throttlers of every revision this activator serves, shared by the control side
/// (which [`upsert`](Self::upsert)s and [`remove`](Self::remove)s revisions as its
/// informers see them) and the [`Throttle`](super::Throttle) service (which looks
/// them up per request). Cheap to clone.
///
/// Each revision has a watch task, owned by the registry and aborted when the revision
/// is removed or replaced, that feeds its throttler every change of the two channels.
#[derive(Debug, Clone)]
pub struct ThrottlerRegistry {
    shared: Arc<Mutex<Shared>>,
}

#[derive(Debug)]
struct Shared {
    config: ThrottlerConfig,
    seeds: SmallRng,
    revisions: HashMap<RevisionKey, Watched>,
}

#[derive(Debug)]
struct Watched {
    revision: Arc<Revision>,
    task: JoinHandle<()>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ThrottlerRegistry {
    /// An empty registry whose throttlers use `config`, seeded from the process's
    /// hash-map randomness (load balancing needs no stronger randomness).
    pub fn new(config: ThrottlerConfig) -> Self {
        Self::with_seed(config, RandomState::new().hash_one(0u8))
    }

    /// An empty registry whose random choices follow from `seed` (for tests).
    pub fn with_seed(config: ThrottlerConfig, seed: u64) -> Self {
        let shared = Shared {
            config,
            seeds: SmallRng::seed_from_u64(seed),
            revisions: HashMap::new(),
        };
        Self {
            shared: Arc::new(Mutex::new(shared)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts throttling `key` (or re-points an existing throttler at new channels):
    /// applies the channels' current values at once, then every change in a task.
    ///
    /// A revision's containerConcurrency is immutable, so an existing throttler keeps
    /// the one it was created with; a different `container_concurrency` is logged and
    /// ignored. Must be called inside a tokio runtime.
    pub fn upsert(
        &self,
        key: RevisionKey,
        container_concurrency: u32,
        mut backends: watch::Receiver<Backends>,
        mut membership: watch::Receiver<Membership>,
    ) {
        let mut shared = self.lock();
        let revision = match shared.revisions.remove(&key) {
            Some(watched) => watched.revision.clone(),
            None => {
                let machine =
                    Throttler::new(key.clone(), container_concurrency, shared.config.clone());
                Arc::new(Revision::new(
                    machine,
                    SmallRng::from_rng(&mut shared.seeds),
                ))
            }
        };
        let kept = revision.inspect(Throttler::container_concurrency);
        if kept != container_concurrency {
            debug!(revision = %key, kept, container_concurrency, "containerConcurrency change ignored");
        }
        let current = backends.borrow_and_update().clone();
        revision.apply(&current, *membership.borrow_and_update());
        let task = tokio::spawn(watch_channels(revision.clone(), backends, membership));
        shared.revisions.insert(key, Watched { revision, task });
    }

    /// Stops throttling `key`; its waiting requests are refused (503, the revision
    /// was removed). False if it was not throttled.
    pub fn remove(&self, key: &RevisionKey) -> bool {
        let Some(watched) = self.lock().revisions.remove(key) else {
            return false;
        };
        watched.task.abort();
        let removed = Backends::failed("the revision was removed");
        watched.revision.apply(&removed, Membership::default());
        true
    }

    /// The counts of `key`'s throttler, if it has one.
    pub fn load(&self, key: &RevisionKey) -> Option<ThrottlerLoad> {
        let revision = self.get(key)?;
        Some(revision.inspect(|machine| ThrottlerLoad {
            capacity: machine.capacity(),
            in_flight: machine.in_flight(),
            waiting: machine.waiting(),
            waiting_bytes: machine.waiting_bytes(),
        }))
    }

    pub(super) fn get(&self, key: &RevisionKey) -> Option<Arc<Revision>> {
        Some(self.lock().revisions.get(key)?.revision.clone())
    }
}

/// Feeds every change of either channel to the throttler; stops when the backends
/// channel closes (the last state stays), keeps going without membership if only that
/// one closes.
async fn watch_channels(
    revision: Arc<Revision>,
    mut backends: watch::Receiver<Backends>,
    mut membership: watch::Receiver<Membership>,
) {
    let mut membership_open = true;
    loop {
        tokio::select! {
            changed = backends.changed() => if changed.is_err() { return },
            changed = membership.changed(), if membership_open => {
                membership_open = changed.is_ok();
            }
        }
        let current = backends.borrow_and_update().clone();
        revision.apply(&current, *membership.borrow_and_update());
    }
}
