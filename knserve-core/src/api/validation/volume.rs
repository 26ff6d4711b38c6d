//! Volumes and volume mounts (`ValidateVolumes`, `validateVolumeMounts`).
//!
//! Paths follow Knative's, including two of its quirks: a `secret` or `configMap`
//! volume's item is at `volumes[i].items[j]` (without the source's name), and a
//! projected source at `volumes[i].projected[j]` (without `sources`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::fieldmask::{
    DOWNWARD_API_FILE, IMAGE_VOLUME, KEY_TO_PATH, Mask, NOT_ALLOWED, SERVICE_ACCOUNT_TOKEN,
    VOLUME_MOUNT, VOLUME_PROJECTION, VOLUME_SOURCE,
};
use crate::api::container::{Volume, VolumeMount};
use crate::api::naming::is_dns1123_label;
use crate::config::{FeaturesConfig, Flag};
use crate::error::ValidationErrors;

/// The volume kinds behind a flag: (source key, flag key, flag).
fn gated_kinds(features: &FeaturesConfig) -> [(&'static str, &'static str, Flag); 6] {
    [
        (
            "emptyDir",
            "kubernetes.podspec-volumes-emptydir",
            features.podspec_volumes_emptydir,
        ),
        (
            "persistentVolumeClaim",
            "kubernetes.podspec-persistent-volume-claim",
            features.podspec_persistent_volume_claim,
        ),
        (
            "hostPath",
            "kubernetes.podspec-volumes-hostpath",
            features.podspec_volumes_hostpath,
        ),
        (
            "csi",
            "kubernetes.podspec-volumes-csi",
            features.podspec_volumes_csi,
        ),
        (
            "ephemeral",
            "kubernetes.podspec-volumes-ephemeral",
            features.podspec_volumes_ephemeral,
        ),
        (
            "image",
            "kubernetes.podspec-volumes-image",
            features.podspec_volumes_image,
        ),
    ]
}

/// Checks the pod's volumes; `mounted` are the names mounted by any container (init
/// containers included). Paths are relative to the pod spec.
pub(super) fn validate_volumes(
    volumes: &[Volume],
    mounted: &BTreeSet<&str>,
    features: &FeaturesConfig,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let mut names = BTreeSet::new();
    for (i, volume) in volumes.iter().enumerate() {
        let at = |field: &str| format!("volumes[{i}].{field}");
        if !names.insert(volume.name.as_str()) {
            errors.add(
                at("name"),
                format!("duplicate volume name {:?}", volume.name),
            );
        }
        if !mounted.contains(volume.name.as_str()) {
            errors.add(
                at("name"),
                format!(
                    "must be mounted by a container, got {:?} never mounted",
                    volume.name
                ),
            );
        }
        errors.extend_under(&format!("volumes[{i}]"), validate_volume(volume, features));
    }
    errors
}

