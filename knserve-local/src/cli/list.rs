//! `knserve get`: resource kinds, output formats and the kn-style list tables.

use knserve_core::api::{Condition, Revision, Route, Service, keys};
use serde::Serialize;

use super::conditions::{conditions_summary, not_ready_reason, ready_text};
use super::table::Table;
use super::time::age;

/// The kinds `get` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    /// `ksvc`, `service`, `services`, `kservice`, `kservices`.
    Service,
    /// `revision`, `revisions`, `rev`, `revs`.
    Revision,
    /// `route`, `routes`.
    Route,
}

/// A resource kind or output format the CLI does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {given:?}: expected one of {allowed}")]
pub struct UnknownValue {
    /// `resource type` or `output format`.
    pub what: &'static str,
    /// What was given.
    pub given: String,
    /// The accepted spellings, comma-separated.
    pub allowed: &'static str,
}

impl ResourceKind {
    /// Every accepted spelling.
    pub const ALLOWED: &'static str =
        "ksvc, kservice, service, services, revision, revisions, rev, route, routes";

    /// Reads a kind as kn spells it (case-insensitive).
    pub fn parse(text: &str) -> Result<Self, UnknownValue> {
        match text.to_ascii_lowercase().as_str() {
            "ksvc" | "ksvcs" | "kservice" | "kservices" | "service" | "services" | "svc" => {
                Ok(Self::Service)
            }
            "revision" | "revisions" | "rev" | "revs" => Ok(Self::Revision),
            "route" | "routes" => Ok(Self::Route),
            _ => Err(UnknownValue {
                what: "resource type",
                given: text.to_owned(),
                allowed: Self::ALLOWED,
            }),
        }
    }

    /// The admin API path listing this kind.
    pub fn list_path(self) -> &'static str {
        match self {
            Self::Service => "/v1/services",
            Self::Revision => "/v1/revisions",
            Self::Route => "/v1/routes",
        }
    }

    /// The kind of the list object `-o yaml|json` prints (`ServiceList`, …).
    pub fn list_kind(self) -> &'static str {
        match self {
            Self::Service => "ServiceList",
            Self::Revision => "RevisionList",
            Self::Route => "RouteList",
        }
    }
}

/// `-o`: a table (no flag), YAML or JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// kn's columns.
    Table,
    /// The objects as a YAML list object.
    Yaml,
    /// The objects as a JSON list object.
    Json,
}

impl OutputFormat {
    /// Reads `-o`; `None` is the table.
    pub fn parse(text: Option<&str>) -> Result<Self, UnknownValue> {
        match text.map(str::to_ascii_lowercase).as_deref() {
            None => Ok(Self::Table),
            Some("yaml") => Ok(Self::Yaml),
            Some("json") => Ok(Self::Json),
            Some(_) => Err(UnknownValue {
                what: "output format",
                given: text.unwrap_or_default().to_owned(),
                allowed: "yaml, json",
            }),
        }
    }
}

/// Which namespace a list shows; `All` adds a NAMESPACE column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Only this namespace.
    Namespace(&'a str),
    /// Every namespace (`-A`).
    All,
}

impl Scope<'_> {
    /// Whether an object in `namespace` is shown.
    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Self::Namespace(ns) => *ns == namespace,
            Self::All => true,
        }
    }

    fn table(&self, columns: &[&str]) -> Table {
        let namespace = matches!(self, Self::All).then_some("NAMESPACE");
        Table::new(namespace.into_iter().chain(columns.iter().copied()))
    }

    fn row(&self, namespace: &str, cells: Vec<String>) -> Vec<String> {
        match self {
            Self::All => std::iter::once(namespace.to_owned()).chain(cells).collect(),
            Self::Namespace(_) => cells,
        }
    }
}

/// `items` wrapped in a kn list object, as YAML or JSON text ending in a newline.
pub fn render_objects<T: Serialize>(
    kind: ResourceKind,
    format: OutputFormat,
    items: &[T],
) -> Result<String, serde_json::Error> {
    let items = serde_json::to_value(items)?;
    let list = serde_json::json!({
        "apiVersion": knserve_core::api::API_VERSION,
        "kind": kind.list_kind(),
        "items": items,
    });
    match format {
        OutputFormat::Json => serde_json::to_string_pretty(&list).map(|s| s + "\n"),
        _ => serde_yaml_ng::to_string(&list).map_err(serde::ser::Error::custom),
    }
}

