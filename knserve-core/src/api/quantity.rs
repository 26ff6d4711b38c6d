//! Kubernetes resource quantities (`100m`, `1`, `128Mi`, `1e3`), checked with
//! apimachinery's `ParseQuantity` grammar and kept as written.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// A Kubernetes quantity as written (`100m`, `1`, `128Mi`).
///
/// Deserializing checks it with Kubernetes' grammar ([`Quantity::parse`]). YAML may
/// write a bare number (`cpu: 1`, `cpu: 0.5`); it is kept as its decimal text and
/// serialized as a string, as the API server does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Quantity(pub String);

/// Why a quantity's text is not one; the messages are apimachinery's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not `<sign><digits>.<digits><suffix>`.
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    /// The number has no digits where it needs some.
    #[error("unable to parse numeric part of quantity")]
    Numeric,
    /// A suffix that is none of `n u m k M G T P E Ki Mi Gi Ti Pi Ei` or `e<exponent>`.
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// A parsed quantity's parts (apimachinery's `parseQuantityString`).
struct Parts<'a> {
    /// Sign and digits up to the suffix.
    value: &'a str,
    /// Integer digits without leading zeros (`"0"` when none).
    num: &'a str,
    /// Fraction digits.
    denom: &'a str,
    suffix: &'a str,
}

impl Quantity {
    /// Checks `text` as apimachinery's `ParseQuantity` does, keeping it as written.
    pub fn parse(text: &str) -> Result<Self, QuantityError> {
        check(text)?;
        Ok(Self(text.to_owned()))
    }
}

fn check(text: &str) -> Result<(), QuantityError> {
    if text.is_empty() {
        return Err(QuantityError::Format);
    }
    if text == "0" {
        return Ok(());
    }
    let parts = split(text)?;
    let (exponent, binary) = suffix(parts.suffix).ok_or(QuantityError::Suffix)?;
    // apimachinery takes a fast path (int64 arithmetic) when the digits fit; otherwise it
    // parses `value` as a decimal, which fails only when it has no digit at all.
    let digits = parts.num.len() + parts.denom.len();
    let fast = if binary {
        let precision = 15 - parts.num.len() as i64 - (f64::from(exponent) * 3.0 / 10.0) as i64 - 1;
        exponent >= 0 && parts.denom.is_empty() && precision >= 0
    } else {
        let scale = i64::from(exponent) - parts.denom.len() as i64;
        18 >= digits && scale >= -9
    };
    if !fast && !parts.value.bytes().any(|b| b.is_ascii_digit()) {
        return Err(QuantityError::Numeric);
    }
    Ok(())
}

/// apimachinery's `parseQuantityString`, step by step.
fn split(text: &str) -> Result<Parts<'_>, QuantityError> {
    let b = text.as_bytes();
    let end = b.len();
    let digits_from =
        |start: usize| start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut pos = usize::from(matches!(b[0], b'-' | b'+'));
    pos += b[pos..].iter().take_while(|&&c| c == b'0').count();
    if pos >= end {
        return Ok(Parts {
            value: text,
            num: "0",
            denom: "",
            suffix: "",
        });
    }
    let num_end = digits_from(pos);
    let num = if num_end == pos {
        "0"
    } else {
        &text[pos..num_end]
    };
    if num_end >= end {
        return Ok(Parts {
            value: text,
            num,
            denom: "",
            suffix: "",
        });
    }
    pos = num_end;
    let mut denom = "";
    if b[pos] == b'.' {
        let denom_end = digits_from(pos + 1);
        denom = &text[pos + 1..denom_end];
        if denom_end >= end {
            return Ok(Parts {
                value: text,
                num,
                denom,
                suffix: "",
            });
        }
        pos = denom_end;
    }
    let value = &text[..pos];
    let suffix_start = pos;
    pos += b[pos..]
        .iter()
        .take_while(|c| b"eEinumkKMGTP".contains(c))
        .count();
    if pos < end && matches!(b[pos], b'-' | b'+') {
        pos += 1;
    }
    if digits_from(pos) < end {
        return Err(QuantityError::Format);
    }
    Ok(Parts {
        value,
        num,
        denom,
        suffix: &text[suffix_start..],
    })
}

/// A suffix's power and whether it is binary (`Ki` = 2^10); `e3`/`E3` are exponents.
fn suffix(suffix: &str) -> Option<(i32, bool)> {
    Some(match suffix {
        "" => (0, false),
        "n" => (-9, false),
        "u" => (-6, false),
        "m" => (-3, false),
        "k" => (3, false),
        "M" => (6, false),
        "G" => (9, false),
        "T" => (12, false),
        "P" => (15, false),
        "E" => (18, false),
        "Ki" => (10, true),
        "Mi" => (20, true),
        "Gi" => (30, true),
        "Ti" => (40, true),
        "Pi" => (50, true),
        "Ei" => (60, true),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            // Go parses an int64 and keeps its low 32 bits.
            (exponent.parse::<i64>().ok()? as i32, false)
        }
    })
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => s.trim().to_owned(),
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(D::Error::custom(format!(
                    "invalid quantity {other}: expected a string such as \"128Mi\" or a number"
                )));
            }
        };
        Self::parse(&text).map_err(|e| D::Error::custom(format!("invalid quantity {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_parse_quantity_accepts() {
        for ok in [
            "0",
            "1",
            "100m",
            "0.5",
            ".5",
            "1.",
            "128Mi",
            "1Gi",
            "1k",
            "1M",
            "1E",
            "1e3",
            "1E3",
            "1e-3",
            "1e+3",
            "+1",
            "-1",
            "1n",
            "1u",
            "0.1n",
            "+",
            "-",
            ".",
            "k",
            "0000",
            "123456789012345678901234567890",
        ] {
            assert!(Quantity::parse(ok).is_ok(), "{ok:?} is a quantity");
        }
    }

    #[test]
    fn refuses_bad_quantities_with_apimachinery_errors() {
        for (bad, error) in [
            ("", QuantityError::Format),
            ("abc", QuantityError::Format),
            ("1.5.5", QuantityError::Format),
            ("1Gi1x", QuantityError::Format),
            (" 1", QuantityError::Format),
            ("1K", QuantityError::Suffix),
            ("1e", QuantityError::Suffix),
            ("1mi", QuantityError::Suffix),
            ("1Gb", QuantityError::Format),
            ("1kk", QuantityError::Suffix),
            (".e-10", QuantityError::Numeric),
        ] {
            assert_eq!(Quantity::parse(bad), Err(error), "{bad:?}");
        }
    }
}
