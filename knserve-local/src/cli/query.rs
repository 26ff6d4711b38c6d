//! `knserve get`, `describe`, `delete` and `logs`.

use std::process::ExitCode;

use anyhow::bail;
use http::{Method, StatusCode};
use knserve_core::api::{ObjectMeta, Revision, Route, Service, keys};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::client::{AdminClient, ClientError, object_path};
use super::describe::{describe_service, revision_entries};
use super::list::{
    OutputFormat, ResourceKind, Scope, render_objects, revisions_table, routes_table,
    services_table,
};
use super::time::unix_now;
use crate::state::StateDir;

/// `get RESOURCE [-o yaml|json] [-n NS | -A]`.
pub(super) async fn get(
    state: &StateDir,
    resource: &str,
    output: Option<&str>,
    scope: Scope<'_>,
) -> anyhow::Result<ExitCode> {
    let kind = ResourceKind::parse(resource)?;
    let format = OutputFormat::parse(output)?;
    let client = AdminClient::from_state(state)?;
    let now = unix_now();
    let text = match kind {
        ResourceKind::Service => {
            let services: Vec<Service> = list(&client, kind, scope).await?;
            render(kind, format, &services, |s| services_table(s, scope, now))?
        }
        ResourceKind::Revision => {
            let mut revisions: Vec<Revision> = list(&client, kind, scope).await?;
            revisions.sort_by_key(|r| {
                let meta = &r.metadata;
                let service = meta.label(keys::SERVICE_LABEL).unwrap_or("").to_owned();
                let generation = meta
                    .label(keys::CONFIGURATION_GENERATION_LABEL)
                    .and_then(|g| g.parse::<i64>().ok())
                    .unwrap_or(0);
                (
                    meta.namespace().to_owned(),
                    service,
                    std::cmp::Reverse(generation),
                )
            });
            let services: Vec<Service> = match format {
                OutputFormat::Table => client.get_json("/v1/services").await?,
                _ => Vec::new(),
            };
            render(kind, format, &revisions, |r| {
                revisions_table(r, &services, scope, now)
            })?
        }
        ResourceKind::Route => {
            let routes: Vec<Route> = list(&client, kind, scope).await?;
            render(kind, format, &routes, |r| routes_table(r, scope))?
        }
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Every object of `kind` in `scope`, sorted by namespace and name.
async fn list<T: Listed>(
    client: &AdminClient,
    kind: ResourceKind,
    scope: Scope<'_>,
) -> anyhow::Result<Vec<T>> {
    let mut items: Vec<T> = client.get_json(kind.list_path()).await?;
    items.retain(|item| scope.contains(item.meta().namespace()));
    items.sort_by(|a, b| {
        let key = |m: &ObjectMeta| (m.namespace().to_owned(), m.name().to_owned());
        key(a.meta()).cmp(&key(b.meta()))
    });
    Ok(items)
}

/// An object `get` lists.
trait Listed: DeserializeOwned {
    fn meta(&self) -> &ObjectMeta;
}

impl Listed for Service {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Listed for Revision {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl Listed for Route {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

/// The table, `No <kind>s found.` when empty, or the YAML/JSON list.
fn render<T: Serialize>(
    kind: ResourceKind,
    format: OutputFormat,
    items: &[T],
    table: impl FnOnce(&[T]) -> String,
) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Table if items.is_empty() => format!("No {} found.\n", plural(kind)),
        OutputFormat::Table => table(items),
        _ => render_objects(kind, format, items)?,
    })
}

fn plural(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Service => "services",
        ResourceKind::Revision => "revisions",
        ResourceKind::Route => "routes",
    }
}

/// Only Services can be described or deleted.
fn require_service(command: &str, resource: &str) -> anyhow::Result<()> {
    match ResourceKind::parse(resource)? {
        ResourceKind::Service => Ok(()),
        _ => bail!("`{command}` supports only ksvc (service), got {resource:?}"),
    }
}

/// `describe ksvc NAME -n NS`.
pub(super) async fn describe(
    state: &StateDir,
    resource: &str,
    name: &str,
    namespace: &str,
) -> anyhow::Result<ExitCode> {
    require_service("describe", resource)?;
    let client = AdminClient::from_state(state)?;
    let path = object_path("services", namespace, name);
    let service: Service = client
        .get_json(&path)
        .await
        .map_err(|e| not_found(e, "service", name, namespace))?;
    let entries = revision_entries(&service);
    let mut revisions = Vec::new();
    for entry in &entries {
        let path = object_path("revisions", namespace, &entry.name);
        match client.get_json::<Revision>(&path).await {
            Ok(revision) => revisions.push(revision),
            Err(e) if e.status() == Some(StatusCode::NOT_FOUND) => {}
            Err(e) => return Err(e.into()),
        }
    }
    print!(
        "{}",
        describe_service(&service, &entries, &revisions, unix_now())
    );
    Ok(ExitCode::SUCCESS)
}

/// `delete ksvc NAME -n NS`.
pub(super) async fn delete(
    state: &StateDir,
    resource: &str,
    name: &str,
    namespace: &str,
) -> anyhow::Result<ExitCode> {
    require_service("delete", resource)?;
    let client = AdminClient::from_state(state)?;
    let path = object_path("services", namespace, name);
    client
        .send(Method::DELETE, &path, None)
        .await
        .map_err(|e| not_found(e, "service", name, namespace))?;
    println!("Service '{name}' successfully deleted in namespace '{namespace}'.");
    Ok(ExitCode::SUCCESS)
}

/// `logs REVISION -n NS --tail N`: the server's text, as is.
pub(super) async fn logs(
    state: &StateDir,
    revision: &str,
    namespace: &str,
    tail: usize,
) -> anyhow::Result<ExitCode> {
    let client = AdminClient::from_state(state)?;
    let path = format!(
        "{}/logs?tail={tail}",
        object_path("revisions", namespace, revision)
    );
    let text = client
        .send(Method::GET, &path, None)
        .await
        .map_err(|e| not_found(e, "revision", revision, namespace))?;
    print!("{}", String::from_utf8_lossy(&text));
    Ok(ExitCode::SUCCESS)
}

/// A 404 becomes `<kind> 'NAME' not found in namespace 'NS'`; anything else is kept.
fn not_found(error: ClientError, kind: &str, name: &str, namespace: &str) -> anyhow::Error {
    if error.status() == Some(StatusCode::NOT_FOUND) {
        anyhow::anyhow!("{kind} '{name}' not found in namespace '{namespace}'")
    } else {
        error.into()
    }
}
