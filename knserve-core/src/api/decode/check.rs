//! The strict typed decode: a document's JSON against the Go types of Knative's objects
//! (the [`super::schema`] table), as sigs.k8s.io/json's `UnmarshalStrict` decodes it.
//!
//! What it refuses and in what order follows Go's decoder, which reads the JSON that
//! sigs.k8s.io/yaml wrote, keys sorted:
//! - a field the type does not have (names are case-sensitive): every one is reported,
//!   unless one of the errors below happened;
//! - a value of the wrong JSON type, or a number that does not fit the field (`1.5` or
//!   `3000000000` into an `int32`): only the first is reported, and it hides the unknown
//!   fields;
//! - a value a type decodes itself (a quantity, an int-or-string, a time) that it
//!   refuses: decoding stops there, and that error alone is reported.
//!
//! It also normalizes what it accepts for the model's serde types: `null` means "unset"
//! (a field's `null` is dropped; a list item's or a map value's is the type's zero).

use serde_json::Value;

use super::error::ParseProblem;
use super::yaml::YamlJson;
use crate::api::Quantity;

/// A Go type as its JSON decoding sees it.
#[derive(Debug)]
pub(super) enum Ty {
    /// `string` (and string kinds such as `corev1.Protocol`).
    String,
    /// `bool`.
    Bool,
    /// A signed integer of that many bits.
    Int(u8),
    /// `interface{}`, `runtime.RawExtension`: anything.
    Any,
    /// `resource.Quantity`.
    Quantity,
    /// `intstr.IntOrString`.
    IntOrString,
    /// `metav1.Time`, `apis.VolatileTime`: an RFC 3339 string.
    Time,
    /// `apis.URL`: a string.
    Url,
    /// A slice of the type.
    Slice(&'static Ty),
    /// A map from strings to the type.
    Map(&'static Ty),
    /// A struct of [`super::schema::STRUCTS`].
    Struct(usize),
}

/// A Go struct: its JSON fields, sorted by name.
#[derive(Debug)]
pub(super) struct Struct {
    /// Field name and type, sorted by name.
    pub fields: &'static [(&'static str, Ty)],
}

/// Checks `doc` against the struct `root`; returns the JSON normalized for the model, or
/// the problems Go's decoder would report, in its order.
pub(super) fn check(doc: &YamlJson, root: usize) -> Result<Value, Vec<ParseProblem>> {
    let mut checker = Checker {
        doc,
        unknown: Vec::new(),
        type_error: None,
        fatal: None,
    };
    let value = checker.value(&doc.value, &Ty::Struct(root), "");
    if let Some(fatal) = checker.fatal {
        return Err(vec![fatal]);
    }
    if let Some(type_error) = checker.type_error {
        return Err(vec![type_error]);
    }
    if !checker.unknown.is_empty() {
        return Err(checker.unknown);
    }
    Ok(value.unwrap_or(Value::Null))
}

