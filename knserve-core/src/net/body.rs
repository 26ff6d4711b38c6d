use bytes::Bytes;
use http::{Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

/// The error type at every tower boundary of the request path.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type of every request and response in the request path.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// An empty body.
pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A body holding `data`.
pub fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A `text/plain` response with `status` and `text` as its body — the shape of every
/// answer the layers give on their own (probes, refusals, timeouts).
pub fn text_response(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let text = text.into();
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
