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
    /// A response body that ends when the total limit runs out or no frame arrives
    /// within the idle limit. Each data or trailer frame counts as a write.
    ///
    /// What the client then sees is Knative's (spec §8 note (a), decided by its
    /// `timeoutWriter`, which writes the timeout message into a response whose headers
    /// are already sent and then ends the handler): a body of unknown length (chunked,
    /// HTTP/2) gets the layer's message (`request timeout`) appended and ends cleanly;
    /// a body that declared its length cannot take more bytes, so it ends with a
    /// [`TimedOut`] error and the client sees it cut short, as Go's server closes such
    /// a response's connection.
    #[derive(Debug)]
    pub struct TimeoutBody {
        #[pin]
        inner: Body,
        #[pin]
        sleep: Sleep,
        guard: TimeoutGuard,
        epoch: Instant,
        message: Option<Bytes>,
        done: bool,
    }
}

impl TimeoutBody {
    /// Wraps `inner`; `guard` measures time from `epoch`; `message` is what a body of
    /// unknown length ends with when it times out.
    pub fn new(inner: Body, guard: TimeoutGuard, epoch: Instant, message: Bytes) -> Self {
        Self {
            sleep: tokio::time::sleep_until(deadline(epoch, &guard)),
            inner,
            guard,
            epoch,
            message: Some(message),
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
        if let Poll::Ready(frame) = this.inner.as_mut().poll_frame(cx) {
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
                *this.done = true;
                let declared = this.inner.size_hint().exact().is_some();
                return match this.message.take() {
                    Some(message) if !declared => {
                        debug!(%limit, "response body ended by a timeout, with its message");
                        Poll::Ready(Some(Ok(Frame::data(message))))
                    }
                    _ => {
                        debug!(%limit, "response body of declared length cut off by a timeout");
                        Poll::Ready(Some(Err(Box::new(TimedOut(limit)))))
                    }
                };
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
