//! The readiness check the drain layer runs, single-flight.

use std::{
    fmt,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
};

use futures_util::future::{BoxFuture, FutureExt, Shared, join_all};
use tracing::debug;

use super::{ProbeError, ProbeSpec, parse_serving_readiness_probe, probe};

/// Whether the user container is ready, by its readiness probes (all must pass).
///
/// Clones share one state. Concurrent [`check`](Self::check)s share one probe
/// execution (single-flight): kubelet, the activator and the autoscaler may all ask
/// at once, and the app sees one probe. Until the app has passed once, probes with
/// `periodSeconds` 0 run aggressively (retrying for up to 10 s); after that every
/// check is a single attempt with the user's `timeoutSeconds`, so a failing app is
/// reported promptly rather than retried. With no probe the app is always ready.
#[derive(Clone, Default)]
pub struct Readiness {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    probes: Vec<ProbeSpec>,
    seen_ready: AtomicBool,
    flight: Mutex<Option<Shared<BoxFuture<'static, bool>>>>,
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("probes", &self.inner.probes)
            .field("seen_ready", &self.inner.seen_ready.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Readiness {
    /// Checks `probes`; all must pass.
    pub fn new(probes: Vec<ProbeSpec>) -> Self {
        Self {
            inner: Arc::new(Inner {
                probes,
                ..Inner::default()
            }),
        }
    }

    /// No probe: always ready.
    pub fn always() -> Self {
        Self::default()
    }

    /// From the `SERVING_READINESS_PROBE` environment value, for an app on `user_port`.
    pub fn from_env_json(json: &str, user_port: u16) -> Result<Self, ProbeError> {
        parse_serving_readiness_probe(json, user_port).map(Self::new)
    }

    /// Whether the app has passed a check since start.
    pub fn seen_ready(&self) -> bool {
        self.inner.seen_ready.load(Ordering::Acquire)
    }

    /// Probes the app, joining a probe already running if there is one.
    pub async fn check(&self) -> bool {
        if self.inner.probes.is_empty() {
            return true;
        }
        let flight = {
            let mut slot = lock(&self.inner.flight);
            slot.get_or_insert_with(|| run(self.inner.clone()).boxed().shared())
                .clone()
        };
        flight.await
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // An `Option` slot has no invariant a panicking holder could break.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One probe execution; it clears the single-flight slot when it ends.
async fn run(inner: Arc<Inner>) -> bool {
    let seen_ready = inner.seen_ready.load(Ordering::Acquire);
    let results = join_all(inner.probes.iter().map(|spec| {
        let aggressive = spec.is_aggressive() && !seen_ready;
        probe::run(spec, aggressive)
    }))
    .await;
    let ready = results.into_iter().all(|passed| passed);
    if ready {
        inner.seen_ready.store(true, Ordering::Release);
    }
    debug!(ready, "readiness check");
    lock(&inner.flight).take();
    ready
}
