//! Waiting for a Service after `apply`: whether it is ready, the progress line, and the
//! kn-style result lines.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use knserve_core::api::{ConditionStatus, Service, condition_types};

use super::conditions::{blocking_condition, status_text};

/// Where a Service stands while `apply` waits for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceReadiness {
    /// `Ready` is `True` for the current generation.
    Ready,
    /// `Ready` is `False` for the current generation.
    Failed {
        /// `Ready`'s reason (`RevisionFailed`).
        reason: String,
        /// `Ready`'s message.
        message: String,
    },
    /// Not decided yet.
    Pending(Pending),
}

/// The condition a pending Service waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The condition's type (`ConfigurationsReady`, or `Ready`).
    pub condition: String,
    /// Its status.
    pub status: ConditionStatus,
    /// Its message, else its reason, else a generic text; what the progress line shows.
    pub detail: String,
}

/// Reads a Service's status: ready or failed only once `status.observedGeneration`
/// equals `metadata.generation` (an older generation's `Ready` is not trusted, §1.4).
pub fn service_readiness(service: &Service) -> ServiceReadiness {
    let Some(status) = service.status.as_ref() else {
        return pending_reconcile();
    };
    let generation = service.metadata.generation.unwrap_or(0);
    if status.observed_generation.unwrap_or(0) != generation {
        return pending_reconcile();
    }
    let ready = knserve_core::api::find_condition(&status.conditions, condition_types::READY);
    match ready.map(|c| c.status) {
        Some(ConditionStatus::True) => return ServiceReadiness::Ready,
        Some(ConditionStatus::False) => {
            let ready = ready.expect("matched Some above");
            return ServiceReadiness::Failed {
                reason: ready.reason.clone().unwrap_or_default(),
                message: ready.message.clone().unwrap_or_default(),
            };
        }
        _ => {}
    }
    let Some(blocking) = blocking_condition(&status.conditions) else {
        return pending_reconcile();
    };
    let non_empty = |text: &Option<String>| text.clone().filter(|t| !t.is_empty());
    let detail = non_empty(&blocking.message)
        .or_else(|| non_empty(&blocking.reason))
        .unwrap_or_else(|| format!("{} is {}", blocking.type_, status_text(blocking.status)));
    ServiceReadiness::Pending(Pending {
        condition: blocking.type_.clone(),
        status: blocking.status,
        detail,
    })
}

fn pending_reconcile() -> ServiceReadiness {
    ServiceReadiness::Pending(Pending {
        condition: condition_types::READY.to_owned(),
        status: ConditionStatus::Unknown,
        detail: "Waiting for the controller to observe the latest generation.".to_owned(),
    })
}

/// `Service 'hello' in namespace 'default': 3.2s <detail>`.
pub fn progress_line(name: &str, namespace: &str, elapsed: Duration, detail: &str) -> String {
    let seconds = elapsed.as_secs_f64();
    format!("Service '{name}' in namespace '{namespace}': {seconds:.1}s {detail}")
}

/// Draws the progress line: rewritten in place on a terminal; elsewhere a new line only
/// when the detail changes (so logs are not flooded with the ticking seconds).
#[derive(Debug, Clone, Default)]
pub struct ProgressLine {
    terminal: bool,
    last_detail: Option<String>,
    drawn: bool,
}

/// Carriage return, then ANSI "erase the whole line".
const CLEAR_LINE: &str = "\r\x1b[2K";

impl ProgressLine {
    /// A progress line for a terminal (`true`) or a pipe or file.
    pub fn new(terminal: bool) -> Self {
        Self {
            terminal,
            ..Self::default()
        }
    }

    /// The text to write for `line` whose changing part is `detail`, if any.
    pub fn update(&mut self, detail: &str, line: &str) -> Option<String> {
        let changed = self.last_detail.as_deref() != Some(detail);
        self.last_detail = Some(detail.to_owned());
        if self.terminal {
            self.drawn = true;
            Some(format!("{CLEAR_LINE}{line}"))
        } else {
            changed.then(|| format!("{line}\n"))
        }
    }

    /// The text that removes the line before the result is printed (terminal only).
    pub fn finish(&mut self) -> Option<String> {
        let drawn = std::mem::take(&mut self.drawn);
        (self.terminal && drawn).then(|| CLEAR_LINE.to_owned())
    }
}

/// kn's verb for an apply action: `created`, `updated` or `unchanged`.
pub fn action_verb(action: &str) -> &str {
    match action {
        "configured" => "updated",
        other => other,
    }
}

/// The lines printed once a Service is ready, kn-style, ending with a `curl` that goes
/// through the local ingress. The curl asks for the path of the serving container's
/// `httpGet` readiness probe when it has one (e.g. `/health`, a path the app is known
/// to answer), else for the URL itself.
pub fn ready_message(service: &Service, action: &str, ingress: SocketAddr) -> String {
    let status = service.status.clone().unwrap_or_default();
    let revision = status.latest_ready_revision_name.unwrap_or_default();
    let name = service.metadata.name();
    let mut out = match action {
        "unchanged" => format!(
            "Service '{name}' unchanged, latest revision '{revision}' is available at URL:\n"
        ),
        _ => format!(
            "Service '{name}' {} to latest revision '{revision}' is available at URL:\n",
            action_verb(action)
        ),
    };
    if let Some(url) = status.url {
        out.push_str(&url);
        out.push('\n');
        let probed = probe_path(service).map(|path| format!("{}{path}", url.trim_end_matches('/')));
        if let Some(curl) = curl_line(probed.as_deref().unwrap_or(&url), ingress) {
            out.push_str(&curl);
            out.push('\n');
        }
    }
    out
}

/// The path of the serving container's `httpGet` readiness probe, if it is not `/`.
fn probe_path(service: &Service) -> Option<&str> {
    let spec = &service.spec.template.spec;
    let container = spec.serving_container().or(spec.containers.first())?;
    let path = container
        .readiness_probe
        .as_ref()?
        .http_get
        .as_ref()?
        .path
        .as_deref()?;
    (path.starts_with('/') && path != "/").then_some(path)
}

/// `curl -H "Host: <authority of url>" http://<ingress><path of url>`: how to reach a
/// Service's URL through the local ingress, which routes by `Host`.
///
/// An unspecified ingress address (`0.0.0.0`, `::`) is replaced by loopback. `None` when
/// `url` is not an `http://` or `https://` URL with a host.
pub fn curl_line(url: &str, ingress: SocketAddr) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if host.is_empty() {
        return None;
    }
    let path = if path.is_empty() || path.starts_with('#') {
        "/".to_owned()
    } else if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.split('#').next().unwrap_or(path).to_owned()
    };
    let target = reachable(ingress);
    Some(format!("curl -H \"Host: {host}\" http://{target}{path}"))
}

fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

#[cfg(test)]
mod tests;
