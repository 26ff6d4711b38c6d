//! Go's `strconv` parsers and Kubernetes' quantity syntax, as Knative reads annotation and
//! config-map values with them.
//!
//! Knative never trims these values (only `configmap.AsString` does), so neither do
//! these: `" 5"` is not a number.

use std::num::IntErrorKind;

/// Why [`parse_int`] refused a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntError {
    /// Not a base-10 integer (`strconv.ErrSyntax`).
    Syntax,
    /// An integer that does not fit the requested size (`strconv.ErrRange`).
    Range,
}

/// Go's `strconv.ParseInt(s, 10, bits)`: an optional sign and decimal digits, no
/// underscores, within a signed integer of `bits` bits (64 for Go's `Atoi`).
pub fn parse_int(s: &str, bits: u32) -> Result<i64, IntError> {
    let v = s.parse::<i128>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => IntError::Range,
        _ => IntError::Syntax,
    })?;
    let max = (1i128 << (bits - 1)) - 1;
    if v > max || v < -max - 1 {
        return Err(IntError::Range);
    }
    Ok(v as i64)
}

/// Go's `strconv.ParseBool`: `1 t T TRUE true True` and `0 f F FALSE false False`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseFloat(s, 64)`; `None` where Go returns an error.
///
/// Go accepts what Rust's `f64::from_str` does not: hexadecimal floats (`0x1.8p1`),
/// `_` between digits (`1_000`); and refuses what Rust accepts: a signed `nan` and a
/// finite literal too large for an `f64` (Rust gives infinity, Go `ErrRange`). `NaN`,
/// `Inf` and `Infinity` (any case, the infinities signed) are values, as in Go.
pub fn parse_float(s: &str) -> Option<f64> {
    if let Some(v) = special(s) {
        return Some(v);
    }
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.contains('_') && !underscores_ok(body) {
        return None;
    }
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    let is_hex = clean.len() > 2 && clean[..2].eq_ignore_ascii_case("0x");
    let magnitude = if is_hex {
        parse_hex(&clean[2..])?
    } else {
        parse_decimal(&clean)?
    };
    if magnitude.is_infinite() {
        return None;
    }
    Some(if negative { -magnitude } else { magnitude })
}

/// Go's `v < min || v > max`, the bound check Knative writes: false for a NaN, which
/// therefore passes every bound (`!(min..=max).contains(&v)` would refuse it).
#[allow(
    clippy::manual_range_contains,
    reason = "a NaN is outside a RangeInclusive but passes Go's comparisons"
)]
pub fn outside(v: f64, min: f64, max: f64) -> bool {
    v < min || v > max
}

