//! A Route's Kubernetes Services, as Knative's Route reconciler makes them
//! (`MakeK8sPlaceholderService`, `MakeK8sService`): one named like the route and one per
//! traffic tag (`<tag>-<route>` by `tag-template`), each of type `ExternalName` pointing
//! at the ingress's internal load balancer (`knserve-ingress-internal.knative-serving.svc…` from
//! the Ingress's `status.privateLoadBalancer`), so that `<route>.<namespace>.svc` and
//! `<tag>-<route>.<namespace>.svc` resolve inside the cluster; until the Ingress reports
//! its load balancer, the placeholder points at the route's own host.
//!
//! Metadata as Knative's: the route's labels (without the visibility label, which a tag's
//! Service may carry on its own) and `serving.knative.dev/route`, the route's
//! annotations, and the route as controller owner. The port is Knative's: `http2` 80,
//! `appProtocol: kubernetes.io/h2c`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use knserve_core::api::RoutingConfig;
use knserve_core::api::keys::{ROUTE_LABEL, VISIBILITY_LABEL};
use kube::{Resource, ResourceExt};

use crate::crd;

/// The name of Knative's h2c Service port, and its application protocol.
const PORT_NAME: &str = "http2";
const APP_PROTOCOL: &str = "kubernetes.io/h2c";

/// The Services the route should have: its own and one per tag of its resolved traffic
/// (`status.traffic`), in name order.
///
/// # Errors
/// A route without a name or uid, or a tag the `tag-template` cannot render.
pub fn route_services(
    route: &crd::Route,
    status: &crd::serving::RouteStatus,
    routing: &RoutingConfig,
    ingress: Option<&crd::Ingress>,
) -> Result<Vec<Service>, String> {
    let name = route.name_any();
    let owner = route
        .controller_owner_ref(&())
        .ok_or("the route has no name or uid")?;
    let core_meta: knserve_core::api::ObjectMeta =
        serde_json::from_value(serde_json::to_value(&route.metadata).map_err(|e| e.to_string())?)
            .map_err(|e| format!("the route's metadata: {e}"))?;
    let balancer = ingress.and_then(internal_balancer);
    let mut labels: BTreeMap<String, String> = route
        .labels()
        .iter()
        .filter(|(k, _)| k.as_str() != VISIBILITY_LABEL)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(ROUTE_LABEL.to_owned(), name.clone());
    let mut tags: Vec<Option<&str>> = vec![None];
    tags.extend(
        status
            .traffic
            .iter()
            .filter_map(|t| t.tag.as_deref())
            .filter(|t| !t.is_empty())
            .map(Some),
    );
    let mut services = BTreeMap::new();
    for tag in tags {
        let service_name = routing
            .traffic_name(&name, tag)
            .map_err(|e| format!("tag-template: {e}"))?;
        let external_name = match &balancer {
            Some(domain) => domain.clone(),
            None => routing
                .host(&core_meta, tag)
                .map_err(|e| format!("domain-template: {e}"))?,
        };
        let service = Service {
            metadata: ObjectMeta {
                name: Some(service_name.clone()),
                namespace: route.namespace(),
                labels: Some(labels.clone()),
                annotations: Some(route.annotations().clone()).filter(|a| !a.is_empty()),
                owner_references: Some(vec![owner.clone()]),
                ..ObjectMeta::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("ExternalName".to_owned()),
                external_name: Some(external_name),
                session_affinity: Some("None".to_owned()),
                ports: Some(vec![ServicePort {
                    name: Some(PORT_NAME.to_owned()),
                    app_protocol: Some(APP_PROTOCOL.to_owned()),
                    port: 80,
                    target_port: Some(IntOrString::Int(80)),
                    ..ServicePort::default()
                }]),
                ..ServiceSpec::default()
            }),
            status: None,
        };
        services.insert(service_name, service);
    }
    Ok(services.into_values().collect())
}

/// `wanted` with the labels and annotations `live` has that it does not set, as Knative
/// updates a route's Service (`kmap.Union(existing, desired)`): a label or annotation
/// removed from the route stays on its Services.
pub fn keeping_live_metadata(wanted: &Service, live: &Service) -> Service {
    let mut merged = wanted.clone();
    let union = |live: Option<&BTreeMap<String, String>>,
                 wanted: Option<BTreeMap<String, String>>| {
        let mut all = live.cloned().unwrap_or_default();
        all.extend(wanted.unwrap_or_default());
        Some(all).filter(|a| !a.is_empty())
    };
    merged.metadata.labels = union(live.metadata.labels.as_ref(), merged.metadata.labels);
    merged.metadata.annotations = union(
        live.metadata.annotations.as_ref(),
        merged.metadata.annotations,
    );
    merged
}

