//! `config-defaults`: the defaults and limits applied to every revision.

use super::{InvalidConfig, Lookup, Parser};
use crate::api::{TemplateValues, render_template};
use crate::goparse::is_quantity;

/// `config-defaults`, with Knative's keys and defaults (`Default`).
///
/// Resource quantities are kept as written (`100m`, `128Mi`); Kubernetes interprets them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultsConfig {
    /// `revision-timeout-seconds`: a revision's request timeout when it sets none, in seconds.
    pub revision_timeout_seconds: i64,
    /// `max-revision-timeout-seconds`: the largest request timeout a revision may ask for,
    /// in seconds.
    pub max_revision_timeout_seconds: i64,
    /// `revision-response-start-timeout-seconds`: the default time to the first response
    /// byte, in seconds; Knative uses `revision-timeout-seconds` when unset (0).
    pub revision_response_start_timeout_seconds: i64,
    /// `revision-idle-timeout-seconds`: the default longest pause between response bytes,
    /// in seconds; 0 is no idle timeout.
    pub revision_idle_timeout_seconds: i64,
    /// `container-concurrency`: in-flight requests per instance when a revision sets
    /// none; 0 is unlimited.
    pub container_concurrency: i64,
    /// `container-concurrency-max-limit`: the largest `containerConcurrency` allowed, in
    /// requests.
    pub container_concurrency_max_limit: i64,
    /// `allow-container-concurrency-zero`: whether `containerConcurrency: 0` (unlimited)
    /// is allowed.
    pub allow_container_concurrency_zero: bool,
    /// `container-name-template`: a Go template over the parent's metadata naming an
    /// unnamed serving container.
    pub container_name_template: String,
    /// `init-container-name-template`: the same for unnamed init containers.
    pub init_container_name_template: String,
    /// `enable-service-links`: the pod's `enableServiceLinks` when a revision sets none;
    /// `None` (written `default`) leaves Kubernetes' own default.
    pub enable_service_links: Option<bool>,
    /// `revision-cpu-request`: a container's cpu request when it sets none (a quantity).
    pub revision_cpu_request: Option<String>,
    /// `revision-cpu-limit`: a container's cpu limit when it sets none (a quantity).
    pub revision_cpu_limit: Option<String>,
    /// `revision-memory-request`: a container's memory request when it sets none (a quantity).
    pub revision_memory_request: Option<String>,
    /// `revision-memory-limit`: a container's memory limit when it sets none (a quantity).
    pub revision_memory_limit: Option<String>,
    /// `revision-ephemeral-storage-request`: a container's ephemeral-storage request when
    /// it sets none (a quantity).
    pub revision_ephemeral_storage_request: Option<String>,
    /// `revision-ephemeral-storage-limit`: a container's ephemeral-storage limit when it
    /// sets none (a quantity).
    pub revision_ephemeral_storage_limit: Option<String>,
}

impl Default for DefaultsConfig {
    fn default() -> Self {
        Self {
            revision_timeout_seconds: 300,
            max_revision_timeout_seconds: 600,
            revision_response_start_timeout_seconds: 300,
            revision_idle_timeout_seconds: 0,
            container_concurrency: 0,
            container_concurrency_max_limit: 1000,
            allow_container_concurrency_zero: true,
            container_name_template: "user-container".to_owned(),
            init_container_name_template: "init-container".to_owned(),
            enable_service_links: Some(false),
            revision_cpu_request: None,
            revision_cpu_limit: None,
            revision_memory_request: None,
            revision_memory_limit: None,
            revision_ephemeral_storage_request: None,
            revision_ephemeral_storage_limit: None,
        }
    }
}

impl DefaultsConfig {
    /// The config map's name.
    pub const NAME: &'static str = "config-defaults";

