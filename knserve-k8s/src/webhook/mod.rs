//! Knative's admission webhook for `serving.knative.dev/v1` (spec §1): defaulting and
//! validation of Services, Configurations, Revisions and Routes, served over TLS.
//!
//! - [`review`]: the pure decision, from an `AdmissionRequest` to an
//!   `AdmissionResponse` (a JSON Patch for defaulting; allow/deny with warnings for
//!   validation).
//! - [`PatchOp`], [`diff`]: RFC 6902 patches.

mod certs;
mod decode;
mod patch;
mod review;
#[cfg(test)]
mod tests;

pub use self::certs::{
    CA_CERT_KEY, CertError, NOT_AFTER_KEY, RENEW_BEFORE, SERVER_CERT_KEY, SERVER_KEY_KEY, VALIDITY,
    WebhookCerts, provider, serving_names,
};
pub use self::decode::{DecodeError, decode, path_at_line};
pub use self::patch::{PatchOp, diff, pointer};
pub use self::review::{Denied, GROUP, ReviewKind, deny, review};
