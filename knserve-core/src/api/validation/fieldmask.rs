//! Knative's field masks (`fieldmask.go`) as allow-lists over JSON keys.
//!
//! Knative copies the fields it allows into a fresh object and reports every field
//! whose value differs from the copy's (`apis.CheckDisallowedFields`), as
//! `<path>: must not set the field(s)`. A field differs when it is not Go's zero value:
//! a pointer, slice or map is set by any value but `null` (so `lifecycle: {}`,
//! `volumeDevices: []` and `automountServiceAccountToken: true` are set), while a plain
//! string, number or bool is set only by a non-zero value (`stdin: false` and
//! `restartPolicy: ""` are not). Each [`Mask`] therefore lists the allowed keys and the
//! keys that are plain values in Kubernetes' Go types.
//!
//! knserve's typed structs hold the allowed fields; every other field sits in an
//! `extra` map, which is what these masks are applied to.
//!
//! | object | allowed | behind a flag (allowed unless `Disabled`) |
//! |---|---|---|
//! | pod spec | `containers`, `volumes`, `serviceAccountName`, `imagePullSecrets`, `enableServiceLinks`, `automountServiceAccountToken` (only `false`) | `affinity`, `topologySpreadConstraints`, `hostAliases`, `nodeSelector`, `runtimeClassName`, `tolerations`, `securityContext` (also with `secure-pod-defaults`), `shareProcessNamespace`, `priorityClassName`, `schedulerName`, `initContainers`, `dnsPolicy`, `dnsConfig`, `hostIPC`, `hostPID`, `hostNetwork` |
//! | container | `name`, `args`, `command`, `env`, `workingDir`, `envFrom`, `image`, `imagePullPolicy`, the three probes, `ports`, `resources`, `securityContext`, `terminationMessagePath`, `terminationMessagePolicy`, `volumeMounts` | — |
//! | container port | `containerPort`, `name`, `protocol` | — |
//! | volume mount | `name`, `readOnly`, `mountPath`, `subPath` | `mountPropagation` |
//! | probe | the handler, the five numbers, `terminationGracePeriodSeconds` | — |
//! | `httpGet` | `host`, `path`, `scheme`, `httpHeaders`, `port` | — |
//! | resources | `limits`, `requests` | — |
//! | volume source | `secret`, `configMap`, `projected` | `emptyDir`, `persistentVolumeClaim`, `hostPath`, `csi`, `ephemeral`, `image` |
//! | projection | `secret`, `configMap`, `serviceAccountToken`, `downwardAPI` | — |
//! | env `valueFrom` | `configMapKeyRef`, `secretKeyRef` | `fieldRef`, `resourceFieldRef` |
//! | container `securityContext` | `capabilities`, `readOnlyRootFilesystem`, `runAsUser`, `runAsGroup`, `runAsNonRoot`, `allowPrivilegeEscalation`, `seccompProfile`, `privileged` (only `false`) | — |
//! | `capabilities` | `drop` | `add` (see [`super::security`]) |
//! | pod `securityContext` | see [`super::security`] | |

use serde_json::Value;

use crate::config::FeaturesConfig;

/// One of Knative's masks: the keys it keeps, and which keys are plain Go values.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mask {
    /// Keys the mask keeps.
    pub allowed: &'static [&'static str],
    /// Keys whose Go type is a plain string, number or bool (unset when zero).
    pub values: &'static [&'static str],
}

impl Mask {
    /// The keys of `object` that are set and not allowed (nor in `also_allowed`),
    /// sorted as Knative reports them.
    pub fn disallowed<'a>(
        &self,
        object: impl IntoIterator<Item = (&'a String, &'a Value)>,
        also_allowed: &[&str],
    ) -> Vec<String> {
        let mut keys: Vec<String> = object
            .into_iter()
            .filter(|(k, v)| is_set(k, v, self.values.contains(&k.as_str())))
            .map(|(k, _)| k.clone())
            .filter(|k| !self.allowed.contains(&k.as_str()) && !also_allowed.contains(&k.as_str()))
            .collect();
        keys.sort();
        keys
    }
}