    /// Every key this map reads.
    pub const KEYS: &'static [&'static str] = &[
        "revision-timeout-seconds",
        "max-revision-timeout-seconds",
        "revision-response-start-timeout-seconds",
        "revision-idle-timeout-seconds",
        "container-concurrency",
        "container-concurrency-max-limit",
        "allow-container-concurrency-zero",
        "container-name-template",
        "init-container-name-template",
        "enable-service-links",
        "revision-cpu-request",
        "revision-cpu-limit",
        "revision-memory-request",
        "revision-memory-limit",
        "revision-ephemeral-storage-request",
        "revision-ephemeral-storage-limit",
    ];

    /// Parses the map as Knative's `NewDefaultsConfigFromMap`: keys in Knative's order
    /// (the first bad value is reported), values as written (Go's `ParseInt`,
    /// `ParseBool` and `ParseQuantity`, no trimming), then Knative's rules.
    ///
    /// `revision-response-start-timeout-seconds` defaults to `revision-timeout-seconds`
    /// and an explicit 0 stays 0 (no response-start timeout); `enable-service-links`
    /// other than `true`/`false` (any case) is Kubernetes' default, never an error.
    pub fn from_map(data: &(impl Lookup + ?Sized)) -> Result<Self, InvalidConfig> {
        let p = Parser::new(Self::NAME, data);
        let d = Self::default();
        let init_template = p
            .value("init-container-name-template")
            .unwrap_or(&d.init_container_name_template)
            .to_owned();
        let template = p
            .value("container-name-template")
            .unwrap_or(&d.container_name_template)
            .to_owned();
        let allow_zero = p.boolean(
            "allow-container-concurrency-zero",
            d.allow_container_concurrency_zero,
        )?;
        let service_links = match p.value("enable-service-links") {
            None => d.enable_service_links,
            Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
            Some(_) => None,
        };
        let timeout = p.int("revision-timeout-seconds", d.revision_timeout_seconds, 64)?;
        let mut config = Self {
            revision_timeout_seconds: timeout,
            max_revision_timeout_seconds: p.int(
                "max-revision-timeout-seconds",
                d.max_revision_timeout_seconds,
                64,
            )?,
            revision_idle_timeout_seconds: p.int(
                "revision-idle-timeout-seconds",
                d.revision_idle_timeout_seconds,
                64,
            )?,
            container_concurrency: p.int("container-concurrency", d.container_concurrency, 64)?,
            container_concurrency_max_limit: p.int(
                "container-concurrency-max-limit",
                d.container_concurrency_max_limit,
                64,
            )?,
            revision_cpu_request: quantity(&p, "revision-cpu-request")?,
            revision_memory_request: quantity(&p, "revision-memory-request")?,
            revision_ephemeral_storage_request: quantity(&p, "revision-ephemeral-storage-request")?,
            revision_cpu_limit: quantity(&p, "revision-cpu-limit")?,
            revision_memory_limit: quantity(&p, "revision-memory-limit")?,
            revision_ephemeral_storage_limit: quantity(&p, "revision-ephemeral-storage-limit")?,
            revision_response_start_timeout_seconds: timeout,
            allow_container_concurrency_zero: allow_zero,
            container_name_template: template,
            init_container_name_template: init_template,
            enable_service_links: service_links,
        };
        config.revision_response_start_timeout_seconds =
            p.int("revision-response-start-timeout-seconds", timeout, 64)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks Knative's rules in Knative's order: the default timeout within the
    /// maximum; the response-start and idle defaults, when positive, within the timeout;
    /// the concurrency limit at least 1 and the default within it; name templates that
    /// render. (Knative bounds nothing else: a zero or negative default timeout passes.)
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let timeout = self.revision_timeout_seconds;
        let check = |ok: bool, key: &str, value: i64, rule: String| {
            if ok {
                Ok(())
            } else {
                Err(InvalidConfig::new(Self::NAME, key, value.to_string(), rule))
            }
        };
        check(
            timeout <= self.max_revision_timeout_seconds,
            "revision-timeout-seconds",
            timeout,
            format!(
                "must be at most max-revision-timeout-seconds ({})",
                self.max_revision_timeout_seconds
            ),
        )?;
        for (key, value) in [
            (
                "revision-response-start-timeout-seconds",
                self.revision_response_start_timeout_seconds,
            ),
            (
                "revision-idle-timeout-seconds",
                self.revision_idle_timeout_seconds,
            ),
        ] {
            check(
                value <= 0 || value <= timeout,
                key,
                value,
                format!("must be at most revision-timeout-seconds ({timeout})"),
            )?;
        }
        check(
            self.container_concurrency_max_limit >= 1,
            "container-concurrency-max-limit",
            self.container_concurrency_max_limit,
            "must be at least 1".into(),
        )?;
        check(
            (0..=self.container_concurrency_max_limit).contains(&self.container_concurrency),
            "container-concurrency",
            self.container_concurrency,
            format!(
                "must be between 0 and container-concurrency-max-limit ({})",
                self.container_concurrency_max_limit
            ),
        )?;
        for (key, template) in [
            ("container-name-template", &self.container_name_template),
            (
                "init-container-name-template",
                &self.init_container_name_template,
            ),
        ] {
            check_name_template(template)
                .map_err(|rule| InvalidConfig::new(Self::NAME, key, template, rule))?;
        }
        Ok(())
    }
}

/// A Kubernetes quantity (`resource.ParseQuantity`, as written: `""` is refused).
fn quantity<L: Lookup + ?Sized>(
    p: &Parser<'_, L>,
    key: &str,
) -> Result<Option<String>, InvalidConfig> {
    match p.value(key) {
        None => Ok(None),
        Some(raw) if is_quantity(raw) => Ok(Some(raw.to_owned())),
        Some(raw) => Err(p.invalid(
            key,
            raw,
            "must be a Kubernetes quantity such as \"100m\", \"1\" or \"128Mi\"",
        )),
    }
}

/// Knative executes the template against empty metadata and requires only that it
/// renders; knserve's renderer knows a subset of Go templates (see
/// [`render_template`]), so a template outside it is refused here.
fn check_name_template(template: &str) -> Result<(), String> {
    let empty = Default::default();
    let values = TemplateValues {
        name: Some(""),
        namespace: Some(""),
        annotations: Some(&empty),
        labels: Some(&empty),
        ..TemplateValues::default()
    };
    render_template(template, &values)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
