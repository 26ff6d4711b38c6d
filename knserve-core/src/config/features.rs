//! `config-features`: feature flags gating pod-spec fields and routing features.

use super::{InvalidConfig, Lookup, Parser};

/// A feature flag's value, spelled `enabled`, `disabled` or `allowed` (any case);
/// `secure-pod-defaults` also takes `allowrootbounded`.
///
/// Knative v0.50 reads a pod-spec flag in two ways, and `Allowed` sits between them:
/// its field masks (`fieldmask.go`) let a field through unless the flag is `Disabled`
/// ([`Flag::lets_field_through`]), while its feature checks (init containers, volume
/// kinds, multiple containers, sidecar probes, mount propagation, added capabilities)
/// demand `Enabled` ([`Flag::is_enabled`]). No annotation opts a revision in: v0.50's
/// webhook reads no `features.knative.dev/*` annotation for these fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flag {
    /// On for every revision.
    Enabled,
    /// Off; the field is rejected.
    Disabled,
    /// Passes the field masks, fails the checks that demand `Enabled`.
    Allowed,
    /// `secure-pod-defaults` only: the secure defaults without forcing `runAsNonRoot`.
    AllowRootBounded,
}

impl Flag {
    /// Whether Knative's field masks keep the field: anything but `Disabled`.
    pub fn lets_field_through(self) -> bool {
        self != Self::Disabled
    }

    /// Whether the feature is on: `Enabled` only.
    pub fn is_enabled(self) -> bool {
        self == Self::Enabled
    }

    /// Whether `secure-pod-defaults` applies its defaults (`Enabled` or `AllowRootBounded`).
    pub fn secures_pods(self) -> bool {
        matches!(self, Self::Enabled | Self::AllowRootBounded)
    }

    /// The value as Knative writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Allowed => "allowed",
            Self::AllowRootBounded => "allowrootbounded",
        }
    }
}

