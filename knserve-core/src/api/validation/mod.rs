//! Knative's admission rules (§1.2, §1.3, §1.6), reporting every problem at once.
//!
//! Each message is `path: rule`, with the path from the object's root
//! (`spec.template.spec.containers[0].ports[0].containerPort: 8012 is a reserved port`).
//! Validation runs on defaulted objects, as Knative's webhook does; the rules that depend
//! on the cluster's settings read them from [`ValidationConfig`].

mod apiserver;
mod container;
mod context;
mod meta;
mod probe;
mod resources;
mod revision;
mod template;
mod traffic;

pub(crate) use self::apiserver::{generated_name, validate_create_meta, validate_update_meta};
pub use self::container::RESERVED_PORTS;
pub use self::context::ValidationConfig;
pub use self::revision::validate_revision_spec;
pub use self::traffic::validate_traffic;
