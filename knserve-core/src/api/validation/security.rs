//! Security contexts (`validateSecurityContext`, `ValidatePodSecurityContext`): the
//! allowed fields and the user and group id bounds.

use serde_json::{Map, Value};

use super::fieldmask::{
    CAPABILITIES, Mask, NOT_ALLOWED, POD_SECURITY_CONTEXT, SECURITY_CONTEXT, is_set,
};
use crate::config::FeaturesConfig;
use crate::error::ValidationErrors;

/// The largest user or group id Knative accepts (Go's `math.MaxInt32`).
const MAX_ID: i64 = i32::MAX as i64;

/// Checks a container's `securityContext`; paths are relative to it.
pub(super) fn validate_container_security_context(
    context: &Value,
    features: &FeaturesConfig,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let Some(sc) = context.as_object() else {
        return errors;
    };
    // Only `privileged: false` is kept.
    let also: &[&str] = if sc.get("privileged") == Some(&Value::Bool(false)) {
        &["privileged"]
    } else {
        &[]
    };
    for key in SECURITY_CONTEXT.disallowed(sc, also) {
        errors.add(key, NOT_ALLOWED);
    }
    if let Some(caps) = sc.get("capabilities").and_then(Value::as_object) {
        errors.extend_under("capabilities", validate_capabilities(caps, features));
    }
    check_ids(sc, &["runAsUser", "runAsGroup"], &mut errors);
    errors
}

/// `CapabilitiesMask`: `drop` always; `add` when
/// `kubernetes.containerspec-addcapabilities` is enabled, or exactly
/// `[NET_BIND_SERVICE]` under `secure-pod-defaults`.
fn validate_capabilities(caps: &Map<String, Value>, features: &FeaturesConfig) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let add = caps.get("add");
    let only_bind = add == Some(&Value::Array(vec![Value::from("NET_BIND_SERVICE")]));
    let add_allowed = features.containerspec_add_capabilities.is_enabled()
        || (features.secure_pod_defaults.secures_pods() && only_bind);
    let also: &[&str] = if add_allowed { &["add"] } else { &[] };
    for key in CAPABILITIES.disallowed(caps, also) {
        let rule = if key == "add" {
            format!(
                "must not set the field(s) unless config-features kubernetes.containerspec-addcapabilities is enabled, got {}",
                add.map(Value::to_string).unwrap_or_default()
            )
        } else {
            NOT_ALLOWED.to_owned()
        };
        errors.add(key, rule);
    }
    errors
}

/// Checks the pod's `securityContext`; paths are relative to it. The pod-spec mask
/// (the field itself, behind `kubernetes.podspec-securitycontext`) is checked by the
/// caller.
pub(super) fn validate_pod_security_context(
    context: &Value,
    features: &FeaturesConfig,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let Some(sc) = context.as_object() else {
        return errors;
    };
    let mask = if features.podspec_security_context.lets_field_through() {
        POD_SECURITY_CONTEXT
    } else {
        Mask {
            allowed: &[],
            values: &[],
        }
    };
    // secure-pod-defaults lets a user opt out of its seccomp default with a bare type.
    let seccomp_opt_out = features.secure_pod_defaults.secures_pods()
        && sc.get("seccompProfile").is_some_and(is_bare_seccomp_type);
    let also: &[&str] = if seccomp_opt_out {
        &["seccompProfile"]
    } else {
        &[]
    };
    for key in mask.disallowed(sc, also) {
        let rule = if features.podspec_security_context.lets_field_through() {
            NOT_ALLOWED.to_owned()
        } else {
            "must not set the field(s) unless config-features kubernetes.podspec-securitycontext is enabled".to_owned()
        };
        errors.add(key, rule);
    }
    check_ids(sc, &["runAsUser", "runAsGroup", "fsGroup"], &mut errors);
    if let Some(groups) = sc.get("supplementalGroups").and_then(Value::as_array) {
        for (i, gid) in groups.iter().enumerate() {
            if let Some(rule) = id_violation(gid) {
                errors.add(format!("supplementalGroups[{i}]"), rule);
            }
        }
    }
    errors
}

/// `{type: RuntimeDefault}` or `{type: Unconfined}` and nothing else set.
fn is_bare_seccomp_type(profile: &Value) -> bool {
    let Some(profile) = profile.as_object() else {
        return false;
    };
    let type_ok = matches!(
        profile.get("type").and_then(Value::as_str),
        Some("RuntimeDefault" | "Unconfined")
    );
    type_ok
        && profile
            .iter()
            .all(|(k, v)| k == "type" || !is_set(k, v, k == "localhostProfile"))
}

fn check_ids(sc: &Map<String, Value>, keys: &[&str], errors: &mut ValidationErrors) {
    for key in keys {
        if let Some(rule) = sc.get(*key).and_then(id_violation) {
            errors.add(*key, rule);
        }
    }
}

fn id_violation(id: &Value) -> Option<String> {
    let n = id.as_i64()?;
    (!(0..=MAX_ID).contains(&n)).then(|| format!("must be between 0 and {MAX_ID}, got {n}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Flag;
    use serde_json::json;

    fn paths(errors: ValidationErrors) -> Vec<String> {
        errors.errors().iter().map(|e| e.path.clone()).collect()
    }

    #[test]
    fn a_container_may_drop_privileges_but_not_gain_them() {
        let features = FeaturesConfig::default();
        let ok =
            json!({"privileged": false, "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}});
        assert!(validate_container_security_context(&ok, &features).is_empty());
        let bad = json!({"privileged": true, "seLinuxOptions": {}, "procMount": "Default",
            "capabilities": {"add": ["NET_ADMIN"]}, "runAsUser": -1});
        assert_eq!(
            paths(validate_container_security_context(&bad, &features)),
            [
                "privileged",
                "procMount",
                "seLinuxOptions",
                "capabilities.add",
                "runAsUser"
            ]
        );
    }

    #[test]
    fn net_bind_service_is_allowed_only_under_secure_pod_defaults() {
        let sc = json!({"capabilities": {"add": ["NET_BIND_SERVICE"]}});
        let mut features = FeaturesConfig::default();
        assert!(!validate_container_security_context(&sc, &features).is_empty());
        features.secure_pod_defaults = Flag::AllowRootBounded;
        assert!(validate_container_security_context(&sc, &features).is_empty());
    }

    #[test]
    fn the_pod_context_needs_its_flag_and_keeps_ids_in_range() {
        let mut features = FeaturesConfig::default();
        let sc = json!({"runAsUser": 1000, "supplementalGroups": [1, -2]});
        assert_eq!(
            paths(validate_pod_security_context(&sc, &features)),
            ["runAsUser", "supplementalGroups", "supplementalGroups[1]"]
        );
        features.podspec_security_context = Flag::Allowed;
        assert_eq!(
            paths(validate_pod_security_context(&sc, &features)),
            ["supplementalGroups[1]"]
        );
    }
}