/// Whether a JSON value differs from its Go field's zero value, as Knative's webhook
/// sees it: an empty list, and an empty object for a Go map (`nodeSelector: {}`), come
/// through as unset; an empty object for a struct pointer (`lifecycle: {}`) is set.
pub(super) fn is_set(key: &str, value: &Value, plain: bool) -> bool {
    match value {
        Value::Null => false,
        Value::Array(items) => !items.is_empty(),
        Value::Object(fields) if MAP_FIELDS.contains(&key) => !fields.is_empty(),
        Value::Bool(b) if plain => *b,
        Value::String(s) if plain => !s.is_empty(),
        Value::Number(n) if plain => n.as_f64() != Some(0.0),
        _ => true,
    }
}

/// The masked keys whose Go type is a map.
const MAP_FIELDS: [&str; 2] = ["nodeSelector", "overhead"];

/// The rule text of a masked-out field.
pub(super) const NOT_ALLOWED: &str = "must not set the field(s): Knative does not allow it";

/// `PodSpecMask` over the pod fields knserve keeps in `extra` (the typed ones,
/// `containers`, `volumes`, … are allowed; `initContainers` is checked by the caller).
pub(super) const POD_SPEC: Mask = Mask {
    allowed: &[],
    values: &[
        "restartPolicy",
        "dnsPolicy",
        "serviceAccount",
        "nodeName",
        "hostNetwork",
        "hostPID",
        "hostIPC",
        "hostname",
        "subdomain",
        "schedulerName",
        "priorityClassName",
    ],
};

/// The pod fields a feature flag lets through when not `Disabled`: (field, flag key).
pub(super) fn gated_pod_fields(features: &FeaturesConfig) -> Vec<&'static str> {
    let mut allowed: Vec<&'static str> = features
        .gated_pod_fields()
        .into_iter()
        .filter(|(_, _, flag)| flag.lets_field_through())
        .map(|(field, _, _)| field)
        .collect();
    // The pod's securityContext also passes with secure-pod-defaults, for its seccomp
    // profile (the rest is checked by the security-context mask).
    if features.secure_pod_defaults.lets_field_through() {
        allowed.push("securityContext");
    }
    allowed
}

/// `ContainerMask` over the container fields knserve keeps in `extra`.
pub(super) const CONTAINER: Mask = Mask {
    allowed: &[
        "securityContext",
        "terminationMessagePath",
        "terminationMessagePolicy",
    ],
    values: &[
        "terminationMessagePath",
        "terminationMessagePolicy",
        "stdin",
        "stdinOnce",
        "tty",
    ],
};

/// `ContainerPortMask` over a port's `extra` (`hostPort`, `hostIP`).
pub(super) const CONTAINER_PORT: Mask = Mask {
    allowed: &[],
    values: &["hostPort", "hostIP"],
};

/// `VolumeMountMask` over a mount's `extra`; `mountPropagation` is added by the caller
/// when its flag is not `Disabled`.
pub(super) const VOLUME_MOUNT: Mask = Mask {
    allowed: &[],
    values: &["subPathExpr"],
};

/// `ProbeMask` over a probe's `extra`.
pub(super) const PROBE: Mask = Mask {
    allowed: &["terminationGracePeriodSeconds"],
    values: &[],
};

/// A sidecar's probe without `multi-container-probing`: Knative masks it with an empty
/// probe, so every set field is refused.
pub(super) const EMPTY_PROBE: Mask = Mask {
    allowed: &[],
    values: &[
        "initialDelaySeconds",
        "timeoutSeconds",
        "periodSeconds",
        "successThreshold",
        "failureThreshold",
    ],
};

/// `HTTPGetActionMask` over `httpGet`'s `extra`.
pub(super) const HTTP_GET: Mask = Mask {
    allowed: &["httpHeaders"],
    values: &[],
};

/// The masks of the other handlers (`tcpSocket`, `exec`, `grpc`) over their `extra`.
pub(super) const HANDLER: Mask = Mask {
    allowed: &[],
    values: &[],
};

/// `ResourceRequirementsMask` over `resources`' `extra` (`claims`).
pub(super) const RESOURCES: Mask = Mask {
    allowed: &[],
    values: &[],
};

