//! A response body that keeps a guard alive until the body ends.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::Response;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;

use super::{Body, BoxError};

/// A body that drops `guard` once the last frame is read, the body fails, or the body
/// itself is dropped — whichever comes first.
///
/// Layers that count a request until its response is done (a concurrency token, a
/// stats in/out pair) wrap the response body with their guard: the request is over
/// for the app only when the body has been streamed out.
pub struct GuardedBody<G> {
    inner: Body,
    guard: Option<G>,
}

impl<G> GuardedBody<G> {
    /// `inner`, holding `guard` until it ends.
    pub fn new(inner: Body, guard: G) -> Self {
        Self {
            inner,
            guard: Some(guard),
        }
    }
}

/// Wraps the body of `response` so that `guard` lives until the body ends.
pub fn guard_response<G: Send + 'static>(response: Response<Body>, guard: G) -> Response<Body> {
    response.map(|body| GuardedBody::new(body, guard).boxed_unsync())
}

impl<G> std::fmt::Debug for GuardedBody<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedBody")
            .field("guarded", &self.guard.is_some())
            .finish_non_exhaustive()
    }
}

// Neither field is structurally pinned: `Body` is `Unpin` and the guard is never pinned.
impl<G> Unpin for GuardedBody<G> {}

impl<G> http_body::Body for GuardedBody<G> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        let ended = match &frame {
            None | Some(Err(_)) => true,
            Some(Ok(_)) => this.inner.is_end_stream(),
        };
        if ended {
            this.guard = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
