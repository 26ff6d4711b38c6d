//! Machine tables for the throttler, its capacity formula and the balancing policies.

use std::net::SocketAddr;

use rand::{SeedableRng, rngs::SmallRng};

use super::*;
use crate::RevisionKey;
use crate::activator::{Backends, Membership};

fn pods(count: usize) -> Vec<SocketAddr> {
    (0..count)
        .map(|i| SocketAddr::from(([10, 0, 1, i as u8], 8012)))
        .collect()
}

fn lone() -> Membership {
    Membership::default()
}

fn balancer(cc: u32, count: usize) -> LoadBalancer {
    let mut balancer = LoadBalancer::new(cc);
    balancer.update(&pods(count), lone());
    balancer
}

fn throttler(cc: u32) -> Throttler {
    Throttler::new(
        RevisionKey::new("default", "hello-00001"),
        cc,
        ThrottlerConfig::default(),
    )
}

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(7)
}

#[test]
fn the_policy_switches_at_cc_zero_one_and_four() {
    let table = [
        (0, Policy::RandomChoiceOf2),
        (1, Policy::FirstAvailable),
        (3, Policy::FirstAvailable),
        (4, Policy::RoundRobin),
        (1000, Policy::RoundRobin),
    ];
    for (cc, policy) in table {
        assert_eq!(Policy::for_container_concurrency(cc), policy, "CC {cc}");
    }
}

#[test]
fn capacity_is_cc_times_assigned_clamped_and_zero_without_instances() {
    let table = [
        (0, 0, 0, 0),
        (0, 3, 3, MAX_CAPACITY),
        (10, 0, 0, 0),
        (10, 3, 3, 30),
        (10, 20, 7, 70),
        (1, 5, 1, 1),
        (1000, 5_000_000, 5_000_000, MAX_CAPACITY),
        (u32::MAX, 2, 2, MAX_CAPACITY),
    ];
    for (cc, ready, assigned, expected) in table {
        assert_eq!(
            capacity(cc, ready, assigned),
            expected,
            "CC {cc}, {ready} ready, {assigned} assigned"
        );
    }
}

#[test]
fn twenty_pods_three_activators_cc_ten_give_capacities_70_70_60() {
    let backends = Backends::healthy(pods(20));
    let capacities: Vec<u32> = (0..3)
        .map(|index| {
            let mut throttler = throttler(10);
            let membership = Membership {
                index: Some(index),
                activators: 3,
            };
            throttler.update(&backends, membership);
            throttler.capacity()
        })
        .collect();
    assert_eq!(capacities, [70, 70, 60], "§3.5 remnant example");
}

#[test]
fn an_activator_outside_the_subset_uses_every_pod() {
    let mut throttler = throttler(10);
    let outside = Membership {
        index: None,
        activators: 3,
    };
    throttler.update(&Backends::healthy(pods(20)), outside);
    assert_eq!(throttler.capacity(), 200);
    assert_eq!(throttler.balancer().assigned().len(), 20);
}

#[test]
fn a_membership_change_reassigns_the_slice_and_the_capacity() {
    let mut throttler = throttler(10);
    let backends = Backends::healthy(pods(4));
    throttler.update(&backends, lone());
    assert_eq!(throttler.capacity(), 40);
    let second_of_two = Membership {
        index: Some(1),
        activators: 2,
    };
    throttler.update(&backends, second_of_two);
    assert_eq!(throttler.capacity(), 20);
    assert_eq!(throttler.balancer().assigned(), pods(4)[2..]);
}

#[test]
fn first_available_fills_pods_in_address_order() {
    let mut balancer = balancer(2, 3);
    let picks: Vec<Option<SocketAddr>> = (0..7).map(|_| balancer.pick(&mut rng())).collect();
    let p = pods(3);
    let expected = [p[0], p[0], p[1], p[1], p[2], p[2]].map(Some);
    assert_eq!(picks[..6], expected, "first pod with a free slot");
    assert_eq!(picks[6], None, "every slot is taken");
    balancer.release(p[1]);
    assert_eq!(balancer.pick(&mut rng()), Some(p[1]), "the freed slot");
}

