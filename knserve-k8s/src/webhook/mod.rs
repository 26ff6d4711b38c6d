//! Knative's admission webhook for `serving.knative.dev/v1` (spec §1): defaulting and
//! validation of Services, Configurations, Revisions and Routes, served over TLS.
//!
//! - [`review`]: the pure decision, from an `AdmissionRequest` to an
//!   `AdmissionResponse` (a JSON Patch for defaulting; allow/deny with warnings for
//!   validation). [`PatchOp`], [`diff`], [`apply`]: RFC 6902 patches.
//! - [`WebhookCerts`]: the self-signed CA and serving certificate (rcgen), kept in the
//!   `webhook-certs` Secret ([`ensure_certs`]).
//! - [`start`] / [`serve`]: the HTTPS server (`/defaulting`, `/validation`, `/healthz`),
//!   no cluster needed; [`CertStore`] swaps certificates on renewal.
//! - [`register`]: server-side applies the Mutating and Validating webhook
//!   configurations, reaching the webhook through its Service or by URL
//!   ([`ClientTarget`]).
//! - [`watch_config`]: config-defaults, config-features and config-autoscaler from the
//!   system namespace; a bad value keeps the previous settings.
//! - [`run`]: all of it, for the webhook process.
//!
//! ```no_run
//! # async fn example(client: kube::Client) -> anyhow::Result<()> {
//! use knserve_k8s::webhook::{WebhookOptions, run};
//! run(client, WebhookOptions::from_env()).await
//! # }
//! ```

mod certs;
mod config;
mod decode;
mod patch;
mod register;
mod review;
mod run;
mod server;
#[cfg(test)]
mod tests;

pub use self::certs::{
    CA_CERT_KEY, CertError, NOT_AFTER_KEY, RENEW_BEFORE, SERVER_CERT_KEY, SERVER_KEY_KEY, VALIDITY,
    WebhookCerts, provider, serving_names,
};
pub use self::config::{CONFIG_MAPS, apply_config_map, load_config, update, watch_config};
pub use self::decode::{DecodeError, decode, path_at_line};
pub use self::patch::{PatchError, PatchOp, apply, diff, pointer};
pub use self::register::{
    ClientTarget, DEFAULTING_NAME, DEFAULTING_PATH, FIELD_MANAGER, RESOURCES, SECRET_NAME,
    SetupError, VALIDATION_NAME, VALIDATION_PATH, ensure_certs, mutating_configuration, register,
    usable_certs, validating_configuration,
};
pub use self::review::{Denied, GROUP, ReviewKind, deny, review};
pub use self::run::{WebhookOptions, run};
pub use self::server::{
    CertStore, HANDSHAKE_TIMEOUT, MAX_BODY_BYTES, Serving, answer, serve, start, tls_config,
};
