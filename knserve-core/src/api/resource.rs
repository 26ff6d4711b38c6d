//! Any of the four resources, and reading them from multi-document YAML.

use serde::{Deserialize, Serialize};

use super::configuration::Configuration;
use super::meta::ObjectMeta;
use super::revision::Revision;
use super::route::Route;
use super::service::Service;

/// The API version of every resource here.
pub const API_VERSION: &str = "serving.knative.dev/v1";

/// A `serving.knative.dev/v1` object of any kind, told apart by `kind`.
///
/// Serializes as the inner object; deserializes by `kind` (and requires `apiVersion`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Resource {
    /// A `Service`.
    Service(Service),
    /// A `Configuration`.
    Configuration(Configuration),
    /// A `Revision`.
    Revision(Revision),
    /// A `Route`.
    Route(Route),
}

impl Resource {
    /// The kinds a document may have.
    pub const KINDS: [&'static str; 4] = [
        Service::KIND,
        Configuration::KIND,
        Revision::KIND,
        Route::KIND,
    ];

    /// The kind's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Service(_) => Service::KIND,
            Self::Configuration(_) => Configuration::KIND,
            Self::Revision(_) => Revision::KIND,
            Self::Route(_) => Route::KIND,
        }
    }

    /// The object's metadata.
    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Self::Service(o) => &o.metadata,
            Self::Configuration(o) => &o.metadata,
            Self::Revision(o) => &o.metadata,
            Self::Route(o) => &o.metadata,
        }
    }

    /// The object's name, or `""`.
    pub fn name(&self) -> &str {
        self.metadata().name()
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        let field = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or("");
        if field("apiVersion") != API_VERSION {
            return Err(D::Error::custom(ParseProblem::ApiVersion(
                field("apiVersion").to_owned(),
            )));
        }
        let kind = field("kind").to_owned();
        let result = match kind.as_str() {
            Service::KIND => serde_json::from_value(value).map(Self::Service),
            Configuration::KIND => serde_json::from_value(value).map(Self::Configuration),
            Revision::KIND => serde_json::from_value(value).map(Self::Revision),
            Route::KIND => serde_json::from_value(value).map(Self::Route),
            _ => return Err(D::Error::custom(ParseProblem::Kind(kind))),
        };
        result.map_err(D::Error::custom)
    }
}

/// Why a YAML document could not be read as a resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("documents[{document}] (line {line}): {problem}")]
pub struct ParseError {
    /// The document's index in the input, from 0 (empty documents count).
    pub document: usize,
    /// The line, from 1, where the document starts.
    pub line: usize,
    /// What is wrong.
    pub problem: ParseProblem,
}

/// What is wrong with one document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseProblem {
    /// Not YAML at all.
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
    /// A field of the wrong type; the message names its path and line.
    #[error("{0}")]
    Field(String),
}

/// Reads every resource in a multi-document YAML string (`---` separated), in order.
///
/// Empty documents are skipped. The first bad document fails the whole input, with an
/// error naming its index and what is wrong; field errors name the field's path and
/// line (`spec.template.spec.containerConcurrency: invalid type: …`).
pub fn parse_yaml(input: &str) -> Result<Vec<Resource>, ParseError> {
    let mut out = Vec::new();
    for (document, (line, text)) in split_documents(input).into_iter().enumerate() {
        let fail = |problem| ParseError {
            document,
            line,
            problem,
        };
        // Pad with the lines before the document so that serde's line numbers are absolute.
        let padded = format!("{}{text}", "\n".repeat(line - 1));
        if let Some(resource) = parse_document(&padded).map_err(fail)? {
            out.push(resource);
        }
    }
    Ok(out)
}

fn parse_document(text: &str) -> Result<Option<Resource>, ParseProblem> {
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| ParseProblem::Yaml(e.to_string()))?;
    let map = match value {
        serde_yaml_ng::Value::Null => return Ok(None),
        serde_yaml_ng::Value::Mapping(map) => map,
        _ => return Err(ParseProblem::NotAMapping),
    };
    let field = |key: &str| match map.get(key) {
        Some(serde_yaml_ng::Value::String(s)) => s.clone(),
        Some(other) => serde_yaml_ng::to_string(other)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        None => String::new(),
    };
    let api_version = field("apiVersion");
    if api_version != API_VERSION {
        return Err(ParseProblem::ApiVersion(api_version));
    }
    let field_error = |e: serde_yaml_ng::Error| ParseProblem::Field(e.to_string());
    let resource = match field("kind").as_str() {
        Service::KIND => Resource::Service(serde_yaml_ng::from_str(text).map_err(field_error)?),
        Configuration::KIND => {
            Resource::Configuration(serde_yaml_ng::from_str(text).map_err(field_error)?)
        }
        Revision::KIND => Resource::Revision(serde_yaml_ng::from_str(text).map_err(field_error)?),
        Route::KIND => Resource::Route(serde_yaml_ng::from_str(text).map_err(field_error)?),
        other => return Err(ParseProblem::Kind(other.to_owned())),
    };
    Ok(Some(resource))
}

/// Splits at `---` lines, returning each document's first line (from 1) and text.
fn split_documents(input: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut start = 1;
    let mut current = String::new();
    let mut seen_separator = false;
    for (i, line) in input.lines().enumerate() {
        let is_separator = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_separator {
            // Text before the first separator is a document only if it has content.
            if seen_separator || !is_blank_yaml(&current) {
                docs.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            seen_separator = true;
            start = i + 2;
            // `--- key: value` starts the document on the separator line.
            if let Some(rest) = line.get(4..) {
                current.push_str(rest);
                current.push('\n');
                start = i + 1;
            }
        } else if line == "..." {
            continue;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !seen_separator || !is_blank_yaml(&current) {
        docs.push((start, current));
    }
    docs
}

fn is_blank_yaml(text: &str) -> bool {
    text.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}
