//! [`ResponseFuture`] of the [`Route`](super::Route) service.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::Response;
use pin_project_lite::pin_project;

use crate::net::{Body, BoxError};

pin_project! {
    /// The inner service's response, or the router's own answer (404, 503, 400).
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Forwarded { #[pin] future: F },
        Answered { response: Option<Response<Body>> },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn forwarded(future: F) -> Self {
        Self {
            state: State::Forwarded { future },
        }
    }

    pub(super) fn answered(response: Response<Body>) -> Self {
        Self {
            state: State::Answered {
                response: Some(response),
            },
        }
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Forwarded { future } => future.poll(cx).map_err(Into::into),
            StateProj::Answered { response } => Poll::Ready(
                response
                    .take()
                    .ok_or_else(|| "response future polled after completion".into()),
            ),
        }
    }
}
