//! The activator's pure rules (spec §3).
//!
//! - [`assign_slice`]: which of a revision's instances this activator may send to (§3.5).

mod subset;

pub use self::subset::assign_slice;
