//! Reading a streamed request body (no declared length, e.g. HTTP/1.1 chunked) into
//! memory while the request waits for capacity, so that the waiting-bytes bound
//! counts what is actually held.

use std::{
    collections::VecDeque,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::net::{Body, BoxError, empty};

/// The frames read so far from a waiting request's streamed body.
///
/// Only a request that waits gets one: a request admitted at once keeps its body
/// untouched and streams it to the instance. Once the request leaves the queue the
/// reading stops and [`finish`](Self::finish) puts the frames back in front of what
/// is left of the body.
pub(super) struct Reader<'a> {
    body: &'a mut Body,
    frames: VecDeque<Frame<Bytes>>,
    error: Option<BoxError>,
    done: bool,
}

impl<'a> Reader<'a> {
    pub(super) fn new(body: &'a mut Body) -> Self {
        Self {
            body,
            frames: VecDeque::new(),
            error: None,
            done: false,
        }
    }

    /// Reads the next frame: `Ready(Some(bytes))` with its data length (0 for
    /// trailers), `Ready(None)` once the body ended or failed (the error is kept and
    /// given to the instance in turn), `Pending` while the client sends nothing.
    pub(super) fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Option<u64>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut *self.body).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(frame))) => {
                let bytes = frame.data_ref().map_or(0, |data| data.len() as u64);
                self.frames.push_back(frame);
                Poll::Ready(Some(bytes))
            }
            Poll::Ready(Some(Err(error))) => {
                self.error = Some(error);
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
        }
    }

    /// Puts the frames read back in front of the rest of the body; a body nothing was
    /// read from stays as it was.
    pub(super) fn finish(self) {
        if self.frames.is_empty() && !self.done {
            return;
        }
        let rest = std::mem::replace(self.body, empty());
        let prefix = Prefix {
            frames: self.frames,
            error: self.error,
            rest: (!self.done).then_some(rest),
        };
        *self.body = prefix.boxed_unsync();
    }
}

/// A body made of frames already read, then an error the read ended with or the
/// rest of the original body.
struct Prefix {
    frames: VecDeque<Frame<Bytes>>,
    error: Option<BoxError>,
    rest: Option<Body>,
}

impl http_body::Body for Prefix {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(frame) = self.frames.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(error) = self.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        match &mut self.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
            && self.error.is_none()
            && self.rest.as_ref().is_none_or(|rest| rest.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        // Unknown, like the body this one replaces: were it exact, a request that
        // waits again (its token found no free instance) would be counted by its
        // size instead of being read anew.
        SizeHint::default()
    }
}