/// `VolumeSourceMask`; the gated kinds are added by the caller.
pub(super) const VOLUME_SOURCE: Mask = Mask {
    allowed: &["secret", "configMap", "projected"],
    values: &[],
};

/// `VolumeProjectionMask`, over one entry of `projected.sources`.
pub(super) const VOLUME_PROJECTION: Mask = Mask {
    allowed: &["secret", "configMap", "serviceAccountToken", "downwardAPI"],
    values: &[],
};

/// `ServiceAccountTokenProjectionMask`.
pub(super) const SERVICE_ACCOUNT_TOKEN: Mask = Mask {
    allowed: &["audience", "expirationSeconds", "path"],
    values: &["audience", "path"],
};

/// `DownwardAPIVolumeFileMask`.
pub(super) const DOWNWARD_API_FILE: Mask = Mask {
    allowed: &["fieldRef", "resourceFieldRef", "path", "mode"],
    values: &["path"],
};

/// `KeyToPathMask`.
pub(super) const KEY_TO_PATH: Mask = Mask {
    allowed: &["key", "path", "mode"],
    values: &["key", "path"],
};

/// `EnvVarSourceMask`; `fieldRef` and `resourceFieldRef` are added by the caller when
/// `kubernetes.podspec-fieldref` is not `Disabled`.
pub(super) const ENV_VAR_SOURCE: Mask = Mask {
    allowed: &["configMapKeyRef", "secretKeyRef"],
    values: &[],
};

/// `EnvVarMask` over an env var's `extra`.
pub(super) const ENV_VAR: Mask = Mask {
    allowed: &[],
    values: &[],
};

/// `SecurityContextMask` (a container's); `privileged: false` is added by the caller.
pub(super) const SECURITY_CONTEXT: Mask = Mask {
    allowed: &[
        "capabilities",
        "readOnlyRootFilesystem",
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "allowPrivilegeEscalation",
        "seccompProfile",
    ],
    values: &[],
};

/// `PodSecurityContextMask` when `kubernetes.podspec-securitycontext` is not `Disabled`.
pub(super) const POD_SECURITY_CONTEXT: Mask = Mask {
    allowed: &[
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "fsGroup",
        "supplementalGroups",
        "seccompProfile",
    ],
    values: &[],
};

/// `CapabilitiesMask`; `add` is decided by the caller.
pub(super) const CAPABILITIES: Mask = Mask {
    allowed: &["drop"],
    values: &[],
};

/// `ImageVolumeSourceMask`.
pub(super) const IMAGE_VOLUME: Mask = Mask {
    allowed: &["reference", "pullPolicy"],
    values: &["reference", "pullPolicy"],
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys(mask: Mask, value: Value) -> Vec<String> {
        mask.disallowed(value.as_object().unwrap(), &[])
    }

    #[test]
    fn zero_values_and_empty_collections_are_unset_but_empty_structs_are_set() {
        assert!(keys(CONTAINER, json!({"stdin": false, "tty": false})).is_empty());
        assert_eq!(keys(CONTAINER, json!({"stdin": true})), ["stdin"]);
        assert_eq!(keys(CONTAINER, json!({"lifecycle": {}})), ["lifecycle"]);
        assert_eq!(
            keys(CONTAINER, json!({"volumeDevices": [{}]})),
            ["volumeDevices"]
        );
        assert!(keys(CONTAINER, json!({"volumeDevices": []})).is_empty());
        assert!(keys(POD_SPEC, json!({"nodeSelector": {}})).is_empty());
        assert!(keys(CONTAINER, json!({"lifecycle": null})).is_empty());
        assert!(keys(POD_SPEC, json!({"restartPolicy": ""})).is_empty());
        assert_eq!(
            keys(POD_SPEC, json!({"terminationGracePeriodSeconds": 0})),
            ["terminationGracePeriodSeconds"]
        );
    }

    #[test]
    fn disallowed_keys_are_sorted() {
        assert_eq!(
            keys(POD_SPEC, json!({"restartPolicy": "Never", "hostname": "x"})),
            ["hostname", "restartPolicy"]
        );
    }
}
