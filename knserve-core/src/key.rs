//! [`RevisionKey`]: how the request path and the autoscaler name a revision.

use std::{fmt, sync::Arc};

/// A revision's namespace and name, cheap to clone (shared strings), ordered by
/// namespace then name, and printed `namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RevisionKey {
    /// The revision's namespace.
    pub namespace: Arc<str>,
    /// The revision's name (`hello-00001`).
    pub name: Arc<str>,
}

impl RevisionKey {
    /// The key of revision `name` in `namespace`.
    pub fn new(namespace: impl Into<Arc<str>>, name: impl Into<Arc<str>>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for RevisionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_prints_namespace_slash_name() {
        assert_eq!(
            RevisionKey::new("default", "hello-00001").to_string(),
            "default/hello-00001"
        );
    }
}
