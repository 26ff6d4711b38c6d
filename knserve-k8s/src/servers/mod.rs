//! The deployable servers besides the controller: ingress, activator and autoscaler, each
//! a thin async shell over the pure state machines of [`knserve_core`].

use k8s_openapi::api::core::v1::ConfigMap;
use knserve_core::{config::ObservabilityConfig, trace::Tracing};

pub mod activator;
pub mod autoscaler;
pub mod ingress;
pub mod wire;

/// The tracer `config-observability` in `system_namespace` asks for, read once at start
/// (a change takes effect when the server restarts). A missing map means Knative's
/// default, tracing off; a map that does not parse, or names an exporter knserve cannot
/// build, is logged naming the key and the server runs without tracing rather than not
/// at all. Must be called inside a Tokio runtime.
pub async fn tracing_from_cluster(
    client: &kube::Client,
    system_namespace: &str,
    service_name: &str,
) -> Tracing {
    let maps: kube::Api<ConfigMap> = kube::Api::namespaced(client.clone(), system_namespace);
    let data = match maps.get_opt(ObservabilityConfig::NAME).await {
        Ok(map) => map.and_then(|m| m.data).unwrap_or_default(),
        Err(error) => {
            tracing::warn!(%error, "reading config-observability; tracing is off");
            return Tracing::disabled();
        }
    };
    let started = ObservabilityConfig::from_map(&data)
        .map_err(|e| e.to_string())
        .and_then(|config| {
            Tracing::start(&config.tracing, service_name).map_err(|e| e.to_string())
        });
    match started {
        Ok(tracing) => tracing,
        Err(error) => {
            tracing::error!(%error, "tracing is off");
            Tracing::disabled()
        }
    }
}
