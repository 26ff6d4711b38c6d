use std::{net::SocketAddr, sync::Arc};

/// The instances the activator may send a revision's requests to, published on a
/// `watch` channel by the control side (after probing, §3.6) and read by the throttler.
///
/// `healthy` is sorted by the string form of the address (§3.5 sorts trackers by
/// `ip:port`). `failure` is set when the revision's instances cannot become ready (a
/// crash loop, a failed deployment): waiting requests then fail with that reason
/// instead of waiting out their timeout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backends {
    /// Addresses that passed their probe, sorted as `ip:port` strings.
    pub healthy: Vec<SocketAddr>,
    /// Why no instance will become ready, when that is known.
    pub failure: Option<Arc<str>>,
}

impl Backends {
    /// Backends at `addresses`, sorted as §3.5 requires.
    pub fn healthy(mut addresses: Vec<SocketAddr>) -> Self {
        addresses.sort_by_key(ToString::to_string);
        addresses.dedup();
        Self {
            healthy: addresses,
            failure: None,
        }
    }

    /// No backends, and none coming: `reason` says why.
    pub fn failed(reason: impl Into<Arc<str>>) -> Self {
        Self {
            healthy: Vec::new(),
            failure: Some(reason.into()),
        }
    }
}

/// Where this activator stands among the activators serving a revision (§3.5):
/// `index` is its position in the sorted activator addresses, `None` when it is not in
/// the revision's subset (it then uses all instances).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Membership {
    /// This activator's position in the subset, if it is in it.
    pub index: Option<usize>,
    /// How many activators serve the revision.
    pub activators: usize,
}

impl Default for Membership {
    /// A lone activator: index 0 of 1 (the local backend runs one).
    fn default() -> Self {
        Self {
            index: Some(0),
            activators: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_backends_are_sorted_as_strings() {
        let addresses = ["10.0.0.10:8012", "10.0.0.9:8012", "10.0.0.10:8012"]
            .map(|a| a.parse().unwrap())
            .to_vec();
        let backends = Backends::healthy(addresses);
        let sorted: Vec<String> = backends.healthy.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ["10.0.0.10:8012", "10.0.0.9:8012"]);
    }
}
