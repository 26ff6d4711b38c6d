//! Activator subset selection by consistent hashing (spec §5.3).

use std::collections::{BTreeMap, BTreeSet};

/// The angles a name can land on.
const UNIVERSE: u64 = 1 << 11;
const START_SALT: &str = "start-angle-salt";
const STEP_SALT: &str = "step-angle-salt";

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes
        .iter()
        .fold(OFFSET, |h, b| (h ^ u64::from(*b)).wrapping_mul(PRIME))
}

/// Chooses `n` of `from` consistently for `seed` (the revision's name), as Knative's
/// `ChooseSubset` does: each name gets a slot `fnv(name + seed) mod 2048` (a collision
/// appends the hash in hex and rehashes); starting at `fnv(seed + "start-angle-salt")`,
/// take the first free slot at or after the angle (wrapping), then advance the angle by
/// `fnv(seed + "step-angle-salt")`, until `n` are taken. With `n` 0 or at least the
/// number of names, every name is chosen. Duplicates in `from` count once.
pub fn choose_subset(from: &[String], n: usize, seed: &str) -> BTreeSet<String> {
    let names: BTreeSet<&String> = from.iter().collect();
    if n == 0 || n >= names.len() {
        return names.into_iter().cloned().collect();
    }
    let start = fnv1a(format!("{seed}{START_SALT}").as_bytes()) % UNIVERSE;
    let step = fnv1a(format!("{seed}{STEP_SALT}").as_bytes()) % UNIVERSE;
    let ring = ring(names, seed);
    select(&ring, n, start, step)
}

/// Each name's slot, sorted by slot. Names are placed in sorted order, so a collision
/// always moves the same (later) name.
fn ring<'a>(names: BTreeSet<&'a String>, seed: &str) -> Vec<(u64, &'a String)> {
    let mut slots: BTreeMap<u64, &String> = BTreeMap::new();
    for name in names {
        let mut buffer = format!("{name}{seed}");
        let mut hash = fnv1a(buffer.as_bytes());
        while slots.contains_key(&(hash % UNIVERSE)) {
            buffer.push_str(&format!("{hash:x}"));
            hash = fnv1a(buffer.as_bytes());
        }
        slots.insert(hash % UNIVERSE, name);
    }
    slots.into_iter().collect()
}

fn select(ring: &[(u64, &String)], n: usize, start: u64, step: u64) -> BTreeSet<String> {
    let mut chosen = vec![false; ring.len()];
    let mut picked = BTreeSet::new();
    let mut angle = start;
    while picked.len() < n {
        let mut index = ring.partition_point(|(slot, _)| *slot < angle);
        if index == ring.len() {
            index = 0;
        }
        while chosen[index] {
            index = (index + 1) % ring.len();
        }
        chosen[index] = true;
        picked.insert(ring[index].1.clone());
        angle = (angle + step) % UNIVERSE;
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn set(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn the_subsets_match_knatives_golden_choices() {
        let planets = names(&["sun", "moon", "mars", "mercury"]);
        assert_eq!(
            choose_subset(&planets, 4, "a target!"),
            set(&["sun", "moon", "mars", "mercury"])
        );
        assert_eq!(
            choose_subset(&planets, 2, "a target!"),
            set(&["mercury", "moon"])
        );
        assert_eq!(
            choose_subset(&planets, 2, "something else entirely"),
            set(&["mercury", "mars"])
        );
        assert_eq!(
            choose_subset(&planets, 3, "something else entirely"),
            set(&["mars", "mercury", "sun"])
        );
    }

    #[test]
    fn colliding_names_both_get_a_slot() {
        let key1 = "b08006d4-81f9-42ee-808b-ea18a39cbd83";
        let key2 = "c9dc8df4-8c8d-4077-8750-6d2c2113a23b";
        let target = "e68a64e1-19d8-4855-9ffa-04f49223a059";
        let slot = |k: &str| fnv1a(format!("{k}{target}").as_bytes()) % UNIVERSE;
        assert_eq!(slot(key1), slot(key2), "the baseline collides");
        let both = names(&[key1, key2]);
        assert_eq!(ring(both.iter().collect(), target).len(), 2);
        assert_eq!(choose_subset(&names(&[key1, key2]), 1, target).len(), 1);
    }

    #[test]
    fn zero_or_too_many_means_all() {
        let ips = names(&["10.0.0.1", "10.0.0.2", "10.0.0.2"]);
        assert_eq!(
            choose_subset(&ips, 0, "rev").len(),
            2,
            "duplicates count once"
        );
        assert_eq!(choose_subset(&ips, 5, "rev").len(), 2);
    }

    #[test]
    fn removing_an_unchosen_activator_keeps_the_subset() {
        let ips: Vec<String> = (1..=10).map(|i| format!("10.0.0.{i}")).collect();
        let chosen = choose_subset(&ips, 3, "hello-00001");
        assert_eq!(chosen.len(), 3);
        let spare = ips
            .iter()
            .find(|ip| !chosen.contains(*ip))
            .expect("an unchosen one");
        let fewer: Vec<String> = ips.iter().filter(|ip| *ip != spare).cloned().collect();
        let again = choose_subset(&fewer, 3, "hello-00001");
        assert_eq!(
            chosen, again,
            "losing an activator outside the subset does not move the subset"
        );
    }
}
