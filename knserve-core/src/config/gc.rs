//! `config-gc`: when unreferenced revisions are garbage-collected.

use std::time::Duration;

use super::{InvalidConfig, Lookup, Parser};
use crate::duration::{DurationError, parse_duration};

/// The spelling, in any case, that turns a `config-gc` setting off.
const DISABLED: &str = "disabled";

/// `config-gc`, with Knative's keys and defaults (`Default`).
///
/// Each setting Knative lets one write as `disabled` is an `Option` here, `None` being
/// disabled: a disabled retention time never keeps a revision, a disabled maximum is
/// unlimited. The collection itself is [`crate::reconcile::collect_revisions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcConfig {
    /// `retain-since-create-time`: a non-active revision younger than this is kept
    /// (while within `max-non-active-revisions`); `None` is `disabled`.
    pub retain_since_create_time: Option<Duration>,
    /// `retain-since-last-active-time`: a non-active revision a route referenced more
    /// recently than this is kept (while within `max-non-active-revisions`); `None` is
    /// `disabled`.
    pub retain_since_last_active_time: Option<Duration>,
    /// `min-non-active-revisions`: non-active revisions always kept, per Configuration.
    pub min_non_active_revisions: u64,
    /// `max-non-active-revisions`: non-active revisions kept at most, per Configuration,
    /// whatever their age; `None` is `disabled` (unlimited).
    pub max_non_active_revisions: Option<u64>,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            retain_since_create_time: Some(Duration::from_secs(48 * 3600)),
            retain_since_last_active_time: Some(Duration::from_secs(15 * 3600)),
            min_non_active_revisions: 20,
            max_non_active_revisions: Some(1000),
        }
    }
}

impl GcConfig {
    /// The config map's name.
    pub const NAME: &'static str = "config-gc";

    /// Every key this map reads.
    pub const KEYS: &'static [&'static str] = &[
        "retain-since-create-time",
        "retain-since-last-active-time",
        "min-non-active-revisions",
        "max-non-active-revisions",
    ];

    /// Parses the map, starting from Knative's defaults.
    ///
    /// As in Knative: the two times and the maximum are trimmed, an empty value keeps
    /// the default, `disabled` is accepted in any case, a time must be a non-negative
    /// Go duration; `min-non-active-revisions` is a 64-bit integer read as written and
    /// must not be negative; the minimum may not exceed a maximum that is not disabled.
    /// One deliberate difference: Knative reads the maximum as an unsigned 64-bit
    /// number and converts it to a signed one, so a value above 9223372036854775807
    /// silently turns negative (and `18446744073709551615` into `disabled`); here such
    /// a value is an error.
    pub fn from_map(data: &(impl Lookup + ?Sized)) -> Result<Self, InvalidConfig> {
        let p = Parser::new(Self::NAME, data);
        let d = Self::default();
        let min_key = "min-non-active-revisions";
        let min = p.int(min_key, d.min_non_active_revisions as i64, 64)?;
        let min = u64::try_from(min)
            .map_err(|_| p.invalid(min_key, min.to_string(), "must be non-negative"))?;
        let config = Self {
            retain_since_create_time: retention(
                &p,
                "retain-since-create-time",
                d.retain_since_create_time,
            )?,
            retain_since_last_active_time: retention(
                &p,
                "retain-since-last-active-time",
                d.retain_since_last_active_time,
            )?,
            min_non_active_revisions: min,
            max_non_active_revisions: maximum(&p, d.max_non_active_revisions)?,
        };
        if let Some(max) = config.max_non_active_revisions
            && min > max
        {
            return Err(p.invalid(
                min_key,
                min.to_string(),
                format!("must be <= max-non-active-revisions ({max})"),
            ));
        }
        Ok(config)
    }

    /// Whether nothing can ever be collected: both times and the maximum disabled.
    pub fn is_disabled(&self) -> bool {
        self.retain_since_create_time.is_none()
            && self.retain_since_last_active_time.is_none()
            && self.max_non_active_revisions.is_none()
    }
}

/// A retention time: a non-negative Go duration or `disabled`.
fn retention<L: Lookup + ?Sized>(
    p: &Parser<'_, L>,
    key: &str,
    default: Option<Duration>,
) -> Result<Option<Duration>, InvalidConfig> {
    match p.raw(key) {
        None | Some("") => Ok(default),
        Some(raw) if raw.eq_ignore_ascii_case(DISABLED) => Ok(None),
        Some(raw) => parse_duration(raw).map(Some).map_err(|e| {
            let rule = match e {
                DurationError::Negative(_) => "must be non-negative",
                _ => "must be \"disabled\" or a Go duration such as \"48h\" or \"1h30m\"",
            };
            p.invalid(key, raw, rule)
        }),
    }
}