/// `inf`, `infinity` (optionally signed) and unsigned `nan`, ignoring case.
fn special(s: &str) -> Option<f64> {
    if s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    (rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity"))
        .then_some(sign * f64::INFINITY)
}

/// Go's `underscoreOK` on the unsigned literal: each `_` between two digits (a `0x`
/// prefix counts as a digit).
fn underscores_ok(s: &str) -> bool {
    let bytes = s.as_bytes();
    let hex = bytes.len() >= 2 && bytes[0] == b'0' && matches!(bytes[1] | 0x20, b'b' | b'o' | b'x');
    let (mut saw, start) = if hex { (b'0', 2) } else { (b'^', 0) };
    let hex = hex && (bytes[1] | 0x20) == b'x';
    for &c in &bytes[start..] {
        if c.is_ascii_digit() || (hex && (c | 0x20).is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Digits with an optional point and `e` exponent, at least one digit before the exponent.
fn parse_decimal(s: &str) -> Option<f64> {
    let mantissa_end = s.find(['e', 'E']).unwrap_or(s.len());
    let (mantissa, exponent) = s.split_at(mantissa_end);
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
    let points = mantissa.bytes().filter(|b| *b == b'.').count();
    if digits == 0 || points > 1 || digits + points != mantissa.len() {
        return None;
    }
    if let Some(exp) = exponent.get(1..) {
        let unsigned = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    s.parse::<f64>().ok()
}

/// The part after `0x`: hex digits with an optional point, then a mandatory `p` exponent.
fn parse_hex(s: &str) -> Option<f64> {
    let p = s.find(['p', 'P'])?;
    let (mantissa, exponent) = (&s[..p], &s[p + 1..]);
    let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut exp: i64 = unsigned.parse().unwrap_or(100_000).min(100_000);
    if exponent.starts_with('-') {
        exp = -exp;
    }
    let mut value = 0.0_f64;
    let mut seen_point = false;
    let mut digits = 0;
    for c in mantissa.chars() {
        if c == '.' && !seen_point {
            seen_point = true;
            continue;
        }
        let d = c.to_digit(16)?;
        digits += 1;
        value = value * 16.0 + f64::from(d);
        if seen_point {
            exp -= 4;
        }
    }
    if digits == 0 {
        return None;
    }
    let exp = i32::try_from(exp.clamp(-5000, 5000)).unwrap_or(0);
    Some(value * 2f64.powi(exp.clamp(-1074, 1024)) * 2f64.powi(exp - exp.clamp(-1074, 1024)))
}

/// Kubernetes' `resource.ParseQuantity` accepts `s` (see [`crate::api::Quantity::parse`],
/// the one parser of quantities).
pub fn is_quantity(s: &str) -> bool {
    crate::api::Quantity::parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_parse_as_go_parses_them() {
        let accepted = [
            ("1_000", 1000.0),
            ("0x1p-2", 0.25),
            ("0x_1p0", 1.0),
            ("0x1.8p1", 3.0),
            ("-Inf", f64::NEG_INFINITY),
            ("+INFINITY", f64::INFINITY),
            ("1e-400", 0.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("1e1_0", 1e10),
            (".5e1", 5.0),
            ("-0", 0.0),
            ("+0", 0.0),
        ];
        for (s, want) in accepted {
            assert_eq!(parse_float(s), Some(want), "Go's ParseFloat accepts {s:?}");
        }
        assert!(parse_float("NaN").is_some_and(f64::is_nan));
        for s in [
            "_1", "1__0", "0x1", "+nan", "infin", "1e400", " 1", ".", "1e", "1e+", "0x", "0x.p1",
            "1_e5", "", "1.5s", "1,5",
        ] {
            assert_eq!(parse_float(s), None, "Go's ParseFloat refuses {s:?}");
        }
    }

    #[test]
    fn booleans_are_go_parse_bool() {
        for s in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_bool(s), Some(true));
        }
        for s in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_bool(s), Some(false));
        }
        for s in ["yes", "tRUE", " true", "on", ""] {
            assert_eq!(parse_bool(s), None, "{s:?} is not a Go bool");
        }
    }

    #[test]
    fn ints_are_base_ten_within_their_size() {
        assert_eq!(parse_int("+5", 32), Ok(5));
        assert_eq!(parse_int("-0", 32), Ok(0));
        assert_eq!(parse_int("2147483648", 32), Err(IntError::Range));
        assert_eq!(parse_int("2147483648", 64), Ok(2_147_483_648));
        for s in ["", "+", "1_0", " 1", "0x10", "1.0"] {
            assert_eq!(parse_int(s, 64), Err(IntError::Syntax), "{s:?}");
        }
    }

    #[test]
    fn quantities_follow_parse_quantity() {
        for s in [
            "100m", "1", "128Mi", "1.5", "1.", ".", "-", "e3", "1E", "1e-3", "Ki", "0",
        ] {
            assert!(is_quantity(s), "{s:?} is a quantity");
        }
        for s in ["", " 1", "1e", "1Ki1", "1.5.5", "1x", "1 ", "1KiB"] {
            assert!(!is_quantity(s), "{s:?} is not a quantity");
        }
    }
}
