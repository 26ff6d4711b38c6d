//! ServerlessService → private Service, public Service, public EndpointSlice and the
//! SKS status (spec §5.1–§5.3).
//!
//! The caller lists the ready endpoints of the private Service's EndpointSlices and of
//! the activator Service's ([`ready_endpoints`]) and passes them to [`desired_sks`],
//! which decides the effective mode and returns everything to apply.

mod objects;
mod subset;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointSlice};
use knserve_core::api::{Condition, ConditionSeverity, ConditionStatus, child_name};
use knserve_core::autoscaler::SksMode;

use super::revision::InvalidInput;
use crate::crd::{ServerlessService, ServerlessServiceStatus};

pub use self::objects::{
    ENDPOINT_SLICE_MANAGED_BY_LABEL, ENDPOINT_SLICE_MANAGER, SERVICE_NAME_LABEL,
    SERVICE_TYPE_LABEL, SKS_LABEL, private_service, public_endpoint_slice, public_service,
};
pub use self::subset::choose_subset;

/// `EndpointsPopulated`: the revision has ready pods (Ready depends on it).
pub const ENDPOINTS_POPULATED: &str = "EndpointsPopulated";
/// `ActivatorEndpointsPopulated`: the activator backs the revision (informational).
pub const ACTIVATOR_ENDPOINTS_POPULATED: &str = "ActivatorEndpointsPopulated";

/// What a ServerlessService wants to exist, and its status.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSks {
    /// `<rev>-private`: selects the revision's pods.
    pub private_service: Service,
    /// `<rev>`: no selector; its endpoints are [`public_endpoints`](Self::public_endpoints).
    pub public_service: Service,
    /// `<rev>`: the pods (Serve) or the activator subset (Proxy), serving port only.
    pub public_endpoints: EndpointSlice,
    /// The mode in effect, after the overrides of §5.2.
    pub mode: SksMode,
    /// Conditions, `serviceName`, `privateServiceName`, `observedGeneration`.
    pub status: ServerlessServiceStatus,
}

/// The private Service's name: `<sks>-private`, shortened with a hash past 63 characters.
pub fn private_service_name(sks: &str) -> String {
    child_name(sks, "-private")
}

/// The ready endpoints of `slices`, deduplicated by address and sorted. An endpoint
/// whose `ready` condition is unset counts as ready, as Kubernetes documents.
pub fn ready_endpoints(slices: &[EndpointSlice]) -> Vec<Endpoint> {
    let mut seen = BTreeSet::new();
    let mut ready: Vec<Endpoint> = slices
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
        .filter(|e| e.addresses.first().is_some_and(|a| seen.insert(a.clone())))
        .cloned()
        .collect();
    ready.sort_by(|a, b| a.addresses.first().cmp(&b.addresses.first()));
    ready
}

/// The objects and status of `sks` given the ready endpoints of its private Service and
/// of the activator Service (spec §5.2):
///
/// - mode = `spec.mode`, forced to Proxy when no pod is ready, then to Serve when no
///   activator is ready;
/// - Serve: the public endpoints are the pods; Proxy: [`choose_subset`] of the activators
///   (`spec.numActivators`, seeded with the SKS name);
/// - `EndpointsPopulated` (and `Ready`) True iff a pod is ready, else Unknown
///   `NoHealthyBackends`; `ActivatorEndpointsPopulated` True iff no pod is ready or
///   `spec.mode` is Proxy, else False `ActivatorEndpointsRemoved`.
///
/// Transition times are kept from `sks.status` when a status did not change, else set to
/// `now` (RFC 3339).
///
/// # Errors
/// An SKS without name, namespace or uid, or with a mode other than `Serve`, `Proxy` or
/// empty (read as Proxy, the mode an SKS is created in).
pub fn desired_sks(
    sks: &ServerlessService,
    private_ready: &[Endpoint],
    activator_ready: &[Endpoint],
    now: &str,
) -> Result<DesiredSks, InvalidInput> {
    let spec_mode = match sks.spec.mode.as_str() {
        "Serve" => SksMode::Serve,
        "Proxy" | "" => SksMode::Proxy,
        _ => return Err(InvalidInput::new("spec.mode", "must be Serve or Proxy")),
    };
    let mut mode = spec_mode;
    if private_ready.is_empty() {
        mode = SksMode::Proxy;
    }
    if activator_ready.is_empty() {
        mode = SksMode::Serve;
    }
    let name = sks.metadata.name.clone().unwrap_or_default();
    let backends = match mode {
        SksMode::Serve => private_ready.to_vec(),
        SksMode::Proxy => activator_subset(activator_ready, sks.spec.num_activators, &name),
    };
    let status = status(sks, !private_ready.is_empty(), spec_mode, now);
    Ok(DesiredSks {
        private_service: private_service(sks)?,
        public_service: public_service(sks)?,
        public_endpoints: public_endpoint_slice(sks, &backends)?,
        mode,
        status,
    })
}

