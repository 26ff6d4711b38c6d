//! A revision's status from what the backend observed (§1.4).

use super::conditions::{condition, set_condition, status_of, summarize, true_condition};
use super::types::{RevisionHealth, RevisionObservation};
use crate::api::condition_types::{ACTIVE, CONTAINER_HEALTHY, READY, RESOURCES_AVAILABLE};
use crate::api::{Condition, ConditionStatus, Revision, RevisionStatus, find_condition};

/// The reason of a revision that is still coming up.
pub const DEPLOYING: &str = "Deploying";
/// The reason of `Active=False`.
pub const NO_TRAFFIC: &str = "NoTraffic";

/// A new revision's status: everything `Unknown` (`Deploying`).
pub(super) fn initial_status(now: &str) -> RevisionStatus {
    let mut status = RevisionStatus::default();
    let deploying = |t: &str| condition(t, ConditionStatus::Unknown, Some(DEPLOYING), None);
    for type_ in [RESOURCES_AVAILABLE, CONTAINER_HEALTHY, READY] {
        set_condition(&mut status.conditions, deploying(type_), Some(now));
    }
    status
}

/// Records `observation` in `revision`'s status: `ResourcesAvailable` and
/// `ContainerHealthy` from the health, `Ready` as their AND, `Active` (not part of
/// Ready), the replica counts and `observedGeneration`.
///
/// A failure lands on `ContainerHealthy=False` with the backend's reason and message
/// (`ExitCode1`) and is copied to `Ready`; `ResourcesAvailable` keeps its last value
/// unless that was `False` (the resources came up after all, so it is `Unknown` again
/// and `Ready` carries the container's failure). An unavailability lands on
/// `ResourcesAvailable=False` (`ImagePullBackOff`) and `ContainerHealthy` keeps its
/// last value, as Knative marks them.
pub fn revision_status(
    revision: &mut Revision,
    observation: &RevisionObservation,
    now: Option<&str>,
) {
    let status = revision.status.get_or_insert_with(Default::default);
    let conditions = &mut status.conditions;
    let deploying = |t: &str| condition(t, ConditionStatus::Unknown, Some(DEPLOYING), None);
    match &observation.health {
        RevisionHealth::Deploying => {
            set_condition(conditions, deploying(RESOURCES_AVAILABLE), now);
            set_condition(conditions, deploying(CONTAINER_HEALTHY), now);
        }
        RevisionHealth::Ready => {
            set_condition(conditions, true_condition(RESOURCES_AVAILABLE), now);
            set_condition(conditions, true_condition(CONTAINER_HEALTHY), now);
        }
        RevisionHealth::Failed { reason, message } => {
            if status_of(conditions, RESOURCES_AVAILABLE) != ConditionStatus::True {
                set_condition(conditions, deploying(RESOURCES_AVAILABLE), now);
            }
            set_condition(conditions, failed(CONTAINER_HEALTHY, reason, message), now);
        }
        RevisionHealth::Unavailable { reason, message } => {
            if find_condition(conditions, CONTAINER_HEALTHY).is_none() {
                set_condition(conditions, deploying(CONTAINER_HEALTHY), now);
            }
            set_condition(
                conditions,
                failed(RESOURCES_AVAILABLE, reason, message),
                now,
            );
        }
    }
    if let Some(active) = observation.active {
        set_condition(conditions, active_condition(active), now);
    }
    let ready = summarize(conditions, &[RESOURCES_AVAILABLE, CONTAINER_HEALTHY]);
    set_condition(conditions, ready, now);
    status.actual_replicas = Some(saturate(observation.actual_replicas));
    status.desired_replicas = observation.desired_replicas.map(saturate);
    status.observed_generation = revision.metadata.generation;
}

fn failed(type_: &str, reason: &str, message: &str) -> Condition {
    condition(
        type_,
        ConditionStatus::False,
        Some(reason),
        Some(message.to_owned()),
    )
}

fn active_condition(active: bool) -> Condition {
    if active {
        true_condition(ACTIVE)
    } else {
        condition(
            ACTIVE,
            ConditionStatus::False,
            Some(NO_TRAFFIC),
            Some("The target is not receiving traffic.".to_owned()),
        )
    }
}

fn saturate(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The revision's `Ready` status (`Unknown` before any status).
pub(super) fn readiness(revision: &Revision) -> ConditionStatus {
    revision
        .status
        .as_ref()
        .map_or(ConditionStatus::Unknown, |s| {
            status_of(&s.conditions, READY)
        })
}

/// The `Ready=False` condition's message, when the revision failed.
pub(super) fn failure_message(revision: &Revision) -> Option<String> {
    let status = revision.status.as_ref()?;
    let ready = find_condition(&status.conditions, READY)?;
    (ready.status == ConditionStatus::False).then(|| ready.message.clone().unwrap_or_default())
}
