//! The Services and the EndpointSlice of one ServerlessService (spec §5.1).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use knserve_core::api::keys;

use super::{address_type, private_service_name, public_endpoint};
use crate::crd::ServerlessService;
use crate::desired::revision::{
    InvalidInput, QUEUE_H2C_PORT, QUEUE_HTTP_PORT, QUEUE_METRICS_PORT, QUEUE_TLS_PORT,
    controller_ref,
};

/// The label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming who manages an EndpointSlice.
pub const ENDPOINT_SLICE_MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of [`ENDPOINT_SLICE_MANAGED_BY_LABEL`] (a label value, so no
/// `/`; anything but kube-controller-manager's own makes it leave the slices alone).
pub const ENDPOINT_SLICE_MANAGER: &str = "knserve-controller";
/// `Private` or `Public`, on the SKS's Services.
pub const SERVICE_TYPE_LABEL: &str = "networking.internal.knative.dev/serviceType";
/// The SKS a Service belongs to.
pub const SKS_LABEL: &str = "networking.internal.knative.dev/serverlessservice";
/// The user-metrics port of the queue-proxy (Prometheus request metrics).
const QUEUE_USER_METRICS_PORT: i32 = 9091;

/// The serving port and its names for the SKS's protocol: (service port name, service
/// port, target port, appProtocol).
fn serving(sks: &ServerlessService) -> (&'static str, i32, i32, Option<String>) {
    if sks.spec.protocol_type == "h2c" {
        let h2c = Some("kubernetes.io/h2c".to_owned());
        ("http2", 81, QUEUE_H2C_PORT, h2c)
    } else {
        ("http", 80, QUEUE_HTTP_PORT, None)
    }
}

fn port(name: &str, port: i32, target: i32, app_protocol: Option<String>) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(IntOrString::Int(target)),
        protocol: Some("TCP".to_owned()),
        app_protocol,
        ..ServicePort::default()
    }
}

fn metadata(
    sks: &ServerlessService,
    name: String,
    service_type: &str,
) -> Result<ObjectMeta, InvalidInput> {
    let sks_name = sks.metadata.name.clone().unwrap_or_default();
    let mut labels = sks.metadata.labels.clone().unwrap_or_default();
    labels.insert(SERVICE_TYPE_LABEL.to_owned(), service_type.to_owned());
    labels.insert(SKS_LABEL.to_owned(), sks_name);
    let annotations: BTreeMap<String, String> = sks
        .metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| k.as_str() != keys::LAST_APPLIED_CONFIGURATION)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(ObjectMeta {
        name: Some(name),
        namespace: Some(crate::desired::revision::namespace_of(sks)?),
        labels: Some(labels),
        annotations: Some(annotations),
        owner_references: Some(vec![controller_ref(sks)?]),
        ..ObjectMeta::default()
    })
}

/// `<sks>-private`: selects the revision's pods (`serving.knative.dev/revision`, from the
/// SKS's label of that name, else the SKS name); ports `http` 80 → 8012 (`http2` 81 →
/// 8013 for h2c), `https` 443 → 8112, `http-autometric` 9090, `http-usermetric` 9091.
///
/// Choice: the h2c serving port is 81 here as on the public Service (Knative's private
/// Service keeps 80); nothing addresses the private Service by port number but the
/// autoscaler's 9090.
pub fn private_service(sks: &ServerlessService) -> Result<Service, InvalidInput> {
    let name = sks_name(sks)?;
    let revision = sks
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(keys::REVISION_LABEL))
        .cloned()
        .unwrap_or_else(|| name.clone());
    let (port_name, service_port, target, app_protocol) = serving(sks);
    Ok(Service {
        metadata: metadata(sks, private_service_name(&name), "Private")?,
        spec: Some(ServiceSpec {
            selector: Some([(keys::REVISION_LABEL.to_owned(), revision)].into()),
            ports: Some(vec![
                port(port_name, service_port, target, app_protocol),
                port("https", 443, QUEUE_TLS_PORT, None),
                port(
                    "http-autometric",
                    QUEUE_METRICS_PORT,
                    QUEUE_METRICS_PORT,
                    None,
                ),
                port(
                    "http-usermetric",
                    QUEUE_USER_METRICS_PORT,
                    QUEUE_USER_METRICS_PORT,
                    None,
                ),
            ]),
            type_: Some("ClusterIP".to_owned()),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// `<sks>`: no selector (its endpoints are written by [`public_endpoint_slice`]); ports
/// `http` 80 → 8012 (`http2` 81 → 8013 for h2c) and `https` 443 → 8112.
pub fn public_service(sks: &ServerlessService) -> Result<Service, InvalidInput> {
    let name = sks_name(sks)?;
    let (port_name, service_port, target, app_protocol) = serving(sks);
    Ok(Service {
        metadata: metadata(sks, name, "Public")?,
        spec: Some(ServiceSpec {
            ports: Some(vec![
                port(port_name, service_port, target, app_protocol),
                port("https", 443, QUEUE_TLS_PORT, None),
            ]),
            type_: Some("ClusterIP".to_owned()),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// The public Service's EndpointSlice `<sks>`: `backends` (the pods or the activators)
/// on the serving port only, named like the Service's (`http` 8012, `http2` 8013), in
/// one address family (`IPv4` unless every backend is IPv6; addresses of the other family are left out).
pub fn public_endpoint_slice(
    sks: &ServerlessService,
    backends: &[Endpoint],
) -> Result<EndpointSlice, InvalidInput> {
    let name = sks_name(sks)?;
    let mut meta = metadata(sks, name.clone(), "Public")?;
    let labels = meta.labels.get_or_insert_default();
    labels.insert(SERVICE_NAME_LABEL.to_owned(), name);
    labels.insert(
        ENDPOINT_SLICE_MANAGED_BY_LABEL.to_owned(),
        ENDPOINT_SLICE_MANAGER.to_owned(),
    );
    let family = address_type(backends);
    let v6 = family == "IPv6";
    let endpoints = backends
        .iter()
        .filter(|e| {
            e.addresses.first().is_some_and(|a| {
                a.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_ipv6() == v6)
            })
        })
        .map(public_endpoint)
        .collect();
    let (port_name, _, target, app_protocol) = serving(sks);
    Ok(EndpointSlice {
        metadata: meta,
        address_type: family.to_owned(),
        endpoints: Some(endpoints),
        ports: Some(vec![EndpointPort {
            name: Some(port_name.to_owned()),
            port: Some(target),
            protocol: Some("TCP".to_owned()),
            app_protocol,
        }]),
    })
}

fn sks_name(sks: &ServerlessService) -> Result<String, InvalidInput> {
    sks.metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| InvalidInput::new("metadata.name", "the SKS must have a name"))
}
