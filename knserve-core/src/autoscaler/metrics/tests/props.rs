//! Invariants of §2.6 and §2.7 step 10, over random inputs.

use proptest::prelude::*;

use super::*;
use crate::autoscaler::metrics::weighted::smoothing_coefficient;
use crate::autoscaler::metrics::{Algorithm, MaxTimeWindow, WindowAverager};

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::Linear),
        Just(Algorithm::WeightedExponential)
    ]
}

/// A write: milliseconds after (or, if negative, before) the previous write, and a value.
fn writes(values: impl Strategy<Value = f64>) -> impl Strategy<Value = Vec<(i64, f64)>> {
    prop::collection::vec((-8_000_i64..12_000, values), 0..80)
}

/// Applies `writes` from 100 s on (so steps back never go before the epoch).
fn replay(w: &mut WindowAverager, writes: &[(i64, f64)]) -> u64 {
    let mut ms: u64 = 100_000;
    for &(step, value) in writes {
        ms = ms.saturating_add_signed(step);
        w.record(at_ms(ms), value);
    }
    ms
}

/// The §2.6 linear rules over the list of accepted writes, without a ring.
#[derive(Default)]
struct LinearModel {
    window: Duration,
    buckets: u64,
    first: u64,
    last: Option<u64>,
    writes: Vec<(u64, f64)>,
}

impl LinearModel {
    fn record(&mut self, at: u64, value: f64) {
        match self.last {
            None => (self.first, self.last) = (at, Some(at)),
            Some(last) if at > last => {
                if secs(at - last) >= self.window {
                    self.writes.clear();
                    self.first = at;
                }
                self.last = Some(at);
            }
            Some(last) if at < last => {
                if secs(last - at) >= self.window {
                    return;
                }
                self.first = self.first.min(at);
            }
            Some(_) => {}
        }
        self.writes.push((at, value));
    }

    fn average(&self, now: u64) -> f64 {
        let Some(last) = self.last else { return 0.0 };
        let since = now.saturating_sub(last);
        if since > 0 && secs(since) >= self.window {
            return 0.0;
        }
        let counted = self.buckets - since;
        let oldest = (last + 1).saturating_sub(counted);
        let sum: f64 = self
            .writes
            .iter()
            .filter(|(s, _)| *s >= oldest && *s <= last)
            .map(|(_, v)| v)
            .sum();
        let divisor = (last - self.first + 1).min(counted);
        (sum / divisor as f64 * 1e6).round() / 1e6
    }
}

