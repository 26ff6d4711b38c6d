//! Knative's progress deadline for one revision: how long it may take to reach its
//! initial scale before it is failed.
//!
//! Knative gives a revision's Deployment a `progressDeadlineSeconds` (the
//! `serving.knative.dev/progress-deadline` annotation, else `config-deployment`'s
//! `progress-deadline`, 600 s by default). A revision that never reaches its initial
//! scale within it ends with `ResourcesAvailable=False`, reason
//! `ProgressDeadlineExceeded`, message `Initial scale was never achieved`
//! (`PropagateAutoscalerStatus` in Knative's `revision_lifecycle.go`), and is scaled to
//! zero. The local backend has no Deployment to time out, so [`ProgressTracker`] keeps
//! the clock itself.

use std::{collections::BTreeMap, time::Duration};

use knserve_core::{
    api::{duration_annotation, keys::PROGRESS_DEADLINE_ANNOTATION},
    time::Timestamp,
};

/// The reason a revision gets when it missed its progress deadline (Knative's).
pub const PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";

/// The progress deadline of a revision with `annotations`, under `default` (the
/// `config-deployment` value).
///
/// The annotation is read with the admission rule (a Go duration of whole seconds, not
/// negative); an absent, empty, zero or unreadable value leaves `default`. Knative
/// would hand a zero to the Deployment, which Kubernetes refuses; here the revision
/// keeps a deadline it can meet.
pub fn progress_deadline(annotations: &BTreeMap<String, String>, default: Duration) -> Duration {
    annotations
        .get(PROGRESS_DEADLINE_ANNOTATION)
        .and_then(|raw| duration_annotation(raw.trim()).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(default)
}

/// Where a revision stands against its progress deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Still within the deadline, not yet at its initial scale.
    Progressing,
    /// It reached its initial scale (or has a ready instance); no deadline applies
    /// any more.
    Achieved,
    /// The deadline passed first: its instances are to be stopped and requests for it
    /// refused.
    Exceeded,
}

/// What the control loop saw of a revision on one pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Instances ready now.
    pub ready: u32,
    /// The PodAutoscaler's `ScaleTargetInitialized`: ready reached the initial scale.
    pub initialized: bool,
}

/// The progress-deadline machine of one revision.
///
/// States: [`Progress::Progressing`] from creation; [`Progress::Achieved`] once the
/// revision reaches its initial scale or has a ready instance — for good, so a
/// revision that scales to zero and later fails to come back is never failed by its
/// old deadline (Knative's `ScaleTargetInitialized` never reverts); or
/// [`Progress::Exceeded`] once `deadline` has passed since creation with neither, from
/// the very instant the deadline is reached. From `Exceeded` only a ready instance
/// (one that came up while its siblings were being stopped) leads to `Achieved`, as a
/// Deployment that becomes available turns Knative's `ResourcesAvailable` back to
/// True; the PA's initialization alone does not, since a failed revision is
/// unreachable and its PA then asks for no instance at all.
///
/// The clock starts when the server creates the revision's runtime: at its apply, or
/// at the server's start for a restored revision, which therefore gets its whole
/// deadline again after a restart (its instances are new as well).
#[derive(Debug, Clone)]
pub struct ProgressTracker {
    created: Timestamp,
    deadline: Duration,
    state: Progress,
}

impl ProgressTracker {
    /// A revision created at `created`, given `deadline` to reach its initial scale.
    pub fn new(created: Timestamp, deadline: Duration) -> Self {
        Self {
            created,
            deadline,
            state: Progress::Progressing,
        }
    }

    /// Feeds one observation at `now`; returns the state after it.
    pub fn step(&mut self, now: Timestamp, seen: Seen) -> Progress {
        self.state = match self.state {
            Progress::Achieved => Progress::Achieved,
            _ if seen.ready > 0 => Progress::Achieved,
            Progress::Progressing if seen.initialized => Progress::Achieved,
            Progress::Progressing if now >= self.expires_at() => Progress::Exceeded,
            state => state,
        };
        self.state
    }

    /// The state after the last step.
    pub fn state(&self) -> Progress {
        self.state
    }

    /// When a revision still progressing is failed; `None` in any other state.
    pub fn pending_until(&self) -> Option<Timestamp> {
        (self.state == Progress::Progressing).then(|| self.expires_at())
    }

