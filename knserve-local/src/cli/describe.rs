//! `knserve describe ksvc NAME`: a Service, its revisions and why they are not ready.

use std::fmt::Write as _;

use knserve_core::api::{Condition, Revision, Service, TrafficTarget, condition_types, keys};

use super::conditions::{blocking_condition, marker, ready_text, reason_and_message};
use super::table::Table;
use super::time::age;

/// One revision `describe` shows: a traffic target, or the latest created revision when
/// no target names it (so a failing new revision is visible).
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionEntry {
    /// The revision's name.
    pub name: String,
    /// Its traffic target, if it has one.
    pub target: Option<TrafficTarget>,
}

/// The revisions to show for `service`, in `status.traffic` order, then the latest
/// created revision if no target names it.
pub fn revision_entries(service: &Service) -> Vec<RevisionEntry> {
    let Some(status) = &service.status else {
        return Vec::new();
    };
    let mut entries: Vec<RevisionEntry> = status
        .traffic
        .iter()
        .filter(|t| !t.revision_name().is_empty())
        .map(|t| RevisionEntry {
            name: t.revision_name().to_owned(),
            target: Some(t.clone()),
        })
        .collect();
    if let Some(latest) = &status.latest_created_revision_name
        && !entries.iter().any(|e| &e.name == latest)
    {
        entries.push(RevisionEntry {
            name: latest.clone(),
            target: None,
        });
    }
    entries
}

/// The whole description. `revisions` are the fetched objects (a missing one prints as
/// not found); `now` is Unix seconds.
pub fn describe_service(
    service: &Service,
    entries: &[RevisionEntry],
    revisions: &[Revision],
    now: i64,
) -> String {
    let status = service.status.clone().unwrap_or_default();
    let mut out = String::new();
    let meta = &service.metadata;
    let created = meta.creation_timestamp.as_deref();
    let _ = writeln!(out, "Name:       {}", meta.name());
    let _ = writeln!(out, "Namespace:  {}", meta.namespace());
    let _ = writeln!(out, "Age:        {}", age(created, now));
    let _ = writeln!(out, "URL:        {}", status.url.as_deref().unwrap_or(""));
    out.push_str("\nRevisions:\n");
    if entries.is_empty() {
        out.push_str("  (none)\n");
    }
    for entry in entries {
        let revision = revisions.iter().find(|r| r.metadata.name() == entry.name);
        out.push_str(&describe_revision(entry, revision, now));
    }
    out.push_str("\nConditions:\n");
    out.push_str(&conditions_table(&status.conditions, now));
    out
}

/// One revision: `  100%  @latest (hello-00001) #tag [1] (5s)` and its details,
/// including the failing condition of a revision that is not ready.
pub fn describe_revision(entry: &RevisionEntry, revision: Option<&Revision>, now: i64) -> String {
    let mut out = String::new();
    let target = entry.target.as_ref();
    let percent = target.map_or_else(String::new, |t| format!("{}%", t.percent()));
    let label = match target {
        Some(t) if t.is_latest_revision() => format!("@latest ({})", entry.name),
        _ => entry.name.clone(),
    };
    let tag = target
        .map(TrafficTarget::tag)
        .filter(|t| !t.is_empty())
        .map_or_else(String::new, |t| format!(" #{t}"));
    let Some(revision) = revision else {
        let _ = writeln!(out, "  {percent:<5} {label}{tag} (not found)");
        return out;
    };
    let meta = &revision.metadata;
    let generation = meta
        .label(keys::CONFIGURATION_GENERATION_LABEL)
        .map_or_else(String::new, |g| format!(" [{g}]"));
    let created = age(meta.creation_timestamp.as_deref(), now);
    let _ = writeln!(out, "  {percent:<5} {label}{tag}{generation} ({created})");
    let status = revision.status.clone().unwrap_or_default();
    let image = revision
        .spec
        .serving_container_index()
        .and_then(|i| revision.spec.containers.get(i))
        .map_or("", |c| c.image.as_str());
    let replicas = |n: Option<i32>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let _ = writeln!(out, "        Image:     {image}");
    let _ = writeln!(out, "        Ready:     {}", ready_text(&status.conditions));
    let _ = writeln!(
        out,
        "        Replicas:  {}/{}",
        replicas(status.actual_replicas),
        replicas(status.desired_replicas)
    );
    if let Some(failing) = blocking_condition(&status.conditions) {
        let _ = writeln!(out, "        {}", failing_text(failing));
    }
    out
}

/// `Error:` for a `False` condition, `Waiting:` for an `Unknown` one, then
/// `<type>: <reason>: <message>`.
fn failing_text(condition: &Condition) -> String {
    let label = match condition.status {
        knserve_core::api::ConditionStatus::False => "Error:    ",
        _ => "Waiting:  ",
    };
    let why = reason_and_message(condition, ": ");
    if why.is_empty() {
        format!("{label} {}", condition.type_)
    } else {
        format!("{label} {}: {why}", condition.type_)
    }
}

/// kn's conditions block: `OK TYPE AGE REASON`, `Ready` first, each line indented.
pub fn conditions_table(conditions: &[Condition], now: i64) -> String {
    let mut sorted: Vec<&Condition> = conditions.iter().collect();
    sorted.sort_by_key(|c| c.type_ != condition_types::READY);
    let mut table = Table::new(["OK", "TYPE", "AGE", "REASON"]);
    for c in sorted {
        let transition = c
            .last_transition_time
            .as_deref()
            .map_or_else(String::new, |t| age(Some(t), now));
        table.push(vec![
            marker(c).to_owned(),
            c.type_.clone(),
            transition,
            reason_and_message(c, ": "),
        ]);
    }
    table.render().lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests;
