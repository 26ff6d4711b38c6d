//! The API server's own checks of an object's metadata, which run between the mutating
//! and the validating webhooks and stop a request before Knative's validation sees it
//! (apimachinery's `ValidateObjectMetaAccessor` with `NameIsDNSSubdomain` on create,
//! `ValidateObjectMetaAccessorUpdate` on update, as the custom-resource strategy calls
//! them). Only the top-level metadata is checked: a template's metadata is Knative's.

use std::collections::BTreeMap;

use crate::api::meta::ObjectMeta;
use crate::api::naming::is_qualified_name;
use crate::error::ValidationErrors;

/// The largest total size of an object's annotation keys and values, in bytes.
const ANNOTATIONS_SIZE_LIMIT: usize = 256 * 1024;

/// The API server's name generator keeps at most this much of a `generateName`.
const MAX_GENERATED_PREFIX: usize = 63 - 5;

/// The name the API server gives an object created with only a `generateName`: the
/// prefix (cut to 58 characters) and 5 random characters, here fixed, since only the
/// name's validity matters to admission.
pub(crate) fn generated_name(meta: &ObjectMeta) -> Option<String> {
    let prefix = meta.generate_name.as_deref().filter(|g| !g.is_empty())?;
    if !meta.name().is_empty() {
        return None;
    }
    let cut = (0..=MAX_GENERATED_PREFIX.min(prefix.len()))
        .rev()
        .find(|i| prefix.is_char_boundary(*i))
        .unwrap_or(0);
    Some(format!("{}xxxxx", &prefix[..cut]))
}

/// The metadata checks of a create, on the object as named by the API server.
pub(crate) fn validate_create_meta(meta: &ObjectMeta) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    if let Some(prefix) = meta.generate_name.as_deref().filter(|g| !g.is_empty()) {
        if !is_dns1123_subdomain(&mask_trailing_dash(prefix)) {
            errors.add(
                "metadata.generateName",
                format!("must be the prefix of a DNS-1123 subdomain (lowercase letters, digits, '-' and '.'), got {prefix:?}"),
            );
        }
    }
    let name = meta.name();
    if name.is_empty() {
        errors.add("metadata.name", "is required (or metadata.generateName)");
    } else if !is_dns1123_subdomain(name) {
        errors.add(
            "metadata.name",
            format!("must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most 253 characters), got {name:?}"),
        );
    }
    let namespace = meta.namespace();
    if !namespace.is_empty() && !is_dns1123_label(namespace) {
        errors.add(
            "metadata.namespace",
            format!("must be a DNS-1123 label, got {namespace:?}"),
        );
    }
    if let Some(generation) = meta.generation.filter(|g| *g < 0) {
        errors.add(
            "metadata.generation",
            format!("must not be negative, got {generation}"),
        );
    }
    validate_common(meta, &mut errors);
    validate_finalizers(&meta.finalizers, &mut errors);
    errors
}

/// The stateless metadata checks of an update.
pub(crate) fn validate_update_meta(meta: &ObjectMeta) -> ValidationErrors {
    let mut errors = ValidationErrors::new();
    validate_common(meta, &mut errors);
    errors
}

fn validate_common(meta: &ObjectMeta, errors: &mut ValidationErrors) {
    validate_labels(&meta.labels, errors);
    validate_annotations(&meta.annotations, errors);
    validate_owner_references(meta, errors);
}

fn validate_labels(labels: &BTreeMap<String, String>, errors: &mut ValidationErrors) {
    for (key, value) in labels {
        if !is_qualified_name(key) {
            errors.add(
                format!("metadata.labels.{key}"),
                format!("a label key must be a qualified name ([prefix/]name), got {key:?}"),
            );
        }
        if !is_label_value(value) {
            errors.add(
                format!("metadata.labels.{key}"),
                format!("a label value must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric, got {value:?}"),
            );
        }
    }
}

