//! Registering the webhook with the API server: its certificates in the `webhook-certs`
//! Secret and the two webhook configurations, server-side applied.

use std::time::SystemTime;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use tracing::info;

use super::certs::{CertError, WebhookCerts, serving_names};

/// The Secret holding the webhook's certificates (Knative's name).
pub const SECRET_NAME: &str = "webhook-certs";
/// The MutatingWebhookConfiguration's name and its webhook's (Knative's).
pub const DEFAULTING_NAME: &str = "webhook.serving.knative.dev";
/// The ValidatingWebhookConfiguration's name and its webhook's (Knative's).
pub const VALIDATION_NAME: &str = "validation.webhook.serving.knative.dev";
/// The path of defaulting reviews.
pub const DEFAULTING_PATH: &str = "/defaulting";
/// The path of validation reviews.
pub const VALIDATION_PATH: &str = "/validation";
/// The field manager of the server-side applies.
pub const FIELD_MANAGER: &str = "knserve-controller";
/// The resources admitted: CREATE and UPDATE of these in `serving.knative.dev/v1`.
pub const RESOURCES: [&str; 4] = ["services", "configurations", "routes", "revisions"];

/// How the API server reaches the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTarget {
    /// Through a Service in the system namespace (Knative's way).
    Service {
        /// The Service's namespace.
        namespace: String,
        /// The Service's name (`webhook`).
        name: String,
        /// The Service port (443).
        port: i32,
    },
    /// At a URL base (`https://127.0.0.1:8443`), for a webhook outside the cluster; the
    /// paths are appended.
    Url(String),
}

impl ClientTarget {
    fn client_config(&self, path: &str, certs: &WebhookCerts) -> WebhookClientConfig {
        let ca_bundle = Some(ByteString(certs.ca_cert.clone().into_bytes()));
        match self {
            Self::Service {
                namespace,
                name,
                port,
            } => WebhookClientConfig {
                ca_bundle,
                service: Some(ServiceReference {
                    name: name.clone(),
                    namespace: namespace.clone(),
                    path: Some(path.to_owned()),
                    port: Some(*port),
                }),
                url: None,
            },
            Self::Url(base) => WebhookClientConfig {
                ca_bundle,
                service: None,
                url: Some(format!("{}{path}", base.trim_end_matches('/'))),
            },
        }
    }
}

fn rules() -> Vec<RuleWithOperations> {
    let strings = |items: &[&str]| Some(items.iter().map(|s| (*s).to_owned()).collect());
    vec![RuleWithOperations {
        api_groups: strings(&["serving.knative.dev"]),
        api_versions: strings(&["v1"]),
        operations: strings(&["CREATE", "UPDATE"]),
        resources: strings(&RESOURCES),
        scope: None,
    }]
}

/// The defaulting webhook: `sideEffects: None`, `admissionReviewVersions: [v1]`,
/// `failurePolicy: Fail`, `timeoutSeconds: 10`.
pub fn mutating_configuration(
    target: &ClientTarget,
    certs: &WebhookCerts,
) -> MutatingWebhookConfiguration {
    MutatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(DEFAULTING_NAME.to_owned()),
            ..ObjectMeta::default()
        },
        webhooks: Some(vec![MutatingWebhook {
            name: DEFAULTING_NAME.to_owned(),
            admission_review_versions: vec!["v1".to_owned()],
            client_config: target.client_config(DEFAULTING_PATH, certs),
            failure_policy: Some("Fail".to_owned()),
            rules: Some(rules()),
            side_effects: "None".to_owned(),
            timeout_seconds: Some(10),
            ..MutatingWebhook::default()
        }]),
    }
}

/// The validating webhook, with the same settings as the defaulting one.
pub fn validating_configuration(
    target: &ClientTarget,
    certs: &WebhookCerts,
) -> ValidatingWebhookConfiguration {
    ValidatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(VALIDATION_NAME.to_owned()),
            ..ObjectMeta::default()
        },
        webhooks: Some(vec![ValidatingWebhook {
            name: VALIDATION_NAME.to_owned(),
            admission_review_versions: vec!["v1".to_owned()],
            client_config: target.client_config(VALIDATION_PATH, certs),
            failure_policy: Some("Fail".to_owned()),
            rules: Some(rules()),
            side_effects: "None".to_owned(),
            timeout_seconds: Some(10),
            ..ValidatingWebhook::default()
        }]),
    }
}

/// Server-side applies both webhook configurations with `certs`' CA as their bundle.
pub async fn register(
    client: &Client,
    target: &ClientTarget,
    certs: &WebhookCerts,
) -> kube::Result<()> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let config = mutating_configuration(target, certs);
    mutating
        .patch(DEFAULTING_NAME, &params, &Patch::Apply(apply_body(&config)))
        .await?;
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let config = validating_configuration(target, certs);
    validating
        .patch(VALIDATION_NAME, &params, &Patch::Apply(apply_body(&config)))
        .await?;
    info!(?target, "webhook configurations applied");
    Ok(())
}

/// An apply body needs `apiVersion` and `kind`, which k8s-openapi's serde leaves out.
fn apply_body<K: k8s_openapi::Resource + serde::Serialize>(object: &K) -> serde_json::Value {
    let mut value = serde_json::to_value(object).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("apiVersion".into(), K::API_VERSION.into());
        map.insert("kind".into(), K::KIND.into());
    }
    value
}

