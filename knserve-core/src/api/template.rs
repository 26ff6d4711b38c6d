//! The small subset of Go's `text/template` that Knative's name templates use.
//!
//! Supported actions: `{{.Name}}`, `{{.Namespace}}`, `{{.Domain}}`, `{{.Tag}}`,
//! `{{index .Annotations "key"}}` and `{{index .Labels "key"}}`, with optional spaces
//! inside the braces. Anything else is rejected with [`TemplateError`] rather than
//! rendered wrongly.

use std::collections::BTreeMap;

/// The data a template is rendered against; a `None` field is absent, as in Go where
/// rendering a field the data type lacks is an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct TemplateValues<'a> {
    /// `.Name`: the route (or, in a tag template, route) name.
    pub name: Option<&'a str>,
    /// `.Namespace`.
    pub namespace: Option<&'a str>,
    /// `.Domain`: the domain chosen from `config-domain`.
    pub domain: Option<&'a str>,
    /// `.Tag`: the traffic tag (tag template only).
    pub tag: Option<&'a str>,
    /// `.Annotations`.
    pub annotations: Option<&'a BTreeMap<String, String>>,
    /// `.Labels`.
    pub labels: Option<&'a BTreeMap<String, String>>,
}

/// Why a template could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `{{` without its `}}`.
    #[error("template {0:?} has an unclosed action")]
    Unclosed(String),
    /// An action outside the supported subset.
    #[error(
        "unsupported template action {{{{{0}}}}}: only {{{{.Name}}}}, {{{{.Namespace}}}}, {{{{.Domain}}}}, {{{{.Tag}}}} and {{{{index .Annotations|.Labels \"key\"}}}} are supported"
    )]
    Unsupported(String),
    /// A field the data does not have (e.g. `.Tag` in a domain template).
    #[error("template field .{0} is not available here")]
    Missing(String),
}

/// Renders `template` against `values`.
///
/// A missing annotation or label renders as the empty string, as Go's `index` does on a
/// map.
pub fn render_template(
    template: &str,
    values: &TemplateValues<'_>,
) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| TemplateError::Unclosed(template.to_owned()))?;
        out.push_str(action(after[..end].trim(), values)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn action<'a>(action: &str, values: &TemplateValues<'a>) -> Result<&'a str, TemplateError> {
    let missing = |field: &str| TemplateError::Missing(field.to_owned());
    match action {
        ".Name" => values.name.ok_or_else(|| missing("Name")),
        ".Namespace" => values.namespace.ok_or_else(|| missing("Namespace")),
        ".Domain" => values.domain.ok_or_else(|| missing("Domain")),
        ".Tag" => values.tag.ok_or_else(|| missing("Tag")),
        _ => index(action, values),
    }
}

fn index<'a>(action: &str, values: &TemplateValues<'a>) -> Result<&'a str, TemplateError> {
    let unsupported = || TemplateError::Unsupported(action.to_owned());
    let mut words = action.split_whitespace();
    if words.next() != Some("index") {
        return Err(unsupported());
    }
    let (field, map) = match words.next() {
        Some(".Annotations") => ("Annotations", values.annotations),
        Some(".Labels") => ("Labels", values.labels),
        _ => return Err(unsupported()),
    };
    let key = words
        .next()
        .and_then(|k| k.strip_prefix('"')?.strip_suffix('"'))
        .filter(|k| !k.contains(['"', '\\']))
        .ok_or_else(unsupported)?;
    if words.next().is_some() {
        return Err(unsupported());
    }
    let map = map.ok_or_else(|| TemplateError::Missing(field.to_owned()))?;
    Ok(map.get(key).map_or("", String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> TemplateValues<'static> {
        TemplateValues {
            name: Some("hello"),
            namespace: Some("default"),
            domain: Some("example.com"),
            ..TemplateValues::default()
        }
    }

    #[test]
    fn renders_the_default_domain_template() {
        let out = render_template("{{.Name}}.{{.Namespace}}.{{.Domain}}", &values());
        assert_eq!(out.unwrap(), "hello.default.example.com");
    }

    #[test]
    fn allows_spaces_inside_actions() {
        let out = render_template("{{ .Name }}-x", &values());
        assert_eq!(out.unwrap(), "hello-x");
    }

    #[test]
    fn indexes_annotations_and_renders_missing_keys_empty() {
        let annotations = BTreeMap::from([("team".to_owned(), "blue".to_owned())]);
        let labels = BTreeMap::new();
        let v = TemplateValues {
            annotations: Some(&annotations),
            labels: Some(&labels),
            ..values()
        };
        let out = render_template(
            r#"{{index .Annotations "team"}}-{{index .Labels "app"}}{{.Name}}"#,
            &v,
        );
        assert_eq!(out.unwrap(), "blue-hello");
    }

    #[test]
    fn rejects_pipelines_and_functions() {
        let err = render_template("{{.Name | upper}}", &values()).unwrap_err();
        assert!(matches!(err, TemplateError::Unsupported(_)), "{err}");
        let err = render_template("{{printf \"%s\" .Name}}", &values()).unwrap_err();
        assert!(matches!(err, TemplateError::Unsupported(_)), "{err}");
    }

    #[test]
    fn rejects_a_field_the_data_lacks() {
        let err = render_template("{{.Tag}}-{{.Name}}", &values()).unwrap_err();
        assert_eq!(err, TemplateError::Missing("Tag".into()));
    }

    #[test]
    fn rejects_an_unclosed_action() {
        let err = render_template("{{.Name", &values()).unwrap_err();
        assert!(matches!(err, TemplateError::Unclosed(_)));
    }
}
