//! Why the throttler refused a request, and the answer it gets.

use std::{sync::Arc, time::Duration};

use http::{Response, StatusCode};

use crate::RevisionKey;
use crate::net::{Body, text_response};

/// A request the throttler will not forward; answered with [`status`](Self::status)
/// and the message as a text body, which names the bound and the revision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// As many requests as allowed already wait (503).
    #[error("pending request queue full for revision {revision} ({waiting} waiting)")]
    QueueFull {
        /// The revision.
        revision: RevisionKey,
        /// Requests waiting when this one came.
        waiting: usize,
    },
    /// The waiting requests' bodies would go past the byte bound (503).
    #[error(
        "pending request bytes full for revision {revision} ({buffered} bytes waiting, \
         {request} in this request, limit {limit})"
    )]
    BytesFull {
        /// The revision.
        revision: RevisionKey,
        /// Body bytes the waiting requests declared.
        buffered: u64,
        /// Body bytes this request declared.
        request: u64,
        /// The bound.
        limit: u64,
    },
    /// The request waited as long as allowed (504).
    #[error("request waited longer than {limit:?} for capacity of revision {revision}")]
    WaitedTooLong {
        /// The revision.
        revision: RevisionKey,
        /// The bound.
        limit: Duration,
    },
    /// The revision's instances cannot become ready (503).
    #[error("revision {revision} cannot become ready: {reason}")]
    Failed {
        /// The revision.
        revision: RevisionKey,
        /// Why, as the control side reported it.
        reason: Arc<str>,
    },
}

impl Refusal {
    /// 504 for a request that waited too long, 503 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::WaitedTooLong { .. } => StatusCode::GATEWAY_TIMEOUT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The answer: [`status`](Self::status) with the message as a text body.
    pub fn to_response(&self) -> Response<Body> {
        text_response(self.status(), self.to_string())
    }
}
