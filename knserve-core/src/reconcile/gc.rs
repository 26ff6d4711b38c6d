//! Revision garbage collection (`config-gc`): which revisions of one Configuration to
//! delete.

use std::time::Duration;

use crate::api::Revision;
use crate::api::keys::{self, RoutingState};
use crate::config::GcConfig;
use crate::time::parse_rfc3339;

/// The revisions of one Configuration that `config-gc` says to delete now, in the order
/// Knative deletes them.
///
/// `revisions` are the Configuration's revisions (any order), `latest_ready` its
/// `status.latestReadyRevisionName`, `now` the wall clock in Unix seconds.
///
/// Knative's rules, step by step:
/// 1. Nothing when all of `retain-since-create-time`, `retain-since-last-active-time`
///    and `max-non-active-revisions` are disabled, or when there are no more than
///    `min-non-active-revisions` revisions.
/// 2. Active revisions are never collected: the latest ready one, one annotated
///    `serving.knative.dev/no-gc: "true"`, and every one whose `routingState` label is
///    not `reserve` (so `active`, `pending` — the latest created — and unlabelled ones).
///    Nothing when no more than `min` non-active revisions remain.
/// 3. The non-active ones are ordered by last activity, oldest first: the
///    `routingStateModified` annotation, or the creation time when it is missing or
///    not RFC 3339.
/// 4. Stale ones are deleted oldest first, stopping once only `min` would remain. A
///    revision is stale when it is at least `retain-since-create-time` old and at
///    least `retain-since-last-active-time` past its last activity (a disabled time
///    does not hold it back; both disabled: nothing is stale).
/// 5. If more than `max` non-stale ones remain, the oldest of them are deleted until
///    `max` remain, however recent.
///
/// Knative sorts with Go's unstable `sort.Slice`, so revisions with the same last
/// activity come out in no set order; here ties keep the order of `revisions`. A
/// revision without a readable `creationTimestamp` counts as created at the beginning
/// of time (Go's zero time), i.e. as old as can be.
pub fn collect_revisions(
    revisions: &[Revision],
    latest_ready: Option<&str>,
    config: &GcConfig,
    now: i64,
) -> Vec<String> {
    let min = usize::try_from(config.min_non_active_revisions).unwrap_or(usize::MAX);
    if config.is_disabled() || revisions.len() <= min {
        return Vec::new();
    }
    let mut candidates: Vec<&Revision> = revisions
        .iter()
        .filter(|r| !is_active(r, latest_ready))
        .collect();
    if candidates.len() <= min {
        return Vec::new();
    }
    candidates.sort_by_key(|r| last_active(r));

    let deletable = candidates.len() - min;
    let mut deleted = Vec::new();
    let mut kept = Vec::new();
    for rev in candidates {
        if is_stale(config, rev, now) {
            deleted.push(rev.metadata.name().to_owned());
            if deleted.len() == deletable {
                return deleted;
            }
        } else {
            kept.push(rev);
        }
    }
    if let Some(max) = config.max_non_active_revisions {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let excess = kept.len().saturating_sub(max);
        deleted.extend(kept[..excess].iter().map(|r| r.metadata.name().to_owned()));
    }
    deleted
}

/// When, in Unix seconds after `now`, a non-active revision that is not stale yet
/// becomes stale: the next time [`collect_revisions`] may find more to delete without
/// anything else changing. `None` when that cannot happen (no such revision, both
/// retention times disabled, or no more non-active revisions than
/// `min-non-active-revisions`).
///
/// Knative looks again only when the Configuration is next reconciled; a backend
/// that revisits it at this time collects as soon as the rules allow.
pub fn next_collection(
    revisions: &[Revision],
    latest_ready: Option<&str>,
    config: &GcConfig,
    now: i64,
) -> Option<i64> {
    let min = usize::try_from(config.min_non_active_revisions).unwrap_or(usize::MAX);
    let candidates: Vec<&Revision> = revisions
        .iter()
        .filter(|r| !is_active(r, latest_ready))
        .collect();
    if candidates.len() <= min {
        return None;
    }
    let after = |at: i64, retain: Option<Duration>| {
        retain.map(|d| {
            at.saturating_add(i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                + i64::from(d.subsec_nanos() > 0)
        })
    };
    candidates
        .into_iter()
        .filter(|r| !is_stale(config, r, now))
        .filter_map(|r| {
            let created = after(created(r), config.retain_since_create_time);
            let active = after(last_active(r), config.retain_since_last_active_time);
            created.max(active)
        })
        .min()
}

/// Whether a route references `rev`, or it must be kept regardless (Knative's
/// `isRevisionActive`).
fn is_active(rev: &Revision, latest_ready: Option<&str>) -> bool {
    if latest_ready == Some(rev.metadata.name()) {
        return true;
    }
    if rev
        .metadata
        .annotation(keys::NO_GC_ANNOTATION)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return true;
    }
    rev.metadata.label(keys::ROUTING_STATE_LABEL) != Some(RoutingState::Reserve.as_str())
}

