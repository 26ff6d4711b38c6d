//! The admission decision: pure, from an `AdmissionRequest` to an `AdmissionResponse`.
//!
//! Choices where Knative leaves room:
//! - Validation does not default first: the API server runs the mutating webhook before
//!   the validating one, so `/validation` sees defaulted objects, as in Knative.
//! - Every denial carries HTTP code 400 (`BadRequest`), including an object that does
//!   not decode and a kind this webhook does not serve.
//! - `creator`/`lastModifier` annotations are recorded on Services, Configurations and
//!   Routes (the kinds users write); Revisions are written by the controller and get
//!   none. On UPDATE `lastModifier` changes only when the defaulted spec changed.

use kube::core::admission::{AdmissionRequest, AdmissionResponse, Operation};
use kube::core::response::StatusSummary;
use kube::core::{DynamicObject, Status};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use knserve_core::api::keys::{CREATOR_ANNOTATION, UPDATER_ANNOTATION};
use knserve_core::api::{Configuration, Revision, Route, Service, ValidationConfig};
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
    /// Whether `creator`/`lastModifier` are recorded.
    const RECORDS_USER: bool = true;
    fn default_with(&mut self, config: &ValidationConfig);
    fn check(&self, old: Option<&Self>, config: &ValidationConfig) -> Result<(), ValidationErrors>;
    /// Problems worth telling the user that do not deny the request.
    fn warnings(&self) -> Vec<FieldError>;
}

fn under(prefix: &str, errors: Vec<FieldError>) -> Vec<FieldError> {
    errors.into_iter().map(|e| e.under(prefix)).collect()
}

impl Admitted for Service {
    const KIND: &'static str = "Service";
    fn default_with(&mut self, config: &ValidationConfig) {
        self.set_defaults(&config.defaults);
    }
    fn check(&self, old: Option<&Self>, config: &ValidationConfig) -> Result<(), ValidationErrors> {
        old.map_or_else(
            || self.validate(config),
            |old| self.validate_update(old, config),
        )
    }
    fn warnings(&self) -> Vec<FieldError> {
        let template = &self.spec.template.metadata.annotations;
        under("spec.template.metadata", unknown_annotations(template))
    }
}

impl Admitted for Configuration {
    const KIND: &'static str = "Configuration";
    fn default_with(&mut self, config: &ValidationConfig) {
        self.set_defaults(&config.defaults);
    }
    fn check(&self, old: Option<&Self>, config: &ValidationConfig) -> Result<(), ValidationErrors> {
        old.map_or_else(
            || self.validate(config),
            |old| self.validate_update(old, config),
        )
    }
    fn warnings(&self) -> Vec<FieldError> {
        let template = &self.spec.template.metadata.annotations;
        under("spec.template.metadata", unknown_annotations(template))
    }
}

impl Admitted for Revision {
    const KIND: &'static str = "Revision";
    const RECORDS_USER: bool = false;
    fn default_with(&mut self, config: &ValidationConfig) {
        self.set_defaults(&config.defaults);
    }
    fn check(&self, old: Option<&Self>, config: &ValidationConfig) -> Result<(), ValidationErrors> {
        old.map_or_else(
            || self.validate(config),
            |old| self.validate_update(old, config),
        )
    }
    fn warnings(&self) -> Vec<FieldError> {
        under("metadata", unknown_annotations(&self.metadata.annotations))
    }
}

impl Admitted for Route {
    const KIND: &'static str = "Route";
    fn default_with(&mut self, _config: &ValidationConfig) {
        self.set_defaults();
    }
    fn check(
        &self,
        _old: Option<&Self>,
        _config: &ValidationConfig,
    ) -> Result<(), ValidationErrors> {
        self.validate()
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
    match kind {
        ReviewKind::Mutate => Ok(Verdict {
            patch: defaulting_patch::<T>(&object, old.as_ref(), request, config)?,
            warnings: Vec::new(),
        }),
        ReviewKind::Validate => {
            let typed: T = decode_as(&object, "object")?;
            let old: Option<T> = old.map(|o| decode_as(&o, "oldObject")).transpose()?;
            typed.check(old.as_ref(), config).map_err(Denied::Invalid)?;
            let warnings = typed.warnings().iter().map(ToString::to_string).collect();
            Ok(Verdict {
                patch: Vec::new(),
                warnings,
            })
        }
    }
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

/// The patch from the object as sent to the object with its spec defaulted and, for
/// the kinds that record them, the user annotations set.
fn defaulting_patch<T: Admitted>(
    object: &Value,
    old: Option<&Value>,
    request: &AdmissionRequest<DynamicObject>,
    config: &ValidationConfig,
) -> Result<Vec<PatchOp>, Denied> {
    let mut typed: T = decode_as(object, "object")?;
    typed.default_with(config);
    let mut target = object.clone();
    let defaulted = serde_json::to_value(&typed).unwrap_or(Value::Null);
    if let (Some(spec), Some(map)) = (defaulted.get("spec"), target.as_object_mut()) {
        map.insert("spec".into(), spec.clone());
    }
    let username = request.user_info.username.as_deref().unwrap_or_default();
    if T::RECORDS_USER && !username.is_empty() {
        record_user(&mut target, old, username);
    }
    Ok(diff(object, &target))
}

/// Sets `creator` and `lastModifier` on CREATE (no `old`), and `lastModifier` on an
/// UPDATE that changed the spec, as Knative's `SetUserInfo` does.
fn record_user(target: &mut Value, old: Option<&Value>, username: &str) {
    let keys: &[&str] = match old {
        None => &[CREATOR_ANNOTATION, UPDATER_ANNOTATION],
        Some(old) if old.get("spec") != target.get("spec") => &[UPDATER_ANNOTATION],
        Some(_) => &[],
    };
    if keys.is_empty() {
        return;
    }
    let Some(metadata) = target.as_object_mut().map(|map| {
        map.entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()))
    }) else {
        return;
    };
    let Some(annotations) = metadata.as_object_mut().map(|meta| {
        meta.entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()))
    }) else {
        return;
    };
    if let Some(annotations) = annotations.as_object_mut() {
        for key in keys {
            annotations.insert((*key).to_owned(), Value::String(username.to_owned()));
        }
    }
}
