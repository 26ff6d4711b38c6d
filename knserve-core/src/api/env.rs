//! The environment Knative's runtime injects into a revision's containers (§1.2).

use super::container::EnvVar;
use super::keys::{CONFIGURATION_LABEL, SERVICE_LABEL};
use super::revision::Revision;

/// Names users may not set on the serving container.
pub const RESERVED_ENV: [&str; 4] = ["PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"];
/// Names users may not set on sidecars (which may set `PORT`).
pub const RESERVED_SIDECAR_ENV: [&str; 3] = ["K_SERVICE", "K_CONFIGURATION", "K_REVISION"];

/// The values injected into a revision's containers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeEnv {
    /// `PORT`: the user port (serving container only).
    pub port: i32,
    /// `K_REVISION`: the revision's name.
    pub revision: String,
    /// `K_CONFIGURATION`: the configuration's name (`""` for a standalone revision).
    pub configuration: String,
    /// `K_SERVICE`: the service's name (`""` when not owned by a Service).
    pub service: String,
}

impl RuntimeEnv {
    /// The values for `revision`, from its name, its user port and its
    /// `serving.knative.dev/configuration` and `serving.knative.dev/service` labels.
    pub fn for_revision(revision: &Revision) -> Self {
        let meta = &revision.metadata;
        Self {
            port: revision.spec.user_port(),
            revision: meta.name().to_owned(),
            configuration: meta.label(CONFIGURATION_LABEL).unwrap_or("").to_owned(),
            service: meta.label(SERVICE_LABEL).unwrap_or("").to_owned(),
        }
    }

    /// The variables to add to a container: `PORT` for the serving container, then
    /// `K_REVISION`, `K_CONFIGURATION` and `K_SERVICE` for every container.
    pub fn vars(&self, serving: bool) -> Vec<EnvVar> {
        let port = serving.then(|| EnvVar::new("PORT", self.port.to_string()));
        port.into_iter()
            .chain([
                EnvVar::new("K_REVISION", &self.revision),
                EnvVar::new("K_CONFIGURATION", &self.configuration),
                EnvVar::new("K_SERVICE", &self.service),
            ])
            .collect()
    }

    /// The container's environment with the injected variables appended, in the order a
    /// pod would see them.
    pub fn apply(&self, env: &[EnvVar], serving: bool) -> Vec<EnvVar> {
        env.iter().cloned().chain(self.vars(serving)).collect()
    }
}
