//! The shared driver of the [`Drainer`].

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};
use tracing::debug;

use super::{Drainer, Phase};
use crate::time::Timestamp;

/// After `/wait-for-drain` returned, a SIGTERM that does not come within this delay
/// means kubelet restarts only the user container: reset the drain (§4.5).
pub const LIVENESS_RESET_DELAY: Duration = Duration::from_secs(1);

/// How long the binary waits for hijacked (upgraded) connections after stopping its
/// servers (§4.5).
pub const HIJACKED_DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// A cloneable handle on one pod's [`Drainer`], reading the clock for it.
///
/// Clones share the state: the drain layer feeds it requests, `/wait-for-drain` and
/// the SIGTERM handler call [`drain`](Self::drain).
#[derive(Debug, Clone)]
pub struct DrainHandle {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    drainer: Mutex<Drainer>,
    epoch: Instant,
    reset: Notify,
}

impl Default for DrainHandle {
    fn default() -> Self {
        Self::new(Drainer::default())
    }
}

impl DrainHandle {
    /// A handle driving `drainer` (its quiet period and current state).
    pub fn new(drainer: Drainer) -> Self {
        Self {
            shared: Arc::new(Shared {
                drainer: Mutex::new(drainer),
                epoch: Instant::now(),
                reset: Notify::new(),
            }),
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_duration(Instant::now().saturating_duration_since(self.shared.epoch))
    }

    fn lock(&self) -> MutexGuard<'_, Drainer> {
        // The machine has no invariant a panicking holder could break half-way.
        self.shared
            .drainer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether health checks must fail.
    pub fn is_draining(&self) -> bool {
        self.lock().is_draining()
    }

    /// The machine's phase now.
    pub fn phase(&self) -> Phase {
        let now = self.now();
        self.lock().phase(now)
    }

    /// A non-probe request arrived: restarts the quiet period while draining.
    pub fn request_seen(&self) {
        let now = self.now();
        self.lock().request_seen(now);
    }

    /// Back to serving; a [`drain`](Self::drain) still waiting returns at once.
    pub fn reset(&self) {
        self.lock().reset();
        debug!("drain reset");
        self.shared.reset.notify_waiters();
    }

    /// Starts draining (health checks fail from now on) and returns once a quiet period
    /// has passed with no new request — or at once if that already happened. Any
    /// number of callers may wait; all return together. A [`reset`](Self::reset) while
    /// waiting also returns (the caller has nothing left to wait for).
    pub async fn drain(&self) {
        {
            let now = self.now();
            let mut drainer = self.lock();
            if !drainer.is_draining() {
                debug!("draining");
            }
            drainer.drain(now);
        }
        loop {
            let reset = self.shared.reset.notified();
            let Some(at) = self.lock().drained_at() else {
                return;
            };
            if self.now() >= at {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(self.shared.epoch + at.since_epoch()) => {}
                () = reset => {}
            }
        }
    }
}
