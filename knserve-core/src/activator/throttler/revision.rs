//! One revision's throttler shared between the watch task and the requests: the
//! machine behind a lock, the waiters' wake-up channels, and the token a request holds.

use std::{
    collections::HashMap,
    future::{Future, poll_fn},
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    task::{Context, Poll, ready},
    time::Duration,
};

use rand::rngs::SmallRng;
use tokio::sync::oneshot;
use tracing::debug;

use super::{Entry, Refusal, Throttler, Wake, buffer::Reader};
use crate::activator::{Backends, Membership};
use crate::net::Body;
use crate::queue::WaiterId;

/// The machine and the channels that wake its waiters; every step and the delivery of
/// its wakes happen under one lock, so a waiter is either still queued or has its wake.
#[derive(Debug)]
pub(super) struct Revision {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    machine: Throttler,
    waiters: HashMap<WaiterId, oneshot::Sender<Wake>>,
    rng: SmallRng,
}

impl State {
    /// Sends each wake to its waiter; a token whose waiter is gone is released.
    fn deliver(&mut self, wakes: Vec<(WaiterId, Wake)>) {
        let mut pending = wakes;
        while let Some((id, wake)) = pending.pop() {
            let Some(sender) = self.waiters.remove(&id) else {
                continue;
            };
            if let Err(Wake::Admitted) = sender.send(wake) {
                pending.extend(self.machine.release(None));
            }
        }
    }
}

