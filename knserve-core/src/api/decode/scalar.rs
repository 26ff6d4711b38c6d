//! A scalar's text to its value, as goyaml.v2's `resolve` (the YAML 1.1 rules
//! sigs.k8s.io/yaml, hence kubectl and the API server, read manifests with).
//!
//! Only plain scalars are resolved: a quoted or block scalar is a string unless it
//! carries an explicit core tag (`!!int "12"`).

/// A resolved scalar.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar {
    /// `~`, `null`, `Null`, `NULL` or nothing at all.
    Null,
    /// `true`/`yes`/`on`/`y` and `false`/`no`/`off`/`n`, in their three spellings.
    Bool(bool),
    /// An integer that fits `i64` (decimal, `0x`, `0o`, `0b`, leading-`0` octal).
    Int(i64),
    /// An integer above `i64::MAX` that fits `u64`.
    Uint(u64),
    /// Anything else numeric, including `.inf` and `.nan`.
    Float(f64),
    /// A string, the text as written.
    Str(String),
}

/// The prefix of the YAML core schema's tags (`!!int` is `tag:yaml.org,2002:int`).
pub(super) const CORE: &str = "tag:yaml.org,2002:";

/// Resolves `text`: `plain` tells a plain scalar from a quoted or block one; `tag` is an
/// explicit tag in its long form, if any.
///
/// Fails, as goyaml.v2 does, when an explicit core tag does not fit the text
/// (`!!int abc`).
pub(super) fn resolve(tag: Option<&str>, plain: bool, text: &str) -> Result<Scalar, String> {
    let Some(tag) = tag else {
        return Ok(if plain {
            resolve_plain(text)
        } else {
            Scalar::Str(text.to_owned())
        });
    };
    let Some(suffix) = tag.strip_prefix(CORE) else {
        // A local tag (`!foo`) is not resolvable: the text stays a string.
        return Ok(Scalar::Str(text.to_owned()));
    };
    let resolved = match suffix {
        "str" => return Ok(Scalar::Str(text.to_owned())),
        "binary" => return decode_base64(text).map(Scalar::Str),
        // A timestamp decoded into an untyped value keeps its text.
        "timestamp" if looks_like_timestamp(text) => return Ok(Scalar::Str(text.to_owned())),
        "timestamp" => {
            return Err(format!("cannot decode !!str `{text}` as a !!timestamp"));
        }
        "bool" | "int" | "float" | "null" => resolve_plain(text),
        _ => return Ok(Scalar::Str(text.to_owned())),
    };
    match (suffix, resolved) {
        ("bool", v @ Scalar::Bool(_)) | ("null", v @ Scalar::Null) => Ok(v),
        ("int", v @ (Scalar::Int(_) | Scalar::Uint(_))) | ("float", v @ Scalar::Float(_)) => Ok(v),
        ("float", Scalar::Int(i)) => Ok(Scalar::Float(i as f64)),
        (_, other) => Err(format!(
            "cannot decode !!{} `{text}` as a !!{suffix}",
            short_tag(&other)
        )),
    }
}

fn short_tag(value: &Scalar) -> &'static str {
    match value {
        Scalar::Null => "null",
        Scalar::Bool(_) => "bool",
        Scalar::Int(_) | Scalar::Uint(_) => "int",
        Scalar::Float(_) => "float",
        Scalar::Str(_) => "str",
    }
}

/// The shape of goyaml.v2's timestamp formats (`2006-1-2`, then optionally `T`, `t` or
/// a space and `15:4:5` with a fraction and a zone); the ranges are not checked.
fn looks_like_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |from: usize| {
        b[from.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    if b.len() < 8 || digits(0) != 4 || b[4] != b'-' {
        return false;
    }
    let month = digits(5);
    let day_at = 5 + month + 1;
    if !(1..=2).contains(&month) || b.get(5 + month) != Some(&b'-') {
        return false;
    }
    let day = digits(day_at);
    if !(1..=2).contains(&day) {
        return false;
    }
    match b.get(day_at + day) {
        None => true,
        Some(b'T' | b't' | b' ') => text[day_at + day + 1..]
            .bytes()
            .all(|c| c.is_ascii_digit() || b":.Z+- ".contains(&c)),
        Some(_) => false,
    }
}

/// goyaml.v2's implicit resolution of a plain scalar.
pub(super) fn resolve_plain(text: &str) -> Scalar {
    if let Some(known) = known_word(text) {
        return known;
    }
    match text.as_bytes().first() {
        Some(b'.') => {
            if let Some(f) = parse_go_float(text) {
                return Scalar::Float(f);
            }
        }
        Some(b'0'..=b'9' | b'+' | b'-') => {
            if let Some(number) = resolve_number(text) {
                return number;
            }
        }
        _ => {}
    }
    Scalar::Str(text.to_owned())
}

/// The words goyaml.v2 resolves by table (`resolveMap`).
fn known_word(text: &str) -> Option<Scalar> {
    Some(match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            Scalar::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            Scalar::Bool(false)
        }
        "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => Scalar::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => Scalar::Float(f64::NEG_INFINITY),
        _ => return None,
    })
}

