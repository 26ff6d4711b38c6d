//! Validation errors that name the field and the rule it broke.

use std::fmt;

/// One broken rule: where it was broken and what the rule is.
///
/// Displays as `path: message`, e.g.
/// `spec.traffic[1].percent: must be between 0 and 100, got 120`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field path, in Knative's notation (`spec.template.spec.containers[0].ports`).
    pub path: String,
    /// The rule the value broke, with the offending value where it helps.
    pub message: String,
    /// For [`FieldError::invalid_value`]: the offending value, displayed Knative's way.
    pub invalid_value: Option<String>,
}

impl FieldError {
    /// A new error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            invalid_value: None,
        }
    }

    /// Knative's `apis.ErrInvalidValue(value, path, details…)`: displays as
    /// `invalid value: <value>: <path>` with the details on the following lines, the form
    /// Knative's webhook answers and clients match (its conformance test of
    /// `serviceAccountName` looks for `foo@bar.baz: spec.template.spec.serviceAccountName`
    /// followed by apimachinery's DNS-1123 message).
    pub fn invalid_value(
        value: impl Into<String>,
        path: impl Into<String>,
        details: impl Into<String>,
    ) -> Self {
        Self {
            invalid_value: Some(value.into()),
            ..Self::new(path, details)
        }
    }

    /// The same error with `prefix.` put before its path (`""` paths become `prefix`).
    #[must_use]
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = join_path(prefix, &self.path);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(value) = &self.invalid_value {
            write!(f, "invalid value: {value}: {}", self.path)?;
            if !self.message.is_empty() {
                write!(f, "\n{}", self.message)?;
            }
            return Ok(());
        }
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// Joins two field paths, handling empty parts and index suffixes (`[0]`).
pub fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => prefix.to_owned(),
        _ if rest.starts_with('[') => format!("{prefix}{rest}"),
        _ => format!("{prefix}.{rest}"),
    }
}

/// Every rule an object broke, reported together as Knative's webhook does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    errors: Vec<FieldError>,
}

impl ValidationErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one error.
    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    /// Records an error at `path`.
    pub fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push(FieldError::new(path, message));
    }

    /// Records every error of `other`, each put under `prefix`.
    pub fn extend_under(&mut self, prefix: &str, other: impl IntoIterator<Item = FieldError>) {
        self.errors
            .extend(other.into_iter().map(|e| e.under(prefix)));
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The recorded errors, in the order found.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// `Ok(value)` when nothing was recorded, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

impl IntoIterator for ValidationErrors {
    type Item = FieldError;
    type IntoIter = std::vec::IntoIter<FieldError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl From<FieldError> for ValidationErrors {
    fn from(error: FieldError) -> Self {
        Self {
            errors: vec![error],
        }
    }
}

impl Extend<FieldError> for ValidationErrors {
    fn extend<I: IntoIterator<Item = FieldError>>(&mut self, iter: I) {
        self.errors.extend(iter);
    }
}

/// A config-map value that broke its rule; the whole map is rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{map}: {key}: {rule}, got {value:?}")]
pub struct InvalidConfig {
    /// The config map (`config-autoscaler`).
    pub map: &'static str,
    /// The key whose value is wrong (`stable-window`).
    pub key: String,
    /// The value as written.
    pub value: String,
    /// The rule it broke.
    pub rule: String,
}

impl InvalidConfig {
    /// `key` of config map `map` holds `value`, which breaks `rule`.
    pub fn new(
        map: &'static str,
        key: impl Into<String>,
        value: impl Into<String>,
        rule: impl Into<String>,
    ) -> Self {
        Self {
            map,
            key: key.into(),
            value: value.into(),
            rule: rule.into(),
        }
    }
}
