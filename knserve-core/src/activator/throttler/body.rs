//! A response body that gives back the request's permit when it ends.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;

use super::revision::Permit;
use crate::net::{Body, BoxError};

pin_project! {
    /// Holds the permit until the body's last frame, an error, or the body's drop.
    #[derive(Debug)]
    pub(super) struct ReleaseBody {
        #[pin]
        inner: Body,
        permit: Option<Arc<Permit>>,
    }
}

impl ReleaseBody {
    pub(super) fn new(inner: Body, permit: Arc<Permit>) -> Self {
        Self {
            inner,
            permit: Some(permit),
        }
    }
}

impl http_body::Body for ReleaseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        if !matches!(frame, Some(Ok(_))) || this.inner.is_end_stream() {
            this.permit.take();
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
