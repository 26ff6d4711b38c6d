//! `knserve validate -f FILE`: by the running server when there is one, else locally
//! with the default configuration.

use std::path::Path;
use std::process::ExitCode;

use http::{Method, StatusCode};
use knserve_core::api::{Manifest, Resource, ValidationConfig, parse_manifests};

use super::apply::read_file;
use super::client::{AdminClient, ClientError};
use crate::admin::ApplyResponse;
use crate::state::{StateDir, StateError};

/// What validating a file found: one `valid` line per good document, one line per
/// broken rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationReport {
    /// `<kind> <ns>/<name>: valid`.
    pub valid: Vec<String>,
    /// `<kind> <ns>/<name>: <field path>: <rule>`, or a parse error naming the document.
    pub errors: Vec<String>,
}

/// Validates `yaml` without a server, as `POST /v1/apply` would with a stock
/// configuration: each Service is admitted as a create ([`Resource::admit`]: Knative's
/// defaults, then its rules) in namespace `default` against [`ValidationConfig::default`].
///
/// Choice: only `Service` documents and `v1` ConfigMaps and Secrets are accepted, as
/// `apply` takes only those; any other kind is reported as an error.
pub fn validate_locally(yaml: &str) -> ValidationReport {
    let mut report = ValidationReport::default();
    let manifests = match parse_manifests(yaml) {
        Ok(manifests) => manifests,
        Err(e) => {
            report.errors.push(e.to_string());
            return report;
        }
    };
    if manifests.is_empty() {
        report.errors.push("no documents found".to_owned());
    }
    for manifest in manifests {
        let resource = match manifest {
            Manifest::Serving(resource) => *resource,
            Manifest::Env(object) => {
                let meta = object.metadata();
                let namespace = Some(meta.namespace()).filter(|n| !n.is_empty());
                report.valid.push(format!(
                    "{} {}/{}: valid",
                    object.kind(),
                    namespace.unwrap_or("default"),
                    meta.name()
                ));
                continue;
            }
        };
        let Resource::Service(mut service) = resource else {
            let label = format!("{} {}", resource.kind(), resource.name());
            report.errors.push(format!(
                "{label}: kind: knserve applies only Service, ConfigMap and Secret documents"
            ));
            continue;
        };
        if service.metadata.namespace().is_empty() {
            service.metadata.namespace = Some("default".to_owned());
        }
        let label = format!(
            "Service {}/{}",
            service.metadata.namespace(),
            service.metadata.name()
        );
        let mut resource = Resource::Service(service);
        match resource.admit(None, None, &ValidationConfig::default()) {
            Ok(()) => report.valid.push(format!("{label}: valid")),
            Err(errors) => report
                .errors
                .extend(errors.into_iter().map(|e| format!("{label}: {e}"))),
        }
    }
    report
}

/// Runs `validate`: prints the valid lines to stdout and the errors to stderr; exit 1 on
/// any error.
pub(super) async fn validate(state: &StateDir, file: &Path) -> anyhow::Result<ExitCode> {
    let yaml = read_file(file).await?;
    let report = match AdminClient::from_state(state) {
        Ok(client) => match validate_remotely(&client, &yaml).await {
            Err(ClientError::NotRunning { dir, .. }) => local(&yaml, &dir),
            other => other?,
        },
        Err(StateError::NoServer { dir }) => local(&yaml, &dir),
        Err(e) => return Err(e.into()),
    };
    report.valid.iter().for_each(|line| println!("{line}"));
    report.errors.iter().for_each(|line| eprintln!("{line}"));
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn local(yaml: &str, dir: &str) -> ValidationReport {
    eprintln!(
        "No running knserve server in {dir}: validated locally with the default configuration."
    );
    validate_locally(yaml)
}

async fn validate_remotely(
    client: &AdminClient,
    yaml: &str,
) -> Result<ValidationReport, ClientError> {
    let body = Some(("application/yaml", yaml.to_owned().into()));
    match client.send(Method::POST, "/v1/validate", body).await {
        Ok(bytes) => {
            let response: ApplyResponse =
                serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
                    path: "/v1/validate".to_owned(),
                    source,
                })?;
            let mut report = ValidationReport::default();
            for applied in response.results {
                let label = format!("{} {}/{}", applied.kind, applied.namespace, applied.name);
                report.valid.push(format!("{label}: valid"));
                report.valid.extend(
                    applied
                        .warnings
                        .iter()
                        .map(|w| format!("{label}: warning: {w}")),
                );
            }
            Ok(report)
        }
        Err(ClientError::Status { status, errors }) if status == StatusCode::BAD_REQUEST => {
            Ok(ValidationReport {
                valid: Vec::new(),
                errors,
            })
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - image: hello
";

    #[test]
    fn a_good_service_is_valid_in_the_default_namespace() {
        assert_eq!(
            validate_locally(GOOD),
            ValidationReport {
                valid: vec!["Service default/hello: valid".into()],
                errors: Vec::new(),
            }
        );
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_document_and_path() {
        let bad = GOOD.replace(
            "- image: hello",
            "- image: hello\n          ports:\n            - containerPort: 8012",
        ) + "---\napiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: ok\n  namespace: prod\nspec:\n  template:\n    spec:\n      containers:\n        - image: app\n";
        let report = validate_locally(&bad);
        assert_eq!(report.valid, ["Service prod/ok: valid"]);
        assert!(
            report.errors.iter().any(|e| e
                .starts_with("Service default/hello: spec.template.spec.containers[0].ports")
                && e.contains("8012")),
            "a reserved port names the service, the field and the value: {:?}",
            report.errors
        );
    }

    #[test]
    fn parse_errors_and_other_kinds_are_errors() {
        let report = validate_locally("apiVersion: v1\nkind: Pod\n");
        assert_eq!(report.errors.len(), 1);
        assert!(
            report.errors[0].contains("apiVersion"),
            "{:?}",
            report.errors
        );
        let route = "apiVersion: serving.knative.dev/v1\nkind: Route\nmetadata:\n  name: r\n";
        assert_eq!(
            validate_locally(route).errors,
            ["Route r: kind: knserve applies only Service, ConfigMap and Secret documents"]
        );
        assert_eq!(validate_locally("").errors, ["no documents found"]);
    }

    #[test]
    fn config_maps_and_secrets_are_valid_and_a_secret_that_is_not_base64_is_not() {
        let objects = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {k: v}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: prod}\ndata: {k: dg==}\n";
        let report = validate_locally(objects);
        assert_eq!(
            (report.valid, report.errors),
            (
                vec![
                    "ConfigMap default/c: valid".to_owned(),
                    "Secret prod/s: valid".to_owned()
                ],
                Vec::<String>::new()
            )
        );
        let bad = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: \"not base64\"}\n";
        let errors = validate_locally(bad).errors;
        assert!(
            errors.len() == 1 && errors[0].contains("data.k: must be base64-encoded"),
            "{errors:?}"
        );
    }
}