#[test]
fn round_robin_moves_past_the_last_pick_and_skips_full_pods() {
    let mut balancer = balancer(4, 3);
    let p = pods(3);
    let picks: Vec<Option<SocketAddr>> = (0..4).map(|_| balancer.pick(&mut rng())).collect();
    assert_eq!(
        picks,
        [p[0], p[1], p[2], p[0]].map(Some),
        "one after another"
    );
    for _ in 4..12 {
        balancer.pick(&mut rng());
    }
    assert_eq!(balancer.pick(&mut rng()), None, "3 pods × CC 4 are taken");
    balancer.release(p[0]);
    balancer.release(p[2]);
    assert_eq!(balancer.pick(&mut rng()), Some(p[0]), "cursor wrapped to 0");
    assert_eq!(balancer.pick(&mut rng()), Some(p[2]), "pod 1 is full");
}

#[test]
fn round_robin_resets_its_cursor_when_the_list_shrinks() {
    let mut balancer = balancer(4, 3);
    let p = pods(3);
    balancer.pick(&mut rng());
    balancer.pick(&mut rng());
    balancer.update(&p[..1], lone());
    assert_eq!(
        balancer.pick(&mut rng()),
        Some(p[0]),
        "cursor 2 ≥ 1 pod: back to 0"
    );
}

#[test]
fn random_choice_of_2_takes_the_lighter_of_two_pods() {
    let mut balancer = balancer(0, 2);
    let p = pods(2);
    let mut rng = rng();
    let first = balancer.pick(&mut rng).expect("a pod");
    let second = balancer.pick(&mut rng).expect("a pod");
    assert_ne!(first, second, "the loaded pod loses");
    balancer.release(p[0]);
    for _ in 0..10 {
        assert_eq!(
            balancer.pick(&mut rng),
            Some(p[0]),
            "weight 0 beats weight 1"
        );
        balancer.release(p[0]);
    }
}

#[test]
fn random_choice_of_2_flips_a_coin_on_a_tie() {
    let p = pods(2);
    let mut seen = [false, false];
    for seed in 0..32 {
        let mut balancer = balancer(0, 2);
        let pick = balancer.pick(&mut SmallRng::seed_from_u64(seed));
        seen[usize::from(pick == Some(p[1]))] = true;
    }
    assert_eq!(seen, [true, true], "both sides of the coin come up");
}

#[test]
fn random_choice_of_2_with_one_pod_always_takes_it_and_counts_weight() {
    let mut balancer = balancer(0, 1);
    for _ in 0..3 {
        assert_eq!(balancer.pick(&mut rng()), Some(pods(1)[0]));
    }
    assert_eq!(
        balancer.in_flight(pods(1)[0]),
        3,
        "weight = requests in flight"
    );
}

/// A CC = 0 balancer over `weights.len()` pods whose weights are `weights`.
fn weighted(weights: &[u32]) -> LoadBalancer {
    let p = pods(weights.len());
    let mut balancer = balancer(0, weights.len());
    let mut rng = rng();
    while p
        .iter()
        .zip(weights)
        .any(|(&a, &w)| balancer.in_flight(a) < w)
    {
        balancer.pick(&mut rng);
    }
    for (&address, &weight) in p.iter().zip(weights) {
        while balancer.in_flight(address) > weight {
            balancer.release(address);
        }
    }
    balancer
}

#[test]
fn random_choice_of_2_never_picks_the_pod_both_rivals_beat() {
    let p = pods(3);
    let loaded = weighted(&[1, 3, 1]);
    let mut picked = Vec::new();
    for seed in 0..64 {
        let pick = loaded.clone().pick(&mut SmallRng::seed_from_u64(seed));
        assert_ne!(pick, Some(p[1]), "weight 3 loses to either weight-1 rival");
        picked.push(pick);
    }
    assert!(
        picked.contains(&Some(p[0])) && picked.contains(&Some(p[2])),
        "{picked:?}"
    );
}

