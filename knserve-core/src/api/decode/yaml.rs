//! One YAML document to JSON, as sigs.k8s.io/yaml's `YAMLToJSONStrict` converts it.
//!
//! The document is first read into a tree of nodes (as goyaml.v2's parser does), then
//! converted: plain scalars resolved by [`super::scalar`], aliases expanded, merge keys
//! (`<<`) applied, and a key set twice in one mapping refused, including a key a merge
//! already set (goyaml.v2's strict mode treats that as a duplicate too). Nesting is bounded
//! at [`MAX_DEPTH`] levels and alias expansion by goyaml.v2's own ratio rule.

use std::collections::{BTreeMap, HashSet};

use granit_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use super::error::ParseProblem;
use super::scalar::{self, Scalar};

/// The deepest nesting of mappings and sequences a document may have.
pub const MAX_DEPTH: usize = 100;

/// A document as JSON, with the line where each field and list item was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct YamlJson {
    /// The document's value.
    pub value: Value,
    /// The line (from 1) of every field path (`spec.template.spec.containers[0].image`).
    pub lines: BTreeMap<String, usize>,
}

impl YamlJson {
    /// The line where `path` was written, or where its nearest written parent was.
    pub fn line_of(&self, path: &str) -> usize {
        let mut path = path;
        loop {
            if let Some(&line) = self.lines.get(path) {
                return line;
            }
            match path.rfind(['.', '[']) {
                Some(cut) => path = &path[..cut],
                None => return 1,
            }
        }
    }
}

/// Converts one YAML document to JSON; `None` for a document with no content.
///
/// Errors name the YAML problem and its line, or the path of the bad key or value.
pub fn yaml_to_json(text: &str) -> Result<Option<YamlJson>, ParseProblem> {
    yaml_to_json_at(text, 1)
}

/// [`yaml_to_json`] for a document that starts on line `first_line` of a larger input:
/// every line it reports counts from the start of that input.
///
/// Choice: the offset is added to what the parser reports rather than the document
/// being padded with the lines before it, which made reading a stream of documents
/// quadratic in its number of lines.
pub(super) fn yaml_to_json_at(
    text: &str,
    first_line: usize,
) -> Result<Option<YamlJson>, ParseProblem> {
    let Some(tree) = Tree::read(text, first_line - 1)? else {
        return Ok(None);
    };
    let mut converter = Converter {
        tree: &tree,
        lines: BTreeMap::new(),
        decode_count: 0,
        alias_count: 0,
        expanding: Vec::new(),
    };
    let value = converter.value(tree.root, "", 0)?;
    Ok(Some(YamlJson {
        value,
        lines: converter.lines,
    }))
}

#[derive(Debug)]
enum Kind {
    Scalar {
        text: String,
        plain: bool,
        tag: Option<String>,
    },
    Seq(Vec<usize>),
    /// Keys and values, alternating.
    Map(Vec<usize>),
    Alias(usize),
}

#[derive(Debug)]
struct Node {
    kind: Kind,
    line: usize,
}

#[derive(Debug)]
struct Tree {
    nodes: Vec<Node>,
    root: usize,
}

