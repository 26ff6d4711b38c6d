//! Knative's admission rules (§1.2, §1.3, §1.6), reporting every problem at once.
//!
//! Each message is `path: rule`, with the path from the object's root
//! (`spec.template.spec.containers[0].ports[0].containerPort: 8012 is a reserved port`).
//! Validation runs on defaulted objects, as Knative's webhook does; the rules that depend
//! on the cluster's settings read them from [`ValidationConfig`].
//!
//! The pod-spec and container rules follow Knative v0.50's `k8s_validation.go` and
//! `fieldmask.go` (see `fieldmask`), including the paths it forms where they differ
//! from the field's position (`containers[0].ports.containerPort`,
//! `containers[*].ports`, `volumes[0].items[0].key`). Where Knative reports an error
//! with no path (a feature flag that is off: multiple containers, init containers, a
//! volume kind, mount propagation, writable claims), knserve names the field.

mod apiserver;
mod container;
mod context;
mod fieldmask;
mod image;
mod meta;
mod probe;
mod resources;
mod revision;
mod security;
mod template;
mod traffic;
mod volume;

pub(crate) use self::apiserver::{generated_name, validate_create_meta, validate_update_meta};
pub use self::container::RESERVED_PORTS;
pub use self::context::ValidationConfig;
pub use self::meta::duration_annotation;
pub use self::revision::validate_revision_spec;
pub use self::traffic::validate_traffic;
