//! Reading manifests as Kubernetes reads them.
//!
//! Knative's verdict on a manifest starts with the API server's decode, and so does
//! knserve's: sigs.k8s.io/yaml's strict YAML-to-JSON conversion ([`yaml_to_json`]: YAML
//! 1.1 scalars as goyaml.v2 resolves them, anchors, merge keys, duplicate keys refused),
//! then sigs.k8s.io/json's strict decode into the typed object ([`decode_json`]: unknown
//! fields, wrong types and bad quantities refused). The field table the strict decode
//! checks against is generated from Knative's and Kubernetes' Go types
//! (`scripts/decode-schema`), so that it has exactly their fields.
//!
//! Every error is a [`ParseProblem`] naming the field's path and line.

mod check;
mod document;
mod error;
mod scalar;
mod schema;
mod yaml;

#[cfg(test)]
mod tests;

pub use self::document::{MAX_DOCUMENTS, Manifest, decode_json, parse_manifests, parse_yaml};
pub use self::error::{InputTooLarge, MAX_INPUT_BYTES, ParseError, ParseProblem};
pub(crate) use self::scalar::base64_std;
pub use self::yaml::{MAX_DEPTH, YamlJson, yaml_to_json};