/// Whether `rev` is past both retention times at `now` (Knative's `isRevisionStale`).
fn is_stale(config: &GcConfig, rev: &Revision, now: i64) -> bool {
    let (since_create, since_active) = (
        config.retain_since_create_time,
        config.retain_since_last_active_time,
    );
    if since_create.is_none() && since_active.is_none() {
        return false;
    }
    // Go's `time.Since(at) < retain`, in nanoseconds (whole-second timestamps).
    let younger = |at: i64, retain: Option<Duration>| {
        let elapsed = (i128::from(now) - i128::from(at)) * 1_000_000_000;
        retain.is_some_and(|d| elapsed < d.as_nanos() as i128)
    };
    !younger(created(rev), since_create) && !younger(last_active(rev), since_active)
}

/// The creation time in Unix seconds; the beginning of time when unreadable.
fn created(rev: &Revision) -> i64 {
    rev.metadata
        .creation_timestamp
        .as_deref()
        .and_then(parse_rfc3339)
        .unwrap_or(i64::MIN)
}

/// `routingStateModified`, else the creation time (Knative's `revisionLastActiveTime`).
fn last_active(rev: &Revision) -> i64 {
    rev.metadata
        .annotation(keys::ROUTING_STATE_MODIFIED_ANNOTATION)
        .and_then(parse_rfc3339)
        .unwrap_or_else(|| created(rev))
}

#[cfg(test)]
mod tests {
    //! Knative's `gc_test.go` cases, one test each, with its revision numbers; `now` is
    //! one hour into the Unix epoch's second day and ages are Knative's (`old` 11 min,
    //! `older` 12 min, `oldest` 13 min).

    use super::*;
    use crate::api::{ObjectMeta, RevisionSpec};

    const NOW: i64 = 90_000;
    const OLD: i64 = NOW - 11 * 60;
    const OLDER: i64 = NOW - 12 * 60;
    const OLDEST: i64 = NOW - 13 * 60;

