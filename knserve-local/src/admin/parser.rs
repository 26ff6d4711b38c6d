//! Where the admin API decodes manifests: off the request path, one at a time.
//!
//! Decoding a manifest is CPU-bound (linear in its size, which the admin API bounds at
//! [`MAX_INPUT_BYTES`](knserve_core::api::MAX_INPUT_BYTES)). Run on the runtime's
//! worker threads it would delay every ingress request scheduled behind it; run on
//! the blocking pool without a bound, a few concurrent bodies would take every core.
//! So a decode runs on the blocking pool holding the pool's one permit, and a request
//! that cannot get the permit within [`ParserPool::wait`] is answered 503 rather than
//! queued without end.

use std::{sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a request waits for the parser before it is answered 503: longer than
/// the slowest decode of a body at the size limit, so that applies arriving together
/// are served in turn.
pub const PARSER_WAIT: Duration = Duration::from_secs(10);

/// What a client told the parser is busy should wait before retrying (seconds).
pub const RETRY_AFTER_SECS: u64 = 2;

/// At most one decode at a time, on the blocking pool.
///
/// Guarantee: once [`ParserPool::run`] has the permit, its work runs to the end even if
/// the caller stops waiting (the client went away): what was accepted is not lost.
#[derive(Debug, Clone)]
pub struct ParserPool {
    permits: Arc<Semaphore>,
    wait: Duration,
}

/// Held while decoding; the work drops it once the input is decoded, so that what
/// follows (storing the result) does not hold up the next decode.
#[derive(Debug)]
pub struct ParserPermit {
    _permit: OwnedSemaphorePermit,
}

/// Why [`ParserPool::run`] did not return the work's result.
#[derive(Debug, thiserror::Error)]
pub enum ParserError {
    /// The permit was not free within the pool's wait.
    #[error(
        "the manifest parser is busy with another apply or validate (waited {}s); retry in {RETRY_AFTER_SECS}s",
        .waited.as_secs()
    )]
    Busy {
        /// How long the request waited.
        waited: Duration,
    },
    /// The work panicked.
    #[error("the manifest parser failed: {0}")]
    Failed(String),
}

impl ParserPool {
    /// A pool with one permit, which a request waits for at most `wait`.
    pub fn new(wait: Duration) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(1)),
            wait,
        }
    }

    /// How long a request waits for the permit.
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// Runs `work` on the blocking pool once the permit is free, handing it the permit.
    pub async fn run<T, F>(&self, work: F) -> Result<T, ParserError>
    where
        T: Send + 'static,
        F: FnOnce(ParserPermit) -> T + Send + 'static,
    {
        let acquire = self.permits.clone().acquire_owned();
        let busy = ParserError::Busy { waited: self.wait };
        let permit = match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => ParserPermit { _permit: permit },
            // The semaphore is never closed; a closed one has no permit to give either.
            Ok(Err(_)) | Err(_) => return Err(busy),
        };
        tokio::task::spawn_blocking(move || work(permit))
            .await
            .map_err(|e| ParserError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real time: a paused clock does not advance while a blocking task runs.
    #[tokio::test]
    async fn a_request_that_cannot_get_the_parser_within_the_wait_is_refused_as_busy() {
        let wait = Duration::from_millis(50);
        let pool = ParserPool::new(wait);
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let (started, started_rx) = tokio::sync::oneshot::channel();
        let first = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move |_permit| {
                    started.send(()).unwrap();
                    held.recv().ok();
                    "first"
                })
                .await
            }
        });
        started_rx.await.unwrap();
        let second = pool.run(|_permit| "second").await;
        assert!(
            matches!(second, Err(ParserError::Busy { waited }) if waited == wait),
            "a second decode waits at most the pool's wait, then is refused: {second:?}"
        );
        hold.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), "first");
        assert_eq!(
            pool.run(|_permit| "third").await.unwrap(),
            "third",
            "the permit is free again once the first decode is done"
        );
    }

    #[tokio::test]
    async fn work_that_drops_its_permit_lets_the_next_decode_start_before_it_ends() {
        let pool = ParserPool::new(Duration::from_secs(600));
        let (hold, held) = std::sync::mpsc::channel::<()>();
        let (released, released_rx) = tokio::sync::oneshot::channel();
        let first = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move |permit| {
                    drop(permit);
                    released.send(()).unwrap();
                    held.recv().ok();
                })
                .await
            }
        });
        released_rx.await.unwrap();
        assert_eq!(pool.run(|_permit| 2).await.unwrap(), 2);
        hold.send(()).unwrap();
        first.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn accepted_work_finishes_when_its_caller_stops_waiting() {
        let pool = ParserPool::new(Duration::from_secs(600));
        let (done, done_rx) = tokio::sync::oneshot::channel();
        let (go, gate) = std::sync::mpsc::channel::<()>();
        let (started, started_rx) = tokio::sync::oneshot::channel();
        let caller = tokio::spawn({
            let pool = pool.clone();
            async move {
                pool.run(move |_permit| {
                    started.send(()).unwrap();
                    gate.recv().ok();
                    done.send(()).unwrap();
                })
                .await
            }
        });
        started_rx.await.unwrap();
        caller.abort();
        go.send(()).unwrap();
        done_rx
            .await
            .expect("the decode ran to its end although its caller went away");
    }
}
