//! The breaker (spec §3.3, §4.4): a concurrency limit with a bounded waiting queue.

use std::collections::VecDeque;

/// Identifies a waiting request; chosen by the driver, unique among waiters.
pub type WaiterId = u64;

/// What happened to a request that entered the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// It holds a concurrency token: forward it, then [`release`](Breaker::release).
    Admitted,
    /// It waits for a token; a later `release` or capacity raise names it.
    Queued,
    /// Every slot is taken: refuse it at once (503 `pending request queue full`).
    Full,
}

/// A concurrency limit with a bounded queue.
///
/// States: `in_flight` requests hold tokens (at most `capacity` are admitted), and
/// `waiting` requests queue in arrival order. A request first takes one of
/// `total_slots = queue_depth + max_concurrency` pending slots (in flight plus
/// waiting); with none left it is refused. Flow: [`enter`](Self::enter) admits, queues
/// or refuses; [`release`](Self::release) returns a token and hands it to the oldest
/// waiter; [`cancel`](Self::cancel) removes a waiter that gave up (timeout, client gone);
/// [`set_capacity`](Self::set_capacity) raises the limit (admitting waiters at once) or
/// lowers it (taking effect as tokens are released). Guarantees: a request is admitted
/// only while fewer than `capacity` hold tokens; waiters are admitted oldest first; the
/// pending slots are never exceeded.
///
/// Knative wakes waiters in no guaranteed order; this machine is FIFO, which is one of
/// the orders Knative allows and the fairest.
#[derive(Debug, Clone)]
pub struct Breaker {
    total_slots: u64,
    max_concurrency: u32,
    capacity: u32,
    in_flight: u32,
    waiting: VecDeque<WaiterId>,
}

/// The queue-proxy's queue depth per unit of `containerConcurrency`.
const QUEUE_PROXY_DEPTH_FACTOR: u32 = 10;

impl Breaker {
    /// A breaker with `queue_depth` waiting slots, `max_concurrency` tokens at most, and
    /// `capacity` tokens to begin with.
    pub fn new(queue_depth: u32, max_concurrency: u32, capacity: u32) -> Self {
        Self {
            total_slots: u64::from(queue_depth) + u64::from(max_concurrency),
            max_concurrency,
            capacity: capacity.min(max_concurrency),
            in_flight: 0,
            waiting: VecDeque::new(),
        }
    }

    /// The queue-proxy's breaker for `containerConcurrency`: `cc` tokens and a queue of
    /// `10 × cc`; `None` for CC = 0, which is unlimited.
    pub fn for_container_concurrency(cc: u32) -> Option<Self> {
        (cc > 0).then(|| Self::new(cc.saturating_mul(QUEUE_PROXY_DEPTH_FACTOR), cc, cc))
    }

    /// Requests holding tokens.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Requests waiting for a token.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// The current token limit.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// A request arrives.
    pub fn enter(&mut self, id: WaiterId) -> Admission {
        let pending = u64::from(self.in_flight) + self.waiting.len() as u64;
        if pending >= self.total_slots {
            return Admission::Full;
        }
        if self.waiting.is_empty() && self.in_flight < self.capacity {
            self.in_flight += 1;
            Admission::Admitted
        } else {
            self.waiting.push_back(id);
            Admission::Queued
        }
    }

    /// An admitted request finished; returns the waiter that now holds its token.
    pub fn release(&mut self) -> Option<WaiterId> {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.admit_next()
    }

    /// A waiter gave up; false if it was not waiting (already admitted or unknown).
    pub fn cancel(&mut self, id: WaiterId) -> bool {
        match self.waiting.iter().position(|w| *w == id) {
            Some(at) => {
                self.waiting.remove(at);
                true
            }
            None => false,
        }
    }

    /// Changes the token limit (capped at the maximum concurrency); returns the waiters
    /// admitted by a raise, oldest first.
    pub fn set_capacity(&mut self, capacity: u32) -> Vec<WaiterId> {
        self.capacity = capacity.min(self.max_concurrency);
        std::iter::from_fn(|| self.admit_next()).collect()
    }

