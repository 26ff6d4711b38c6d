//! Reading typed values out of a string map, naming the key on failure.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::duration::parse_duration;
use crate::error::InvalidConfig;

/// A read-only string map: a ConfigMap's `data`, annotations, or environment variables.
pub trait Lookup {
    /// The value stored under `key`.
    fn lookup(&self, key: &str) -> Option<&str>;
}

impl<S: std::hash::BuildHasher> Lookup for HashMap<String, String, S> {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Lookup for BTreeMap<String, String> {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl Lookup for [(&str, &str)] {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

impl<const N: usize> Lookup for [(&str, &str); N] {
    fn lookup(&self, key: &str) -> Option<&str> {
        self.as_slice().lookup(key)
    }
}

impl<L: Lookup + ?Sized> Lookup for &L {
    fn lookup(&self, key: &str) -> Option<&str> {
        (**self).lookup(key)
    }
}

/// Reads typed values of one config map, each error naming the map and key.
#[derive(Debug)]
pub struct Parser<'a, L: ?Sized> {
    map: &'static str,
    data: &'a L,
}

impl<'a, L: Lookup + ?Sized> Parser<'a, L> {
    /// A parser for the config map named `map` with contents `data`.
    pub fn new(map: &'static str, data: &'a L) -> Self {
        Self { map, data }
    }

    /// An error for `key` holding `value`.
    pub fn invalid(
        &self,
        key: &str,
        value: impl Into<String>,
        rule: impl Into<String>,
    ) -> InvalidConfig {
        InvalidConfig::new(self.map, key, value, rule)
    }

    /// The trimmed raw value of `key`, if present.
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        self.data.lookup(key).map(str::trim)
    }

    /// A string value, or `default`.
    pub fn string(&self, key: &str, default: &str) -> String {
        self.raw(key).unwrap_or(default).to_owned()
    }

    /// A 64-bit float, or `default`.
    pub fn float(&self, key: &str, default: f64) -> Result<f64, InvalidConfig> {
        self.parsed(key, default, "must be a number", |s| {
            s.parse::<f64>().ok().filter(|v| v.is_finite())
        })
    }

    /// A base-10 integer that fits Knative's int32 and is not negative, or `default`.
    pub fn count(&self, key: &str, default: u32) -> Result<u32, InvalidConfig> {
        self.parsed(
            key,
            default,
            "must be a whole number between 0 and 2147483647",
            |s| s.parse::<i32>().ok().and_then(|v| u32::try_from(v).ok()),
        )
    }

    /// `true` or `false` (any case), or `default`.
    ///
    /// Knative reads anything but `true` as false; a typo there silently disables a
    /// feature, so other spellings are rejected here instead.
    pub fn boolean(&self, key: &str, default: bool) -> Result<bool, InvalidConfig> {
        self.parsed(key, default, "must be true or false", |s| {
            if s.eq_ignore_ascii_case("true") {
                Some(true)
            } else if s.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        })
    }

    /// A non-negative Go duration, or `default`.
    pub fn duration(&self, key: &str, default: Duration) -> Result<Duration, InvalidConfig> {
        match self.raw(key) {
            None => Ok(default),
            Some(raw) => parse_duration(raw).map_err(|e| {
                let rule = match e {
                    crate::duration::DurationError::Negative(_) => "must not be negative",
                    _ => "must be a Go duration such as \"60s\" or \"1m30s\"",
                };
                self.invalid(key, raw, rule)
            }),
        }
    }

    fn parsed<T>(
        &self,
        key: &str,
        default: T,
        rule: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T, InvalidConfig> {
        match self.raw(key) {
            None => Ok(default),
            Some(raw) => parse(raw).ok_or_else(|| self.invalid(key, raw, rule)),
        }
    }
}
