//! The admission decision: pure, from an `AdmissionRequest` to an `AdmissionResponse`.
//!
//! Both endpoints go through knserve-core's admission entry point, in Knative's order:
//! `/defaulting` is [`Resource::set_defaults_within`], `/validation` is
//! [`Resource::validate_within`] (the API server runs the mutating webhook before the
//! validating one, so `/validation` sees defaulted objects, as in Knative).
//!
//! Choices where Knative leaves room:
//! - Every denial carries HTTP code 400 (`BadRequest`), including an object that does
//!   not decode and a kind this webhook does not serve.
//! - `creator`/`lastModifier` annotations are recorded as Knative's `SetUserInfo` does:
//!   on Services, and on Configurations and Routes no Service owns; on UPDATE
//!   `lastModifier` changes only when the defaulted spec changed.

use std::collections::BTreeMap;

use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use kube::core::response::StatusSummary;
use kube::core::{DynamicObject, Status};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use knserve_core::api::decode::{YamlJson, decode_json};
use knserve_core::api::{
    Configuration, ParseProblem, Resource, Revision, Route, Service, ValidationConfig,
};
use knserve_core::autoscaler::unknown_annotations;
use knserve_core::error::{FieldError, ValidationErrors};

use super::decode::{DecodeError, decode};
use super::patch::{PatchOp, diff};

/// The API group this webhook admits.
pub const GROUP: &str = "serving.knative.dev";

/// Which of the webhook's two jobs a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewKind {
    /// `/defaulting`: answer with a JSON Patch that applies the defaults.
    Mutate,
    /// `/validation`: allow or deny, with warnings.
    Validate,
}

/// Why a request was denied; the message is what the user sees.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Denied {
    /// The object broke admission rules; one `path: rule` line each.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The object does not have the shape of its kind.
    #[error("{which} {kind} does not decode: {error}")]
    Decode {
        /// `object` or `oldObject`.
        which: &'static str,
        /// The kind it was decoded as.
        kind: &'static str,
        /// Where and how it broke.
        error: DecodeError,
    },
    /// A CREATE or UPDATE without its object.
    #[error("the request carries no {0}")]
    Missing(&'static str),
    /// A kind outside `serving.knative.dev/{Service,Configuration,Revision,Route}`.
    #[error("unhandled kind {0}")]
    UnsupportedKind(String),
}

/// Decides one admission request.
///
/// DELETE and CONNECT are allowed untouched. CREATE and UPDATE of the four
/// `serving.knative.dev` kinds are defaulted ([`ReviewKind::Mutate`], a JSON Patch that
/// is empty once the object is defaulted) or validated ([`ReviewKind::Validate`], with
/// `validate_update` against `oldObject` on UPDATE and warnings for unknown
/// `autoscaling.knative.dev/*` annotations).
pub fn review(
    request: &AdmissionRequest<DynamicObject>,
    config: &ValidationConfig,
    kind: ReviewKind,
) -> AdmissionResponse {
    let response = AdmissionResponse::from(request);
    if !matches!(request.operation, Operation::Create | Operation::Update) {
        return response;
    }
    let outcome = match (request.kind.group.as_str(), request.kind.kind.as_str()) {
        (GROUP, "Service") => admit::<Service>(request, config, kind),
        (GROUP, "Configuration") => admit::<Configuration>(request, config, kind),
        (GROUP, "Revision") => admit::<Revision>(request, config, kind),
        (GROUP, "Route") => admit::<Route>(request, config, kind),
        _ => Err(Denied::UnsupportedKind(format!(
            "{}/{}",
            request.kind.group, request.kind.kind
        ))),
    };
    match outcome {
        Ok(verdict) => allow(response, verdict),
        Err(denied) => deny(response, &denied),
    }
}

/// The denial as Knative sends it: `allowed: false`, status Failure, code 400.
pub fn deny(mut response: AdmissionResponse, denied: &Denied) -> AdmissionResponse {
    response.allowed = false;
    response.result = Status::failure(&denied.to_string(), "BadRequest").with_code(400);
    response.result.status = Some(StatusSummary::Failure);
    response
}

fn allow(response: AdmissionResponse, verdict: Verdict) -> AdmissionResponse {
    let mut response = response;
    if !verdict.warnings.is_empty() {
        response.warnings = Some(verdict.warnings);
    }
    if verdict.patch.is_empty() {
        return response;
    }
    let Ok(ops) = serde_json::to_value(&verdict.patch) else {
        return response;
    };
    // The patch type is inferred from `with_patch`; it deserializes from RFC 6902 JSON.
    match serde_json::from_value(ops).map(|patch| response.clone().with_patch(patch)) {
        Ok(Ok(patched)) => patched,
        _ => response,
    }
}

/// What an allowed request gets back.
#[derive(Debug, Default)]
struct Verdict {
    patch: Vec<PatchOp>,
    warnings: Vec<String>,
}

/// What the webhook needs of each kind.
trait Admitted: Serialize + DeserializeOwned {
    const KIND: &'static str;
    fn into_resource(self) -> Resource;
    /// Problems worth telling the user that do not deny the request.
    fn warnings(&self) -> Vec<FieldError>;
}

fn under(prefix: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors.into_iter().map(|e| e.under(prefix)).collect()
}

