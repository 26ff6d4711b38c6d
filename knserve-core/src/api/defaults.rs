//! Defaulting, as Knative's webhook applies it (§1.2, §1.6).
//!
//! Deliberate difference: Knative leaves the serving port and the readiness probe's
//! port implicit in the stored spec and fills them in when it builds the deployment;
//! knserve writes them into the defaulted spec (`containerPort: 8080`, probe port = user
//! port) so that every backend reads one value instead of re-deriving it.

use std::collections::BTreeSet;

use super::container::{Container, ContainerPort, Quantity};
use super::meta::ObjectMeta;
use super::probe::{IntOrString, Probe, TcpSocketAction};
use super::revision::{DEFAULT_USER_PORT, RevisionSpec};
use super::route::{RouteSpec, TrafficTarget};
use super::template::{TemplateValues, render_template};
use super::{Configuration, Revision, Route, Service};
use crate::config::DefaultsConfig;

impl RevisionSpec {
    /// Applies Knative's revision defaults from `config`; `parent` is the metadata of
    /// the object being defaulted (Service, Configuration or Revision), which the
    /// container name templates are rendered against.
    pub fn set_defaults(&mut self, parent: &ObjectMeta, config: &DefaultsConfig) {
        if self.timeout_seconds.unwrap_or(0) == 0 {
            self.timeout_seconds = Some(config.revision_timeout_seconds);
        }
        // Only an unset response-start or idle timeout takes the default, and only a
        // non-zero default below the request timeout; an explicit 0 stays (timer off).
        let timeout = self
            .timeout_seconds
            .unwrap_or(config.revision_timeout_seconds);
        let below_timeout = |v: i64| (v != 0 && v < timeout).then_some(v);
        if self.response_start_timeout_seconds.is_none() {
            self.response_start_timeout_seconds =
                below_timeout(config.revision_response_start_timeout_seconds);
        }
        if self.idle_timeout_seconds.is_none() {
            self.idle_timeout_seconds = below_timeout(config.revision_idle_timeout_seconds);
        }
        if self.container_concurrency.is_none() {
            self.container_concurrency = Some(config.container_concurrency);
        }
        if self.enable_service_links.is_none() {
            self.enable_service_links = config.enable_service_links;
        }
        self.default_container_names(parent, config);
        self.default_serving_port();
        let user_port = self.user_port();
        let serving = self.serving_container_index();
        let lone = self.containers.len() == 1;
        let writable: BTreeSet<String> = self
            .volumes
            .iter()
            .filter(|v| v.is_writable())
            .map(|v| v.name.clone())
            .collect();
        for (i, container) in self.containers.iter_mut().enumerate() {
            default_resources(container, config);
            // Knative gives a TCP readiness probe to a lone container or one with ports,
            // and the readiness thresholds to every container with a readiness probe.
            if lone || !container.ports.is_empty() {
                default_readiness_handler(container);
            }
            if let Some(probe) = &mut container.readiness_probe {
                default_readiness_thresholds(probe);
            }
            if Some(i) == serving {
                default_readiness_port(container, user_port);
            }
            default_grpc_service(container);
            for mount in &mut container.volume_mounts {
                if !writable.contains(&mount.name) {
                    mount.read_only = Some(true);
                }
            }
        }
    }

    fn default_container_names(&mut self, parent: &ObjectMeta, config: &DefaultsConfig) {
        let mut taken: BTreeSet<String> = self
            .containers
            .iter()
            .chain(&self.init_containers)
            .map(|c| c.name.clone())
            .collect();
        let user = container_name(&config.container_name_template, "user-container", parent);
        let init = container_name(
            &config.init_container_name_template,
            "init-container",
            parent,
        );
        name_unnamed(&mut self.containers, &mut taken, &user);
        name_unnamed(&mut self.init_containers, &mut taken, &init);
    }

    fn default_serving_port(&mut self) {
        let Some(i) = self.serving_container_index() else {
            return;
        };
        let ports = &mut self.containers[i].ports;
        match ports.first_mut() {
            None => ports.push(ContainerPort {
                container_port: DEFAULT_USER_PORT,
                ..ContainerPort::default()
            }),
            Some(port) if port.container_port == 0 => port.container_port = DEFAULT_USER_PORT,
            Some(_) => {}
        }
    }
}

fn container_name(template: &str, fallback: &str, parent: &ObjectMeta) -> String {
    let values = TemplateValues {
        name: Some(parent.name()),
        namespace: Some(parent.namespace()),
        annotations: Some(&parent.annotations),
        labels: Some(&parent.labels),
        ..TemplateValues::default()
    };
    // The template was checked when config-defaults was loaded; a struct built by hand
    // may still hold a bad one, and defaulting cannot fail.
    render_template(template, &values).unwrap_or_else(|_| fallback.to_owned())
}

/// Knative's rule: a lone unnamed container takes the default name as is; with several
/// containers (or a clash) unnamed ones get `-0`, `-1`, … skipping names in use.
fn name_unnamed(containers: &mut [Container], taken: &mut BTreeSet<String>, default: &str) {
    let several = containers.len() > 1;
    let mut next = 0;
    for container in containers.iter_mut().filter(|c| c.name.is_empty()) {
        let mut name = default.to_owned();
        if several || taken.contains(&name) {
            loop {
                name = super::naming::child_name(default, &format!("-{next}"));
                next += 1;
                if !taken.contains(&name) {
                    break;
                }
            }
        }
        taken.insert(name.clone());
        container.name = name;
    }
}

