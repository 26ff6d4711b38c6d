//! The revision table: what the request path knows about each revision.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use crate::RevisionKey;

/// The per-revision settings the activator's layers need, from the Revision spec.
///
/// The handler inserts a copy into every forwarded request's extensions, next to the
/// [`RevisionKey`], so the layers inside (timeouts, throttler) read it without a
/// lookup of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevisionInfo {
    /// `containerConcurrency`; 0 is unlimited.
    pub container_concurrency: u32,
    /// `timeoutSeconds`: total time from arrival, queueing included.
    pub timeout: Duration,
    /// `responseStartTimeoutSeconds`, when set.
    pub response_start_timeout: Option<Duration>,
    /// `idleTimeoutSeconds`, when set and above 0.
    pub idle_timeout: Option<Duration>,
}

impl Default for RevisionInfo {
    /// Knative's defaults: CC 0, a 300 s timeout, no response-start or idle timeout.
    fn default() -> Self {
        Self {
            container_concurrency: 0,
            timeout: Duration::from_secs(300),
            response_start_timeout: None,
            idle_timeout: None,
        }
    }
}

/// The revisions the activator serves, shared between the control side (which
/// [`insert`](Self::insert)s and [`remove`](Self::remove)s as revisions come and go)
/// and the request path (which [`get`](Self::get)s once per request).
///
/// Clones share one table. A read holds the lock for one hash lookup and is never held
/// across an `.await`; writes are per revision, so a cluster with many revisions does
/// not copy the table on each change (as a `watch` of a whole map would).
#[derive(Debug, Clone, Default)]
pub struct RevisionTable {
    revisions: Arc<RwLock<HashMap<RevisionKey, RevisionInfo>>>,
}

impl RevisionTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces `key`'s settings.
    pub fn insert(&self, key: RevisionKey, info: RevisionInfo) {
        self.write().insert(key, info);
    }

    /// Forgets `key`; returns its settings if it was known.
    pub fn remove(&self, key: &RevisionKey) -> Option<RevisionInfo> {
        self.write().remove(key)
    }

    /// `key`'s settings, if it is known.
    pub fn get(&self, key: &RevisionKey) -> Option<RevisionInfo> {
        // A writer that panicked mid-insert leaves a valid map; keep serving it.
        let revisions = self
            .revisions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        revisions.get(key).copied()
    }

    /// How many revisions are known.
    pub fn len(&self) -> usize {
        let revisions = self
            .revisions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        revisions.len()
    }

    /// Whether no revision is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<RevisionKey, RevisionInfo>> {
        self.revisions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