fn validate_volume(volume: &Volume, features: &FeaturesConfig) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let source = &volume.source;
    for (kind, key, flag) in gated_kinds(features) {
        if has_source(volume, kind) && !flag.is_enabled() {
            errors.add(
                kind,
                format!(
                    "{kind} volumes require config-features {key} to be enabled, got {}",
                    flag.as_str()
                ),
            );
        }
    }
    if let Some(pvc) = source.get("persistentVolumeClaim") {
        let read_only = pvc.get("readOnly") == Some(&Value::Bool(true));
        if !read_only && !features.podspec_persistent_volume_write.is_enabled() {
            errors.add(
                "persistentVolumeClaim.readOnly",
                "must be true unless config-features kubernetes.podspec-persistent-volume-write is enabled",
            );
        }
    }
    // Knative replaces the errors found so far when the name is bad (a quirk kept so
    // that the paths match its own).
    if volume.name.is_empty() {
        errors = ValidationErrors::new();
        errors.add("name", "is required");
    } else if !is_dns1123_label(&volume.name) {
        errors = ValidationErrors::new();
        errors.add(
            "name",
            format!("must be a DNS-1123 label, got {:?}", volume.name),
        );
    }
    let allowed: Vec<&str> = gated_kinds(features)
        .into_iter()
        .filter(|(_, _, flag)| flag.lets_field_through())
        .map(|(kind, _, _)| kind)
        .collect();
    for key in VOLUME_SOURCE.disallowed(source, &allowed) {
        errors.add(key, NOT_ALLOWED);
    }
    let specified = validate_sources(source, &mut errors);
    match specified.len() {
        0 => {
            let mut kinds = vec!["secret", "configMap", "projected"];
            kinds.extend(
                gated_kinds(features)
                    .into_iter()
                    .filter(|(_, _, flag)| flag.is_enabled())
                    .map(|(kind, _, _)| kind),
            );
            for kind in &kinds {
                errors.add(
                    *kind,
                    format!(
                        "expected exactly one volume source of {}, got none",
                        kinds.join(", ")
                    ),
                );
            }
        }
        1 => {}
        _ => {
            for kind in &specified {
                errors.add(
                    *kind,
                    format!(
                        "expected exactly one volume source, got {}",
                        specified.join(", ")
                    ),
                );
            }
        }
    }
    errors
}

/// Checks the contents of each known source; returns the kinds set.
fn validate_sources(
    source: &BTreeMap<String, Value>,
    errors: &mut ValidationErrors,
) -> Vec<&'static str> {
    let mut specified = Vec::new();
    for kind in [
        "secret",
        "configMap",
        "projected",
        "emptyDir",
        "persistentVolumeClaim",
        "hostPath",
        "csi",
        "ephemeral",
        "image",
    ] {
        let Some(value) = source.get(kind).filter(|v| !v.is_null()) else {
            continue;
        };
        specified.push(kind);
        match kind {
            "secret" | "configMap" => check_items(value, "items", errors),
            "projected" => check_projected(value, errors),
            "emptyDir" => check_empty_dir(value, errors),
            "image" => errors.extend_under("image", check_image_volume(value)),
            _ => {}
        }
    }
    specified
}

fn check_items(source: &Value, prefix: &str, errors: &mut ValidationErrors) {
    let items = source.get("items").and_then(Value::as_array);
    for (j, item) in items.into_iter().flatten().enumerate() {
        let Some(item) = item.as_object() else {
            continue;
        };
        let at = format!("{prefix}[{j}]");
        report_mask(&KEY_TO_PATH, item, &at, errors);
        for field in ["key", "path"] {
            if !item.get(field).is_some_and(is_non_empty) {
                errors.add(format!("{at}.{field}"), "is required");
            }
        }
    }
}

fn check_projected(projected: &Value, errors: &mut ValidationErrors) {
    let sources = projected.get("sources").and_then(Value::as_array);
    for (j, source) in sources.into_iter().flatten().enumerate() {
        let Some(source) = source.as_object() else {
            continue;
        };
        let at = format!("projected[{j}]");
        report_mask(&VOLUME_PROJECTION, source, &at, errors);
        let kinds = ["secret", "configMap", "serviceAccountToken", "downwardAPI"];
        let set: Vec<&str> = kinds
            .into_iter()
            .filter(|k| source.get(*k).is_some_and(|v| !v.is_null()))
            .collect();
        for kind in &set {
            let value = &source[*kind];
            let inner = format!("{at}.{kind}");
            match *kind {
                "secret" | "configMap" => {
                    if !value.get("name").is_some_and(is_non_empty) {
                        errors.add(format!("{inner}.name"), "is required");
                    }
                    check_items(value, &format!("{inner}.items"), errors);
                }
                "serviceAccountToken" => {
                    if let Some(token) = value.as_object() {
                        report_mask(&SERVICE_ACCOUNT_TOKEN, token, &inner, errors);
                    }
                    if !value.get("path").is_some_and(is_non_empty) {
                        errors.add(format!("{inner}.path"), "is required");
                    }
                }
                _ => check_downward_api(value, &inner, errors),
            }
        }
        if set.len() != 1 {
            let named = if set.is_empty() {
                kinds.to_vec()
            } else {
                set.clone()
            };
            for kind in named {
                errors.add(
                    format!("{at}.{kind}"),
                    format!(
                        "expected exactly one of secret, configMap, serviceAccountToken, downwardAPI, got {}",
                        if set.is_empty() { "none".to_owned() } else { set.join(", ") }
                    ),
                );
            }
        }
    }
}

