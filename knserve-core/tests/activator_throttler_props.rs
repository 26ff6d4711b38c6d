//! Property tests of the throttler machine: the per-instance limit holds under any
//! interleaving of arrivals, completions, give-ups and backend or membership changes,
//! and random-choice-of-2 never takes the heavier of its two candidates.

use std::net::SocketAddr;

use knserve_core::RevisionKey;
use knserve_core::activator::throttler::{Entry, LoadBalancer, Throttler, ThrottlerConfig, Wake};
use knserve_core::activator::{Backends, Membership};
use knserve_core::queue::WaiterId;
use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::SmallRng};

fn pod(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, i as u8], 8012))
}

#[derive(Debug, Clone)]
enum Op {
    Enter,
    Finish(usize),
    GiveUp(usize),
    Backends(u8),
    Membership(Option<usize>, usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Enter),
        4 => any::<usize>().prop_map(Op::Finish),
        1 => any::<usize>().prop_map(Op::GiveUp),
        2 => any::<u8>().prop_map(Op::Backends),
        1 => (prop::option::of(0usize..4), 1usize..4).prop_map(|(i, a)| Op::Membership(i, a)),
    ]
}

/// The driver's side of the machine: who holds what.
struct Model {
    machine: Throttler,
    rng: SmallRng,
    backends: Backends,
    membership: Membership,
    /// Requests forwarded, by the instance they went to.
    forwarded: Vec<SocketAddr>,
    waiting: Vec<WaiterId>,
}

impl Model {
    /// A token was granted: pick an instance, or give the token back (§3.3 loop;
    /// the request would enter again, here it is dropped to keep the model finite).
    fn admitted(&mut self) {
        match self.machine.pick(&mut self.rng) {
            Some(instance) => self.forwarded.push(instance),
            None => {
                let wakes = self.machine.release(None);
                self.wake(wakes);
            }
        }
    }

    fn wake(&mut self, wakes: Vec<(WaiterId, Wake)>) {
        for (id, wake) in wakes {
            self.waiting.retain(|w| *w != id);
            if wake == Wake::Admitted {
                self.admitted();
            }
        }
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Enter => match self.machine.enter(0) {
                Entry::Admitted => self.admitted(),
                Entry::Queued(id) => self.waiting.push(id),
                Entry::Refused(_) => {}
            },
            Op::Finish(i) if !self.forwarded.is_empty() => {
                let instance = self.forwarded.swap_remove(i % self.forwarded.len());
                let wakes = self.machine.release(Some(instance));
                self.wake(wakes);
            }
            Op::GiveUp(i) if !self.waiting.is_empty() => {
                let id = self.waiting.remove(i % self.waiting.len());
                assert!(self.machine.cancel(id), "a waiter can give up");
            }
            Op::Finish(_) | Op::GiveUp(_) => {}
            Op::Backends(mask) => {
                let healthy = (0..6).filter(|i| mask & (1 << i) != 0).map(pod).collect();
                self.backends = Backends::healthy(healthy);
                self.update();
            }
            Op::Membership(index, activators) => {
                self.membership = Membership { index, activators };
                self.update();
            }
        }
    }

    fn update(&mut self) {
        let wakes = self.machine.update(&self.backends, self.membership);
        self.wake(wakes);
    }
}

proptest! {
    #[test]
    fn no_instance_ever_gets_more_than_cc_requests_from_this_activator(
        cc in 1u32..6,
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..300),
    ) {
        let key = RevisionKey::new("default", "hello-00001");
        let mut model = Model {
            machine: Throttler::new(key, cc, ThrottlerConfig::default()),
            rng: SmallRng::seed_from_u64(seed),
            backends: Backends::default(),
            membership: Membership::default(),
            forwarded: Vec::new(),
            waiting: Vec::new(),
        };
        for op in ops {
            model.step(op);
            for i in 0..6 {
                let count = model.forwarded.iter().filter(|a| **a == pod(i)).count();
                prop_assert!(count <= cc as usize, "{} requests at {} over CC {}", count, pod(i), cc);
                prop_assert_eq!(model.machine.balancer().in_flight(pod(i)), count as u32);
            }
            prop_assert_eq!(model.machine.in_flight() as usize, model.forwarded.len());
            prop_assert_eq!(model.machine.waiting(), model.waiting.len());
        }
    }

    #[test]
    fn random_choice_of_2_never_takes_the_heavier_candidate(
        pods in 1usize..8,
        seed in any::<u64>(),
        ops in prop::collection::vec(any::<Option<usize>>(), 1..200),
    ) {
        let addresses: Vec<SocketAddr> = (0..pods).map(pod).collect();
        let mut balancer = LoadBalancer::new(0);
        balancer.update(&addresses, Membership::default());
        let mut rng = SmallRng::seed_from_u64(seed);
        for op in ops {
            if let Some(i) = op {
                let address = addresses[i % pods];
                if balancer.in_flight(address) > 0 {
                    balancer.release(address);
                }
                continue;
            }
            let weights: Vec<u32> = addresses.iter().map(|&a| balancer.in_flight(a)).collect();
            let (first, second) = candidates(&mut rng.clone(), pods);
            let pick = balancer.pick(&mut rng).expect("CC 0 always picks");
            let chosen = addresses.iter().position(|&a| a == pick).expect("a known pod");
            prop_assert!(chosen == first || chosen == second, "{} is not a candidate", chosen);
            let other = if chosen == first { second } else { first };
            prop_assert!(weights[chosen] <= weights[other],
                "picked weight {} over the other candidate's {}", weights[chosen], weights[other]);
            let heavier = weights.iter().filter(|&&w| w >= weights[chosen]).count();
            prop_assert!(pods == 1 || heavier >= 2, "never the unique heaviest: {:?}", weights);
            prop_assert_eq!(balancer.in_flight(pick), weights[chosen] + 1, "the pick's weight rises");
        }
    }
}

/// The two distinct uniform indices of §3.4, drawn as the policy draws them.
fn candidates(rng: &mut SmallRng, targets: usize) -> (usize, usize) {
    match targets {
        1 => (0, 0),
        2 => (0, 1),
        _ => {
            let first = rng.random_range(0..targets);
            let second = rng.random_range(0..targets - 1);
            (first, if second >= first { second + 1 } else { second })
        }
    }
}
