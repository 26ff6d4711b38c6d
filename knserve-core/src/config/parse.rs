//! Reading typed values out of a string map, naming the key on failure.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::duration::{DurationError, parse_duration};
use crate::error::InvalidConfig;
use crate::goparse::{parse_bool, parse_float, parse_int};

/// A Go duration in nanoseconds, negative ones included; `None` where Go refuses it.
pub(crate) fn parse_signed_duration(raw: &str) -> Option<i128> {
    match parse_duration(raw) {
        Ok(d) => Some(d.as_nanos() as i128),
        Err(DurationError::Negative(_)) => {
            let magnitude = parse_duration(&raw[1..]).ok()?;
            Some(-(magnitude.as_nanos() as i128))
        }
        Err(_) => None,
    }
}

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

    /// The value of `key` exactly as written, if present. Knative trims only strings
    /// (`configmap.AsString`); numbers, booleans and durations are parsed as written.
    pub fn value(&self, key: &str) -> Option<&'a str> {
        self.data.lookup(key)
    }

    /// A trimmed string value, or `default` (Knative's `AsString`).
    pub fn string(&self, key: &str, default: &str) -> String {
        self.raw(key).unwrap_or(default).to_owned()
    }

    /// A 64-bit float as Go's `strconv.ParseFloat` reads it (`NaN`, `Inf` and hex
    /// floats included), or `default`.
    pub fn float(&self, key: &str, default: f64) -> Result<f64, InvalidConfig> {
        self.parsed(key, default, "must be a number", parse_float)
    }

    /// A base-10 integer of `bits` bits (Go's `strconv.ParseInt(s, 10, bits)`), or
    /// `default`.
    pub fn int(&self, key: &str, default: i64, bits: u32) -> Result<i64, InvalidConfig> {
        let rule = format!("must be a whole number that fits {bits} bits");
        self.parsed(key, default, &rule, |s| parse_int(s, bits).ok())
    }

    /// A base-10 integer that fits Knative's int32 and is not negative, or `default`
    /// (for knserve's own settings; the value is trimmed).
    pub fn count(&self, key: &str, default: u32) -> Result<u32, InvalidConfig> {
        match self.raw(key) {
            None => Ok(default),
            Some(raw) => parse_int(raw, 32)
                .ok()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| {
                    self.invalid(key, raw, "must be a whole number between 0 and 2147483647")
                }),
        }
    }

    /// A Go boolean (`strconv.ParseBool`: `1 t T TRUE true True`, `0 f F FALSE false
    /// False`), or `default`; any other spelling is an error, as in Knative.
    pub fn boolean(&self, key: &str, default: bool) -> Result<bool, InvalidConfig> {
        self.parsed(
            key,
            default,
            "must be a Go boolean (true, false, 1, 0, t, f, TRUE, FALSE, True, False, T, F)",
            parse_bool,
        )
    }

    /// A Go duration, which may be negative (Knative's `AsDuration`), or `default`.
    pub fn signed_duration(&self, key: &str, default: i128) -> Result<i128, InvalidConfig> {
        match self.value(key) {
            None => Ok(default),
            Some(raw) => parse_signed_duration(raw).ok_or_else(|| {
                self.invalid(
                    key,
                    raw,
                    "must be a Go duration such as \"60s\" or \"1m30s\"",
                )
            }),
        }
    }

    /// A non-negative Go duration, or `default`.
    pub fn duration(&self, key: &str, default: Duration) -> Result<Duration, InvalidConfig> {
        match self.value(key) {
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
        match self.value(key) {
            None => Ok(default),
            Some(raw) => parse(raw).ok_or_else(|| self.invalid(key, raw, rule)),
        }
    }
}
