//! RFC 6902 JSON Patch: the smallest set of operations from one document to another.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One JSON Patch operation (RFC 6902); `path` is a JSON Pointer (RFC 6901).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PatchOp {
    /// Adds a member or replaces an existing one.
    Add {
        /// Where.
        path: String,
        /// The new value.
        value: Value,
    },
    /// Removes a member.
    Remove {
        /// Where.
        path: String,
    },
    /// Replaces an existing member.
    Replace {
        /// Where.
        path: String,
        /// The new value.
        value: Value,
    },
}

/// Operations turning `from` into `to`.
///
/// Objects are compared member by member; arrays of equal length element by element;
/// anything else that differs (including arrays whose length changed) is replaced whole,
/// so no operation depends on an index shifted by an earlier one.
pub fn diff(from: &Value, to: &Value) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    diff_at(from, to, "", &mut ops);
    ops
}

fn diff_at(from: &Value, to: &Value, at: &str, ops: &mut Vec<PatchOp>) {
    if from == to {
        return;
    }
    match (from, to) {
        (Value::Object(old), Value::Object(new)) => {
            for key in old.keys().filter(|k| !new.contains_key(*k)) {
                ops.push(PatchOp::Remove {
                    path: pointer(at, key),
                });
            }
            for (key, value) in new {
                match old.get(key) {
                    Some(previous) => diff_at(previous, value, &pointer(at, key), ops),
                    None => ops.push(PatchOp::Add {
                        path: pointer(at, key),
                        value: value.clone(),
                    }),
                }
            }
        }
        (Value::Array(old), Value::Array(new)) if old.len() == new.len() => {
            for (i, (previous, value)) in old.iter().zip(new).enumerate() {
                diff_at(previous, value, &pointer(at, &i.to_string()), ops);
            }
        }
        _ => ops.push(PatchOp::Replace {
            path: at.to_owned(),
            value: to.clone(),
        }),
    }
}

/// `base` extended by one reference token, escaped as RFC 6901 says (`~` → `~0`,
/// `/` → `~1`).
pub fn pointer(base: &str, token: &str) -> String {
    format!("{base}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// A patch operation whose path does not resolve in the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatchError(String);

/// Applies `ops` (add, remove, replace) to `doc` in order, as the API server applies
/// a webhook's patch; used to check patches and to default objects locally.
pub fn apply(doc: &mut Value, ops: &[PatchOp]) -> Result<(), PatchError> {
    apply::apply(doc, ops).map_err(PatchError)
}

mod apply {
    //! A small RFC 6902 applier: add, remove, replace.

    use serde_json::Value;

    use super::PatchOp;

    /// Applies `ops` to `doc` in order; `Err` names the first path that does not resolve.
    pub(super) fn apply(doc: &mut Value, ops: &[PatchOp]) -> Result<(), String> {
        for op in ops {
            match op {
                PatchOp::Add { path, value } => put(doc, path, value.clone(), true)?,
                PatchOp::Replace { path, value } => put(doc, path, value.clone(), false)?,
                PatchOp::Remove { path } => {
                    let (parent, last) = parent_of(doc, path)?;
                    match parent {
                        Value::Object(map) => map.remove(&last).map(drop),
                        Value::Array(items) => last
                            .parse::<usize>()
                            .ok()
                            .filter(|i| *i < items.len())
                            .map(|i| drop(items.remove(i))),
                        _ => None,
                    }
                    .ok_or_else(|| format!("remove: {path} does not exist"))?;
                }
            }
        }
        Ok(())
    }

    fn put(doc: &mut Value, path: &str, value: Value, add: bool) -> Result<(), String> {
        if path.is_empty() {
            *doc = value;
            return Ok(());
        }
        let (parent, last) = parent_of(doc, path)?;
        match parent {
            Value::Object(map) if add || map.contains_key(&last) => {
                map.insert(last, value);
                Ok(())
            }
            Value::Array(items) if add && last == "-" => {
                items.push(value);
                Ok(())
            }
            Value::Array(items) => match last.parse::<usize>() {
                Ok(i) if add && i <= items.len() => {
                    items.insert(i, value);
                    Ok(())
                }
                Ok(i) if i < items.len() => {
                    items[i] = value;
                    Ok(())
                }
                _ => Err(format!("{path}: index out of range")),
            },
            _ => Err(format!("{path}: no such member to replace")),
        }
    }

    fn parent_of<'a>(doc: &'a mut Value, path: &str) -> Result<(&'a mut Value, String), String> {
        let (parent, last) = path
            .rsplit_once('/')
            .ok_or_else(|| format!("{path}: not a JSON pointer"))?;
        let target = doc
            .pointer_mut(parent)
            .ok_or_else(|| format!("{path}: parent {parent:?} does not exist"))?;
        Ok((target, last.replace("~1", "/").replace("~0", "~")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn roundtrip(from: Value, to: Value) -> Vec<PatchOp> {
        let ops = diff(&from, &to);
        let mut patched = from;
        apply(&mut patched, &ops).expect("every op of a diff applies");
        assert_eq!(patched, to, "applying the diff yields the target");
        ops
    }

    #[test]
    fn equal_documents_need_no_operations() {
        let doc = json!({"a": [1, {"b": 2}]});
        assert!(diff(&doc, &doc).is_empty(), "no change, no patch");
    }

    #[test]
    fn a_new_member_is_added_and_a_changed_scalar_replaced() {
        let ops = roundtrip(
            json!({"a": 1, "b": {"c": 2}}),
            json!({"a": 3, "b": {"c": 2, "d": 4}}),
        );
        assert_eq!(
            ops,
            vec![
                PatchOp::Replace {
                    path: "/a".into(),
                    value: json!(3)
                },
                PatchOp::Add {
                    path: "/b/d".into(),
                    value: json!(4)
                },
            ],
            "only the changed members appear"
        );
    }

    #[test]
    fn keys_with_slashes_and_tildes_are_escaped() {
        let ops = roundtrip(json!({"m": {"k": 1}}), json!({"m": {"k": 1, "a/b~c": "x"}}));
        assert_eq!(
            ops,
            vec![PatchOp::Add {
                path: "/m/a~1b~0c".into(),
                value: json!("x")
            }],
            "RFC 6901 escapes / as ~1 and ~ as ~0"
        );
    }

    #[test]
    fn arrays_that_change_length_are_replaced_whole_and_removed_members_removed() {
        roundtrip(json!({"a": [1, 2], "gone": true}), json!({"a": [1, 2, 3]}));
        roundtrip(
            json!({"a": [{"x": 1}, {"y": 2}]}),
            json!({"a": [{"x": 1}, {"y": 3}]}),
        );
        roundtrip(json!("scalar"), json!({"root": "replaced"}));
    }
}