impl Tree {
    /// Reads the first document of `text` into nodes, its lines counted from
    /// `skipped + 1`.
    fn read(text: &str, skipped: usize) -> Result<Option<Self>, ParseProblem> {
        let mut nodes: Vec<Node> = Vec::new();
        let mut anchors: BTreeMap<usize, usize> = BTreeMap::new();
        let mut open: Vec<usize> = Vec::new();
        let mut root = None;
        for next in Parser::new_from_str(text) {
            let (event, span) = next.map_err(|e| scan_problem(&e, skipped))?;
            let line = span.start.line() + skipped;
            let (kind, anchor, opens) = match event {
                Event::Scalar(value, style, anchor, tag) => {
                    let tag = tag.map(|t| format!("{}{}", t.handle(), t.suffix()));
                    let plain = style == ScalarStyle::Plain;
                    let text = value.into_owned();
                    (Kind::Scalar { text, plain, tag }, anchor, false)
                }
                Event::SequenceStart(_, anchor, _) => (Kind::Seq(Vec::new()), anchor, true),
                Event::MappingStart(_, anchor, _) => (Kind::Map(Vec::new()), anchor, true),
                Event::Alias(id) => {
                    let target = anchors.get(&id).copied().ok_or_else(|| {
                        ParseProblem::Yaml(format!("unknown anchor referenced at line {line}"))
                    })?;
                    (Kind::Alias(target), 0, false)
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    open.pop();
                    continue;
                }
                // goyaml.v2 reads the first document only.
                Event::DocumentEnd if root.is_some() => break,
                _ => continue,
            };
            if opens && open.len() >= MAX_DEPTH {
                return Err(too_deep(line));
            }
            let id = nodes.len();
            nodes.push(Node { kind, line });
            if anchor != 0 {
                anchors.insert(anchor, id);
            }
            match open.last() {
                Some(&parent) => match &mut nodes[parent].kind {
                    Kind::Seq(children) | Kind::Map(children) => children.push(id),
                    _ => unreachable!("only collections are open"),
                },
                None => root = Some(id),
            }
            if opens {
                open.push(id);
            }
        }
        Ok(root.map(|root| Self { nodes, root }))
    }
}

/// The nesting rule's refusal, at `line` of the input.
fn too_deep(line: usize) -> ParseProblem {
    ParseProblem::Yaml(format!(
        "nesting deeper than {MAX_DEPTH} levels at line {line} (at most {MAX_DEPTH} nested mappings and sequences)"
    ))
}

/// The parser's error, its line counted from the start of the whole input. The
/// parser's own recursion limit (flow collections, which it reads ahead before
/// reporting them) is reported as the nesting rule it enforces.
fn scan_problem(error: &granit_parser::ScanError, skipped: usize) -> ParseProblem {
    let mark = error.marker();
    let line = mark.line() + skipped;
    if matches!(
        error.kind(),
        granit_parser::ErrorKind::RecursionLimitExceeded
    ) {
        return too_deep(line);
    }
    // As the parser prints it, with the character index the lines before would add.
    ParseProblem::Yaml(format!(
        "{} at char {} line {line} column {}",
        error.info(),
        mark.index() + skipped,
        mark.col() + 1
    ))
}

/// A key as goyaml.v2 compares keys: by resolved value and type.
#[derive(Debug, PartialEq)]
enum KeyValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// The keys one mapping (with its merges) has set, found in constant time so that a
/// wide mapping is read in linear time.
#[derive(Debug, Default)]
struct SeenKeys(HashSet<SeenKey>);

/// [`KeyValue`] with the same equality, hashable: floats by their bits, `-0.0` as
/// `0.0`; NaN is never equal to a key, so it is never recorded.
#[derive(Debug, PartialEq, Eq, Hash)]
enum SeenKey {
    Str(String),
    Int(i64),
    Float(u64),
    Bool(bool),
}

impl SeenKeys {
    fn id(key: &KeyValue) -> Option<SeenKey> {
        Some(match key {
            KeyValue::Str(s) => SeenKey::Str(s.clone()),
            &KeyValue::Int(i) => SeenKey::Int(i),
            KeyValue::Float(f) if f.is_nan() => return None,
            // `-0.0 + 0.0` is `0.0`: both zeros get the same bits.
            KeyValue::Float(f) => SeenKey::Float((f + 0.0).to_bits()),
            &KeyValue::Bool(b) => SeenKey::Bool(b),
        })
    }

    fn contains(&self, key: &KeyValue) -> bool {
        Self::id(key).is_some_and(|id| self.0.contains(&id))
    }

    fn insert(&mut self, key: &KeyValue) {
        if let Some(id) = Self::id(key) {
            self.0.insert(id);
        }
    }
}

