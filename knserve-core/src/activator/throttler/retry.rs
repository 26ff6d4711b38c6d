//! Sending a request to another instance when the one picked failed before answering.
//!
//! The rule ([`may_retry`]): a request that never reached the app
//! ([`Unanswered::NotSent`]: connect refused or reset, or a pooled connection found
//! closed before the request went out) is sent again whatever its method; one whose
//! connection closed or reset before any response byte ([`Unanswered::NoResponse`])
//! only when its method is idempotent (RFC 9110 §9.2.2: GET, HEAD, OPTIONS, PUT,
//! DELETE, TRACE), since the app may have acted on it. Either way the request must be
//! [`Replay`]able: its body is empty, so nothing of it is lost with the failed attempt.
//! A request with a body, or an upgrade (websocket), is never sent twice.
//!
//! Cost on the warm path: the body is never cloned or buffered. The head (method,
//! URI, headers) is cloned: `HeaderMap::clone` copies the map's tables as they are
//! (two allocations and a reference count per value), where re-inserting each header
//! into a reused map hashed every name again and cost about three times as many
//! instructions (callgrind, the warm activator path).

use http::{HeaderMap, Method, Request, Uri, Version};
use http_body::Body as _;

use crate::net::{Body, Unanswered, empty};

/// How many times one request is sent to another instance at most.
pub const MAX_RETRIES: u32 = 3;

/// Whether a request that failed at `stage` may be sent to another instance.
/// `replayable`: a [`Replay`] of it exists (its body is empty).
pub fn may_retry(method: &Method, replayable: bool, stage: Unanswered) -> bool {
    replayable
        && match stage {
            Unanswered::NotSent => true,
            Unanswered::NoResponse => is_idempotent(method),
        }
}

/// RFC 9110 §9.2.2.
fn is_idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::PUT,
        Method::DELETE,
        Method::TRACE,
    ]
    .contains(method)
}

/// A copy of a request's head, from which the request can be sent again. Only a
/// request with an empty body that is not an upgrade has one; extensions are not
/// kept (the hop after the activator sees none of them but the hold, which the
/// throttler attaches to each attempt).
#[derive(Debug)]
pub struct Replay {
    method: Method,
    uri: Uri,
    version: Version,
    headers: HeaderMap,
}

impl Replay {
    /// The copy of `request`'s head, `None` when the request cannot be replayed.
    pub fn of(request: &Request<Body>) -> Option<Self> {
        if !request.body().is_end_stream()
            || request
                .extensions()
                .get::<hyper::upgrade::OnUpgrade>()
                .is_some()
        {
            return None;
        }
        Some(Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            version: request.version(),
            headers: request.headers().clone(),
        })
    }

    /// The method of the request.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request again, with an empty body and no extensions.
    pub fn request(self) -> Request<Body> {
        let mut request = Request::new(empty());
        *request.method_mut() = self.method;
        *request.uri_mut() = self.uri;
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers;
        request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_that_never_left_is_retried_whatever_its_method() {
        for method in [Method::GET, Method::POST, Method::PATCH, Method::DELETE] {
            assert!(
                may_retry(&method, true, Unanswered::NotSent),
                "{method}: nothing reached the app"
            );
        }
    }

    #[test]
    fn a_reset_before_the_response_is_retried_only_for_idempotent_methods() {
        for method in [
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::PUT,
            Method::DELETE,
        ] {
            assert!(may_retry(&method, true, Unanswered::NoResponse), "{method}");
        }
        for method in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(
                !may_retry(&method, true, Unanswered::NoResponse),
                "{method} may have been acted on"
            );
        }
    }

    #[test]
    fn a_request_that_cannot_be_replayed_is_never_retried() {
        for stage in [Unanswered::NotSent, Unanswered::NoResponse] {
            assert!(!may_retry(&Method::GET, false, stage));
        }
    }

    #[test]
    fn only_an_empty_body_without_upgrade_gives_a_replay_and_it_keeps_the_head() {
        let request = Request::put("/a?b=1")
            .header("x-one", "1")
            .header("x-many", "1")
            .header("x-many", "2")
            .body(empty())
            .unwrap();
        let replay = Replay::of(&request).expect("an empty body replays");
        assert_eq!(replay.method(), Method::PUT);
        let again = replay.request();
        assert_eq!(again.uri(), "/a?b=1");
        assert_eq!(again.headers(), request.headers());

        let with_body = Request::post("/").body(crate::net::full("x")).unwrap();
        assert!(Replay::of(&with_body).is_none(), "a body is never buffered");
    }

    #[test]
    fn a_dropped_replay_gives_its_map_back_empty_for_the_next_request() {
        let request = Request::get("/")
            .header("x-one", "1")
            .body(empty())
            .unwrap();
        drop(Replay::of(&request));
        let other = Request::get("/")
            .header("x-two", "2")
            .body(empty())
            .unwrap();
        let again = Replay::of(&other).unwrap().request();
        assert_eq!(again.headers(), other.headers(), "nothing left from before");
    }
}
