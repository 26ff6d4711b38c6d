//! Metric windows and collection for the KPA (§2.5, §2.6, §2.7 step 10).
//!
//! Everything here is a pure state machine that is told the time:
//!
//! - [`WindowAverager`]: a ring of 1-second buckets averaged linearly or with
//!   exponential weights ([`Algorithm`]).
//! - [`MetricCollector`]: one revision's concurrency and rps, each over a stable and a
//!   panic window, fed with [`Stat`]s; [`NoData`] when a scraped revision went quiet.
//! - [`MaxTimeWindow`]: the scale-down-delay sliding maximum in 2-second slots.
//! - [`sample_size`] and [`extrapolate`]: how many pods a scrape asks and how their
//!   stats stand for the whole revision.
//!
//! ```
//! use std::time::Duration;
//! use knserve_core::autoscaler::metrics::{Algorithm, MetricCollector, Stat, panic_window};
//! use knserve_core::Timestamp;
//!
//! let stable = Duration::from_secs(60);
//! let mut collector =
//!     MetricCollector::new(stable, panic_window(stable, 10.0), Algorithm::Linear, true);
//! for second in 0..6 {
//!     let stat = Stat { average_concurrent_requests: 3.0, ..Stat::default() };
//!     collector.record(Timestamp::from_secs(second), &stat);
//! }
//! // Six seconds of data average over six buckets, not sixty.
//! assert_eq!(collector.stable_and_panic_concurrency(Timestamp::from_secs(5)), Ok((3.0, 3.0)));
//! ```

mod collector;
mod linear;
mod max_window;
mod sample;
mod stat;
mod weighted;
mod window;

#[cfg(test)]
mod tests;

pub use self::collector::{MetricCollector, NoData, panic_window};
pub use self::max_window::{MaxTimeWindow, SLOT};
pub use self::sample::{MAX_SAMPLE_SIZE, SCRAPER_POD_NAME, extrapolate, sample_size};
pub use self::stat::Stat;
pub use self::window::{Algorithm, MAX_WINDOW, MIN_WINDOW, WindowAverager};
