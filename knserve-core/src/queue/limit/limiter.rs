//! The breaker shared by every clone of the layer, and the tokens it hands out.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;
use tracing::debug;

use crate::queue::{Admission, Breaker, WaiterId};

/// One [`Breaker`] shared by every service built from one layer, so the HTTP/1 and
/// h2c servers of a pod draw on the same `containerConcurrency`.
///
/// The mutex is held only for a machine step and a channel send, never across an
/// `.await`.
#[derive(Clone)]
pub struct Limiter {
    shared: Arc<Mutex<Shared>>,
}

struct Shared {
    breaker: Breaker,
    next_id: WaiterId,
    waiters: HashMap<WaiterId, oneshot::Sender<()>>,
}

/// What happened to a request that asked for a token.
pub(super) enum Entry {
    /// It holds a token.
    Admitted(Permit),
    /// It waits: `admitted` fires when the token is its; dropping the ticket gives up.
    Queued(Ticket, oneshot::Receiver<()>),
    /// No slot is left.
    Full,
}

/// A concurrency token; dropping it returns the token and wakes the oldest waiter.
pub struct Permit {
    limiter: Limiter,
}

/// A place in the queue; dropping it before [`admit`](Ticket::admit) cancels the
/// wait, or returns the token if it was handed over meanwhile.
pub(super) struct Ticket {
    limiter: Limiter,
    id: WaiterId,
    armed: bool,
}

impl Limiter {
    /// Wraps `breaker`.
    pub fn new(breaker: Breaker) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Shared {
                breaker,
                next_id: 0,
                waiters: HashMap::new(),
            })),
        }
    }

    /// Requests holding tokens (reaching the app).
    pub fn in_flight(&self) -> u32 {
        self.lock().breaker.in_flight()
    }

    /// Requests waiting for a token.
    pub fn waiting(&self) -> usize {
        self.lock().breaker.waiting()
    }

    pub(super) fn enter(&self) -> Entry {
        let mut shared = self.lock();
        let id = shared.next_id;
        shared.next_id = shared.next_id.wrapping_add(1);
        match shared.breaker.enter(id) {
            Admission::Admitted => Entry::Admitted(Permit {
                limiter: self.clone(),
            }),
            Admission::Queued => {
                let (wake, admitted) = oneshot::channel();
                shared.waiters.insert(id, wake);
                let ticket = Ticket {
                    limiter: self.clone(),
                    id,
                    armed: true,
                };
                Entry::Queued(ticket, admitted)
            }
            Admission::Full => Entry::Full,
        }
    }

    fn release(&self) {
        let mut shared = self.lock();
        if let Some(next) = shared.breaker.release() {
            debug!(waiter = next, "breaker token handed to the oldest waiter");
            // A failed send means the waiter is being dropped; its ticket's drop finds
            // the token handed over and returns it.
            if let Some(wake) = shared.waiters.remove(&next) {
                let _ = wake.send(());
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // The machine's steps cannot leave it half-updated, so a poisoned lock is safe
        // to keep using.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Ticket {
    /// The token was handed to this waiter: it now holds a permit.
    pub(super) fn admit(mut self) -> Permit {
        self.armed = false;
        Permit {
            limiter: self.limiter.clone(),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let handed_over = {
            let mut shared = self.limiter.lock();
            shared.waiters.remove(&self.id);
            !shared.breaker.cancel(self.id)
        };
        debug!(waiter = self.id, handed_over, "breaker waiter gave up");
        if handed_over {
            self.limiter.release();
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.limiter.release();
    }
}

impl fmt::Debug for Limiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = self.lock();
        f.debug_struct("Limiter")
            .field("in_flight", &shared.breaker.in_flight())
            .field("waiting", &shared.breaker.waiting())
            .finish()
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("id", &self.id)
            .field("armed", &self.armed)
            .finish()
    }
}
