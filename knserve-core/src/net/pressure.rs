//! Running out of descriptors (or memory, or processes) without falling over.
//!
//! - [`is_resource_exhaustion`] tells such an error from a real failure: it is
//!   transient, so callers retry it with back-off instead of giving up.
//! - [`shed_idle_connections`] asks every server of this process (each accept loop
//!   [`serve`](super::serve) runs) to close its idle keep-alive connections — the
//!   cheapest descriptors to give back, since their clients reconnect when they need
//!   to. A descriptor limit is per process, so the signal is too.
//! - [`set_connection_limit`] caps the connections all servers of the process hold
//!   open together, so that accepting clients never takes the last descriptors: an
//!   instance start, a connection to an app and a state file write need some too. At
//!   the cap an accept loop sheds idle connections and waits; the kernel's backlog
//!   holds the clients meanwhile.
//! - [`WarnLimiter`] keeps a warning that fires on every failure (every `accept`, every
//!   start attempt) to one line per period, with a count of the ones it held back.

use std::{
    io,
    sync::{
        Arc, LazyLock, Mutex, PoisonError,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{sync::watch, time::Instant};

// Linux errno values (asm-generic/errno-base.h, errno.h): std names none of the
// descriptor ones as an `io::ErrorKind`.
const EAGAIN: i32 = 11;
const ENOMEM: i32 = 12;
const ENFILE: i32 = 23;
const EMFILE: i32 = 24;
const ENOBUFS: i32 = 105;

/// Whether `error` says the process or the system ran out of a resource — open files
/// (`EMFILE`, `ENFILE`), memory or buffers (`ENOMEM`, `ENOBUFS`), processes (`EAGAIN`
/// from fork) — rather than that the operation itself is wrong.
pub fn is_resource_exhaustion(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(EMFILE | ENFILE | ENOMEM | ENOBUFS | EAGAIN)
    )
}

/// The first error in `error`'s source chain (itself included) that is resource
/// exhaustion, if any: how a request failure caused by a full descriptor table is told
/// from one caused by the app.
pub fn exhaustion_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a io::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<io::Error>()
            && is_resource_exhaustion(io)
        {
            return Some(io);
        }
        current = error.source();
    }
    None
}

/// Whether `error` is `EMFILE` or `ENFILE`: out of file descriptors.
pub fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(EMFILE | ENFILE))
}

/// A generation number bumped by each [`shed_idle_connections`]; every accept loop
/// watches it.
static SHED: LazyLock<watch::Sender<u64>> = LazyLock::new(|| watch::channel(0).0);

/// Asks every server of this process to close its idle keep-alive connections now.
/// A connection with a request in flight is left alone.
pub fn shed_idle_connections() {
    SHED.send_modify(|generation| *generation = generation.wrapping_add(1));
}

/// What an accept loop watches to learn it should shed its idle connections.
pub(super) fn shed_requests() -> watch::Receiver<u64> {
    SHED.subscribe()
}

/// Connections open across every server of the process.
static OPEN: AtomicUsize = AtomicUsize::new(0);
/// The most connections servers accept together (no cap until set).
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Caps the connections every server of this process holds open together at
/// `limit`: a binary sets it a reserve below its open-files limit (`RLIMIT_NOFILE`).
pub fn set_connection_limit(limit: usize) {
    LIMIT.store(limit.max(1), Ordering::Relaxed);
}

/// The cap set by [`set_connection_limit`] (`usize::MAX` when none was).
pub fn connection_limit() -> usize {
    LIMIT.load(Ordering::Relaxed)
}

/// Connections open across every server of this process.
pub fn open_connections() -> usize {
    OPEN.load(Ordering::Relaxed)
}

/// One accepted connection, counted until dropped.
#[derive(Debug)]
pub(super) struct OpenConnection(());