/// kn's `service list`: NAME URL LATEST AGE CONDITIONS READY REASON.
pub fn services_table(services: &[Service], scope: Scope<'_>, now: i64) -> String {
    let mut table = scope.table(&[
        "NAME",
        "URL",
        "LATEST",
        "AGE",
        "CONDITIONS",
        "READY",
        "REASON",
    ]);
    for svc in services {
        let status = svc.status.clone().unwrap_or_default();
        let cells = vec![
            svc.metadata.name().to_owned(),
            status.url.clone().unwrap_or_default(),
            status
                .latest_ready_revision_name
                .clone()
                .unwrap_or_default(),
            age(svc.metadata.creation_timestamp.as_deref(), now),
        ];
        table.push(scope.row(
            svc.metadata.namespace(),
            with_conditions(cells, &status.conditions),
        ));
    }
    table.render()
}

/// kn's `revision list`: NAME SERVICE TRAFFIC TAGS GENERATION AGE CONDITIONS READY
/// REASON. TRAFFIC and TAGS come from the owning Service's `status.traffic`.
pub fn revisions_table(
    revisions: &[Revision],
    services: &[Service],
    scope: Scope<'_>,
    now: i64,
) -> String {
    let mut table = scope.table(&[
        "NAME",
        "SERVICE",
        "TRAFFIC",
        "TAGS",
        "GENERATION",
        "AGE",
        "CONDITIONS",
        "READY",
        "REASON",
    ]);
    for rev in revisions {
        let meta = &rev.metadata;
        let service = meta.label(keys::SERVICE_LABEL).unwrap_or("");
        let owner = services
            .iter()
            .find(|s| s.metadata.name() == service && s.metadata.namespace() == meta.namespace());
        let (traffic, tags) = owner.map_or_else(Default::default, |s| traffic_of(s, meta.name()));
        let cells = vec![
            meta.name().to_owned(),
            service.to_owned(),
            traffic,
            tags,
            meta.label(keys::CONFIGURATION_GENERATION_LABEL)
                .unwrap_or("")
                .to_owned(),
            age(meta.creation_timestamp.as_deref(), now),
        ];
        let conditions = rev.status.as_ref().map_or(&[][..], |s| &s.conditions);
        table.push(scope.row(meta.namespace(), with_conditions(cells, conditions)));
    }
    table.render()
}

/// kn's `route list`: NAME URL READY.
pub fn routes_table(routes: &[Route], scope: Scope<'_>) -> String {
    let mut table = scope.table(&["NAME", "URL", "READY"]);
    for route in routes {
        let status = route.status.clone().unwrap_or_default();
        let cells = vec![
            route.metadata.name().to_owned(),
            status.url.unwrap_or_default(),
            ready_text(&status.conditions),
        ];
        table.push(scope.row(route.metadata.namespace(), cells));
    }
    table.render()
}

/// The traffic share (`100%`, `""` when none) and comma-separated tags `service` routes
/// to `revision`.
pub fn traffic_of(service: &Service, revision: &str) -> (String, String) {
    let targets: Vec<_> = service
        .status
        .iter()
        .flat_map(|s| &s.traffic)
        .filter(|t| t.revision_name() == revision)
        .collect();
    let percent: i64 = targets.iter().map(|t| t.percent()).sum();
    let tags: Vec<&str> = targets
        .iter()
        .map(|t| t.tag())
        .filter(|t| !t.is_empty())
        .collect();
    let traffic = if percent > 0 {
        format!("{percent}%")
    } else {
        String::new()
    };
    (traffic, tags.join(","))
}

fn with_conditions(mut cells: Vec<String>, conditions: &[Condition]) -> Vec<String> {
    cells.push(conditions_summary(conditions));
    cells.push(ready_text(conditions));
    cells.push(not_ready_reason(conditions));
    cells
}

#[cfg(test)]
mod tests;
