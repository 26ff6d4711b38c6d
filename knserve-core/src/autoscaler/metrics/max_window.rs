//! The scale-down-delay sliding maximum (§2.7 step 10).

use std::collections::VecDeque;
use std::time::Duration;

use crate::time::Timestamp;

/// The length of one slot of a [`MaxTimeWindow`].
pub const SLOT: Duration = Duration::from_secs(2);

/// The maximum of the values recorded over the last `delay`, in 2-second slots.
///
/// A value recorded at `now` lives in slot `whole_secs / 2`; with `S = ceil(delay / 2s)`
/// slots, a value leaves the window once a record lands `S` or more slots after it —
/// for a 60 s delay, 60 s after it was recorded.
///
/// **States.** *Empty* ([`current`](Self::current) is `None`) → *holding* a descending
/// list of candidate maxima, each with its slot. It never returns to empty.
///
/// **Flow.** The decider records its desired count once per tick and applies
/// [`current`](Self::current).
///
/// **Guarantees.**
/// - An increase shows at once; a decrease only when every higher value has aged out.
/// - `current()` is the maximum of the values whose slot lies within `S` slots of the
///   newest slot recorded (ageing happens on `record`, not on the passage of time).
/// - A record whose time is earlier than the newest slot counts at the newest slot: a
///   late value is held a little longer rather than dropped, which can only delay a
///   scale-down.
/// - Memory: at most `S` entries (values strictly descend, slots strictly ascend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaxTimeWindow<T> {
    slots: u64,
    /// Slots ascend and values strictly descend from front to back.
    maxima: VecDeque<(u64, T)>,
}

impl<T: Copy + Ord> MaxTimeWindow<T> {
    /// An empty window covering `delay` (at least one slot).
    pub fn new(delay: Duration) -> Self {
        Self {
            slots: slot_count(delay),
            maxima: VecDeque::new(),
        }
    }

    /// The number of 2-second slots the window covers.
    pub fn slot_count(&self) -> u64 {
        self.slots
    }

    /// Records `value` at `now` and ages out what the new slot leaves behind.
    pub fn record(&mut self, now: Timestamp, value: T) {
        let newest = self.maxima.back().map_or(0, |&(slot, _)| slot);
        let slot = (now.whole_secs() / 2).max(newest);
        while self
            .maxima
            .front()
            .is_some_and(|&(old, _)| slot - old >= self.slots)
        {
            self.maxima.pop_front();
        }
        // An older value no higher than the new one can never be the maximum again.
        while self.maxima.back().is_some_and(|&(_, v)| v <= value) {
            self.maxima.pop_back();
        }
        // A higher value left in the same slot already covers this one.
        if self.maxima.back().is_some_and(|&(old, _)| old == slot) {
            return;
        }
        self.maxima.push_back((slot, value));
    }

    /// The maximum over the window as of the latest record; `None` before any.
    pub fn current(&self) -> Option<T> {
        self.maxima.front().map(|&(_, value)| value)
    }

    /// Changes the delay; values already outside the new window (counted back from the
    /// newest slot) are dropped at once.
    pub fn resize(&mut self, delay: Duration) {
        self.slots = slot_count(delay);
        if let Some(&(newest, _)) = self.maxima.back() {
            let slots = self.slots;
            self.maxima.retain(|&(slot, _)| newest - slot < slots);
        }
    }
}

/// `ceil(delay / 2s)`, at least 1.
fn slot_count(delay: Duration) -> u64 {
    let whole = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
    whole.div_ceil(2).max(1)
}