impl Revision {
    pub(super) fn new(machine: Throttler, rng: SmallRng) -> Self {
        let state = State {
            machine,
            waiters: HashMap::new(),
            rng,
        };
        Self {
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the machine.
    pub(super) fn inspect<T>(&self, read: impl FnOnce(&Throttler) -> T) -> T {
        read(&self.lock().machine)
    }

    /// Applies a backend or membership change and wakes whom it admits or refuses.
    pub(super) fn apply(&self, backends: &Backends, membership: Membership) {
        let mut state = self.lock();
        let wakes = state.machine.update(backends, membership);
        state.deliver(wakes);
    }

    /// Waits for a revision token and an instance: the admission loop of §3.3. A
    /// request that gets a token but finds no instance with a free slot (capacity
    /// fell while it waited) gives the token back and enters again.
    ///
    /// `streamed` is the body of a request that declares no length: if the request
    /// has to wait, the body is read into memory meanwhile and counted (see
    /// [`Throttler::buffer`]); a request admitted at once leaves it untouched.
    pub(super) async fn admit(
        self: &Arc<Self>,
        body_bytes: u64,
        mut streamed: Option<&mut Body>,
    ) -> Result<Permit, Refusal> {
        loop {
            let mut permit = self.token(body_bytes, streamed.as_deref_mut()).await?;
            let instance = {
                let mut state = self.lock();
                let State { machine, rng, .. } = &mut *state;
                machine.pick(rng)
            };
            if instance.is_some() {
                permit.instance = instance;
                return Ok(permit);
            }
            debug!("token without a free instance, entering again");
            drop(permit);
            tokio::task::yield_now().await;
        }
    }

    async fn token(
        self: &Arc<Self>,
        body_bytes: u64,
        streamed: Option<&mut Body>,
    ) -> Result<Permit, Refusal> {
        let (id, receiver, max_wait) = {
            let mut state = self.lock();
            match state.machine.enter(body_bytes) {
                Entry::Admitted => return Ok(Permit::token(self.clone())),
                Entry::Refused(refusal) => return Err(refusal),
                Entry::Queued(id) => {
                    let (sender, receiver) = oneshot::channel();
                    state.waiters.insert(id, sender);
                    (id, receiver, state.machine.config().max_wait)
                }
            }
        };
        let waiter = Waiter {
            revision: self.clone(),
            id,
            receiver: Some(receiver),
        };
        let mut reader = streamed.map(Reader::new);
        let result = waiter.wait(max_wait, reader.as_mut()).await;
        if let Some(reader) = reader {
            reader.finish();
        }
        result
    }

    /// Takes `failed` out of the set and picks another instance for a request that
    /// keeps its token.
    fn repick(&self, failed: SocketAddr) -> Option<SocketAddr> {
        let mut state = self.lock();
        let wakes = state.machine.eject(failed);
        state.deliver(wakes);
        let State { machine, rng, .. } = &mut *state;
        machine.pick(rng)
    }

    fn release(&self, instance: Option<SocketAddr>) {
        let mut state = self.lock();
        let wakes = state.machine.release(instance);
        state.deliver(wakes);
    }
}

/// A queued request; dropping it before its wake leaves the queue (or, if the wake
/// was already sent, gives back the token it carried).
struct Waiter {
    revision: Arc<Revision>,
    id: WaiterId,
    receiver: Option<oneshot::Receiver<Wake>>,
}

impl Waiter {
    async fn wait(
        mut self,
        max_wait: Option<Duration>,
        mut reader: Option<&mut Reader<'_>>,
    ) -> Result<Permit, Refusal> {
        let woken = poll_fn(|cx| self.poll_wake(cx, reader.as_deref_mut()));
        let wake = match max_wait {
            None => woken.await?,
            Some(limit) => match tokio::time::timeout(limit, woken).await {
                Ok(wake) => wake?,
                Err(_elapsed) => self.time_out()?,
            },
        };
        self.receiver = None;
        match wake {
            Some(Wake::Admitted) => Ok(Permit::token(self.revision.clone())),
            Some(Wake::Refused(refusal)) => Err(refusal),
            None => Err(self.revision.inspect(|machine| Refusal::Failed {
                revision: machine.revision().clone(),
                reason: "the throttler dropped the request".into(),
            })),
        }
    }

    /// The wake, if one came; meanwhile the body being read, frame by frame, each
    /// counted before the next is read.
    fn poll_wake(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Option<&mut Reader<'_>>,
    ) -> Poll<Result<Option<Wake>, Refusal>> {
        loop {
            let receiver = self.receiver.as_mut().expect("a waiter waits once");
            if let Poll::Ready(wake) = Pin::new(receiver).poll(cx) {
                return Poll::Ready(Ok(wake.ok()));
            }
            let Some(reader) = reader.as_deref_mut() else {
                return Poll::Pending;
            };
            let Some(bytes) = ready!(reader.poll_read(cx)) else {
                return Poll::Pending;
            };
            if let Err(refusal) = self.buffer(bytes) {
                return Poll::Ready(Err(refusal));
            }
        }
    }

    /// Counts `bytes` more read of the body; past the bound the waiter leaves the
    /// queue refused.
    fn buffer(&mut self, bytes: u64) -> Result<(), Refusal> {
        let mut state = self.revision.lock();
        state.machine.buffer(self.id, bytes).inspect_err(|_| {
            state.waiters.remove(&self.id);
            self.receiver = None;
        })
    }

    /// The wait bound passed: refused if still queued, else the wake that beat it.
    fn time_out(&mut self) -> Result<Option<Wake>, Refusal> {
        let mut state = self.revision.lock();
        if let Some(refusal) = state.machine.time_out(self.id) {
            state.waiters.remove(&self.id);
            self.receiver = None;
            return Err(refusal);
        }
        Ok(self.receiver.as_mut().and_then(|r| r.try_recv().ok()))
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let Some(mut receiver) = self.receiver.take() else {
            return;
        };
        let mut state = self.revision.lock();
        if state.machine.cancel(self.id) {
            state.waiters.remove(&self.id);
        } else if let Ok(Wake::Admitted) = receiver.try_recv() {
            let wakes = state.machine.release(None);
            state.deliver(wakes);
        }
    }
}

/// A revision token, and the instance slot once one is picked; both are given back
/// when the permit is dropped.
#[derive(Debug)]
pub(super) struct Permit {
    revision: Arc<Revision>,
    instance: Option<SocketAddr>,
}

impl Permit {
    fn token(revision: Arc<Revision>) -> Self {
        Self {
            revision,
            instance: None,
        }
    }

    /// The instance picked for the request.
    pub(super) fn instance(&self) -> Option<SocketAddr> {
        self.instance
    }

    /// Moves the request off its instance, which failed before answering, onto
    /// another one; `None` (and no slot held) when no other instance has a free slot.
    pub(super) fn move_off(&mut self) -> Option<SocketAddr> {
        let failed = self.instance.take()?;
        self.instance = self.revision.repick(failed);
        self.instance
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.revision.release(self.instance);
    }
}
