//! Validation entry points of the four resources, on create and on update, as Knative's
//! `Validate` methods (serving v0.50, `pkg/apis/serving/v1/*_validation.go`).

use std::collections::BTreeMap;

use super::context::ValidationConfig;
use super::meta::{validate_duration_annotation, validate_owner_label, validate_parent_meta};
use super::template::{validate_revision_meta, validate_revision_object, validate_template};
use super::traffic::validate_traffic;
use crate::api::keys::{CREATOR_ANNOTATION, ROLLOUT_DURATION_ANNOTATION, UPDATER_ANNOTATION};
use crate::api::meta::ObjectMeta;
use crate::api::naming::check_byo_name_changed;
use crate::api::revision::RevisionTemplateSpec;
use crate::api::{Configuration, Revision, Route, Service};
use crate::error::ValidationErrors;

/// The rollout-duration annotation and its legacy spelling, canonical first.
const ROLLOUT_DURATION_KEYS: [&str; 2] = [
    ROLLOUT_DURATION_ANNOTATION,
    "serving.knative.dev/rolloutDuration",
];

impl Service {
    /// Checks every admission rule of a created Service (defaulted first, as Knative's
    /// webhook does); all problems are reported together.
    pub fn validate(&self, config: &ValidationConfig) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        validate_parent_meta(&self.metadata, &mut errors);
        validate_duration_annotation(&self.metadata, &ROLLOUT_DURATION_KEYS, &mut errors);
        errors.extend_under(
            "spec.template",
            validate_template(&self.spec.template, &self.metadata, config),
        );
        errors.extend_under("spec", validate_traffic(&self.spec.traffic, true));
        errors.into_result(())
    }

    /// [`Service::validate`] plus the update rules: the `creator` annotation may not
    /// change, nor `lastModifier` without a spec change, and a BYO revision name must
    /// change whenever the template does.
    pub fn validate_update(
        &self,
        old: &Service,
        config: &ValidationConfig,
    ) -> Result<(), ValidationErrors> {
        let mut errors = self.validate(config).err().unwrap_or_default();
        check_user_annotations(
            old.spec == self.spec,
            &old.metadata,
            &self.metadata,
            &mut errors,
        );
        check_template_update(&old.spec.template, &self.spec.template, &mut errors);
        errors.into_result(())
    }
}

impl Configuration {
    /// Checks every admission rule of a created Configuration; all problems are
    /// reported together.
    pub fn validate(&self, config: &ValidationConfig) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        validate_parent_meta(&self.metadata, &mut errors);
        validate_owner_label(&self.metadata, "Service", &mut errors);
        errors.extend_under(
            "spec.template",
            validate_template(&self.spec.template, &self.metadata, config),
        );
        errors.into_result(())
    }

    /// [`Configuration::validate`] plus the user-annotation rules (unless a Service owns
    /// it) and the BYO-name update rule.
    pub fn validate_update(
        &self,
        old: &Configuration,
        config: &ValidationConfig,
    ) -> Result<(), ValidationErrors> {
        let mut errors = self.validate(config).err().unwrap_or_default();
        if self.metadata.owner_references.is_empty() {
            check_user_annotations(
                old.spec == self.spec,
                &old.metadata,
                &self.metadata,
                &mut errors,
            );
        }
        check_template_update(&old.spec.template, &self.spec.template, &mut errors);
        errors.into_result(())
    }
}

impl Route {
    /// Checks every admission rule of a created Route; all problems are reported together.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        validate_parent_meta(&self.metadata, &mut errors);
        validate_owner_label(&self.metadata, "Service", &mut errors);
        validate_duration_annotation(&self.metadata, &ROLLOUT_DURATION_KEYS, &mut errors);
        errors.extend_under("spec", validate_traffic(&self.spec.traffic, false));
        errors.into_result(())
    }

    /// [`Route::validate`] plus the user-annotation rules (unless a Service owns it).
    pub fn validate_update(&self, old: &Route) -> Result<(), ValidationErrors> {
        let mut errors = self.validate().err().unwrap_or_default();
        if self.metadata.owner_references.is_empty() {
            check_user_annotations(
                old.spec == self.spec,
                &old.metadata,
                &self.metadata,
                &mut errors,
            );
        }
        errors.into_result(())
    }
}

impl Revision {
    /// Checks every admission rule of a created Revision; all problems are reported
    /// together.
    pub fn validate(&self, config: &ValidationConfig) -> Result<(), ValidationErrors> {
        validate_revision_object(&self.metadata, &self.spec, config).into_result(())
    }

    /// The update rules, as Knative's: the spec is immutable, so a changed spec is the
    /// only error reported (at `spec`); otherwise only the metadata is checked (the spec
    /// was checked on create).
    pub fn validate_update(
        &self,
        old: &Revision,
        config: &ValidationConfig,
    ) -> Result<(), ValidationErrors> {
        if old.spec != self.spec {
            let changed = changed_fields(&old.spec, &self.spec).join(", ");
            let mut errors = ValidationErrors::new();
            errors.add(
                "spec",
                format!("is immutable: a revision's spec cannot change, create a new revision instead (changed: {changed})"),
            );
            return Err(errors);
        }
        validate_revision_meta(&self.metadata, config).into_result(())
    }
}

fn check_template_update(
    old: &RevisionTemplateSpec,
    new: &RevisionTemplateSpec,
    errors: &mut ValidationErrors,
) {
    if let Some(error) = check_byo_name_changed(old, new) {
        errors.push(error.under("spec.template"));
    }
}

/// Knative's `ValidateCreatorAndModifier`: `creator` is immutable; `lastModifier` may
/// change only with the spec.
fn check_user_annotations(
    same_spec: bool,
    old: &ObjectMeta,
    new: &ObjectMeta,
    errors: &mut ValidationErrors,
) {
    let get = |a: &BTreeMap<String, String>, k: &str| a.get(k).cloned().unwrap_or_default();
    let creator = get(&new.annotations, CREATOR_ANNOTATION);
    if get(&old.annotations, CREATOR_ANNOTATION) != creator {
        errors.add(
            format!("metadata.annotations.{CREATOR_ANNOTATION}"),
            format!("is immutable, got {creator:?}"),
        );
    }
    let updater = get(&new.annotations, UPDATER_ANNOTATION);
    if same_spec && get(&old.annotations, UPDATER_ANNOTATION) != updater {
        errors.add(
            format!("metadata.annotations.{UPDATER_ANNOTATION}"),
            format!("must not change unless the spec does, got {updater:?}"),
        );
    }
}

/// The top-level fields (wire names) whose values differ between `old` and `new`.
fn changed_fields<T: serde::Serialize>(old: &T, new: &T) -> Vec<String> {
    let as_map = |v: &T| match serde_json::to_value(v) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .cloned()
        .collect()
}