proptest! {
    #[test]
    fn linear_average_matches_the_spec_rules_written_without_a_ring(
        window_ms in 1_000_u64..12_000,
        writes in prop::collection::vec((-8_000_i64..12_000, 0.0_f64..100.0), 1..80),
        probes in prop::collection::vec(-3_000_i64..20_000, 1..10),
    ) {
        let window = Duration::from_millis(window_ms);
        let mut w = WindowAverager::new(window, Algorithm::Linear);
        let mut model = LinearModel {
            window,
            buckets: w.bucket_count() as u64,
            ..LinearModel::default()
        };
        let mut ms: u64 = 100_000;
        for &(step, value) in &writes {
            ms = ms.saturating_add_signed(step);
            w.record(at_ms(ms), value);
            model.record(ms / 1_000, value);
            for &probe in &probes {
                let now = ms.saturating_add_signed(probe);
                let (ring, rules) = (w.average(at_ms(now)), model.average(now / 1_000));
                prop_assert!(
                    (ring - rules).abs() <= 2e-6,
                    "the ring must give the §2.6 average: ring {ring}, rules {rules} at {now} ms"
                );
            }
        }
    }

    #[test]
    fn a_constant_input_every_second_averages_to_itself_linearly(
        value in 0.0_f64..1e6,
        window in 1_u64..120,
        start in 0_u64..10_000,
        seconds in 1_u64..300,
        offset_ms in 0_u64..1_000,
    ) {
        let mut w = WindowAverager::new(secs(window), Algorithm::Linear);
        for second in start..start + seconds {
            w.record(at_ms(second * 1_000 + offset_ms), value);
        }
        let avg = w.average(at(start + seconds - 1));
        prop_assert!(
            (avg - value).abs() <= 1e-6,
            "every valid bucket holds {value}, so the mean is {value}; got {avg}"
        );
    }

    #[test]
    fn a_constant_input_filling_the_window_weighs_to_itself_times_the_carried_weight(
        value in 0.0_f64..1e6,
        window in 1_u64..120,
        extra in 0_u64..100,
        start in 0_u64..10_000,
    ) {
        // Weighted exponential: with every bucket c, the sum is c·(1 − (1−α)^n), which
        // is 0.9999·c while α is above its floor and between 0.9999·c and c below it.
        let mut w = WindowAverager::new(secs(window), Algorithm::WeightedExponential);
        let end = start + window + extra;
        for second in start..end {
            w.record(at(second), value);
        }
        let n = w.bucket_count();
        let alpha = smoothing_coefficient(n);
        let carried = 1.0 - (1.0 - alpha).powi(n as i32);
        let avg = w.average(at(end - 1));
        prop_assert!(
            (avg - value * carried).abs() <= 1e-9 * value.max(1.0),
            "a full window of {value} weighs {carried} of it; got {avg}"
        );
        prop_assert!(
            avg >= 0.9999 * value - 1e-9 * value && avg <= value * (1.0 + 1e-12),
            "the weights carry between 0.9999 and 1 of the input; got {avg} for {value}"
        );
    }

    #[test]
    fn averages_are_never_negative_for_non_negative_input(
        algorithm in algorithm(),
        window_ms in 0_u64..15_000,
        writes in writes(0.0_f64..1e9),
        resize_ms in prop::option::of(0_u64..15_000),
        probes in prop::collection::vec(-20_000_i64..20_000, 1..10),
    ) {
        let mut w = WindowAverager::new(Duration::from_millis(window_ms), algorithm);
        let last = replay(&mut w, &writes);
        if let Some(resize_ms) = resize_ms {
            w.resize(Duration::from_millis(resize_ms));
        }
        for probe in probes {
            let avg = w.average(at_ms(last.saturating_add_signed(probe)));
            prop_assert!(avg >= 0.0 && avg.is_finite(), "non-negative samples average to {avg}");
        }
    }

    #[test]
    fn any_input_is_taken_without_panicking(
        algorithm in algorithm(),
        window_ms in any::<u64>(),
        writes in writes(any::<f64>()),
        probe in any::<u64>(),
    ) {
        let mut w = WindowAverager::new(Duration::from_millis(window_ms), algorithm);
        replay(&mut w, &writes);
        let _ = w.average(at_ms(probe));
        let _ = w.is_empty(at_ms(probe));
        w.resize(Duration::from_millis(probe));
        let _ = w.average(at_ms(probe));
    }

    #[test]
    fn the_max_window_is_the_brute_force_max_over_its_slots(
        delay_s in 0_u64..30,
        records in prop::collection::vec((-6_i64..7, 0_i32..100), 1..120),
    ) {
        // Steps back in time are late records: they count at the newest slot.
        let mut w = MaxTimeWindow::new(secs(delay_s));
        let slots = w.slot_count();
        let mut seen: Vec<(u64, i32)> = Vec::new();
        let (mut now, mut newest) = (1_000_u64, 0_u64);
        for (step, value) in records {
            now = now.saturating_add_signed(step);
            w.record(at(now), value);
            newest = newest.max(now / 2);
            seen.push((newest, value));
            let brute = seen
                .iter()
                .filter(|(slot, _)| newest - slot < slots)
                .map(|(_, v)| *v)
                .max();
            prop_assert_eq!(
                w.current(),
                brute,
                "current() is the max of the values recorded in the last {} slots",
                slots
            );
        }
    }
}
