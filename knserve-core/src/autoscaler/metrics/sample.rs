//! How many pods a scrape asks, and how their stats stand for all pods (§2.5).

use super::stat::Stat;

/// `1.96² × 100 / 5²`: a 95 % confidence level with a 5 % margin of error.
const SAMPLE_X: f64 = 1.96 * 1.96 * 100.0 / (5.0 * 5.0);

/// The largest sample [`sample_size`] ever asks for.
pub const MAX_SAMPLE_SIZE: usize = 16;

/// The pod name of a stat extrapolated from a scrape.
pub const SCRAPER_POD_NAME: &str = "service-scraper";

/// How many of `population` ready pods a scrape samples.
///
/// `N` for `N ≤ 3`, else `ceil(N·X / (N + X − 1))` with `X = 15.3664`: 4 → 4, 10 → 7,
/// 20 → 9, 40 → 12, 100 → 14, and never more than 16 (the limit as `N` grows is `X`).
pub fn sample_size(population: usize) -> usize {
    if population <= 3 {
        return population;
    }
    let n = population as f64;
    let size = (n * SAMPLE_X / (n + SAMPLE_X - 1.0)).ceil();
    // `size` is in (0, X + 1), so the conversion is exact.
    (size as usize).min(MAX_SAMPLE_SIZE).min(population)
}

/// Sums the sampled `stats` and scales every numeric field by `population / stats.len()`.
///
/// The result stands for the whole revision: pod name [`SCRAPER_POD_NAME`] and no
/// timestamp (the collector stamps it on arrival). `None` when there is nothing to
/// extrapolate from or to (no stats, or a population of 0: the scrape is skipped).
pub fn extrapolate(stats: &[Stat], population: usize) -> Option<Stat> {
    if stats.is_empty() || population == 0 {
        return None;
    }
    let scale = population as f64 / stats.len() as f64;
    let sum = |field: fn(&Stat) -> f64| stats.iter().map(field).sum::<f64>() * scale;
    Some(Stat {
        pod_name: SCRAPER_POD_NAME.to_owned(),
        average_concurrent_requests: sum(|s| s.average_concurrent_requests),
        average_proxied_concurrent_requests: sum(|s| s.average_proxied_concurrent_requests),
        request_count: sum(|s| s.request_count),
        proxied_request_count: sum(|s| s.proxied_request_count),
        process_uptime: sum(|s| s.process_uptime),
        timestamp: None,
    })
}
