//! Admission: what Knative's webhook does to an object on create or update, in its
//! order — `SetDefaults` (the mutating webhook), then `Validate` (the validating one).
//!
//! Every path that accepts a manifest goes through here: `knserve apply` and
//! `knserve validate` call [`Resource::admit`]; the Kubernetes webhook calls
//! [`Resource::set_defaults_within`] on `/defaulting` and [`Resource::validate_within`]
//! on `/validation` (the API server runs them in that order, so the validating call
//! sees the defaulted object, as Knative's does).

use super::keys::{CREATOR_ANNOTATION, UPDATER_ANNOTATION};
use super::meta::ObjectMeta;
use super::resource::Resource;
use super::revision::RevisionTemplateSpec;
use super::validation::{
    ValidationConfig, generated_name, validate_create_meta, validate_update_meta,
};
use crate::config::DefaultsConfig;
use crate::error::ValidationErrors;

impl Resource {
    /// Admits the object as Knative's webhook does: defaults it within a create (`old`
    /// is `None`) or an update of `old`, then checks the create or update rules.
    ///
    /// `user` is the requesting user: when given, `serving.knative.dev/creator` and
    /// `lastModifier` are recorded as Knative's `SetUserInfo` does. On update `old` is
    /// the stored (defaulted) object. An `old` of another kind is refused at `kind`.
    pub fn admit(
        &mut self,
        old: Option<&Resource>,
        user: Option<&str>,
        config: &ValidationConfig,
    ) -> Result<(), ValidationErrors> {
        self.set_defaults_within(old, user, &config.defaults);
        self.validate_within(old, config)
    }

    /// Knative's `SetDefaults` within a create or an update of `old`.
    ///
    /// On update a Revision is left as is (its spec is immutable), and a template whose
    /// BYO name equals the old one's is not defaulted (Knative keeps it as sent, so that
    /// an unchanged template compares equal). `user` is recorded on Services and, when no
    /// owner references them, Configurations and Routes.
    pub fn set_defaults_within(
        &mut self,
        old: Option<&Resource>,
        user: Option<&str>,
        config: &DefaultsConfig,
    ) {
        match (self, old) {
            (Self::Service(new), old) => {
                let old = old.and_then(Resource::as_service);
                let keep = old.map(|o| &o.spec.template);
                defaults_keeping_template(new, keep, |s| s.set_defaults(config));
                let same_spec = old.map(|o| o.spec == new.spec);
                record_user(&mut new.metadata, same_spec, user);
            }
            (Self::Configuration(new), old) => {
                let old = old.and_then(Resource::as_configuration);
                let keep = old.map(|o| &o.spec.template);
                defaults_keeping_template(new, keep, |c| c.set_defaults(config));
                if new.metadata.owner_references.is_empty() {
                    let same_spec = old.map(|o| o.spec == new.spec);
                    record_user(&mut new.metadata, same_spec, user);
                }
            }
            (Self::Revision(new), None) => new.set_defaults(config),
            (Self::Revision(_), Some(_)) => {}
            (Self::Route(new), old) => {
                new.set_defaults();
                if new.metadata.owner_references.is_empty() {
                    let same_spec = old.and_then(Resource::as_route).map(|o| o.spec == new.spec);
                    record_user(&mut new.metadata, same_spec, user);
                }
            }
        }
    }

