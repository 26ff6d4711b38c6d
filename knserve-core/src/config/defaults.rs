//! `config-defaults`: the defaults and limits applied to every revision.

use super::{InvalidConfig, Lookup, Parser};
use crate::api::{TemplateValues, render_template};

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

const QUANTITY_KEYS: [&str; 6] = [
    "revision-cpu-request",
    "revision-cpu-limit",
    "revision-memory-request",
    "revision-memory-limit",
    "revision-ephemeral-storage-request",
    "revision-ephemeral-storage-limit",
];

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

    /// Parses the map, starting from Knative's defaults, and validates the result.
    pub fn from_map(data: &(impl Lookup + ?Sized)) -> Result<Self, InvalidConfig> {
        let p = Parser::new(Self::NAME, data);
        let d = Self::default();
        let timeout = whole(&p, "revision-timeout-seconds", d.revision_timeout_seconds)?;
        // Knative reads an unset (or 0) response-start timeout as the revision timeout.
        let response_start = match whole(&p, "revision-response-start-timeout-seconds", 0)? {
            0 => timeout,
            v => v,
        };
        let [cpu_req, cpu_lim, mem_req, mem_lim, eph_req, eph_lim] =
            QUANTITY_KEYS.map(|key| quantity(&p, key));
        let config = Self {
            revision_timeout_seconds: timeout,
            max_revision_timeout_seconds: whole(
                &p,
                "max-revision-timeout-seconds",
                d.max_revision_timeout_seconds,
            )?,
            revision_response_start_timeout_seconds: response_start,
            revision_idle_timeout_seconds: whole(
                &p,
                "revision-idle-timeout-seconds",
                d.revision_idle_timeout_seconds,
            )?,
            container_concurrency: whole(&p, "container-concurrency", d.container_concurrency)?,
            container_concurrency_max_limit: whole(
                &p,
                "container-concurrency-max-limit",
                d.container_concurrency_max_limit,
            )?,
            allow_container_concurrency_zero: p.boolean(
                "allow-container-concurrency-zero",
                d.allow_container_concurrency_zero,
            )?,
            container_name_template: p.string("container-name-template", "user-container"),
            init_container_name_template: p
                .string("init-container-name-template", "init-container"),
            enable_service_links: service_links(&p)?,
            revision_cpu_request: cpu_req?,
            revision_cpu_limit: cpu_lim?,
            revision_memory_request: mem_req?,
            revision_memory_limit: mem_lim?,
            revision_ephemeral_storage_request: eph_req?,
            revision_ephemeral_storage_limit: eph_lim?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks Knative's cross-field rules: timeouts ordered and positive, the
    /// concurrency default within its limit, and name templates that render a DNS-1123 label.
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
            timeout >= 1,
            "revision-timeout-seconds",
            timeout,
            "must be at least 1".into(),
        )?;
        check(
            timeout <= self.max_revision_timeout_seconds,
            "max-revision-timeout-seconds",
            self.max_revision_timeout_seconds,
            format!("must be at least revision-timeout-seconds ({timeout})"),
        )?;
        check(
            (0..=timeout).contains(&self.revision_response_start_timeout_seconds),
            "revision-response-start-timeout-seconds",
            self.revision_response_start_timeout_seconds,
            format!("must be between 0 and revision-timeout-seconds ({timeout})"),
        )?;
        check(
            (0..=timeout).contains(&self.revision_idle_timeout_seconds),
            "revision-idle-timeout-seconds",
            self.revision_idle_timeout_seconds,
            format!("must be between 0 and revision-timeout-seconds ({timeout})"),
        )?;
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

/// A whole number of seconds or a count (Knative reads these as int64).
fn whole<L: Lookup + ?Sized>(
    p: &Parser<'_, L>,
    key: &str,
    default: i64,
) -> Result<i64, InvalidConfig> {
    match p.raw(key) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .map_err(|_| p.invalid(key, raw, "must be a whole number")),
    }
}

fn quantity<L: Lookup + ?Sized>(
    p: &Parser<'_, L>,
    key: &str,
) -> Result<Option<String>, InvalidConfig> {
    match p.raw(key) {
        None | Some("") => Ok(None),
        Some(raw) if is_quantity(raw) => Ok(Some(raw.to_owned())),
        Some(raw) => Err(p.invalid(
            key,
            raw,
            "must be a Kubernetes quantity such as \"100m\", \"1\" or \"128Mi\"",
        )),
    }
}

fn service_links<L: Lookup + ?Sized>(p: &Parser<'_, L>) -> Result<Option<bool>, InvalidConfig> {
    match p.raw("enable-service-links") {
        Some(raw) if raw.eq_ignore_ascii_case("default") => Ok(None),
        Some(raw) if raw.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(raw) if raw.eq_ignore_ascii_case("false") => Ok(Some(false)),
        None => Ok(Some(false)),
        Some(raw) => Err(p.invalid(
            "enable-service-links",
            raw,
            "must be true, false or default",
        )),
    }
}

/// Kubernetes' quantity syntax: a signed decimal number, then an optional binary
/// (`Ki`…`Ei`) or decimal (`n u m k M G T P E`) suffix or a decimal exponent (`e3`).
pub(crate) fn is_quantity(s: &str) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let end = digits
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(digits.len());
    let (number, suffix) = digits.split_at(end);
    let number_ok = !number.is_empty() && number != "." && number.matches('.').count() <= 1;
    let suffix_ok = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || suffix
        .strip_prefix(['e', 'E'])
        .map(|exp| exp.strip_prefix(['+', '-']).unwrap_or(exp))
        .is_some_and(|exp| !exp.is_empty() && exp.bytes().all(|b| b.is_ascii_digit()));
    number_ok && suffix_ok
}

/// Knative renders the template against sample metadata and requires a DNS-1123 label.
fn check_name_template(template: &str) -> Result<(), String> {
    let empty = Default::default();
    let values = TemplateValues {
        name: Some("foo"),
        namespace: Some("bar"),
        annotations: Some(&empty),
        labels: Some(&empty),
        ..TemplateValues::default()
    };
    let rendered = render_template(template, &values).map_err(|e| e.to_string())?;
    if crate::api::is_dns1123_label(&rendered) {
        Ok(())
    } else {
        Err(format!(
            "must render a DNS-1123 label (lowercase letters, digits and '-', at most 63), rendered {rendered:?}"
        ))
    }
}