    fn admit_next(&mut self) -> Option<WaiterId> {
        if self.in_flight >= self.capacity {
            return None;
        }
        let next = self.waiting.pop_front()?;
        self.in_flight += 1;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::{Admission, Breaker};

    #[test]
    fn cc_one_admits_one_queues_ten_and_refuses_the_twelfth() {
        let mut breaker = Breaker::for_container_concurrency(1).expect("CC 1 has a breaker");
        let admissions: Vec<Admission> = (0..12).map(|id| breaker.enter(id)).collect();
        assert_eq!(admissions[0], Admission::Admitted);
        assert!(
            admissions[1..11].iter().all(|a| *a == Admission::Queued),
            "{admissions:?}"
        );
        assert_eq!(
            admissions[11],
            Admission::Full,
            "the 12th concurrent request gets 503"
        );
        assert_eq!(
            breaker.release(),
            Some(1),
            "the oldest waiter takes the token"
        );
        assert_eq!(breaker.enter(12), Admission::Queued, "a slot freed up");
    }

    #[test]
    fn unlimited_concurrency_has_no_breaker() {
        assert!(Breaker::for_container_concurrency(0).is_none());
    }

    #[test]
    fn capacity_changes_wake_waiters_or_wait_for_releases() {
        let mut breaker = Breaker::new(100, 1000, 0);
        assert_eq!(breaker.enter(1), Admission::Queued, "no capacity: wait");
        assert_eq!(breaker.enter(2), Admission::Queued);
        assert_eq!(breaker.set_capacity(1), [1]);
        assert_eq!(breaker.set_capacity(5), [2]);
        assert_eq!(breaker.set_capacity(1), Vec::<u64>::new());
        assert_eq!(
            breaker.enter(3),
            Admission::Queued,
            "2 in flight over a capacity of 1"
        );
        assert_eq!(
            breaker.release(),
            None,
            "lowering takes effect as tokens return"
        );
        assert_eq!(breaker.release(), Some(3));
        assert!(!breaker.cancel(4), "4 never entered");
        assert_eq!(breaker.in_flight(), 1);
    }

    #[test]
    fn a_cancelled_waiter_frees_its_slot() {
        let mut breaker = Breaker::for_container_concurrency(1).expect("breaker");
        for id in 0..11 {
            breaker.enter(id);
        }
        assert_eq!(breaker.enter(11), Admission::Full);
        assert!(breaker.cancel(5));
        assert_eq!(breaker.enter(11), Admission::Queued);
        assert!(!breaker.cancel(5), "already gone");
    }

    #[derive(Debug, Clone)]
    enum Op {
        Enter,
        Release,
        Cancel(usize),
        Capacity(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::Enter),
            3 => Just(Op::Release),
            1 => (0usize..8).prop_map(Op::Cancel),
            1 => (0u32..6).prop_map(Op::Capacity),
        ]
    }

    proptest! {
        #[test]
        fn never_admits_past_capacity_and_admits_waiters_in_order(
            cc in 1u32..5,
            ops in prop::collection::vec(op(), 1..200),
        ) {
            let mut breaker = Breaker::new(cc * 2, 5, cc);
            let mut held = 0u32;
            let mut queue: VecDeque<u64> = VecDeque::new();
            let mut next_id = 0u64;
            for op in ops {
                let admitted: Vec<u64> = match op {
                    Op::Enter => {
                        let id = next_id;
                        next_id += 1;
                        let pending = u64::from(held) + queue.len() as u64;
                        match breaker.enter(id) {
                            Admission::Admitted => {
                                prop_assert!(held < breaker.capacity(), "admitted at capacity");
                                prop_assert!(queue.is_empty(), "admitted past older waiters");
                                held += 1;
                            }
                            Admission::Queued => queue.push_back(id),
                            Admission::Full => prop_assert_eq!(pending, u64::from(cc * 2 + 5)),
                        }
                        vec![]
                    }
                    Op::Release if held > 0 => {
                        held -= 1;
                        breaker.release().into_iter().collect()
                    }
                    Op::Release => vec![],
                    Op::Cancel(i) => {
                        if let Some(id) = queue.get(i).copied() {
                            prop_assert!(breaker.cancel(id));
                            queue.retain(|w| *w != id);
                        }
                        vec![]
                    }
                    Op::Capacity(c) => breaker.set_capacity(c),
                };
                let woke = !admitted.is_empty();
                for id in admitted {
                    prop_assert_eq!(queue.pop_front(), Some(id), "waiters are admitted oldest first");
                    held += 1;
                }
                if woke {
                    prop_assert!(held <= breaker.capacity(), "{} admitted over capacity {}", held, breaker.capacity());
                }
                prop_assert_eq!(breaker.in_flight(), held);
                prop_assert_eq!(breaker.waiting(), queue.len());
                prop_assert!(u64::from(held) + queue.len() as u64 <= u64::from(cc * 2 + 5));
            }
        }
    }
}