    /// Knative's `Validate` within a create or an update of `old`, on an object already
    /// defaulted ([`Resource::set_defaults_within`]).
    ///
    /// First the API server's own metadata checks, which stop the request when they
    /// fail (label and annotation syntax, the name as a DNS-1123 subdomain, owner
    /// references). On create, an object with only a `generateName` is judged under the
    /// name the API server would give it (the prefix and 5 characters).
    pub fn validate_within(
        &self,
        old: Option<&Resource>,
        config: &ValidationConfig,
    ) -> Result<(), ValidationErrors> {
        let Some(old) = old else {
            let named = generated_name(self.metadata()).map(|name| {
                let mut named = self.clone();
                named.metadata_mut().name = Some(name);
                named
            });
            let object = named.as_ref().unwrap_or(self);
            validate_create_meta(object.metadata()).into_result(())?;
            return match object {
                Self::Service(s) => s.validate(config),
                Self::Configuration(c) => c.validate(config),
                Self::Revision(r) => r.validate(config),
                Self::Route(r) => r.validate(),
            };
        };
        validate_update_meta(self.metadata()).into_result(())?;
        match (self, old) {
            (Self::Service(new), Self::Service(old)) => new.validate_update(old, config),
            (Self::Configuration(new), Self::Configuration(old)) => {
                new.validate_update(old, config)
            }
            (Self::Revision(new), Self::Revision(old)) => new.validate_update(old, config),
            (Self::Route(new), Self::Route(old)) => new.validate_update(old),
            _ => {
                let mut errors = ValidationErrors::new();
                errors.add(
                    "kind",
                    format!("must not change, was {}, got {}", old.kind(), self.kind()),
                );
                Err(errors)
            }
        }
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Self::Service(o) => &mut o.metadata,
            Self::Configuration(o) => &mut o.metadata,
            Self::Revision(o) => &mut o.metadata,
            Self::Route(o) => &mut o.metadata,
        }
    }

    fn as_service(&self) -> Option<&super::Service> {
        match self {
            Self::Service(s) => Some(s),
            _ => None,
        }
    }

    fn as_configuration(&self) -> Option<&super::Configuration> {
        match self {
            Self::Configuration(c) => Some(c),
            _ => None,
        }
    }

    fn as_route(&self) -> Option<&super::Route> {
        match self {
            Self::Route(r) => Some(r),
            _ => None,
        }
    }
}

/// Runs `set_defaults` on `object`, then puts the template back as sent when its BYO
/// name equals `old`'s (Knative's `ConfigurationSpec.SetDefaults` on update).
fn defaults_keeping_template<T: HasTemplate>(
    object: &mut T,
    old: Option<&RevisionTemplateSpec>,
    set_defaults: impl FnOnce(&mut T),
) {
    let sent = object.template().clone();
    let keep = old.is_some_and(|old| {
        let name = sent.metadata.name.as_deref().unwrap_or("");
        !name.is_empty() && old.metadata.name.as_deref() == Some(name)
    });
    set_defaults(object);
    if keep {
        *object.template_mut() = sent;
    }
}

/// The objects whose spec holds a revision template.
trait HasTemplate {
    fn template(&self) -> &RevisionTemplateSpec;
    fn template_mut(&mut self) -> &mut RevisionTemplateSpec;
}

impl HasTemplate for super::Service {
    fn template(&self) -> &RevisionTemplateSpec {
        &self.spec.template
    }
    fn template_mut(&mut self) -> &mut RevisionTemplateSpec {
        &mut self.spec.template
    }
}

impl HasTemplate for super::Configuration {
    fn template(&self) -> &RevisionTemplateSpec {
        &self.spec.template
    }
    fn template_mut(&mut self) -> &mut RevisionTemplateSpec {
        &mut self.spec.template
    }
}

/// Knative's `SetUserInfo`: on create (`same_spec` is `None`) `creator` and
/// `lastModifier`; on update `lastModifier` when the defaulted spec changed.
fn record_user(meta: &mut ObjectMeta, same_spec: Option<bool>, user: Option<&str>) {
    let Some(user) = user else {
        return;
    };
    let keys: &[&str] = match same_spec {
        None => &[CREATOR_ANNOTATION, UPDATER_ANNOTATION],
        Some(false) => &[UPDATER_ANNOTATION],
        Some(true) => &[],
    };
    for key in keys {
        meta.annotations.insert((*key).to_owned(), user.to_owned());
    }
}