struct Converter<'t> {
    tree: &'t Tree,
    lines: BTreeMap<String, usize>,
    /// goyaml.v2's counters for its alias-expansion limit.
    decode_count: usize,
    alias_count: usize,
    /// The aliases being expanded, innermost last.
    expanding: Vec<usize>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl Converter<'_> {
    fn node(&self, id: usize) -> &Node {
        &self.tree.nodes[id]
    }

    /// goyaml.v2's guard against exponential alias expansion ("billion laughs").
    fn count(&mut self) -> Result<(), ParseProblem> {
        self.decode_count += 1;
        if !self.expanding.is_empty() {
            self.alias_count += 1;
        }
        let (decoded, aliased) = (self.decode_count as f64, self.alias_count as f64);
        let allowed = match self.decode_count {
            0..=400_000 => 0.99,
            4_000_000.. => 0.10,
            n => 0.99 - 0.89 * ((n - 400_000) as f64 / 3_600_000.0),
        };
        if self.alias_count > 100 && self.decode_count > 1000 && aliased / decoded > allowed {
            return Err(ParseProblem::Yaml(
                "document contains excessive aliasing".to_owned(),
            ));
        }
        Ok(())
    }

    /// Expands `alias` (pointing at `target`) with `f`, refusing an alias inside itself.
    fn through_alias<T>(
        &mut self,
        alias: usize,
        f: impl FnOnce(&mut Self) -> Result<T, ParseProblem>,
    ) -> Result<T, ParseProblem> {
        if self.expanding.contains(&alias) {
            let line = self.node(alias).line;
            return Err(ParseProblem::Yaml(format!(
                "anchor value contains itself (alias at line {line})"
            )));
        }
        self.expanding.push(alias);
        let result = f(self);
        self.expanding.pop();
        result
    }

    fn value(&mut self, id: usize, path: &str, depth: usize) -> Result<Value, ParseProblem> {
        self.count()?;
        if depth > MAX_DEPTH {
            return Err(ParseProblem::Yaml(format!(
                "{path}: nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        let node = self.node(id);
        let line = node.line;
        match &node.kind {
            Kind::Scalar { text, plain, tag } => {
                let resolved = scalar::resolve(tag.as_deref(), *plain, text)
                    .map_err(|e| ParseProblem::Yaml(format!("line {line}: {e}")))?;
                scalar_json(resolved, path, line)
            }
            Kind::Seq(items) => {
                let items = items.clone();
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    let item_path = format!("{path}[{i}]");
                    let item_line = self.node(item).line;
                    self.lines.entry(item_path.clone()).or_insert(item_line);
                    out.push(self.value(item, &item_path, depth + 1)?);
                }
                Ok(Value::Array(out))
            }
            Kind::Map(_) => {
                let mut out = serde_json::Map::new();
                let mut seen = SeenKeys::default();
                self.fill(id, &mut out, &mut seen, path, depth)?;
                Ok(Value::Object(out))
            }
            &Kind::Alias(target) => self.through_alias(id, |this| this.value(target, path, depth)),
        }
    }

    /// Adds the entries of mapping `id` (and of what it merges) to `out`.
    fn fill(
        &mut self,
        id: usize,
        out: &mut serde_json::Map<String, Value>,
        seen: &mut SeenKeys,
        path: &str,
        depth: usize,
    ) -> Result<(), ParseProblem> {
        let Kind::Map(children) = &self.node(id).kind else {
            unreachable!("fill is called on mappings");
        };
        let children = children.clone();
        for pair in children.chunks(2) {
            let &[key, value] = pair else {
                unreachable!("a mapping has a value for every key");
            };
            if self.is_merge(key) {
                self.count()?;
                self.merge(value, out, seen, path, depth)?;
                continue;
            }
            let (typed, name) = self.key(key, path)?;
            let child = join(path, &name);
            let line = self.node(key).line;
            if seen.contains(&typed) {
                return Err(ParseProblem::DuplicateKey { path: child, line });
            }
            self.lines.entry(child.clone()).or_insert(line);
            let converted = self.value(value, &child, depth + 1)?;
            seen.insert(&typed);
            out.insert(name, converted);
        }
        Ok(())
    }

    fn is_merge(&self, key: usize) -> bool {
        matches!(&self.node(key).kind, Kind::Scalar { text, plain, tag }
            if text == "<<" && (*plain && tag.is_none()
                || tag.as_deref() == Some("tag:yaml.org,2002:merge")))
    }

    /// A merge's value: a mapping, an alias of one, or a sequence of those (applied last
    /// to first, as goyaml.v2 does).
    fn merge(
        &mut self,
        id: usize,
        out: &mut serde_json::Map<String, Value>,
        seen: &mut SeenKeys,
        path: &str,
        depth: usize,
    ) -> Result<(), ParseProblem> {
        let want_map = || {
            ParseProblem::Yaml(format!(
                "{}: map merge requires map or sequence of maps as the value",
                join(path, "<<")
            ))
        };
        match &self.node(id).kind {
            Kind::Map(_) => self.fill(id, out, seen, path, depth),
            &Kind::Alias(target) if matches!(self.node(target).kind, Kind::Map(_)) => {
                self.through_alias(id, |this| this.fill(target, out, seen, path, depth))
            }
            Kind::Seq(items) => {
                for &item in items.clone().iter().rev() {
                    match &self.node(item).kind {
                        Kind::Map(_) => self.fill(item, out, seen, path, depth)?,
                        &Kind::Alias(target) if matches!(self.node(target).kind, Kind::Map(_)) => {
                            self.through_alias(item, |this| {
                                this.fill(target, out, seen, path, depth)
                            })?
                        }
                        _ => return Err(want_map()),
                    }
                }
                Ok(())
            }
            _ => Err(want_map()),
        }
    }

    /// A key's value and its JSON name, as sigs.k8s.io/yaml turns keys into strings.
    fn key(&mut self, id: usize, path: &str) -> Result<(KeyValue, String), ParseProblem> {
        self.count()?;
        let node = self.node(id);
        let line = node.line;
        let unsupported = |what: &str| {
            ParseProblem::Yaml(format!(
                "line {line}: unsupported map key {what} in {}",
                if path.is_empty() {
                    "the document"
                } else {
                    path
                }
            ))
        };
        match &node.kind {
            Kind::Scalar { text, plain, tag } => {
                let resolved = scalar::resolve(tag.as_deref(), *plain, text)
                    .map_err(|e| ParseProblem::Yaml(format!("line {line}: {e}")))?;
                Ok(match resolved {
                    Scalar::Str(s) => (KeyValue::Str(s.clone()), s),
                    Scalar::Int(i) => (KeyValue::Int(i), i.to_string()),
                    Scalar::Float(f) => (KeyValue::Float(f), scalar::float_key(f)),
                    Scalar::Bool(b) => (KeyValue::Bool(b), b.to_string()),
                    Scalar::Uint(u) => return Err(unsupported(&format!("{u} (uint64)"))),
                    Scalar::Null => return Err(unsupported("null")),
                })
            }
            &Kind::Alias(target) => self.through_alias(id, |this| this.key(target, path)),
            Kind::Seq(_) | Kind::Map(_) => Err(unsupported("(a mapping or sequence)")),
        }
    }
}

/// A resolved scalar as JSON: integral floats become integers, as Go's JSON encoder
/// writes them without a fraction; infinities and NaN have no JSON form.
fn scalar_json(scalar: Scalar, path: &str, line: usize) -> Result<Value, ParseProblem> {
    Ok(match scalar {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::from(i),
        Scalar::Uint(u) => Value::from(u),
        Scalar::Str(s) => Value::String(s),
        Scalar::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Value::from(f as i64),
        Scalar::Float(f) => match serde_json::Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => {
                return Err(ParseProblem::Field {
                    path: path.to_owned(),
                    line,
                    message: format!("unsupported value {f}: JSON has no infinity or NaN"),
                });
            }
        },
    })
}