macro_rules! features {
    ($($(#[$doc:meta])* $field:ident = $key:literal, $default:ident;)*) => {
        /// `config-features`, with Knative's keys and defaults (`Default`).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct FeaturesConfig {
            $($(#[$doc])* pub $field: Flag,)*
        }

        impl Default for FeaturesConfig {
            fn default() -> Self {
                Self { $($field: Flag::$default,)* }
            }
        }

        impl FeaturesConfig {
            /// The config map's name.
            pub const NAME: &'static str = "config-features";

            /// Every key this map reads.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            /// Parses the map, starting from Knative's defaults. Knative silently keeps
            /// the default for a misspelt value; here it is an error naming the key.
            pub fn from_map(data: &(impl Lookup + ?Sized)) -> Result<Self, InvalidConfig> {
                let p = Parser::new(Self::NAME, data);
                let d = Self::default();
                Ok(Self { $($field: flag(&p, $key, d.$field)?,)* })
            }
        }
    };
}

features! {
    /// `multi-container`: more than one container per revision.
    multi_container = "multi-container", Enabled;
    /// `multi-container-probing`: probes on sidecar containers.
    multi_container_probing = "multi-container-probing", Disabled;
    /// `tag-header-based-routing`: route by the `Knative-Serving-Tag` header (§6.3).
    tag_header_based_routing = "tag-header-based-routing", Disabled;
    /// `kubernetes.podspec-affinity`: the pod's `affinity`.
    podspec_affinity = "kubernetes.podspec-affinity", Disabled;
    /// `kubernetes.podspec-topologyspreadconstraints`: `topologySpreadConstraints`.
    podspec_topology_spread_constraints = "kubernetes.podspec-topologyspreadconstraints", Disabled;
    /// `kubernetes.podspec-hostaliases`: `hostAliases`.
    podspec_host_aliases = "kubernetes.podspec-hostaliases", Disabled;
    /// `kubernetes.podspec-fieldref`: downward-API `fieldRef`/`resourceFieldRef` env values.
    podspec_field_ref = "kubernetes.podspec-fieldref", Disabled;
    /// `kubernetes.podspec-nodeselector`: `nodeSelector`.
    podspec_node_selector = "kubernetes.podspec-nodeselector", Disabled;
    /// `kubernetes.podspec-runtimeclassname`: `runtimeClassName`.
    podspec_runtime_class_name = "kubernetes.podspec-runtimeclassname", Disabled;
    /// `kubernetes.podspec-securitycontext`: the pod's `securityContext`.
    podspec_security_context = "kubernetes.podspec-securitycontext", Disabled;
    /// `kubernetes.podspec-priorityclassname`: `priorityClassName`.
    podspec_priority_class_name = "kubernetes.podspec-priorityclassname", Disabled;
    /// `kubernetes.podspec-schedulername`: `schedulerName`.
    podspec_scheduler_name = "kubernetes.podspec-schedulername", Disabled;
    /// `kubernetes.podspec-tolerations`: `tolerations`.
    podspec_tolerations = "kubernetes.podspec-tolerations", Disabled;
    /// `kubernetes.podspec-volumes-emptydir`: `emptyDir` volumes.
    podspec_volumes_emptydir = "kubernetes.podspec-volumes-emptydir", Enabled;
    /// `kubernetes.podspec-volumes-hostpath`: `hostPath` volumes.
    podspec_volumes_hostpath = "kubernetes.podspec-volumes-hostpath", Disabled;
    /// `kubernetes.podspec-persistent-volume-claim`: `persistentVolumeClaim` volumes.
    podspec_persistent_volume_claim = "kubernetes.podspec-persistent-volume-claim", Disabled;
    /// `kubernetes.podspec-init-containers`: `initContainers`.
    podspec_init_containers = "kubernetes.podspec-init-containers", Disabled;
    /// `kubernetes.podspec-dnspolicy`: `dnsPolicy`.
    podspec_dns_policy = "kubernetes.podspec-dnspolicy", Disabled;
    /// `kubernetes.podspec-dnsconfig`: `dnsConfig`.
    podspec_dns_config = "kubernetes.podspec-dnsconfig", Disabled;
    /// `kubernetes.podspec-hostnetwork`: `hostNetwork`.
    podspec_host_network = "kubernetes.podspec-hostnetwork", Disabled;
    /// `kubernetes.podspec-hostpid`: `hostPID`.
    podspec_host_pid = "kubernetes.podspec-hostpid", Disabled;
    /// `kubernetes.podspec-hostipc`: `hostIPC`.
    podspec_host_ipc = "kubernetes.podspec-hostipc", Disabled;
    /// `kubernetes.podspec-shareprocessnamespace`: `shareProcessNamespace`.
    podspec_share_process_namespace = "kubernetes.podspec-shareprocessnamespace", Disabled;
    /// `kubernetes.podspec-dryrun`: server-side dry-run validation of the pod spec.
    podspec_dry_run = "kubernetes.podspec-dryrun", Allowed;
    /// `kubernetes.containerspec-addcapabilities`: `securityContext.capabilities.add`.
    containerspec_add_capabilities = "kubernetes.containerspec-addcapabilities", Disabled;
    /// `kubernetes.podspec-volumes-mount-propagation`: a volume mount's `mountPropagation`.
    podspec_volumes_mount_propagation = "kubernetes.podspec-volumes-mount-propagation", Disabled;
    /// `kubernetes.podspec-volumes-csi`: `csi` volumes.
    podspec_volumes_csi = "kubernetes.podspec-volumes-csi", Disabled;
    /// `kubernetes.podspec-volumes-ephemeral`: `ephemeral` volumes.
    podspec_volumes_ephemeral = "kubernetes.podspec-volumes-ephemeral", Disabled;
    /// `kubernetes.podspec-volumes-image`: `image` volumes.
    podspec_volumes_image = "kubernetes.podspec-volumes-image", Disabled;
    /// `kubernetes.podspec-persistent-volume-write`: writable `persistentVolumeClaim` volumes.
    podspec_persistent_volume_write = "kubernetes.podspec-persistent-volume-write", Disabled;
    /// `queueproxy.mount-podinfo`: the queue-proxy's pod-info volume.
    queueproxy_mount_podinfo = "queueproxy.mount-podinfo", Disabled;
    /// `queueproxy.resource-defaults`: default resources for the queue-proxy.
    queueproxy_resource_defaults = "queueproxy.resource-defaults", Disabled;
    /// `autodetect-http2`: probe the user container for HTTP/2.
    autodetect_http2 = "autodetect-http2", Disabled;
    /// `secure-pod-defaults`: `Disabled`, `AllowRootBounded` or `Enabled`; the restricted
    /// security context as a default, and the seccomp profile and `NET_BIND_SERVICE`
    /// allowed without the security-context flags.
    secure_pod_defaults = "secure-pod-defaults", Disabled;
}

impl FeaturesConfig {
    /// The pod-spec fields that are gated by a flag: (field, key, flag).
    pub fn gated_pod_fields(&self) -> [(&'static str, &'static str, Flag); 15] {
        [
            (
                "affinity",
                "kubernetes.podspec-affinity",
                self.podspec_affinity,
            ),
            (
                "topologySpreadConstraints",
                "kubernetes.podspec-topologyspreadconstraints",
                self.podspec_topology_spread_constraints,
            ),
            (
                "hostAliases",
                "kubernetes.podspec-hostaliases",
                self.podspec_host_aliases,
            ),
            (
                "nodeSelector",
                "kubernetes.podspec-nodeselector",
                self.podspec_node_selector,
            ),
            (
                "runtimeClassName",
                "kubernetes.podspec-runtimeclassname",
                self.podspec_runtime_class_name,
            ),
            (
                "securityContext",
                "kubernetes.podspec-securitycontext",
                self.podspec_security_context,
            ),
            (
                "priorityClassName",
                "kubernetes.podspec-priorityclassname",
                self.podspec_priority_class_name,
            ),
            (
                "schedulerName",
                "kubernetes.podspec-schedulername",
                self.podspec_scheduler_name,
            ),
            (
                "tolerations",
                "kubernetes.podspec-tolerations",
                self.podspec_tolerations,
            ),
            (
                "dnsPolicy",
                "kubernetes.podspec-dnspolicy",
                self.podspec_dns_policy,
            ),
            (
                "dnsConfig",
                "kubernetes.podspec-dnsconfig",
                self.podspec_dns_config,
            ),
            (
                "hostNetwork",
                "kubernetes.podspec-hostnetwork",
                self.podspec_host_network,
            ),
            (
                "hostPID",
                "kubernetes.podspec-hostpid",
                self.podspec_host_pid,
            ),
            (
                "hostIPC",
                "kubernetes.podspec-hostipc",
                self.podspec_host_ipc,
            ),
            (
                "shareProcessNamespace",
                "kubernetes.podspec-shareprocessnamespace",
                self.podspec_share_process_namespace,
            ),
        ]
    }
}

fn flag<L: Lookup + ?Sized>(
    p: &Parser<'_, L>,
    key: &str,
    default: Flag,
) -> Result<Flag, InvalidConfig> {
    // Knative's `secure-pod-defaults` takes its own set of values (`allowed` is not one).
    let secure = key == "secure-pod-defaults";
    // As written: Knative compares the value untrimmed (`" Enabled"` is not `Enabled`).
    match p.value(key) {
        None => Ok(default),
        Some(raw) if raw.eq_ignore_ascii_case("enabled") => Ok(Flag::Enabled),
        Some(raw) if raw.eq_ignore_ascii_case("disabled") => Ok(Flag::Disabled),
        Some(raw) if !secure && raw.eq_ignore_ascii_case("allowed") => Ok(Flag::Allowed),
        Some(raw) if secure && raw.eq_ignore_ascii_case("allowrootbounded") => {
            Ok(Flag::AllowRootBounded)
        }
        Some(raw) if secure => {
            Err(p.invalid(key, raw, "must be enabled, disabled or allowrootbounded"))
        }
        Some(raw) => Err(p.invalid(key, raw, "must be enabled, disabled or allowed")),
    }
}