    /// The status message of an exceeded deadline: Knative's, with the deadline named
    /// so that the reader knows which setting to raise.
    pub fn message(&self) -> String {
        format!(
            "Initial scale was never achieved: no instance became ready within the progress deadline of {}s",
            self.deadline.as_secs()
        )
    }

    fn expires_at(&self) -> Timestamp {
        self.created + self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTHING: Seen = seen(0, false);

    const fn seen(ready: u32, initialized: bool) -> Seen {
        Seen { ready, initialized }
    }

    fn tracker(deadline_secs: u64) -> ProgressTracker {
        ProgressTracker::new(Timestamp::from_secs(10), Duration::from_secs(deadline_secs))
    }

    #[test]
    fn the_deadline_is_exceeded_exactly_when_it_is_reached() {
        let mut t = tracker(2);
        let just_before = Timestamp::from_millis(11_999);
        assert_eq!(t.step(just_before, NOTHING), Progress::Progressing);
        assert_eq!(t.pending_until(), Some(Timestamp::from_secs(12)));
        assert_eq!(
            t.step(Timestamp::from_secs(12), NOTHING),
            Progress::Exceeded,
            "created at 10 s with a 2 s deadline: exceeded at 12 s"
        );
        assert_eq!(t.pending_until(), None, "nothing left to wait for");
        assert_eq!(
            t.step(Timestamp::from_secs(60), seen(0, true)),
            Progress::Exceeded,
            "a failed revision's PA initializing on no instance does not undo it"
        );
    }

    #[test]
    fn a_revision_that_reached_its_initial_scale_is_never_failed_by_an_old_deadline() {
        let mut t = tracker(2);
        let at_scale = seen(1, true);
        assert_eq!(
            t.step(Timestamp::from_secs(11), at_scale),
            Progress::Achieved
        );
        for later in [12, 13, 3_600] {
            assert_eq!(
                t.step(Timestamp::from_secs(later), NOTHING),
                Progress::Achieved,
                "scaled to zero at {later} s, long after the deadline: still achieved"
            );
        }
        let mut zero = tracker(2);
        let initialized_at_zero = seen(0, true);
        assert_eq!(
            zero.step(Timestamp::from_secs(10), initialized_at_zero),
            Progress::Achieved,
            "an initial scale of 0 is reached at once"
        );
        assert_eq!(
            zero.step(Timestamp::from_secs(99), NOTHING),
            Progress::Achieved
        );
    }

    #[test]
    fn an_instance_ready_after_the_deadline_turns_the_revision_back_to_ready() {
        let mut t = tracker(2);
        assert_eq!(
            t.step(Timestamp::from_secs(12), NOTHING),
            Progress::Exceeded
        );
        let one_ready = seen(1, false);
        assert_eq!(
            t.step(Timestamp::from_secs(13), one_ready),
            Progress::Achieved
        );
        assert_eq!(
            t.step(Timestamp::from_secs(14), NOTHING),
            Progress::Achieved,
            "once ready, the deadline no longer applies"
        );
    }

    #[test]
    fn the_message_names_knatives_text_and_the_deadline() {
        let message = tracker(2).message();
        assert!(
            message.starts_with("Initial scale was never achieved")
                && message.contains("progress deadline of 2s"),
            "{message}"
        );
    }

    fn annotated(value: &str) -> BTreeMap<String, String> {
        BTreeMap::from([(PROGRESS_DEADLINE_ANNOTATION.to_owned(), value.to_owned())])
    }

    #[test]
    fn the_annotation_sets_the_deadline_unless_absent_zero_or_unreadable() {
        let default = Duration::from_secs(600);
        assert_eq!(
            progress_deadline(&annotated("2s"), default),
            Duration::from_secs(2)
        );
        assert_eq!(
            progress_deadline(&annotated("1m"), default),
            Duration::from_secs(60)
        );
        for (value, why) in [
            ("0s", "zero"),
            ("", "empty"),
            ("soon", "not a duration"),
            ("-5s", "negative"),
            ("1500ms", "not whole seconds"),
        ] {
            assert_eq!(
                progress_deadline(&annotated(value), default),
                default,
                "{why} ({value:?}) leaves the config's deadline"
            );
        }
        assert_eq!(progress_deadline(&BTreeMap::new(), default), default);
    }
}
