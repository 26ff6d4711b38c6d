//! Backend Services' addresses from their EndpointSlices (and the Services' port
//! names), as the ingress and the activator keep them.

use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::{core::v1::Service, discovery::v1::EndpointSlice};

use super::mirror::Mirror;
use super::table::{BackendRef, PortRef};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// A slice's place: namespace, Service, slice name — so one Service's slices are a
/// contiguous range.
pub(crate) type SliceKey = (String, String, String);

/// What the servers keep of an EndpointSlice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SliceInfo {
    /// Port name (`""` when unnamed) and number.
    pub(crate) ports: Vec<(String, u16)>,
    /// Addresses whose `ready` condition is not false.
    pub(crate) ready: Vec<IpAddr>,
    /// Addresses not ready and not terminating (starting pods, worth probing).
    pub(crate) not_ready: Vec<IpAddr>,
}

/// `(namespace, service, name)` of a slice.
pub(crate) fn slice_key(slice: &EndpointSlice) -> SliceKey {
    let meta = &slice.metadata;
    (
        meta.namespace.clone().unwrap_or_default(),
        service_of(slice).unwrap_or_default().to_owned(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// The Service a slice belongs to, by its [`SERVICE_NAME_LABEL`].
pub(crate) fn service_of(slice: &EndpointSlice) -> Option<&str> {
    let labels = slice.metadata.labels.as_ref()?;
    labels.get(SERVICE_NAME_LABEL).map(String::as_str)
}

/// The compact form of `slice`; `None` for a slice of no Service.
pub(crate) fn slice_info(slice: &EndpointSlice) -> Option<SliceInfo> {
    service_of(slice)?;
    let ports = slice.ports.iter().flatten().filter_map(|p| {
        let port = u16::try_from(p.port?).ok()?;
        Some((p.name.clone().unwrap_or_default(), port))
    });
    let mut info = SliceInfo {
        ports: ports.collect(),
        ..SliceInfo::default()
    };
    for endpoint in slice.endpoints.iter().flatten() {
        let conditions = endpoint.conditions.as_ref();
        // A missing `ready` means ready (the API's documented default).
        let ready = conditions.and_then(|c| c.ready) != Some(false);
        let terminating = conditions.and_then(|c| c.terminating) == Some(true);
        let addresses = endpoint
            .addresses
            .iter()
            .filter_map(|a| a.parse::<IpAddr>().ok());
        match (ready, terminating) {
            (true, _) => info.ready.extend(addresses),
            (false, false) => info.not_ready.extend(addresses),
            (false, true) => {}
        }
    }
    Some(info)
}

/// One port of a Service, as the servers keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServicePort {
    /// Its name (`""` when unnamed).
    pub(crate) name: String,
    /// Its number.
    pub(crate) port: i32,
    /// Whether it speaks cleartext HTTP/2 only: named `h2c`, or with `appProtocol`
    /// `kubernetes.io/h2c` (Knative networking's rule).
    pub(crate) h2c: bool,
}

/// Knative's port name for h2c.
const H2C_PORT_NAME: &str = "h2c";
/// Kubernetes' `appProtocol` for h2c.
const H2C_APP_PROTOCOL: &str = "kubernetes.io/h2c";

/// What the servers keep of a Service: its ports.
pub(crate) fn service_ports(service: &Service) -> Option<Vec<ServicePort>> {
    let ports = service.spec.as_ref()?.ports.iter().flatten();
    Some(
        ports
            .map(|p| {
                let name = p.name.clone().unwrap_or_default();
                ServicePort {
                    h2c: name == H2C_PORT_NAME
                        || p.app_protocol.as_deref() == Some(H2C_APP_PROTOCOL),
                    name,
                    port: p.port,
                }
            })
            .collect(),
    )
}

/// Whether `target` speaks h2c only: its Service port says so, or, while the Service
/// is unknown, the port is named `h2c`.
pub(crate) fn is_h2c(
    services: &Mirror<(String, String), Vec<ServicePort>>,
    target: &BackendRef,
) -> bool {
    let service = &target.service;
    let ports = services.get(&(service.namespace.clone(), service.name.clone()));
    match (&target.port, ports) {
        (PortRef::Name(name), Some(ports)) => ports.iter().any(|p| &p.name == name && p.h2c),
        (PortRef::Number(number), Some(ports)) => ports.iter().any(|p| p.port == *number && p.h2c),
        (PortRef::Name(name), None) => name == H2C_PORT_NAME,
        (PortRef::Number(_), None) => false,
    }
}

/// The slices of one Service.
pub(crate) fn slices_of<'a>(
    slices: &'a Mirror<SliceKey, SliceInfo>,
    namespace: &str,
    service: &str,
) -> impl Iterator<Item = &'a SliceInfo> {
    let from = (namespace.to_owned(), service.to_owned(), String::new());
    slices
        .range(from..)
        .take_while(move |((ns, svc, _), _)| ns == namespace && svc == service)
        .map(|(_, info)| info)
}

/// The ready addresses of `target`: every ready address of its Service's slices, with
/// the slice's port of the same name as the Service port.
///
/// A port given by number is named through the Service; while the Service is unknown
/// (not listed yet), a slice with a single port uses it.
pub(crate) fn resolve(
    slices: &Mirror<SliceKey, SliceInfo>,
    services: &Mirror<(String, String), Vec<ServicePort>>,
    target: &BackendRef,
) -> Vec<SocketAddr> {
    let service = &target.service;
    let port_name = match &target.port {
        PortRef::Name(name) => Some(name.clone()),
        PortRef::Number(number) => services
            .get(&(service.namespace.clone(), service.name.clone()))
            .and_then(|ports| ports.iter().find(|p| p.port == *number))
            .map(|p| p.name.clone()),
    };
    let mut addresses = Vec::new();
    for slice in slices_of(slices, &service.namespace, &service.name) {
        let port = match &port_name {
            Some(name) => slice.ports.iter().find(|(n, _)| n == name),
            None if slice.ports.len() == 1 => slice.ports.first(),
            None => None,
        };
        if let Some((_, port)) = port {
            addresses.extend(slice.ready.iter().map(|ip| SocketAddr::new(*ip, *port)));
        }
    }
    addresses.sort();
    addresses.dedup();
    addresses
}