    fn rfc3339(secs: i64) -> String {
        let (days, rem) = (secs / 86_400, secs % 86_400);
        format!(
            "1970-01-{:02}T{:02}:{:02}:{:02}Z",
            days + 1,
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }

    /// Revision `name`, created at `created`.
    fn rev(name: &str, created: i64) -> Revision {
        let mut meta = ObjectMeta::named(name, "foo");
        meta.creation_timestamp = Some(rfc3339(created));
        Revision::new(meta, RevisionSpec::default())
    }

    /// Knative's `WithRoutingState`; like its fake clock, the state changed `now` unless
    /// `modified` (`WithRoutingStateModified`) says otherwise.
    fn routed(mut r: Revision, state: RoutingState, modified: Option<i64>) -> Revision {
        let labels = &mut r.metadata.labels;
        labels.insert(keys::ROUTING_STATE_LABEL.into(), state.as_str().into());
        let at = rfc3339(modified.unwrap_or(NOW));
        let annotations = &mut r.metadata.annotations;
        annotations.insert(keys::ROUTING_STATE_MODIFIED_ANNOTATION.into(), at);
        r
    }

    /// A revision created long ago whose routing state changed at `modified`.
    fn reserve(name: &str, modified: i64) -> Revision {
        routed(rev(name, 0), RoutingState::Reserve, Some(modified))
    }

    fn active(name: &str, modified: i64) -> Revision {
        routed(rev(name, 0), RoutingState::Active, Some(modified))
    }

    fn gc(create: u64, active: u64, min: u64, max: Option<u64>) -> GcConfig {
        GcConfig {
            retain_since_create_time: Some(Duration::from_secs(create)),
            retain_since_last_active_time: Some(Duration::from_secs(active)),
            min_non_active_revisions: min,
            max_non_active_revisions: max,
        }
    }

    /// TestCollectMin's settings: 5 minutes each, min 1, max disabled.
    fn min_config() -> GcConfig {
        gc(300, 300, 1, None)
    }

    /// TestCollectMax's settings: 1 hour each, min 1, max 2.
    fn max_config() -> GcConfig {
        gc(3600, 3600, 1, Some(2))
    }

    fn collect(revs: &[Revision], latest_ready: Option<&str>, config: &GcConfig) -> Vec<String> {
        collect_revisions(revs, latest_ready, config, NOW)
    }

    // TestCollectMin

    #[test]
    fn too_few_revisions() {
        let revs = [routed(rev("5556", OLD), RoutingState::Active, None)];
        assert!(collect(&revs, Some("5556"), &min_config()).is_empty());
    }

    #[test]
    fn delete_oldest_keep_one_recent_one_active() {
        let revs = [
            reserve("5554", OLDEST),
            reserve("5555", OLDER),
            active("5556", OLD),
        ];
        assert_eq!(
            collect(&revs, Some("5556"), &min_config()),
            ["5554"],
            "the oldest stale revision goes; min-non-active-revisions keeps 5555"
        );
    }

    #[test]
    fn no_latest_ready_one_active() {
        let revs = [
            reserve("5554", OLDEST),
            reserve("5555", OLDER),
            active("5556", OLD),
        ];
        assert_eq!(collect(&revs, None, &min_config()), ["5554"]);
    }

    #[test]
    fn keep_oldest_when_none_reserved() {
        let revs = [
            routed(rev("5554", OLDEST), RoutingState::Pending, None),
            rev("5555", OLDER),
            routed(rev("5556", OLD), RoutingState::Active, None),
        ];
        assert!(
            collect(&revs, Some("5556"), &min_config()).is_empty(),
            "pending and unlabelled revisions are not collected"
        );
    }

    #[test]
    fn none_stale() {
        let revs = [
            reserve("5554", NOW),
            reserve("5555", NOW),
            reserve("5556", NOW),
        ];
        assert!(collect(&revs, None, &min_config()).is_empty());
    }

    #[test]
    fn keep_oldest_because_of_the_preserve_annotation() {
        let mut preserved = reserve("5554", OLDEST);
        let annotations = &mut preserved.metadata.annotations;
        annotations.insert(keys::NO_GC_ANNOTATION.into(), "TRUE".into());
        let revs = [preserved, reserve("5555", OLDER), reserve("5556", OLD)];
        assert_eq!(collect(&revs, None, &min_config()), ["5555"]);
    }

    // TestCollectMax

    #[test]
    fn at_max() {
        let revs = [
            reserve("5554", OLDER),
            reserve("5555", OLDER),
            active("5556", OLD),
        ];
        assert!(collect(&revs, Some("5556"), &max_config()).is_empty());
    }

    #[test]
    fn delete_oldest_keep_three_max() {
        let revs = [
            reserve("5553", OLDEST),
            reserve("5554", OLDER),
            reserve("5555", OLDER),
            active("5556", OLD),
        ];
        assert_eq!(
            collect(&revs, Some("5556"), &max_config()),
            ["5553"],
            "beyond max-non-active-revisions the oldest goes, though not stale"
        );
    }

    #[test]
    fn over_max_all_active() {
        let revs: Vec<_> = ["5553", "5554", "5555", "5556"]
            .into_iter()
            .map(|n| routed(rev(n, 0), RoutingState::Active, None))
            .collect();
        assert!(collect(&revs, Some("5556"), &max_config()).is_empty());
    }

    // TestCollectSettings

    fn settings_revisions() -> [Revision; 3] {
        [
            reserve("5554", OLDEST),
            reserve("5555", OLDER),
            active("5556", OLD),
        ]
    }

    #[test]
    fn all_disabled() {
        let config = GcConfig {
            retain_since_create_time: None,
            retain_since_last_active_time: None,
            min_non_active_revisions: 1,
            max_non_active_revisions: None,
        };
        assert!(collect(&settings_revisions(), Some("5556"), &config).is_empty());
    }

    #[test]
    fn staleness_disabled() {
        let config = GcConfig {
            retain_since_create_time: None,
            retain_since_last_active_time: None,
            min_non_active_revisions: 0,
            max_non_active_revisions: Some(1),
        };
        assert_eq!(
            collect(&settings_revisions(), Some("5556"), &config),
            ["5554"]
        );
    }

    #[test]
    fn max_disabled() {
        let config = GcConfig {
            retain_since_create_time: None,
            retain_since_last_active_time: Some(Duration::from_secs(60)),
            min_non_active_revisions: 1,
            max_non_active_revisions: None,
        };
        assert_eq!(
            collect(&settings_revisions(), Some("5556"), &config),
            ["5554"]
        );
    }

    // TestIsRevisionStale (5 minutes each)

    fn stale(r: &Revision) -> bool {
        is_stale(&gc(300, 300, 2, None), r, NOW)
    }

    #[test]
    fn stale_create_time() {
        assert!(stale(&rev("myrev", NOW - 600)));
    }

    #[test]
    fn fresh_create_time() {
        assert!(!stale(&rev("myrev", NOW)));
    }

    #[test]
    fn stale_revision_state_modified() {
        let r = routed(
            rev("myrev", NOW - 600),
            RoutingState::Reserve,
            Some(NOW - 600),
        );
        assert!(stale(&r));
    }

    #[test]
    fn fresh_revision_state_modified() {
        let r = routed(rev("myrev", NOW - 600), RoutingState::Reserve, Some(NOW));
        assert!(!stale(&r), "a recent routingStateModified keeps it");
    }

    // Edge cases of the same rules.

    #[test]
    fn retention_is_a_strict_bound() {
        assert!(
            stale(&rev("myrev", NOW - 300)),
            "exactly 5 minutes old is stale"
        );
        assert!(!stale(&rev("myrev", NOW - 299)));
    }

    #[test]
    fn unreadable_routing_state_modified_falls_back_to_creation() {
        let mut r = reserve("myrev", NOW);
        let annotations = &mut r.metadata.annotations;
        annotations.insert(
            keys::ROUTING_STATE_MODIFIED_ANNOTATION.into(),
            "yesterday".into(),
        );
        assert!(
            stale(&r),
            "creation (long ago) stands in for the unreadable time"
        );
    }

    #[test]
    fn stale_ones_go_oldest_first_down_to_min() {
        let revs = [
            reserve("5552", OLD),
            reserve("5551", OLDEST),
            reserve("5553", OLDER),
            active("5556", OLD),
        ];
        assert_eq!(
            collect(&revs, Some("5556"), &min_config()),
            ["5551", "5553"],
            "ordered by last activity, not by name or input order"
        );
    }

    #[test]
    fn max_counts_only_what_staleness_left() {
        // Two stale (13 and 12 minutes), three recent; max 2 removes the oldest recent.
        let config = gc(600, 600, 1, Some(2));
        let revs = [
            reserve("a", OLDEST),
            reserve("b", OLDER),
            reserve("c", NOW - 120),
            reserve("d", NOW - 60),
            reserve("e", NOW),
            active("f", NOW),
        ];
        assert_eq!(collect(&revs, Some("f"), &config), ["a", "b", "c"]);
    }

    #[test]
    fn next_collection_is_when_the_first_kept_revision_turns_stale() {
        // 10 minutes since creation and since last activity; 5554 is stale already.
        let config = gc(600, 600, 1, None);
        let revs = [
            reserve("5554", OLDEST),
            routed(
                rev("5555", NOW - 30),
                RoutingState::Reserve,
                Some(NOW - 120),
            ),
            routed(
                rev("5556", NOW - 300),
                RoutingState::Reserve,
                Some(NOW - 60),
            ),
            active("5557", NOW),
        ];
        assert_eq!(
            next_collection(&revs, Some("5557"), &config, NOW),
            Some(NOW + 540),
            "5556 is past both times in 540 s (last active 60 s ago); 5555 in 570 s"
        );
        assert_eq!(
            next_collection(&revs[1..], Some("5557"), &gc(600, 600, 2, None), NOW),
            None,
            "no more non-active revisions than min: nothing will be collected"
        );
        let disabled = GcConfig {
            retain_since_create_time: None,
            retain_since_last_active_time: None,
            ..config
        };
        assert_eq!(next_collection(&revs, Some("5557"), &disabled, NOW), None);
    }

    #[test]
    fn latest_ready_is_kept_even_when_reserve() {
        let revs = [reserve("5554", OLDEST), reserve("5555", OLDER)];
        assert_eq!(collect(&revs, Some("5554"), &gc(0, 0, 0, None)), ["5555"]);
    }
}