fn check_downward_api(value: &Value, at: &str, errors: &mut ValidationErrors) {
    let items = value.get("items").and_then(Value::as_array);
    for (k, item) in items.into_iter().flatten().enumerate() {
        let Some(item) = item.as_object() else {
            continue;
        };
        let at = format!("{at}.items[{k}]");
        report_mask(&DOWNWARD_API_FILE, item, &at, errors);
        let field_ref = item.get("fieldRef").is_some_and(|v| !v.is_null());
        let resource_ref = item.get("resourceFieldRef").is_some_and(|v| !v.is_null());
        if field_ref == resource_ref {
            let rule = if field_ref {
                "expected exactly one of fieldRef, resourceFieldRef, got both"
            } else {
                "expected exactly one of fieldRef, resourceFieldRef, got none"
            };
            errors.add(format!("{at}.fieldRef"), rule);
            errors.add(format!("{at}.resourceFieldRef"), rule);
        }
        if !item.get("path").is_some_and(is_non_empty) {
            errors.add(format!("{at}.path"), "is required");
        }
    }
}

fn check_empty_dir(value: &Value, errors: &mut ValidationErrors) {
    if let Some(medium) = value.get("medium").and_then(Value::as_str) {
        if !medium.is_empty() && medium != "Memory" {
            errors.add(
                "emptyDir.medium",
                format!("must be empty or \"Memory\", got {medium:?}"),
            );
        }
    }
    let size = value.get("sizeLimit");
    let negative = match size {
        Some(Value::String(s)) => s.trim_start().starts_with('-'),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f < 0.0),
        _ => false,
    };
    if negative {
        errors.add(
            "emptyDir.sizeLimit",
            format!(
                "must not be negative, got {}",
                size.map(Value::to_string).unwrap_or_default()
            ),
        );
    }
}

fn check_image_volume(value: &Value) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    if let Some(object) = value.as_object() {
        report_mask(&IMAGE_VOLUME, object, "", &mut errors);
    }
    if !value.get("reference").is_some_and(is_non_empty) {
        errors.add("reference", "is required");
    }
    if let Some(policy) = value.get("pullPolicy").and_then(Value::as_str) {
        if !matches!(policy, "" | "Always" | "IfNotPresent" | "Never") {
            errors.add(
                "pullPolicy",
                format!("must be Always, IfNotPresent or Never, got {policy:?}"),
            );
        }
    }
    errors
}

fn report_mask(
    mask: &Mask,
    object: &serde_json::Map<String, Value>,
    at: &str,
    errors: &mut ValidationErrors,
) {
    for key in mask.disallowed(object, &[]) {
        errors.add(crate::error::join_path(at, &key), NOT_ALLOWED);
    }
}

/// Whether the volume has a source of `kind` (`null` is none, as in Go).
fn has_source(volume: &Volume, kind: &str) -> bool {
    volume.source.get(kind).is_some_and(|v| !v.is_null())
}

fn is_non_empty(value: &Value) -> bool {
    value.as_str().is_some_and(|s| !s.is_empty())
}