#[test]
fn a_pod_that_leaves_and_returns_keeps_its_requests_in_flight() {
    let mut balancer = balancer(1, 2);
    let p = pods(2);
    assert_eq!(balancer.pick(&mut rng()), Some(p[0]));
    balancer.update(&p[1..], lone());
    balancer.update(&p, lone());
    assert_eq!(balancer.in_flight(p[0]), 1, "the retired tracker came back");
    assert_eq!(
        balancer.pick(&mut rng()),
        Some(p[1]),
        "pod 0 is still at CC"
    );
    balancer.release(p[0]);
    assert_eq!(balancer.in_flight(p[0]), 0);
}

#[test]
fn requests_wait_at_zero_backends_and_are_woken_by_one() {
    let mut throttler = throttler(1);
    assert_eq!(throttler.enter(0), Entry::Queued(0), "no capacity yet");
    assert_eq!(throttler.enter(10), Entry::Queued(1));
    assert_eq!(throttler.waiting_bytes(), 10);
    let wakes = throttler.update(&Backends::healthy(pods(1)), lone());
    assert_eq!(
        wakes,
        [(0, Wake::Admitted)],
        "CC 1 × 1 pod admits the oldest"
    );
    assert_eq!(throttler.pick(&mut rng()), Some(pods(1)[0]));
    let wakes = throttler.release(Some(pods(1)[0]));
    assert_eq!(wakes, [(1, Wake::Admitted)], "the token passes on");
    assert_eq!(throttler.waiting_bytes(), 0);
}

#[test]
fn cc_zero_passes_straight_through_with_any_backend() {
    let mut throttler = throttler(0);
    throttler.update(&Backends::healthy(pods(1)), lone());
    assert_eq!(
        throttler.capacity(),
        MAX_CAPACITY,
        "the infinite breaker is open"
    );
    for _ in 0..100 {
        assert_eq!(throttler.enter(0), Entry::Admitted);
    }
}

