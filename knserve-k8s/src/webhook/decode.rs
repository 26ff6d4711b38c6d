//! Decoding an admitted object into its core type, naming the field that did not fit.
//!
//! `serde_json` reports where a value broke only as a line and column of the text it
//! read. The object is printed pretty (one key or scalar per line) and decoded again
//! from that text; the failing line is mapped back to the field path it holds, in
//! Knative's notation (`spec.template.spec.containers[0].ports[0].containerPort`).
//! A missing field is reported at the object that lacks it.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// An admitted object that does not have the shape of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.path, .message))]
pub struct DecodeError {
    /// Where the value broke, from the object's root (empty for the root itself).
    pub path: String,
    /// What serde expected, without position.
    pub message: String,
}

fn render(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_owned()
    } else {
        format!("{path}: {message}")
    }
}

/// Decodes `value` as a `T`, naming the failing field's path on error.
pub fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, DecodeError> {
    let error = match serde_json::from_value::<T>(value.clone()) {
        Ok(decoded) => return Ok(decoded),
        Err(error) => error,
    };
    let path = serde_json::to_string_pretty(value)
        .ok()
        .and_then(|text| serde_json::from_str::<T>(&text).err())
        .and_then(|again| path_at_line(value, again.line()))
        .unwrap_or_default();
    Err(DecodeError {
        path,
        message: error.to_string(),
    })
}

/// The path of the value the pretty-printed `value` shows on `line` (1-based).
pub fn path_at_line(value: &Value, line: usize) -> Option<String> {
    let mut path = Vec::new();
    match walk(value, 1, line, &mut path) {
        Walk::Found(found) => Some(found),
        Walk::Spans(_) => None,
    }
}

enum Walk {
    Found(String),
    Spans(usize),
}

/// Walks `value` printed from `start`: either the path on `target`, or how many lines
/// the value spans. Non-empty containers open on their first line and close on their
/// last; scalars and empty containers take one line.
fn walk(value: &Value, start: usize, target: usize, path: &mut Vec<String>) -> Walk {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) if !map.is_empty() => {
            map.iter().map(|(k, v)| (format!(".{k}"), v)).collect()
        }
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v))
            .collect(),
        _ if start == target => return Walk::Found(join(path)),
        _ => return Walk::Spans(1),
    };
    if start == target {
        return Walk::Found(join(path));
    }
    let mut next = start + 1;
    for (segment, child) in children {
        path.push(segment);
        let walked = walk(child, next, target, path);
        path.pop();
        match walked {
            Walk::Found(found) => return Walk::Found(found),
            Walk::Spans(lines) => next += lines,
        }
    }
    if next == target {
        return Walk::Found(join(path));
    }
    Walk::Spans(next - start + 1)
}

fn join(path: &[String]) -> String {
    let joined = path.concat();
    joined.strip_prefix('.').unwrap_or(&joined).to_owned()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Port {
        #[serde(rename = "containerPort")]
        container_port: i32,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Container {
        image: String,
        #[serde(default)]
        ports: Vec<Port>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Spec {
        containers: Vec<Container>,
    }

    #[test]
    fn a_wrongly_typed_scalar_is_reported_at_its_own_path() {
        let value = json!({"containers": [
            {"image": "a", "ports": [{"containerPort": 80}]},
            {"image": "b", "ports": [{"containerPort": "eighty"}]},
        ]});
        let error = decode::<Spec>(&value).expect_err("a string is not a port number");
        assert_eq!(
            error.path, "containers[1].ports[0].containerPort",
            "the error names the field whose value has the wrong type"
        );
        assert!(error.message.contains("invalid type"), "{error}");
    }

    #[test]
    fn a_missing_field_is_reported_at_the_object_lacking_it() {
        let value = json!({"containers": [{"image": "a"}, {"ports": []}]});
        let error = decode::<Spec>(&value).expect_err("image is required");
        assert_eq!(
            error.path, "containers[1]",
            "the path is the object lacking the field"
        );
        assert!(error.message.contains("image"), "{error}");
    }

    #[test]
    fn a_root_of_the_wrong_type_has_an_empty_path() {
        let error = decode::<Spec>(&json!("hello")).expect_err("a string is not a spec");
        assert_eq!(error.path, "", "the root has no path");
        assert_eq!(error.to_string(), error.message, "no path means no prefix");
    }
}