/// Checks a container's `volumeMounts` against the pod's volumes (by name, the last of
/// a duplicated name winning, as in Knative). Paths are relative to the container.
pub(super) fn validate_volume_mounts(
    mounts: &[VolumeMount],
    volumes: &BTreeMap<&str, &Volume>,
    features: &FeaturesConfig,
) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    let mut seen_paths = BTreeSet::new();
    let propagation = features.podspec_volumes_mount_propagation;
    for (i, mount) in mounts.iter().enumerate() {
        let at = |field: &str| format!("volumeMounts[{i}].{field}");
        let also: &[&str] = if propagation.lets_field_through() {
            &["mountPropagation"]
        } else {
            &[]
        };
        for key in VOLUME_MOUNT.disallowed(&mount.extra, also) {
            errors.add(at(&key), NOT_ALLOWED);
        }
        let volume = volumes.get(mount.name.as_str());
        if volume.is_none() {
            errors.add(
                at("name"),
                format!("must name a volume of the pod, got {:?}", mount.name),
            );
        }
        check_mount_path(
            &mount.mount_path,
            &mut seen_paths,
            &at("mountPath"),
            &mut errors,
        );
        let has = |kind: &str| volume.is_some_and(|v| has_source(v, kind));
        let read_only = mount.read_only == Some(true);
        let writable = has("emptyDir") || has("persistentVolumeClaim") || has("ephemeral");
        if !writable && !read_only {
            errors.add(
                at("readOnly"),
                "must be true for a volume that is not emptyDir, persistentVolumeClaim or ephemeral",
            );
        }
        let pvc_read_only = volume
            .and_then(|v| v.source.get("persistentVolumeClaim"))
            .and_then(|p| p.get("readOnly"))
            == Some(&Value::Bool(true));
        if pvc_read_only && !read_only {
            errors.add(
                at("readOnly"),
                "must be true when the persistentVolumeClaim volume is read-only",
            );
        }
        if let Some(mode) = mount.extra.get("mountPropagation").filter(|v| !v.is_null()) {
            check_propagation(mode, propagation, &at("mountPropagation"), &mut errors);
        }
    }
    errors
}

fn check_mount_path(
    raw: &str,
    seen: &mut BTreeSet<String>,
    at: &str,
    errors: &mut ValidationErrors,
) {
    let clean = clean_path(raw);
    if raw.is_empty() {
        errors.add(at, "is required");
    } else if RESERVED_MOUNT_PATHS.contains(&clean.as_str()) {
        errors.add(at, format!("{clean:?} is a reserved path, got {raw:?}"));
    } else if !raw.starts_with('/') {
        errors.add(at, format!("must be an absolute path, got {raw:?}"));
    } else if seen.contains(&clean) {
        errors.add(at, format!("must be unique, got {raw:?} twice"));
    }
    seen.insert(clean);
}

fn check_propagation(mode: &Value, flag: Flag, at: &str, errors: &mut ValidationErrors) {
    if !flag.is_enabled() {
        errors.add(
            at,
            format!(
                "requires config-features kubernetes.podspec-volumes-mount-propagation to be enabled, got {}",
                flag.as_str()
            ),
        );
    }
    if !matches!(mode.as_str(), Some("None" | "HostToContainer")) {
        errors.add(at, format!("must be None or HostToContainer, got {mode}"));
    }
}

/// Mount paths Knative keeps for itself (after cleaning).
const RESERVED_MOUNT_PATHS: [&str; 3] = ["/", "/dev", "/dev/log"];

/// Go's `path.Clean`: lexical `.`/`..` and slash cleanup.
pub(super) fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::clean_path;

    #[test]
    fn clean_path_matches_go() {
        for (raw, clean) in [
            ("/dev/./log", "/dev/log"),
            ("/dev/", "/dev"),
            ("//dev", "/dev"),
            ("/a/../dev/log/", "/dev/log"),
            ("/..", "/"),
            ("a/../..", ".."),
            ("", "."),
            ("/data", "/data"),
        ] {
            assert_eq!(clean_path(raw), clean, "{raw}");
        }
    }
}
