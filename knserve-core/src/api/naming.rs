//! Object names: Kubernetes' name rules, revision names and `kmeta.ChildName` (§1.3).

use md5::{Digest, Md5};

use super::revision::RevisionTemplateSpec;
use crate::error::FieldError;

/// The longest object name Knative creates (a DNS label).
pub const MAX_NAME_LENGTH: usize = 63;
const MD5_HEX_LENGTH: usize = 32;

/// A DNS-1035 label: lowercase letters, digits and `-`, starting with a letter and
/// ending with a letter or digit, at most 63 characters.
pub fn is_dns1035_label(s: &str) -> bool {
    s.len() <= MAX_NAME_LENGTH && s.starts_with(|c: char| c.is_ascii_lowercase()) && label_chars(s)
}

/// A DNS-1123 label: like DNS-1035 but may also start with a digit.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= MAX_NAME_LENGTH
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && label_chars(s)
}

/// A DNS-1123 subdomain: DNS-1123 labels joined by `.`, at most 253 characters.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn label_chars(s: &str) -> bool {
    !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A Kubernetes qualified name (`name` or `prefix/name`): the name part at most 63
/// alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric; the prefix a
/// DNS-1123 subdomain.
pub fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, s),
    };
    let name_ok = !name.is_empty()
        && name.len() <= MAX_NAME_LENGTH
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    name_ok && prefix.is_none_or(|p| !p.is_empty() && is_dns1123_subdomain(p))
}

/// The rule broken by `name` as a DNS-1035 label, if any.
pub fn dns1035_violation(name: &str) -> Option<String> {
    if name.is_empty() {
        Some("must not be empty".to_owned())
    } else if name.len() > MAX_NAME_LENGTH {
        Some(format!(
            "must be at most {MAX_NAME_LENGTH} characters, got {} ({name:?})",
            name.len()
        ))
    } else if !is_dns1035_label(name) {
        Some(format!(
            "must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter and ending with a letter or digit), got {name:?}"
        ))
    } else {
        None
    }
}

/// Knative's `kmeta.ChildName`: `parent + suffix`, or when longer than 63 characters,
/// the parent cut short with the MD5 hex of the parent inserted so the total is 63.
///
/// When the suffix alone leaves no room for the hash, the result is the first 31
/// characters of the parent followed by the MD5 hex of `parent + suffix`.
pub fn child_name(parent: &str, suffix: &str) -> String {
    if parent.len() + suffix.len() <= MAX_NAME_LENGTH {
        return format!("{parent}{suffix}");
    }
    let head = MAX_NAME_LENGTH - MD5_HEX_LENGTH;
    if suffix.len() >= head {
        let hash = md5_hex(&format!("{parent}{suffix}"));
        return format!("{}{hash}", prefix(parent, head));
    }
    let hash = md5_hex(parent);
    format!("{}{hash}{suffix}", prefix(parent, head - suffix.len()))
}