/// Text starting with a digit or a sign: an `int`, then a `uint`, then a float of YAML's
/// form, each after removing every `_`.
fn resolve_number(text: &str) -> Option<Scalar> {
    let plain = text.replace('_', "");
    if let Some(i) = parse_go_int(&plain) {
        return Some(Scalar::Int(i));
    }
    if let Some(u) = parse_go_uint(&plain) {
        return Some(Scalar::Uint(u));
    }
    if is_yaml_float(&plain) {
        return parse_go_float(&plain).map(Scalar::Float);
    }
    None
}

/// Go's `strconv.ParseInt(s, 0, 64)` on text without underscores.
fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_go_uint(digits)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`: base from the prefix, no sign.
fn parse_go_uint(s: &str) -> Option<u64> {
    let lower = |i: usize| s.as_bytes().get(i).map(u8::to_ascii_lowercase);
    let (radix, digits) = match (lower(0), lower(1)) {
        (Some(b'0'), Some(b'x')) => (16, &s[2..]),
        (Some(b'0'), Some(b'o')) => (8, &s[2..]),
        (Some(b'0'), Some(b'b')) => (2, &s[2..]),
        (Some(b'0'), Some(_)) => (8, &s[1..]),
        _ => (10, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// goyaml.v2's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_float(s: &str) -> bool {
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let rest = if let Some(frac) = s.strip_prefix('.') {
        let n = digits(frac);
        if n == 0 {
            return false;
        }
        &frac[n..]
    } else {
        let n = digits(s);
        if n == 0 {
            return false;
        }
        let after = &s[n..];
        after
            .strip_prefix('.')
            .map_or(after, |frac| &frac[digits(frac)..])
    };
    match rest.strip_prefix(['e', 'E']) {
        None => rest.is_empty(),
        Some(exp) => {
            let exp = exp.strip_prefix(['-', '+']).unwrap_or(exp);
            !exp.is_empty() && digits(exp) == exp.len()
        }
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for decimal text: underscores only between digits,
/// and a value out of range is an error (not infinity).
fn parse_go_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscores_between_digits(s) {
        return None;
    }
    let cleaned = s.replace('_', "");
    let ok = cleaned
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    let value: f64 = cleaned.parse().ok().filter(|_| ok)?;
    value.is_finite().then_some(value)
}

/// Go's `underscoreOK` for a number without a base prefix.
fn underscores_between_digits(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let mut previous = b'^';
    for b in s.bytes() {
        previous = match b {
            b'0'..=b'9' => b'0',
            b'_' if previous == b'0' => b'_',
            b'_' => return false,
            _ if previous == b'_' => return false,
            _ => b'!',
        };
    }
    previous != b'_'
}

/// Standard base64, as Go's `base64.StdEncoding.DecodeString` for `!!binary`.
fn decode_base64(text: &str) -> Result<String, String> {
    let bad = || "!!binary value contains invalid base64 data".to_owned();
    let out = base64_std(text).ok_or_else(bad)?;
    String::from_utf8(out).map_err(|_| bad())
}

/// Standard base64 with padding (whitespace ignored), as Go's
/// `base64.StdEncoding` decodes it; `None` if invalid.
pub(crate) fn base64_std(text: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if clean.len() % 4 != 0 {
        return None;
    }
    let value = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    for (i, chunk) in clean.chunks(4).enumerate() {
        let last = i + 1 == clean.len() / 4;
        let pad = chunk.iter().rev().take_while(|&&b| b == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &b in &chunk[..4 - pad] {
            n = (n << 6) | value(b)?;
        }
        n <<= 6 * pad as u32;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

/// A float map key as sigs.k8s.io/yaml writes it: Go's `FormatFloat(f, 'g', -1, 32)`,
/// with `.inf`, `-.inf` and `.nan` for the non-finite ones.
pub(super) fn float_key(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    let single = f as f32;
    if single == 0.0 {
        return if single.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Shortest digits and decimal exponent, from Rust's shortest round-trip form.
    let sci = format!("{:e}", single.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if single < 0.0 { "-" } else { "" };
    // Go's %g with the shortest precision: the exponent form when exp < -4 || exp >= 6.
    if !(-4..6).contains(&exp) {
        let (head, tail) = digits.split_at(1);
        let frac = if tail.is_empty() {
            String::new()
        } else {
            format!(".{tail}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{head}{frac}e{esign}{:02}", exp.abs());
    }
    if exp < 0 {
        let zeros = "0".repeat((-exp - 1) as usize);
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = (exp + 1) as usize;
    if digits.len() <= int_len {
        format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        let (int, frac) = digits.split_at(int_len);
        format!("{sign}{int}.{frac}")
    }
}
