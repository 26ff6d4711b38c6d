//! `config-deployment`: the keys the Deployment builder reads.

use std::collections::BTreeSet;
use std::time::Duration;

use knserve_core::autoscaler::DEFAULT_PROGRESS_DEADLINE;
use knserve_core::config::{InvalidConfig, Lookup, Parser};

/// The sidecar image when `queue-sidecar-image` is not set: knserve's own image, whose
/// entrypoint runs the queue-proxy with [`QUEUE_ARGS`].
pub const DEFAULT_QUEUE_IMAGE: &str = "ghcr.io/knserve/knserve:latest";

/// The arguments the sidecar container is started with (the knserve image's `queue`
/// server). Choice: always passed, so a `queue-sidecar-image` must be a knserve image.
pub const QUEUE_ARGS: [&str; 1] = ["queue"];

/// `registries-skipping-tag-resolving`'s default, as Knative's.
pub const DEFAULT_SKIPPED_REGISTRIES: &str = "kind.local,ko.local,dev.local";

/// `digest-resolution-timeout`'s default, as Knative's.
pub const DEFAULT_DIGEST_RESOLUTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A comma-separated registry list (`registries-skipping-tag-resolving`), blanks ignored.
pub fn registry_list(list: &str) -> BTreeSet<String> {
    list.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `config-deployment`, with Knative's key names and defaults (`Default`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentConfig {
    /// `queue-sidecar-image`: the queue-proxy image.
    pub queue_sidecar_image: String,
    /// `progress-deadline`: how long a Deployment may take to progress (whole seconds).
    pub progress_deadline: Duration,
    /// `queue-sidecar-cpu-request` (default `25m`).
    pub queue_sidecar_cpu_request: Option<String>,
    /// `queue-sidecar-cpu-limit` (unset by default).
    pub queue_sidecar_cpu_limit: Option<String>,
    /// `queue-sidecar-memory-request` (unset by default).
    pub queue_sidecar_memory_request: Option<String>,
    /// `queue-sidecar-memory-limit` (unset by default).
    pub queue_sidecar_memory_limit: Option<String>,
    /// `queue-sidecar-ephemeral-storage-request` (unset by default).
    pub queue_sidecar_ephemeral_storage_request: Option<String>,
    /// `queue-sidecar-ephemeral-storage-limit` (unset by default).
    pub queue_sidecar_ephemeral_storage_limit: Option<String>,
    /// `pod-is-always-schedulable` (default `false`): a pod that is not scheduled yet
    /// is only waiting (a cluster autoscaler will add a node), so `PodScheduled=False`
    /// does not fail the revision.
    pub pod_is_always_schedulable: bool,
    /// `registries-skipping-tag-resolving` (default `kind.local,ko.local,dev.local`):
    /// registries whose images are run by tag, not resolved to a digest.
    pub registries_skipping_tag_resolving: BTreeSet<String>,
    /// `digest-resolution-timeout` (default 10 s): how long resolving one image to its
    /// digest may take.
    pub digest_resolution_timeout: Duration,
    /// Not a key of `config-deployment`: the queue-proxy's `OBSERVABILITY_CONFIG`, from
    /// `config-observability` ([`observability_env`](super::observability_env)); the
    /// revision reconciler sets it. `None` (tracing off) leaves the variable out.
    pub observability_env: Option<String>,
}

impl Default for DeploymentConfig {
    fn default() -> Self {
        Self {
            queue_sidecar_image: DEFAULT_QUEUE_IMAGE.to_owned(),
            progress_deadline: DEFAULT_PROGRESS_DEADLINE,
            queue_sidecar_cpu_request: Some("25m".to_owned()),
            queue_sidecar_cpu_limit: None,
            queue_sidecar_memory_request: None,
            queue_sidecar_memory_limit: None,
            queue_sidecar_ephemeral_storage_request: None,
            queue_sidecar_ephemeral_storage_limit: None,
            pod_is_always_schedulable: false,
            registries_skipping_tag_resolving: registry_list(DEFAULT_SKIPPED_REGISTRIES),
            digest_resolution_timeout: DEFAULT_DIGEST_RESOLUTION_TIMEOUT,
            observability_env: None,
        }
    }
}

impl DeploymentConfig {
    /// The config map's name.
    pub const NAME: &'static str = "config-deployment";

    /// Parses the map, starting from the defaults.
    ///
    /// # Errors
    /// A `progress-deadline` that is not a positive whole number of seconds, an empty
    /// `queue-sidecar-image`, a `pod-is-always-schedulable` that is not a Go boolean, or a
    /// `digest-resolution-timeout` that is not a positive Go duration.
    pub fn from_map(data: &(impl Lookup + ?Sized)) -> Result<Self, InvalidConfig> {
        let p = Parser::new(Self::NAME, data);
        let d = Self::default();
        let progress_deadline = p.duration("progress-deadline", d.progress_deadline)?;
        if progress_deadline.is_zero() || progress_deadline.subsec_nanos() != 0 {
            return Err(p.invalid(
                "progress-deadline",
                p.raw("progress-deadline").unwrap_or_default(),
                "must be a positive whole number of seconds",
            ));
        }
        let digest_resolution_timeout =
            p.duration("digest-resolution-timeout", d.digest_resolution_timeout)?;
        if digest_resolution_timeout.is_zero() {
            return Err(p.invalid(
                "digest-resolution-timeout",
                p.raw("digest-resolution-timeout").unwrap_or_default(),
                "must be positive",
            ));
        }
        let image = p.string("queue-sidecar-image", &d.queue_sidecar_image);
        if image.is_empty() {
            return Err(p.invalid("queue-sidecar-image", image, "must not be empty"));
        }
        let quantity = |key: &str, default: Option<String>| {
            p.raw(key)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .or(default)
        };
        Ok(Self {
            queue_sidecar_image: image,
            progress_deadline,
            queue_sidecar_cpu_request: quantity(
                "queue-sidecar-cpu-request",
                d.queue_sidecar_cpu_request,
            ),
            queue_sidecar_cpu_limit: quantity("queue-sidecar-cpu-limit", None),
            queue_sidecar_memory_request: quantity("queue-sidecar-memory-request", None),
            queue_sidecar_memory_limit: quantity("queue-sidecar-memory-limit", None),
            queue_sidecar_ephemeral_storage_request: quantity(
                "queue-sidecar-ephemeral-storage-request",
                None,
            ),
            queue_sidecar_ephemeral_storage_limit: quantity(
                "queue-sidecar-ephemeral-storage-limit",
                None,
            ),
            pod_is_always_schedulable: p
                .boolean("pod-is-always-schedulable", d.pod_is_always_schedulable)?,
            registries_skipping_tag_resolving: p
                .raw("registries-skipping-tag-resolving")
                .map_or(d.registries_skipping_tag_resolving, registry_list),
            digest_resolution_timeout,
            observability_env: None,
        })
    }
}