/// The first `len` bytes of `s`, cut back to a character boundary (names are ASCII, but
/// this must not panic on anything else).
fn prefix(s: &str, len: usize) -> &str {
    let mut end = len.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The name Knative gives the revision of `configuration` at `generation`:
/// `<configuration>-<generation, 5 digits>` (`hello-00001`), shortened by [`child_name`].
pub fn revision_name(configuration: &str, generation: i64) -> String {
    child_name(configuration, &format!("-{generation:05}"))
}

/// The name of the revision a Configuration's template stamps out: the BYO
/// `spec.template.metadata.name` when set, else [`revision_name`].
pub fn template_revision_name(
    configuration: &str,
    generation: i64,
    template: &RevisionTemplateSpec,
) -> String {
    match template.metadata.name.as_deref() {
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => revision_name(configuration, generation),
    }
}

/// The rule broken by `prefix` as a `generateName`, if any: Kubernetes'
/// `NameIsDNS1035Label(prefix, true)`, which replaces a trailing `-` **and the character
/// before it** by `a` before checking the label (so `1-` passes and `a_-` does too). An
/// empty prefix is unset and passes.
pub fn dns1035_prefix_violation(prefix: &str) -> Option<String> {
    let bytes = prefix.as_bytes();
    let masked: Vec<u8> = if bytes.len() > 1 && prefix.ends_with('-') {
        [&bytes[..bytes.len() - 2], b"a"].concat()
    } else {
        bytes.to_vec()
    };
    if prefix.is_empty() || std::str::from_utf8(&masked).is_ok_and(is_dns1035_label) {
        return None;
    }
    Some(format!(
        "must be the prefix of a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, at most 63 characters), got {prefix:?}"
    ))
}

/// Checks a revision template's BYO name and generateName against its parent, as
/// Knative's `validateRevisionName`: a `generateName` must be a DNS-1035 prefix; a
/// `name` a DNS-1035 label starting with `<parent>-`, and not set while the parent has
/// only a `generateName`. At most one problem, as in Knative.
///
/// Paths are relative to the template (`metadata.name`).
pub fn check_byo_name(
    name: &str,
    generate_name: &str,
    parent: &super::ObjectMeta,
) -> Option<FieldError> {
    if let Some(rule) = dns1035_prefix_violation(generate_name) {
        return Some(FieldError::new("metadata.generateName", rule));
    }
    if name.is_empty() {
        return None;
    }
    if let Some(rule) = dns1035_violation(name) {
        return Some(FieldError::new("metadata.name", rule));
    }
    let parent_name = parent.name();
    if parent_name.is_empty()
        && parent
            .generate_name
            .as_deref()
            .is_some_and(|g| !g.is_empty())
    {
        return Some(FieldError::new(
            "metadata.name",
            "must not be set when the parent has only a generateName",
        ));
    }
    let prefix = format!("{parent_name}-");
    (!name.starts_with(&prefix)).then(|| {
        FieldError::new(
            "metadata.name",
            format!("must start with the parent's name and a dash, {prefix:?}, got {name:?}"),
        )
    })
}

/// Checks that an update of a template with a BYO name changed the name when it changed
/// anything else, since a revision of that name already exists with the old template.
///
/// The error's path is relative to the template (`metadata.name`).
pub fn check_byo_name_changed(
    old: &RevisionTemplateSpec,
    new: &RevisionTemplateSpec,
) -> Option<FieldError> {
    let name = new.metadata.name.as_deref().filter(|n| !n.is_empty())?;
    if old.metadata.name.as_deref() != Some(name) || old == new {
        return None;
    }
    Some(FieldError::new(
        "metadata.name",
        format!(
            "must change when the template changes: a revision named {name:?} already has the old template"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_joined_unchanged() {
        assert_eq!(child_name("hello", "-00001"), "hello-00001");
    }

    #[test]
    fn long_names_are_exactly_63_characters_with_the_parents_hash() {
        let parent = "a".repeat(70);
        let name = child_name(&parent, "-00001");
        assert_eq!(name.len(), 63, "{name}");
        assert!(name.ends_with("-00001"));
        assert!(name.contains(&md5_hex(&parent)));
        assert!(name.starts_with(&"a".repeat(63 - 32 - 6)));
    }

    #[test]
    fn names_do_not_panic_on_multibyte_characters() {
        let parent = "é".repeat(40);
        assert!(child_name(&parent, "-00001").ends_with("-00001"));
    }

    #[test]
    fn dns1035_rejects_leading_digits_and_trailing_dashes() {
        assert!(is_dns1035_label("hello-1"));
        assert!(!is_dns1035_label("1hello"));
        assert!(!is_dns1035_label("hello-"));
        assert!(!is_dns1035_label("Hello"));
        assert!(!is_dns1035_label(""));
        assert!(is_dns1123_label("1hello"));
    }

    #[test]
    fn qualified_names_accept_a_subdomain_prefix() {
        assert!(is_qualified_name("hello-00001"));
        assert!(is_qualified_name("example.com/hello"));
        assert!(!is_qualified_name("/hello"));
        assert!(!is_qualified_name("hello_"));
    }
}
