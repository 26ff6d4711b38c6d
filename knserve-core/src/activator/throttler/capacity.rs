//! The revision breaker's capacity (spec §3.3).

/// The largest capacity a revision breaker takes (`2^31 − 1`, Knative's
/// `revisionMaxConcurrency`); also the "unlimited" capacity of the CC = 0 breaker.
pub const MAX_CAPACITY: u32 = i32::MAX as u32;

/// The revision breaker's capacity for `container_concurrency`, `ready` healthy
/// instances of which `assigned` are this activator's (pod-addressable mode, §3.3):
///
/// ```text
/// capacity = CC × assigned
/// if ready > 0 and (CC == 0 or capacity > 2^31 − 1): capacity = 2^31 − 1
/// ready == 0: capacity = 0
/// ```
///
/// ClusterIP mode (`CC × ready / activators`) is not implemented: knserve's backends sit
/// behind no mesh, so every instance is addressable and the activator always balances
/// over instances itself.
pub fn capacity(container_concurrency: u32, ready: usize, assigned: usize) -> u32 {
    if ready == 0 {
        return 0;
    }
    if container_concurrency == 0 {
        return MAX_CAPACITY;
    }
    let wanted = u64::from(container_concurrency).saturating_mul(assigned as u64);
    u32::try_from(wanted.min(u64::from(MAX_CAPACITY))).unwrap_or(MAX_CAPACITY)
}