fn activator_subset(activators: &[Endpoint], n: i32, seed: &str) -> Vec<Endpoint> {
    let ips: Vec<String> = activators
        .iter()
        .filter_map(|e| e.addresses.first().cloned())
        .collect();
    let chosen = choose_subset(&ips, usize::try_from(n).unwrap_or(0), seed);
    activators
        .iter()
        .filter(|e| e.addresses.first().is_some_and(|a| chosen.contains(a)))
        .cloned()
        .collect()
}

/// The backend as the public slice lists it: ready and serving, with where it runs.
pub(crate) fn public_endpoint(endpoint: &Endpoint) -> Endpoint {
    Endpoint {
        addresses: endpoint.addresses.clone(),
        conditions: Some(EndpointConditions {
            ready: Some(true),
            serving: Some(true),
            terminating: Some(false),
        }),
        node_name: endpoint.node_name.clone(),
        target_ref: endpoint.target_ref.clone(),
        zone: endpoint.zone.clone(),
        ..Endpoint::default()
    }
}

/// The address family of the backends: `IPv4` unless every address is IPv6.
pub(crate) fn address_type(endpoints: &[Endpoint]) -> &'static str {
    let all_v6 = !endpoints.is_empty()
        && endpoints.iter().all(|e| {
            e.addresses
                .first()
                .and_then(|a| a.parse::<IpAddr>().ok())
                .is_some_and(|ip| ip.is_ipv6())
        });
    if all_v6 { "IPv6" } else { "IPv4" }
}

fn status(
    sks: &ServerlessService,
    pods_ready: bool,
    spec_mode: SksMode,
    now: &str,
) -> ServerlessServiceStatus {
    let previous = sks.status.clone().unwrap_or_default();
    let name = sks.metadata.name.clone().unwrap_or_default();
    let endpoints = if pods_ready {
        Condition::new(ENDPOINTS_POPULATED, ConditionStatus::True)
    } else {
        Condition {
            reason: Some("NoHealthyBackends".to_owned()),
            message: Some("the revision has no ready pods".to_owned()),
            ..Condition::new(ENDPOINTS_POPULATED, ConditionStatus::Unknown)
        }
    };
    let activator = if !pods_ready || spec_mode == SksMode::Proxy {
        Condition::new(ACTIVATOR_ENDPOINTS_POPULATED, ConditionStatus::True)
    } else {
        Condition {
            reason: Some("ActivatorEndpointsRemoved".to_owned()),
            ..Condition::new(ACTIVATOR_ENDPOINTS_POPULATED, ConditionStatus::False)
        }
    };
    let activator = Condition {
        severity: ConditionSeverity::Info,
        ..activator
    };
    let ready = Condition {
        type_: knserve_core::api::condition_types::READY.to_owned(),
        ..endpoints.clone()
    };
    let conditions = [ready, endpoints, activator]
        .into_iter()
        .map(|c| keep_transition_time(&previous.conditions, c, now))
        .collect();
    ServerlessServiceStatus {
        observed_generation: sks.metadata.generation,
        conditions,
        service_name: Some(name.clone()),
        private_service_name: Some(private_service_name(&name)),
    }
}

fn keep_transition_time(previous: &[Condition], mut new: Condition, now: &str) -> Condition {
    new.last_transition_time = match previous.iter().find(|c| c.type_ == new.type_) {
        Some(old) if old.status == new.status && old.last_transition_time.is_some() => {
            old.last_transition_time.clone()
        }
        _ => Some(now.to_owned()),
    };
    new
}
