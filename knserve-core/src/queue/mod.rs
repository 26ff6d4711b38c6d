//! The queue-proxy's pure rules (spec §4).
//!
//! - [`Breaker`]: `containerConcurrency` as a hard limit with a bounded queue (§4.4);
//!   the activator's per-revision throttler uses the same machine (§3.3).

mod breaker;

pub use self::breaker::{Admission, Breaker, WaiterId};
