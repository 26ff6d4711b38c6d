//! Concurrency reporting to the autoscaler (spec §3.8).
//!
//! - [`ConcurrencyReporter`]: the pure machine — per-revision time-weighted
//!   concurrency and arrivals, the immediate scale-from-zero signal and its
//!   subtraction.
//! - [`pair`] → ([`ReportLayer`], [`ReportWorker`]): the layer counts each request in
//!   and out (body end, drop, or upgraded-connection close); the worker cuts a report
//!   every [`REPORT_INTERVAL`]. Both send `(RevisionKey, Stat)` on one
//!   [`StatSender`], which the autoscaler link drains.

mod layer;
mod machine;

pub use self::layer::{
    REPORT_INTERVAL, Report, ReportLayer, ReportWorker, ResponseFuture, StatSender, pair,
};
pub use self::machine::ConcurrencyReporter;