struct Checker<'d> {
    doc: &'d YamlJson,
    unknown: Vec<ParseProblem>,
    /// The first type error (Go's decoder saves it and goes on).
    type_error: Option<ParseProblem>,
    /// An error that stopped the decode (a type's own decoding refused the value).
    fatal: Option<ParseProblem>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Checker<'_> {
    fn problem(&self, path: &str, message: String) -> ParseProblem {
        ParseProblem::Field {
            path: path.to_owned(),
            line: self.doc.line_of(path),
            message,
        }
    }

    fn mistyped(&mut self, path: &str, value: &Value, expected: &str) -> Option<Value> {
        if self.type_error.is_none() {
            let got = match value {
                Value::Number(n) => format!("number {n}"),
                other => json_kind(other).to_owned(),
            };
            self.type_error = Some(self.problem(
                path,
                format!("invalid type: expected {expected}, got {got}"),
            ));
        }
        None
    }

    fn refuse(&mut self, path: &str, message: String) -> Option<Value> {
        self.fatal = Some(self.problem(path, message));
        None
    }

    /// The checked value, or `None` for `null` or a refused value.
    fn value(&mut self, value: &Value, ty: &Ty, path: &str) -> Option<Value> {
        if self.fatal.is_some() || value.is_null() {
            return None;
        }
        match (ty, value) {
            (Ty::Any, v) => Some(v.clone()),
            (Ty::String | Ty::Url, Value::String(_)) | (Ty::Bool, Value::Bool(_)) => {
                Some(value.clone())
            }
            (Ty::Int(bits), Value::Number(n)) => self.int(n, *bits, path, value),
            (Ty::Quantity, v) => self.quantity(v, path),
            (Ty::IntOrString, v) => self.int_or_string(v, path),
            (Ty::Time, Value::String(s)) if is_rfc3339(s) => Some(value.clone()),
            (Ty::Time, v) => {
                let message = format!("invalid time {v}: expected RFC 3339 text");
                self.refuse(path, message)
            }
            (Ty::Url, v) => self.refuse(path, format!("invalid URL {v}: expected a string")),
            (Ty::Slice(elem), Value::Array(items)) => Some(Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let item_path = format!("{path}[{i}]");
                        self.value(item, elem, &item_path)
                            .unwrap_or_else(|| zero(elem))
                    })
                    .collect(),
            )),
            (Ty::Map(elem), Value::Object(map)) => {
                let mut out = serde_json::Map::new();
                for (key, item) in sorted(map) {
                    let checked = self.value(item, elem, &join(path, key));
                    out.insert(key.clone(), checked.unwrap_or_else(|| zero(elem)));
                }
                Some(Value::Object(out))
            }
            (Ty::Struct(index), Value::Object(map)) => Some(self.fields(*index, map, path)),
            (ty, v) => self.mistyped(path, v, expected(ty)),
        }
    }

    fn fields(&mut self, index: usize, map: &serde_json::Map<String, Value>, path: &str) -> Value {
        let fields = super::schema::STRUCTS[index].fields;
        let mut out = serde_json::Map::new();
        for (key, item) in sorted(map) {
            let child = join(path, key);
            match fields.binary_search_by(|(name, _)| (*name).cmp(key.as_str())) {
                Ok(found) => {
                    if let Some(checked) = self.value(item, &fields[found].1, &child) {
                        out.insert(key.clone(), checked);
                    }
                }
                Err(_) if self.fatal.is_none() => {
                    let line = self.doc.line_of(&child);
                    self.unknown
                        .push(ParseProblem::UnknownField { path: child, line });
                }
                Err(_) => {}
            }
        }
        Value::Object(out)
    }

    fn int(
        &mut self,
        n: &serde_json::Number,
        bits: u8,
        path: &str,
        value: &Value,
    ) -> Option<Value> {
        let min = -(1i128 << (bits - 1));
        let max = (1i128 << (bits - 1)) - 1;
        let fits = n
            .as_i64()
            .map(i128::from)
            .or(n.as_u64().map(i128::from))
            .is_some_and(|v| (min..=max).contains(&v));
        if fits {
            Some(value.clone())
        } else {
            self.mistyped(path, value, &format!("an int{bits}"))
        }
    }

    /// `resource.Quantity` decodes a string or the text of any other JSON value.
    fn quantity(&mut self, value: &Value, path: &str) -> Option<Value> {
        let text = match value {
            Value::String(s) => s.trim().to_owned(),
            other => other.to_string(),
        };
        match Quantity::parse(&text) {
            Ok(_) => Some(value.clone()),
            Err(e) => self.refuse(path, format!("invalid quantity {value}: {e}")),
        }
    }

    /// `intstr.IntOrString` decodes a string, or a number that fits an `int32`.
    fn int_or_string(&mut self, value: &Value, path: &str) -> Option<Value> {
        let fits = |n: &serde_json::Number| n.as_i64().is_some_and(|v| i32::try_from(v).is_ok());
        match value {
            Value::String(_) => Some(value.clone()),
            Value::Number(n) if fits(n) => Some(value.clone()),
            other => self.refuse(
                path,
                format!("invalid int-or-string {other}: expected a string or an int32"),
            ),
        }
    }
}

fn expected(ty: &Ty) -> &'static str {
    match ty {
        Ty::String | Ty::Url | Ty::Time => "a string",
        Ty::Bool => "a bool",
        Ty::Int(_) => "an integer",
        Ty::Slice(_) => "a list",
        Ty::Map(_) | Ty::Struct(_) => "an object",
        Ty::Any | Ty::Quantity | Ty::IntOrString => "a value",
    }
}

/// Go's decoder reads the keys in the order sigs.k8s.io/yaml wrote them: sorted.
fn sorted(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// The zero value Go stores for a `null` list item or map value.
fn zero(ty: &Ty) -> Value {
    match ty {
        Ty::String | Ty::Url => Value::String(String::new()),
        Ty::Bool => Value::Bool(false),
        Ty::Int(_) | Ty::IntOrString => Value::from(0),
        Ty::Quantity => Value::String("0".to_owned()),
        Ty::Slice(_) => Value::Array(Vec::new()),
        Ty::Map(_) | Ty::Struct(_) => Value::Object(serde_json::Map::new()),
        Ty::Any | Ty::Time => Value::Null,
    }
}

/// Go's `time.Parse(time.RFC3339, s)`: `2006-01-02T15:04:05Z07:00`, optional fraction.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range.clone())
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let num = |range: std::ops::Range<usize>| s[range].parse::<u32>().unwrap_or(99);
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape
        || !(1..=12).contains(&num(5..7))
        || !(1..=31).contains(&num(8..10))
        || num(11..13) > 23
        || num(14..16) > 59
        || num(17..19) > 59
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}
