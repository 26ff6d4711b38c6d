//! Multi-document input: splitting at `---` and reading each document as a resource.

use serde_json::Value;

use super::check::check;
use super::error::{ParseError, ParseProblem};
use super::schema;
use super::yaml::{YamlJson, yaml_to_json_at};
use crate::api::{API_VERSION, Configuration, EnvObject, Resource, Revision, Route, Service};

/// The most documents one input may hold (empty ones count).
pub const MAX_DOCUMENTS: usize = 1000;

/// Reads every resource in a multi-document YAML string (`---` separated), in order, as
/// `kubectl apply` and the API server read it.
///
/// Each document is converted to JSON with YAML 1.1's scalars (`yes` is a boolean, `010`
/// is 8) and duplicate keys refused, then decoded strictly into Knative's types of its
/// `kind`: an unknown or misspelt field, a value of the wrong type or a bad quantity is
/// refused, naming its path and line. Empty documents are skipped. The first bad document
/// fails the whole input, with an error naming its index.
///
/// The cost is linear in the input: more than [`MAX_DOCUMENTS`] documents are refused
/// before any is read, and a document nested deeper than
/// [`MAX_DEPTH`](super::MAX_DEPTH) levels is refused while it is read, before it is
/// converted.
pub fn parse_yaml(input: &str) -> Result<Vec<Resource>, ParseError> {
    parse_each(input, decode_json)
}

/// One document of [`parse_manifests`].
#[derive(Debug, Clone)]
pub enum Manifest {
    /// A `serving.knative.dev/v1` resource (boxed, as both variants are large).
    Serving(Box<Resource>),
    /// A `v1` ConfigMap or Secret.
    Env(Box<EnvObject>),
}

/// [`parse_yaml`] that also accepts `v1` ConfigMaps and Secrets, which a container's
/// environment reads; those are decoded strictly against their own fields.
pub fn parse_manifests(input: &str) -> Result<Vec<Manifest>, ParseError> {
    parse_each(input, |doc| {
        if EnvObject::is_env_object(&doc.value) {
            EnvObject::from_json(doc.value.clone())
                .map(|o| Manifest::Env(Box::new(o)))
                .map_err(|message| {
                    vec![ParseProblem::Field {
                        path: String::new(),
                        line: 1,
                        message,
                    }]
                })
        } else {
            decode_json(doc).map(|r| Manifest::Serving(Box::new(r)))
        }
    })
}

/// Splits `input` and decodes each non-empty document with `decode`.
fn parse_each<T>(
    input: &str,
    decode: impl Fn(&YamlJson) -> Result<T, Vec<ParseProblem>>,
) -> Result<Vec<T>, ParseError> {
    let documents = split_documents(input);
    if let Some(&(line, _)) = documents.get(MAX_DOCUMENTS) {
        return Err(ParseError {
            document: MAX_DOCUMENTS,
            line,
            problem: ParseProblem::TooManyDocuments {
                limit: MAX_DOCUMENTS,
            },
            more: Vec::new(),
        });
    }
    let mut out = Vec::new();
    for (document, (line, text)) in documents.into_iter().enumerate() {
        let fail = |mut problems: Vec<ParseProblem>| {
            let problem = problems.remove(0);
            ParseError {
                document,
                line,
                problem,
                more: problems,
            }
        };
        if let Some(doc) = yaml_to_json_at(&text, line).map_err(|p| fail(vec![p]))? {
            out.push(decode(&doc).map_err(fail)?);
        }
    }
    Ok(out)
}

/// Decodes a converted document into the resource its `apiVersion` and `kind` name,
/// strictly (see [`parse_yaml`]); returns every problem, as Kubernetes reports them.
pub fn decode_json(doc: &YamlJson) -> Result<Resource, Vec<ParseProblem>> {
    let Value::Object(map) = &doc.value else {
        return Err(vec![ParseProblem::NotAMapping]);
    };
    let text = |key: &str| match map.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let api_version = text("apiVersion");
    if api_version != API_VERSION {
        return Err(vec![ParseProblem::ApiVersion(api_version)]);
    }
    let kind = text("kind");
    let root = match kind.as_str() {
        Service::KIND => schema::SERVICE,
        Configuration::KIND => schema::CONFIGURATION,
        Revision::KIND => schema::REVISION,
        Route::KIND => schema::ROUTE,
        _ => return Err(vec![ParseProblem::Kind(kind)]),
    };
    let checked = check(doc, root)?;
    let model = |e: serde_json::Error| {
        vec![ParseProblem::Field {
            path: String::new(),
            line: 1,
            message: e.to_string(),
        }]
    };
    Ok(match kind.as_str() {
        Service::KIND => Resource::Service(serde_json::from_value(checked).map_err(model)?),
        Configuration::KIND => {
            Resource::Configuration(serde_json::from_value(checked).map_err(model)?)
        }
        Revision::KIND => Resource::Revision(serde_json::from_value(checked).map_err(model)?),
        _ => Resource::Route(serde_json::from_value(checked).map_err(model)?),
    })
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