/// Getting or storing the certificates failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The API server refused or failed.
    #[error("webhook-certs Secret: {0}")]
    Kube(#[from] kube::Error),
    /// New certificates could not be made.
    #[error(transparent)]
    Cert(#[from] CertError),
    /// Other writers kept replacing the Secret.
    #[error("webhook-certs Secret: gave up after repeated write conflicts")]
    Contended,
}

/// The certificates in the Secret when present and not near expiry at `now`.
pub fn usable_certs(secret: Option<&Secret>, now: SystemTime) -> Option<WebhookCerts> {
    secret
        .and_then(|s| s.data.as_ref())
        .and_then(WebhookCerts::from_secret_data)
        .filter(|certs| !certs.needs_renewal(now))
}

/// The webhook's certificates: those in the `webhook-certs` Secret of `namespace` when
/// usable, else new ones for `service`, written there. A write that loses a race with
/// another replica (409) re-reads the winner's, so replicas and restarts agree.
pub async fn ensure_certs(
    client: &Client,
    namespace: &str,
    service: &str,
    now: SystemTime,
) -> Result<WebhookCerts, SetupError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    for _ in 0..3 {
        let existing = secrets.get_opt(SECRET_NAME).await?;
        if let Some(certs) = usable_certs(existing.as_ref(), now) {
            return Ok(certs);
        }
        let certs = WebhookCerts::generate(&serving_names(service, namespace), now)?;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(SECRET_NAME.to_owned()),
                namespace: Some(namespace.to_owned()),
                resource_version: existing.and_then(|s| s.metadata.resource_version),
                ..ObjectMeta::default()
            },
            data: Some(certs.to_secret_data()),
            type_: Some("Opaque".to_owned()),
            ..Secret::default()
        };
        let written = match secret.metadata.resource_version {
            Some(_) => {
                secrets
                    .replace(SECRET_NAME, &PostParams::default(), &secret)
                    .await
            }
            None => secrets.create(&PostParams::default(), &secret).await,
        };
        match written {
            Ok(_) => {
                info!(
                    namespace,
                    not_after = certs.not_after,
                    "webhook certificates created"
                );
                return Ok(certs);
            }
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(error) => return Err(error.into()),
        }
    }
    Err(SetupError::Contended)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn certs() -> WebhookCerts {
        WebhookCerts::generate(&serving_names("webhook", "knative-serving"), UNIX_EPOCH)
            .expect("rcgen makes certificates")
    }

    #[test]
    fn the_configurations_admit_serving_kinds_through_the_service_by_default() {
        let target = ClientTarget::Service {
            namespace: "knative-serving".into(),
            name: "webhook".into(),
            port: 443,
        };
        let certs = certs();
        let config = mutating_configuration(&target, &certs);
        let hook = &config.webhooks.as_ref().expect("one webhook")[0];
        assert_eq!(hook.name, DEFAULTING_NAME, "Knative's webhook name");
        assert_eq!(hook.side_effects, "None", "reviews have no side effects");
        assert_eq!(
            hook.failure_policy.as_deref(),
            Some("Fail"),
            "no admission without it"
        );
        assert_eq!(
            hook.admission_review_versions,
            ["v1"],
            "AdmissionReview v1 only"
        );
        let service = hook
            .client_config
            .service
            .as_ref()
            .expect("a service reference");
        assert_eq!(
            (service.name.as_str(), service.port, service.path.as_deref()),
            ("webhook", Some(443), Some(DEFAULTING_PATH)),
            "reached through the webhook Service on 443"
        );
        let bundle = hook.client_config.ca_bundle.as_ref().expect("a CA bundle");
        assert_eq!(bundle.0, certs.ca_cert.as_bytes(), "the bundle is the CA");
        let rule = &hook.rules.as_ref().expect("rules")[0];
        assert_eq!(
            rule.resources.as_deref(),
            Some(&RESOURCES.map(String::from)[..])
        );
    }

    #[test]
    fn the_url_target_appends_the_review_path() {
        let target = ClientTarget::Url("https://127.0.0.1:8443/".into());
        let config = validating_configuration(&target, &certs());
        let hook = &config.webhooks.as_ref().expect("one webhook")[0];
        assert_eq!(
            hook.name, VALIDATION_NAME,
            "Knative's validation webhook name"
        );
        assert_eq!(
            hook.client_config.url.as_deref(),
            Some("https://127.0.0.1:8443/validation"),
            "a loopback webhook is reached by URL"
        );
        assert_eq!(
            hook.client_config.service, None,
            "url and service are exclusive"
        );
    }

    #[test]
    fn a_secret_near_expiry_is_not_reused() {
        let certs = certs();
        let secret = Secret {
            data: Some(certs.to_secret_data()),
            ..Secret::default()
        };
        assert_eq!(
            usable_certs(Some(&secret), UNIX_EPOCH),
            Some(certs.clone()),
            "fresh is kept"
        );
        let late = UNIX_EPOCH + Duration::from_secs(certs.not_after);
        assert_eq!(
            usable_certs(Some(&secret), late),
            None,
            "expiring certs are remade"
        );
        assert_eq!(usable_certs(None, UNIX_EPOCH), None, "no Secret, no certs");
    }
}