#[test]
fn the_waiting_count_bound_refuses_with_the_count_and_revision() {
    let config = ThrottlerConfig {
        max_waiting: 2,
        ..ThrottlerConfig::default()
    };
    let mut throttler = Throttler::new(RevisionKey::new("default", "hello-00001"), 1, config);
    throttler.enter(0);
    throttler.enter(0);
    let Entry::Refused(refusal) = throttler.enter(0) else {
        panic!("a third waiter is past the bound");
    };
    assert_eq!(
        refusal.to_string(),
        "pending request queue full for revision default/hello-00001 (2 waiting)"
    );
    assert_eq!(refusal.status(), http::StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn the_byte_bound_counts_only_waiting_bodies() {
    let config = ThrottlerConfig {
        max_waiting_bytes: 100,
        ..ThrottlerConfig::default()
    };
    let mut throttler = Throttler::new(RevisionKey::new("default", "hello-00001"), 1, config);
    throttler.update(&Backends::healthy(pods(1)), lone());
    assert_eq!(
        throttler.enter(500),
        Entry::Admitted,
        "admitted bodies do not wait"
    );
    assert_eq!(throttler.enter(60), Entry::Queued(1));
    let Entry::Refused(refusal) = throttler.enter(41) else {
        panic!("60 + 41 bytes is past 100");
    };
    assert!(matches!(
        refusal,
        Refusal::BytesFull {
            buffered: 60,
            request: 41,
            ..
        }
    ));
    assert!(
        refusal.to_string().contains("default/hello-00001"),
        "{refusal}"
    );
    assert_eq!(throttler.enter(40), Entry::Queued(2), "60 + 40 fits");
}

#[test]
fn bytes_read_while_waiting_count_until_the_waiter_leaves() {
    let config = ThrottlerConfig {
        max_waiting_bytes: 100,
        ..ThrottlerConfig::default()
    };
    let mut throttler = Throttler::new(RevisionKey::new("default", "hello-00001"), 1, config);
    assert_eq!(throttler.enter(30), Entry::Queued(0));
    assert_eq!(
        throttler.enter(0),
        Entry::Queued(1),
        "a chunked body declares 0"
    );
    assert_eq!(throttler.buffer(1, 50), Ok(()));
    assert_eq!(throttler.waiting_bytes(), 80);
    let refusal = throttler
        .buffer(1, 21)
        .expect_err("30 + 50 + 21 is past 100");
    assert!(matches!(
        refusal,
        Refusal::BytesFull {
            buffered: 30,
            request: 71,
            limit: 100,
            ..
        }
    ));
    assert_eq!(
        (throttler.waiting(), throttler.waiting_bytes()),
        (1, 30),
        "the refused waiter left the queue with its bytes"
    );
    assert_eq!(throttler.enter(0), Entry::Queued(2));
    assert_eq!(throttler.buffer(2, 70), Ok(()));
    let wakes = throttler.update(&Backends::healthy(pods(1)), lone());
    assert_eq!(wakes, vec![(0, Wake::Admitted)]);
    assert_eq!(
        throttler.waiting_bytes(),
        70,
        "the woken waiter's bytes are released"
    );
    assert_eq!(
        throttler.buffer(0, 1_000),
        Ok(()),
        "a request no longer waiting counts nothing more"
    );
    assert_eq!(throttler.waiting_bytes(), 70);
}

#[test]
fn a_failure_refuses_waiters_and_new_requests_until_backends_change() {
    let mut throttler = throttler(1);
    throttler.enter(0);
    let wakes = throttler.update(&Backends::failed("image pull backoff"), lone());
    let refusal = Refusal::Failed {
        revision: RevisionKey::new("default", "hello-00001"),
        reason: "image pull backoff".into(),
    };
    assert_eq!(wakes, [(0, Wake::Refused(refusal.clone()))]);
    assert_eq!(
        refusal.to_string(),
        "revision default/hello-00001 cannot become ready: image pull backoff"
    );
    assert_eq!(
        throttler.enter(0),
        Entry::Refused(refusal),
        "new requests too"
    );
    assert_eq!(throttler.waiting(), 0);
    throttler.update(&Backends::default(), lone());
    assert!(
        matches!(throttler.enter(0), Entry::Queued(_)),
        "backends changed"
    );
}

#[test]
fn a_waiter_times_out_only_while_it_still_waits() {
    let config = ThrottlerConfig {
        max_wait: Some(std::time::Duration::from_secs(5)),
        ..ThrottlerConfig::default()
    };
    let mut throttler = Throttler::new(RevisionKey::new("default", "hello-00001"), 1, config);
    throttler.enter(0);
    throttler.enter(0);
    let refusal = throttler.time_out(0).expect("it was waiting");
    assert_eq!(refusal.status(), http::StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        refusal.to_string(),
        "request waited longer than 5s for capacity of revision default/hello-00001"
    );
    throttler.update(&Backends::healthy(pods(1)), lone());
    assert_eq!(throttler.time_out(1), None, "already admitted: it goes on");
}

#[test]
fn the_default_config_is_valid_and_zero_bounds_are_not() {
    assert_eq!(ThrottlerConfig::default().validate(), Ok(()));
    let zero = ThrottlerConfig {
        max_waiting: 0,
        ..ThrottlerConfig::default()
    };
    assert!(zero.validate().is_err(), "nothing could ever wait");
}

#[test]
fn an_ejected_instance_is_never_picked_until_an_update_lists_it_again() {
    let mut machine = throttler(1);
    let backends = Backends {
        healthy: pods(3),
        failure: None,
    };
    machine.update(&backends, lone());
    assert_eq!(machine.capacity(), 3);
    assert_eq!(machine.enter(0), Entry::Admitted);
    let failed = machine.pick(&mut rng()).expect("a free instance");
    machine.eject(failed);
    assert_eq!(machine.capacity(), 2, "capacity follows the smaller set");
    assert_eq!(machine.balancer().in_flight(failed), 0, "its slot is freed");
    for _ in 0..2 {
        let picked = machine.pick(&mut rng()).expect("the others have slots");
        assert_ne!(picked, failed, "the failed instance is out of the set");
    }
    machine.update(&backends, lone());
    assert_eq!(machine.capacity(), 3, "probed healthy again, it is back");
    assert!(machine.balancer().assigned().contains(&failed));
}