/// `max-non-active-revisions`: a whole number or `disabled`.
fn maximum<L: Lookup + ?Sized>(
    p: &Parser<'_, L>,
    default: Option<u64>,
) -> Result<Option<u64>, InvalidConfig> {
    let key = "max-non-active-revisions";
    match p.raw(key) {
        None | Some("") => Ok(default),
        Some(raw) if raw.eq_ignore_ascii_case(DISABLED) => Ok(None),
        Some(raw) => raw
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| raw.parse::<i64>().ok())
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .map(Some)
            .ok_or_else(|| {
                p.invalid(
                    key,
                    raw,
                    "must be \"disabled\" or a whole number between 0 and 9223372036854775807",
                )
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<GcConfig, InvalidConfig> {
        GcConfig::from_map(pairs)
    }

    fn hours(h: u64) -> Option<Duration> {
        Some(Duration::from_secs(h * 3600))
    }

    #[test]
    fn actual_config_is_knatives_defaults() {
        let want = GcConfig {
            retain_since_create_time: hours(48),
            retain_since_last_active_time: hours(15),
            min_non_active_revisions: 20,
            max_non_active_revisions: Some(1000),
        };
        assert_eq!(
            parse(&[]).unwrap(),
            want,
            "an empty config-gc is the defaults"
        );
        assert_eq!(GcConfig::default(), want);
    }

    #[test]
    fn with_value_overrides() {
        let got = parse(&[
            ("min-non-active-revisions", "10"),
            ("max-non-active-revisions", "1000"),
            ("retain-since-create-time", "17h"),
            ("retain-since-last-active-time", "16h"),
        ])
        .unwrap();
        assert_eq!(
            got,
            GcConfig {
                retain_since_create_time: hours(17),
                retain_since_last_active_time: hours(16),
                min_non_active_revisions: 10,
                max_non_active_revisions: Some(1000),
            }
        );
    }

    #[test]
    fn with_disabled_values_in_any_case() {
        let got = parse(&[
            ("max-non-active-revisions", "DISABLED"),
            ("retain-since-create-time", " disabled "),
            ("retain-since-last-active-time", "Disabled"),
        ])
        .unwrap();
        assert_eq!(got.retain_since_create_time, None);
        assert_eq!(got.retain_since_last_active_time, None);
        assert_eq!(got.max_non_active_revisions, None);
        assert!(
            got.is_disabled(),
            "all three disabled means nothing is collected"
        );
        assert!(!GcConfig::default().is_disabled());
    }

    #[test]
    fn empty_values_keep_the_defaults() {
        let got = parse(&[
            ("max-non-active-revisions", ""),
            ("retain-since-create-time", " "),
        ])
        .unwrap();
        assert_eq!(got, GcConfig::default());
    }

    #[test]
    fn min_disabled_max_unlimited_allows_any_min() {
        let got = parse(&[
            ("min-non-active-revisions", "5000"),
            ("max-non-active-revisions", "disabled"),
        ])
        .unwrap();
        assert_eq!(got.min_non_active_revisions, 5000);
    }

    #[test]
    fn zero_values_are_allowed() {
        let got = parse(&[
            ("min-non-active-revisions", "0"),
            ("max-non-active-revisions", "0"),
            ("retain-since-create-time", "0"),
            ("retain-since-last-active-time", "0s"),
        ])
        .unwrap();
        assert_eq!(got.retain_since_create_time, Some(Duration::ZERO));
        assert_eq!(got.max_non_active_revisions, Some(0));
    }

    fn rejected(pairs: &[(&str, &str)], key: &str) -> InvalidConfig {
        let err = parse(pairs).expect_err("the map must be rejected");
        assert_eq!(err.map, "config-gc");
        assert_eq!(err.key, key, "the error names the key that broke its rule");
        err
    }

    #[test]
    fn invalid_negative_min_stale() {
        let err = rejected(
            &[("min-non-active-revisions", "-1")],
            "min-non-active-revisions",
        );
        assert!(err.rule.contains("non-negative"), "{err}");
    }

    #[test]
    fn invalid_negative_maximum_generation() {
        rejected(
            &[("max-non-active-revisions", "-1")],
            "max-non-active-revisions",
        );
    }

    #[test]
    fn invalid_max_less_than_min() {
        let err = rejected(
            &[
                ("min-non-active-revisions", "20"),
                ("max-non-active-revisions", "10"),
            ],
            "min-non-active-revisions",
        );
        assert!(err.rule.contains("max-non-active-revisions (10)"), "{err}");
    }

    #[test]
    fn unparsable_create_duration() {
        rejected(
            &[("retain-since-create-time", "invalid")],
            "retain-since-create-time",
        );
    }

    #[test]
    fn negative_create_delay() {
        let err = rejected(
            &[("retain-since-create-time", "-1h")],
            "retain-since-create-time",
        );
        assert!(err.rule.contains("non-negative"), "{err}");
    }

    #[test]
    fn negative_last_active() {
        rejected(
            &[("retain-since-last-active-time", "-30m")],
            "retain-since-last-active-time",
        );
    }

    #[test]
    fn invalid_min_and_max_numbers() {
        rejected(
            &[("min-non-active-revisions", "ten")],
            "min-non-active-revisions",
        );
        rejected(
            &[("min-non-active-revisions", " 10")],
            "min-non-active-revisions",
        );
        rejected(
            &[("max-non-active-revisions", "1.5")],
            "max-non-active-revisions",
        );
        rejected(
            &[("max-non-active-revisions", "+5")],
            "max-non-active-revisions",
        );
        rejected(
            &[("max-non-active-revisions", "9223372036854775808")],
            "max-non-active-revisions",
        );
    }
}
