//! The queue-proxy's header changes on the way to the app (spec §4.6).
//!
//! - [`RewriteLayer`] / [`Rewrite`]: restores `Host` from `K-Original-Host`, synthesises
//!   `Forwarded` from `X-Forwarded-*`, removes the revision and namespace headers.
//! - The rules one by one as pure functions, and [`route_tag_label`], the tag label of
//!   request metrics.

mod headers;
mod layer;

pub use self::headers::{
    REWRITE_INPUTS, TAG_DEFAULT, TAG_DISABLED, TAG_UNDEFINED, add_forwarded, restore_host,
    rewrite_for_app, route_tag_label,
};
pub use self::layer::{Rewrite, RewriteLayer};
