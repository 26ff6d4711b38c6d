//! The activator's rules and layers (spec §3).
//!
//! - [`Activator`]: the whole stack built from an [`ActivatorConfig`], with its handles.
//! - [`assign_slice`]: which of a revision's instances this activator may send to (§3.5).
//! - [`Backends`], [`Membership`]: what the control side publishes per revision.
//! - [`throttler`]: per-revision capacity, waiting and load balancing (§3.3, §3.4).
//! - [`handler`]: probe interception, revision resolution and header rewriting (§3.2, §3.7).
//! - [`probing`]: backend probing before first use (§3.6).
//! - [`report`]: concurrency reporting to the autoscaler (§3.8).

mod backends;
mod builder;
pub mod handler;
pub mod probing;
pub mod report;
mod subset;
pub mod throttler;

pub use self::backends::{Backends, Membership};
pub use self::builder::{Activator, ActivatorConfig, ActivatorLayers, StatReceiver};
pub use self::subset::assign_slice;