impl OpenConnection {
    /// Counts a connection just accepted.
    pub(super) fn count() -> Self {
        OPEN.fetch_add(1, Ordering::Relaxed);
        Self(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether the servers hold as many connections as the cap allows.
pub(super) fn at_connection_limit() -> bool {
    open_connections() >= connection_limit()
}

/// At most one warning per `period`, counting the ones it held back.
///
/// States: when the last warning went out, and how many were suppressed since. Flow:
/// [`check`](Self::check) on every occurrence; it answers `Some(suppressed)` when this
/// one should be logged (with the number held back since the previous one), else
/// `None`. Guarantees: two logged warnings are at least `period` apart, and every
/// occurrence is either logged or counted in the next logged one.
#[derive(Debug, Clone)]
pub struct WarnLimiter {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    /// A limiter that lets one warning through per `period`.
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            last: None,
            suppressed: 0,
        }
    }

    /// Records one occurrence at `now`: `Some(suppressed since the last warning)` if
    /// it should be logged.
    pub fn check(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.period)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The pauses between retries of an operation refused for want of resources: the
/// first is `first`, each next one twice the last, up to `max`.
///
/// States: the next pause. Flow: [`pause`](Self::pause) before each retry,
/// [`reset`](Self::reset) once the operation succeeded. Guarantees: pauses never
/// shrink between resets and never exceed `max.max(first)`.
#[derive(Debug, Clone, Copy)]
pub struct Doubling {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Doubling {
    /// Pauses from `first` up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }

    /// The pause before the next retry.
    pub fn pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = pause.saturating_mul(2).min(self.max).max(self.first);
        pause
    }

    /// Back to the first pause.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// Pauses of 10 ms up to 100 ms: what an accept loop or a connect out of descriptors
/// waits before trying again.
pub const SHORT_PAUSES: Doubling =
    Doubling::new(Duration::from_millis(10), Duration::from_millis(100));

/// Pauses of 50 ms up to 2 s: what the start of an instance or a process refused for
/// want of resources waits before trying again.
pub const START_PAUSES: Doubling = Doubling::new(Duration::from_millis(50), Duration::from_secs(2));

/// A [`WarnLimiter`] shared by several tasks — the instances of one revision — so
/// that together they warn at most once per period.
#[derive(Debug, Clone)]
pub struct SharedWarnLimiter(Arc<Mutex<WarnLimiter>>);

impl SharedWarnLimiter {
    /// A shared limiter that lets one warning through per `period`.
    pub fn new(period: Duration) -> Self {
        Self(Arc::new(Mutex::new(WarnLimiter::new(period))))
    }

    /// [`WarnLimiter::check`] on the shared limiter.
    pub fn check(&self, now: Instant) -> Option<u64> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_warning_per_period_goes_out_and_the_next_counts_those_held_back() {
        let start = Instant::now();
        let mut limiter = WarnLimiter::new(Duration::from_secs(1));
        let at = |ms| start + Duration::from_millis(ms);
        let seen: Vec<_> = [0, 10, 500, 999, 1000, 1001, 2500]
            .into_iter()
            .map(|ms| limiter.check(at(ms)))
            .collect();
        assert_eq!(
            seen,
            [Some(0), None, None, None, Some(3), None, Some(1)],
            "a warning at most once per second, carrying the count suppressed since the last"
        );
    }

    #[test]
    fn pauses_double_up_to_the_maximum_and_start_over_after_a_reset() {
        let mut pauses = SHORT_PAUSES;
        let ms: Vec<_> = (0..6).map(|_| pauses.pause().as_millis()).collect();
        assert_eq!(ms, [10, 20, 40, 80, 100, 100], "doubling, capped at 100 ms");
        pauses.reset();
        assert_eq!(pauses.pause().as_millis(), 10, "a reset starts over");
    }

    #[test]
    fn descriptor_memory_and_process_exhaustion_are_resource_errors_others_are_not() {
        for errno in [EMFILE, ENFILE, ENOMEM, ENOBUFS, EAGAIN] {
            assert!(
                is_resource_exhaustion(&io::Error::from_raw_os_error(errno)),
                "errno {errno} is transient exhaustion"
            );
        }
        assert!(is_out_of_descriptors(&io::Error::from_raw_os_error(EMFILE)));
        assert!(!is_out_of_descriptors(&io::Error::from_raw_os_error(
            ENOMEM
        )));
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert!(
            !is_resource_exhaustion(&refused),
            "a refused connection is not exhaustion"
        );
        assert!(
            !is_resource_exhaustion(&io::Error::from_raw_os_error(2)),
            "ENOENT is a real failure"
        );
    }
}
