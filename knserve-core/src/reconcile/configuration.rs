//! The Configuration's `latestReadyRevisionName` and `Ready` (§1.4, §1.5).

use super::conditions::{condition, set_condition, true_condition};
use super::revision::{failure_message, readiness};
use super::types::ServiceSet;
use crate::api::condition_types::READY;
use crate::api::keys::CONFIGURATION_GENERATION_LABEL;
use crate::api::{Condition, ConditionStatus, Configuration, Revision};

/// The reason of a Configuration whose latest revision failed or could not be created.
pub const REVISION_FAILED: &str = "RevisionFailed";

/// Moves `latestReadyRevisionName` forward and sets `Ready`:
/// - `False` `RevisionFailed` when the current generation's revision could not be
///   created (its name is taken) or the latest created revision failed, with its message;
/// - `True` when latest created = latest ready;
/// - `Unknown` otherwise (the latest created revision is still coming up).
pub(super) fn reconcile_configuration(set: &mut ServiceSet, now: Option<&str>) {
    configuration_status(
        &mut set.configuration,
        &set.revisions,
        set.revision_name_taken.as_deref(),
        now,
    );
}

/// The status reconcile of a Configuration (what `apply` runs for a Service's),
/// for one Configuration on its own: `revisions` are the
/// ones it owns, `name_taken` the revision name its current generation asked for but
/// could not have.
pub fn configuration_status(
    configuration: &mut Configuration,
    revisions: &[Revision],
    name_taken: Option<&str>,
    now: Option<&str>,
) {
    let generation = configuration.metadata.generation;
    let status = configuration.status.get_or_insert_with(Default::default);
    let latest_created = status.latest_created_revision_name.clone();
    let latest_ready = next_latest_ready(
        revisions,
        latest_created.as_deref(),
        status.latest_ready_revision_name.as_deref(),
    );
    let created = latest_created.as_deref().and_then(|n| find(revisions, n));
    let ready = if let Some(name) = name_taken {
        failed(format!(
            "Revision creation failed with message: revisions.serving.knative.dev {name:?} already exists."
        ))
    } else if let Some(message) = created.and_then(failure_message) {
        let name = latest_created.as_deref().unwrap_or_default();
        failed(format!("Revision {name:?} failed with message: {message}."))
    } else if latest_created.is_some() && latest_created == latest_ready {
        true_condition(READY)
    } else {
        condition(READY, ConditionStatus::Unknown, None, None)
    };
    set_condition(&mut status.conditions, ready, now);
    status.latest_ready_revision_name = latest_ready;
    status.observed_generation = generation;
}

fn failed(message: String) -> Condition {
    condition(
        READY,
        ConditionStatus::False,
        Some(REVISION_FAILED),
        Some(message),
    )
}

fn find<'a>(revisions: &'a [Revision], name: &str) -> Option<&'a Revision> {
    revisions.iter().find(|r| r.metadata.name() == name)
}

fn generation_of(revision: &Revision) -> i64 {
    revision
        .metadata
        .label(CONFIGURATION_GENERATION_LABEL)
        .and_then(|g| g.parse().ok())
        .unwrap_or(0)
}

fn is_ready(revision: &Revision) -> bool {
    readiness(revision) == ConditionStatus::True
}

/// §1.5: the latest created revision when it is ready (a BYO name sorts first, even a
/// rolled-back older one); else the newest ready revision of a generation after the
/// previous latest ready one; else the previous one (it only moves forward).
fn next_latest_ready(
    revisions: &[Revision],
    latest_created: Option<&str>,
    previous: Option<&str>,
) -> Option<String> {
    if let Some(created) = latest_created
        .and_then(|n| find(revisions, n))
        .filter(|r| is_ready(r))
    {
        return Some(created.metadata.name().to_owned());
    }
    let floor = previous
        .and_then(|n| find(revisions, n))
        .map_or(0, generation_of);
    revisions
        .iter()
        .filter(|r| generation_of(r) > floor && is_ready(r))
        .max_by_key(|r| generation_of(r))
        .map(|r| r.metadata.name().to_owned())
        .or_else(|| previous.map(str::to_owned))
}
