//! A population of revisions with full windows, shared by the autoscaler benches.

use knserve_core::Timestamp;
use knserve_core::autoscaler::metrics::Stat;
use knserve_core::autoscaler::{Autoscaler, Kpa, ScalingParams};
use knserve_core::config::AutoscalerConfig;

/// Seconds of history recorded for every revision: one full default stable window.
pub const HISTORY_SECS: u64 = 60;

/// `count` revisions, each with 1–10 ready instances and a stable window of stats
/// (one scraper stat per second, as the collector records them).
pub fn populated(count: usize) -> (Kpa<String>, Timestamp) {
    let config = AutoscalerConfig::default();
    let mut kpa = Kpa::new();
    let start = Timestamp::from_secs(1_000_000);
    for i in 0..count {
        let key = format!("namespace-{}/revision-{i:05}", i % 50);
        let ready = (i % 10) as u32 + 1;
        let params = ScalingParams::from_config((i % 3) as u32 * 10, &config);
        kpa.upsert(start, key.clone(), params, ready);
        kpa.observe(&key, ready, true);
        for s in 0..HISTORY_SECS {
            let stat = Stat {
                average_concurrent_requests: ((i as u64 * 7 + s) % 100) as f64,
                request_count: ((i as u64 * 13 + s) % 400) as f64,
                ..Stat::default()
            };
            kpa.record(start + std::time::Duration::from_secs(s), &key, &stat);
        }
    }
    (kpa, start + std::time::Duration::from_secs(HISTORY_SECS))
}
