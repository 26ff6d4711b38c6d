//! One-line summaries of status conditions, as kn's list and describe columns show them.

use knserve_core::api::{Condition, ConditionSeverity, ConditionStatus, condition_types};

/// `True`, `False` or `Unknown`.
pub fn status_text(status: ConditionStatus) -> &'static str {
    match status {
        ConditionStatus::True => "True",
        ConditionStatus::False => "False",
        ConditionStatus::Unknown => "Unknown",
    }
}

/// `<ok> OK / <total>`: how many conditions are `True`, out of all of them.
pub fn conditions_summary(conditions: &[Condition]) -> String {
    let ok = conditions.iter().filter(|c| c.is_true()).count();
    format!("{ok} OK / {}", conditions.len())
}

/// The `Ready` condition's status, or `<unknown>` when there is none yet.
pub fn ready_text(conditions: &[Condition]) -> String {
    ready(conditions).map_or_else(|| "<unknown>".to_owned(), |c| status_text(c.status).into())
}

/// Why `Ready` is not `True`: `reason : message`, the reason alone, `""` when ready,
/// or `<unknown>` when there is no `Ready` condition (kn's REASON column).
pub fn not_ready_reason(conditions: &[Condition]) -> String {
    match ready(conditions) {
        None => "<unknown>".to_owned(),
        Some(c) if c.is_true() => String::new(),
        Some(c) => reason_and_message(c, " : "),
    }
}

/// `reason<sep>message`, whichever of the two are set.
pub fn reason_and_message(condition: &Condition, separator: &str) -> String {
    let reason = condition.reason.as_deref().unwrap_or("");
    match condition.message.as_deref().unwrap_or("") {
        "" => reason.to_owned(),
        message if reason.is_empty() => message.to_owned(),
        message => format!("{reason}{separator}{message}"),
    }
}

/// The condition that explains why a resource is not ready: among the conditions other
/// than `Ready` (the more specific ones), the first `False` one, else the first
/// `Unknown` one; else `Ready` itself when it is not `True`; `None` when nothing is
/// failing or pending. A failure outranks a wait: a revision whose container crashed
/// while its resources are still deploying is reported by the crash.
///
/// Conditions of severity `Warning` or `Info` do not affect readiness and are skipped.
pub fn blocking_condition(conditions: &[Condition]) -> Option<&Condition> {
    let blocking = |c: &&Condition| !c.is_true() && c.severity == ConditionSeverity::Error;
    let specific = || {
        conditions
            .iter()
            .filter(|c| c.type_ != condition_types::READY)
            .filter(blocking)
    };
    specific()
        .find(|c| c.status == ConditionStatus::False)
        .or_else(|| specific().next())
        .or_else(|| ready(conditions).filter(blocking))
}

/// kn's describe marker: `++` true, `!!` false, `??` unknown, ` W`/` I` for a
/// not-true warning or info condition.
pub fn marker(condition: &Condition) -> &'static str {
    match (condition.status, condition.severity) {
        (ConditionStatus::True, _) => "++",
        (_, ConditionSeverity::Warning) => " W",
        (_, ConditionSeverity::Info) => " I",
        (ConditionStatus::False, _) => "!!",
        (ConditionStatus::Unknown, _) => "??",
    }
}

fn ready(conditions: &[Condition]) -> Option<&Condition> {
    knserve_core::api::find_condition(conditions, condition_types::READY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conditions(json: serde_json::Value) -> Vec<Condition> {
        serde_json::from_value(json).expect("test conditions are valid")
    }

    #[test]
    fn summary_counts_true_conditions() {
        let cs = conditions(serde_json::json!([
            {"type": "Ready", "status": "Unknown"},
            {"type": "ConfigurationsReady", "status": "True"},
            {"type": "RoutesReady", "status": "False"},
        ]));
        assert_eq!(conditions_summary(&cs), "1 OK / 3");
        assert_eq!(conditions_summary(&[]), "0 OK / 0");
    }

    #[test]
    fn ready_and_reason_columns_follow_the_ready_condition() {
        let cs = conditions(serde_json::json!([
            {"type": "Ready", "status": "False", "reason": "RevisionFailed",
             "message": "Revision \"hello-00001\" failed"},
        ]));
        assert_eq!(ready_text(&cs), "False");
        assert_eq!(
            not_ready_reason(&cs),
            "RevisionFailed : Revision \"hello-00001\" failed"
        );
        let ok = conditions(serde_json::json!([{"type": "Ready", "status": "True"}]));
        assert_eq!(not_ready_reason(&ok), "", "a ready resource has no reason");
        assert_eq!(ready_text(&[]), "<unknown>");
        assert_eq!(not_ready_reason(&[]), "<unknown>");
    }

    #[test]
    fn the_blocking_condition_prefers_a_specific_one_over_ready() {
        let cs = conditions(serde_json::json!([
            {"type": "Ready", "status": "Unknown", "reason": "X"},
            {"type": "ConfigurationsReady", "status": "True"},
            {"type": "RoutesReady", "status": "Unknown", "reason": "TrafficNotMigrated"},
        ]));
        let blocking = blocking_condition(&cs).expect("something is pending");
        assert_eq!(blocking.type_, "RoutesReady");
    }

    #[test]
    fn a_failed_condition_outranks_one_still_pending() {
        let set = conditions(serde_json::json!([
            {"type": "ResourcesAvailable", "status": "Unknown", "reason": "Deploying"},
            {"type": "ContainerHealthy", "status": "False", "reason": "ExitCode3"},
            {"type": "Ready", "status": "False", "reason": "ExitCode3"}
        ]));
        let blocking = blocking_condition(&set).expect("not ready");
        assert_eq!(
            (blocking.type_.as_str(), blocking.reason.as_deref()),
            ("ContainerHealthy", Some("ExitCode3")),
            "the crash explains the revision, not the deployment it interrupted"
        );
    }

    #[test]
    fn warnings_never_block_and_a_lone_ready_does() {
        let cs = conditions(serde_json::json!([
            {"type": "Active", "status": "False", "severity": "Info"},
            {"type": "Ready", "status": "False", "reason": "Bad"},
        ]));
        assert_eq!(
            blocking_condition(&cs).map(|c| c.type_.as_str()),
            Some("Ready")
        );
        let ready = conditions(serde_json::json!([
            {"type": "Active", "status": "False", "severity": "Info"},
            {"type": "Ready", "status": "True"},
        ]));
        assert_eq!(
            blocking_condition(&ready),
            None,
            "an info condition is not a failure"
        );
    }

    #[test]
    fn markers_match_kn() {
        let cs = conditions(serde_json::json!([
            {"type": "A", "status": "True"},
            {"type": "B", "status": "False"},
            {"type": "C", "status": "Unknown"},
            {"type": "D", "status": "False", "severity": "Warning"},
        ]));
        let marks: Vec<_> = cs.iter().map(marker).collect();
        assert_eq!(marks, ["++", "!!", "??", " W"]);
    }

    #[test]
    fn reason_and_message_uses_whatever_is_set() {
        let mut c = Condition::new("Ready", ConditionStatus::False);
        assert_eq!(reason_and_message(&c, ": "), "");
        c.message = Some("boom".into());
        assert_eq!(reason_and_message(&c, ": "), "boom");
        c.reason = Some("Crash".into());
        assert_eq!(reason_and_message(&c, ": "), "Crash: boom");
    }
}
