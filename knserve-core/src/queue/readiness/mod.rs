//! Probing the user container (spec §4.3).
//!
//! - [`ProbeSpec`]: one readiness probe as the queue-proxy runs it, built from the API
//!   model's [`Probe`](crate::api::Probe) or from Knative's `SERVING_READINESS_PROBE`
//!   JSON ([`parse_serving_readiness_probe`]).
//! - [`Attempts`]: the retry rule as a pure machine — aggressive mode (every 50 ms,
//!   100 ms per try, up to 10 s, `successThreshold` passes in a row) or one attempt.
//! - [`Readiness`]: the cloneable check the drain layer runs for each health check;
//!   concurrent checks share one probe execution.

mod attempts;
mod check;
mod probe;
mod spec;

pub use self::attempts::{
    AGGRESSIVE_ATTEMPT_TIMEOUT, AGGRESSIVE_INTERVAL, AGGRESSIVE_LIMIT, Attempts, Next,
};
pub use self::check::Readiness;
pub use self::probe::PROBE_USER_AGENT;
pub use self::spec::{ProbeAction, ProbeError, ProbeSpec, parse_serving_readiness_probe};
