//! The response body after the headers: idle and total limits still run.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tracing::debug;

use super::TimeoutGuard;
use super::layer::{TimedOut, deadline, since};
use crate::net::{Body, BoxError};

pin_project_lite::pin_project! {
    /// A response body that ends with a [`TimedOut`] error when the total limit runs
    /// out or no frame arrives within the idle limit.
    ///
    /// Each data or trailer frame counts as a write. The client sees a truncated
    /// response (spec §8 note (a)).
    #[derive(Debug)]
    pub struct TimeoutBody {
        #[pin]
        inner: Body,
        #[pin]
        sleep: Sleep,
        guard: TimeoutGuard,
        epoch: Instant,
        done: bool,
    }
}

impl TimeoutBody {
    /// Wraps `inner`; `guard` measures time from `epoch`.
    pub fn new(inner: Body, guard: TimeoutGuard, epoch: Instant) -> Self {
        Self {
            sleep: tokio::time::sleep_until(deadline(epoch, &guard)),
            inner,
            guard,
            epoch,
            done: false,
        }
    }
}

impl http_body::Body for TimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = this.inner.poll_frame(cx) {
            match &frame {
                Some(Ok(_)) => {
                    this.guard.wrote(since(*this.epoch));
                    this.sleep.as_mut().reset(deadline(*this.epoch, this.guard));
                }
                _ => *this.done = true,
            }
            return Poll::Ready(frame);
        }
        loop {
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(limit) = this.guard.expired(since(*this.epoch)) {
                debug!(%limit, "response body cut off by a timeout");
                *this.done = true;
                return Poll::Ready(Some(Err(Box::new(TimedOut(limit)))));
            }
            this.sleep.as_mut().reset(deadline(*this.epoch, this.guard));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
