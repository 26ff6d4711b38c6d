//! Go-style durations (`time.ParseDuration`), as Knative writes them in config maps and
//! annotations: `60s`, `1m30s`, `1.5h`, `300ms`, `0`.

use std::time::Duration;

/// Why a duration string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not Go duration syntax.
    #[error(
        "invalid duration {0:?}: expected a Go duration such as \"60s\", \"1m30s\" or \"1.5h\""
    )]
    Syntax(String),
    /// A unit other than `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`.
    #[error("invalid duration {0:?}: unknown unit {1:?} (valid units are ns, us, µs, ms, s, m, h)")]
    Unit(String, String),
    /// A negative duration, which no setting here allows.
    #[error("invalid duration {0:?}: must not be negative")]
    Negative(String),
    /// Larger than Go's `time.Duration` can hold (about 292 years).
    #[error("invalid duration {0:?}: out of range")]
    Overflow(String),
}

const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a Go duration. Negative values are rejected (`-0s` is zero, as in Go).
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax(input.to_owned());
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(syntax());
    }
    let mut total_nanos: u128 = 0;
    while !rest.is_empty() {
        let (whole, frac, after) = split_number(rest).ok_or_else(syntax)?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let unit = &after[..unit_len];
        if unit.is_empty() {
            return Err(syntax());
        }
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, s)| *s)
            .ok_or_else(|| DurationError::Unit(input.to_owned(), unit.to_owned()))?;
        total_nanos += component_nanos(whole, frac, scale)
            .ok_or_else(|| DurationError::Overflow(input.to_owned()))?;
        rest = &after[unit_len..];
    }
    if total_nanos > i64::MAX as u128 {
        return Err(DurationError::Overflow(input.to_owned()));
    }
    if negative && total_nanos != 0 {
        return Err(DurationError::Negative(input.to_owned()));
    }
    Ok(Duration::from_nanos(total_nanos as u64))
}

/// Splits a leading `123.456` off `s`; returns (whole digits, fraction digits, rest).
fn split_number(s: &str) -> Option<(&str, &str, &str)> {
    let whole_len = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (whole, after) = s.split_at(whole_len);
    let (frac, after) = match after.strip_prefix('.') {
        Some(f) => {
            let n = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
            f.split_at(n)
        }
        None => ("", after),
    };
    // Go requires at least one digit on one side of the point.
    (!whole.is_empty() || !frac.is_empty()).then_some((whole, frac, after))
}

fn component_nanos(whole: &str, frac: &str, scale: u128) -> Option<u128> {
    let whole_value: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole_value.checked_mul(scale)?;
    // Fraction digits beyond the scale's precision are truncated, as Go does.
    let mut place = scale;
    for digit in frac.bytes() {
        place /= 10;
        if place == 0 {
            break;
        }
        nanos = nanos.checked_add(u128::from(digit - b'0') * place)?;
    }
    if nanos > i64::MAX as u128 {
        None
    } else {
        Some(nanos)
    }
}

/// Formats a duration as Go's `Duration.String` does (`1m30s`, `1.5s`, `300ms`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = match nanos {
            n if n < 1_000 => return format!("{n}ns"),
            n if n < 1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{}{unit}", fixed(nanos, scale));
    }
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let seconds = fixed(nanos % 60_000_000_000, 1_000_000_000);
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{seconds}s"));
    out
}

/// `value / scale` as a decimal without trailing zeros.
fn fixed(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let frac = value % scale;
    if frac == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_duration_syntax() {
        let cases = [
            ("0", 0),
            ("-0s", 0),
            ("60s", 60_000_000_000),
            ("1m30s", 90_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("300ms", 300_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("2µs", 2_000),
            (".5s", 500_000_000),
            ("5.s", 5_000_000_000),
            ("1.0000000001s", 1_000_000_000),
        ];
        for (input, nanos) in cases {
            assert_eq!(
                parse_duration(input),
                Ok(Duration::from_nanos(nanos)),
                "Go parses {input:?} as {nanos}ns"
            );
        }
    }

    #[test]
    fn rejects_what_go_rejects_and_negatives() {
        for bad in ["", "s", "60", "1x", ".s", "1m30", "--1s", "1 s", "+"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} is not a Go duration");
        }
        assert_eq!(
            parse_duration("-1s"),
            Err(DurationError::Negative("-1s".into()))
        );
        assert!(matches!(
            parse_duration("3000000h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (0, "0s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (1_500_000_000, "1.5s"),
            (300_000_000, "300ms"),
            (1_500, "1.5µs"),
            (7, "7ns"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format_duration(Duration::from_nanos(nanos)), text);
            assert_eq!(parse_duration(text), Ok(Duration::from_nanos(nanos)));
        }
    }
}