fn validate_annotations(annotations: &BTreeMap<String, String>, errors: &mut ValidationErrors) {
    for key in annotations.keys() {
        // Kubernetes' rule: a qualified name, in any case.
        if !is_qualified_name(&key.to_lowercase()) {
            errors.add(
                format!("metadata.annotations.{key}"),
                format!("an annotation key must be a qualified name ([prefix/]name), got {key:?}"),
            );
        }
    }
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > ANNOTATIONS_SIZE_LIMIT {
        errors.add(
            "metadata.annotations",
            format!(
                "must total at most {ANNOTATIONS_SIZE_LIMIT} bytes of keys and values, got {size}"
            ),
        );
    }
}

fn validate_owner_references(meta: &ObjectMeta, errors: &mut ValidationErrors) {
    let mut controllers = 0;
    for owner in &meta.owner_references {
        let version = match owner.api_version.split('/').collect::<Vec<_>>()[..] {
            [version] | [_, version] => version,
            _ => "",
        };
        for (field, value) in [
            ("apiVersion", version),
            ("kind", owner.kind.as_str()),
            ("name", owner.name.as_str()),
            ("uid", owner.uid.as_str()),
        ] {
            if value.is_empty() {
                errors.add(
                    format!("metadata.ownerReferences.{field}"),
                    "must not be empty",
                );
            }
        }
        controllers += usize::from(owner.controller == Some(true));
    }
    if controllers > 1 {
        errors.add(
            "metadata.ownerReferences",
            format!("only one reference may be the controller, got {controllers}"),
        );
    }
}

fn validate_finalizers(finalizers: &[String], errors: &mut ValidationErrors) {
    for finalizer in finalizers {
        if !is_qualified_name(finalizer) {
            errors.add(
                "metadata.finalizers",
                format!("must be a qualified name, got {finalizer:?}"),
            );
        }
    }
    let has = |f: &str| finalizers.iter().any(|x| x == f);
    if has("orphan") && has("foregroundDeletion") {
        errors.add(
            "metadata.finalizers",
            "orphan and foregroundDeletion cannot both be set",
        );
    }
}

/// Kubernetes' `maskTrailingDash`: a trailing `-` and the character before it become `a`.
fn mask_trailing_dash(s: &str) -> String {
    let bytes = s.as_bytes();
    if bytes.len() > 1 && s.ends_with('-') {
        String::from_utf8_lossy(&[&bytes[..bytes.len() - 2], b"a"].concat()).into_owned()
    } else {
        s.to_owned()
    }
}

/// Kubernetes' `IsDNS1123Subdomain`: at most 253 characters of dot-separated
/// alphanumeric runs with inner `-` (each part unbounded but for the total).
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns1123_part)
}

fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && dns1123_part(s)
}

fn dns1123_part(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = s.as_bytes();
    !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|c| alnum(*c) || *c == b'-')
}

/// Kubernetes' `IsValidLabelValue`: empty, or at most 63 alphanumerics, `-`, `_`, `.`,
/// starting and ending alphanumeric.
fn is_label_value(s: &str) -> bool {
    s.is_empty() || (s.len() <= 63 && is_qualified_name(s) && !s.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_allow_long_parts_within_253() {
        assert!(is_dns1123_subdomain(&"a".repeat(100)));
        assert!(is_dns1123_subdomain("a.b-c.1"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
    }

    #[test]
    fn generated_names_cut_the_prefix_to_58() {
        let meta = ObjectMeta {
            generate_name: Some(format!("{}-", "a".repeat(63))),
            ..ObjectMeta::default()
        };
        let name = generated_name(&meta).unwrap();
        assert_eq!(name.len(), 63);
    }

    #[test]
    fn label_values_are_short_qualified_names_or_empty() {
        assert!(is_label_value(""));
        assert!(is_label_value("cluster-local"));
        assert!(!is_label_value("a/b"));
        assert!(!is_label_value("-a"));
        assert!(!is_label_value(&"a".repeat(64)));
    }
}
