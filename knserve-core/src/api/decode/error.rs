//! Why a document could not be read.

use std::fmt;

/// The most bytes one manifest input may have: 4 MiB. [`parse_yaml`](super::parse_yaml)
/// takes any size; what reads input from others (an admin API, a CLI reading a file)
/// refuses more with [`InputTooLarge`] before reading on.
pub const MAX_INPUT_BYTES: usize = 4 << 20;

/// An input larger than [`MAX_INPUT_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("larger than the limit of 4 MiB ({MAX_INPUT_BYTES} bytes) for one input")]
pub struct InputTooLarge;

/// Why a YAML document could not be read as a resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// The document's index in the input, from 0 (empty documents count).
    pub document: usize,
    /// The line, from 1, where the document starts.
    pub line: usize,
    /// What is wrong (the first problem, when there are several).
    pub problem: ParseProblem,
    /// The document's other problems, in the order Kubernetes reports them (several
    /// unknown fields are reported together).
    pub more: Vec<ParseProblem>,
}

impl ParseError {
    /// Every problem of the document: [`Self::problem`], then [`Self::more`].
    pub fn problems(&self) -> impl Iterator<Item = &ParseProblem> {
        std::iter::once(&self.problem).chain(&self.more)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "documents[{}] (line {}): ", self.document, self.line)?;
        for (i, problem) in self.problems().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// What is wrong with one document.
///
/// The variants with a `path` name the field as Kubernetes does, with list indices
/// (`spec.template.spec.containers[0].resources.limits.cpu`), and the line (from 1, in
/// the whole input) where it was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseProblem {
    /// Not YAML, or YAML that has no JSON form (a key written as a list, an alias of
    /// itself, excessive aliasing or nesting); the message names the line.
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// Not a mapping (e.g. a bare list or string).
    #[error("expected a mapping with apiVersion and kind")]
    NotAMapping,
    /// `apiVersion` missing or not `serving.knative.dev/v1`.
    #[error("apiVersion: must be \"serving.knative.dev/v1\", got {0:?}")]
    ApiVersion(String),
    /// `kind` missing or not one of the four.
    #[error("kind: must be one of Service, Configuration, Revision, Route, got {0:?}")]
    Kind(String),
    /// A key written twice in one mapping (or written where a merge `<<` set it).
    #[error("{path}: duplicate key (line {line})")]
    DuplicateKey {
        /// The key's path.
        path: String,
        /// Where the second one was written.
        line: usize,
    },
    /// A field the object's type does not have (names are case-sensitive).
    #[error("{path}: unknown field (line {line})")]
    UnknownField {
        /// The field's path.
        path: String,
        /// Where it was written.
        line: usize,
    },
    /// More documents in one input than [`MAX_DOCUMENTS`](super::MAX_DOCUMENTS); the
    /// error names the first document past the limit.
    #[error("too many documents: at most {limit} in one input")]
    TooManyDocuments {
        /// The limit.
        limit: usize,
    },
    /// A value of the wrong type, out of range, or refused by its type (a quantity).
    #[error("{path}: {message} (line {line})")]
    Field {
        /// The field's path.
        path: String,
        /// Where it was written.
        line: usize,
        /// The rule it breaks.
        message: String,
    },
}

impl ParseProblem {
    /// The field path the problem names, if it names one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::DuplicateKey { path, .. }
            | Self::UnknownField { path, .. }
            | Self::Field { path, .. } => Some(path),
            Self::ApiVersion(_) => Some("apiVersion"),
            Self::Kind(_) => Some("kind"),
            Self::Yaml(_) | Self::NotAMapping | Self::TooManyDocuments { .. } => None,
        }
    }
}