fn default_resources(container: &mut Container, config: &DefaultsConfig) {
    let defaults = [
        (
            "cpu",
            &config.revision_cpu_request,
            &config.revision_cpu_limit,
        ),
        (
            "memory",
            &config.revision_memory_request,
            &config.revision_memory_limit,
        ),
        (
            "ephemeral-storage",
            &config.revision_ephemeral_storage_request,
            &config.revision_ephemeral_storage_limit,
        ),
    ];
    let resources = &mut container.resources;
    for (name, request, limit) in defaults {
        if let Some(q) = request {
            resources
                .requests
                .entry(name.to_owned())
                .or_insert_with(|| Quantity(q.clone()));
        }
        if let Some(q) = limit {
            resources
                .limits
                .entry(name.to_owned())
                .or_insert_with(|| Quantity(q.clone()));
        }
    }
}

/// Knative's `applyUserContainerDefaultReadinessProbe`: a TCP check unless the user
/// gave a handler.
fn default_readiness_handler(container: &mut Container) {
    let probe = container.readiness_probe.get_or_insert_with(Probe::default);
    if probe.handlers().is_empty() {
        probe.tcp_socket = Some(TcpSocketAction::default());
    }
}

/// Knative's `applyReadinessProbeDefaults`: `successThreshold` 1; with `periodSeconds`
/// set, Kubernetes' own `failureThreshold` 3 and `timeoutSeconds` 1.
fn default_readiness_thresholds(probe: &mut Probe) {
    if probe.success_threshold.unwrap_or(0) == 0 {
        probe.success_threshold = Some(1);
    }
    if probe.period() != 0 {
        if probe.failure_threshold.unwrap_or(0) == 0 {
            probe.failure_threshold = Some(3);
        }
        if probe.timeout_seconds.unwrap_or(0) == 0 {
            probe.timeout_seconds = Some(1);
        }
    }
}

/// The serving container's readiness probe targets the user port: Knative's
/// queue-proxy probes that port whatever number is written, so knserve writes it in. A
/// named port is left for validation to check.
fn default_readiness_port(container: &mut Container, user_port: i32) {
    let Some(probe) = &mut container.readiness_probe else {
        return;
    };
    let port = match (&mut probe.tcp_socket, &mut probe.http_get) {
        (Some(tcp), _) => Some(&mut tcp.port),
        (None, Some(http)) => Some(&mut http.port),
        (None, None) => None,
    };
    if let Some(port) = port {
        let unset_or_number = match port {
            None | Some(IntOrString::Int(_)) => true,
            Some(IntOrString::String(name)) => name.is_empty(),
        };
        if unset_or_number {
            *port = Some(IntOrString::Int(user_port));
        }
    }
}

/// Knative's `applyGRPCProbeDefaults`: a gRPC probe's `service` defaults to `""`.
fn default_grpc_service(container: &mut Container) {
    let probes = [
        &mut container.readiness_probe,
        &mut container.liveness_probe,
        &mut container.startup_probe,
    ];
    for probe in probes.into_iter().flatten() {
        if let Some(grpc) = &mut probe.grpc {
            grpc.service.get_or_insert_with(String::new);
        }
    }
}

impl TrafficTarget {
    /// `latestRevision` defaults to `revisionName == ""`, `percent` to 0.
    pub fn set_defaults(&mut self) {
        if self.latest_revision.is_none() {
            self.latest_revision = Some(self.revision_name().is_empty());
        }
        if self.percent.is_none() {
            self.percent = Some(0);
        }
    }
}

impl RouteSpec {
    /// Defaults every target.
    pub fn set_defaults(&mut self) {
        self.traffic
            .iter_mut()
            .for_each(TrafficTarget::set_defaults);
    }
}

impl Service {
    /// Defaults the template and the traffic; empty traffic becomes 100% on the
    /// latest revision. `configurationName` stays implied (see
    /// [`super::ServiceSpec::route_spec`]).
    pub fn set_defaults(&mut self, config: &DefaultsConfig) {
        self.spec.template.spec.set_defaults(&self.metadata, config);
        if self.spec.traffic.is_empty() {
            self.spec.traffic.push(TrafficTarget {
                latest_revision: Some(true),
                percent: Some(100),
                ..TrafficTarget::default()
            });
        }
        self.spec
            .traffic
            .iter_mut()
            .for_each(TrafficTarget::set_defaults);
    }
}

impl Configuration {
    /// Defaults the template.
    pub fn set_defaults(&mut self, config: &DefaultsConfig) {
        self.spec.template.spec.set_defaults(&self.metadata, config);
    }
}

impl Revision {
    /// Defaults the spec.
    pub fn set_defaults(&mut self, config: &DefaultsConfig) {
        self.spec.set_defaults(&self.metadata, config);
    }
}

impl Route {
    /// Defaults every target. A standalone Route's empty traffic stays empty (and fails
    /// validation), as in Knative.
    pub fn set_defaults(&mut self) {
        self.spec.set_defaults();
    }
}
