//! Validation entry points of the four resources, on create and on update.

use super::context::ValidationConfig;
use super::meta::{validate_duration_annotation, validate_parent_meta};
use super::revision::{validate_revision_object, validate_template};
use super::traffic::validate_traffic;
use crate::api::keys::ROLLOUT_DURATION_ANNOTATION;
use crate::api::naming::check_byo_name_changed;
use crate::api::revision::RevisionTemplateSpec;
use crate::api::{Configuration, Revision, Route, Service};
use crate::error::ValidationErrors;

impl Service {
    /// Checks every admission rule; all problems are reported together.
    pub fn validate(&self, config: &ValidationConfig) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        validate_parent_meta(&self.metadata, &mut errors);
        validate_duration_annotation(&self.metadata, ROLLOUT_DURATION_ANNOTATION, &mut errors);
        errors.extend_under(
            "spec.template",
            validate_template(&self.spec.template, &self.metadata, config),
        );
        errors.extend_under("spec", validate_traffic(&self.spec.traffic, true));
        errors.into_result(())
    }

    /// [`Service::validate`] plus the update rule: a BYO revision name must change
    /// whenever the template does.
    pub fn validate_update(
        &self,
        old: &Service,
        config: &ValidationConfig,
    ) -> Result<(), ValidationErrors> {
        let mut errors = self.validate(config).err().unwrap_or_default();
        check_template_update(&old.spec.template, &self.spec.template, &mut errors);
        errors.into_result(())
    }
}

impl Configuration {
    /// Checks every admission rule; all problems are reported together.
    pub fn validate(&self, config: &ValidationConfig) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        validate_parent_meta(&self.metadata, &mut errors);
        errors.extend_under(
            "spec.template",
            validate_template(&self.spec.template, &self.metadata, config),
        );
        errors.into_result(())
    }

    /// [`Configuration::validate`] plus the BYO-name update rule.
    pub fn validate_update(
        &self,
        old: &Configuration,
        config: &ValidationConfig,
    ) -> Result<(), ValidationErrors> {
        let mut errors = self.validate(config).err().unwrap_or_default();
        check_template_update(&old.spec.template, &self.spec.template, &mut errors);
        errors.into_result(())
    }
}

impl Route {
    /// Checks every admission rule; all problems are reported together.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        validate_parent_meta(&self.metadata, &mut errors);
        validate_duration_annotation(&self.metadata, ROLLOUT_DURATION_ANNOTATION, &mut errors);
        errors.extend_under("spec", validate_traffic(&self.spec.traffic, false));
        errors.into_result(())
    }
}

impl Revision {
    /// Checks every admission rule; all problems are reported together.
    pub fn validate(&self, config: &ValidationConfig) -> Result<(), ValidationErrors> {
        validate_revision_object(&self.metadata, &self.spec, config).into_result(())
    }

    /// [`Revision::validate`] plus immutability: the spec may not change after creation
    /// (metadata may). Each changed field is reported (`spec.containers: is immutable`).
    pub fn validate_update(
        &self,
        old: &Revision,
        config: &ValidationConfig,
    ) -> Result<(), ValidationErrors> {
        let mut errors = self.validate(config).err().unwrap_or_default();
        for field in changed_fields(&old.spec, &self.spec) {
            errors.add(
                format!("spec.{field}"),
                "is immutable: a revision's spec cannot change, create a new revision instead",
            );
        }
        errors.into_result(())
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
