//! Setting conditions and summarizing them into `Ready` (§1.4).

use md5::{Digest, Md5};

use crate::api::{Condition, ConditionStatus, find_condition};

/// A condition of `type_` with `status`, `reason` and `message`.
pub fn condition(
    type_: &str,
    status: ConditionStatus,
    reason: Option<&str>,
    message: Option<String>,
) -> Condition {
    Condition {
        reason: reason.map(str::to_owned),
        message,
        ..Condition::new(type_, status)
    }
}

/// A `True` condition with no reason.
pub(super) fn true_condition(type_: &str) -> Condition {
    condition(type_, ConditionStatus::True, None, None)
}

/// Puts `new` into `conditions`, replacing the one of the same type. The transition
/// time is kept when the status did not change, else set to `now` (or cleared when the
/// time is not known).
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition, now: Option<&str>) {
    let old = conditions.iter().position(|c| c.type_ == new.type_);
    new.last_transition_time = match old.map(|i| &conditions[i]) {
        Some(old) if old.status == new.status => old.last_transition_time.clone(),
        _ => now.map(str::to_owned),
    };
    match old {
        Some(i) => conditions[i] = new,
        None => conditions.push(new),
    }
}

/// `Ready` as the AND of `dependents`: `True` when all are, else the status, reason and
/// message of the first `False` one, else of the first that is not `True` (missing
/// counts as `Unknown`).
pub fn summarize(conditions: &[Condition], dependents: &[&str]) -> Condition {
    let get = |t: &str| {
        find_condition(conditions, t)
            .cloned()
            .unwrap_or_else(|| Condition::new(t, ConditionStatus::Unknown))
    };
    let all: Vec<Condition> = dependents.iter().map(|t| get(t)).collect();
    let worst = all
        .iter()
        .find(|c| c.status == ConditionStatus::False)
        .or_else(|| all.iter().find(|c| c.status != ConditionStatus::True));
    match worst {
        None => true_condition(crate::api::condition_types::READY),
        Some(c) => condition(
            crate::api::condition_types::READY,
            c.status,
            c.reason.as_deref(),
            c.message.clone(),
        ),
    }
}

/// The status of the condition `type_`, `Unknown` when absent.
pub(super) fn status_of(conditions: &[Condition], type_: &str) -> ConditionStatus {
    find_condition(conditions, type_).map_or(ConditionStatus::Unknown, |c| c.status)
}

/// A stable, UUID-shaped id for the object `kind` `namespace/name`: the MD5 of the
/// three, so re-applying after a restart yields the same uids.
pub(super) fn derive_uid(kind: &str, namespace: &str, name: &str) -> String {
    let hex: String = Md5::digest(format!("{kind}/{namespace}/{name}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