/// The Ingress's load balancer for in-cluster callers: the private one when it has one
/// (Knative's choice), else the public one; its `domainInternal`, else its `domain`.
fn internal_balancer(ingress: &crd::Ingress) -> Option<String> {
    let status = ingress.status.as_ref()?;
    [&status.private_load_balancer, &status.public_load_balancer]
        .into_iter()
        .flatten()
        .find_map(|lb| {
            let first = lb.ingress.first()?;
            first
                .domain_internal
                .clone()
                .or_else(|| first.domain.clone())
                .filter(|d| !d.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route() -> crd::Route {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Route",
            "metadata": {
                "name": "hello", "namespace": "default", "uid": "u-1",
                "labels": {"app": "a", VISIBILITY_LABEL: "cluster-local"},
                "annotations": {"serving.knative.dev/creator": "me"},
            },
            "spec": {},
        }))
        .expect("route")
    }

    fn status(tags: &[&str]) -> crd::serving::RouteStatus {
        let traffic: Vec<_> = tags
            .iter()
            .map(|t| serde_json::json!({"tag": t, "revisionName": "hello-00001", "percent": 0}))
            .collect();
        serde_json::from_value(serde_json::json!({ "traffic": traffic })).expect("status")
    }

    #[test]
    fn one_external_name_service_per_route_and_tag_pointing_at_the_ingress() {
        let ingress: crd::Ingress = serde_json::from_value(serde_json::json!({
            "apiVersion": "networking.internal.knative.dev/v1alpha1",
            "kind": "Ingress",
            "metadata": {"name": "hello", "namespace": "default"},
            "spec": {},
            "status": {"privateLoadBalancer": {"ingress": [
                {"domainInternal": "knserve-ingress.knative-serving.svc.cluster.local"}
            ]}},
        }))
        .expect("ingress");
        let services = route_services(
            &route(),
            &status(&["v1", "v2"]),
            &RoutingConfig::default(),
            Some(&ingress),
        )
        .expect("services");
        let names: Vec<_> = services.iter().map(ResourceExt::name_any).collect();
        assert_eq!(names, ["hello", "v1-hello", "v2-hello"]);
        for service in &services {
            let spec = service.spec.as_ref().expect("spec");
            assert_eq!(spec.type_.as_deref(), Some("ExternalName"));
            assert_eq!(
                spec.external_name.as_deref(),
                Some("knserve-ingress.knative-serving.svc.cluster.local")
            );
            assert_eq!(service.labels()[ROUTE_LABEL], "hello");
            assert_eq!(service.labels()["app"], "a");
            assert!(!service.labels().contains_key(VISIBILITY_LABEL));
            assert_eq!(service.annotations()["serving.knative.dev/creator"], "me");
            let owner = &service.owner_references()[0];
            assert_eq!((owner.uid.as_str(), owner.controller), ("u-1", Some(true)));
        }
    }

    #[test]
    fn labels_and_annotations_removed_from_the_route_stay_on_its_services() {
        let wanted = &route_services(&route(), &status(&[]), &RoutingConfig::default(), None)
            .expect("ok")[0];
        let mut live = wanted.clone();
        live.metadata.labels = Some([("juicy".to_owned(), "jamba".to_owned())].into());
        live.metadata.annotations = Some([("app".to_owned(), "old".to_owned())].into());
        let merged = keeping_live_metadata(wanted, &live);
        assert_eq!(merged.labels()["juicy"], "jamba");
        assert_eq!(merged.labels()["app"], "a");
        assert_eq!(merged.annotations()["app"], "old");
        assert_eq!(merged.annotations()["serving.knative.dev/creator"], "me");
    }

    #[test]
    fn before_the_ingress_reports_its_balancer_the_placeholder_names_the_route_host() {
        let services =
            route_services(&route(), &status(&[]), &RoutingConfig::default(), None).expect("ok");
        assert_eq!(services.len(), 1);
        let external = services[0]
            .spec
            .as_ref()
            .and_then(|s| s.external_name.clone());
        assert_eq!(external.as_deref(), Some("hello.default.svc.cluster.local"));
    }
}