impl Admitted for Service {
    const KIND: &'static str = "Service";
    fn into_resource(self) -> Resource {
        Resource::Service(self)
    }
    fn warnings(&self) -> Vec<FieldError> {
        let template = &self.spec.template.metadata.annotations;
        under("spec.template.metadata", unknown_annotations(template))
    }
}

impl Admitted for Configuration {
    const KIND: &'static str = "Configuration";
    fn into_resource(self) -> Resource {
        Resource::Configuration(self)
    }
    fn warnings(&self) -> Vec<FieldError> {
        let template = &self.spec.template.metadata.annotations;
        under("spec.template.metadata", unknown_annotations(template))
    }
}

impl Admitted for Revision {
    const KIND: &'static str = "Revision";
    fn into_resource(self) -> Resource {
        Resource::Revision(self)
    }
    fn warnings(&self) -> Vec<FieldError> {
        under("metadata", unknown_annotations(&self.metadata.annotations))
    }
}

impl Admitted for Route {
    const KIND: &'static str = "Route";
    fn into_resource(self) -> Resource {
        Resource::Route(self)
    }
    fn warnings(&self) -> Vec<FieldError> {
        Vec::new()
    }
}

fn admit<T: Admitted>(
    request: &AdmissionRequest<DynamicObject>,
    config: &ValidationConfig,
    kind: ReviewKind,
) -> Result<Verdict, Denied> {
    let object = as_json(request.object.as_ref(), "object")?;
    let old = match request.operation {
        Operation::Update => Some(as_json(request.old_object.as_ref(), "oldObject")?),
        _ => None,
    };
    let old: Option<Resource> = old
        .map(|o| decode_as::<T>(&o, "oldObject").map(T::into_resource))
        .transpose()?;
    match kind {
        ReviewKind::Mutate => Ok(Verdict {
            patch: defaulting_patch::<T>(&object, old.as_ref(), request, config)?,
            warnings: Vec::new(),
        }),
        ReviewKind::Validate => {
            let typed: T = decode_as(&object, "object")?;
            strict_fields(&object)?;
            let warnings = typed.warnings().iter().map(ToString::to_string).collect();
            typed
                .into_resource()
                .validate_within(old.as_ref(), config)
                .map_err(Denied::Invalid)?;
            Ok(Verdict {
                patch: Vec::new(),
                warnings,
            })
        }
    }
}

/// The API server's strict field validation, which Knative's CRDs get from their full
/// schemas: ours keep unknown fields in `spec` (see `crd`), so the webhook refuses
/// every field Knative's types lack, and every value of the wrong type, at its path —
/// the same check `knserve apply` makes on the local backend.
fn strict_fields(object: &Value) -> Result<(), Denied> {
    let doc = YamlJson {
        value: object.clone(),
        lines: Default::default(),
    };
    let Err(problems) = decode_json(&doc) else {
        return Ok(());
    };
    let mut errors = ValidationErrors::new();
    for problem in problems {
        // The object arrived as JSON: no line to name.
        let (path, message) = match &problem {
            ParseProblem::UnknownField { path, .. } => (path.as_str(), "unknown field".to_owned()),
            ParseProblem::DuplicateKey { path, .. } => {
                (path.as_str(), "duplicate field".to_owned())
            }
            ParseProblem::Field { path, message, .. } => (path.as_str(), message.clone()),
            other => ("", other.to_string()),
        };
        errors.add(path, message);
    }
    Err(Denied::Invalid(errors))
}

fn as_json(object: Option<&DynamicObject>, which: &'static str) -> Result<Value, Denied> {
    object
        .and_then(|o| serde_json::to_value(o).ok())
        .ok_or(Denied::Missing(which))
}

fn decode_as<T: Admitted>(value: &Value, which: &'static str) -> Result<T, Denied> {
    decode(value).map_err(|error| Denied::Decode {
        which,
        kind: T::KIND,
        error,
    })
}

/// The patch from the object as sent to the object defaulted by
/// [`Resource::set_defaults_within`]: its spec, and the `creator`/`lastModifier`
/// annotations it records.
fn defaulting_patch<T: Admitted>(
    object: &Value,
    old: Option<&Resource>,
    request: &AdmissionRequest<DynamicObject>,
    config: &ValidationConfig,
) -> Result<Vec<PatchOp>, Denied> {
    let mut typed = decode_as::<T>(object, "object")?.into_resource();
    let username = request
        .user_info
        .username
        .as_deref()
        .filter(|u| !u.is_empty());
    typed.set_defaults_within(old, username, &config.defaults);
    let mut target = object.clone();
    let defaulted = serde_json::to_value(&typed).unwrap_or(Value::Null);
    if let (Some(spec), Some(map)) = (defaulted.get("spec"), target.as_object_mut()) {
        map.insert("spec".into(), spec.clone());
    }
    let annotations = &typed.metadata().annotations;
    let sent: BTreeMap<String, String> = object
        .pointer("/metadata/annotations")
        .and_then(|a| serde_json::from_value(a.clone()).ok())
        .unwrap_or_default();
    if *annotations != sent {
        if let Some(meta) = target
            .as_object_mut()
            .map(|m| {
                m.entry("metadata")
                    .or_insert_with(|| Value::Object(Default::default()))
            })
            .and_then(Value::as_object_mut)
        {
            let value = serde_json::to_value(annotations).unwrap_or(Value::Null);
            meta.insert("annotations".into(), value);
        }
    }
    Ok(diff(object, &target))
}
